"""The CLI shell: help everywhere, version, fast start-up (lazy imports), first run, data info, doctor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finmatch_agents import __version__

COMMANDS = [[], ["data"], ["data", "generate"], ["data", "load"], ["data", "info"], ["data", "dictionary"], ["sql"],
            ["explore"], ["metrics"], ["doctor"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "finmatch")
def test_help_on_every_command(cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


def test_help_shows_env_vars(cli) -> None:
    assert "FINMATCH_DB" in cli("sql", "--help").stdout


def test_version(cli) -> None:
    assert cli("--version").stdout.strip() == f"finmatch {__version__}"


def test_cli_import_does_not_load_heavy_libraries() -> None:
    """`finmatch --help` must stay fast: importing the CLI may not pull in the data/AI stack."""
    code = ("import sys, finmatch_agents.cli; heavy = ['duckdb', 'numpy', 'pyarrow', 'sqlglot', 'pandas', "
            "'langgraph', 'langchain_core', 'openai']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_collection_is_off_only_during_start_up(tmp_path: Path) -> None:
    """`main` starts without garbage collection (start-up only builds objects that live as long as the process)
    and switches it back on, start-up's objects frozen, before the command runs: a long command collects as usual."""
    code = ("import gc, sys; from finmatch_agents.cli import common, main\n"
            "real = common.settings\n"
            "def spy(**kw):\n"
            "    print(gc.isenabled(), gc.get_freeze_count() > 1000, file=sys.stderr)\n"
            "    return real(**kw)\n"
            "common.settings = spy\n"
            f"sys.argv = ['finmatch', 'metrics', '--db', {str(tmp_path / 'absent.duckdb')!r}]\n"
            "main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stderr.splitlines()[0] == "True True", out.stderr


def test_the_app_without_main_leaves_collection_alone(cli) -> None:
    """Tests and embedders call the Typer app in a process of their own: nothing is frozen there."""
    import gc

    frozen = gc.get_freeze_count()
    cli("metrics", "--db", "/nonexistent/absent.duckdb")
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_a_command_loads_only_its_own_module() -> None:
    """`finmatch match ...` imports the match command's module, not the other commands' (start-up speed)."""
    code = ("import sys; from finmatch_agents.cli import main; sys.argv = ['finmatch', 'match', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('finmatch_agents.cli.')), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage:" in out.stdout and "customer" in out.stdout
    assert out.stderr.strip() == "['finmatch_agents.cli.common', 'finmatch_agents.cli.match']"


def test_unknown_command_is_a_usage_error(cli) -> None:
    assert cli("frobnicate").exit_code == 2
    typo = cli("matc")
    assert typo.exit_code == 2 and "Did you mean 'match'?" in typo.stderr


def test_first_run_creates_the_default_database(cli, isolated: Path) -> None:
    result = cli("sql", "SELECT count(DISTINCT customer_id) AS c FROM fpr_records", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "creating the default synthetic dataset" in result.stderr
    assert (isolated / "data" / "finmatch.duckdb").exists()
    assert json.loads(result.stdout)["rows"][0]["c"] > 24_000


def test_a_missing_explicit_database_is_not_created(cli, isolated: Path) -> None:
    result = cli("metrics", "--db", isolated / "typo.duckdb")
    assert result.exit_code == 2 and "no database at" in result.stderr
    assert not (isolated / "typo.duckdb").exists()


def test_data_info_reports_quality_flags(cli, small_db: Path) -> None:
    result = cli("data", "info", "--db", small_db, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    codes = {f["code"]: f for f in info["flags"]}
    assert {"soft-deleted", "stale-source", "source-gaps"} <= codes.keys()
    assert "Temenos" in codes["stale-source"]["message"]
    assert info["deleted_rows"] > 0 and info["rows"] > 10_000 and len(info["fingerprint"]) == 16
    assert str(info["date_min"]) == "2023-10-01" and str(info["date_max"]) == "2026-09-30"
    assert {t["name"] for t in info["tables"]} == {"fpr_records", "products"}
    by_name = {c["name"]: c for c in info["columns"]}  # data info estimates distinct values; an analysis skips them
    assert 2 <= by_name["customer_segment"]["distinct"] <= 10 and by_name["record_id"]["distinct"] > 10_000
    text = cli("data", "info", "--db", small_db)
    assert "Data-quality flags" in text.stdout and "Temenos" in text.stdout


def test_data_info_flags_values_outside_the_dictionary(cli, tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(db)) as con:  # written by another tool, not validated by our loader
        con.execute("CREATE TABLE fpr_records AS SELECT 'C1' AS customer_id, 'Savings' AS product_type, "
                    "'Accepted' AS product_recommendation_status, 1.4 AS recommendation_score, "
                    "'n/a' AS account_balance, DATE '2025-01-31' AS product_recommendation_date")
    info = json.loads(cli("data", "info", "--db", db, "--json").stdout)
    bad = {f["column"]: f for f in info["flags"] if f["code"] == "invalid-values"}
    # the range is checked on a DOUBLE column; the type only where the stored type does not guarantee it
    assert set(bad) == {"recommendation_score", "account_balance"}
    values = next(q for q in info["queries"] if q["title"] == "Values outside the data dictionary")
    assert "TRY_CAST(\"account_balance\" AS DOUBLE) IS NULL" in values["sql"]
    assert "TRY_CAST(\"product_recommendation_date\" AS DATE) IS NULL" not in values["sql"]


def test_fingerprint_is_stable_and_changes_with_data(cli, small_db: Path, db_copy: Path, tmp_path: Path) -> None:
    a = json.loads(cli("data", "info", "--db", small_db, "--json").stdout)["fingerprint"]
    b = json.loads(cli("data", "info", "--db", db_copy, "--json").stdout)["fingerprint"]
    assert a == b
    (tmp_path / "one.csv").write_text("customer_id,product_type,product_recommendation_status\nZ,Savings,Pending\n")
    cli("data", "load", tmp_path / "one.csv", "--db", db_copy)
    c = json.loads(cli("data", "info", "--db", db_copy, "--json").stdout)["fingerprint"]
    assert c != a


def test_generate_writes_and_refuses_to_clobber(cli, tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"
    first = cli("data", "generate", "--customers", "300", "--seed", "3", "--db", db, "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["tables"]["products"] == 40
    again = cli("data", "generate", "--customers", "300", "--db", db)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert cli("data", "generate", "--customers", "300", "--db", db, "--force").exit_code == 0


def test_dictionary_lists_all_columns(cli) -> None:
    got = json.loads(cli("data", "dictionary", "--json").stdout)
    assert [c["name"] for c in got][:2] == ["record_id", "customer_id"]
    assert len(got) == 38  # 36, campaign_contacts and customer_churned


def test_doctor_reports_settings_and_their_sources(cli, small_db: Path, monkeypatch) -> None:
    monkeypatch.setenv("FINMATCH_DB", str(small_db))
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.stdout
    got = json.loads(result.stdout)
    assert got["ok"] and got["settings"]["db"] == {"value": str(small_db), "source": "env", "env": "FINMATCH_DB"}
