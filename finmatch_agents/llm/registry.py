"""Which analyst a model name means. ``offline`` (the default) is the deterministic rule-based analyst."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finmatch_agents.errors import UsageError

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.llm.analyst import Analyst

OFFLINE = "offline"


def get_analyst(name: str, settings: Settings) -> Analyst:
    if name == OFFLINE:
        from finmatch_agents.llm.offline import OfflineAnalyst

        return OfflineAnalyst()
    raise UsageError(f"--model: unknown model '{name}'", hint="`finmatch models list` shows configured models")
