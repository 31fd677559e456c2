"""Shared fixtures: every test runs in its own working directory with no FINMATCH_* settings leaking in.

Databases are real DuckDB files. The small synthetic database is generated once per session (it is
deterministic) and copied when a test needs to change it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finmatch_agents.data.generator import write_synthetic

SMALL_CUSTOMERS = 4_000
SMALL_SEED = 7
REPO = Path(__file__).resolve().parent.parent
UCI_CSV = REPO.parent / "shared" / "data" / "uci-bank-marketing" / "bank-full.csv"
UCI_VENDORED = REPO / "tests" / "fixtures" / "uci-bank-marketing" / "bank-full.csv.gz"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("FINMATCH_") or key.startswith("OPENAI_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))  # remembered guard verdicts stay per test
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only shared synthetic database (4,000 customers, seed 7). Do not write to it."""
    path = tmp_path_factory.mktemp("shared") / "small.duckdb"
    write_synthetic(path, SMALL_CUSTOMERS, SMALL_SEED, force=False)
    path.chmod(0o444)
    return path


@pytest.fixture
def db_copy(small_db: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the small synthetic database."""
    target = tmp_path / "copy.duckdb"
    shutil.copyfile(small_db, target)
    target.chmod(0o644)
    return target


@pytest.fixture
def uci_csv() -> Path:
    """The UCI Bank Marketing file: the shared copy when present, else the vendored gzipped one."""
    return UCI_CSV if UCI_CSV.exists() else UCI_VENDORED


class Cli:
    """Invoke the real Typer app in-process; stdout and stderr are kept apart."""

    def __init__(self) -> None:
        from finmatch_agents.cli import app

        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, input: str | None = None):
        return self.runner.invoke(self.app, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


MATCH_CUSTOMERS = 2_000


@pytest.fixture(scope="session")
def match_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only synthetic database for the feature layer and the match engine (2,000 customers, seed 7)."""
    path = tmp_path_factory.mktemp("match") / "match.duckdb"
    write_synthetic(path, MATCH_CUSTOMERS, SMALL_SEED, force=False)
    path.chmod(0o444)
    return path


@pytest.fixture
def match_copy(match_db: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the match database."""
    target = tmp_path / "match-copy.duckdb"
    shutil.copyfile(match_db, target)
    target.chmod(0o644)
    return target
