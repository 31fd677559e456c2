"""Per-key rate limit (a token bucket) and the request body size limit.

A key's rate is its own (``keys add --rate-limit N``) or the server's (``FINMATCH_SERVE_RATE_LIMIT``). The bucket
of a key holds up to ``per_minute / 6`` requests (ten seconds' worth, at least 1) and refills at
``per_minute / 60`` a second, so a client may burst briefly but not exceed its rate over time. A request
that finds the bucket empty gets 429 with ``Retry-After`` (whole seconds until one token is back). Buckets
live in the worker's memory: with ``--workers N`` each worker limits on its own (N × the rate at most).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from finmatch_agents.serve.errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def check(self, key: str, now: float, per_minute: int | None = None) -> None:
        """Take one token for ``key`` or raise 429; ``per_minute``: this key's own rate (None: the server's)."""
        limit = self.per_minute if per_minute is None else per_minute
        if limit <= 0:
            return
        rate, capacity = limit / 60.0, max(1.0, limit / 6.0)
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / rate))
                raise ApiError(429, "rate-limited", "Too many requests",
                               f"more than {limit} requests a minute for this key",
                               headers={"Retry-After": str(wait)}, retry_after=wait,
                               hint="wait Retry-After seconds before the next request")
            self._buckets[key] = (tokens - 1.0, now)


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413, by its Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int, reject: Callable[[ApiError], Any]) -> None:
        self.app, self.max_bytes, self.reject = app, max_bytes, reject

    def _too_large(self) -> ApiError:
        return ApiError(413, "body-too-large", "Request too large",
                        f"the request body is larger than {self.max_bytes:,} bytes",
                        hint="send a smaller body; FINMATCH_SERVE_MAX_BODY sets the limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self.reject(self._too_large())(scope, receive, send)
                    return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # the app's error handler answers 413 for it
                    raise self._too_large()
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking)
        except ApiError as exc:  # raised while the body streamed in, outside any handler
            if started or exc.status != 413:
                raise
            await self.reject(exc)(scope, receive, send)
