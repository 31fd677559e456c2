"""``POST /v1/ask``: the chat's own answer (verified → compiled → model), through a chat session per name.

Each session name (default ``api-<key name>``) has one :class:`ChatSession` per worker, used by one request
at a time, so its query ids and its model thread stay its own; different names answer in parallel. The
session gets the worker's sandbox for each answer (:class:`SandboxGate`), and is rebuilt when the data
changes (the semantic model learns its values again). Everything the CLI's ``ask`` does applies as it is:
the sandbox, the refusal rule, PII masking before a model call, grounding, the transcript in ``chat.sqlite``.

Only the read-only slash commands are open over HTTP (``/sql``, ``/tables``, ``/describe``, ``/metrics``,
``/explore``); the others (``/analyze``, ``/save``, ``/model``...) have their own routes or do not apply.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from finmatch_agents import errors as e
from finmatch_agents.chat.session import ChatSession
from finmatch_agents.serve.errors import ERROR_MAP, ApiError, model_failed

if TYPE_CHECKING:
    from finmatch_agents.chat.context import Answer
    from finmatch_agents.config import Settings
    from finmatch_agents.serve.engines import SandboxGate
    from finmatch_agents.serve.observe import Metrics

OPEN_COMMANDS = ("/sql", "/tables", "/describe", "/metrics", "/explore")
#: sessions kept per worker (least recently used closed first)
MAX_SESSIONS = 32
_TITLE = re.compile(r"^\*\*(.+?):\*\*")
#: how a model failure that timed out reads (llm/calls.py: "... did not answer within N s")
_TIMEOUT_WORDS = ("did not answer within", "timed out")


def check_command(question: str) -> None:
    """A slash command that is not open over HTTP is 422 on ``question``."""
    if not question.startswith("/"):
        return
    name = question.split(maxsplit=1)[0].lower()
    if name not in OPEN_COMMANDS:
        message = f"{name} is not available over HTTP; open commands: {', '.join(OPEN_COMMANDS)}"
        raise ApiError(422, "invalid-request", "Invalid request", f"question: {message}", field="question",
                       errors=[{"field": "question", "message": message}])


class Asker:
    def __init__(self, settings: Settings, gate: SandboxGate, metrics: Metrics | None = None) -> None:
        self.settings, self.gate, self.metrics = settings, gate, metrics
        self._sessions: dict[tuple[str, str], tuple[ChatSession, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _event(self, event: dict[str, Any]) -> None:
        if self.metrics is not None and event.get("event") == "model_call":
            self.metrics.model_call(event)

    def _session(self, name: str, model: str, engine: Any) -> tuple[ChatSession, threading.Lock]:
        key = (name, model)
        with self._lock:
            found = self._sessions.pop(key, None)
            if found is not None:
                self._sessions[key] = found  # most recently used last
                return found
        session = ChatSession(self.settings.with_overrides(model=model), name, on_event=self._event, engine=engine)
        with self._lock:
            if key in self._sessions:  # another request made it meanwhile: keep one
                session.close()
                return self._sessions[key]
            self._sessions[key] = entry = (session, threading.Lock())
            while len(self._sessions) > MAX_SESSIONS:
                oldest = next(iter(self._sessions))
                old, old_lock = self._sessions.pop(oldest)
                if old_lock.acquire(blocking=False):
                    old.close()
                    old_lock.release()
        return entry

    def ask(self, question: str, session: str, model: str | None) -> dict[str, Any]:
        """The answer as ``finmatch ask --json`` prints it; an error answer raises the matching API error."""
        check_command(question)
        chosen = model or self.settings.model
        with self.gate.lease() as engine:
            chat, lock = self._session(session, chosen, engine)
            with lock:
                chat.engine = engine
                answer = chat.ask(question)
                failure = chat.model_failure
        if self.metrics is not None:
            self.metrics.answers.labels(kind=answer.kind).inc()
        body = {"question": question, "session": session, **answer.to_dict()}
        if answer.kind == "error":
            raise answer_error(answer, failure, body)
        return body

    def reset(self, *_: object) -> None:
        """The data changed: every session starts again (the semantic model re-learns its values)."""
        with self._lock:
            old, self._sessions = self._sessions, {}
        for session, lock in old.values():
            with lock:
                session.close()

    def close(self) -> None:
        self.reset()


def answer_error(answer: Answer, failure: str | None, body: dict[str, Any]) -> ApiError:
    """An error answer as an API error: the model failing is 502/504, a refused statement 422 ``sql-refused``."""
    if answer.exit_code == e.EXIT_MODEL and failure:
        err = model_failed(f"the model failed and the question needs it: {failure}",
                           timeout=any(w in failure.lower() for w in _TIMEOUT_WORDS))
        err.extra["answer"] = body
        return err
    m = _TITLE.match(answer.text)
    title = m.group(1) if m else "Error"
    status, code = 400, "usage-error"
    for kind, kind_status, kind_code in ERROR_MAP:
        if kind.title == title:
            status, code = kind_status, kind_code
            break
    else:
        if answer.exit_code == e.EXIT_BAD_INPUT:
            status, code = 422, "refused"
    return ApiError(status, code, title, body["text"], answer=body)
