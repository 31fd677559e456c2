"""Issue 20, items 11, 12 and 18 on load: bad bytes, oversized fields and lines, NUL bytes and non-boolean
soft-delete flags fail with exit 3 naming file, line and column, wherever they are in the file."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.data import readers
from finmatch_agents.errors import DataError

HEADER = b"customer_id,product_type,product_recommendation_status,customer_name\n"


def csv_with(tmp_path: Path, bad_line: int, bad: bytes, total: int = 150, name: str = "in.csv") -> Path:
    """A valid CSV whose line ``bad_line`` (1-based, header = 1) has ``bad`` as its customer_name."""
    lines = [HEADER]
    for n in range(2, total + 1):
        value = bad if n == bad_line else f"Customer {n}".encode()
        lines.append(b"C%d,Savings,Accepted,%s\n" % (n, value))
    path = tmp_path / name
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def load(cli, path: Path, db: Path, *extra: str | Path):
    return cli("data", "load", path, "--db", db, *extra)


@pytest.mark.parametrize("line", [3, 120])  # inside the sniffer's first 50 lines, and after them
@pytest.mark.parametrize(("bad", "name"), [(b"Caf\xe9 Owner", "in.csv"), (b"O\x92Brien", "in.csv"),
                                           (b"Caf\xe9 Owner", "in.csv.gz")])
def test_bad_bytes_exit_3_naming_the_line_and_the_encoding_setting(cli, tmp_path: Path, line: int, bad: bytes,
                                                                    name: str) -> None:
    result = load(cli, csv_with(tmp_path, line, bad, name=name), tmp_path / "db.duckdb")
    assert result.exit_code == 3, result.stderr
    assert f"line {line}" in result.stderr and "not valid utf-8" in result.stderr
    assert "encoding" in result.stderr and "Unexpected" not in result.stderr
    assert not (tmp_path / "db.duckdb").exists()


def test_the_encoding_setting_then_loads_it(cli, tmp_path: Path) -> None:
    path = csv_with(tmp_path, 3, b"O\x92Brien")
    (tmp_path / "m.toml").write_text('[source]\nencoding = "cp1252"\n')
    assert load(cli, path, tmp_path / "db.duckdb", "--mapping", tmp_path / "m.toml").exit_code == 0
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        assert con.execute("SELECT customer_name FROM fpr_records WHERE customer_id = 'C3'").fetchone() == (
            "O\u2019Brien",)


@pytest.mark.parametrize("line", [2, 120])
def test_a_200_kb_field_exits_3_naming_the_line(cli, tmp_path: Path, line: int) -> None:
    result = load(cli, csv_with(tmp_path, line, b"x" * 200_000), tmp_path / "db.duckdb")
    assert result.exit_code == 3, result.stderr
    assert f"line {line}" in result.stderr and "field larger than field limit" in result.stderr


def test_a_huge_line_is_refused_with_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old reader held the whole line (a 2 GiB line took 4.1 GB); now at most MAX_LINE_BYTES plus a block."""
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 256 * 1024)
    for fmt, first, huge in (("csv", HEADER, b"C1,Savings,Accepted," + b"x" * 8_000_000 + b"\n"),
                             ("jsonl", b'{"customer_id": "C0"}\n', b'{"customer_id": "' + b"x" * 8_000_000 + b'"}\n')):
        path = tmp_path / f"huge.{fmt}"
        with path.open("wb") as fh:
            fh.write(first)
            fh.write(huge)
        tracemalloc.start()
        try:
            with pytest.raises(DataError) as exc:
                readers.read_file(path, fmt)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert exc.value.line == 2 and "longer than" in exc.value.message and exc.value.exit_code == 3
        assert peak < 2_000_000, peak


def test_a_huge_line_through_the_cli(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100_000)
    result = load(cli, csv_with(tmp_path, 7, b"y" * 300_000), tmp_path / "db.duckdb")
    assert result.exit_code == 3 and "line 7" in result.stderr and "longer than" in result.stderr


@pytest.mark.parametrize(("name", "content", "where"), [
    ("nul.csv", HEADER + b"C1,Savings,Accepted,Ann Lee\nC2,Savings,Accepted,Bo\x00Ng\n", "line 3"),
    ("nul.jsonl", b'{"customer_id": "C1", "product_type": "Savings", "product_recommendation_status": "Accepted", '
                  b'"customer_name": "Bo\\u0000Ng"}\n', "line 1"),
])
def test_nul_bytes_are_refused_with_line_and_column(cli, tmp_path: Path, name: str, content: bytes,
                                                    where: str) -> None:
    (tmp_path / name).write_bytes(content)
    result = load(cli, tmp_path / name, tmp_path / "db.duckdb")
    assert result.exit_code == 3, result.stderr
    assert where in result.stderr and "'customer_name'" in result.stderr and "NUL" in result.stderr


@pytest.mark.parametrize("table", ["fpr_records", "accounts"])
def test_a_non_boolean_soft_delete_flag_is_refused_on_load(cli, tmp_path: Path, table: str) -> None:
    path = tmp_path / "flags.csv"
    path.write_text("customer_id,product_type,product_recommendation_status,_fivetran_deleted\n"
                    "C1,Savings,Accepted,false\nC2,Savings,Accepted,deleted\nC3,Savings,Accepted,active\n")
    result = load(cli, path, tmp_path / "db.duckdb", "--table", table)
    assert result.exit_code == 3, result.stderr
    assert "line 3" in result.stderr and "'_fivetran_deleted'" in result.stderr and "true or false" in result.stderr


def test_boolean_spellings_of_the_flag_load_as_booleans(cli, tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    path.write_text("id,_fivetran_deleted\n1,true\n2,0\n3,\n")
    db = tmp_path / "db.duckdb"
    assert load(cli, path, db, "--table", "accounts").exit_code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'accounts' AND "
                           "column_name = '_fivetran_deleted'").fetchone() == ("BOOLEAN",)
    result = cli("sql", "SELECT count(*) AS n FROM accounts", "--db", db, "--format", "csv")
    assert result.exit_code == 0 and result.stdout.splitlines() == ["n", "2"]
