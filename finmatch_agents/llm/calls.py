"""Calling a model: retries with backoff (honouring Retry-After), error classification, budgets, accounting.

* 408, 429, 5xx, timeouts and connection errors are retried with exponential backoff (1 s, 2 s, 4 s...),
  waiting at least what ``Retry-After`` asks (capped); 401/403 and other 4xx are not retried.
* Every error message is scrubbed of the API key before it is shown or logged.
* Tokens come from the response's usage; when a server reports none they are estimated offline
  (4 characters per token, no tokenizer download).
* A run has a budget of model calls and tokens shared by all agents (thread-safe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import ModelError

if TYPE_CHECKING:
    from finmatch_agents.llm.models import ModelConfig

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 30.0
CHARS_PER_TOKEN = 4


class ModelCallError(ModelError):
    """A model call failed for good; ``retryable`` tells whether retrying (later) could help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status, self.retryable = status, retryable
        self.attempts = 1
        self.latency_ms = 0.0


class BudgetExceeded(ModelError):
    title = "Model budget exhausted"


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


class Budget:
    """Per-run limits on model calls and tokens, shared by the agents' threads."""

    def __init__(self, max_calls: int, max_tokens: int) -> None:
        self.max_calls, self.max_tokens = max_calls, max_tokens
        self.calls = self.tokens = 0
        self._lock = threading.Lock()

    def reserve_call(self) -> None:
        with self._lock:
            if self.calls >= self.max_calls:
                raise BudgetExceeded(f"the run's budget of {self.max_calls} model calls is used up",
                                     hint="raise [llm] max_calls_per_run in finmatch.toml")
            if self.tokens >= self.max_tokens:
                raise BudgetExceeded(f"the run's budget of {self.max_tokens} tokens is used up",
                                     hint="raise [llm] max_tokens_per_run in finmatch.toml")
            self.calls += 1

    def spend(self, tokens: int) -> None:
        with self._lock:
            self.tokens += tokens


def scrub(text: str, secret: str | None) -> str:
    """Remove the API key (and its tail, which some servers echo) from a message."""
    if secret and len(secret) >= 6:
        text = text.replace(secret, "***").replace(secret[-6:], "***")
    return text


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN) if text else 0


def usage_of(message: Any, prompt_chars: int) -> Usage:
    meta = getattr(message, "usage_metadata", None) or {}
    if meta.get("input_tokens") or meta.get("output_tokens"):
        return Usage(int(meta.get("input_tokens") or 0), int(meta.get("output_tokens") or 0))
    content = getattr(message, "content", "") or ""
    calls = getattr(message, "tool_calls", []) or []
    out = estimate_tokens(str(content)) + sum(estimate_tokens(str(c.get("args"))) for c in calls)
    return Usage(estimate_tokens("x" * prompt_chars), out, estimated=True)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None and getattr(exc, "response", None) is not None:
        status = getattr(exc.response, "status_code", None)  # type: ignore[attr-defined]
    return int(status) if status is not None else None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:  # an HTTP date: treat as "a little while"
        return 1.0


def classify(exc: BaseException, cfg: ModelConfig) -> ModelCallError:
    import openai

    secret = cfg.api_key()
    status = _status(exc)
    text = scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, secret)
    where = f"{cfg.name} ({cfg.base_url})"
    if isinstance(exc, openai.APITimeoutError) or "timed out" in text.lower():
        return ModelCallError(f"{where} did not answer within {cfg.timeout:g} s", retryable=True,
                              hint="the endpoint may be overloaded; raise `timeout` for this model")
    if isinstance(exc, openai.APIConnectionError):
        return ModelCallError(f"cannot reach {where}: {text}", retryable=True, hint="check base_url and the network")
    if status in (401, 403):
        env = cfg.api_key_env or "the key variable"
        return ModelCallError(f"{where} refused the credentials (HTTP {status})", status=status,
                              hint=f"check that {env} holds a valid key with access to {cfg.model}")
    if status is not None:
        return ModelCallError(f"{where} answered HTTP {status}: {text}", status=status,
                              retryable=status in RETRY_STATUS or status >= 500)
    return ModelCallError(f"{where} failed: {text}")


@dataclass
class CallRecord:
    ok: bool
    latency_ms: float
    attempts: int
    usage: Usage
    error: str | None = None
    status: int | None = None


def call_with_retries(invoke: Callable[[], Any], cfg: ModelConfig, *, prompt_chars: int, budget: Budget | None,
                      cancelled: Callable[[], bool] = lambda: False,
                      sleep: Callable[[float], None] = time.sleep) -> tuple[Any, CallRecord]:
    """Run ``invoke`` (one chat completion) with retries; returns (message, record) or raises ModelCallError."""
    attempts = 0
    started = time.perf_counter()
    while True:
        if budget is not None:
            budget.reserve_call()
        attempts += 1
        try:
            message = invoke()
        except Exception as exc:  # every client error is classified below
            error = classify(exc, cfg)
            if not error.retryable or attempts > cfg.max_retries or cancelled():
                error.attempts = attempts
                error.latency_ms = round((time.perf_counter() - started) * 1000, 1)
                raise error from None
            wait = min(2.0 ** (attempts - 1), 8.0)
            wait = max(wait, min(_retry_after(exc) or 0.0, MAX_RETRY_AFTER))
            sleep(wait)
            continue
        if cfg.streaming and not (getattr(message, "response_metadata", None) or {}).get("finish_reason"):
            # a stream cut off before the model finished: a partial answer must not pass as a complete one
            error = ModelCallError(f"{cfg.name} ({cfg.base_url}): the answer stream ended before the model "
                                   "finished (no finish_reason)", retryable=True)
            if attempts > cfg.max_retries or cancelled():
                error.attempts = attempts
                error.latency_ms = round((time.perf_counter() - started) * 1000, 1)
                raise error from None
            sleep(min(2.0 ** (attempts - 1), 8.0))
            continue
        usage = usage_of(message, prompt_chars)
        if budget is not None:
            budget.spend(usage.total)
        return message, CallRecord(True, round((time.perf_counter() - started) * 1000, 1), attempts, usage)
