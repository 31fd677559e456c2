"""Fixtures for the predictive models: one thread for the fits (the machine is shared), a trained state."""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture
def trained(cli, match_copy: Path) -> dict:
    """Promoted conversion and churn models on a private copy of the match database."""
    import json

    out = {}
    for task in ("conversion", "churn"):
        result = cli("predict", "train", task, "--db", match_copy, "--promote", "--json", *FAST)
        assert result.exit_code == 0, result.stderr
        out[task] = json.loads(result.stdout.splitlines()[-1])
    return {"db": match_copy, **out}
