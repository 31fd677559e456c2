"""The FastAPI application: routes under ``/v1``, authentication, limits, errors, access log and metrics.

``create_app(settings)`` builds it; everything a worker holds (keys, limiter, sandbox, engines, chat
sessions, analyses, metrics) lives in one :class:`Server` made at start-up. Fast in-memory answers (matches,
scores) run on the event loop; anything that runs SQL, calls a model or reads the run store runs in the
thread pool, and analyses in threads of their own, so none of them holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from finmatch_agents import __version__
from finmatch_agents.errors import FinMatchError, UsageError
from finmatch_agents.formatting import json_default
from finmatch_agents.report.document import render_report
from finmatch_agents.report.files import parse_formats
from finmatch_agents.report.html import render_html
from finmatch_agents.runner import resolve_focus
from finmatch_agents.runs import RunStore
from finmatch_agents.serve import adapters
from finmatch_agents.serve.ask import Asker
from finmatch_agents.serve.engines import Engines, SandboxGate, audit_log, invalid
from finmatch_agents.serve.errors import (
    ApiError,
    engine_unavailable,
    error_body,
    forbidden,
    internal_error_body,
    not_found,
    unauthorized,
)
from finmatch_agents.serve.keys import ApiKey, KeyRing
from finmatch_agents.serve.limits import BodyLimit, RateLimiter
from finmatch_agents.serve.observe import PROMETHEUS_CONTENT_TYPE, Metrics, access_logger
from finmatch_agents.serve.runs import RunManager, events_path, read_events
from finmatch_agents.serve.schemas import (
    AskRequest,
    AskResponse,
    ErrorResponse,
    FeedbackRequest,
    Health,
    MatchResponse,
    RunDetail,
    RunRowModel,
    RunStarted,
    RunStartRequest,
    ScoresResponse,
    SimilarRequest,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from finmatch_agents.config import Settings

log = logging.getLogger("finmatch.serve")
#: seconds between SSE keep-alive comments, and between looks at a run's events file
SSE_KEEPALIVE = 15.0
SSE_POLL = 0.1
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 422, 429, 502, 503, 504)}
CustomerId = Annotated[str, Path(min_length=1, max_length=200, description="A customer id.")]
RunId = Annotated[str, Path(min_length=1, max_length=100, description="A run id (GET /v1/runs).")]


#: numbers from numpy as numbers; dates and dataclasses through ``json_default`` as the standard library does
_ORJSON = (orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
           | orjson.OPT_PASSTHROUGH_DATACLASS)


def dumps(obj: Any) -> bytes:
    """JSON bytes; NaN and infinities (never valid JSON) become null. orjson writes them (a 40 KB match
    explanation in a tenth of the standard library's time); what it cannot (an integer past 64 bits) goes
    through the standard library the same way."""
    try:
        return orjson.dumps(obj, default=json_default, option=_ORJSON)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        pass
    try:
        return json.dumps(obj, default=json_default, ensure_ascii=False, allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(obj), default=json_default, ensure_ascii=False).encode()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


class JSON(Response):
    """A JSON response serialised once, with the core's ``json_default`` (no second pass through pydantic)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class RawJSON(Response):
    """A JSON body already encoded (the matches body: :mod:`serve.match_body`); the same headers as :class:`JSON`."""

    media_type = "application/json"


def error_response(exc: FinMatchError) -> JSON:
    status, body, headers = error_body(exc)
    return JSON(body, status_code=status, headers=headers)


@dataclass
class Server:
    """Everything one worker holds."""

    settings: Settings
    metrics: Metrics
    keys: KeyRing
    limiter: RateLimiter
    gate: SandboxGate
    engines: Engines
    asker: Asker
    runs: RunManager

    @classmethod
    def build(cls, settings: Settings, *, idle: float = 2.0, max_runs: int = 2) -> Server:
        metrics = Metrics()
        gate = SandboxGate(settings, idle=idle)
        engines = Engines(settings, gate, metrics)
        asker = Asker(settings, gate, metrics)
        engines.listeners.append(asker.reset)
        return cls(settings, metrics, KeyRing(settings.state_dir), RateLimiter(settings.serve_rate_limit), gate,
                   engines, asker, RunManager(settings, metrics, max_active=max_runs))

    def close(self) -> None:
        self.runs.shutdown()
        self.asker.close()
        self.gate.close()


def server_of(request: Request) -> Server:
    server: Server = request.app.state.finmatch
    return server


def authorize(server: Server, header: str, name: str, scope: MutableMapping[str, Any]) -> ApiKey:
    """The key of an ``Authorization`` header, checked: valid, within its rate limit, with scope ``name``
    (401, 429 and 403 otherwise). Its name goes in the ASGI scope for the access log."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("this route needs an API key (Authorization: Bearer KEY)")
    now = time.monotonic()
    key = server.keys.verify(token.strip(), now)
    if key is None:
        raise unauthorized("the API key is not valid (unknown, mistyped or removed)")
    scope["finmatch.key"] = key.name
    server.limiter.check(key.key_id, now, key.rate_limit)
    if name not in key.scopes:
        raise forbidden(name, key.name)
    return key


def scope(name: str) -> Any:
    """A dependency: a valid bearer key with scope ``name``, within its rate limit."""

    async def check(request: Request) -> ApiKey:
        return authorize(server_of(request), request.headers.get("authorization", ""), name, request.scope)

    return Depends(check)


async def matches_json(server: Server, customer_id: str, mode: str, top: int | None, weights: str | None,
                       shortlist: int | None) -> bytes:
    """The body of ``GET /v1/customers/{id}/matches``."""
    snap = server.engines.snapshot()
    params = snap.params(mode, top, weights, shortlist)
    if snap.features is not None and snap.catalogue is not None and not snap.has_matcher(params):
        await run_in_threadpool(snap.matcher, params)  # a new parameter set: one pass over the book
    try:
        return snap.explain_json(customer_id, params)
    except KeyError:
        raise await run_in_threadpool(server.engines.unknown_customer, customer_id) from None


async def scores_json(server: Server, customer_id: str, task: list[str] | None) -> dict[str, Any]:
    """The body of ``GET /v1/customers/{id}/scores``."""
    snap = server.engines.snapshot()
    if snap.knows(customer_id) is False:
        raise await run_in_threadpool(server.engines.unknown_customer, customer_id)
    wanted = list(dict.fromkeys(task or ("conversion", "churn")))
    available = [t for t in wanted if t in snap.scores]
    if not available:
        raise engine_unavailable("scores", "; ".join(f"{t}: {snap.unavailable.get(t, 'not loaded')}"
                                                     for t in wanted))
    return {"customer_id": customer_id,
            "scores": {t: snap.scores[t].score(customer_id) for t in available},
            "unavailable": {t: snap.unavailable.get(t, "not loaded") for t in wanted if t not in available}}


#: the reads :class:`FastReads` answers: ``GET /v1/customers/{id}/<name>``
FAST_READS = ("matches", "scores")
CUSTOMERS_PREFIX = "/v1/customers/"


class FastReads:
    """ASGI middleware: the per-customer reads a CRM screen makes most, ``GET /v1/customers/{id}/matches`` and
    ``/scores`` with no query string, answered without FastAPI's per-request machinery (resolving the
    dependencies and validating the parameters costs about 0.15 ms of the worker's CPU, more than the
    scores themselves). They are answered by the same functions as the routes: :func:`authorize` (key, rate
    limit, scope), :func:`matches_json` / :func:`scores_json`, :func:`error_response`, and the route is set
    in the scope for the metrics and the access log. Anything else (a query string, another method, an id
    the route's validation refuses, a worker still starting) goes through FastAPI as before."""

    def __init__(self, app: ASGIApp, server_of: Any, routes: dict[str, Any]) -> None:
        self.app, self.server_of, self.routes = app, server_of, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string")
                or scope.get("root_path") or not scope["path"].startswith(CUSTOMERS_PREFIX)):
            await self.app(scope, receive, send)
            return
        customer_id, _, what = scope["path"][len(CUSTOMERS_PREFIX):].partition("/")
        route = self.routes.get(what)
        server: Server | None = self.server_of()
        if route is None or server is None or not 0 < len(customer_id) <= 200:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        header = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        response: Response
        try:
            authorize(server, header, "read", scope)
            if what == "matches":
                response = RawJSON(await matches_json(server, customer_id, "auto", None, None, None))
            else:
                response = JSON(await scores_json(server, customer_id, None))
        except FinMatchError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


class Observe:
    """ASGI middleware: one access-log line and the request metrics per request (after routing, so the
    metrics are labelled with the route template, never a customer id)."""

    def __init__(self, app: ASGIApp, metrics_of: Any) -> None:
        self.app, self.metrics_of = app, metrics_of
        self.access = access_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = 500, 0

        async def tracking(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics: Metrics | None = self.metrics_of()
            if metrics is not None:
                metrics.observe(template, scope["method"], status, seconds)
            if self.access.isEnabledFor(logging.INFO):
                self.access.info("%s %s %d %.1fms key=%s bytes=%d", scope["method"], scope["path"], status,
                                 seconds * 1000, scope.get("finmatch.key", "-"), size)


def _validation_error(exc: RequestValidationError) -> JSON:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        errors.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", "invalid"))})
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    body = {"error": {"code": "invalid-request", "title": "Invalid request", "status": 422,
                      "message": f"{first['field']}: {first['message']}", "hint": None, "field": first["field"],
                      "errors": errors}}
    return JSON(body, status_code=422)


_HTTP_CODES = {404: ("no-route", "Not found"), 405: ("method-not-allowed", "Method not allowed")}


def create_app(settings: Settings, *, server: Server | None = None, docs: bool = True) -> FastAPI:
    """The application; ``server`` is built (and its engines loaded) at start-up when not given."""
    holder: dict[str, Server] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = server or Server.build(settings)
        if built.engines.current is None:
            await run_in_threadpool(built.engines.start)
        app.state.finmatch = holder["server"] = built
        try:
            yield
        finally:
            await run_in_threadpool(built.close)

    app = FastAPI(title="FinMatch Agents API", version=__version__, lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url=None, openapi_url="/openapi.json" if docs else None,
                  description="The matching engine, the promoted models, the analyst and the run history of FinMatch "
                              "Agents over HTTP. Every route but /health (and these docs) needs "
                              "`Authorization: Bearer KEY` (`finmatch serve keys add NAME`). See docs/serve.md.")

    @app.exception_handler(FinMatchError)
    async def domain_error(request: Request, exc: FinMatchError) -> JSON:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSON:
        return _validation_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSON:
        code, title = _HTTP_CODES.get(exc.status_code, ("http-error", "HTTP error"))
        return JSON({"error": {"code": code, "title": title, "status": exc.status_code, "hint": None,
                               "message": str(exc.detail)}}, status_code=exc.status_code,
                    headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSON:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSON(internal_error_body(), status_code=500)

    _routes(app, settings)
    templates = {f"{CUSTOMERS_PREFIX}{{customer_id}}/{name}": name for name in FAST_READS}
    fast = {templates[path]: r for r in app.routes if (path := getattr(r, "path", None)) in templates}
    app.add_middleware(FastReads, server_of=lambda: holder.get("server"), routes=fast)
    cors = [o.strip() for o in settings.serve_cors.split(",") if o.strip()]
    if cors:
        from fastapi.middleware.cors import CORSMiddleware  # start-up speed: only when CORS is on

        app.add_middleware(CORSMiddleware, allow_origins=cors, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])
    app.add_middleware(BodyLimit, max_bytes=settings.serve_max_body, reject=error_response)
    app.add_middleware(Observe, metrics_of=lambda: holder["server"].metrics if "server" in holder else None)
    return app


def _routes(app: FastAPI, settings: Settings) -> None:
    read, feedback_scope, analyze = scope("read"), scope("feedback"), scope("analyze")

    @app.get("/health", response_model=Health, tags=["server"])
    async def health(request: Request) -> JSON:
        """Liveness and what is loaded (no key needed; no data in it)."""
        server = server_of(request)
        snap = server.engines.current
        engines: dict[str, dict[str, Any]] = {}
        if snap is not None:
            engines["match"] = {"available": snap.catalogue is not None, "reason": snap.unavailable.get("match"),
                                "customers": len(snap.customer_ids) if snap.customer_ids is not None else None,
                                "products": snap.catalogue.m if snap.catalogue is not None else None}
            for task in ("conversion", "churn"):
                t = snap.scores.get(task)
                engines[task] = {"available": t is not None, "reason": snap.unavailable.get(task),
                                 "model_id": t.info.id if t else None}
        engines.update(adapters.status())
        if engines["recommend"]["available"]:
            try:
                engines["recommend"]["promoted"] = await run_in_threadpool(adapters.promoted, settings.state_dir)
            except FinMatchError as exc:
                engines["recommend"]["reason"] = exc.message
        status = "loading" if snap is None else ("degraded" if server.engines.last_error else "ok")
        return JSON({"status": status, "version": __version__, "engines": engines,
                     "loaded_at": snap.loaded_at if snap else None, "load_seconds": snap.seconds if snap else None,
                     "reload_error": server.engines.last_error, "runs_active": server.runs.active()})

    @app.get("/metrics", tags=["server"], response_class=Response, dependencies=[read])
    async def metrics(request: Request) -> Response:
        """Prometheus text format: requests, latencies, model calls, answers, loads, running analyses."""
        return Response(server_of(request).metrics.text(), media_type=PROMETHEUS_CONTENT_TYPE)

    @app.get("/v1/customers/{customer_id}/matches", response_model=MatchResponse, responses=ERRORS,
             tags=["customers"], dependencies=[read])
    async def matches(request: Request, customer_id: CustomerId,
                      mode: Annotated[Literal["active", "passive", "auto"], Query()] = "auto",
                      top: Annotated[int | None, Query(ge=1, le=100)] = None,
                      weights: Annotated[str | None, Query(max_length=200, description="DIM=W,... e.g. "
                                                           "revenue=0,bank_risk=2")] = None,
                      shortlist: Annotated[int | None, Query(ge=1, le=1000)] = None) -> RawJSON:
        """The matching engine for one customer (`finmatch match customer ID --json`): metrics, every product's
        gates with reasons, distances, preferences, the offers and the business-weight disclosure."""
        return RawJSON(await matches_json(server_of(request), customer_id, mode, top, weights, shortlist))

    @app.get("/v1/customers/{customer_id}/scores", response_model=ScoresResponse, responses=ERRORS,
             tags=["customers"], dependencies=[read])
    async def scores(request: Request, customer_id: CustomerId,
                     task: Annotated[list[Literal["conversion", "churn"]] | None, Query()] = None) -> JSON:
        """The promoted models' scores for one customer with their top reasons (`finmatch predict score TASK
        --customer ID --json`): conversion for each open offer, churn for the customer."""
        return JSON(await scores_json(server_of(request), customer_id, list(task) if task else None))

    @app.get("/v1/customers/{customer_id}/recommendations", responses=ERRORS, tags=["customers"],
             dependencies=[read])
    def recommendations(request: Request, customer_id: CustomerId,
                        top: Annotated[int, Query(ge=1, le=100)] = 5) -> JSON:
        """The promoted recommender's products for one customer (`finmatch recommend for ID`)."""
        server = server_of(request)
        adapters.function("recommend", "recommendations_for")
        snap = server.engines.snapshot()
        if snap.knows(customer_id) is False:
            raise server.engines.unknown_customer(customer_id)
        with server.gate.lease() as engine:
            return JSON(adapters.recommendations(settings, engine, audit_log(settings, "serve"), customer_id, top))

    @app.post("/v1/similar", responses=ERRORS, tags=["customers"], dependencies=[read])
    def similar(request: Request, body: SimilarRequest) -> JSON:
        """Hybrid search: customers matching a question (`finmatch similar "QUESTION"`), or look-alikes of
        customers (`--like ID`). Give exactly one of `question` and `like`."""
        server = server_of(request)
        if (body.question is None) == (body.like is None):
            raise invalid("question", "give exactly one of question and like")
        adapters.function("similar", "search" if body.like is None else "like")
        if body.like is not None:
            if len(body.like) > 1 and not adapters.like_takes_many():
                raise invalid("like", "this similar engine finds look-alikes of one customer at a time")
            snap = server.engines.snapshot()
            for customer_id in body.like:
                if snap.knows(customer_id) is False:
                    raise server.engines.unknown_customer(customer_id)
        with server.gate.lease() as engine:
            qlog = audit_log(settings, "serve")
            if body.like is not None:
                return JSON(adapters.like(settings, engine, qlog, body.like, body.top))
            assert body.question is not None
            return JSON(adapters.search(settings, engine, qlog, body.question, body.top))

    @app.post("/v1/feedback", status_code=201, responses=ERRORS, tags=["customers"])
    def feedback(request: Request, body: FeedbackRequest, key: ApiKey = feedback_scope) -> JSON:
        """Record feedback on a recommendation (`finmatch recommend feedback`): a rating 1-5, or accepted /
        declined, stored append-only with the key's name."""
        server = server_of(request)
        if (body.rating is None) == (body.accepted is None):
            raise invalid("rating", "give exactly one of rating and accepted")
        adapters.function("recommend", "record_feedback")
        if server.engines.snapshot().knows(body.customer_id) is False:
            raise server.engines.unknown_customer(body.customer_id)
        item = {**body.model_dump(), "source": f"api:{key.name}"}
        with server.engines.writing(server.gate.wait), server.gate.exclusive():
            return JSON(adapters.feedback(settings, item), status_code=201)

    @app.post("/v1/ask", response_model=AskResponse, responses=ERRORS, tags=["analyst"])
    def ask(request: Request, body: AskRequest, key: ApiKey = read) -> JSON:
        """The chat's answer to one question (`finmatch ask QUESTION --json`): verified, compiled or from the
        model, with its SQL and query ids. A model the answer needed failing is 502 (504 when it timed out)."""
        server = server_of(request)
        server.engines.snapshot()  # notices changed data (the sessions then learn it again)
        return JSON(server.asker.ask(body.question, body.session or f"api-{key.name}", body.model))

    @app.get("/v1/runs", response_model=list[RunRowModel], responses=ERRORS, tags=["runs"], dependencies=[read])
    def list_runs(limit: Annotated[int, Query(ge=1, le=1000)] = 20,
                  job: Annotated[str | None, Query(max_length=100)] = None) -> JSON:
        """Past and running analyses, newest first (`finmatch history list --json`)."""
        path = settings.state_dir / "runs.sqlite"
        if not path.exists():
            return JSON([])
        store = RunStore(path)
        try:
            rows = [r.data for r in store.list_runs(limit, job=job)]
        finally:
            store.close()
        for row in rows:
            row["focus"] = json.loads(row["focus"])
        return JSON(rows)

    @app.post("/v1/runs", status_code=202, response_model=RunStarted, responses=ERRORS, tags=["runs"],
              dependencies=[analyze])
    def start_run(request: Request, body: RunStartRequest) -> JSON:
        """Start an analysis in the background (`finmatch analyze --focus ... --json`); follow it at
        `events`."""
        server = server_of(request)
        try:
            focus = resolve_focus(body.focus)
        except UsageError as exc:
            raise invalid("focus", exc.message.removeprefix("--focus: ")) from None
        run_id = server.runs.start(focus, parse_formats(list(body.formats)))
        return JSON({"run_id": run_id, "status": "running", "events": f"/v1/runs/{run_id}/events",
                     "run": f"/v1/runs/{run_id}"}, status_code=202, headers={"Location": f"/v1/runs/{run_id}"})

    def _row(run_id: str) -> tuple[dict[str, Any], RunStore]:
        path = settings.state_dir / "runs.sqlite"
        store = RunStore(path)
        row = store.get(run_id)
        if row is None:
            ids = [r["run_id"] for r in store.list_runs(1000)]
            store.close()
            raise not_found("run", run_id, difflib.get_close_matches(run_id, ids, n=3, cutoff=0.5),
                            hint="GET /v1/runs lists runs")
        return row.data, store

    @app.get("/v1/runs/{run_id}", response_model=RunDetail, responses=ERRORS, tags=["runs"], dependencies=[read])
    def get_run(request: Request, run_id: RunId) -> JSON:
        """One run (`finmatch history show RUN_ID --json`): status, steps, findings."""
        data, store = _row(run_id)
        try:
            detail = {**data, "focus": json.loads(data["focus"]), "steps": store.steps(run_id),
                      "findings": [f.to_json() for f in store.findings(run_id)],
                      "live": server_of(request).runs.is_live(run_id)}
        finally:
            store.close()
        return JSON(detail)

    @app.delete("/v1/runs/{run_id}", status_code=202, responses=ERRORS, tags=["runs"], dependencies=[analyze])
    def cancel_run(request: Request, run_id: RunId) -> JSON:
        """Stop a running analysis at its next event (it is kept as interrupted, resumable)."""
        data, store = _row(run_id)
        store.close()
        if not server_of(request).runs.cancel(run_id):
            raise ApiError(409, "not-running", "Not running", f"run {run_id} is {data['status']} and not running in "
                           "this worker", hint="only the worker running it can stop it; retry, or wait for it")
        return JSON({"run_id": run_id, "status": "cancelling"}, status_code=202)

    @app.get("/v1/runs/{run_id}/report", responses={**ERRORS, 200: {"content": {"text/markdown": {},
                                                                                 "text/html": {}}}},
             tags=["runs"], dependencies=[read], response_class=Response)
    def report(run_id: RunId, format: Annotated[Literal["md", "html"], Query()] = "md") -> Response:
        """A completed run's report: markdown or the one-page HTML (`finmatch report html`), rendered from the
        run's records."""
        data, store = _row(run_id)
        try:
            if data["status"] != "completed":
                raise ApiError(409, "no-report", "No report", f"run {run_id} is {data['status']}: it has no report")
            records = store.records(run_id)
        finally:
            store.close()
        if records is None:
            raise ApiError(409, "no-report", "No report", f"run {run_id} was made before runs kept their records, "
                           "so its report cannot be rendered again")
        if format == "html":
            return Response(render_html(records), media_type="text/html; charset=utf-8")
        text, _stats = render_report(records)
        return Response(text, media_type="text/markdown; charset=utf-8")

    @app.get("/v1/runs/{run_id}/events", responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
             tags=["runs"], dependencies=[read], response_class=StreamingResponse)
    async def events(request: Request, run_id: RunId) -> StreamingResponse:
        """The run's events as server-sent events, the same JSON objects as `finmatch analyze --json` (`event:`
        is the kind, `id:` the line number, for `Last-Event-ID`). The stream ends after `run_finished`."""
        path = events_path(settings.state_dir, run_id)
        if not path.exists():
            data, store = await run_in_threadpool(_row, run_id)
            store.close()
            raise ApiError(404, "no-events", "Not found", f"run {run_id} ({data['status']}) was not started by this "
                           "server, so it has no events to stream", hint=f"GET /v1/runs/{run_id}")
        try:
            skip = int(request.headers.get("last-event-id", "-1")) + 1
        except ValueError:
            skip = 0
        return StreamingResponse(_stream(request, path, skip), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(request: Request, path: Any, skip: int) -> AsyncIterator[bytes]:
    offset, index = 0, 0
    quiet = 0.0
    while True:
        lines, offset = read_events(path, offset)
        finished = False
        for line in lines:
            if index >= skip:
                try:
                    kind = json.loads(line).get("event", "message")
                except ValueError:
                    kind = "message"
                yield f"id: {index}\nevent: {kind}\ndata: {line}\n\n".encode()
                finished = finished or kind == "run_finished"
            index += 1
        if finished:
            return
        if lines:
            quiet = 0.0
        else:
            quiet += SSE_POLL
            if quiet >= SSE_KEEPALIVE:
                quiet = 0.0
                yield b": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(SSE_POLL)
