"""The database reads a CSV or Parquet file itself when that gives exactly what the Python readers give: the same
table, the same messages (file, line, column), and the Python readers whenever the file is not one record a line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from finmatch_agents.data import loader, readers
from finmatch_agents.errors import DataError

HEADER = "customer_id,product_type,product_recommendation_status,recommendation_score,customer_name\n"
ROWS = "".join(f"C{i},{'savings' if i % 3 else 'Savings'},{'in_progress' if i % 2 else 'Accepted'},0.{i % 10},"
               f"{'' if i % 5 == 0 else 'Ann'}\n" for i in range(1, 400))


def table(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT * FROM fpr_records").fetchall()


def load_both(tmp_path: Path, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple], list[tuple]]:
    """(the table the database's reader loads, the table the Python reader loads); the first must not touch
    read_file."""
    scanned, parsed = tmp_path / "scanned.duckdb", tmp_path / "parsed.duckdb"
    with monkeypatch.context() as m:
        m.setattr(loader, "read_file", lambda *a, **k: pytest.fail("read_file was used"))
        loader.load_file(scanned, path)
    with monkeypatch.context() as m:
        m.setattr(loader, "scan_file", lambda *a, **k: None)
        loader.load_file(parsed, path)
    return table(scanned), table(parsed)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_one_record_a_line_csv_is_read_by_the_database_with_the_same_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newline: str) -> None:
    path = tmp_path / "recs.csv"
    path.write_bytes((HEADER + ROWS).replace("\n", newline).encode())
    scanned, parsed = load_both(tmp_path, path, monkeypatch)
    assert len(scanned) == 399 and scanned == parsed
    assert ("R00000005", "C5", None, "savings", "In Progress", 0.5) in scanned  # '' is missing; in_progress spelt


def test_parquet_is_read_by_the_database_with_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "recs.csv").write_text(HEADER + ROWS)
    path = tmp_path / "recs.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_csv('{tmp_path / 'recs.csv'}', all_varchar = true)) TO '{path}' "
                    "(FORMAT parquet)")
    scanned, parsed = load_both(tmp_path, path, monkeypatch)
    assert len(scanned) == 399 and scanned == parsed


@pytest.mark.parametrize(("content", "line"), [
    (HEADER + ROWS + "C9,Savings,Accepted,high,Bo\n", 401),  # one record a line: line = row + 1
    # a quoted line break: the database reader sees fewer rows than lines, and Python reads the file
    (HEADER + 'C1,Savings,Accepted,0.5,"Ann\nLee"\n' + ROWS + "C9,Savings,Accepted,high,Bo\n", 403),
    # a blank line: the database reader skips it, so again fewer rows than lines
    (HEADER + "C1,Savings,Accepted,0.5,Ann\n\n" + ROWS + "C9,Savings,Accepted,high,Bo\n", 403),
])
def test_a_bad_value_is_named_by_its_line_whichever_reader_reads_the_file(
        tmp_path: Path, content: str, line: int) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert readers.scan_file(path, "csv") is not None  # only the row count tells the readers apart here
    with pytest.raises(DataError) as exc:
        loader.load_file(tmp_path / "db.duckdb", path)
    assert exc.value.line == line and exc.value.column == "recommendation_score"
    assert not (tmp_path / "db.duckdb").exists()


def test_a_file_the_database_reader_refuses_is_read_by_python_which_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(HEADER + ROWS + "C9,Savings,Accepted,0.5,Bo,extra\n")
    assert readers.scan_file(path, "csv") is not None  # one record a line, but the reader refuses the field count
    with pytest.raises(DataError) as exc:
        loader.load_file(tmp_path / "db.duckdb", path)
    assert exc.value.line == 401 and "expected 5 fields" in " ".join(exc.value.problems or [])


def _problems(db: Path, path: Path, *, replace: bool) -> tuple[str, int | None, str | None, list[str]]:
    with pytest.raises(DataError) as exc:
        loader.load_file(db, path, replace=replace)
    return exc.value.message, exc.value.line, exc.value.column, list(exc.value.problems or [])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_one_scan_load_refuses_bad_values_as_the_separate_check_does_and_changes_nothing(
        tmp_path: Path, fmt: str) -> None:
    # a new table is checked while it is inserted (one scan); appending checks first: the same refusal, word for word
    bad = (HEADER + ROWS.replace(",0.7,", ",1.7,") + "C9,Savings,Accepted,high,Bo\n"
           + ",Savings,Declined,0.1,Al\n")
    path = tmp_path / f"bad.{fmt}"
    if fmt == "csv":
        path.write_text(bad)
    else:
        (tmp_path / "bad.csv").write_text(bad)
        with duckdb.connect() as con:
            con.execute(f"COPY (SELECT * FROM read_csv('{tmp_path / 'bad.csv'}', all_varchar = true, "
                        f"header = true)) TO '{path}' (FORMAT parquet)")
    good = tmp_path / "good.csv"
    good.write_text(HEADER + ROWS)
    db = tmp_path / "db.duckdb"
    loader.load_file(db, good)
    before = table(db)
    replaced = _problems(db, path, replace=True)  # one scan
    appended = _problems(db, path, replace=False)  # checks, then inserts
    assert replaced == appended
    message, line, column, problems = replaced
    assert "nothing was loaded" in message and column == "recommendation_score"
    assert (line == 8) if fmt == "csv" else (line is None)
    assert len(problems) == 3 and "column 'customer_id'" in problems[-1]
    assert table(db) == before  # the failed loads left the table as it was
    fresh = tmp_path / "fresh.duckdb"
    assert _problems(fresh, path, replace=False) == replaced and not fresh.exists()


def test_only_values_of_spaces_are_missing(tmp_path: Path) -> None:
    # the loader tests trim(value) = '' without trimming every value: the code points DuckDB trims are known
    with duckdb.connect() as con:
        trimmed = con.execute("SELECT list(range ORDER BY range) FROM range(1, 1114112) WHERE (range < 55296 OR "
                              "range > 57343) AND trim(chr(range::INTEGER)) = ''").fetchone()
    assert trimmed is not None and tuple(trimmed[0]) == loader.TRIMMED
    assert all(c in (32, 160) or c >= 5760 for c in loader.TRIMMED)  # what the loader's SQL assumes
    path = tmp_path / "spaces.csv"
    path.write_text("customer_id,product_type,product_recommendation_status,customer_name\n"
                    "C1,Savings,Accepted,\u3000 \u00a0\nC2,Savings,Accepted,\t\nC3,Savings,Accepted, x \n"
                    "C4,Savings,Accepted,\n")
    loader.load_file(tmp_path / "db.duckdb", path)
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT customer_name FROM fpr_records").fetchall()]
    assert names == [None, "\t", " x ", None]


def test_the_byte_scan_runs_beside_the_database_and_still_decides(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    path = tmp_path / "recs.csv"
    path.write_text(HEADER + ROWS)
    report = loader.load_file(tmp_path / "db.duckdb", path)
    assert report.rows == 399 and report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # a NUL byte late in the file: the database's read may have started, but the Python reader decides
    path.write_bytes((HEADER + ROWS + "C9,Savings,Accepted,high,B\x00o\n").encode())
    with pytest.raises(DataError) as exc:
        loader.load_file(tmp_path / "db2.duckdb", path)
    expected = exc.value
    with monkeypatch.context() as m:
        m.setattr(loader, "scan_file", lambda *a, **k: None)
        with pytest.raises(DataError) as exc:
            loader.load_file(tmp_path / "db2.duckdb", path)
    assert (exc.value.message, exc.value.line, exc.value.column) == (expected.message, expected.line,
                                                                     expected.column)
    assert not (tmp_path / "db2.duckdb").exists()
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER)
    assert readers.scan_file(header_only, "csv") is None
