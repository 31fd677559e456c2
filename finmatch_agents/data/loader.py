"""``finmatch data load``: map a real file onto the data dictionary, validate every value, load atomically.

Pipeline (all inside one write transaction, see :func:`writer.atomic_write`):
read file (readers) -> stage -> apply the mapping as SQL expressions over text -> check each target column
(type, whole numbers, domain, range, required) -> insert with dictionary types. Any problem raises a
:class:`DataError` that names the file, line/row and column and what was expected; nothing is written.

The stage is a view over DuckDB's own read of the file when :func:`readers.scan_file` allows it (CSV with one
record a line, Parquet), so memory does not grow with the file; otherwise, or when DuckDB's reader refuses the
file, it is a temporary table of what :func:`readers.read_file` read in Python.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents.data import writer
from finmatch_agents.data.mapping import IDENTITY, Mapping
from finmatch_agents.data.readers import (
    LINE_COL,
    MAX_PROBLEMS,
    ROW_COL,
    FileScan,
    ReadResult,
    detect_format,
    read_file,
    scan_file,
)
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
    ignored_source_columns: list[str] = field(default_factory=list)  # source columns not loaded ([drop] columns)
    absent_columns: list[str] = field(default_factory=list)  # dictionary columns the data lacks
    sha256: str = ""
    extra_columns: dict[str, str] = field(default_factory=dict)  # extra column -> the source column it keeps
    labels: dict[str, str] = field(default_factory=dict)  # column -> label in reports (the mapping's [labels])
    currency: str | None = None  # the mapping's currency (or the one recorded by an earlier load appended to)
    notes: list[str] = field(default_factory=list)  # things to check: extras that look personal or mistyped


@dataclass(frozen=True)
class _Target:
    name: str
    expr: str  # SQL over the staging table, producing VARCHAR
    origin: str  # what the user wrote, for messages ("from 'balance'", "constant", "derived")
    column: Column | None
    source: str | None = None  # the source column an extra column keeps

    @property
    def ref(self) -> str:
        """The column holding this target's text in the ``_mapped`` staging table."""
        return quote_ident(f"v_{self.name}")


def extra_column_name(source: str, taken: set[str], reserved: set[str]) -> str:
    """The name an unmapped source column is kept under: a plain lower-case SQL name, never a dictionary column's.

    ``Customer Age`` -> ``customer_age_raw`` in ``fpr_records`` (``customer_age`` is a dictionary column, and the
    source's values were not validated against it); ``2nd Phone`` -> ``c_2nd_phone``; a second column that would
    get the same name gets ``_2``, ``_3``... (DuckDB names are case-insensitive, so ``Age`` and ``age`` collide)."""
    ascii_name = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode()
    name = re.sub(r"[^0-9a-z]+", "_", ascii_name.lower()).strip("_") or "column"
    if name[0].isdigit():
        name = f"c_{name}"
    if name in reserved:
        name = f"{name}_raw"
    base, n = name, 2
    while name in taken or name in reserved:
        name, n = f"{base}_{n}", n + 1
    return name


#: words in a column name that suggest personal data (an extra column is not masked unless configured)
_PERSONAL = re.compile(r"(^|_)(name|surname|first_?name|last_?name|e_?mail|phone|mobile|address|street|postcode|"
                       r"zip|zip_?code|ssn|iban|passport|birth|dob|national_id|tax_id)(_|$)")


def _notes(targets: list[_Target], table: str) -> list[str]:
    """What a user should look at after a load: extra columns that look like personal data or like a mistyped
    dictionary column (they are kept as they are; the mapping decides)."""
    loaded = {t.name for t in targets}
    names = [c.name for c in columns_of(table) or () if c.name not in loaded]  # a close one that is absent
    notes = []
    for t in targets:
        if t.source is None:
            continue
        if _PERSONAL.search(t.name):
            notes.append(f"extra column '{t.name}' (from '{t.source}') may hold personal data; it is not masked for "
                         "models: drop it with [drop] columns in the mapping, or list it in [privacy] pii_columns")
        close = difflib.get_close_matches(t.name.removesuffix("_raw"), names, n=1, cutoff=0.85)
        if close:
            notes.append(f"extra column '{t.name}' (from '{t.source}') looks like dictionary column '{close[0]}'; "
                         f"if it is, map it: [columns] {close[0]} = \"{t.source}\"")
    return notes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_idents(columns: list[str]) -> dict[str, str]:
    """Positional names the staging table gives the source columns: DuckDB matches names ignoring case, so a
    file with both ``age`` and ``AGE`` could otherwise read one column twice."""
    return {src: f"__c{i}" for i, src in enumerate(columns)}


#: the code points DuckDB's ``trim`` removes (Unicode category Zs; tests/data checks the list against DuckDB): 32, 160
#: or from 5760 up, so a value that starts with any other character is not blank
TRIMMED = (32, 160, 5760, *range(8192, 8203), 8239, 8287, 12288)


def _text(source: str, nulls: tuple[str, ...]) -> str:
    ref = f"CAST({source} AS VARCHAR)"
    if not nulls:
        return ref
    tests = []
    if "" in nulls:  # ``trim(v) = ''``, trimming only a value that may start with a space (trim allocates per value;
        # comparisons, not an IN list: the database turns a long one into a join)
        first = f"ascii({ref})"
        tests.append(f"{ref} = '' OR (({first} = 32 OR {first} = 160 OR {first} >= 5760) AND trim({ref}) = '')")
    others = [v for v in nulls if v != ""]
    if others:
        tests.append(f"trim({ref}) IN ({', '.join(literal(v) for v in others)})")
    return f"CASE WHEN {' OR '.join(tests)} THEN NULL ELSE {ref} END"


def _targets(read_columns: list[str], mapping: Mapping, table: str, file: Path) -> tuple[list[_Target], list[str]]:
    """What to load: dictionary targets (mapped, constant, derived, or named like ours), then extra columns.

    Returns the targets in table order and the source columns not loaded (the mapping's ``[drop]`` list)."""
    dictionary = {c.name: c for c in columns_of(table) or ()}
    where = mapping.path or "the mapping"
    available = set(read_columns)
    ident = source_idents(read_columns)
    for src in mapping.drop:
        if src not in available:
            raise DataError(f"drop.columns: {file.name} has no column '{src}'; it has {', '.join(read_columns)}",
                            file=where)
    dropped = set(mapping.drop)

    def missing_source(key: str, src: str) -> DataError:
        return DataError(f"{key} = '{src}': {file.name} has no column '{src}'; it has {', '.join(read_columns)}",
                         file=where)

    targets: dict[str, _Target] = {}
    for target, src in mapping.columns.items():
        if src not in available:
            raise missing_source(f"columns.{target}", src)
        targets[target] = _Target(target, _text(ident[src], mapping.null_values), f"from '{src}'",
                                  dictionary.get(target))
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
            parts = ", ".join(f"coalesce(CAST({ident[s]} AS VARCHAR), '')" for s in spec.hash_of)
            body = f"substr(md5(concat_ws('|', {parts})), 1, 16)"
        targets[target] = _Target(target, f"{literal(spec.prefix)} || {body}", "derived", dictionary.get(target))
    used_sources = set(mapping.columns.values()) | {s for d in mapping.derive.values() for s in d.hash_of} | dropped
    for src in read_columns:  # columns already named like ours map to themselves
        if src not in targets and src not in used_sources and (src in dictionary or not dictionary):
            used_sources.add(src)
            targets[src] = _Target(src, _text(ident[src], mapping.null_values), f"from '{src}'", dictionary.get(src))
    if dictionary:
        for name in targets:
            if name not in dictionary:
                raise DataError(f"'{name}' is not a column of {table}; see docs/data-dictionary.md (source columns "
                                "you do not map are kept as extra columns under their own name)", file=where)
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
    extras: list[_Target] = []
    if dictionary:  # everything else the file has is kept under its own name, never as one of ours
        taken = {n.lower() for n in targets}
        reserved = set(dictionary)
        for src in read_columns:
            if src in used_sources:
                continue
            name = extra_column_name(src, taken, reserved)
            taken.add(name)
            extras.append(_Target(name, _text(ident[src], mapping.null_values), f"from '{src}'", None, source=src))
    ordered = [targets[c] for c in dictionary if c in targets] + [t for n, t in targets.items() if n not in dictionary]
    return ordered + extras, [c for c in read_columns if c in dropped]


def _canonical(expr: str, col: Column) -> str:
    """Map a value to the dictionary spelling of its domain, ignoring case, '_', '-' and extra spaces."""
    if not col.domain:
        return expr
    key = f"regexp_replace(lower(trim({expr})), '[\\s_-]+', ' ', 'g')"
    cases = " ".join(f"WHEN {literal(v.lower())} THEN {literal(v)}" for v in col.domain)
    spelt = f"CASE {key} {cases} ELSE {expr} END"
    # a value already spelt as in the dictionary maps to itself (the usual case): skip the regular expression
    same = all(_spelling(v, col.domain) == v for v in col.domain)
    exact = ", ".join(literal(v) for v in col.domain)
    return f"CASE WHEN {expr} IN ({exact}) THEN {expr} ELSE {spelt} END" if same else spelt


def _spelling(value: str, domain: tuple[str, ...]) -> str:
    """What the CASE of :func:`_canonical` gives ``value`` (the same rule, in Python)."""
    key = re.sub(r"[\s_-]+", " ", value.strip().lower())
    return next((v for v in domain if v.lower() == key), value)


def _value_map(expr: str, mapping: dict[str, str]) -> str:
    default = mapping.get("*")
    cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in mapping.items() if k != "*")
    return f"CASE {expr} {cases} ELSE {literal(default) if default is not None else expr} END" if cases else expr


class _Fallback(Exception):
    """The database's reader refused the file or read it differently: read it with :func:`read_file` instead."""


def _checks(targets: list[_Target], nul_free: frozenset[str]) -> list[tuple[_Target, str, str]]:
    """(target, SQL condition that flags a bad value, what was expected) for every rule the loaded values obey."""
    checks = [(t, cond, expect) for t in targets if t.column for cond, expect in value_checks(t.column, t.ref)]
    return checks + [(t, NUL_CHECK[0].format(ref=t.ref), NUL_CHECK[1]) for t in targets if t.name not in nul_free]


#: what the one-scan insert raises (DuckDB's ``error()``) at the first row that breaks a rule
_BAD_ROW = "finmatch: a value breaks a rule"
#: the casts the rules and the stored values make of a loaded text (``TRY_CAST(ref AS type)``)
_CAST_TYPES = ("DOUBLE", "BIGINT", "INTEGER", "DATE", "TIMESTAMP", "BOOLEAN", "VARCHAR")


def _cast_once(targets: list[_Target], values: list[str]) -> tuple[list[str], str]:
    """``values`` reading each ``TRY_CAST(ref AS type)`` they repeat from a projection that computes it once.

    The one-scan insert spelled the same cast up to six times per column (rules, then the stored value), and
    DuckDB evaluates each spelling: at a million records that was about 15% of the load. The rewrite only
    renames exact expressions this module wrote, so the values and the rows refused are the same."""
    shared: dict[str, str] = {}
    for t in targets:
        for kind in _CAST_TYPES:
            cast = f"TRY_CAST({t.ref} AS {kind})"
            if any(cast in v for v in values):
                shared[cast] = f"__cast{len(shared)}"
    renamed = []
    for value in values:
        for cast, alias in shared.items():
            value = value.replace(cast, alias)
        renamed.append(value)
    inner = ", ".join([*(t.ref for t in targets), *(f"{cast} AS {alias}" for cast, alias in shared.items())])
    return renamed, f"(SELECT {inner} FROM _mapped) AS _cast"


def _validate(con: duckdb.DuckDBPyConnection, targets: list[_Target], file: Path, has_line: bool,
              expect_rows: int | None = None, nul_free: frozenset[str] = frozenset()) -> None:
    """Refuse the rows of ``_mapped`` that break a rule, naming the first few (one scan when all is well).

    ``expect_rows``: the row count the reader must have seen (one record per line of the file), else
    :class:`_Fallback`: line numbers would not be the file's. ``nul_free``: targets known to hold no NUL byte (the
    file's text as it is, in a file found to have none), whose NUL check is skipped."""
    checks = _checks(targets, nul_free)
    counts = con.execute("SELECT " + ", ".join(["count(*)", *(f"count(*) FILTER (WHERE {cond})"
                                                              for _, cond, _ in checks)])
                         + " FROM _mapped").fetchone() or ()
    if expect_rows is not None and counts[0] != expect_rows:
        raise _Fallback
    counts = counts[1:]
    found: list[tuple[int, str]] = []
    first: tuple[int | None, int | None, str | None] = (None, None, None)
    for (target, cond, expect), bad in zip(checks, counts, strict=True):
        if not bad or len(found) >= MAX_PROBLEMS:
            continue
        row, line, value = con.execute(
            f"SELECT {ROW_COL}, {LINE_COL if has_line else 'NULL'}, {target.ref} FROM _mapped WHERE {cond} "
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


def _revalidate(view: str, targets: list[_Target], file: Path, has_line: bool, expect_rows: int | None,
                nul_free: frozenset[str], fmt: str) -> None:
    """:func:`_validate` on a connection of its own (an in-memory database that reads only the file); raises its
    :class:`DataError`, or :class:`_Fallback` when the reader refuses the file or the checks find nothing wrong
    after all (then the Python readers decide)."""
    import duckdb

    with duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}) as con:
        con.execute(f"SET memory_limit = '{writer.WRITE_MEMORY_LIMIT}'")
        try:
            con.execute(view)
            _validate(con, targets, file, has_line, expect_rows=expect_rows, nul_free=nul_free)
        except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
            if fmt == "csv":
                raise _Fallback from exc
            raise
    raise _Fallback


#: a number written with a leading zero ("01234", "007") is an identifier or a code: it stays text
_LEADING_ZERO = "regexp_matches(trim({ref}), '^[+-]?0[0-9]')"


def _infer_type(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    """The narrowest of :data:`INFERRED_TYPES` every value of an extra column casts to (else VARCHAR).

    A whole number is BIGINT only when it is whole (DuckDB would round '0.5' to 1); a number written with a
    leading zero stays text (a code, not a quantity)."""
    for candidate in INFERRED_TYPES:
        bad = f"TRY_CAST({ref} AS {candidate}) IS NULL"
        if candidate in ("BIGINT", "DOUBLE"):
            bad += f" OR {_LEADING_ZERO.format(ref=ref)}"
        if candidate == "BIGINT":
            bad += f" OR TRY_CAST({ref} AS DOUBLE) <> TRY_CAST({ref} AS BIGINT)"
        ok = con.execute(f"SELECT count(*) FILTER (WHERE {ref} IS NOT NULL AND ({bad})) = 0 AND count({ref}) > 0 "
                         "FROM _mapped").fetchone()
        if ok and ok[0]:
            return candidate
    return "VARCHAR"


def _resolve_keys(section: str, entries: dict[str, Any], mapping: Mapping, targets: list[_Target],
                  file: Path) -> dict[str, Any]:
    """``[labels]`` or ``[values.X]`` keyed by the loaded column's name; a key may also name the source column an
    extra column keeps. A key that names no loaded column is an error (a typo must not be a silent no-op)."""
    by_name = {t.name: t.name for t in targets}
    by_source = {t.source: t.name for t in targets if t.source}
    out: dict[str, Any] = {}
    for key, entry in entries.items():
        name = by_name.get(key) or by_source.get(key)
        if name is None:
            raise DataError(f"{section}.{key}: no loaded column is called '{key}' (loaded: {', '.join(by_name)})",
                            file=mapping.path or "the mapping", hint=f"name a column of {file.name} as loaded: a "
                            "dictionary column, an extra column or the source column an extra column keeps")
        out[name] = entry
    return out


def _check_append(con: duckdb.DuckDBPyConnection, targets: list[_Target], current: dict[str, str], file: Path,
                  has_line: bool) -> dict[str, str]:
    """Types for appending to an existing table: its own; an extra column's values must fit the type it has."""
    types: dict[str, str] = {}
    for t in targets:
        have = current[t.name.lower()]
        types[t.name] = t.column.type if t.column else have
        if t.column is not None:
            continue
        row = con.execute(f"SELECT count(*), min({ROW_COL}) FROM _mapped WHERE {t.ref} IS NOT NULL AND "
                          f"TRY_CAST({t.ref} AS {have}) IS NULL").fetchone()
        if row and row[0]:
            line = con.execute(f"SELECT {LINE_COL if has_line else 'NULL'}, {t.ref} FROM _mapped WHERE {ROW_COL} = ?",
                               [row[1]]).fetchone() or (None, None)
            raise DataError(f"{row[0]} value(s) of extra column '{t.name}' ({t.origin}) are not {have} like the "
                            f"table's column, e.g. {line[1]!r}; nothing was loaded", file=str(file), line=line[0],
                            row=None if line[0] else row[1], column=t.name, hint="pass --replace to replace the table")
    return types


def _previous_meta(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    if writer.META_TABLE not in writer.existing_tables(con):
        return {}
    row = con.execute(f"SELECT details FROM {writer.META_TABLE} WHERE table_name = ?", [table]).fetchone()
    return json.loads(row[0] or "{}") if row else {}


def load_file(db: Path, file: Path, *, table: str = "fpr_records", mapping: Mapping = IDENTITY, replace: bool = False,
              fmt: str | None = None, delimiter: str | None = None) -> LoadReport:
    """Load ``file`` into ``table`` all-or-nothing. The database reads the file itself when it can (CSV with one
    record per line, Parquet: :func:`readers.scan_file`), so memory does not grow with the file; otherwise, or when
    its reader refuses the file, Python reads it (:func:`readers.read_file`), whose messages name the line."""
    import duckdb

    fmt = detect_format(file, fmt or mapping.format)
    delimiter = delimiter or mapping.delimiter
    scan = scan_file(file, fmt, delimiter=delimiter, encoding=mapping.encoding)
    if scan is not None:
        try:
            return _load(db, file, scan, table, mapping, replace)
        except _Fallback:
            pass
        except Exception as exc:
            if not scan.settle():
                pass  # not one record a line after all: the Python readers read it, and their messages count
            elif not isinstance(exc, duckdb.Error) or scan.format != "parquet":
                raise
            else:
                raise DataError(f"cannot read Parquet ({str(exc).strip().splitlines()[0]}); the file may be "
                                "truncated or not Parquet", file=str(file)) from exc
    read = read_file(file, fmt, delimiter=delimiter, encoding=mapping.encoding)
    return _load(db, file, read, table, mapping, replace)


def _load(db: Path, file: Path, read: ReadResult | FileScan, table: str, mapping: Mapping, replace: bool
          ) -> LoadReport:
    import duckdb

    in_db = isinstance(read, FileScan)
    # a CSV's line count comes from the byte scan, still running beside the database's read (at least one data
    # line, or scan_file would have left the file to the Python readers)
    counting = isinstance(read, FileScan) and read.pending is not None
    if isinstance(read, FileScan):
        rows = read.rows if read.rows is not None else (1 if counting else (read.lines or 1) - 1)
    else:
        rows = read.table.num_rows
    if rows == 0:
        raise DataError("the file has no data rows (only a header); nothing was loaded", file=str(file),
                        hint="check that the export finished and wrote its rows")
    targets, ignored = _targets(read.source_columns, mapping, table, file)
    if not targets:
        raise DataError("no columns to load (none named like the data dictionary and no mapping given)",
                        file=str(file), hint="pass --mapping FILE; see examples/bank-marketing.toml")
    labels: dict[str, str] = _resolve_keys("labels", mapping.labels, mapping, targets, file)
    value_maps: dict[str, dict[str, str]] = _resolve_keys("values", mapping.values, mapping, targets, file)
    dictionary = columns_of(table)
    has_line = (read.lines is not None or counting) if isinstance(read, FileScan) \
        else LINE_COL in read.table.column_names
    report = LoadReport(file=str(file), table=table, format=read.format, rows=rows,
                        columns=[t.name for t in targets], delimiter=read.delimiter, ignored_source_columns=ignored,
                        absent_columns=[c.name for c in dictionary or () if c.name not in {t.name for t in targets}],
                        sha256="" if counting else
                        (read.sha256 if isinstance(read, FileScan) else None) or _sha256(file),
                        extra_columns={t.name: t.source for t in targets if t.source},
                        labels=labels, currency=mapping.currency, notes=_notes(targets, table))

    def work(con: duckdb.DuckDBPyConnection) -> None:
        exprs = []
        for t in targets:
            expr = _value_map(t.expr, value_maps[t.name]) if t.name in value_maps else t.expr
            exprs.append(f"{_canonical(expr, t.column) if t.column else expr} AS {t.ref}")
        line = LINE_COL if has_line else f"NULL::BIGINT AS {LINE_COL}"
        view = f"CREATE OR REPLACE TEMP VIEW _mapped AS SELECT {ROW_COL}, {line}, {', '.join(exprs)} FROM "
        # scan_file read no NUL byte in a CSV: the text taken from it as it is has none either
        nul_free = frozenset(t.name for t in targets if read.format == "csv" and t.name not in value_maps
                             and t.origin.startswith("from '"))

        def expect_rows() -> int | None:
            """The CSV's data rows by its line count (the byte scan's, waited for), which the database's read must
            match; :class:`_Fallback` when the file is not one record a line after all."""
            if not isinstance(read, FileScan) or read.format != "csv":
                return None
            if not read.settle() or read.lines is None:
                raise _Fallback
            report.rows, report.sha256 = read.lines - 1, read.sha256 or _sha256(file)
            return report.rows

        # a new table from a file the database reads itself: one scan checks every value and inserts the rows,
        # failing at the first bad one (then a check of its own names the first bad rows, exactly as before);
        # appending checks first, so that its own refusals come after the values' as they always have
        one_scan = in_db and (replace or table not in writer.existing_tables(con))
        if isinstance(read, FileScan):  # a view: every scan reads the file again, nothing is held in memory
            con.execute(f"SET memory_limit = '{writer.WRITE_MEMORY_LIMIT}'")
            try:
                con.execute(f"{view}({read.select})")
                if not one_scan:
                    _validate(con, targets, file, has_line, expect_rows=expect_rows(), nul_free=nul_free)
            except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
                if read.format == "csv":  # the strict reader refused it: read_file names the line and the cause
                    raise _Fallback from exc
                raise
        else:
            ident = source_idents(read.source_columns)
            con.register("_src", read.table.rename_columns([ident.get(n, n) for n in read.table.column_names]))
            con.execute(f"CREATE OR REPLACE TEMP TABLE _mapped AS SELECT {ROW_COL}, {line}, {', '.join(exprs)} "
                        "FROM _src")
            con.unregister("_src")
            _validate(con, targets, file, has_line)
        existing = writer.existing_tables(con)
        previous: dict[str, Any] = {}
        if table in existing and not replace:
            current = {r[0].lower(): r[1] for r in con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' "
                "AND table_name = ?", [table]).fetchall()}
            extra = [t.name for t in targets if t.name.lower() not in current]
            if extra:
                raise DataError(f"table {table} exists without column(s) {', '.join(extra)}; cannot append",
                                file=str(file), column=extra[0], hint="pass --replace to replace the table")
            types = _check_append(con, targets, current, file, has_line)
            previous = _previous_meta(con, table)
            had = previous.get("currency")
            if had and mapping.currency and had != mapping.currency:
                raise DataError(f"table {table} holds amounts in {had}; this mapping says {mapping.currency}, so "
                                "appending would mix currencies; nothing was loaded", file=mapping.path or str(file),
                                hint="convert the amounts first, or pass --replace to replace the table")
            report.appended = True
            report.currency = mapping.currency or had
            report.labels = {**previous.get("labels", {}), **labels}
            report.extra_columns = {**previous.get("extra_columns", {}), **report.extra_columns}
        else:
            try:
                types = {t.name: (t.column.type if t.column else _infer_type(con, t.ref)) for t in targets}
            except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
                if one_scan and read.format == "csv":  # values not checked yet: the reader may refuse the file
                    raise _Fallback from exc
                raise
            report.replaced = table in existing
            con.execute(writer.table_ddl(table, list(types), {n: ty for n, ty in types.items()
                                                              if column(table, n) is None}))
        values = [f"TRY_CAST({t.ref} AS {types[t.name]})" for t in targets]
        checks = _checks(targets, nul_free) if one_scan else []
        if checks:
            bad = " OR ".join(f"({cond})" for _, cond, _ in checks)
            values[0] = f"CASE WHEN {bad} THEN error({literal(_BAD_ROW)}) ELSE {values[0]} END"
        source = "_mapped"
        if checks:
            values, source = _cast_once(targets, values)
        select = ", ".join(f"{v} AS {quote_ident(t.name)}" for v, t in zip(values, targets, strict=True))
        order = "" if in_db else f" ORDER BY {ROW_COL}"  # a view gives the rows in file order
        try:
            inserted = con.execute(f"INSERT INTO {quote_ident(table)} BY NAME SELECT {select} FROM {source}{order}"
                                   ).fetchone()
        except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
            if checks and _BAD_ROW in str(exc) and isinstance(read, FileScan):
                # this transaction is void now: name the bad rows from a scan of the file on a connection of its own
                _revalidate(f"{view}({read.select})", targets, file, has_line, expect_rows(), nul_free,
                            read.format)
            # the first scan reads only the columns it checks: the reader may refuse the file only now
            if in_db and read.format == "csv":
                raise _Fallback from exc
            raise
        expected = expect_rows()
        if expected is not None and (inserted or (None,))[0] != expected:
            raise _Fallback  # the reader saw other rows than the file's lines: line numbers would be wrong
        con.execute(f"DROP {'VIEW' if in_db else 'TABLE'} _mapped")
        details: dict[str, Any] = {"file": file.name, "sha256": report.sha256, "format": read.format,
                                   "rows": report.rows, "mapping": mapping.path, "appended": report.appended}
        if report.extra_columns:
            details["extra_columns"] = report.extra_columns
        if ignored:
            details["dropped_columns"] = ignored
        if report.labels:
            details["labels"] = report.labels
        if report.currency:
            details["currency"] = report.currency
        writer.record_meta(con, table, "file", details)

    writer.atomic_write(db, work)
    return report
