"""Prefetched statements (the profile's independent scans run concurrently): what is logged and returned is
exactly what the same ``query`` calls log and return one after another."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.data.profile import profile_dataset
from finmatch_agents.errors import SQLRefused
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse.engine import DuckDBEngine

COUNT = "SELECT count(*) AS n FROM fpr_records"
SEGMENTS = "SELECT customer_segment, count(*) AS n FROM fpr_records GROUP BY 1 ORDER BY 1"


def _timeless(record: object) -> dict[str, object]:
    return {k: v for k, v in record.model_dump().items() if k not in ("elapsed_ms", "ts")}  # type: ignore[attr-defined]


def _calls(engine: DuckDBEngine, log: QueryLog) -> list[object]:
    a = engine.query(SEGMENTS, log=log, title="segments", units={"n": "count"})
    b = engine.query(COUNT, log=log, title="count")
    return [a.rows, a.id, b.rows, b.id]


def test_a_prefetched_statement_is_logged_by_the_call_that_asks_for_it(small_db: Path) -> None:
    with DuckDBEngine(small_db) as engine:
        plain_log = QueryLog(agent="a", step="s")
        plain = _calls(engine, plain_log)
        fetched_log = QueryLog(agent="a", step="s")
        engine.prefetch(COUNT, SEGMENTS)  # started in the other order: the calls decide ids and order
        fetched = _calls(engine, fetched_log)
    assert fetched == plain
    assert [_timeless(q) for q in fetched_log.records] == [_timeless(q) for q in plain_log.records]
    assert [q.id for q in fetched_log.records] == ["Q1", "Q2"] and fetched_log.records[0].units == {"n": "count"}


def test_a_refused_prefetch_is_refused_by_the_call_and_logged_once(small_db: Path) -> None:
    bad = "SELECT * FROM read_csv('/etc/passwd')"
    with DuckDBEngine(small_db) as engine:
        engine.prefetch(bad)
        log = QueryLog()
        with pytest.raises(SQLRefused):
            engine.query(bad, log=log, title="bad")
        assert [(q.id, q.status, q.title) for q in log.records] == [("Q1", "refused", "bad")]
        again = QueryLog()
        with pytest.raises(SQLRefused):  # adopted once: a second call runs (and is refused) on its own
            engine.query(bad, log=again)
        assert len(again.records) == 1


def test_a_call_with_other_limits_runs_its_own_statement_and_unused_prefetches_end_at_close(small_db: Path
                                                                                            ) -> None:
    engine = DuckDBEngine(small_db)
    engine.prefetch(SEGMENTS, COUNT)
    log = QueryLog()
    capped = engine.query(SEGMENTS, log=log, max_rows=1)
    assert capped.truncated and len(capped.rows) == 1  # not the prefetched (uncapped) result
    engine.close()  # COUNT was never asked for: dropped, nothing logged, no thread left waiting
    assert [q.id for q in log.records] == ["Q1"]


def test_the_profile_is_the_same_with_and_without_prefetching(small_db: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    with DuckDBEngine(small_db) as engine:
        fetched_log = QueryLog()
        fetched = profile_dataset(engine, fetched_log, "fpr_records")
    monkeypatch.delattr(DuckDBEngine, "prefetch")
    with DuckDBEngine(small_db) as engine:
        plain_log = QueryLog()
        plain = profile_dataset(engine, plain_log, "fpr_records")
    assert fetched == plain
    assert [(q.id, q.title, q.sql, q.rows) for q in fetched_log.records] == \
        [(q.id, q.title, q.sql, q.rows) for q in plain_log.records]
