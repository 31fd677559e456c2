"""The focus agents, found in this package: every module that declares an ``AGENT`` spec is one.

Their order (in reports, flags and the live view) is their id block (performance 100, optimization 200...).
Names are the same everywhere (flags, events, history). Adding an agent is adding a module here (plus its
prompt, its SQL and its tests): nothing else lists the agents.
"""

from __future__ import annotations

import importlib
import pkgutil

from finmatch_agents.agents.base import AgentSpec
from finmatch_agents.errors import UsageError


def _discover() -> dict[str, AgentSpec]:
    specs = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "AGENT", None)
        if isinstance(spec, AgentSpec):
            if spec.key != info.name.replace("_", "-"):  # the CLI's help reads agent names from module names
                raise RuntimeError(f"agent {spec.key!r} must live in module {spec.key.replace('-', '_')}.py")
            specs.append(spec)
    blocks = [s.block for s in specs]
    if len(set(blocks)) != len(blocks) or any(b % 100 for b in blocks):
        raise RuntimeError(f"agents need distinct id blocks of 100: {sorted(blocks)}")
    return {s.key: s for s in sorted(specs, key=lambda s: s.block)}


AGENTS: dict[str, AgentSpec] = _discover()
FOCUS_ORDER: tuple[str, ...] = tuple(AGENTS)
FOCUS_ALL = "all"


def resolve_focus(values: list[str]) -> list[str]:
    """Agent keys from ``--focus`` values (repeated and/or comma-separated; ``all``), in report order."""
    chosen: list[str] = []
    for value in values or [FOCUS_ALL]:
        for item in (v.strip() for v in value.split(",")):
            if item == FOCUS_ALL:
                chosen.extend(FOCUS_ORDER)
            elif item in FOCUS_ORDER:
                chosen.append(item)
            else:
                raise UsageError(f"--focus: '{item}' is not one of {', '.join((*FOCUS_ORDER, FOCUS_ALL))}")
    return [k for k in FOCUS_ORDER if k in chosen]
