"""Which analyst a model name means: ``offline`` (the default, deterministic rules) or a configured model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.analysts.model import LLMLimits, ModelAnalyst
from finmatch_agents.analysts.offline import OfflineAnalyst
from finmatch_agents.llm.calls import Budget
from finmatch_agents.llm.models import OFFLINE, resolve_model
from finmatch_agents.llm.pii import Masker, load_key
from finmatch_agents.llm.registry import llm_limits, privacy

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from finmatch_agents.analysts.base import Analyst
    from finmatch_agents.config import Settings


def get_analyst(name: str, settings: Settings, *, chat: BaseChatModel | None = None, **overrides: Any) -> Analyst:
    """The analyst for ``name``; ``chat`` injects a chat model (tests use scripted fakes)."""
    if name == OFFLINE:
        return OfflineAnalyst()
    cfg = resolve_model(name, settings)
    limits = llm_limits(settings)
    columns, unmask = privacy(settings)
    return ModelAnalyst(
        cfg, masker=Masker.for_settings(load_key(settings.state_dir), columns, settings),
        budget=Budget(limits["max_calls_per_run"], limits["max_tokens_per_run"]),
        limits=LLMLimits(max_tool_calls=limits["max_tool_calls"], max_tool_rows=limits["max_tool_rows"],
                         max_turns=limits["max_turns"]),
        strict_grounding=overrides.get("strict_grounding", settings.strict_grounding),
        fallback=overrides.get("fallback", settings.model_fallback), unmask_in_report=unmask, chat=chat)
