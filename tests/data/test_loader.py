"""Loading real files: mapping, validation errors that name file/line/column, all-or-nothing writes."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
MAPPING = REPO / "examples" / "bank-marketing.toml"
HEADER = "customer_id,product_type,product_recommendation_status,recommendation_score,customer_satisfaction_score\n"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def existing_db(tmp_path: Path, cli) -> Path:
    db = tmp_path / "existing.duckdb"
    (tmp_path / "seed.csv").write_text(HEADER + "A1,Savings,Accepted,0.9,8\nA2,Mortgage,Declined,0.2,3\n")
    assert cli("data", "load", tmp_path / "seed.csv", "--db", db).exit_code == 0
    return db


def test_uci_bank_marketing_loads_with_the_shipped_mapping(cli, uci_csv: Path, tmp_path: Path) -> None:
    db = tmp_path / "uci.duckdb"
    result = cli("data", "load", uci_csv, "--mapping", MAPPING, "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"] == 45_211
    assert "recommendation_score" in report["absent_columns"]
    # acceptance by segment, computed independently from the raw file
    opener = gzip.open if uci_csv.suffix == ".gz" else open
    with opener(uci_csv, "rt", newline="") as fh:
        raw = list(csv.DictReader(fh, delimiter=";"))
    total, accepted = Counter(r["job"] for r in raw), Counter(r["job"] for r in raw if r["y"] == "yes")
    expected = {job: accepted[job] / n for job, n in total.items() if job != "unknown"}
    loaded = dict(rows(db, "SELECT customer_segment, avg((product_recommendation_status = 'Accepted')::INT) "
                           "FROM fpr_records WHERE customer_segment IS NOT NULL GROUP BY 1"))
    assert loaded.keys() == expected.keys()
    for job, rate in expected.items():
        assert loaded[job] == pytest.approx(rate, abs=1e-12)
    assert rows(db, "SELECT count(*) FROM fpr_records WHERE customer_segment IS NULL") == [(total["unknown"],)]
    assert rows(db, "SELECT count(DISTINCT customer_id), min(customer_id) FROM fpr_records") == [(45_211, "UCI-000001")]
    assert rows(db, "SELECT channel, count(*) FROM fpr_records GROUP BY 1 ORDER BY 1 NULLS LAST") == [
        ("Phone (landline)", 2906), ("Phone (mobile)", 29285), (None, 13020)]


@pytest.mark.parametrize(("content", "suffix", "expect"), [
    (HEADER + "C1,Savings,Accepted,0.5,7\nC2,Savings,Declined,0.4,7,extra\n", ".csv",
     ["line 3", "expected 5 fields"]),
    (HEADER + 'C1,Savings,"Accepted,0.5,7\nC2,Savings,Declined,0.4,7\n', ".csv", ["line 2", "malformed CSV"]),
    ("customer_id,product_type,recommendation_score\nC1,Savings,0.5\n", ".csv",
     ["product_recommendation_status", "required column"]),
    (HEADER + "C1,Savings,Accepted,high,7\n", ".csv", ["line 2", "'recommendation_score'", "is not a number"]),
    (HEADER + "C1,Savings,Accepted,1.7,7\n", ".csv", ["line 2", "from 0 to 1"]),
    (HEADER + "C1,Savings,Accepted,0.5,7.5\n", ".csv", ["line 2", "whole number"]),
    (HEADER + "C1,Savings,Maybe,0.5,7\n", ".csv", ["line 2", "one of Accepted, Pending, In Progress, Declined"]),
    (HEADER + ",Savings,Accepted,0.5,7\n", ".csv", ["line 2", "'customer_id'", "required"]),
    ('{"customer_id": "C1", "product_type": "Savings", "product_recommendation_status": "Accepted"}\n{"customer_id": ',
     ".jsonl", ["line 2", "malformed JSON"]),
    ("", ".csv", ["empty"]),
])
def test_bad_files_fail_with_location_exit_3_and_leave_the_database_as_it_was(
        cli, existing_db: Path, tmp_path: Path, content: str, suffix: str, expect: list[str]) -> None:
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(content)
    before = digest(existing_db)
    result = cli("data", "load", bad, "--db", existing_db)
    assert result.exit_code == 3
    assert bad.name in result.stderr
    for phrase in expect:
        assert phrase in result.stderr
    assert digest(existing_db) == before


def test_truncated_parquet_fails_cleanly(cli, existing_db: Path, tmp_path: Path, small_db: Path) -> None:
    good = tmp_path / "good.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_csv('{tmp_path / 'seed.csv'}')) TO '{good}' (FORMAT parquet)")
    data = good.read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    before = digest(existing_db)
    result = cli("data", "load", tmp_path / "cut.parquet", "--db", existing_db)
    assert result.exit_code == 3
    assert "cut.parquet" in result.stderr and "truncated" in result.stderr
    assert digest(existing_db) == before


def test_a_failed_load_into_a_new_path_creates_no_database(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "C1,Savings,Accepted,oops,7\n")
    assert cli("data", "load", bad, "--db", tmp_path / "fresh.duckdb").exit_code == 3
    assert not (tmp_path / "fresh.duckdb").exists()


def test_parquet_round_trip_keeps_types_and_soft_deletes(cli, small_db: Path, tmp_path: Path) -> None:
    export = tmp_path / "records.parquet"
    with duckdb.connect(str(small_db), read_only=True) as con:
        con.execute(f"COPY fpr_records TO '{export}' (FORMAT parquet)")
        expected = con.execute("SELECT count(*), sum(recommendation_score) FROM fpr_records "
                               "WHERE NOT _fivetran_deleted").fetchone()
    db = tmp_path / "rt.duckdb"
    assert cli("data", "load", export, "--db", db).exit_code == 0
    result = cli("sql", "SELECT count(*) AS n, sum(recommendation_score) AS s FROM fpr_records", "--db", db,
                 "--format", "json")
    got = json.loads(result.stdout)["rows"][0]
    assert got["n"] == expected[0] and got["s"] == pytest.approx(expected[1])


def test_jsonl_with_value_maps_constants_derived_ids_and_dates(cli, tmp_path: Path) -> None:
    (tmp_path / "offers.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"client": "ann", "outcome": "y", "when": "03/02/2025", "seg": "retail"},
        {"client": "bob", "outcome": "n", "when": "04/02/2025", "seg": "retail"},
        {"client": "cy", "outcome": "in_progress", "when": "05/02/2025", "seg": None},
    ]) + "\n")
    (tmp_path / "map.toml").write_text("""
[columns]
customer_segment = "seg"
product_recommendation_status = "outcome"
product_recommendation_date = "when"
[values.product_recommendation_status]
y = "Accepted"
n = "declined"
[constants]
product_type = "Credit Card"
[derive.customer_id]
hash = ["client"]
prefix = "H-"
[dates]
product_recommendation_date = "%d/%m/%Y"
""")
    db = tmp_path / "j.duckdb"
    result = cli("data", "load", tmp_path / "offers.jsonl", "--mapping", tmp_path / "map.toml", "--db", db)
    assert result.exit_code == 0, result.stderr
    got = rows(db, "SELECT customer_id LIKE 'H-%', product_recommendation_status, product_type, "
                   "product_recommendation_date::VARCHAR, customer_segment FROM fpr_records ORDER BY record_id")
    assert got == [(True, "Accepted", "Credit Card", "2025-02-03", "retail"),
                   (True, "Declined", "Credit Card", "2025-02-04", "retail"),
                   (True, "In Progress", "Credit Card", "2025-02-05", None)]


@pytest.mark.parametrize(("mapping", "expect"), [
    ("[colums]\nx = 'y'\n", "[colums]: unknown section"),
    ("[columns]\ncustomer_segment = 'nope'\n", "columns.customer_segment = 'nope'"),
    ("[columns]\nfavourite_colour = 'customer_id'\n", "'favourite_colour' is not a column of fpr_records"),
    ("[source]\nformat = 'xlsx'\n", "source.format"),
    ("[derive.customer_id]\nprefix = 'x'\n", "derive.customer_id: give exactly one of"),
    ("[columns\n", "not valid TOML"),
])
def test_mapping_mistakes_name_the_mapping_and_key(cli, tmp_path: Path, mapping: str, expect: str) -> None:
    (tmp_path / "in.csv").write_text(HEADER + "C1,Savings,Accepted,0.5,7\n")
    (tmp_path / "m.toml").write_text(mapping)
    result = cli("data", "load", tmp_path / "in.csv", "--mapping", tmp_path / "m.toml", "--db", tmp_path / "m.db")
    assert result.exit_code == 3
    assert "m.toml" in result.stderr and expect in result.stderr


def test_append_then_replace(cli, existing_db: Path, tmp_path: Path) -> None:
    more = tmp_path / "more.csv"
    more.write_text(HEADER + "A3,Checking,pending,0.5,6\n")
    assert cli("data", "load", more, "--db", existing_db).exit_code == 0
    assert rows(existing_db, "SELECT count(*) FROM fpr_records") == [(3,)]
    wider = tmp_path / "wider.csv"
    wider.write_text("customer_id,product_type,product_recommendation_status,channel\nB1,Savings,Accepted,Email\n")
    result = cli("data", "load", wider, "--db", existing_db)
    assert result.exit_code == 3 and "--replace" in result.stderr
    assert cli("data", "load", wider, "--db", existing_db, "--replace").exit_code == 0
    assert rows(existing_db, "SELECT customer_id, channel FROM fpr_records") == [("B1", "Email")]


def _kill_during(cmd: list[str], delay: float) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


@pytest.mark.slow
def test_sigkill_mid_load_leaves_old_or_new_never_partial(small_db: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with duckdb.connect(str(small_db), read_only=True) as con:
        con.execute(f"COPY (SELECT * EXCLUDE (_fivetran_deleted) FROM fpr_records, range(4)) TO '{big}' (HEADER)")
        new_rows = con.execute("SELECT count(*) * 4 FROM fpr_records").fetchone()[0]
    db = tmp_path / "target.duckdb"
    (tmp_path / "seed.csv").write_text(HEADER + "A1,Savings,Accepted,0.9,8\n")
    load = [sys.executable, "-m", "finmatch_agents", "data", "load"]
    cmd = [*load, str(big), "--db", str(db), "--replace"]
    subprocess.run([*load, str(tmp_path / "seed.csv"), "--db", str(db)], check=True, capture_output=True)
    outcomes = []
    for delay in (0.6, 1.2, 1.8):
        _kill_during(cmd, delay)
        count = rows(db, "SELECT count(*) FROM fpr_records")[0][0]
        assert count in (1, new_rows)
        outcomes.append(count)
        if count == new_rows:  # the load finished; restore the old state for the next round
            subprocess.run([*load, str(tmp_path / "seed.csv"), "--db", str(db), "--replace"], check=True)
    assert 1 in outcomes  # at least one kill landed mid-load
    fresh = tmp_path / "fresh.duckdb"
    _kill_during([*load, str(big), "--db", str(fresh)], 0.8)
    assert not fresh.exists() or rows(fresh, "SELECT count(*) FROM fpr_records") == [(new_rows,)]


def test_temp_files_of_killed_writers_are_removed(tmp_path: Path) -> None:
    from finmatch_agents.data.writer import remove_stale_temp_files

    db = tmp_path / "x.duckdb"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".x.duckdb.{dead.stdout.strip()}.tmp"
    mine = tmp_path / f".x.duckdb.{os.getpid()}.tmp"
    stale.write_text("junk")
    mine.write_text("in use")
    remove_stale_temp_files(db)
    assert not stale.exists() and mine.exists()


def test_vendored_gzip_copy_loads_the_same(cli, tmp_path: Path) -> None:
    from tests.conftest import UCI_VENDORED

    db = tmp_path / "gz.duckdb"
    result = cli("data", "load", UCI_VENDORED, "--mapping", MAPPING, "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 45_211
    assert rows(db, "SELECT count(*) FILTER (WHERE product_recommendation_status = 'Accepted') FROM fpr_records") == [
        (5_289,)]
