"""The second real dataset: Universal Bank's personal-loan campaign (examples/data/UniversalBank.csv, MIT licence,
see data/README.md) loads through examples/universal-bank.toml; its figures match the raw file read with the
csv module, independently of the loader."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
RAW = REPO / "examples" / "data" / "UniversalBank.csv"
MAPPING = REPO / "examples" / "universal-bank.toml"
EDUCATION = {"1": "Undergraduate", "2": "Graduate", "3": "Advanced/Professional"}


@pytest.fixture(scope="module")
def raw() -> list[dict[str, str]]:
    with RAW.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def bank_db(cli, tmp_path: Path) -> tuple[Path, dict]:
    db = tmp_path / "ub.duckdb"
    result = cli("data", "load", RAW, "--mapping", MAPPING, "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    return db, json.loads(result.stdout)


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_vendored_file_is_the_one_data_readme_describes(raw: list[dict[str, str]]) -> None:
    assert len(raw) == 5_000 and list(raw[0]) == [
        "ID", "Age", "Experience", "Income", "ZIP Code", "Family", "CCAvg", "Education", "Mortgage", "Personal Loan",
        "Securities Account", "CD Account", "Online", "CreditCard"]
    readme = (REPO / "data" / "README.md").read_text()
    assert "UniversalBank.csv" in readme and "MIT" in readme and "dmba" in readme
    assert (REPO / "examples" / "data" / "UniversalBank.LICENSE").read_text().startswith("MIT License")


def test_it_loads_through_the_mapping_with_the_raw_files_numbers(bank_db: tuple[Path, dict],
                                                                 raw: list[dict[str, str]]) -> None:
    db, report = bank_db
    assert report["rows"] == 5_000 and report["currency"] == "USD"
    assert report["ignored_source_columns"] == ["ZIP Code"]  # dropped: a quasi-identifier
    assert sorted(report["extra_columns"]) == ["ccavg", "cd_account", "creditcard", "experience", "family", "income",
                                               "mortgage", "online", "securities_account"]
    # acceptance by education level, from the raw file
    total = Counter(EDUCATION[r["Education"]] for r in raw)
    accepted = Counter(EDUCATION[r["Education"]] for r in raw if r["Personal Loan"] == "1")
    by_segment = q(db, "SELECT customer_segment, count(*), count(*) FILTER (WHERE product_recommendation_status = "
                       "'Accepted') FROM fpr_records GROUP BY 1")
    got = {seg: (n, a) for seg, n, a in by_segment}
    assert got == {seg: (total[seg], accepted[seg]) for seg in total}
    assert sum(accepted.values()) == 480
    # extra columns keep the source values (amounts in thousands, the -1..-3 experience errors as they are)
    sums = q(db, "SELECT sum(income), round(sum(ccavg), 2), sum(mortgage), count(*) FILTER (WHERE experience < 0), "
                 "count(DISTINCT customer_id), min(customer_age), max(customer_age) FROM fpr_records")[0]
    assert sums == (sum(int(r["Income"]) for r in raw), round(sum(float(r["CCAvg"]) for r in raw), 2),
                    sum(int(r["Mortgage"]) for r in raw), sum(int(r["Experience"]) < 0 for r in raw), 5_000,
                    min(int(r["Age"]) for r in raw), max(int(r["Age"]) for r in raw))
    cd = dict(q(db, "SELECT cd_account, avg((product_recommendation_status = 'Accepted')::INT) FROM fpr_records "
                    "GROUP BY 1"))
    for flag in ("0", "1"):
        rows = [r for r in raw if r["CD Account"] == flag]
        assert cd[int(flag)] == pytest.approx(sum(r["Personal Loan"] == "1" for r in rows) / len(rows), abs=1e-12)
    details = json.loads(q(db, "SELECT details FROM finmatch_meta WHERE table_name = 'fpr_records'")[0][0])
    assert details["labels"]["customer_segment"] == "education level"
    assert details["labels"]["income"] == "annual income (USD thousands)"


def test_metrics_and_analyze_run_on_it_offline(cli, bank_db: tuple[Path, dict], raw: list[dict[str, str]]) -> None:
    db, _ = bank_db
    metrics = json.loads(cli("metrics", "--db", db, "--json").stdout)
    assert metrics["kpis"]["records"]["value"] == 5_000
    assert metrics["kpis"]["accepted"]["value"] == sum(r["Personal Loan"] == "1" for r in raw)
    assert metrics["kpis"]["acceptance_rate"]["value"] == pytest.approx(480 / 5_000)
    assert metrics["currency"] == "USD"
    result = cli("analyze", "--db", db, "--quiet")
    assert result.exit_code == 0, result.stderr
    report = Path(result.stdout.strip()).read_text()
    assert "5,000" in report and "9.6%" in report  # the offers and the overall acceptance (480 / 5,000)
