"""Model-related settings: the ``[llm]`` limits and the ``[privacy]`` section (which columns are personal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finmatch_agents.config import LLM_LIMITS
from finmatch_agents.data.schema import PII_COLUMNS
from finmatch_agents.errors import ConfigError

if TYPE_CHECKING:
    from finmatch_agents.config import Settings



def llm_limits(settings: Settings) -> dict[str, int]:
    """The ``[llm]`` bounds (unknown keys are refused when the settings load)."""
    raw = settings.section("llm")
    out = dict(LLM_LIMITS)
    for key, value in raw.items():
        if key not in LLM_LIMITS:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"[llm] {key}: expected a non-negative whole number, got {value!r}")
        out[key] = value
    return out


def privacy(settings: Settings) -> tuple[list[str], bool]:
    """(extra PII columns to mask, whether tokens may be mapped back in the local report)."""
    raw = settings.section("privacy")
    unknown = set(raw) - {"pii_columns", "unmask_in_report"}
    if unknown:
        raise ConfigError(f"[privacy] {sorted(unknown)[0]}: unknown key; known: pii_columns, unmask_in_report")
    extra = raw.get("pii_columns", [])
    if not isinstance(extra, list) or not all(isinstance(c, str) for c in extra):
        raise ConfigError("[privacy] pii_columns must be a list of column names")
    return [*PII_COLUMNS, *extra], bool(raw.get("unmask_in_report", False))
