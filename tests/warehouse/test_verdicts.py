"""Remembered guard verdicts: a statement that passed skips the parser in a later process; refusals never stick."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finmatch_agents.errors import SQLRefused
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse import guard, verdicts
from finmatch_agents.warehouse.engine import DuckDBEngine
from finmatch_agents.warehouse.sqltext import Checked

KNOWN = frozenset({"fpr_records", "products"})
SQL = "SELECT customer_segment, count(*) AS n FROM fpr_records GROUP BY 1"


def _new_process() -> None:
    """What a new process sees: the file written at exit, nothing in memory."""
    for store in verdicts._STORES.values():
        store.flush()
    verdicts._STORES.clear()


def _parser_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = guard.check

    def counting(sql: str, known: frozenset[str], *, dialect: str = "duckdb") -> Checked:
        calls.append(sql)
        return real(sql, known, dialect=dialect)

    monkeypatch.setattr(guard, "check", counting)
    return calls


def test_a_statement_that_passed_skips_the_parser_in_the_next_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _parser_calls(monkeypatch)
    first = verdicts.check(SQL, KNOWN)
    assert first.tables == ("fpr_records",) and len(calls) == 1
    _new_process()
    again = verdicts.check(SQL, KNOWN)
    assert again == first and len(calls) == 1
    stored = verdicts.cache_path().read_text(encoding="utf-8")
    assert "customer_segment" not in stored and "SELECT" not in stored  # hashes and table names only
    assert list(json.loads(stored)["verdicts"].values()) == [["fpr_records"]]


def test_a_refusal_is_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _parser_calls(monkeypatch)
    bad = "SELECT * FROM read_csv('/etc/passwd')"
    for _ in range(2):
        with pytest.raises(SQLRefused) as refused:
            verdicts.check(bad, KNOWN)
        assert refused.value.rule == "file-function"
        _new_process()
    assert len(calls) == 2 and not verdicts.cache_path().exists()


def test_the_same_text_over_other_tables_is_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _parser_calls(monkeypatch)
    verdicts.check(SQL, KNOWN)
    _new_process()
    with pytest.raises(SQLRefused) as refused:
        verdicts.check(SQL, frozenset({"products"}))  # fpr_records is not known here: the verdict differs
    assert refused.value.rule == "unknown-table" and len(calls) == 2


def test_a_changed_guard_invalidates_every_remembered_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _parser_calls(monkeypatch)
    verdicts.check(SQL, KNOWN)
    _new_process()
    monkeypatch.setattr(verdicts, "_version", lambda: "another guard")
    verdicts.check(SQL, KNOWN)
    assert len(calls) == 2
    verdicts.check(SQL, KNOWN, dialect="spark")  # the same text in another dialect is another verdict
    assert len(calls) == 3


def test_a_corrupt_or_unwritable_cache_never_fails_a_query(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = verdicts.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"verdicts": [1, 2', encoding="utf-8")
    assert verdicts.check(SQL, KNOWN).tables == ("fpr_records",)
    _new_process()
    assert json.loads(path.read_text(encoding="utf-8"))["verdicts"]  # rewritten whole
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file-not-folder"))
    (tmp_path / "file-not-folder").write_text("x", encoding="utf-8")
    assert verdicts.check(SQL + " ORDER BY 1", KNOWN).tables == ("fpr_records",)
    _new_process()  # cannot write: nothing raised, no partial file left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_second_one_shot_process_does_not_load_the_parser(small_db: Path, tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from finmatch_agents.evidence import QueryLog\n"
        "from finmatch_agents.warehouse.engine import DuckDBEngine\n"
        f"with DuckDBEngine({str(small_db)!r}) as e:\n"
        # sorted: GROUP BY gives its groups in any order
        f"    print(sorted(e.query({SQL!r}, log=QueryLog()).rows)[:1], 'sqlglot' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
            for _ in range(2)]
    assert runs[0].stdout.split()[-1] == "True" and runs[1].stdout.split()[-1] == "False"
    assert runs[0].stdout.rsplit(" ", 1)[0] == runs[1].stdout.rsplit(" ", 1)[0]  # the same rows


def test_the_engine_still_refuses_through_the_remembered_path(small_db: Path) -> None:
    with DuckDBEngine(small_db) as engine:
        engine.query(SQL, log=QueryLog())
        _new_process()
        with pytest.raises(SQLRefused) as refused:
            engine.query("SELECT getenv('HOME')", log=QueryLog())
    assert refused.value.rule == "forbidden-function"
