"""Feedback on recommendations: ratings 1-5, acceptances and declines, stored append-only.

Rows go into ``recommend_feedback`` through the writer (:func:`data.writer.atomic_write`: one transaction,
all rows of a file or none), never through the read-only sandbox. Each row records who gave it, when, the
model that was serving and where it came from (the command line or a file). Ids are checked against the data
(customers with an offer) and the catalogue first; an unknown id is refused with the closest matches, and a
file with one bad row writes nothing. How feedback is used is described in :mod:`recommend.data`.
"""

from __future__ import annotations

import csv
import difflib
import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from finmatch_agents.data import queries, writer
from finmatch_agents.errors import DataError, UsageError
from finmatch_agents.features.build import QueryRunner, present_columns, result_columns
from finmatch_agents.recommend.common import FEEDBACK_TABLE
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import DuckDBEngine

OUTCOMES = ("accepted", "declined")
COLUMNS = ("customer_id", "product_id", "rating", "outcome", "note")
DDL = (f"CREATE TABLE IF NOT EXISTS {FEEDBACK_TABLE} (feedback_id BIGINT, customer_id VARCHAR, product_id VARCHAR, "
       "rating INTEGER, outcome VARCHAR, note VARCHAR, recorded_at TIMESTAMP, recorded_by VARCHAR, model_id VARCHAR, "
       "source VARCHAR)")


@dataclass(frozen=True)
class Entry:
    customer_id: str
    product_id: str
    rating: int | None = None
    outcome: str | None = None
    note: str | None = None


def check_entry(entry: Entry, *, row: int | None = None, file: str | None = None) -> None:
    """Exactly one of a rating 1..5 or an outcome."""
    if entry.rating is None and entry.outcome is None:
        raise DataError("feedback needs a rating (1-5) or an outcome (accepted / declined)", file=file, row=row,
                        column="rating", hint="pass --rating N, --accepted or --declined")
    if entry.rating is not None and entry.outcome is not None:
        raise DataError("give a rating or an outcome, not both", file=file, row=row, column="outcome")
    if entry.rating is not None and not 1 <= entry.rating <= 5:
        raise DataError(f"rating {entry.rating} is outside 1..5", file=file, row=row, column="rating")
    if entry.outcome is not None and entry.outcome not in OUTCOMES:
        raise DataError(f"outcome '{entry.outcome}' is not one of {', '.join(OUTCOMES)}", file=file, row=row,
                        column="outcome")


def check_ids(entries: list[Entry], customers: set[str], products: list[str], *, file: str | None = None,
              first_row: int = 2) -> None:
    """Every customer and product must exist; the first unknown one is refused with its closest matches."""
    for i, e in enumerate(entries):
        row = first_row + i if file else None
        for value, known, column in ((e.customer_id, customers, "customer_id"), (e.product_id, products,
                                                                                   "product_id")):
            if value not in known:
                close = difflib.get_close_matches(value, sorted(known) if isinstance(known, set) else known, n=3,
                                                  cutoff=0.6)
                what = "customer" if column == "customer_id" else "product"
                raise DataError(f"no {what} '{value}' in the data" + (f"; closest: {', '.join(close)}" if close
                                                                       else ""),
                                file=file, row=row, column=column,
                                hint=("`finmatch recommend list` names the data the recommenders learn from"
                                      if column == "customer_id" else "`finmatch data info` lists the tables"))


def read_file(path: Path) -> list[Entry]:
    """A CSV with a header naming customer_id, product_id and rating and/or outcome (note optional)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise UsageError(f"FILE: {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the file ({exc})", file=str(path)) from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("customer_id", "product_id") if c not in header]
    if missing or not ({"rating", "outcome"} & set(header)):
        need = missing[0] if missing else "rating"
        raise DataError(f"the header must name customer_id, product_id and rating or outcome (it has: "
                        f"{', '.join(header) or 'nothing'})", file=str(path), row=1, column=need)
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise DataError(f"unknown column '{unknown[0]}' (columns: {', '.join(COLUMNS)})", file=str(path), row=1,
                        column=unknown[0])
    entries = []
    for n, raw in enumerate(reader, start=2):
        r = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            raise DataError("more fields than the header has", file=str(path), row=n)
        rating: int | None = None
        if r.get("rating"):
            try:
                rating = int(r["rating"])
            except ValueError as exc:
                raise DataError(f"rating '{r['rating']}' is not a whole number 1..5", file=str(path), row=n,
                                column="rating") from exc
        for column in ("customer_id", "product_id"):
            if not r.get(column):
                raise DataError(f"{column} is empty", file=str(path), row=n, column=column)
        e = Entry(r["customer_id"], r["product_id"], rating, r.get("outcome") or None, r.get("note") or None)
        check_entry(e, row=n, file=str(path))
        entries.append(e)
    if not entries:
        raise DataError("the file has a header but no feedback rows", file=str(path), row=2)
    return entries


def record(db: Path, entries: list[Entry], *, model_id: str | None, source: str,
           recorded_by: str | None = None) -> dict[str, Any]:
    """Append ``entries`` in one transaction; returns what was written."""
    who = recorded_by or _user()
    at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(DDL)
        start = con.execute(f"SELECT coalesce(max(feedback_id), 0) FROM {FEEDBACK_TABLE}").fetchone()
        first = int(start[0]) + 1 if start else 1
        con.executemany(f"INSERT INTO {FEEDBACK_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[first + i, e.customer_id, e.product_id, e.rating, e.outcome, e.note, at, who, model_id,
                          source] for i, e in enumerate(entries)])
        total = con.execute(f"SELECT count(*) FROM {FEEDBACK_TABLE}").fetchone()
        writer.record_meta(con, FEEDBACK_TABLE, "recommend feedback",
                           {"rows": int(total[0]) if total else 0, "last_source": source})

    writer.atomic_write(db, work)
    return {"rows": len(entries), "recorded_at": at.isoformat(), "recorded_by": who, "model_id": model_id,
            "source": source}


def known_ids(engine: DuckDBEngine, log: QueryLog, table: str) -> tuple[set[str], list[str]]:
    """The customers with a dated offer and the catalogue's product ids: what feedback may name."""
    present = present_columns(engine, table, "products") if engine.has_table("products") else {
        c.name for c in engine.columns(table)}
    got = QueryRunner(engine, log, present, {"table": table}).run("recommend/customers")
    if isinstance(got, named.Skipped):
        raise UsageError(f"{table} has no dated offers with customer and product ids to give feedback on")
    customers = {str(c) for c in result_columns(got).objects("customer_id")}
    res = queries.run(engine, log, "recommend/product_types", present=present, table=table)
    products = [] if isinstance(res, named.Skipped) else [str(r["product_id"]) for r in res.dicts()]
    return customers, products


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
