"""Mapping semantics (issue 10, item 10): unmapped source columns are kept as extra columns under their own name
and type, never as a dictionary column; a mapping can drop columns, label columns for reports and say which
currency its amounts are in. Real files, real DuckDB, the real CLI; values checked against the raw file."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.data.profile import column_labels, profile_dataset
from finmatch_agents.data.schema import column, column_label
from finmatch_agents.evidence import QueryLog
from finmatch_agents.runner import RunRequest, run_analysis
from finmatch_agents.warehouse.engine import open_engine

REPO = Path(__file__).resolve().parents[2]
UCI_MAPPING = REPO / "examples" / "bank-marketing.toml"


def rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def types(db: Path, table: str = "fpr_records") -> dict[str, str]:
    return dict(rows(db, "SELECT column_name, data_type FROM information_schema.columns "
                         f"WHERE table_name = '{table}' ORDER BY ordinal_position"))


def meta(db: Path, table: str = "fpr_records") -> dict:
    return json.loads(rows(db, f"SELECT details FROM finmatch_meta WHERE table_name = '{table}'")[0][0])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


OFFERS = ("client,outcome,Call Duration,Customer Age,age,AGE,2nd phone,zip,Surname,score\n"
          "c1,yes,120,200,31,x,555,01234,Lee,0.5\n"
          "c2,no,45,,44,y,,90210,Ng,0.25\n")
MAPPING = """
[columns]
customer_id = "client"
product_recommendation_status = "outcome"
[values.product_recommendation_status]
yes = "Accepted"
no = "Declined"
[constants]
product_type = "Savings"
"""


@pytest.fixture
def offers(tmp_path: Path) -> Path:
    path = tmp_path / "offers.csv"
    path.write_text(OFFERS)
    return path


def load(cli, file: Path, mapping: str, db: Path, *extra: str):
    m = db.with_suffix(".toml")
    m.write_text(mapping)
    return cli("data", "load", file, "--mapping", m, "--db", db, *extra)


def test_unmapped_columns_are_kept_under_their_own_sanitised_unique_names(cli, offers: Path, tmp_path: Path) -> None:
    db = tmp_path / "o.duckdb"
    result = load(cli, offers, MAPPING, db, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["extra_columns"] == {"call_duration": "Call Duration", "customer_age_raw": "Customer Age",
                                       "age": "age", "age_2": "AGE", "c_2nd_phone": "2nd phone", "zip": "zip",
                                       "surname": "Surname", "score": "score"}
    got = types(db)
    assert {k: got[k] for k in report["extra_columns"]} == {
        "call_duration": "BIGINT", "customer_age_raw": "BIGINT", "age": "BIGINT", "age_2": "VARCHAR",
        "c_2nd_phone": "BIGINT", "zip": "VARCHAR", "surname": "VARCHAR", "score": "DOUBLE"}
    # 'Customer Age' is not the dictionary's customer_age (200 would fail its 16..110 rule): it never becomes it
    assert "customer_age" not in got
    assert rows(db, "SELECT customer_id, call_duration, customer_age_raw, age, age_2, c_2nd_phone, zip, surname, "
                    "score FROM fpr_records ORDER BY customer_id") == [
        ("c1", 120, 200, 31, "x", 555, "01234", "Lee", 0.5), ("c2", 45, None, 44, "y", None, "90210", "Ng", 0.25)]
    # a ZIP code keeps its leading zero; the personal-looking column is pointed out
    assert any("'surname'" in n and "personal data" in n for n in report["notes"])
    # `finmatch sql` and so every analysis can use them
    sql = cli("sql", "SELECT sum(call_duration) AS s FROM fpr_records WHERE product_recommendation_status = "
                     "'Accepted'", "--db", db, "--format", "csv")
    assert sql.exit_code == 0 and sql.stdout.splitlines() == ["s", "120"]
    assert meta(db)["extra_columns"] == report["extra_columns"]


def test_a_source_column_named_like_a_derived_one_never_overwrites_it(cli, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("customer_id,product_type,product_recommendation_status\n17,Savings,Accepted\n17,Savings,"
                    "Declined\n")
    db = tmp_path / "ids.duckdb"
    result = load(cli, path, '[derive.customer_id]\nrow_number = true\nprefix = "C-"\n'
                             '[constants]\nproduct_type = "Mortgage"\n', db, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["extra_columns"] == {"customer_id_raw": "customer_id",
                                                          "product_type_raw": "product_type"}
    assert rows(db, "SELECT customer_id, customer_id_raw, product_type, product_type_raw FROM fpr_records "
                    "ORDER BY record_id") == [("C-1", 17, "Mortgage", "Savings"), ("C-2", 17, "Mortgage", "Savings")]


def test_drop_removes_columns_and_is_recorded(cli, offers: Path, tmp_path: Path) -> None:
    db = tmp_path / "d.duckdb"
    result = load(cli, offers, MAPPING + '[drop]\ncolumns = ["Surname", "zip", "2nd phone"]\n', db, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ignored_source_columns"] == ["2nd phone", "zip", "Surname"]
    assert not {"surname", "zip", "c_2nd_phone"} & set(types(db))
    assert meta(db)["dropped_columns"] == ["2nd phone", "zip", "Surname"]
    assert not any("personal data" in n for n in report["notes"])
    # dropping a dictionary-named column keeps it out too (e.g. a name column: PII)
    path = tmp_path / "named.csv"
    path.write_text("customer_id,customer_name,product_type,product_recommendation_status\nA,Ann Lee,Savings,"
                    "Accepted\n")
    db2 = tmp_path / "n.duckdb"
    assert load(cli, path, '[drop]\ncolumns = ["customer_name"]\n', db2).exit_code == 0
    assert "customer_name" not in types(db2)


@pytest.mark.parametrize(("mapping", "expect"), [
    ('[drop]\ncolumns = ["nope"]\n', "drop.columns: offers.csv has no column 'nope'; it has client, outcome"),
    ('[drop]\ncolumns = ["client"]\n', "drop.columns: 'client' is dropped but columns.customer_id uses it"),
    ('[drop]\ncols = ["zip"]\n', "drop.cols: unknown key"),
    ('[labels]\nnope = "x"\n', "labels.nope: no loaded column is called 'nope'"),
    ('[labels]\nzip = ""\n', "labels.zip: must be a one-line text"),
    ('[values.outcom]\nyes = "Accepted"\n', "values.outcom: no loaded column is called 'outcom'"),
    ('currency = "euro"\n', "currency: 'euro' is not a three-letter ISO 4217 code"),
    ('# written last, it lands in [constants]\ncurrency = "EUR"\n', "constants.currency: 'currency' is not a column"),
])
def test_mapping_mistakes_in_the_new_sections_name_the_key(cli, offers: Path, tmp_path: Path, mapping: str,
                                                           expect: str) -> None:
    db = tmp_path / "bad.duckdb"
    text = mapping + MAPPING if mapping.startswith("currency") else MAPPING + mapping
    result = load(cli, offers, text, db)
    assert result.exit_code == 3, result.stdout
    assert "bad.toml" in result.stderr and expect in result.stderr
    assert not db.exists()


def test_labels_are_recorded_and_read_back_for_reports(cli, offers: Path, tmp_path: Path) -> None:
    db = tmp_path / "l.duckdb"
    labels = ('[labels]\n"Call Duration" = "call duration (seconds, known only after the call)"\n'
              'customer_id = "client number"\n')
    assert load(cli, offers, MAPPING + labels, db).exit_code == 0
    assert meta(db)["labels"] == {"call_duration": "call duration (seconds, known only after the call)",
                                  "customer_id": "client number"}
    with open_engine(load_settings(db=db, env={})) as engine:
        profile = profile_dataset(engine, QueryLog(), "fpr_records")
    got = column_labels(profile)
    assert got["call_duration"] == "call duration (seconds, known only after the call)"  # the mapping's
    assert got["customer_id"] == "client number"
    assert got["product_recommendation_status"] == column("fpr_records", "product_recommendation_status").label
    assert got["age_2"] == "age_2"  # an extra column without a label is called by its name, never a default
    assert column_label("fpr_records", "customer_transaction_count") == "transactions (last six months)"
    info = json.loads(cli("data", "info", "--db", db, "--json").stdout)
    # 'Customer Age' is empty in half the rows: an extra column is described, not flagged as a quality problem
    assert not [f for f in info["flags"] if f["code"] == "high-nulls" and f["column"] == "customer_age_raw"]
    extras = {e["name"]: e for e in info["extra_columns"]}
    assert extras["call_duration"] == {"name": "call_duration", "type": "BIGINT", "source": "Call Duration",
                                       "label": "call duration (seconds, known only after the call)"}
    assert set(extras) == {"call_duration", "customer_age_raw", "age", "age_2", "c_2nd_phone", "zip", "surname",
                           "score"}
    text = cli("data", "info", "--db", db).stdout
    assert "Extra columns (not in the data dictionary" in text and "call_duration (from 'Call Duration')" in text


def test_the_mapping_currency_is_recorded_and_used_by_the_run(cli, offers: Path, tmp_path: Path) -> None:
    db = tmp_path / "eur.duckdb"
    result = load(cli, offers, 'currency = "EUR"\n' + MAPPING, db, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["currency"] == "EUR" and meta(db)["currency"] == "EUR"
    events: list[dict] = []
    run = run_analysis(load_settings(db=db, env={}), RunRequest(focus=["performance"]), events.append)
    assert run.state["run"].currency == "EUR"
    assert not [e for e in events if e["event"] == "warning" and "currency" in e.get("message", "")]
    # a configured currency that disagrees with the data's is overruled, and the run says so
    events.clear()
    run = run_analysis(load_settings(db=db, env={"FINMATCH_CURRENCY": "USD"}), RunRequest(focus=["performance"]),
                       events.append)
    assert run.state["run"].currency == "EUR"
    assert any(e["event"] == "warning" and "amounts are in EUR" in e["message"] for e in events)
    # appending amounts in another currency would mix them: refused, nothing changes
    before = digest(db)
    again = load(cli, offers, 'currency = "GBP"\n' + MAPPING, db)
    assert again.exit_code == 3 and "holds amounts in EUR" in again.stderr
    assert digest(db) == before


def test_the_chat_shows_money_in_the_data_currency(cli, tmp_path: Path) -> None:
    from finmatch_agents.chat.session import ChatSession

    path = tmp_path / "balances.csv"
    path.write_text("client,outcome,balance\nc1,yes,1200\nc2,no,800\n")
    db = tmp_path / "bal.duckdb"
    mapping = 'currency = "EUR"\n' + MAPPING.replace('[columns]\n', '[columns]\naccount_balance = "balance"\n')
    assert load(cli, path, mapping, db).exit_code == 0
    session = ChatSession(load_settings(db=db, env={"FINMATCH_CURRENCY": "USD"}), "money")
    try:
        assert session.settings.currency == "EUR"
        rows = session.ask("/metrics").tables[0].rows
        balance = next(r for r in rows if r["metric"] == "Total account balances")
        assert balance["value"] == "EUR 2.00k"  # 1,200 + 800, in the data's currency, not the configured USD
    finally:
        session.close()


def test_appending_keeps_extra_columns_and_refuses_values_that_do_not_fit(cli, offers: Path,
                                                                          tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    assert load(cli, offers, MAPPING, db).exit_code == 0
    assert load(cli, offers, MAPPING, db).exit_code == 0
    assert rows(db, "SELECT count(*), sum(call_duration) FROM fpr_records") == [(4, 330)]
    bad = tmp_path / "bad.csv"
    bad.write_text(OFFERS.replace("c2,no,45,", "c2,no,long,"))
    before = digest(db)
    result = load(cli, bad, MAPPING, db)
    assert result.exit_code == 3
    assert "bad.csv, line 3, column 'call_duration'" in result.stderr and "BIGINT" in result.stderr
    assert digest(db) == before


def test_uci_campaign_is_contacts_in_this_campaign_and_the_rest_are_extra_columns(cli, uci_csv: Path,
                                                                                  tmp_path: Path) -> None:
    db = tmp_path / "uci.duckdb"
    result = cli("data", "load", uci_csv, "--mapping", UCI_MAPPING, "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert "customer_transaction_count" in report["absent_columns"]  # not transactions in six months
    extras = ["marital", "education", "default", "housing", "loan", "day", "month", "duration", "pdays",
              "previous", "poutcome"]
    assert sorted(report["extra_columns"]) == sorted(extras)
    opener = gzip.open if uci_csv.suffix == ".gz" else open
    with opener(uci_csv, "rt", newline="") as fh:
        raw = list(csv.DictReader(fh, delimiter=";"))
    # contacts in this campaign, by value, against the raw file
    expected = Counter((int(r["campaign"]), r["y"] == "yes") for r in raw)
    got = rows(db, "SELECT campaign_contacts, product_recommendation_status = 'Accepted', count(*) FROM fpr_records "
                   "GROUP BY ALL")
    assert {(c, a): n for c, a, n in got} == dict(expected)
    assert types(db)["campaign_contacts"] == "INTEGER"
    # extra columns keep their values; 'unknown' is missing, as for the mapped columns
    assert dict(rows(db, "SELECT education, count(*) FROM fpr_records GROUP BY 1")) == {
        (None if k == "unknown" else k): v for k, v in Counter(r["education"] for r in raw).items()}
    assert rows(db, "SELECT sum(duration), sum(pdays), sum(previous) FROM fpr_records") == [(
        sum(int(r["duration"]) for r in raw), sum(int(r["pdays"]) for r in raw), sum(int(r["previous"]) for r in raw))]
    labels = meta(db)["labels"]
    assert "after the call" in labels["duration"] and labels["campaign_contacts"]
    mapping_text = UCI_MAPPING.read_text()
    assert "campaign_contacts = \"campaign\"" in mapping_text and "customer_transaction_count" not in \
        mapping_text.split("[columns]", 1)[1]
