"""HTTP status and stable ``code`` of every error, decided here and nowhere else.

The body of every error response is ``{"error": {"code", "title", "message", "hint", "status", ...}}``: the
title is the CLI's (``errors.py``), the code a stable kebab-case name clients can switch on (docs/serve.md lists
them). Domain errors keep the CLI's wording; extra fields (``field``, ``close``, ``rule``) say more.
"""

from __future__ import annotations

from typing import Any

from finmatch_agents import errors as e

#: (error class, HTTP status, code), most specific first; the first class the error is an instance of wins
ERROR_MAP: tuple[tuple[type[e.FinMatchError], int, str], ...] = (
    (e.QueryTimeout, 504, "query-timeout"),
    (e.SQLRefused, 422, "sql-refused"),
    (e.QueryFailed, 422, "query-failed"),
    (e.MissingDatabase, 503, "no-database"),
    (e.CorruptDatabase, 503, "database-unusable"),
    (e.DatabaseUnwritable, 503, "database-unusable"),
    (e.DataError, 409, "bad-data"),
    (e.MissingExtra, 503, "missing-extra"),
    (e.ConfigError, 500, "config-error"),
    (e.UsageError, 400, "usage-error"),
    (e.ModelError, 502, "model-failed"),
    (e.StorageError, 503, "storage-error"),
    (e.Busy, 503, "busy"),
    (e.Interrupted, 503, "interrupted"),
    (e.FinMatchError, 500, "error"),
)
#: seconds a client should wait before retrying a ``busy`` answer
BUSY_RETRY_AFTER = 2


class ApiError(e.FinMatchError):
    """An error only the API has (authentication, limits, unknown ids, absent engines): status and code set
    directly, ``extra`` added to the body, ``headers`` to the response."""

    def __init__(self, status: int, code: str, title: str, message: str, *, hint: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message, hint=hint)
        self.status, self.code, self.title = status, code, title
        self.headers = headers or {}
        self.extra = extra


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", "Unauthorized", message, headers={"WWW-Authenticate": "Bearer"},
                    hint="send `Authorization: Bearer KEY`; create a key with `finmatch serve keys add NAME`")


def forbidden(scope: str, name: str) -> ApiError:
    return ApiError(403, "forbidden", "Forbidden", f"key '{name}' lacks the '{scope}' scope", scope=scope,
                    hint=f"create a key with it: `finmatch serve keys add NAME --scope {scope}`")


def not_found(what: str, ident: str, close: list[str], hint: str | None = None) -> ApiError:
    text = f"{what} '{ident}' is not known"
    return ApiError(404, "not-found", "Not found", text, close=close,
                    hint=hint or (f"did you mean {', '.join(close)}?" if close else None))


def engine_unavailable(engine: str, why: str) -> ApiError:
    return ApiError(503, "engine-unavailable", "Engine unavailable", f"the {engine} engine is not available: {why}",
                    engine=engine)


def model_failed(message: str, *, timeout: bool) -> ApiError:
    """A model endpoint the answer needed failed: 504 when it did not answer in time, else 502."""
    if timeout:
        return ApiError(504, "model-timeout", e.ModelError.title, message,
                        hint="the endpoint may be overloaded; raise `timeout` for this model in finmatch.toml")
    return ApiError(502, "model-failed", e.ModelError.title, message,
                    hint="check the endpoint with `finmatch models test NAME`; verified and compiled questions "
                         "are still answered offline")


def classify(exc: e.FinMatchError) -> tuple[int, str, dict[str, str]]:
    """HTTP status, code and extra headers for ``exc``."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.headers
    for kind, status, code in ERROR_MAP:
        if isinstance(exc, kind):
            headers = {"Retry-After": str(BUSY_RETRY_AFTER)} if status == 503 and code == "busy" else {}
            return status, code, headers
    return 500, "error", {}  # pragma: no cover - FinMatchError is the last entry


def error_body(exc: e.FinMatchError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers of the response for ``exc``."""
    status, code, headers = classify(exc)
    body: dict[str, Any] = {"code": code, "title": exc.title, "message": exc.message, "hint": exc.hint,
                            "status": status}
    for key in ("rule", "file", "line", "row", "column"):
        if getattr(exc, key, None) is not None:
            body[key] = getattr(exc, key)
    if isinstance(exc, ApiError):
        body.update(exc.extra)
    return status, {"error": body}, headers


def internal_error_body() -> dict[str, Any]:
    """An unexpected failure: no traceback or message leaves the server (the log has it)."""
    return {"error": {"code": "internal", "title": "Unexpected error", "status": 500, "hint": None,
                      "message": "the server failed unexpectedly; its log has the details"}}
