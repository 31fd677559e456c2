"""A local OpenAI-protocol server for tests and benchmarks (127.0.0.1 only; never the internet).

It speaks enough of the Chat Completions API for ``langchain_openai.ChatOpenAI``: non-streaming and SSE
streaming responses, tool calls, usage, and scripted failures (HTTP errors with headers, stalls). Every
request body is recorded so tests can prove what left the process.

    with FakeOpenAI(responder) as server:
        base_url = server.base_url      # http://127.0.0.1:PORT/v1

A *responder* gets the parsed request body and returns a :class:`Reply`; ``server.script`` holds replies to
use first, in order (then the responder is called).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name": ..., "arguments": {...}}]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    delay: float = 0.0  # seconds to wait before answering (a stall when longer than the client timeout)
    usage: dict[str, int] | None = None
    drip: float = 0.0  # seconds between bytes of the body (a slow drip that never trips a per-read timeout)
    truncate: bool = False  # streaming: stop before the finish_reason chunk and [DONE]


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def _usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    if reply.usage is not None:
        return reply.usage
    prompt = sum(len(json.dumps(m.get("content") or "")) for m in body.get("messages", [])) // 4
    completion = len(reply.content or "") // 4 + sum(len(json.dumps(c["arguments"])) // 4 for c in reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class FakeOpenAI:
    def __init__(self, responder: Callable[[dict[str, Any]], Reply] | None = None, delay: float = 0.0) -> None:
        self.responder = responder or (lambda body: Reply(content="ok"))
        self.script: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.delay = delay
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = server.script.pop(0) if server.script else None
                if reply is None:
                    reply = server.responder(body)
                wait = reply.delay or server.delay
                if wait:
                    time.sleep(wait)
                if reply.status != 200:
                    self._json(reply.status, {"error": {"message": reply.error or f"HTTP {reply.status}",
                                                         "type": "fake_error", "code": str(reply.status)}},
                               reply.headers)
                    return
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, self._completion(body, reply), drip=reply.drip)

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None,
                      drip: float = 0.0) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not drip:
                    self.wfile.write(data)
                    return
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(drip)
                except (BrokenPipeError, ConnectionResetError):
                    return

            def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
                message: dict[str, Any] = {"role": "assistant", "content": reply.content}
                if reply.tool_calls:
                    message["tool_calls"] = [
                        {"id": f"call_{i}", "type": "function",
                         "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                        for i, c in enumerate(reply.tool_calls)]
                return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                        "model": body.get("model", "fake-model"),
                        "choices": [{"index": 0, "message": message,
                                     "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
                        "usage": _usage(body, reply)}

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                        "model": body.get("model", "fake-model")}

                def send(choices: list[dict[str, Any]], **extra: Any) -> None:
                    self.wfile.write(f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode())
                    self.wfile.flush()

                send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                text = reply.content or ""
                for start in range(0, len(text), 20):
                    send([{"index": 0, "delta": {"content": text[start:start + 20]}, "finish_reason": None}])
                for i, call in enumerate(reply.tool_calls):
                    args = json.dumps(call["arguments"])
                    send([{"index": 0, "delta": {"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                                                  "function": {"name": call["name"],
                                                                               "arguments": ""}}]},
                           "finish_reason": None}])
                    for start in range(0, len(args), 30):
                        send([{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {
                            "arguments": args[start:start + 30]}}]}, "finish_reason": None}])
                if reply.truncate:
                    self.close_connection = True
                    return
                send([{"index": 0, "delta": {}, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}])
                if (body.get("stream_options") or {}).get("include_usage"):
                    send([], usage=_usage(body, reply))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sent_text(self) -> str:
        """Everything clients sent, as one string (to search for data that must not leave the machine)."""
        return "\n".join(json.dumps(r) for r in self.requests)


# -- a responder that plays a well-behaved analyst -------------------------------------------------------
def _tools(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", [])]


def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "user")


def finding_lines(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, title, statement) of the findings table in the agent prompt."""
    rows = []
    for line in _prompt(body).splitlines():
        parts = [p.strip() for p in line.split(" | ")]
        if len(parts) >= 3 and parts[0][:1] == "F" and parts[0][1:].isdigit():
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def good_analysis(body: dict[str, Any]) -> dict[str, Any]:
    found = finding_lines(body)[:3]
    insights = [{"text": f"{statement}", "finding_ids": [fid], "query_ids": []} for fid, _t, statement in found]
    recs = [{"title": f"Act on the {title.lower()} finding", "rationale": statement, "impact": "High",
             "effort": "Low", "owner": "Product Management", "success_metric": f"improvement against [{fid}]",
             "horizon": "Now", "finding_ids": [fid], "query_ids": []} for fid, title, statement in found[:2]]
    return {"insights": insights or [{"text": "No findings to interpret.", "finding_ids": [], "query_ids": []}],
            "recommendations": recs, "risks": ["Model-written text; check it against the cited evidence."]}


def good_summary(body: dict[str, Any]) -> dict[str, Any]:
    lines = [ln[len("- insight: "):] for ln in _prompt(body).splitlines() if ln.startswith("- insight: ")]
    return {"headline": [lines[0] if lines else "The agents' findings are summarised below."],
            "insights": [{"text": ln, "finding_ids": [], "query_ids": []} for ln in lines[:4]],
            "caveats": ["Summary written by a model from the agents' cited findings."]}


def analyst_responder(body: dict[str, Any]) -> Reply:
    """Submit a valid, grounded answer with the submit tool (or as JSON content when no tools are offered)."""
    tools = _tools(body)
    summary = "submit_summary" in tools or "Executive summary" in _prompt(body)
    payload = good_summary(body) if summary else good_analysis(body)
    if not tools:
        return Reply(content=json.dumps(payload))
    return Reply(tool_calls=[tool_call("submit_summary" if summary else "submit_analysis", **payload)])
