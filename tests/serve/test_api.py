"""End-to-end: the real server on 127.0.0.1, called with httpx (see conftest.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest

from finmatch_agents.serve.schemas import AskResponse, ErrorResponse, MatchResponse, RunDetail, ScoresResponse
from tests.serve.conftest import Served

CUSTOMER = "C0000042"


@pytest.fixture
def run_cli(served: Served, cli, monkeypatch: pytest.MonkeyPatch):
    """The CLI in-process, on the server's database and state: what the API must agree with."""
    s = served.settings
    for name, value in {"FINMATCH_DB": s.db, "FINMATCH_STATE_DIR": s.state_dir, "FINMATCH_THREADS": "1",
                        "FINMATCH_CONFIG": s.config_path}.items():
        monkeypatch.setenv(name, str(value))

    def run(*args: str) -> str:
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    return run


def error_of(response) -> dict:
    body = response.json()
    ErrorResponse.model_validate(body)
    return body["error"]


def test_health_needs_no_key_and_says_what_is_loaded(served: Served) -> None:
    with served.client(None) as c:
        r = c.get("/health")
    assert r.status_code == 200
    engines = r.json()["engines"]
    assert engines["match"]["available"] and engines["match"]["customers"] > 1900
    assert engines["conversion"]["available"]
    assert not engines["churn"]["available"] and "no promoted churn model" in engines["churn"]["reason"]


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer fmk_00000000_" + "x" * 43, "Bearer nonsense"])
def test_every_route_but_health_needs_a_valid_key(served: Served, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with served.client(None) as c:
        for method, path in (("GET", f"/v1/customers/{CUSTOMER}/matches"), ("GET", "/v1/runs"), ("GET", "/metrics"),
                             ("POST", "/v1/ask")):
            r = c.request(method, path, headers=headers, json={"question": "x"} if method == "POST" else None)
            assert r.status_code == 401, (path, r.text)
            assert error_of(r)["code"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"


def test_a_key_without_the_scope_is_forbidden(served: Served) -> None:
    with served.client("reader") as c:
        r = c.post("/v1/runs", json={"focus": ["performance"]})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden" and error_of(r)["scope"] == "analyze"
    with served.client("writer") as c:
        assert c.get(f"/v1/customers/{CUSTOMER}/matches").status_code == 403


def test_rate_limit_answers_429_with_retry_after(served: Served) -> None:
    with served.client("slowpoke") as c:  # 6 a minute: a bucket of one
        first = c.get("/v1/runs")
        second = c.get("/v1/runs")
    assert first.status_code == 200
    assert second.status_code == 429 and error_of(second)["code"] == "rate-limited"
    assert 1 <= int(second.headers["retry-after"]) <= 10


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/v1/ask", {}, "question"),
    ("POST", "/v1/ask", {"question": ""}, "question"),
    ("POST", "/v1/ask", {"question": "x", "bogus": 1}, "bogus"),
    ("POST", "/v1/ask", {"question": "x", "session": "no spaces allowed"}, "session"),
    ("GET", f"/v1/customers/{CUSTOMER}/matches?top=0", None, "top"),
    ("GET", f"/v1/customers/{CUSTOMER}/matches?mode=sideways", None, "mode"),
    ("GET", f"/v1/customers/{CUSTOMER}/matches?weights=revenue%3Dlots", None, "weights"),
    ("GET", f"/v1/customers/{CUSTOMER}/scores?task=nope", None, "task.0"),
    ("POST", "/v1/runs", {"focus": ["everything"]}, "focus"),
    ("POST", "/v1/runs", {"formats": ["pdf"]}, "formats.0"),
])
def test_bad_requests_are_422_naming_the_field(served: Served, method: str, path: str, body: dict | None,
                                               field: str) -> None:
    with served.client("analyst") as c:
        r = c.request(method, path, json=body)
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid-request" and err["field"] == field and err["message"].startswith(field)


def test_unknown_customer_is_404_with_close_ids(served: Served) -> None:
    with served.client() as c:
        for path in ("/v1/customers/C000004/matches", "/v1/customers/C000004/scores"):
            r = c.get(path)
            assert r.status_code == 404
            err = error_of(r)
            assert err["code"] == "not-found" and len(err["close"]) == 3 and all(i.startswith("C0000") for i in
                                                                                 err["close"])
        r = c.get("/v1/runs/20260101-000000-abcd")
        assert r.status_code == 404 and error_of(r)["code"] == "not-found"


def test_matches_are_the_cli_explanation(served: Served, run_cli) -> None:
    with served.client() as c:
        r = c.get(f"/v1/customers/{CUSTOMER}/matches")
    assert r.status_code == 200
    got = MatchResponse.model_validate(r.json()).model_dump()
    cli = json.loads(run_cli("match", "customer", CUSTOMER, "--json"))
    for key in ("customer_id", "mode", "mode_reason", "offers", "products", "suitable_products", "metrics",
                "customer_interest_first", "bank_weights_change_first", "params"):
        assert got[key] == cli[key], key
    assert any(p["failed"] for p in got["products"])  # failed gates come with their reasons
    failed = next(p for p in got["products"] if p["failed"])
    assert all(g["reason"] for g in failed["gates"] if g["status"] == "fail")
    with served.client() as c:
        passive = c.get(f"/v1/customers/{CUSTOMER}/matches", params={"mode": "passive", "top": 2}).json()
    assert passive["mode"] == "passive" and len(passive["offers"]) == 2


def test_scores_are_the_cli_scores_with_reasons(served: Served, run_cli) -> None:
    with served.client() as c:
        r = c.get(f"/v1/customers/{CUSTOMER}/scores")
    assert r.status_code == 200
    body = ScoresResponse.model_validate(r.json())
    assert set(body.scores) == {"conversion"} and "churn" in body.unavailable
    cli = json.loads(run_cli("predict", "score", "conversion", "--customer", CUSTOMER, "--json"))
    assert r.json()["scores"]["conversion"]["rows"] == cli["rows"]
    with served.client() as c:
        only_churn = c.get(f"/v1/customers/{CUSTOMER}/scores", params={"task": "churn"})
    assert only_churn.status_code == 503 and error_of(only_churn)["code"] == "engine-unavailable"


def test_ask_answers_as_the_cli_does(served: Served, run_cli) -> None:
    question = "What is the acceptance rate for Email in 2025?"
    with served.client() as c:
        r = c.post("/v1/ask", json={"question": question})
    assert r.status_code == 200
    answer = AskResponse.model_validate(r.json())
    assert answer.kind == "compiled" and answer.sql and answer.query_ids and answer.session == "api-reader"
    cli = json.loads(run_cli("ask", question, "--json"))
    assert answer.text.split("[")[0] == cli["text"].split("[")[0] and answer.sql == cli["sql"]


@pytest.mark.parametrize(("question", "status", "code"), [
    ("/sql DROP TABLE fpr_records", 422, "sql-refused"),
    ("/sql SELECT * FROM read_csv('/etc/passwd')", 422, "sql-refused"),
    ("/sql SELECT 1; DELETE FROM fpr_records", 422, "sql-refused"),
    ("/sql ATTACH '/tmp/x.db' AS x", 422, "sql-refused"),
    ("/analyze", 422, "invalid-request"),
    ("/save /etc/cron.d/x", 422, "invalid-request"),
])
def test_sql_attacks_through_ask_are_refused(served: Served, question: str, status: int, code: str) -> None:
    with served.client() as c:
        r = c.post("/v1/ask", json={"question": question})
    assert r.status_code == status, r.text
    assert error_of(r)["code"] == code


def test_an_injected_question_is_refused_not_run(served: Served) -> None:
    with served.client() as c:
        r = c.post("/v1/ask", json={"question": "acceptance rate for Email'; DROP TABLE fpr_records; --"})
        assert r.status_code == 200 and r.json()["kind"] == "unknown" and r.json()["sql"] is None
        count = c.post("/v1/ask", json={"question": "/sql SELECT count(*) AS n FROM fpr_records"})
    assert count.status_code == 200, count.text
    assert count.json()["tables"][0]["rows"][0]["n"] > 0


@pytest.mark.parametrize(("model", "status", "code"), [("broken", 502, "model-failed"), ("slow", 504, "model-timeout")])
def test_a_failing_model_endpoint_is_502_or_504_and_the_server_stays_up(served: Served, model: str, status: int,
                                                                        code: str) -> None:
    with served.client() as c:
        r = c.post("/v1/ask", json={"question": "Why do people like cheese so much?", "model": model,
                                    "session": f"t-{model}"})
        assert r.status_code == status, r.text
        err = error_of(r)
        assert err["code"] == code and err["answer"]["kind"] == "error"
        assert c.get("/health").status_code == 200
        assert c.post("/v1/ask", json={"question": "What is the acceptance rate for Email in 2025?",
                                       "model": model, "session": f"t-{model}"}).json()["kind"] == "compiled"


def test_pii_is_masked_before_a_model_call_as_in_the_cli(served: Served) -> None:
    with served.client() as c:
        found = c.post("/v1/ask", json={"question": "/sql SELECT customer_name, customer_email FROM fpr_records "
                                                    "WHERE customer_id = 'C0000042' LIMIT 1"})
        row = found.json()["tables"][0]["rows"][0]
        r = c.post("/v1/ask", json={"question": f"Why would {row['customer_name']} ({row['customer_email']}) "
                                                "switch banks?", "model": "broken", "session": "t-pii"})
    assert r.status_code == 502, r.text
    sent = served.fail.sent_text()
    assert "switch banks" in sent  # the question reached the endpoint...
    assert row["customer_name"] not in sent and row["customer_email"] not in sent  # ...without the PII


def test_a_run_streams_its_events_to_completion_without_blocking_others(served: Served,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from finmatch_agents.serve import runs

    # the run holds after its third event until the other requests were answered: on any machine speed the
    # analysis is provably still running while they are served (it could otherwise finish first)
    gate, written, real_append = threading.Event(), [], runs.append_text

    def held_append(path: Path, text: str) -> None:
        real_append(path, text)
        written.append(text)
        if len(written) == 3:
            gate.wait(60)

    monkeypatch.setattr(runs, "append_text", held_append)
    with served.client("analyst") as c:
        r = c.post("/v1/runs", json={"focus": ["performance"], "formats": ["md", "html"]})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        with c.stream("GET", r.json()["events"]) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kinds, events, answered = [], [], []
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kinds.append(line[7:])
                elif line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if len(events) == 3:  # while the analysis runs, other requests are answered
                        with served.client() as other:
                            assert other.get(f"/v1/customers/{CUSTOMER}/matches").status_code == 200
                            assert other.get("/health").json()["runs_active"] == 1  # ...before it ended
                        answered.append(True)
                        gate.set()
        assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and "step_finished" in kinds
        assert events[-1]["status"] == "completed" and all(e["run_id"] == run_id for e in events)
        assert {"event", "run_id", "agent", "step", "ts"} <= set(events[1])
        assert answered
        detail = RunDetail.model_validate(c.get(f"/v1/runs/{run_id}").json())
        assert detail.status == "completed" and detail.findings
        md = c.get(f"/v1/runs/{run_id}/report")
        assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
        assert md.text == Path(detail.report_path).read_text()
        page = c.get(f"/v1/runs/{run_id}/report", params={"format": "html"})
        assert page.status_code == 200 and page.text.lower().startswith("<!doctype html>")
        assert any(row["run_id"] == run_id for row in c.get("/v1/runs").json())
        again = c.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": str(len(events) - 2)})
        assert [ln for ln in again.text.splitlines() if ln.startswith("event: ")] == ["event: run_finished"]


def test_engines_other_modules_provide_are_503_until_installed(served: Served) -> None:
    from finmatch_agents.serve import adapters

    with served.client("reader") as c:
        health = c.get("/health").json()["engines"]
        rec = c.get(f"/v1/customers/{CUSTOMER}/recommendations")
        sim = c.post("/v1/similar", json={"question": "customers with a credit score over 750"})
        assert c.post("/v1/similar", json={"question": "x", "like": CUSTOMER}).status_code == 422
        assert c.get("/v1/customers/C000004/recommendations").status_code in (404, 503)
    with served.client("writer") as c:
        fb = c.post("/v1/feedback", json={"customer_id": CUSTOMER, "product_id": "CHK-01", "rating": 4})
        assert c.post("/v1/feedback", json={"customer_id": CUSTOMER, "product_id": "CHK-01", "rating": 9}
                      ).status_code == 422
    for engine, response in (("recommend", rec), ("similar", sim), ("recommend", fb)):
        if adapters.module(engine) is None:  # before issues 15 / 16 are merged
            assert not health[engine]["available"] and f"issue {adapters.ISSUES[engine]}" in health[engine]["reason"]
            assert response.status_code == 503, response.text
            assert error_of(response)["code"] == "engine-unavailable" and error_of(response)["engine"] == engine
        else:  # after: the engine answers (or says why not) in the API's error format, never a 500
            assert response.status_code != 500, response.text
            if response.status_code >= 400:
                error_of(response)


class FakeEngines:
    """What the routes hand to the engines of issues 15 and 16, recorded (the contract in serve/adapters.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def module(self, functions: dict[str, Any]) -> types.ModuleType:
        mod = types.ModuleType("fake")
        for name, result in functions.items():
            def fn(*args: Any, _name: str = name, _result: Any = result) -> Any:
                self.calls.append((_name, args))
                return _result(*args) if callable(_result) else _result
            setattr(mod, name, fn)
        return mod


def test_the_adapters_pass_the_sandbox_and_the_request_to_the_engines(served: Served,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from finmatch_agents.serve import adapters
    from finmatch_agents.warehouse.engine import DuckDBEngine

    fake = FakeEngines()
    monkeypatch.setitem(adapters._found, "recommend", fake.module({
        "recommendations_for": lambda s, engine, log, cid, top: {
            "customer_id": cid, "rows": engine.query("SELECT 1 AS n", log=log).dicts(), "top": top,
            "write": refused(engine, log)},
        "promoted_summary": {"model_id": "rec-1"},
        # a write needs the worker's read-only connection closed (DuckDB admits a writer only alone)
        "record_feedback": lambda s, item: {"stored": item, "connection_open": served.server.gate.is_open}}))
    monkeypatch.setitem(adapters._found, "similar", fake.module({
        "search": lambda s, engine, log, question, top: {"question": question, "top": top},
        "like": lambda s, engine, log, customer_ids, top: {"like": customer_ids}}))
    with served.client("reader") as c:
        assert c.get("/health").json()["engines"]["recommend"]["promoted"] == {"model_id": "rec-1"}
        r = c.get(f"/v1/customers/{CUSTOMER}/recommendations", params={"top": 2})
        assert r.json() == {"customer_id": CUSTOMER, "rows": [{"n": 1}], "top": 2, "write": "SQL refused"}
        assert c.get("/v1/customers/C000004/recommendations").status_code == 404
        assert c.post("/v1/similar", json={"question": "young savers", "top": 3}).json() == {
            "question": "young savers", "top": 3}
        assert c.post("/v1/similar", json={"like": CUSTOMER}).json() == {"like": [CUSTOMER]}
        assert c.post("/v1/similar", json={"like": [CUSTOMER, "C0000043"]}).json() == {
            "like": [CUSTOMER, "C0000043"]}
        missing = c.post("/v1/similar", json={"like": [CUSTOMER, "C000004"]})
        assert missing.status_code == 404 and error_of(missing)["close"]
    with served.client("writer") as c:
        r = c.post("/v1/feedback", json={"customer_id": CUSTOMER, "product_id": "CHK-01", "accepted": True})
    assert r.status_code == 201 and r.json()["stored"]["source"] == "api:writer"
    assert r.json()["stored"]["accepted"] is True and r.json()["stored"]["rating"] is None
    assert r.json()["connection_open"] is False
    engine = next(args[1] for name, args in fake.calls if name == "recommendations_for")
    assert isinstance(engine, DuckDBEngine)


def refused(engine: Any, log: Any) -> str:
    """What the sandbox says to a write (the engines get the same sandbox as the CLI's)."""
    from finmatch_agents.errors import FinMatchError

    try:
        engine.query("DELETE FROM fpr_records", log=log)
    except FinMatchError as exc:
        return exc.title
    return "ran"


def test_limits_cors_metrics_and_the_access_log(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="finmatch.serve.access")
    with served.client() as c:
        big = c.post("/v1/ask", content=b'{"question": "' + b"x" * 70_000 + b'"}',
                     headers={"Content-Type": "application/json"})
        assert big.status_code == 413 and error_of(big)["code"] == "body-too-large"
        pre = c.options("/v1/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers
        text = c.get("/metrics").text
    assert 'finmatch_http_requests_total{method="POST",route="unmatched",status="413"}' in text
    assert 'finmatch_http_requests_total{method="GET",route="/v1/customers/{customer_id}/matches",status="200"}' in text
    assert "finmatch_http_request_seconds_bucket" in text and "finmatch_model_calls_total" in text
    deadline = time.monotonic() + 60  # a request's line is written once its response has gone out
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "finmatch.serve.access"]
        if any(line.startswith("GET /metrics 200") for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert any(line.startswith("POST /v1/ask 413") for line in lines)
    assert any(line.startswith("GET /metrics 200") and "key=reader" in line for line in lines)
    assert not any(served.keys["reader"] in line or "Bearer" in line for line in lines)


def test_a_new_promotion_is_loaded_without_a_restart(served: Served) -> None:
    from finmatch_agents.predict import registry

    engines = served.server.engines
    before = engines.snapshot()
    info = registry.promoted(served.state, "conversion")
    assert info is not None
    time.sleep(0.01)
    registry.promote(served.state, info.id)  # a promotion rewrites the registry's pointer
    with served.client() as c:
        assert c.get(f"/v1/customers/{CUSTOMER}/scores").status_code == 200  # the old snapshot answers meanwhile
        after = engines.wait_reloaded(before)
        assert after.loaded_at > before.loaded_at and after.scores["conversion"].info.id == info.id
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["loaded_at"] == after.loaded_at
        assert 'finmatch_engine_loads_total{engine="conversion",status="ok"} 2.0' in c.get("/metrics").text


def test_feedback_is_stored_append_only_with_the_key_name(served: Served) -> None:
    """POST /v1/feedback through the real recommend module: one row per call, ids checked against the data;
    the server's own write neither collides with nor triggers a reload of the engines."""
    engines = served.server.engines
    before = engines.current
    with served.client("writer") as c:
        first = c.post("/v1/feedback", json={"customer_id": CUSTOMER, "product_id": "CHK-01", "rating": 4,
                                             "note": "liked it"})
        second = c.post("/v1/feedback", json={"customer_id": CUSTOMER, "product_id": "CHK-01", "accepted": False})
        unknown = c.post("/v1/feedback", json={"customer_id": "C9999999", "product_id": "CHK-01", "rating": 2})
    assert first.status_code == 201, first.text
    assert first.json()["rows"] == 1 and first.json()["source"] == "api:writer"
    assert second.status_code == 201, second.text
    assert unknown.status_code == 404 and "C9999999" in error_of(unknown)["message"]
    time.sleep(engines.check_every + 0.1)
    assert engines.snapshot() is before and not engines._reloading.locked()  # no reload for its own write
    from finmatch_agents.evidence import QueryLog

    with served.server.gate.lease() as engine:  # the worker's own sandbox (a second configuration cannot open)
        rows = engine.query("SELECT customer_id, product_id, rating, outcome, note, source FROM recommend_feedback "
                            "WHERE source = 'api:writer' ORDER BY feedback_id", log=QueryLog()).rows
    assert rows[-2:] == [(CUSTOMER, "CHK-01", 4, None, "liked it", "api:writer"),
                         (CUSTOMER, "CHK-01", None, "declined", None, "api:writer")]


def _answer(r) -> tuple[int, str, bytes, str | None]:
    return r.status_code, r.headers["content-type"], r.content, r.headers.get("www-authenticate")


def test_the_fast_reads_answer_what_the_routes_answer(served: Served) -> None:
    """`/matches` and `/scores` without a query string skip FastAPI's per-request machinery (FastReads); with
    an explicit default query they go through the routes. Both give the same bytes, errors included, and the
    matches body is the engine's explanation as the API serialises it."""
    from finmatch_agents.serve.app import dumps

    snap = served.server.engines.current  # type: ignore[attr-defined]
    params = snap.params("auto", None, None, None)
    slow = {"matches": "?mode=auto", "scores": "?task=conversion&task=churn"}
    cases = [("reader", f"C{n:07d}") for n in (1, 42, 777, 1999)] + [
        ("reader", "C000004"), ("writer", CUSTOMER), (None, CUSTOMER), ("bogus", CUSTOMER)]
    served.keys.setdefault("bogus", "fm_not_a_key")
    for key, customer in cases:
        with served.client(key) as c:
            for what, query in slow.items():
                path = f"/v1/customers/{customer}/{what}"
                fast, routed = c.get(path), c.get(path + query)
                assert _answer(fast) == _answer(routed), (key, customer, what)
                if key == "reader" and customer != "C000004" and what == "matches":
                    assert fast.status_code == 200 and fast.content == dumps(snap.explain(customer, params))
    statuses = {}
    with served.client("reader") as c:
        for path in ("/v1/customers/C000004/matches", f"/v1/customers/{CUSTOMER}/matches"):
            statuses[path] = c.get(path).status_code
    assert list(statuses.values()) == [404, 200]
    with served.client(None) as c:
        assert c.get(f"/v1/customers/{CUSTOMER}/scores").status_code == 401
    with served.client("reader") as c:  # the fast reads are counted and labelled as the routes are
        text = c.get("/metrics").text
    assert 'route="/v1/customers/{customer_id}/matches",status="404"' in text


def test_the_fast_reads_keep_the_rate_limit(served: Served) -> None:
    from finmatch_agents.serve.keys import add_key

    served.keys["fastlimit"] = add_key(served.state, "fastlimit", ["read"], rate_limit=6)[1]
    served.server.keys.reload()  # type: ignore[attr-defined]
    with served.client("fastlimit") as c:
        first, second = c.get(f"/v1/customers/{CUSTOMER}/matches"), c.get(f"/v1/customers/{CUSTOMER}/scores")
    assert first.status_code == 200
    assert second.status_code == 429 and error_of(second)["code"] == "rate-limited"
    assert 1 <= int(second.headers["retry-after"]) <= 10
