"""Fixtures for the predictive models: one thread for the fits (the machine is shared), a trained state.

Training is the slow part of these tests, so the promoted conversion and churn models are trained once per
session (with the real CLI) and every test that needs them gets its own copy of the database and of the
state folder: a test may score, promote or delete without another test seeing it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.predict.uci import build_uci

FAST = ("--folds", "2", "--kfold-rows", "1500")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINMATCH_THREADS", "1")


@pytest.fixture(scope="session")
def uci_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import UCI_CSV, UCI_VENDORED

    csv = UCI_CSV if UCI_CSV.exists() else UCI_VENDORED
    path = build_uci(csv, tmp_path_factory.mktemp("uci") / "uci.duckdb")
    path.chmod(0o444)
    return path


@pytest.fixture(scope="session")
def trained_once(match_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Promoted conversion and churn models trained once, in a folder of their own (``data/`` under it)."""
    work = tmp_path_factory.mktemp("trained")
    db = work / "match.duckdb"
    shutil.copyfile(match_db, db)
    db.chmod(0o644)
    out: dict = {"work": work, "db": db}
    with pytest.MonkeyPatch.context() as mp:  # what the autouse `isolated` fixture does for one test
        for key in list(os.environ):
            if key.startswith(("FINMATCH_", "OPENAI_")):
                mp.delenv(key)
        mp.setenv("HOME", str(work / "home"))
        mp.setenv("FINMATCH_THREADS", "1")
        mp.chdir(work)
        cli = Cli()
        for task in ("conversion", "churn"):
            result = cli("predict", "train", task, "--db", db, "--promote", "--json", *FAST)
            assert result.exit_code == 0, result.stderr
            out[task] = json.loads(result.stdout.splitlines()[-1])
    db.chmod(0o444)
    return out


@pytest.fixture
def trained(trained_once: dict, tmp_path: Path) -> dict:
    """The session's promoted models on a private copy of the match database and of the state folder
    (``./data``, the default state folder of the test's working directory)."""
    db = tmp_path / "match-copy.duckdb"
    shutil.copyfile(trained_once["db"], db)
    db.chmod(0o644)
    shutil.copytree(trained_once["work"] / "data", tmp_path / "data")
    return {"db": db, "conversion": trained_once["conversion"], "churn": trained_once["churn"]}
