"""Engine selection (--engine / FINMATCH_ENGINE / finmatch.toml) and the surface every engine shares; no JVM."""

from __future__ import annotations

import inspect

import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.errors import ConfigError
from finmatch_agents.warehouse.databricks import DatabricksEngine
from finmatch_agents.warehouse.engine import DuckDBEngine
from finmatch_agents.warehouse.spark import SparkEngine


def _public(cls: type) -> dict[str, object]:
    return {n: getattr(cls, n) for n in dir(cls) if not n.startswith("_")}


@pytest.mark.parametrize("remote", [SparkEngine, DatabricksEngine])
def test_remote_engines_offer_every_public_member_of_duckdb_engine(remote) -> None:
    """open_engine is typed as DuckDBEngine for its callers: the others must offer the same members, with
    parameters the callers can pass the same way (materialize is optional: without it run tables are skipped)."""
    for name, member in _public(DuckDBEngine).items():
        if name in ("path", "materialize") and remote is DatabricksEngine:
            continue
        if name == "path":
            continue  # the DuckDB file; the others say where they read in `location`
        assert hasattr(remote, name), f"{remote.__name__} has no {name}"
        if callable(member) and not isinstance(member, property):
            want = [p for p in inspect.signature(member).parameters.values() if p.kind is not p.VAR_KEYWORD]
            got = inspect.signature(getattr(remote, name)).parameters
            for param in want:
                assert param.name in got, f"{remote.__name__}.{name} lacks parameter {param.name}"


def test_engine_setting_resolves_flag_env_config(tmp_path, monkeypatch) -> None:
    assert load_settings(env={}).engine == "duckdb"
    (tmp_path / "finmatch.toml").write_text('[engine]\nname = "spark"\n[engine.spark]\nmaster = "local[1]"\n')
    assert load_settings(env={}).engine == "spark"
    assert load_settings(env={"FINMATCH_ENGINE": "databricks"}).engine == "databricks"
    assert load_settings(env={"FINMATCH_ENGINE": "databricks"}, engine="duckdb").engine == "duckdb"
    with pytest.raises(ConfigError, match="engine must be one of duckdb, spark, databricks"):
        load_settings(env={}, engine="postgres")
    (tmp_path / "finmatch.toml").write_text('[engine.spark]\nmastr = "local[1]"\n')
    with pytest.raises(ConfigError, match=r"\[engine.spark\] mastr: unknown key"):
        load_settings(env={})


def test_unknown_engine_flag_exits_2(cli) -> None:
    result = cli("sql", "SELECT 1 AS one", "--engine", "oracle")
    assert result.exit_code == 2 and "engine must be one of" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["match", "run"], ["serve"],
                                     ["recommend", "feedback", "C0000001", "CHK-01", "--rating", "5"]])
def test_duckdb_only_commands_refuse_another_engine_by_name(cli, monkeypatch, command) -> None:
    monkeypatch.setenv("FINMATCH_ENGINE", "spark")
    result = cli(*command)
    assert result.exit_code == 2, result.stderr
    assert "runs on the DuckDB engine only; the selected engine is spark" in result.stderr
    assert f"finmatch {' '.join(command[:2])}" in result.stderr


def test_missing_spark_tables_folder_exits_2_naming_it(cli, tmp_path) -> None:
    (tmp_path / "finmatch.toml").write_text('[engine.spark]\ntables = "no-such-folder"\n')
    result = cli("sql", "SELECT 1 AS one", "--engine", "spark")
    assert result.exit_code == 2
    assert "spark: the tables folder" in result.stderr and "no-such-folder does not exist" in result.stderr


def test_doctor_names_the_duckdb_engine(cli, db_copy) -> None:
    result = cli("doctor", "--json")
    assert '"name": "engine", "ok": true, "detail": "duckdb' in result.stdout


def test_duckdb_explain_checks_and_plans_without_running(small_db) -> None:
    from finmatch_agents.errors import SQLRefused

    with DuckDBEngine(small_db) as engine:
        plan = engine.explain("SELECT customer_segment, count(*) AS n FROM fpr_records GROUP BY 1")
        assert "fpr_records" in plan.lower() or "scan" in plan.lower()
        with pytest.raises(SQLRefused):
            engine.explain("DELETE FROM fpr_records")
