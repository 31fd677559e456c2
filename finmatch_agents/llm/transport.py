"""A total deadline per model call, enforced on the wire.

httpx's timeouts are per read: a server that sends one byte a second never trips a 5-second read timeout
and keeps a call open for minutes. :class:`DeadlineTransport` gives every request one deadline for
connecting, the headers and the whole body; a response still arriving after it is cut off with a
``ReadTimeout``, which the retry logic treats like any other timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx


class _DeadlineStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, deadline: float, request: httpx.Request, seconds: float) -> None:
        self.inner, self.deadline, self.request, self.seconds = inner, deadline, request, seconds

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            if time.monotonic() > self.deadline:
                raise httpx.ReadTimeout(f"no complete answer within {self.seconds:g} s", request=self.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class DeadlineTransport(httpx.BaseTransport):
    """Wraps a transport so each request, body included, finishes within ``seconds``."""

    def __init__(self, seconds: float, inner: httpx.BaseTransport | None = None) -> None:
        self.seconds = seconds
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.seconds
        response = self.inner.handle_request(request)
        if time.monotonic() > deadline:
            response.close()
            raise httpx.ReadTimeout(f"no answer within {self.seconds:g} s", request=request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _DeadlineStream(response.stream, deadline, request, self.seconds)
        return response

    def close(self) -> None:
        self.inner.close()
