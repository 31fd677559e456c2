"""Running the application under uvicorn: ``finmatch serve`` in the foreground, one or more workers.

With one worker the application object is built here and served; with ``--workers N`` uvicorn starts N
processes that each build it from :func:`factory` (settings from the environment, which the command fills
from its flags), load their own artefacts and share the listening socket. Logs go to stderr: uvicorn's
start-up lines and the access log (``finmatch.serve.access``, one line per request).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import uvicorn

from finmatch_agents.config import load_settings
from finmatch_agents.serve.app import create_app

if TYPE_CHECKING:
    from fastapi import FastAPI

    from finmatch_agents.config import Settings

#: the environment a worker resolves its settings from (the command sets it from its own flags)
WORKER_ENV = ("FINMATCH_CONFIG", "FINMATCH_DB", "FINMATCH_STATE_DIR", "FINMATCH_REPORTS_DIR", "FINMATCH_MODEL",
              "FINMATCH_TABLE")
DOCS_ENV = "FINMATCH_SERVE_DOCS"


def log_config(access: bool = True) -> dict[str, Any]:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": fmt}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "finmatch": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "finmatch.serve.access": {"level": "INFO" if access else "WARNING"},
        },
    }


def factory() -> FastAPI:
    """The application of one worker (``--workers N``): settings from the environment."""
    return create_app(load_settings(), docs=os.environ.get(DOCS_ENV, "1") != "0")


def run(settings: Settings, *, host: str, port: int, workers: int, docs: bool = True, access_log: bool = True,
        worker_env: dict[str, str] | None = None) -> None:
    """Serve until stopped (SIGINT/SIGTERM finish the requests in flight, then the analyses are cancelled)."""
    common: dict[str, Any] = {"host": host, "port": port, "log_config": log_config(access_log), "access_log": False,
                              "server_header": False, "proxy_headers": False, "timeout_graceful_shutdown": 10}
    if workers > 1:
        os.environ.update(worker_env or {})
        os.environ[DOCS_ENV] = "1" if docs else "0"
        uvicorn.run("finmatch_agents.serve.server:factory", factory=True, workers=workers, **common)
        return
    uvicorn.run(create_app(settings, docs=docs), **common)
