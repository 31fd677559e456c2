"""One typed settings object: flag > env (FINMATCH_*) > finmatch.toml > default.

Every option is declared once in ``OPTIONS`` with its env var, TOML key, default and help text; the CLI
help, ``finmatch doctor`` and docs/configuration.md all read from that table, so they cannot drift.
Paths given in finmatch.toml are relative to the file; paths from flags or env are relative to the
working directory.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from finmatch_agents.errors import ConfigError

CONFIG_ENV = "FINMATCH_CONFIG"
DEFAULT_CONFIG = Path("finmatch.toml")


@dataclass(frozen=True)
class Option:
    name: str
    env: str
    toml: str  # dotted key inside finmatch.toml
    default: Any
    kind: type
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("db", "FINMATCH_DB", "finmatch.db", Path("data/finmatch.duckdb"), Path,
           "DuckDB database file with fpr_records (created with synthetic data if it is the default and missing)."),
    Option("reports_dir", "FINMATCH_REPORTS_DIR", "finmatch.reports_dir", Path("reports"), Path,
           "Folder for generated reports."),
    Option("state_dir", "FINMATCH_STATE_DIR", "finmatch.state_dir", Path("data"), Path,
           "Folder for the run store, checkpoints, chat history and the SQL audit log."),
    Option("model", "FINMATCH_MODEL", "finmatch.model", "offline", str,
           "Model used for AI steps; 'offline' is the deterministic offline analyst."),
    Option("table", "FINMATCH_TABLE", "finmatch.table", "fpr_records", str,
           "Table holding the recommendation records."),
    Option("currency", "FINMATCH_CURRENCY", "finmatch.currency", "USD", str,
           "Currency code shown with money figures (amounts are taken as stored)."),
    Option("strict_grounding", "FINMATCH_STRICT_GROUNDING", "llm.strict_grounding", False, bool,
           "Reject model output with numbers not found in the run's evidence (fall back to the offline analyst)."),
    Option("model_fallback", "FINMATCH_MODEL_FALLBACK", "llm.fallback", True, bool,
           "When a model fails, let the offline analyst write the step (off: exit 4)."),
    Option("sql_max_rows", "FINMATCH_SQL_MAX_ROWS", "sql.max_rows", 10_000, int,
           "Row cap for one query result; larger results are marked truncated."),
    Option("sql_timeout", "FINMATCH_SQL_TIMEOUT", "sql.timeout", 30.0, float,
           "Deadline in seconds for one query; the query is interrupted when it passes."),
    Option("threads", "FINMATCH_THREADS", "sql.threads", 0, int,
           "DuckDB worker threads for analysis connections (0 = number of CPUs, at most 8)."),
    Option("memory_limit", "FINMATCH_MEMORY_LIMIT", "sql.memory_limit", "4GB", str,
           "DuckDB memory limit for analysis connections."),
)
OPTION_BY_NAME = {o.name: o for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    db: Path = Path("data/finmatch.duckdb")
    reports_dir: Path = Path("reports")
    state_dir: Path = Path("data")
    model: str = "offline"
    table: str = "fpr_records"
    currency: str = "USD"
    strict_grounding: bool = False
    model_fallback: bool = True
    sql_max_rows: int = 10_000
    sql_timeout: float = 30.0
    threads: int = 0
    memory_limit: str = "4GB"
    config_path: Path = DEFAULT_CONFIG
    #: where each value came from ("flag", "env", "config", "default") — shown by `finmatch doctor`
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    #: the parsed finmatch.toml, for sections other modules own ([models], [schedule], [assumptions]...)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def db_is_default(self) -> bool:
        return self.sources.get("db", "default") == "default"

    @property
    def effective_threads(self) -> int:
        return self.threads if self.threads > 0 else min(os.cpu_count() or 2, 8)

    def section(self, dotted: str) -> dict[str, Any]:
        """A table from finmatch.toml (``{}`` when absent)."""
        node: Any = self.raw
        for part in dotted.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if not isinstance(node, dict):
            raise ConfigError(f"{self.config_path}: [{dotted}] must be a table")
        return node

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with flag values applied (``None`` means the flag was not given)."""
        given = {k: _coerce(OPTION_BY_NAME[k], v, "flag") for k, v in values.items() if v is not None}
        if not given:
            return self
        return replace(self, **given, sources={**self.sources, **dict.fromkeys(given, "flag")})


def _coerce(opt: Option, value: Any, origin: str) -> Any:
    try:
        if opt.kind is Path:
            return Path(str(value)).expanduser()
        if opt.kind is int and isinstance(value, str):
            return int(value.replace("_", ""))
        if opt.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        return opt.kind(value)
    except (TypeError, ValueError) as exc:
        where = opt.env if origin == "env" else (f"'{opt.toml}' in config" if origin == "config" else opt.name)
        raise ConfigError(f"{where}: expected {opt.kind.__name__}, got {value!r}") from exc


def _lookup(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc


def load_settings(config_path: Path | None = None, env: dict[str, str] | None = None, **flags: Any) -> Settings:
    """Resolve every option. ``flags`` are CLI values, ``None`` when the flag was not given."""
    env = dict(os.environ) if env is None else env
    if config_path is not None:
        cfg_path, explicit = config_path, True
    elif env.get(CONFIG_ENV):
        cfg_path, explicit = Path(env[CONFIG_ENV]), True
    else:
        cfg_path, explicit = DEFAULT_CONFIG, False
    if explicit and not cfg_path.exists():
        raise ConfigError(f"config file {cfg_path} does not exist (from {'--config' if config_path else CONFIG_ENV})")
    raw = read_config_file(cfg_path)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        if flags.get(opt.name) is not None:
            values[opt.name], sources[opt.name] = _coerce(opt, flags[opt.name], "flag"), "flag"
        elif env.get(opt.env, "") != "":
            values[opt.name], sources[opt.name] = _coerce(opt, env[opt.env], "env"), "env"
        elif (found := _lookup(raw, opt.toml)) is not None:
            value = _coerce(opt, found, "config")
            if opt.kind is Path and not value.is_absolute():
                value = cfg_path.parent / value
            values[opt.name], sources[opt.name] = value, "config"
        else:
            values[opt.name], sources[opt.name] = opt.default, "default"
    unknown = set(flags) - {o.name for o in OPTIONS}
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    settings = Settings(**values, config_path=cfg_path, sources=sources, raw=raw)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.sql_max_rows < 1:
        raise ConfigError(f"sql_max_rows must be at least 1 (got {s.sql_max_rows})")
    if s.sql_timeout <= 0:
        raise ConfigError(f"sql_timeout must be positive (got {s.sql_timeout})")
    if not s.table.replace("_", "").isalnum():
        raise ConfigError(f"table must be a plain identifier (got {s.table!r})")
