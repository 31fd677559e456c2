"""``finmatch data load``: map a real file onto the data dictionary, validate every value, load atomically.

Pipeline (all inside one write transaction, see :func:`writer.atomic_write`):
read file (readers) -> stage -> apply the mapping as SQL expressions over text -> check each target column
(type, whole numbers, domain, range, required) -> insert with dictionary types. Any problem raises a
:class:`DataError` that names the file, line/row and column and what was expected; nothing is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from finmatch_agents.data import writer
from finmatch_agents.data.mapping import IDENTITY, Mapping
from finmatch_agents.data.readers import LINE_COL, MAX_PROBLEMS, ROW_COL, detect_format, read_file
from finmatch_agents.data.schema import Column, column, columns_of, value_checks
from finmatch_agents.errors import DataError
from finmatch_agents.warehouse.sqltext import literal, quote_ident

if TYPE_CHECKING:
    import duckdb

INFERRED_TYPES = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")
#: the soft-delete flag: validated as a boolean in every table, not only in fpr_records (warehouse/engine.py)
SOFT_DELETE = "_fivetran_deleted"
#: a text value holding this is refused (DuckDB and most tools treat it as the end of the string)
NUL_CHECK = ("strpos({ref}, chr(0)) > 0", "text without NUL bytes (\\x00)")


@dataclass
class LoadReport:
    file: str
    table: str
    format: str
    rows: int
    columns: list[str]
    delimiter: str | None = None
    replaced: bool = False
    appended: bool = False
    ignored_source_columns: list[str] = field(default_factory=list)
    absent_columns: list[str] = field(default_factory=list)  # dictionary columns the data lacks
    sha256: str = ""


@dataclass(frozen=True)
class _Target:
    name: str
    expr: str  # SQL over the staging table, producing VARCHAR
    origin: str  # what the user wrote, for messages ("from 'balance'", "constant", "derived")
    column: Column | None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _text(source: str, nulls: tuple[str, ...]) -> str:
    ref = f"CAST({quote_ident(source)} AS VARCHAR)"
    if not nulls:
        return ref
    return f"CASE WHEN trim({ref}) IN ({', '.join(literal(v) for v in nulls)}) THEN NULL ELSE {ref} END"


def _targets(read_columns: list[str], mapping: Mapping, table: str, file: Path) -> tuple[list[_Target], list[str]]:
    dictionary = {c.name: c for c in columns_of(table) or ()}
    where = mapping.path or "the mapping"
    available = set(read_columns)

    def missing_source(key: str, src: str) -> DataError:
        return DataError(f"{key} = '{src}': {file.name} has no column '{src}'; it has {', '.join(read_columns)}",
                         file=where)

    targets: dict[str, _Target] = {}
    for target, src in mapping.columns.items():
        if src not in available:
            raise missing_source(f"columns.{target}", src)
        targets[target] = _Target(target, _text(src, mapping.null_values), f"from '{src}'", dictionary.get(target))
    for target, value in mapping.constants.items():
        targets[target] = _Target(target, f"CAST({literal(value)} AS VARCHAR)", "constant", dictionary.get(target))
    for target, spec in mapping.derive.items():
        for src in spec.hash_of:
            if src not in available:
                raise missing_source(f"derive.{target}.hash", src)
        if spec.row_number:
            number = f"CAST({ROW_COL} AS VARCHAR)"
            body = f"lpad({number}, {spec.width}, '0')" if spec.width else number
        else:
            parts = ", ".join(f"coalesce(CAST({quote_ident(s)} AS VARCHAR), '')" for s in spec.hash_of)
            body = f"substr(md5(concat_ws('|', {parts})), 1, 16)"
        targets[target] = _Target(target, f"{literal(spec.prefix)} || {body}", "derived", dictionary.get(target))
    used_sources = set(mapping.columns.values()) | {s for d in mapping.derive.values() for s in d.hash_of}
    for src in read_columns:  # columns already named like ours map to themselves
        if src not in targets and src not in used_sources and (src in dictionary or not dictionary):
            targets[src] = _Target(src, _text(src, mapping.null_values), f"from '{src}'", dictionary.get(src))
    if dictionary:
        for name in targets:
            if name not in dictionary:
                raise DataError(f"'{name}' is not a column of {table}; see docs/data-dictionary.md", file=where)
        if table == "fpr_records" and "record_id" not in targets:
            targets["record_id"] = _Target("record_id", f"'R' || lpad(CAST({ROW_COL} AS VARCHAR), 8, '0')", "derived",
                                           dictionary["record_id"])
        missing = [c.name for c in dictionary.values() if c.required and c.name not in targets]
        if missing:
            raise DataError(f"required column(s) missing: {', '.join(missing)}", file=str(file), column=missing[0],
                            hint=f"map them in [columns], set them in [constants] or [derive] ({where})")
    for target, fmt in mapping.dates.items():
        if target not in targets:
            raise DataError(f"dates.{target}: the column is not mapped", file=where)
        t = targets[target]
        targets[target] = _Target(target, f"strftime(try_strptime({t.expr}, {literal(fmt)}), '%Y-%m-%d %H:%M:%S')",
                                  f"{t.origin}, format {fmt}", t.column)
    deleted = targets.get(SOFT_DELETE)
    if deleted is not None and deleted.column is None:  # any table: the sandbox reads the flag as a boolean
        targets[SOFT_DELETE] = _Target(SOFT_DELETE, deleted.expr, deleted.origin, column("fpr_records", SOFT_DELETE))
    ordered = [targets[c] for c in dictionary if c in targets] + [t for n, t in targets.items() if n not in dictionary]
    ignored = [c for c in read_columns if c not in used_sources and c not in targets]
    return ordered, ignored


def _canonical(expr: str, col: Column) -> str:
    """Map a value to the dictionary spelling of its domain, ignoring case, '_', '-' and extra spaces."""
    if not col.domain:
        return expr
    key = f"regexp_replace(lower(trim({expr})), '[\\s_-]+', ' ', 'g')"
    cases = " ".join(f"WHEN {literal(v.lower())} THEN {literal(v)}" for v in col.domain)
    return f"CASE {key} {cases} ELSE {expr} END"


def _value_map(expr: str, mapping: dict[str, str]) -> str:
    default = mapping.get("*")
    cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in mapping.items() if k != "*")
    return f"CASE {expr} {cases} ELSE {literal(default) if default is not None else expr} END" if cases else expr


def _validate(con: duckdb.DuckDBPyConnection, targets: list[_Target], file: Path, has_line: bool) -> None:
    checks = [(t, cond, expect) for t in targets if t.column for cond, expect in value_checks(t.column, f"v_{t.name}")]
    checks += [(t, NUL_CHECK[0].format(ref=f"v_{t.name}"), NUL_CHECK[1]) for t in targets]
    if not checks:
        return
    counts = con.execute("SELECT " + ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond, _ in checks)
                         + " FROM _mapped").fetchone() or ()
    found: list[tuple[int, str]] = []
    first: tuple[int | None, int | None, str | None] = (None, None, None)
    for (target, cond, expect), bad in zip(checks, counts, strict=True):
        if not bad or len(found) >= MAX_PROBLEMS:
            continue
        row, line, value = con.execute(
            f"SELECT {ROW_COL}, {LINE_COL if has_line else 'NULL'}, v_{target.name} FROM _mapped WHERE {cond} "
            f"ORDER BY {ROW_COL} LIMIT 1").fetchone()  # type: ignore[misc]
        where = f"line {line}" if line else f"row {row}"
        shown = "empty" if value is None else repr(value if len(value) <= 40 else value[:37] + "...")
        more = f" ({bad} rows)" if bad > 1 else ""
        origin = "" if target.origin == f"from '{target.name}'" else f" ({target.origin})"
        found.append((row, f"{where}, column '{target.name}'{origin}: {shown} is not {expect}{more}"))
        if first[0] is None or row < first[0]:
            first = (row, line, target.name)
    problems = [text for _, text in sorted(found, key=lambda item: item[0])]
    if problems:
        raise DataError(f"{len(problems)} problem(s) found; nothing was loaded", file=str(file), line=first[1],
                        row=first[0], column=first[2], problems=problems)


def _infer_type(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    for candidate in INFERRED_TYPES:
        ok = con.execute(f"SELECT count(*) FILTER (WHERE {ref} IS NOT NULL AND TRY_CAST({ref} AS {candidate}) IS NULL)"
                         f" = 0 AND count({ref}) > 0 FROM _mapped").fetchone()
        if ok and ok[0]:
            return candidate
    return "VARCHAR"


def load_file(db: Path, file: Path, *, table: str = "fpr_records", mapping: Mapping = IDENTITY, replace: bool = False,
              fmt: str | None = None, delimiter: str | None = None) -> LoadReport:
    fmt = detect_format(file, fmt or mapping.format)
    read = read_file(file, fmt, delimiter=delimiter or mapping.delimiter, encoding=mapping.encoding)
    targets, ignored = _targets(read.source_columns, mapping, table, file)
    if not targets:
        raise DataError("no columns to load (none named like the data dictionary and no mapping given)",
                        file=str(file), hint="pass --mapping FILE; see examples/bank-marketing.toml")
    dictionary = columns_of(table)
    has_line = LINE_COL in read.table.column_names
    report = LoadReport(file=str(file), table=table, format=read.format, rows=read.table.num_rows,
                        columns=[t.name for t in targets], delimiter=read.delimiter, ignored_source_columns=ignored,
                        absent_columns=[c.name for c in dictionary or () if c.name not in {t.name for t in targets}],
                        sha256=_sha256(file))

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.register("_src", read.table)
        exprs = []
        for t in targets:
            expr = _value_map(t.expr, mapping.values[t.name]) if t.name in mapping.values else t.expr
            exprs.append(f"{_canonical(expr, t.column) if t.column else expr} AS v_{t.name}")
        line = LINE_COL if has_line else f"NULL::BIGINT AS {LINE_COL}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _mapped AS SELECT {ROW_COL}, {line}, {', '.join(exprs)} FROM _src")
        con.unregister("_src")
        _validate(con, targets, file, has_line)
        types = {t.name: (t.column.type if t.column else _infer_type(con, f"v_{t.name}")) for t in targets}
        existing = writer.existing_tables(con)
        if table in existing and not replace:
            current = {r[0]: r[1] for r in con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' "
                "AND table_name = ?", [table]).fetchall()}
            extra = [n for n in types if n not in current]
            if extra:
                raise DataError(f"table {table} exists without column(s) {', '.join(extra)}; cannot append",
                                file=str(file), column=extra[0], hint="pass --replace to replace the table")
            report.appended = True
        else:
            report.replaced = table in existing
            extra_types = {n: ty for n, ty in types.items() if column(table, n) is None}
            con.execute(writer.table_ddl(table, list(types), extra_types))
        select = ", ".join(f"TRY_CAST(v_{n} AS {ty}) AS {quote_ident(n)}" for n, ty in types.items())
        con.execute(f"INSERT INTO {quote_ident(table)} BY NAME SELECT {select} FROM _mapped ORDER BY {ROW_COL}")
        con.execute("DROP TABLE _mapped")
        writer.record_meta(con, table, "file", {"file": file.name, "sha256": report.sha256, "format": read.format,
                                                "rows": report.rows, "mapping": mapping.path,
                                                "appended": report.appended})

    writer.atomic_write(db, work)
    return report
