"""Settings precedence: flag > env > finmatch.toml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.errors import ConfigError


def test_defaults(isolated: Path) -> None:
    s = load_settings(env={})
    assert s.db == Path("data/finmatch.duckdb") and s.model == "offline" and s.sources["db"] == "default"
    assert s.db_is_default


def test_precedence(isolated: Path) -> None:
    cfg = isolated / "conf" / "finmatch.toml"
    cfg.parent.mkdir()
    cfg.write_text('[finmatch]\ndb = "bank.duckdb"\nmodel = "from-toml"\ntable = "t_toml"\n[sql]\nmax_rows = 5\n')
    s = load_settings(config_path=cfg, env={"FINMATCH_MODEL": "from-env", "FINMATCH_TABLE": "t_env"},
                      table="t_flag")
    assert s.db == cfg.parent / "bank.duckdb"  # relative to the config file
    assert (s.model, s.sources["model"]) == ("from-env", "env")
    assert (s.table, s.sources["table"]) == ("t_flag", "flag")
    assert (s.sql_max_rows, s.sources["sql_max_rows"]) == (5, "config")
    assert not s.db_is_default


def test_config_found_via_env(isolated: Path) -> None:
    (isolated / "other.toml").write_text('[finmatch]\nmodel = "x"\n')
    assert load_settings(env={"FINMATCH_CONFIG": str(isolated / "other.toml")}).model == "x"


@pytest.mark.parametrize(("env", "message"), [
    ({"FINMATCH_SQL_MAX_ROWS": "lots"}, "FINMATCH_SQL_MAX_ROWS"),
    ({"FINMATCH_SQL_TIMEOUT": "-1"}, "sql_timeout"),
    ({"FINMATCH_TABLE": "x; drop"}, "table"),
    ({"FINMATCH_CONFIG": "missing.toml"}, "does not exist"),
])
def test_bad_values_are_named(isolated: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_broken_toml_is_reported(isolated: Path) -> None:
    (isolated / "finmatch.toml").write_text("[finmatch\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={})
