"""The engine's parameters: mode, list length, dimension weights and the gates' thresholds, in one place.

Every run records these with its results (``matches`` metadata, ``--json``), so a ranking can always be
traced to the settings that produced it. The high-churn threshold is the analysis assumption of the same
name (``[assumptions] high_churn_threshold`` in finmatch.toml), so the agents and the engine agree on who
is at risk.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from finmatch_agents.errors import UsageError

MODES = ("active", "passive", "auto")
#: the shared space: one dimension per product attribute (features.products.ATTRIBUTES)
DIMS = ("risk", "complexity", "revenue", "retention", "value", "bank_risk")
#: the attributes that serve the bank rather than the customer (003; Reg BI / Consumer Duty disclosure)
BANK_DIMS = ("revenue", "bank_risk")
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "active": dict.fromkeys(DIMS, 1.0),
    # 003's passive mode for customers likely to leave: retention and low risk up, profit down
    "passive": {"risk": 2.0, "complexity": 1.0, "revenue": 0.5, "retention": 2.0, "value": 2.0, "bank_risk": 2.0},
}


@dataclass(frozen=True)
class MatchParams:
    mode: str = "auto"
    top: int = 3
    weights: dict[str, float] = field(default_factory=dict)  # overrides, applied in both modes
    shortlist: int | None = None  # stage 1 keeps this many suitable products for stage 2 (default 2 x top)
    high_churn_threshold: float = 0.5  # auto: passive from this churn probability; gate L1
    lock_in_max_months: int = 12  # L1 / L2: longer lock-ins are checked against churn and liquidity
    liquidity_months: float = 1.0  # L2: balance must cover this many months of income
    interest_weight: float = 1.0  # stage 2 preference points
    affinity_weight: float = 0.5
    usage_trend_weight: float = 0.25

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"--mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if self.top < 1:
            raise UsageError("--top must be at least 1")
        if self.shortlist is not None and self.shortlist < self.top:
            raise UsageError(f"--shortlist ({self.shortlist}) must be at least --top ({self.top})")

    @property
    def shortlist_size(self) -> int:
        return self.shortlist or 2 * self.top

    def weights_for(self, mode: str, *, customer_only: bool = False) -> dict[str, float]:
        """Dimension weights of ``mode``; ``customer_only`` zeroes the bank's attributes (the disclosure)."""
        weights = {**DEFAULT_WEIGHTS[mode], **self.weights}
        if customer_only:
            weights.update(dict.fromkeys(BANK_DIMS, 0.0))
        return weights

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shortlist"] = self.shortlist_size
        data["weights_active"] = self.weights_for("active")
        data["weights_passive"] = self.weights_for("passive")
        return data


def parse_weights(text: str | None) -> dict[str, float]:
    """``"revenue=0.5,bank_risk=2"`` -> ``{"revenue": 0.5, "bank_risk": 2.0}``; names the first bad part."""
    if text is None or not text.strip():
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise UsageError(f"--weights: '{part.strip()}' is not NAME=NUMBER", hint=f"names: {', '.join(DIMS)}")
        if name not in DIMS:
            raise UsageError(f"--weights: unknown dimension '{name}'", hint=f"names: {', '.join(DIMS)}")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--weights: {name}='{value.strip()}' is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise UsageError(f"--weights: {name} must be a finite number ≥ 0, got {value.strip()}")
        out[name] = number
    if out and all(out.get(d, 1.0) == 0 for d in DIMS):
        raise UsageError("--weights: every dimension is 0, so nothing would be matched")
    return out
