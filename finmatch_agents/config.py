"""One typed settings object: flag > env (FINMATCH_*) > finmatch.toml > default.

Every option is declared once, as a :class:`Settings` field with its env var, TOML key, default and help
text; ``OPTIONS`` is built from those fields and the CLI help, ``finmatch doctor`` and
docs/configuration.md all read from it, so they cannot drift. Unknown sections and keys in finmatch.toml
are errors that name the key and the known ones.
Paths given in finmatch.toml are relative to the file; paths from flags or env are relative to the
working directory.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from finmatch_agents.errors import ConfigError

CONFIG_ENV = "FINMATCH_CONFIG"
#: longest query deadline accepted (a day); larger values, inf and nan are refused
MAX_SQL_TIMEOUT = 86_400.0
DEFAULT_CONFIG = Path("finmatch.toml")


@dataclass(frozen=True)
class Option:
    name: str
    env: str
    toml: str  # dotted key inside finmatch.toml
    default: Any
    kind: type
    help: str


def _option(default: Any, env: str, toml: str, help: str) -> Any:
    """A settings field that declares, once, its default, env var, finmatch.toml key and help text."""
    return field(default=default, metadata={"env": env, "toml": toml, "help": help})


@dataclass(frozen=True)
class Settings:
    db: Path = _option(Path("data/finmatch.duckdb"), "FINMATCH_DB", "finmatch.db",
                       "DuckDB database file with fpr_records (created with synthetic data if it is the default and "
                       "missing).")
    reports_dir: Path = _option(Path("reports"), "FINMATCH_REPORTS_DIR", "finmatch.reports_dir",
                                "Folder for generated reports.")
    state_dir: Path = _option(Path("data"), "FINMATCH_STATE_DIR", "finmatch.state_dir",
                              "Folder for the run store, checkpoints, chat history and the SQL audit log.")
    model: str = _option("offline", "FINMATCH_MODEL", "finmatch.model",
                         "Model used for AI steps; 'offline' is the deterministic offline analyst.")
    table: str = _option("fpr_records", "FINMATCH_TABLE", "finmatch.table", "Table holding the recommendation records.")
    currency: str = _option("USD", "FINMATCH_CURRENCY", "finmatch.currency",
                            "Currency code shown with money figures (amounts are taken as stored) when the "
                            "data does not record one; a loading mapping's currency wins.")
    strict_grounding: bool = _option(False, "FINMATCH_STRICT_GROUNDING", "llm.strict_grounding",
                                     "Reject model output with numbers not found in the run's evidence (fall back to "
                                     "the offline analyst).")
    model_fallback: bool = _option(True, "FINMATCH_MODEL_FALLBACK", "llm.fallback",
                                   "When a model fails, let the offline analyst write the step (off: exit 4).")
    sql_max_rows: int = _option(10_000, "FINMATCH_SQL_MAX_ROWS", "sql.max_rows",
                                "Row cap for one query result; larger results are marked truncated.")
    sql_timeout: float = _option(30.0, "FINMATCH_SQL_TIMEOUT", "sql.timeout",
                                 "Deadline in seconds for one query; the query is interrupted when it passes.")
    threads: int = _option(0, "FINMATCH_THREADS", "sql.threads",
                           "DuckDB worker threads for analysis connections (0 = number of CPUs, at most 8).")
    memory_limit: str = _option("4GB", "FINMATCH_MEMORY_LIMIT", "sql.memory_limit",
                                "DuckDB memory limit for analysis connections.")
    engine: str = _option("duckdb", "FINMATCH_ENGINE", "engine.name",
                          "Where SQL runs: duckdb (the --db file), spark (a local session or a Spark Connect URL, "
                          "[engine.spark]) or databricks (a Databricks SQL warehouse, [engine.databricks] and "
                          "DATABRICKS_* variables); docs/engines.md.")
    serve_rate_limit: int = _option(600, "FINMATCH_SERVE_RATE_LIMIT", "serve.rate_limit",
                                    "finmatch serve: requests per minute one API key may make (0 = no limit); more get "
                                    "429 with Retry-After.")
    serve_max_body: int = _option(65_536, "FINMATCH_SERVE_MAX_BODY", "serve.max_body",
                                  "finmatch serve: largest request body in bytes; larger ones get 413.")
    serve_cors: str = _option("", "FINMATCH_SERVE_CORS", "serve.cors",
                              "finmatch serve: comma-separated origins allowed by CORS (empty = CORS off).")
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


_KINDS: dict[str, type] = {"Path": Path, "str": str, "bool": bool, "int": int, "float": float}
#: every option, from the Settings fields that declare one (the CLI help, `doctor` and the docs read this)
OPTIONS: tuple[Option, ...] = tuple(
    Option(f.name, f.metadata["env"], f.metadata["toml"], f.default, _KINDS[str(f.type)], f.metadata["help"])
    for f in fields(Settings) if "env" in f.metadata)
OPTION_BY_NAME = {o.name: o for o in OPTIONS}

#: bounds on model use, ``[llm]`` in finmatch.toml (whole numbers; docs/models.md explains each)
LLM_LIMITS: dict[str, int] = {
    "max_calls_per_run": 40,  # model calls one analysis may make (all agents and the summary)
    "max_tokens_per_run": 300_000,  # tokens one analysis may use
    "max_tool_calls": 4,  # tool calls of one AI step
    "max_tool_rows": 50,  # rows of one tool result
    "max_turns": 8,  # model turns of one AI step or one chat answer
    "max_chat_tool_calls": 6,  # tool calls of one chat answer
    "max_session_calls": 400,  # model calls of one chat session (a named session, across restarts)
}
#: engines besides DuckDB and the keys of their ``[engine.NAME]`` tables (docs/engines.md); tokens are never read
#: from the file, only from the environment
ENGINES = ("duckdb", "spark", "databricks")
ENGINE_SECTIONS: dict[str, frozenset[str]] = {
    "spark": frozenset({"master", "tables", "catalog", "schema", "conf"}),
    "databricks": frozenset({"host", "http_path", "catalog", "schema", "table"}),
}
#: keys of finmatch.toml sections that are not options of their own
OTHER_KEYS: dict[str, frozenset[str]] = {"llm": frozenset(LLM_LIMITS), "engine": frozenset(ENGINE_SECTIONS)}
#: top-level tables whose content other modules validate: [models.NAME], [schedule.jobs.NAME], ...
OWNED_SECTIONS = frozenset({"models", "schedule", "assumptions", "privacy", "semantic"})


def _check_sections(raw: dict[str, Any], path: Path) -> None:
    """Unknown sections and keys are errors naming the key and the known ones (``[sql] timeot = 60``)."""
    keys: dict[str, set[str]] = {}
    for opt in OPTIONS:
        section, key = opt.toml.split(".", 1)
        keys.setdefault(section, set()).add(key)
    for section, extra in OTHER_KEYS.items():
        keys.setdefault(section, set()).update(extra)
    known_sections = sorted({*keys, *OWNED_SECTIONS})
    for section, table in raw.items():
        if section not in keys and section not in OWNED_SECTIONS:
            raise ConfigError(f"{path}: [{section}] is not a known section; known: {', '.join(known_sections)}")
        if section in OWNED_SECTIONS:
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key in table:
            if key not in keys[section]:
                raise ConfigError(f"{path}: [{section}] {key}: unknown key; known: {', '.join(sorted(keys[section]))}")


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


def load_settings(config_path: Path | None = None, env: dict[str, str] | None = None, *,
                  allow_missing: bool = False, **flags: Any) -> Settings:
    """Resolve every option. ``flags`` are CLI values, ``None`` when the flag was not given. A config file named
    explicitly must exist, unless ``allow_missing`` (a command that creates it)."""
    env = dict(os.environ) if env is None else env
    if config_path is not None:
        cfg_path, explicit = config_path, True
    elif env.get(CONFIG_ENV):
        cfg_path, explicit = Path(env[CONFIG_ENV]), True
    else:
        cfg_path, explicit = DEFAULT_CONFIG, False
    if explicit and not allow_missing and not cfg_path.exists():
        raise ConfigError(f"config file {cfg_path} does not exist (from {'--config' if config_path else CONFIG_ENV})")
    raw = read_config_file(cfg_path)
    _check_sections(raw, cfg_path)

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
    if values["engine"] == "databricks" and sources["table"] == "default":  # the seed app's UC_TABLE names it
        uc_table = env.get("UC_TABLE") or _lookup(raw, "engine.databricks.table")
        if uc_table:
            values["table"], sources["table"] = str(uc_table), "env" if env.get("UC_TABLE") else "config"
    settings = Settings(**values, config_path=cfg_path, sources=sources, raw=raw)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.sql_max_rows < 1:
        raise ConfigError(f"sql_max_rows must be at least 1 (got {s.sql_max_rows})")
    if not 0 < s.sql_timeout <= MAX_SQL_TIMEOUT:  # also refuses inf and nan, which would disable the deadline
        raise ConfigError(f"sql_timeout must be between 0 and {MAX_SQL_TIMEOUT:g} seconds (got {s.sql_timeout})")
    if s.serve_rate_limit < 0:
        raise ConfigError(f"serve_rate_limit must be 0 (no limit) or more (got {s.serve_rate_limit})")
    if s.serve_max_body < 1:
        raise ConfigError(f"serve_max_body must be at least 1 byte (got {s.serve_max_body})")
    if s.engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)} (got {s.engine!r})")
    for name, keys in ENGINE_SECTIONS.items():
        table = s.section(f"engine.{name}")
        unknown = sorted(set(table) - keys)
        if "token" in unknown:
            raise ConfigError(f"{s.config_path}: [engine.{name}] token: tokens are read only from the environment "
                              "(DATABRICKS_TOKEN), never from finmatch.toml; remove the key")
        if unknown:
            raise ConfigError(f"{s.config_path}: [engine.{name}] {unknown[0]}: unknown key; known: "
                              f"{', '.join(sorted(keys))}")
    if not s.table.replace("_", "").isalnum():
        raise ConfigError(f"table must be a plain identifier (got {s.table!r})")
