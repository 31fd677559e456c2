"""One sandbox engine over the shared small database for the similarity tests (the index is built once per
process and ranker: the api caches it by database file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits
from tests.similar.dev_cases import DEV_CASES
from tests.similar.evaluate import Truth, truth


@pytest.fixture(scope="session")
def similar_truth(small_db: Path) -> Truth:
    """The evaluation set's truth, from plain SQL (before the sandbox opens the file)."""
    return truth(small_db)


@pytest.fixture(scope="session")
def similar_dev_truth(small_db: Path) -> Truth:
    """The development set's truth, likewise."""
    return truth(small_db, DEV_CASES)


@pytest.fixture(scope="session")
def similar_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("similar-state")


@pytest.fixture
def sim(small_db: Path, similar_truth: Truth, similar_dev_truth: Truth, similar_state: Path
        ) -> Iterator[dict[str, Any]]:
    settings = load_settings(config_path=None, env={}, allow_missing=True, db=small_db, state_dir=similar_state)
    with DuckDBEngine(small_db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine:
        yield {"settings": settings, "engine": engine, "log": QueryLog(), "db": small_db, "truth": similar_truth,
               "dev_truth": similar_dev_truth}
