"""The engines other modules provide, reached through one place: recommendations and feedback
(``finmatch_agents.recommend.api``, issue 15) and hybrid search (``finmatch_agents.similar.api``, issue 16).

Each module is imported lazily, the first time a route needs it (then remembered); a module that is not
installed makes its routes answer 503 ``engine-unavailable`` instead of failing at start-up, so the server
works before and after those engines are merged. The functions the routes are built against:

- ``recommend.api.recommendations_for(settings, engine, log, customer_id, top) -> dict``
- ``recommend.api.promoted_summary(state_dir) -> dict | None`` (shown by ``/health``)
- ``recommend.api.record_feedback(settings, feedback: dict) -> dict`` (optional: ``POST /v1/feedback`` is 503
  without it) where ``feedback`` has ``customer_id``, ``product_id``, one of ``rating`` (1-5) / ``accepted``
  (bool), ``note``, ``source`` (``api:<key name>``) and ``model_id``; it writes through ``finmatch data``'s
  writer itself. The route calls it while the worker's read-only connection is closed
  (:meth:`SandboxGate.exclusive`), because DuckDB lets a writer in only alone
- ``similar.api.search(settings, engine, log, question, top) -> dict``
- ``similar.api.like(settings, engine, log, customer_ids, top) -> dict`` (a version taking one
  ``customer_id`` is called with a single id)

They raise the domain errors of ``errors.py``; an unknown customer or product is a ``UsageError`` whose hint
names the closest ids, as on the CLI.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from finmatch_agents.serve.errors import engine_unavailable

if TYPE_CHECKING:
    from pathlib import Path

    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import DuckDBEngine

#: engine name -> (module, the functions its routes call, functions that are optional)
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "recommend": ("finmatch_agents.recommend.api", ("recommendations_for", "promoted_summary", "record_feedback")),
    "similar": ("finmatch_agents.similar.api", ("search", "like")),
}
ISSUES = {"recommend": 15, "similar": 16}
_found: dict[str, ModuleType | None] = {}
_lock = threading.Lock()


def module(engine: str) -> ModuleType | None:
    """The engine's module when it is installed, else None (never an import error at start-up)."""
    with _lock:
        if engine in _found:
            return _found[engine]
        name = MODULES[engine][0]
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # the parent package itself is absent
            spec = None
        _found[engine] = importlib.import_module(name) if spec is not None else None
        return _found[engine]


def _why(engine: str) -> str:
    return f"{MODULES[engine][0]} is not installed (issue {ISSUES[engine]})"


def function(engine: str, name: str) -> Any:
    """``engine``'s function ``name``, or 503 ``engine-unavailable`` saying which part is missing."""
    found = module(engine)
    if found is None:
        raise engine_unavailable(engine, _why(engine))
    fn = getattr(found, name, None)
    if fn is None:
        raise engine_unavailable(engine, f"{MODULES[engine][0]} has no {name}()")
    return fn


def status() -> dict[str, dict[str, Any]]:
    """What ``/health`` says about each engine: available, why not, which functions it has."""
    out: dict[str, dict[str, Any]] = {}
    for engine, (_name, functions) in MODULES.items():
        found = module(engine)
        if found is None:
            out[engine] = {"available": False, "reason": _why(engine), "functions": []}
            continue
        have = [f for f in functions if hasattr(found, f)]
        missing = [f for f in functions if f not in have]
        out[engine] = {"available": bool(have), "reason": f"missing {', '.join(missing)}" if missing else None,
                       "functions": have}
    return out


def promoted(state_dir: Path) -> dict[str, Any] | None:
    """The promoted recommender (``recommend.api.promoted_summary``), or None when there is none or no module."""
    found = module("recommend")
    summary = getattr(found, "promoted_summary", None) if found is not None else None
    if summary is None:
        return None
    result: dict[str, Any] | None = summary(state_dir)
    return result


def recommendations(settings: Settings, engine: DuckDBEngine, log: QueryLog, customer_id: str,
                    top: int) -> dict[str, Any]:
    result: dict[str, Any] = function("recommend", "recommendations_for")(settings, engine, log, customer_id, top)
    return result


def feedback(settings: Settings, item: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = function("recommend", "record_feedback")(settings, item)
    return result


def search(settings: Settings, engine: DuckDBEngine, log: QueryLog, question: str, top: int) -> dict[str, Any]:
    result: dict[str, Any] = function("similar", "search")(settings, engine, log, question, top)
    return result


def like_takes_many() -> bool:
    """Whether ``similar.api.like`` takes a list of customers (``customer_ids``) rather than one."""
    fn = function("similar", "like")
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return True
    return not (len(params) > 3 and params[3] == "customer_id")


def like(settings: Settings, engine: DuckDBEngine, log: QueryLog, customer_ids: list[str],
         top: int) -> dict[str, Any]:
    fn = function("similar", "like")
    first: Any = customer_ids if like_takes_many() else customer_ids[0]
    result: dict[str, Any] = fn(settings, engine, log, first, top)
    return result
