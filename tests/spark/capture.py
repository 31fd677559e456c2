"""The named queries as FinMatch's own callers run them: every call's name and parameters, recorded while the
real code paths (the offline analysis, the dashboard, the profile, the engines' feature and data loaders, the
chat's verified questions) run on DuckDB. tests/spark/test_parity.py replays each on DuckDB and on Spark.

The recording wraps :func:`named.run`, :func:`named.statement` and :func:`named.build_run_table` (every caller
reaches the SQL through them); nothing else is changed, so the calls are exactly the ones production makes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmatch_agents.data.schema import STATUS_PARAMS
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse import named


@dataclass(frozen=True)
class Call:
    name: str
    params: tuple[tuple[str, Any], ...]  # sorted (key, value); values hashable (lists as tuples)
    present: frozenset[str]
    caller: str

    def kwargs(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}


def _freeze(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))


@contextlib.contextmanager
def recording(calls: list[Call], caller: list[str]) -> Iterator[None]:
    run, statement, build = named.run, named.statement, named.build_run_table

    def note(name: str, present: set[str], params: dict[str, Any]) -> None:
        calls.append(Call(name, _freeze(params), frozenset(present), caller[0]))

    def rec_run(engine: Any, log: QueryLog, name: str, *, present: set[str], title: str | None = None,
                **params: Any) -> Any:
        note(name, present, params)
        query = named.load(name)
        if query.variant is not None:  # the run-table variant with the same parameters
            note(query.variant, present, params)
        return run(engine, log, name, present=present, title=title, **params)

    def rec_statement(name: str, *, present: set[str], dialect: str = "duckdb", **params: Any) -> str | None:
        note(name, present, params)
        return statement(name, present=present, dialect=dialect, **params)

    def rec_build(engine: Any, log: QueryLog, run_table: str, /, *, present: set[str], **params: Any) -> bool:
        definition, checks = named.RUN_TABLES[run_table]
        for name in (definition, *checks):
            note(name, present, params)
        return build(engine, log, run_table, present=present, **params)

    named.run, named.statement, named.build_run_table = rec_run, rec_statement, rec_build  # type: ignore[assignment]
    try:
        yield
    finally:
        named.run, named.statement, named.build_run_table = run, statement, build  # type: ignore[assignment]


def capture(db: Path, workdir: Path) -> list[Call]:
    """Run the callers on ``db`` (DuckDB) and return every named-query call they made, in order."""
    from finmatch_agents.config import load_settings
    from finmatch_agents.data.profile import profile_dataset
    from finmatch_agents.features.build import build_customer_features, present_columns
    from finmatch_agents.features.products import load_catalogue
    from finmatch_agents.metrics import compute_dashboard
    from finmatch_agents.predict.tasks import TASK_NAMES, get_task
    from finmatch_agents.predict.train import load_frame
    from finmatch_agents.recommend.data import load_book
    from finmatch_agents.runner import RunRequest, run_analysis
    from finmatch_agents.warehouse.engine import open_engine

    calls: list[Call] = []
    caller = ["?"]
    here = Path.cwd()
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    try:
        settings = load_settings(db=db, env={})
        table = settings.table
        with recording(calls, caller):
            caller[0] = "analysis"
            run_analysis(settings, RunRequest(focus=["all"]), lambda _e: None)
            engine = open_engine(settings)
            try:
                log = QueryLog()
                caller[0] = "profile"
                profile_dataset(engine, log, table)
                caller[0] = "dashboard"
                compute_dashboard(engine, log, table=table)
                present = present_columns(engine, table)
                caller[0] = "features"
                build_customer_features(engine, log, table, present)
                caller[0] = "features-few"  # `match customer` / explain: a few customers, one statement
                build_customer_features(engine, log, table, present, customers=["C0000042", "C0000777", "C0012345"])
                load_catalogue(engine, log, present)
                caller[0] = "recommend"
                load_book(engine, log, table)
                caller[0] = "predict"
                for task in TASK_NAMES:
                    load_frame(engine, log, table, get_task(task), set())
            finally:
                engine.close()
            caller[0] = "chat"
            _chat(settings)
    finally:
        os.chdir(here)
    return calls


def _chat(settings: Any) -> None:
    from finmatch_agents.chat.questions import LIBRARY, match
    from finmatch_agents.chat.session import ChatSession

    session = ChatSession(settings, "parity")
    try:
        for question in LIBRARY:  # each canonical wording, matched as the chat matches a user's text
            found = match(question.question)
            if found is not None and found.question.query is not None:
                session.named(found.question.query, **found.params)
    finally:
        session.close()


STATUS = dict(STATUS_PARAMS)
