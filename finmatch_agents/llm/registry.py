"""Which analyst a model name means: ``offline`` (the default, deterministic rules) or a configured model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import ConfigError
from finmatch_agents.llm.models import OFFLINE, resolve_model

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from finmatch_agents.config import Settings
    from finmatch_agents.llm.analyst import Analyst

LLM_DEFAULTS = {"max_calls_per_run": 40, "max_tokens_per_run": 300_000, "max_tool_calls": 4, "max_tool_rows": 50}


def llm_limits(settings: Settings) -> dict[str, int]:
    raw = settings.section("llm")
    out = dict(LLM_DEFAULTS)
    for key, value in raw.items():
        if key in ("strict_grounding", "fallback"):
            continue
        if key not in LLM_DEFAULTS:
            known = ", ".join([*LLM_DEFAULTS, "strict_grounding", "fallback"])
            raise ConfigError(f"[llm] {key}: unknown key; known: {known}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"[llm] {key}: expected a non-negative whole number, got {value!r}")
        out[key] = value
    return out


def privacy(settings: Settings) -> tuple[list[str], bool]:
    """(extra PII columns to mask, whether tokens may be mapped back in the local report)."""
    from finmatch_agents.data.schema import PII_COLUMNS

    raw = settings.section("privacy")
    unknown = set(raw) - {"pii_columns", "unmask_in_report"}
    if unknown:
        raise ConfigError(f"[privacy] {sorted(unknown)[0]}: unknown key; known: pii_columns, unmask_in_report")
    extra = raw.get("pii_columns", [])
    if not isinstance(extra, list) or not all(isinstance(c, str) for c in extra):
        raise ConfigError("[privacy] pii_columns must be a list of column names")
    return [*PII_COLUMNS, *extra], bool(raw.get("unmask_in_report", False))


def get_analyst(name: str, settings: Settings, *, chat: BaseChatModel | None = None, **overrides: Any) -> Analyst:
    """The analyst for ``name``; ``chat`` injects a chat model (tests use scripted fakes)."""
    if name == OFFLINE:
        from finmatch_agents.llm.offline import OfflineAnalyst

        return OfflineAnalyst()
    from finmatch_agents.llm.calls import Budget
    from finmatch_agents.llm.model_analyst import LLMLimits, ModelAnalyst
    from finmatch_agents.llm.pii import Masker, load_key

    cfg = resolve_model(name, settings)
    limits = llm_limits(settings)
    columns, unmask = privacy(settings)
    return ModelAnalyst(
        cfg, masker=Masker.for_settings(load_key(settings.state_dir), columns, settings),
        budget=Budget(limits["max_calls_per_run"], limits["max_tokens_per_run"]),
        limits=LLMLimits(max_tool_calls=limits["max_tool_calls"], max_tool_rows=limits["max_tool_rows"]),
        strict_grounding=overrides.get("strict_grounding", settings.strict_grounding),
        fallback=overrides.get("fallback", settings.model_fallback), unmask_in_report=unmask, chat=chat)
