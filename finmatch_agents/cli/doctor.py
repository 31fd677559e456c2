"""``finmatch doctor``: what this installation will use and whether it can work (settings, folders, data)."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from finmatch_agents.cli import common
from finmatch_agents.config import OPTIONS, Settings

PACKAGES = ("typer", "rich", "duckdb", "sqlglot", "numpy", "pyarrow")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _writable(path: Path) -> bool:
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path())
    return os.access(probe, os.W_OK)


def run_checks(s: Settings) -> list[Check]:
    from importlib import metadata  # start-up speed: every command imports this module, only doctor reads it

    checks = [Check("python", sys.version_info >= (3, 11), platform.python_version())]
    for pkg in PACKAGES:
        try:
            checks.append(Check(pkg, True, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            checks.append(Check(pkg, False, "not installed"))
    checks.append(Check("config", True, f"{s.config_path} ({'found' if s.config_path.exists() else 'not present'})"))
    for folder in ("state_dir", "reports_dir"):
        path: Path = getattr(s, folder)
        checks.append(Check(folder, _writable(path), f"{path} ({'writable' if _writable(path) else 'NOT writable'})"))
    if s.engine != "duckdb":
        return checks + engine_checks(s)
    checks.append(Check("engine", True, "duckdb (the --db file)"))
    if not s.db.exists():
        note = "will be created with synthetic data on first use" if s.db_is_default else "missing"
        checks.append(Check("database", s.db_is_default, f"{s.db} ({note})"))
        return checks
    from finmatch_agents.errors import FinMatchError
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import open_engine

    try:
        with open_engine(s) as engine:
            log = QueryLog()
            if engine.has_table(s.table):
                rows = engine.query(f'SELECT count(*) FROM "{s.table}"', log=log, title="doctor").scalar()
                checks.append(Check("database", True, f"{s.db}: {s.table} has {rows:,} rows"))
            else:
                checks.append(Check("database", False, f"{s.db}: no table {s.table} (tables: {engine.tables()})"))
    except FinMatchError as exc:
        checks.append(Check("database", False, f"{s.db}: {exc.message}"))
    return checks


#: the client library each engine other than DuckDB needs
ENGINE_PACKAGES = {"spark": "pyspark", "databricks": "databricks-sql-connector"}


def engine_checks(s: Settings) -> list[Check]:
    """Spark / Databricks: the client library, whether the engine connects, the records table, and whether the
    credentials can write (they should only read: docs/engines.md)."""
    from importlib import metadata

    from finmatch_agents.errors import FinMatchError
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import open_engine

    package = ENGINE_PACKAGES[s.engine]
    try:
        checks = [Check(package, True, metadata.version(package))]
    except metadata.PackageNotFoundError:
        return [Check(package, False, f"not installed (pip install 'finmatch-agents[{s.engine}]')"),
                Check("engine", False, f"{s.engine}: cannot connect without {package}")]
    try:
        with open_engine(s) as engine:
            checks.append(Check("engine", True, f"{engine.location} (connected; {len(engine.tables())} tables)"))
            if engine.has_table(s.table):
                rows = engine.query(f'SELECT count(*) FROM "{s.table}"', log=QueryLog(), title="doctor").scalar()
                checks.append(Check("database", True, f"{engine.location}: {s.table} has {rows:,} rows"))
            else:
                checks.append(Check("database", False, f"{engine.location}: no table {s.table} "
                                    f"(tables: {engine.tables()})"))
            writes, detail = engine.write_access()  # type: ignore[attr-defined]
            checks.append(Check("read-only credentials", writes is not True, detail))
    except FinMatchError as exc:
        checks.append(Check("engine", False, exc.message))
    return checks


def doctor(json_out: common.JsonOpt = False, engine_name: common.EngineOpt = None) -> None:
    """Check the installation: Python and packages, settings and where each came from, folders, database."""
    from rich.table import Table

    common.want_json(json_out)
    s = common.settings(engine=engine_name)
    checks = run_checks(s)
    resolved = {o.name: {"value": str(getattr(s, o.name)), "source": s.sources.get(o.name, "default"), "env": o.env}
                for o in OPTIONS}
    if json_out:
        common.emit_json({"ok": all(c.ok for c in checks), "checks": [c.__dict__ for c in checks],
                          "settings": resolved})
    else:
        console = common.out()
        view = Table(title="Checks", title_justify="left")
        for col in ("check", "status", "detail"):
            view.add_column(col)
        for c in checks:
            view.add_row(c.name, "[green]ok[/]" if c.ok else "[red]problem[/]", c.detail)
        console.print(view)
        conf = Table(title="Settings (flag > env > finmatch.toml > default)", title_justify="left")
        for col in ("setting", "value", "from", "env var"):
            conf.add_column(col)
        for name, item in resolved.items():
            conf.add_row(name, item["value"], item["source"], item["env"])
        console.print(conf)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
