"""The access log (one line per request, no secrets) and the Prometheus metrics behind ``/metrics``.

An access line is ``METHOD PATH STATUS MS key=NAME bytes=N`` on the ``finmatch.serve.access`` logger: the path
without its query string, the key's *name* (never the key), ``-`` when there was none. Metrics are per worker
(the ``worker`` label is its pid), in a registry of their own.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["PROMETHEUS_CONTENT_TYPE", "Metrics", "access_logger"]

ACCESS_LOGGER = "finmatch.serve.access"
#: latency buckets (seconds) around the API's targets (20 ms, 50 ms) and slow answers
BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0)


def access_logger() -> logging.Logger:
    return logging.getLogger(ACCESS_LOGGER)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        worker = str(os.getpid())
        self.requests = Counter("finmatch_http_requests", "HTTP requests answered", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("finmatch_http_request_seconds", "Time to answer a request", ["route"],
                                 buckets=BUCKETS, registry=self.registry)
        self.model_calls = Counter("finmatch_model_calls", "Model endpoint calls made for answers and analyses",
                                   ["model", "status"], registry=self.registry)
        self.answers = Counter("finmatch_ask_answers", "Answers to questions by kind", ["kind"],
                               registry=self.registry)
        self.runs = Gauge("finmatch_runs_active", "Analyses running in this worker", registry=self.registry)
        self.loads = Counter("finmatch_engine_loads", "Engine artefacts (re)loaded", ["engine", "status"],
                             registry=self.registry)
        self.info = Gauge("finmatch_worker_info", "This worker", ["worker"], registry=self.registry)
        self.info.labels(worker=worker).set(1)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def model_call(self, event: dict[str, object]) -> None:
        self.model_calls.labels(model=str(event.get("model") or "?"), status=str(event.get("status") or "?")).inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)
