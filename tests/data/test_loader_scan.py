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
