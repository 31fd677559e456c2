"""Assumptions behind money figures and thresholds: defaults here, overridable in ``[assumptions]`` of
finmatch.toml. Every report lists each one with its value and source, and the SQL that uses an
assumption echoes it as a column, so even these numbers trace to a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import ConfigError

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.units import Unit


@dataclass(frozen=True)
class Assumption:
    key: str
    value: Any
    unit: str
    description: str
    source: str = "default"


DEFAULTS: tuple[Assumption, ...] = (
    Assumption("program_cost", 500_000.0, "currency per year",
               "Annual running cost of the recommendation programme (platform, data, model serving, staff)."),
    Assumption("cost_per_recommendation", 1.5, "currency",
               "Delivery cost of one recommendation (message, adviser time)."),
    Assumption("attribution_rate", 0.25, "ratio",
               "Share of accepted sales the programme caused (the rest would have happened anyway); ROI counts only "
               "this share of the revenue."),
    Assumption("lifetime_cap_years", 10.0, "years",
               "Cap on expected customer lifetime, which is 1 / annual churn probability."),
    Assumption("high_churn_threshold", 0.5, "probability",
               "Churn probability from which a customer counts as at risk."),
    Assumption("sales_uplift", 0.10, "ratio", "Scenario: relative increase in product sales (FinMatch target)."),
    Assumption("churn_reduction", 0.15, "ratio", "Scenario: relative reduction in churn (FinMatch target)."),
    Assumption("min_group_size", 100, "recommendations",
               "Smallest group (segment, product, channel...) reported on its own."),
    Assumption("min_effect", 0.02, "ratio",
               "Smallest difference (2 percentage points of acceptance or churn) that a comparison must show, beyond "
               "chance after adjusting for the number of comparisons, before the report acts on it."),
    Assumption("mistarget_gap", 0.15, "ratio",
               "Shortfall of acceptance below the score-expected rate that marks a segment x product pair "
               "as mis-targeted."),
    Assumption("digital_channels", ("Mobile App", "Online Banking", "Email"), "channels",
               "Channels counted as digital."),
)


@dataclass(frozen=True)
class Assumptions:
    items: tuple[Assumption, ...]

    def __getitem__(self, key: str) -> Any:
        for item in self.items:
            if item.key == key:
                return item.value
        raise KeyError(key)

    def source(self, key: str) -> str:
        """``default`` or ``config`` (set in ``[assumptions]``)."""
        for item in self.items:
            if item.key == key:
                return item.source
        raise KeyError(key)

    def units(self) -> dict[str, Unit]:
        """The unit each assumption is shown in (so its echo query's figures are grounded as what they are)."""
        def shown(unit: str) -> Unit:
            return ("currency" if unit.startswith("currency") else "percent" if unit in ("ratio", "probability")
                    else "count" if unit == "recommendations" else "text" if unit == "channels" else "number")
        return {a.key: shown(a.unit) for a in self.items}

    def params(self) -> dict[str, Any]:
        """Values to inline into named SQL (``{{program_cost}}``...)."""
        return {a.key: list(a.value) if isinstance(a.value, tuple) else a.value for a in self.items}

    def to_list(self) -> list[dict[str, Any]]:
        return [{"key": a.key, "value": list(a.value) if isinstance(a.value, tuple) else a.value, "unit": a.unit,
                 "description": a.description, "source": a.source} for a in self.items]


def load_assumptions(settings: Settings | None = None) -> Assumptions:
    raw = settings.section("assumptions") if settings else {}
    unknown = set(raw) - {a.key for a in DEFAULTS}
    if unknown:
        raise ConfigError(f"[assumptions] {sorted(unknown)[0]}: unknown key; known: "
                          + ", ".join(a.key for a in DEFAULTS))
    items = []
    for a in DEFAULTS:
        if a.key not in raw:
            items.append(a)
            continue
        value = raw[a.key]
        if isinstance(a.value, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[assumptions] {a.key}: expected a list of strings")
            value = tuple(value)
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"[assumptions] {a.key}: expected a non-negative number, got {value!r}")
        elif isinstance(a.value, int) and not isinstance(a.value, bool):
            value = int(value)
        else:
            value = float(value)
        items.append(Assumption(a.key, value, a.unit, a.description, "config"))
    return Assumptions(tuple(items))
