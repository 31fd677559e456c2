"""Stage 1a: suitability gates. A product that fails any gate is never offered, whatever its distance.

Each rule has an id, the data it needs and a plain reason. A rule whose data the dataset or catalogue lacks
is *skipped* for everyone, and the run says so ("risk appetite absent: gate S1 skipped"). When the data has
the column but one customer's value is unknown, the rule takes the cautious reading for that customer (an
unknown risk appetite allows only the lowest risk level, an unknown balance meets no minimum) and the
reason says the value is unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.features.products import Catalogue
    from finmatch_agents.match.params import MatchParams


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    rule: str
    customer: tuple[str, ...]  # features it needs
    product: tuple[str, ...]  # catalogue columns it needs (any one of them for E1)


RULES: tuple[Rule, ...] = (
    Rule("H1", "already held", "The customer already holds the product (accepted it before).", ("held",), ()),
    Rule("E1", "age eligibility", "The customer's age is outside the product's min_age..max_age.", ("age",),
         ("min_age", "max_age")),
    Rule("A1", "affordability: balance", "The customer's balance is below the product's min_balance.",
         ("balance",), ("min_balance",)),
    Rule("A2", "affordability: income", "The customer's income is below the product's min_income.",
         ("income",), ("min_income",)),
    Rule("S1", "suitability: risk", "The product's risk to the customer (1-5) is above the level the customer's "
         "risk appetite allows: 1 + round(4 × appetite).", ("risk_appetite",), ("risk_to_customer",)),
    Rule("S2", "appropriateness: complexity", "The product's complexity (1-5) is more than one level above the "
         "customer's financial acumen level, 1 + round(4 × acumen).", ("financial_acumen",), ("complexity",)),
    Rule("L1", "lock-in vs churn", "A lock-in longer than the limit for a customer whose churn probability is at or "
         "above the high-churn threshold.", ("churn_probability",), ("lock_in_months",)),
    Rule("L2", "lock-in vs liquidity", "A lock-in longer than the limit while the balance covers less than the "
         "required months of income.", ("balance", "income"), ("lock_in_months",)),
)
RULE_BY_ID = {r.id: r for r in RULES}
_LABEL = {"held": "products held", "age": "age", "balance": "balance", "income": "income",
          "risk_appetite": "risk appetite", "financial_acumen": "financial acumen",
          "churn_probability": "churn probability"}


def level(score: np.ndarray) -> np.ndarray:
    """A 0-1 metric as one of five levels, 1 + round(4 x score) (unknown -> level 1, the cautious reading)."""
    return np.where(np.isnan(score), 1, 1 + np.floor(4 * np.nan_to_num(score) + 0.5)).astype(int)


def _level(score: float) -> int:
    """:func:`level` of one value (the reasons name one customer's level; no array for one number)."""
    return 1 if math.isnan(score) else int(1 + math.floor(4 * score + 0.5))


def skipped_rules(features: CustomerFeatures, catalogue: Catalogue) -> dict[str, str]:
    """Rule id -> why it cannot be applied to this data (features or catalogue columns absent)."""
    out: dict[str, str] = {}
    for rule in RULES:
        missing = [c for c in rule.customer if not features.has(c)]
        if missing:
            out[rule.id] = "; ".join(f"{_LABEL[c]} absent ({features.status[c].reason})" for c in missing)
            continue
        if rule.product and not any(catalogue.has(c) for c in rule.product):
            out[rule.id] = "the catalogue has no " + " or ".join(rule.product)
    return out


class Gates:
    """Evaluates the applicable rules for a block of customers against every product."""

    def __init__(self, features: CustomerFeatures, catalogue: Catalogue, params: MatchParams) -> None:
        self.f, self.c, self.p = features, catalogue, params
        self.skipped = skipped_rules(features, catalogue)
        self.applied = tuple(r.id for r in RULES if r.id not in self.skipped)

    def _col(self, name: str, rows: slice) -> np.ndarray:
        return self.f.values[name][rows][:, None]

    def _raw(self, name: str) -> np.ndarray:
        return self.c.raw[name][None, :] if self.c.has(name) else np.full((1, self.c.m), np.nan)

    def fails(self, rule: str, rows: slice) -> np.ndarray:
        """Boolean (customers x products): the rule fails."""
        p = self.p
        if rule == "H1":
            assert self.f.holdings is not None
            return self.f.holdings.matrix(list(self.c.product_ids), rows.start, rows.stop)
        if rule == "E1":
            age, lo, hi = self._col("age", rows), self._raw("min_age"), self._raw("max_age")
            unknown = np.isnan(age)
            with np.errstate(invalid="ignore"):
                return (~np.isnan(lo) & (unknown | (age < lo))) | (~np.isnan(hi) & (unknown | (age > hi)))
        if rule in ("A1", "A2"):
            have = self._col("balance" if rule == "A1" else "income", rows)
            need = self._raw("min_balance" if rule == "A1" else "min_income")
            with np.errstate(invalid="ignore"):
                return ~np.isnan(need) & (np.isnan(have) | (have < need))
        if rule == "S1":
            allowed = level(self.f.values["risk_appetite"][rows])[:, None]
            return self.c.raw["risk_to_customer"][None, :] > allowed
        if rule == "S2":
            allowed = level(self.f.values["financial_acumen"][rows])[:, None] + 1
            return self.c.raw["complexity"][None, :] > allowed
        long_lock = (self.c.raw["lock_in_months"] > p.lock_in_max_months)[None, :]
        if rule == "L1":
            churn = self._col("churn_probability", rows)
            return long_lock & (np.isnan(churn) | (np.nan_to_num(churn) >= p.high_churn_threshold))
        if rule == "L2":
            balance, income = self._col("balance", rows), self._col("income", rows)
            with np.errstate(invalid="ignore"):
                thin = np.isnan(balance) | np.isnan(income) | (balance < p.liquidity_months * income / 12)
            return long_lock & thin
        raise KeyError(rule)

    def reason(self, rule: str, row: int, j: int) -> str:
        """Why ``rule`` fails for customer ``row`` and product ``j``, in words with the numbers."""
        before, after = self.customer_text(rule, row)
        return before + self.product_text(rule, j) + after

    def product_text(self, rule: str, j: int) -> str:
        """The product's part of :meth:`reason` (the same for every customer: a server keeps it)."""
        c = self.c

        def raw(name: str) -> float:
            return float(c.raw[name][j]) if c.has(name) else math.nan

        if rule == "H1":
            return ""
        if rule == "E1":
            lo, hi = raw("min_age"), raw("max_age")
            return (f"{lo:.0f}–{hi:.0f}" if not (math.isnan(lo) or math.isnan(hi))
                    else f"{lo:.0f}+" if not math.isnan(lo) else f"up to {hi:.0f}")
        if rule in ("A1", "A2"):
            return f"{raw('min_balance' if rule == 'A1' else 'min_income'):,.0f}"
        if rule == "S1":
            return f"{raw('risk_to_customer'):.0f}"
        if rule == "S2":
            return f"{raw('complexity'):.0f}"
        return f"{raw('lock_in_months'):.0f}"

    def customer_text(self, rule: str, row: int) -> tuple[str, str]:
        """The customer's parts of :meth:`reason`, before and after the product's part."""
        f, p = self.f, self.p

        def val(name: str) -> float:
            return float(f.values[name][row])

        def known(x: float, fmt: str = "{:,.0f}") -> str:
            return "unknown" if math.isnan(x) else fmt.format(x)

        if rule == "H1":
            return "already held", ""
        if rule == "E1":
            return f"age {known(val('age'))} is outside the product's ages (", ")"
        if rule == "A1":
            return f"balance {known(val('balance'))} is below the minimum ", ""
        if rule == "A2":
            return f"income {known(val('income'))} is below the minimum ", ""
        if rule == "S1":
            a = val("risk_appetite")
            return "risk level ", f" is above the level {_level(a)} allowed by risk appetite {known(a, '{:.2f}')}"
        if rule == "S2":
            a = val("financial_acumen")
            return "complexity ", f" needs more acumen than {known(a, '{:.2f}')} (allows up to {_level(a) + 1})"
        if rule == "L1":
            return "", (f"-month lock-in for a customer likely to leave (churn "
                        f"{known(val('churn_probability'), '{:.2f}')} ≥ {p.high_churn_threshold:g})")
        cover = val("balance") / (val("income") / 12) if val("income") else math.nan
        return "", (f"-month lock-in while the balance covers {known(cover, '{:.1f}')} months of income "
                    f"(needs {p.liquidity_months:g})")
