"""What one worker loads once and lends to requests: the sandbox, the matching engine, the promoted models.

* :class:`SandboxGate` lends the read-only DuckDB sandbox to requests that run SQL (questions, close ids,
  the engines behind :mod:`serve.adapters`). It opens the file on first use and closes it once no request has
  used it for ``idle`` seconds, so ``finmatch data load`` can take the file between bursts of questions. While
  a write holds the file, opening waits up to ``wait`` seconds, then the request gets 503 ``busy``.
* :class:`Loaded` is one consistent snapshot of the artefacts: the customer feature frame of the whole book,
  the catalogue, a matcher per parameter set, and for each task its promoted model with its scoring rows.
  Matches and scores are computed from it in memory: no SQL per request, and the file stays free.
* :class:`Engines` checks, at most once a second, whether the database file or the promoted models changed.
  If they did, a new snapshot is built in a background thread while requests keep using the old one, then
  swapped in (``finmatch_engine_loads`` counts the loads).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.errors import Busy, FinMatchError, UsageError
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.features import build_customer_features, present_columns
from finmatch_agents.features.products import load_catalogue
from finmatch_agents.match.engine import Matcher
from finmatch_agents.match.explain import explain_customer
from finmatch_agents.match.params import MatchParams, parse_weights
from finmatch_agents.predict import registry
from finmatch_agents.predict.explain import describe_reasons, reason_effects, top_inputs
from finmatch_agents.predict.score import scoring_frame
from finmatch_agents.predict.tasks import TASKS
from finmatch_agents.serve.errors import ApiError, engine_unavailable, not_found
from finmatch_agents.serve.match_body import MatchBody
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits, open_engine

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.features.products import Catalogue
    from finmatch_agents.predict.frame import Frame
    from finmatch_agents.predict.models import Fitted
    from finmatch_agents.predict.registry import ModelInfo
    from finmatch_agents.serve.observe import Metrics

log = logging.getLogger("finmatch.serve")
DEFAULT_TOP = 3
#: matchers kept per worker (one per distinct mode/top/weights/shortlist asked for)
MATCHER_CACHE = 8
#: the tasks `GET /v1/customers/{id}/scores` serves (nba is a batch ranking: `finmatch predict score nba`)
SCORE_TASKS = ("conversion", "churn")


def audit_log(settings: Settings, source: str) -> QueryLog:
    return QueryLog(sinks=[AuditLog(settings.state_dir / "sql-audit.jsonl", source)])


class SandboxGate:
    """The worker's read-only sandbox, opened on demand and closed when idle.

    One janitor thread (started with the first lease) closes the connection once no request has used it for
    ``idle`` seconds; a lease only stamps the time, so a request starts no thread of its own."""

    def __init__(self, settings: Settings, *, idle: float = 2.0, wait: float = 5.0) -> None:
        self.settings, self.idle, self.wait = settings, idle, wait
        self._lock = threading.Condition()
        self._engine: DuckDBEngine | None = None
        self._users = 0
        self._exclusive = False
        self._idle_since = 0.0
        self._janitor: threading.Thread | None = None
        self._stop = threading.Event()
        self.opens = 0

    def _open(self) -> DuckDBEngine:
        deadline = time.monotonic() + self.wait
        delay = 0.05
        while True:
            try:
                engine = open_engine(self.settings)
                self.opens += 1
                return engine
            except Busy:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @contextlib.contextmanager
    def lease(self) -> Iterator[DuckDBEngine]:
        with self._lock:
            if not self._lock.wait_for(lambda: not self._exclusive, timeout=self.wait):
                raise Busy("the database is being written by this server", hint="retry in a moment")
            if self._engine is None:
                self._engine = self._open()
                if self._janitor is None or not self._janitor.is_alive() or self._stop.is_set():
                    self._stop = threading.Event()  # a janitor stopped by close() ends with its own event
                    self._janitor = threading.Thread(target=self._close_when_idle, args=(self._stop,),
                                                     name="finmatch-sandbox-idle", daemon=True)
                    self._janitor.start()
            self._users += 1
            engine = self._engine
        try:
            yield engine
        finally:
            with self._lock:
                self._users -= 1
                self._idle_since = time.monotonic()
                self._lock.notify_all()

    def _close_when_idle(self, stop: threading.Event) -> None:
        """The janitor: looks every quarter of ``idle`` (no request wakes it) until the gate is closed."""
        while not stop.wait(max(self.idle / 4, 0.01)):
            with self._lock:
                if (self._engine is not None and not self._users and not self._exclusive
                        and time.monotonic() - self._idle_since >= self.idle):
                    self._engine.close()
                    self._engine = None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """No lease while the block runs, and the connection closed: a write from this process can open the
        file (DuckDB admits a writer only alone). Waits up to ``wait`` seconds for running requests."""
        with self._lock:
            if not self._lock.wait_for(lambda: not self._exclusive, timeout=self.wait):
                raise Busy("another write of this server is running", hint="retry in a moment")
            self._exclusive = True
            if not self._lock.wait_for(lambda: self._users == 0, timeout=self.wait):
                self._exclusive = False
                self._lock.notify_all()
                raise Busy("requests are using the database", hint="retry in a moment")
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        try:
            yield
        finally:
            with self._lock:
                self._exclusive = False
                self._lock.notify_all()

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._engine is not None:
                self._engine.close()
            self._engine = None


@dataclass
class TaskScores:
    """A promoted model, every row it scores, and each row's score and top reasons, computed at load (a model
    call per request would cost more than the whole answer may: scikit-learn spends milliseconds per call)."""

    info: ModelInfo
    frame: Frame
    order: np.ndarray  # frame rows sorted by customer id
    sorted_ids: np.ndarray
    scores: np.ndarray
    top: np.ndarray  # rows x 3: input indices, largest effect first
    effects: np.ndarray  # rows x 3: their effects

    @classmethod
    def build(cls, info: ModelInfo, model: Fitted, frame: Frame) -> TaskScores:
        ids = frame.extra["customer_id"].astype(str)
        order = np.argsort(ids, kind="stable")
        scores, effects = reason_effects(model, frame.X, info.meta["reference"])
        top = top_inputs(effects, 3)
        return cls(info, frame, order, ids[order], scores, top.astype(np.int32),
                   np.take_along_axis(effects, top, axis=1))

    def rows_of(self, customer_id: str) -> np.ndarray:
        lo = int(np.searchsorted(self.sorted_ids, customer_id, side="left"))
        hi = int(np.searchsorted(self.sorted_ids, customer_id, side="right"))
        return np.sort(self.order[lo:hi])

    def score(self, customer_id: str) -> dict[str, Any]:
        """The customer's rows with scores and top reasons, as ``predict score TASK --customer ID --json``."""
        frame, info = self.frame, self.info
        reference = info.meta["reference"]
        out: list[dict[str, Any]] = []
        for i in self.rows_of(customer_id).tolist():
            row: dict[str, Any] = {"row_id": str(frame.row_id[i]), "score": float(self.scores[i]),
                                   "reasons": describe_reasons(frame.features, frame.X[i], reference, self.top[i],
                                                               self.effects[i])}
            if info.task == "conversion":
                row["product_id"] = str(frame.extra["product_id"][i])
            out.append(row)
        return {"model_id": info.id, "task": info.task, "holdout_auc": info.holdout_auc(), "rows": out}


@dataclass
class Loaded:
    """One consistent snapshot of a worker's artefacts."""

    stamp: tuple[Any, ...]
    loaded_at: float
    seconds: float
    customer_ids: np.ndarray | None = None  # sorted
    features: CustomerFeatures | None = None
    catalogue: Catalogue | None = None
    high_churn_threshold: float = 0.5
    scores: dict[str, TaskScores] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # engine or task -> why
    queries: dict[str, str] = field(default_factory=dict)
    _matchers: OrderedDict[tuple[Any, ...], Matcher] = field(default_factory=OrderedDict)
    _bodies: dict[tuple[Any, ...], MatchBody] = field(default_factory=dict)  # beside each kept matcher
    _params: dict[tuple[Any, ...], MatchParams] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def knows(self, customer_id: str) -> bool | None:
        """Whether the customer is in the data (None when no customer list could be loaded)."""
        if self.customer_ids is None:
            return None
        i = int(np.searchsorted(self.customer_ids, customer_id))
        return i < len(self.customer_ids) and self.customer_ids[i] == customer_id

    def params(self, mode: str, top: int | None, weights: str | None, shortlist: int | None) -> MatchParams:
        """The match parameters of a request; a bad one is 422 naming the query parameter. Valid ones are kept
        (a few per worker: requests mostly repeat the same query), so a request parses none."""
        found = self._params.get((mode, top, weights, shortlist))
        if found is not None:
            return found
        parsed = self._parse_params(mode, top, weights, shortlist)
        if len(self._params) < MATCHER_CACHE * 4:
            self._params[(mode, top, weights, shortlist)] = parsed
        return parsed

    def _parse_params(self, mode: str, top: int | None, weights: str | None, shortlist: int | None) -> MatchParams:
        products = self.catalogue.m if self.catalogue is not None else None
        if top is None:
            top = min(DEFAULT_TOP, products) if products else DEFAULT_TOP
        try:
            parsed = parse_weights(weights)
        except UsageError as exc:
            raise invalid("weights", exc.message.removeprefix("--weights: ")) from None
        try:
            return MatchParams(mode=mode, top=top, weights=parsed, shortlist=shortlist,
                               high_churn_threshold=self.high_churn_threshold)
        except UsageError as exc:
            name = "mode" if "--mode" in exc.message else ("shortlist" if "--shortlist" in exc.message else "top")
            raise invalid(name, exc.message.replace("--", "")) from None

    def matcher(self, params: MatchParams, *, keep_blocks: bool = False) -> tuple[Matcher, bool]:
        """The matcher for ``params`` and whether it was built now (a cache miss costs one pass over the book).
        ``keep_blocks``: it computes the engine's blocks now and keeps them (the default parameters only, at
        load, so the memory stays one matcher's: about 2 KB per customer, books up to 50,000 customers)."""
        assert self.features is not None and self.catalogue is not None
        key = _matcher_key(params)
        with self._lock:
            found = self._matchers.get(key)
            if found is not None:
                self._matchers.move_to_end(key)
                return found, False
        if params.top > self.catalogue.m:
            raise invalid("top", f"top {params.top} is larger than the catalogue ({self.catalogue.m} products)")
        built = Matcher(self.features, self.catalogue, params)
        if keep_blocks:
            built.keep_blocks().fill_blocks()
        with self._lock:
            self._matchers[key] = built
            while len(self._matchers) > MATCHER_CACHE:
                evicted, _ = self._matchers.popitem(last=False)
                self._bodies.pop(evicted, None)
        return built, True

    def has_matcher(self, params: MatchParams) -> bool:
        return _matcher_key(params) in self._matchers

    def _customer_row(self, customer_id: str, params: MatchParams) -> tuple[CustomerFeatures, Catalogue, int, Any]:
        """The loaded book and catalogue, the customer's row in it and the matcher for ``params`` (KeyError: not
        in the book)."""
        features, catalogue = self.features, self.catalogue
        if features is None or catalogue is None:
            raise engine_missing("match", self.unavailable.get("match", "not loaded"))
        row = features.index_of(customer_id)
        if row is None:
            raise KeyError(customer_id)
        matcher, _ = self.matcher(params)
        return features, catalogue, row, matcher

    def explain(self, customer_id: str, params: MatchParams) -> dict[str, Any]:
        """``finmatch match customer ID --json`` for one customer of the loaded book."""
        features, catalogue, row, matcher = self._customer_row(customer_id, params)
        detail = explain_customer(features, catalogue, params, row, matcher)
        return {**detail, "params": params.to_dict()}

    def explain_json(self, customer_id: str, params: MatchParams) -> bytes:
        """:meth:`explain` as the JSON bytes the API sends (the same bytes, written without the objects: see
        :mod:`serve.match_body`)."""
        features, catalogue, row, matcher = self._customer_row(customer_id, params)
        key = _matcher_key(params)
        body = self._bodies.get(key)
        if body is None or body.matcher is not matcher:
            body = MatchBody(features, catalogue, params, matcher)
            with self._lock:
                if self._matchers.get(key) is matcher:
                    self._bodies[key] = body
        return body.body(row)


def _matcher_key(params: MatchParams) -> tuple[Any, ...]:
    return (params.mode, params.top, tuple(sorted(params.weights.items())), params.shortlist)


def invalid(name: str, message: str) -> ApiError:
    return ApiError(422, "invalid-request", "Invalid request", f"{name}: {message}", field=name,
                    errors=[{"field": name, "message": message}])


def engine_missing(engine: str, why: str) -> ApiError:
    return engine_unavailable(engine, why)


def file_stamp(*paths: os.PathLike[str] | str) -> tuple[Any, ...]:
    out: list[Any] = []
    for p in paths:
        try:
            st = Path(p).stat()
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


class Engines:
    """The worker's artefacts: loaded once, reloaded in the background when the data or a promotion changes."""

    def __init__(self, settings: Settings, gate: SandboxGate, metrics: Metrics | None = None, *,
                 check_every: float = 1.0) -> None:
        self.settings, self.gate, self.metrics = settings, gate, metrics
        self.check_every = check_every
        self.current: Loaded | None = None
        self._checked = 0.0
        self._reloading = threading.Lock()
        self.last_error: str | None = None
        self.listeners: list[Callable[[Loaded], None]] = []

    def stamp(self) -> tuple[Any, ...]:
        db = self.settings.db
        models = registry.root(self.settings.state_dir) / registry.PROMOTED
        return file_stamp(db, f"{db}.wal", models)

    def load(self) -> Loaded:
        """Build a snapshot now (start-up, and the background reload)."""
        stamp = self.stamp()
        started = time.perf_counter()
        s = self.settings
        loaded = Loaded(stamp=stamp, loaded_at=time.time(), seconds=0.0,
                        high_churn_threshold=float(load_assumptions(s)["high_churn_threshold"]))
        qlog = audit_log(s, "serve-load")
        # the CLI's engines read whole result sets below the hard row cap (match, predict: _open)
        engine = DuckDBEngine(s.db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=max(s.sql_timeout, 120.0),
                                                  threads=s.effective_threads, memory_limit=s.memory_limit))
        with engine:
            if not engine.has_table(s.table):
                loaded.unavailable["match"] = loaded.unavailable["scores"] = f"table '{s.table}' is not in {s.db}"
            else:
                self._load_match(engine, qlog, loaded)
                self._load_scores(engine, qlog, loaded)
        loaded.seconds = round(time.perf_counter() - started, 2)
        for name in ("match", *SCORE_TASKS):
            ok = name not in loaded.unavailable and (name == "match" or name in loaded.scores)
            if self.metrics is not None:
                self.metrics.loads.labels(engine=name, status="ok" if ok else "unavailable").inc()
        return loaded

    def _load_match(self, engine: DuckDBEngine, qlog: QueryLog, loaded: Loaded) -> None:
        s = self.settings
        present = present_columns(engine, s.table, "products")
        try:
            features = build_customer_features(engine, qlog, s.table, present, products="products")
        except FinMatchError as exc:
            loaded.unavailable["match"] = exc.message
            return
        loaded.features = features
        loaded.customer_ids = features.customer_ids
        loaded.queries.update(features.queries)
        try:
            loaded.catalogue = load_catalogue(engine, qlog, present, "products")
            params = loaded.params("auto", None, None, None)
            loaded.matcher(params, keep_blocks=True)  # built at load, not by the first request
        except FinMatchError as exc:
            loaded.catalogue = None
            loaded.unavailable["match"] = exc.message

    def _load_scores(self, engine: DuckDBEngine, qlog: QueryLog, loaded: Loaded) -> None:
        s = self.settings
        for task in SCORE_TASKS:
            assert task in TASKS
            try:
                info = registry.promoted(s.state_dir, task)
                if info is None:
                    loaded.unavailable[task] = (f"no promoted {task} model (train one with `finmatch predict train "
                                                f"{task} --promote`)")
                    continue
                model = registry.load(info)
                frame = scoring_frame(engine, qlog, s.table, info)
                loaded.scores[task] = TaskScores.build(info, model, frame)
            except FinMatchError as exc:
                loaded.unavailable[task] = exc.message

    # -- the snapshot requests use ----------------------------------------------------------------------
    def start(self) -> Loaded:
        self.current = self.load()
        return self.current

    def snapshot(self) -> Loaded:
        """The current snapshot; at most once a second, starts a background reload if something changed."""
        now = time.monotonic()
        current = self.current
        if current is None:
            raise engine_missing("match", "the server is still loading")
        if now - self._checked >= self.check_every:
            self._checked = now
            if self.stamp() != current.stamp and not self._reloading.locked():
                threading.Thread(target=self._reload, name="finmatch-reload", daemon=True).start()
        return current

    def _reload(self) -> None:
        if not self._reloading.acquire(blocking=False):
            return
        try:
            fresh = self.load()
        except FinMatchError as exc:  # e.g. busy while `data load` writes: the next check tries again
            self.last_error = f"{exc.title}: {exc.message}"
            log.warning("reload failed: %s", self.last_error)
            return
        finally:
            self._reloading.release()
        self.current, self.last_error = fresh, None
        log.info("engines reloaded in %.2f s", fresh.seconds)
        for listener in self.listeners:
            listener(fresh)

    @contextlib.contextmanager
    def writing(self, wait: float) -> Iterator[None]:
        """A write of this server's own that the snapshot does not read (feedback): no reload while it runs
        (a reload opens its own connection, and DuckDB admits a writer from this process only alone), and none
        because of it afterwards. Waits up to ``wait`` seconds for a running reload, then answers busy."""
        if not self._reloading.acquire(timeout=wait):
            raise Busy("the engines are reloading from the database", hint="retry in a moment")
        before = self.stamp()
        try:
            yield
        finally:
            current = self.current
            if current is not None and current.stamp == before:  # nothing else changed meanwhile
                current.stamp = self.stamp()
            self._reloading.release()

    def wait_reloaded(self, previous: Loaded, timeout: float = 30.0) -> Loaded:
        """For tests and the bench: block until a snapshot newer than ``previous`` is in place."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.snapshot()
            if self.current is not previous:
                assert self.current is not None
                return self.current
            time.sleep(0.05)
        raise TimeoutError("no reload")

    def close_ids(self, customer_id: str) -> list[str]:
        """The three closest customer ids (the CLI's `features/close_ids` query, through the sandbox)."""
        s = self.settings
        with self.gate.lease() as engine:
            present = present_columns(engine, s.table, "products")
            res = named.run(engine, audit_log(s, "serve"), "features/close_ids", present=present, table=s.table,
                            customer=customer_id)
        return [str(r["customer_id"]) for r in res.dicts()] if not isinstance(res, named.Skipped) else []

    def unknown_customer(self, customer_id: str) -> ApiError:
        try:
            close = self.close_ids(customer_id)
        except FinMatchError:
            close = []
        return not_found("customer", customer_id, close)
