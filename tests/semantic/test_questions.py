"""The evaluation set runs in the test command: every answer's figures against independent SQL, on the shared
small synthetic database and on the vendored UCI Bank Marketing file. Target: no wrong answer, at least 90% of
the answerable questions answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.chat.session import ChatSession
from finmatch_agents.config import load_settings
from finmatch_agents.data.loader import load_file
from finmatch_agents.data.mapping import load_mapping
from tests.semantic import cases_default, cases_uci
from tests.semantic.evaluate import evaluate, expected_values

REPO = Path(__file__).resolve().parents[2]


def run_set(db: Path, cases: list, name: str) -> None:
    expected = expected_values(db, cases)
    session = ChatSession(load_settings(db=db, env={}), f"eval-{name}")
    try:
        score = evaluate(session, cases, expected)
    finally:
        session.close()
    print(score.line(name))
    print("\n".join(score.problems))
    assert score.wrong == 0, "\n".join(p for p in score.problems if p.startswith("WRONG"))
    assert score.answered_share >= 0.9, "\n".join(score.problems)


def test_the_default_data_set(small_db: Path, isolated: Path) -> None:
    assert len(cases_default.CASES) >= 150
    run_set(small_db, cases_default.CASES, "default")


@pytest.fixture(scope="module")
def uci_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import UCI_CSV, UCI_VENDORED

    db = tmp_path_factory.mktemp("uci") / "uci.duckdb"
    source = UCI_CSV if UCI_CSV.exists() else UCI_VENDORED
    load_file(db, source, mapping=load_mapping(REPO / "examples" / "bank-marketing.toml"))
    return db


def test_the_uci_data_set(uci_db: Path, isolated: Path) -> None:
    assert len(cases_uci.CASES) >= 50
    run_set(uci_db, cases_uci.CASES, "uci")
