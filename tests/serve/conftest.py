"""A real server for the API tests: uvicorn on a free 127.0.0.1 port in a thread, called with httpx.

One server is shared by the module's tests (its engines load once): the 2,000-customer match database, a
promoted conversion model (no churn model: that path is tested too), two fake model endpoints that fail
(HTTP 500, and a stall past the timeout) and keys with different scopes.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.fake_openai import FakeOpenAI, Reply


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@dataclass
class Served:
    url: str
    state: Path
    db: Path
    keys: dict[str, str]
    settings: object
    server: object  # finmatch_agents.serve.app.Server
    fail: FakeOpenAI
    stall: FakeOpenAI

    def client(self, key: str | None = "reader", **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=300, **kw)  # type: ignore[arg-type]


def train_tiny(db: Path, state: Path, task: str = "conversion") -> None:
    """Train and promote ``task`` through the real training path, with a tiny model (a few boosting rounds, few
    resamples): the API serves whatever is promoted, and a full-size fit would cost the suite seconds."""
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.match.store import fingerprint
    from finmatch_agents.predict import explain, models, registry
    from finmatch_agents.predict.train import TrainOptions, train_task
    from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "GBM_PARAMS", {**models.GBM_PARAMS, "max_iter": 8, "max_leaf_nodes": 7})
        mp.setattr(explain, "REPEATS", 1)
        mp.setattr(explain, "IMPORTANCE_ROWS", 500)
        engine = DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=120, threads=1, memory_limit="1GB"))
        log = QueryLog()
        with engine, models.limit_threads(1):
            result = train_task(engine, log, "fpr_records", task, TrainOptions(folds=0, resamples=10))
            fp = fingerprint(engine, log, "fpr_records")
    registry.promote(state, registry.save(state, result, db=str(db), fingerprint=fp).id)


@pytest.fixture(scope="module")
def served(match_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from finmatch_agents.config import load_settings
    from finmatch_agents.serve.app import Server, create_app
    from finmatch_agents.serve.keys import add_key

    root = tmp_path_factory.mktemp("serve")
    db = root / "serve.duckdb"
    shutil.copyfile(match_db, db)
    db.chmod(0o644)
    state = root / "state"
    env = {"FINMATCH_DB": str(db), "FINMATCH_STATE_DIR": str(state), "FINMATCH_REPORTS_DIR": str(root / "reports"),
           "FINMATCH_THREADS": "1", "FINMATCH_CONFIG": str(root / "finmatch.toml")}
    with contextlib.ExitStack() as stack:
        fail = stack.enter_context(FakeOpenAI(lambda body: Reply(status=500, error="the endpoint broke")))
        stall = stack.enter_context(FakeOpenAI(lambda body: Reply(content="late", delay=5.0)))
        (root / "finmatch.toml").write_text(
            f'[models.broken]\nbase_url = "{fail.base_url}"\nmodel = "fake-model"\nmax_retries = 0\ntimeout = 5\n\n'
            f'[models.slow]\nbase_url = "{stall.base_url}"\nmodel = "fake-model"\nmax_retries = 0\ntimeout = 1\n')
        train_tiny(db, state)
        keys = {}
        for name, scopes in (("reader", ["read"]), ("analyst", ["read", "analyze"]), ("writer", ["feedback"])):
            keys[name] = add_key(state, name, scopes)[1]
        keys["slowpoke"] = add_key(state, "slowpoke", ["read"], rate_limit=6)[1]
        settings = load_settings(config_path=root / "finmatch.toml", env=env)
        server = Server.build(settings, idle=0.5)
        app = create_app(settings, server=server)
        live = stack.enter_context(LiveServer(app))
        yield Served(live.url, state, db, keys, settings, server, fail, stall)
