"""Is this table something an analysis can run on? Checked once, before any work (``analyze``, ``metrics``, the
scheduler's jobs and the chat's analyses all reach :func:`check_recommendations_table`).

A recommendations table must exist, have the data dictionary's required ``fpr_records`` columns and at least one
row that is not soft-deleted; otherwise :class:`DataError` (exit 3) names the table and what is missing, so a run
never reports on an empty table or on the product catalogue as if it were recommendations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finmatch_agents.data.schema import required_columns
from finmatch_agents.errors import DataError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse.sqltext import literal, quote_ident

if TYPE_CHECKING:
    from finmatch_agents.warehouse.engine import Engine

RECORDS_TABLE = "fpr_records"
META_TABLE = "finmatch_meta"


@dataclass(frozen=True)
class TableCheck:
    """What the check learnt: active rows, and what the load recorded (currency, labels) for the run to use."""

    table: str
    rows: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def currency(self) -> str | None:
        value = self.meta.get("currency")
        return value if isinstance(value, str) else None

    @property
    def labels(self) -> dict[str, str]:
        value = self.meta.get("labels")
        return dict(value) if isinstance(value, dict) else {}


def table_meta(engine: Engine, table: str, log: QueryLog | None = None) -> dict[str, Any]:
    """How ``table`` was written (``finmatch_meta``): source, file, mapping, currency, labels, extra columns."""
    if META_TABLE not in engine.tables():
        return {}
    res = engine.query(f"SELECT source, details FROM {META_TABLE} WHERE table_name = {literal(table)}",
                       log=log or QueryLog(), title="How the table was written")
    rows = res.dicts()
    if not rows:
        return {}
    return {"source": rows[0]["source"], **json.loads(rows[0]["details"] or "{}")}


def check_recommendations_table(engine: Engine, table: str = RECORDS_TABLE) -> TableCheck:
    """Refuse (exit 3) a table that does not exist, lacks a required column or has no active row."""
    tables = [t for t in engine.tables() if t != META_TABLE]
    where = engine.location
    if table.lower() not in {t.lower() for t in tables}:
        raise DataError(f"table '{table}' is not in the database (tables: {', '.join(tables) or 'none'})", file=where,
                        hint="load recommendations with `finmatch data load FILE [--mapping M]`, or pick the "
                        "table with --table / FINMATCH_TABLE")
    present = {c.name.lower() for c in engine.columns(table)}
    missing = [c for c in required_columns(RECORDS_TABLE) if c not in present]
    if missing:
        others = [t for t in tables if t != table and
                  set(required_columns(RECORDS_TABLE)) <= {c.name.lower() for c in engine.columns(t)}]
        pick = f"; {', '.join(others)} {'is one' if len(others) == 1 else 'are'}: pass --table {others[0]}" if others \
            else ""
        raise DataError(f"table '{table}' is not a recommendations table: it lacks {', '.join(missing)}", file=where,
                        hint=f"an analysis reads one row per product recommendation (docs/data-dictionary.md, "
                        f"fpr_records){pick}; or load one with `finmatch data load FILE --mapping M`")
    log = QueryLog()
    rows = int(engine.query(f"SELECT count(*) AS n FROM {quote_ident(table)}", log=log,
                            title=f"Active rows in {table}").scalar())
    if rows == 0:
        deleted = engine.soft_deleted_count(table, log=log)
        why = f"all {deleted:,} of its rows are soft-deleted (_fivetran_deleted)" if deleted else "it has no rows"
        raise DataError(f"table '{table}' has nothing to analyse: {why}", file=where,
                        hint="load data with `finmatch data load FILE --replace`")
    return TableCheck(table=table, rows=rows, meta=table_meta(engine, table, log))


def run_currency(setting: str, setting_source: str, check: TableCheck) -> tuple[str, str | None]:
    """The currency a run shows money in, and a warning when a setting disagrees with the data.

    The currency the data was loaded with (a mapping's ``currency = "EUR"``) describes the stored amounts, so it
    wins over ``FINMATCH_CURRENCY`` / ``finmatch.currency``; without one, the setting (default USD) is used."""
    data = check.currency
    if data is None:
        return setting, None
    if setting_source != "default" and setting != data:
        return data, (f"currency: the data's amounts are in {data} (recorded when {check.table} was loaded), so "
                      f"money is shown in {data}, not in the configured {setting}")
    return data, None
