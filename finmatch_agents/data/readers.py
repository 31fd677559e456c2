"""Read CSV, Parquet and JSON-lines files into Arrow tables, with row and line numbers for error messages.

CSV and JSON lines arrive as all-string columns (types are checked later against the data dictionary,
so an error can say which value on which line is wrong). A strict pass with Python's ``csv`` module
finds structural problems (wrong field count, unterminated quote, a field over csv's 128 KiB limit)
with exact line numbers, including for records that span lines; pyarrow then does the fast read. Each
table gets ``__row`` (1-based data row) and ``__line`` (line where the record starts, CSV/JSONL) columns.
:func:`scan_file` is the other way: DuckDB reads a one-record-a-line CSV or a Parquet file itself, for the
loader to validate and insert in SQL; a file it cannot read exactly as the readers here would goes to them.

Text is read through one line reader (:func:`text_lines`) for the delimiter sniffer, the strict pass and
JSON lines alike, so an encoding error or an oversized line is the same error, naming the same line,
wherever it is in the file; it reads fixed-size blocks, so a huge line costs at most
:data:`MAX_LINE_BYTES` of memory before it is refused.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finmatch_agents.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

DELIMITER_CANDIDATES = (",", ";", "\t", "|")
MAX_PROBLEMS = 20
ROW_COL, LINE_COL = "__row", "__line"
#: longest physical line read from a text file; a longer one is refused (bounded memory)
MAX_LINE_BYTES = 8 * 1024 * 1024
_BLOCK = 1 << 16
#: codecs whose newline is not the byte 0x0A (they are decoded as a stream instead of line by line)
_WIDE = ("utf-16", "utf-32")
ENCODING_HINT = "set [source] encoding in the mapping, e.g. encoding = \"latin-1\" or \"cp1252\""


@dataclass(frozen=True)
class ReadResult:
    table: pa.Table  # source columns + __row (+ __line)
    format: str
    delimiter: str | None
    source_columns: list[str]


def detect_format(path: Path, given: str | None) -> str:
    if given:
        return given
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".jsonl" in suffixes or ".ndjson" in suffixes or ".json" in suffixes:
        return "jsonl"
    if ".csv" in suffixes or ".tsv" in suffixes or ".txt" in suffixes:
        return "csv"
    raise DataError("cannot tell the file format from its name", file=str(path),
                    hint="use --format csv|parquet|jsonl (or [source] format in the mapping)")


def read_file(path: Path, fmt: str, *, delimiter: str | None = None, encoding: str = "utf-8") -> ReadResult:
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    if fmt == "csv":
        return _read_csv(path, delimiter, encoding)
    if fmt == "jsonl":
        return _read_jsonl(path, encoding)
    return _read_parquet(path)


def _codec(path: Path, encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise DataError(f"unknown encoding '{encoding}'", file=str(path),
                        hint="use a Python codec name such as utf-8, latin-1 or cp1252") from exc
    return "utf-8-sig" if name == "utf-8" else name


def _open_binary(path: Path) -> io.BufferedIOBase:
    """Byte stream of a (possibly gzip-compressed) file."""
    try:
        return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc}", file=str(path)) from exc


def text_lines(path: Path, encoding: str) -> Iterator[str]:
    """The decoded lines of ``path`` (line endings kept, as ``open(newline="")`` gives them).

    Every problem is a :class:`DataError` naming the line: bytes that are not valid ``encoding`` text, a
    line longer than :data:`MAX_LINE_BYTES`, a truncated or corrupt gzip stream."""
    codec = _codec(path, encoding)
    lineno = 0
    with _open_binary(path) as raw:
        try:
            if codec.startswith(_WIDE):
                yield from _wide_lines(path, raw, codec)
                return
            carry = b""
            first = True
            while True:
                block = raw.read(_BLOCK)
                if not block:
                    break
                parts = (carry + block).splitlines(keepends=True)
                last = parts[-1]
                carry = b"" if last.endswith(b"\n") else parts.pop()  # '\r' may be half of '\r\n'
                if len(carry) > MAX_LINE_BYTES:
                    raise _too_long(path, lineno + 1)
                for part in parts:
                    lineno += 1
                    yield _decode(path, part, codec if first else codec.replace("-sig", ""), lineno, encoding)
                    first = False
            if carry:
                yield _decode(path, carry, codec if first else codec.replace("-sig", ""), lineno + 1, encoding)
        except (OSError, EOFError) as exc:  # e.g. a truncated or corrupt .gz
            raise DataError(f"cannot read the file: {exc}", file=str(path), line=lineno + 1 or None) from exc


def _wide_lines(path: Path, raw: io.BufferedIOBase, codec: str) -> Iterator[str]:
    """UTF-16/32: decode as a stream; lines are still bounded (readline with a limit)."""
    stream = io.TextIOWrapper(raw, encoding=codec, newline="")  # type: ignore[type-var]
    lineno = 0
    while True:
        try:
            line = stream.readline(MAX_LINE_BYTES)
        except UnicodeDecodeError as exc:
            raise DataError(f"not valid {codec} text (byte {exc.start} of the block read near here)",
                            file=str(path), line=lineno + 1, hint=ENCODING_HINT) from exc
        if not line:
            return
        lineno += 1
        if len(line) >= MAX_LINE_BYTES and not line.endswith(("\n", "\r")):
            raise _too_long(path, lineno)
        yield line


def _decode(path: Path, data: bytes, codec: str, lineno: int, encoding: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid {encoding} text (byte {exc.start + 1} of the line: "
                        f"{data[exc.start:exc.start + 1]!r})", file=str(path), line=lineno,
                        hint=ENCODING_HINT) from exc


def _too_long(path: Path, lineno: int) -> DataError:
    return DataError(f"line is longer than {MAX_LINE_BYTES:,} bytes; this does not look like a CSV or JSON-lines "
                     "file", file=str(path), line=lineno, hint="check the file's format and line endings")


def sniff_delimiter(path: Path, encoding: str) -> str:
    """The candidate that splits the header and the first rows into the same number (>1) of fields.

    Reads the first 50 lines through :func:`text_lines`, so a bad byte or an oversized line here fails
    exactly as it would later in the file. A candidate that cannot split the sample (a field over the
    size limit) is skipped; the strict pass then names the line."""
    sample = []
    for line in text_lines(path, encoding):
        sample.append(line)
        if len(sample) >= 50:
            break
    if not sample:
        raise DataError("the file is empty", file=str(path))
    best, best_fields = ",", 1
    for cand in DELIMITER_CANDIDATES:
        try:
            rows = [r for r in csv.reader(sample, delimiter=cand) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(len(r) == width for r in rows[1:-1] or rows)
        if width > best_fields and consistent >= max(1, (len(rows) - 2) * 0.9):
            best, best_fields = cand, width
    return best


def _read_csv(path: Path, delimiter: str | None, encoding: str) -> ReadResult:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delim = delimiter or sniff_delimiter(path, encoding)
    problems: list[str] = []
    first_problem_line: int | None = None
    starts: list[int] = []
    header: list[str] = []
    prev_end = 0
    try:
        reader = csv.reader(text_lines(path, encoding), delimiter=delim, strict=True)
        for record in reader:
            start, prev_end = prev_end + 1, reader.line_num
            if not record or record == [""]:
                continue
            if not header:
                header = [h.strip() for h in record]
                continue
            if len(record) != len(header):
                first_problem_line = first_problem_line or start
                if len(problems) < MAX_PROBLEMS:
                    problems.append(f"line {start}: expected {len(header)} fields (as in the header), found "
                                    f"{len(record)}")
                continue
            starts.append(start)
    except csv.Error as exc:
        raise DataError(f"malformed CSV in the record starting here: {exc}", file=str(path), line=prev_end + 1,
                        hint="check the quoting of this record") from exc
    if not header:
        raise DataError("the file is empty", file=str(path))
    _check_header(path, header)
    if problems:
        raise DataError(f"{len(problems)}{'+' if len(problems) >= MAX_PROBLEMS else ''} malformed row(s) "
                        f"(delimiter '{delim}')", file=str(path), line=first_problem_line, problems=problems)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=_arrow_encoding(path, encoding)),
            parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(f"malformed CSV: {exc}", file=str(path)) from exc
    table = table.rename_columns(header)
    if table.num_rows != len(starts):  # both parsers must agree, or line numbers would lie
        raise DataError(f"CSV readers disagree on the row count ({table.num_rows} vs {len(starts)})", file=str(path),
                        hint="the file may mix quoting styles; re-export it with standard quoting")
    table = table.append_column(ROW_COL, pa.array(range(1, table.num_rows + 1), pa.int64()))
    table = table.append_column(LINE_COL, pa.array(starts, pa.int64()))
    return ReadResult(table, "csv", delim, header)


def _arrow_encoding(path: Path, encoding: str) -> str:
    codec = _codec(path, encoding)
    return "utf8" if codec == "utf-8-sig" else codec


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"header field {i} is empty", file=str(path), line=1)
        if name in seen:
            raise DataError(f"header names column '{name}' twice", file=str(path), line=1, column=name)
        if name.startswith("__"):
            raise DataError("column names starting with '__' are reserved", file=str(path), line=1, column=name)
        seen.add(name)


def _read_jsonl(path: Path, encoding: str) -> ReadResult:
    import pyarrow as pa

    columns: dict[str, list[str | None]] = {}
    lines: list[int] = []
    n = 0
    # lines come from text_lines, whose errors (encoding, size, gzip) already name the line
    for lineno, text in enumerate(text_lines(path, encoding), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"malformed JSON: {exc.msg} (character {exc.colno})", file=str(path),
                            line=lineno) from exc
        if not isinstance(obj, dict):
            raise DataError("each line must be a JSON object", file=str(path), line=lineno)
        for key in obj:
            if key not in columns:
                if key.startswith("__"):
                    raise DataError("keys starting with '__' are reserved", file=str(path), line=lineno,
                                    column=key)
                columns[key] = [None] * n
        for key, values in columns.items():
            value = obj.get(key)
            values.append(None if value is None else value if isinstance(value, str)
                          else json.dumps(value) if isinstance(value, dict | list)
                          else str(value).lower() if isinstance(value, bool) else str(value))
        lines.append(lineno)
        n += 1
    if n == 0:
        raise DataError("the file has no JSON objects", file=str(path))
    data = {k: pa.array(v, pa.string()) for k, v in columns.items()}
    data[ROW_COL] = pa.array(range(1, n + 1), pa.int64())
    data[LINE_COL] = pa.array(lines, pa.int64())
    return ReadResult(pa.table(data), "jsonl", None, list(columns))


def _read_parquet(path: Path) -> ReadResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read Parquet ({exc}); the file may be truncated or not Parquet",
                        file=str(path)) from exc
    _check_header(path, table.column_names)
    table = table.append_column(ROW_COL, pa.array(range(1, table.num_rows + 1), pa.int64()))
    return ReadResult(table, "parquet", None, [c for c in table.column_names if c != ROW_COL])


# --- reading in the database -------------------------------------------------------------------------------
#: Python's csv module refuses a field longer than this (the strict pass's limit, kept by the database reader)
CSV_FIELD_LIMIT = 131_072
_SCAN_BLOCK = 1 << 24


@dataclass
class FileScan:
    """A file the database reads itself, with no copy in Python: ``select`` gives its rows with ``__row`` (and
    ``__line``) and its columns as ``__c0``, ``__c1``... (see :func:`loader.source_idents`).

    For CSV the byte scan that counts the lines and takes the SHA-256 runs in a thread beside the database's
    read (``pending``); :meth:`settle` waits for it. Until then ``lines`` and ``sha256`` are None."""

    select: str
    format: str
    delimiter: str | None
    source_columns: list[str]
    rows: int | None  # known up front (Parquet), or counted by the first scan and checked against ``lines``
    lines: int | None = None  # CSV: physical lines; each record is exactly one line, so __line is __row + 1
    sha256: str | None = None  # the file's, when the line count read it anyway
    pending: Future[tuple[int, str] | None] | None = None  # CSV: the byte scan, while it runs
    one_record_a_line: bool | None = None  # CSV: what the byte scan found, once settled

    def settle(self) -> bool:
        """Wait for the byte scan; False when the file is not one record a line (then the Python readers read it,
        and nothing the database's read gave may be reported)."""
        if self.pending is not None:
            shape = self.pending.result()
            self.pending = None
            self.one_record_a_line = shape is not None
            if shape is not None:
                self.lines, self.sha256 = shape
        return self.one_record_a_line is not False


def scan_file(path: Path, fmt: str, *, delimiter: str | None = None, encoding: str = "utf-8") -> FileScan | None:
    """The database-side read of ``path`` when it gives exactly what :func:`read_file` would, else None.

    CSV qualifies when it is plain UTF-8 (not gzip) with one record per line: no line break inside a quoted
    field, no blank line, no lone carriage return, no NUL byte, at least two columns. Then the record on line
    ``n`` is data row ``n - 1``, and DuckDB's strict reader (same quoting, field limit and delimiter) can read it
    in parallel; the caller checks its row count against the line count and falls back to :func:`read_file`
    (whose messages name the line of any structural problem) when the reader refuses the file or disagrees."""
    if not path.is_file():
        return None
    if fmt == "parquet":
        return _scan_parquet(path)
    if fmt != "csv" or path.suffix.lower() == ".gz" or _codec(path, encoding) != "utf-8-sig":
        return None
    delim = delimiter or sniff_delimiter(path, encoding)
    if _at_most_one_line(path):
        return None
    # the byte scan (one thread reading the whole file) runs while the database reads the file
    pool = ThreadPoolExecutor(1, thread_name_prefix="finmatch-bytescan")
    scan = FileScan("", "csv", delim, [], rows=None, pending=pool.submit(_single_line_records, path))
    pool.shutdown(wait=False)
    try:
        header = next(csv.reader(text_lines(path, encoding), delimiter=delim, strict=True), None)
        if header:
            header = [h.strip() for h in header]
            _check_header(path, header)
    except DataError:
        if not scan.settle():
            return None  # a file that is not one record a line goes to the Python readers, whose messages count
        raise
    if not header or len(header) < 2:
        scan.settle()
        return None
    columns = ", ".join(f"'__c{i}': 'VARCHAR'" for i in range(len(header)))
    options = (f"delim = {_sql_text(delim)}, quote = '\"', escape = '\"', header = false, skip = 1, "
               f"auto_detect = false, columns = {{{columns}}}, strict_mode = true, null_padding = false, "
               f"max_line_size = {CSV_FIELD_LIMIT + 2}, encoding = 'utf-8'")  # LF or CRLF, never mixed (checked)
    # empty fields are empty text, as the strict reader gives them (null values are the mapping's business)
    fields = ", ".join(f"coalesce(__c{i}, '') AS __c{i}" for i in range(len(header)))
    scan.select = (f"SELECT {ROW_COL}, {ROW_COL} + 1 AS {LINE_COL}, {fields} FROM (SELECT row_number() OVER () "
                   f"AS {ROW_COL}, * FROM read_csv({_sql_text(str(path))}, {options}))")
    scan.source_columns = header
    return scan


def _at_most_one_line(path: Path) -> bool:
    """True when the file has no line after the first (what the byte scan's line count would say: < 2 lines)."""
    with path.open("rb") as fh:
        first = fh.readline()
        return not first.endswith(b"\n") or fh.read(1) == b""


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _single_line_records(path: Path) -> tuple[int, str] | None:
    """(physical lines, SHA-256 of the file) when no line holds a NUL byte or a lone carriage return and all
    lines end alike (LF, or CRLF); else None. A blank line needs no check here: DuckDB skips it, so its row
    count falls short of the line count and the caller falls back (:func:`scan_file`)."""
    lf = cr = crlf = 0
    last = b""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_SCAN_BLOCK):
            if b"\x00" in block:
                return None
            digest.update(block)
            lf += block.count(b"\n")
            if b"\r" in block:
                cr += block.count(b"\r")
                crlf += block.count(b"\r\n")
            crlf += last[-1:] == b"\r" and block[:1] == b"\n"  # a CRLF across two blocks
            last = block[-1:]
    if cr == 0 or cr == crlf == lf:  # LF only, or CRLF at every line end (the last line may have none)
        return lf + (last != b"\n"), digest.hexdigest()
    return None


def _scan_parquet(path: Path) -> FileScan | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read Parquet ({exc}); the file may be truncated or not Parquet",
                        file=str(path)) from exc
    _check_header(path, names)
    if len({n.lower() for n in names}) != len(names) or "file_row_number" in {n.lower() for n in names}:
        return None  # DuckDB matches names ignoring case: let Arrow read it
    fields = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" AS __c{i}' for i, n in enumerate(names))
    select = (f"SELECT file_row_number + 1 AS {ROW_COL}, {fields} FROM read_parquet({_sql_text(str(path))}, "
              "file_row_number = true)")
    return FileScan(select, "parquet", None, names, rows=meta.num_rows)
