"""Dataset profile: what is in the database, how complete it is, and what looks wrong.

Used by ``finmatch data info`` and by the analysis graph's ``prepare`` step. Every figure comes from SQL
through the sandbox and is logged; the per-column statistics query is generated from the data dictionary
(one aggregate per column), the checks by source system are named queries.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from finmatch_agents.data.schema import columns_of, value_checks
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.sqltext import literal, quote_ident

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import Engine

HIGH_NULL_RATE = 0.05
STALE_DAYS = 60
GAP_MIN_RATE, GAP_RATIO = 0.005, 3.0  # a source is gappy above 0.5% empty fields and 3x the other sources
META_TABLE = "finmatch_meta"


@dataclass
class ColumnProfile:
    name: str
    type: str
    nulls: int
    null_rate: float
    distinct: int | None = None
    min: Any = None
    max: Any = None


@dataclass
class QualityFlag:
    code: str
    severity: str  # info | warning | error
    message: str
    column: str | None = None
    query_id: str | None = None


@dataclass
class TableSummary:
    name: str
    rows: int
    columns: int
    query_id: str | None = None


@dataclass
class DatasetProfile:
    db: str
    table: str
    rows: int
    deleted_rows: int
    customers: int | None
    date_min: Any
    date_max: Any
    fingerprint: str
    columns: list[ColumnProfile]
    present: list[str]
    absent: list[str]
    tables: list[TableSummary]
    flags: list[QualityFlag] = field(default_factory=list)
    query_ids: dict[str, str] = field(default_factory=dict)  # which query produced which part
    catalog: dict[str, list[str]] = field(default_factory=dict)  # table -> columns
    sources: list[dict[str, Any]] = field(default_factory=list)  # per source system freshness/completeness
    provenance: dict[str, Any] = field(default_factory=dict)  # how the table was written (finmatch_meta)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stats_sql(table: str, cols: list[tuple[str, str]]) -> str:
    parts = ["count(*) AS __rows"]
    for name, dtype in cols:
        ref = quote_ident(name)
        parts.append(f"count({ref}) AS {quote_ident(name + '__n')}")
        parts.append(f"1 - count({ref}) / greatest(count(*), 1) AS {quote_ident(name + '__null_rate')}")
        parts.append(f"approx_count_distinct({ref}) AS {quote_ident(name + '__d')}")
        if not dtype.upper().startswith(("VARCHAR", "BOOLEAN")):
            parts += [f"min({ref}) AS {quote_ident(name + '__min')}", f"max({ref}) AS {quote_ident(name + '__max')}"]
    return f"SELECT {', '.join(parts)} FROM {quote_ident(table)}"


def _fingerprint(rows: int, row_hash: Any, columns: list[tuple[str, str]]) -> str:
    text = f"{rows}|{row_hash}|" + ",".join(f"{n}:{t}" for n, t in columns)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def profile_dataset(engine: Engine, log: QueryLog, table: str) -> DatasetProfile:
    """Profile ``table``; raise :class:`DataError` via the caller if the table does not exist."""
    cols = [(c.name, c.type) for c in engine.columns(table)]
    present = {n for n, _ in cols}
    dictionary = columns_of(table) or ()
    stats_res = engine.query(_stats_sql(table, cols), log=log, title=f"Column completeness and ranges of {table}")
    stats = stats_res.first()
    rows = int(stats["__rows"])
    columns = [ColumnProfile(name=n, type=t, nulls=rows - int(stats[f"{n}__n"]),
                             null_rate=float(stats[f"{n}__null_rate"]),
                             distinct=stats.get(f"{n}__d"), min=stats.get(f"{n}__min"), max=stats.get(f"{n}__max"))
               for n, t in cols]
    fp = named.run(engine, log, "profile/fingerprint", present=present, table=table)
    row_hash = fp.first().get("row_hash") if not isinstance(fp, named.Skipped) else None
    logged = len(log.records)
    deleted = engine.soft_deleted_count(table, log=log)
    deleted_qid = log.records[-1].id if len(log.records) > logged else None
    by_name = {c.name: c for c in columns}
    date_col = by_name.get("product_recommendation_date")
    profile = DatasetProfile(
        db=engine.location, table=table, rows=rows, deleted_rows=deleted,
        customers=by_name["customer_id"].distinct if "customer_id" in by_name else None,
        date_min=date_col.min if date_col else None, date_max=date_col.max if date_col else None,
        fingerprint=_fingerprint(rows, row_hash, cols), columns=columns,
        present=[n for n, _ in cols], absent=[c.name for c in dictionary if c.name not in present],
        tables=[], provenance=_provenance(engine, log, table),
        query_ids={"stats": stats_res.id, **({"fingerprint": fp.id} if not isinstance(fp, named.Skipped) else {})},
        catalog={t: [c.name for c in engine.columns(t)] for t in engine.tables()},
    )
    if deleted_qid:
        profile.query_ids["deleted"] = deleted_qid
    if "customer_id" in present:  # approx_count_distinct is an estimate; the profile reports the exact count
        exact = engine.query(f"SELECT count(DISTINCT customer_id) AS customers FROM {quote_ident(table)}", log=log,
                             title="Distinct customers")
        profile.customers = int(exact.scalar())
        profile.query_ids["customers"] = exact.id
    for other in engine.tables():
        if other == META_TABLE:
            continue
        res = engine.query(f"SELECT count(*) AS rows FROM {quote_ident(other)}", log=log, title=f"Rows in {other}")
        profile.tables.append(TableSummary(other, int(res.scalar()), len(engine.columns(other)), res.id))
    profile.flags = _flags(engine, log, profile, present, stats_res.id)
    return profile


def _provenance(engine: Engine, log: QueryLog, table: str) -> dict[str, Any]:
    if not any(t == META_TABLE for t in engine.tables()):
        return {}
    res = engine.query(f"SELECT source, details FROM {META_TABLE} WHERE table_name = {literal(table)}", log=log,
                       title="How the table was written")
    row = res.first()
    if not row:
        return {}
    import json

    return {"source": row["source"], **json.loads(row["details"] or "{}")}


def _flags(engine: Engine, log: QueryLog, p: DatasetProfile, present: set[str], stats_id: str) -> list[QualityFlag]:
    flags: list[QualityFlag] = []
    dictionary = {c.name: c for c in columns_of(p.table) or ()}
    if dictionary:
        required = [c for c in dictionary.values() if c.required and c.name not in present]
        if required:
            flags.append(QualityFlag("missing-required", "error",
                                     f"required column(s) absent: {', '.join(c.name for c in required)}"))
        if p.absent:
            flags.append(QualityFlag("absent-columns", "info",
                                     "dictionary columns absent from the data (analyses that need them are "
                                     f"skipped): {', '.join(p.absent)}"))
    for col in p.columns:
        if col.null_rate > HIGH_NULL_RATE and col.name not in ("product_sales_amount", "product_sales_date"):
            flags.append(QualityFlag("high-nulls", "warning", f"{col.name} is empty in {col.null_rate:.1%} of rows",
                                     column=col.name, query_id=stats_id))
    if p.deleted_rows:
        flags.append(QualityFlag("soft-deleted", "info", f"{p.deleted_rows:,} soft-deleted rows (_fivetran_deleted) "
                                 "are excluded from every analysis", column="_fivetran_deleted",
                                 query_id=p.query_ids.get("deleted")))
    checks = [(c.name, cond, expect) for c in dictionary.values() if c.name in present
              for cond, expect in value_checks(c, quote_ident(c.name)) if "required" not in expect]
    if checks:
        sql = "SELECT " + ", ".join(f"count(*) FILTER (WHERE {cond}) AS c{i}" for i, (_, cond, _) in enumerate(checks))
        res = engine.query(f"{sql} FROM {quote_ident(p.table)}", log=log, title="Values outside the data dictionary")
        for (name, _, expect), bad in zip(checks, res.rows[0], strict=True):
            if bad:
                flags.append(QualityFlag("invalid-values", "warning", f"{bad:,} value(s) of {name} are not {expect}",
                                         column=name, query_id=res.id))
    if "record_id" in present:
        res = engine.query(f"SELECT count(*) - count(DISTINCT record_id) AS duplicates FROM {quote_ident(p.table)}",
                           log=log, title="Duplicate record ids")
        if res.scalar():
            flags.append(QualityFlag("duplicate-ids", "warning", f"{res.scalar():,} duplicate record_id value(s)",
                                     column="record_id", query_id=res.id))
    consistency = named.run(engine, log, "profile/sales_consistency", present=present, table=p.table)
    if not isinstance(consistency, named.Skipped) and consistency.scalar():
        flags.append(QualityFlag("sales-without-acceptance", "warning",
                                 f"{consistency.scalar():,} row(s) carry a sales amount but are not Accepted",
                                 column="product_sales_amount", query_id=consistency.id))
    flags += _source_flags(engine, log, p, present)
    return flags


#: empty by design on most rows (only accepted recommendations have a sale), so not a completeness signal
_SPARSE_BY_DESIGN = ("product_sales_amount", "product_sales_date")


def _source_flags(engine: Engine, log: QueryLog, p: DatasetProfile, present: set[str]) -> list[QualityFlag]:
    """Freshness and completeness per core banking source system (stale or gappy feeds)."""
    if "source_system" not in present:
        return []
    flags: list[QualityFlag] = []
    fresh = named.run(engine, log, "profile/source_freshness", present=present, table=p.table)
    if not isinstance(fresh, named.Skipped):
        for row in fresh.dicts():
            if row["lag_days"] is not None and row["lag_days"] > STALE_DAYS:
                flags.append(QualityFlag("stale-source", "warning",
                                         f"{row['source_system']}: newest recommendation is {row['lag_days']} days "
                                         f"older than the newest overall ({row['newest']})", column="source_system",
                                         query_id=fresh.id))
    checked = [c.name for c in columns_of(p.table) or () if c.name in present and not c.required
               and c.origin == "finmatch" and c.name not in _SPARSE_BY_DESIGN]
    if not checked:
        return flags
    empties = " + ".join(f"({quote_ident(c)} IS NULL)::INTEGER" for c in checked)
    res = engine.query(
        f"""WITH per_source AS (
    SELECT source_system, count(*) AS records, sum({empties}) AS empty_fields, {len(checked)} AS fields_checked
    FROM {quote_ident(p.table)} GROUP BY source_system)
SELECT source_system, records, empty_fields, fields_checked,
       empty_fields / (records * fields_checked) AS empty_rate,
       (sum(empty_fields) OVER () - empty_fields)
         / nullif((sum(records) OVER () - records) * fields_checked, 0) AS others_empty_rate,
       {GAP_MIN_RATE} AS gap_min_rate, {GAP_RATIO} AS gap_ratio
FROM per_source ORDER BY source_system""", log=log, title="Empty fields by source system")
    p.sources = res.dicts()
    p.query_ids["source_gaps"] = res.id
    if fresh and not isinstance(fresh, named.Skipped):
        p.query_ids["source_freshness"] = fresh.id
        newest = {r["source_system"]: r for r in fresh.dicts()}
        for src in p.sources:
            src.update({k: v for k, v in newest.get(src["source_system"], {}).items() if k != "source_system"})
    for src in p.sources:
        others = src["others_empty_rate"] or 0.0
        if src["empty_rate"] > GAP_MIN_RATE and src["empty_rate"] > GAP_RATIO * others:
            flags.append(QualityFlag("source-gaps", "warning",
                                     f"{src['source_system']}: {src['empty_rate']:.1%} of checked fields empty vs "
                                     f"{others:.1%} in the other systems", column="source_system", query_id=res.id))
    return flags
