"""Which columns may be model inputs: the leakage guard's rules, decided before any model is fitted.

Every column of the records table is either a *candidate* input or an *exclusion* with a rule and a reason
that the training report prints. Rules, in order:

- ``label`` / ``after-outcome``: the label and the columns that exist only once the outcome is known (the
  sale of the predicted offer, a later churn flag, a call's ``duration``, dates later than the offer).
- ``identifier``: ids and personal data (a model must not learn a customer's name).
- ``bank-score``: the bank's own score for the same question. It is the baseline the model must beat, so
  it stays out of the model; it also does not exist for offers the bank has not made yet, which next best
  action scores.
- ``unusable``: free text, dates, bookkeeping columns, and (found when the data is read) columns that are
  empty, constant, or have too many distinct values to be categories.

The second half of the guard (any single input whose holdout AUC alone is at least 0.9) runs on the data,
in :mod:`finmatch_agents.predict.train`. ``--allow-feature`` lifts ``after-outcome``, ``bank-score`` and
``leak-auc`` exclusions (a model trained with an after-outcome column is marked leaky and cannot be
promoted); the others cannot be lifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finmatch_agents.data.schema import PII_COLUMNS
from finmatch_agents.features import spec

if TYPE_CHECKING:
    from finmatch_agents.predict.tasks import Task
    from finmatch_agents.warehouse.engine import ColumnInfo

#: a text column with more distinct values than this is an identifier or free text, not a category
MAX_CATEGORIES = 64
NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
                 "UINTEGER", "USMALLINT", "UTINYINT", "BOOLEAN")
DATE_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
IDENTIFIERS = ("record_id", "customer_id", *PII_COLUMNS)
#: columns known only after the outcome, whatever the task (name -> why)
AFTER_OUTCOME = {
    "duration": "the call's duration is known only when the call has ended, with its outcome (the UCI file's own "
                "note: include it only for benchmarks)",
    "y": "a raw outcome column",
}
FREE_TEXT = {
    "transaction_history": "a JSON list of monthly totals (free text)",
    "customer_product_interests": "free text (comma-separated interests)",
    "product_recommendation": "free text describing the offer",
    "product_terms": "free text describing the product's terms",
    "product_name": "repeats product_id",
}
BOOKKEEPING = {"_fivetran_synced": "connector bookkeeping, written after the record",
               "_fivetran_deleted": "connector bookkeeping (deleted rows are never read)"}
#: offer columns: they describe one offer, not the customer (next best action fills them per product type)
OFFER_COLUMNS = ("product_id", "product_type", "channel", "customer_product_usage", "customer_product_usage_trend",
                 "customer_product_affinity", "customer_product_affinity_trend")
#: feature-layer columns the churn model adds (holdings, revenue, the composite metrics); the snapshot ones
#: (age, income, balance, credit score, transactions) repeat the latest record's own columns
_SNAPSHOT_QUERIES = {"features/age", "features/income", "features/balance", "features/credit",
                     "features/transactions", "features/churn"}
LAYER_FEATURES = tuple(f.name for f in spec.FEATURES if f.kind in ("input", "holding", "metric")
                       and f.query not in _SNAPSHOT_QUERIES and f.name != "churn_probability"
                       and f.name != "held")
#: feature-layer columns conversion must not use: they count the customer's accepted offers, the predicted
#: one included
LAYER_OUTCOME = tuple(f.name for f in spec.FEATURES if f.query in ("features/holdings", "features/profit",
                                                                    "features/held_risk"))
ALLOWABLE = ("after-outcome", "bank-score", "leak-auc")


@dataclass(frozen=True)
class Exclusion:
    column: str
    rule: str  # label | after-outcome | identifier | bank-score | unusable | leak-auc
    reason: str

    @property
    def allowable(self) -> bool:
        return self.rule in ALLOWABLE

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "rule": self.rule, "reason": self.reason, "allowable": self.allowable}


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str  # numeric | categorical
    source: str = "records"  # records | features (the customer feature layer)
    allowed: str | None = None  # the rule --allow-feature lifted, if any


@dataclass
class Plan:
    candidates: list[Candidate]
    exclusions: list[Exclusion]
    dates: list[str]  # date columns to check against the offer date (conversion)

    def exclude(self, name: str, rule: str, reason: str) -> None:
        self.candidates = [c for c in self.candidates if c.name != name]
        self.exclusions.append(Exclusion(name, rule, reason))

    @property
    def leaky(self) -> list[str]:
        """Inputs the user allowed although they are known only after the outcome."""
        return [c.name for c in self.candidates if c.allowed == "after-outcome"]


def plan_columns(task: Task, columns: list[ColumnInfo], allow: set[str]) -> Plan:
    """Sort the table's columns into candidates and rule-based exclusions (nothing is read here)."""
    plan = Plan([], [], [])
    names = {c.name for c in columns}

    def maybe(name: str, kind: str, rule: str, reason: str, source: str = "records") -> None:
        if rule in ALLOWABLE and name in allow:
            plan.candidates.append(Candidate(name, kind, source, allowed=rule))
        else:
            plan.exclusions.append(Exclusion(name, rule, reason))

    for col in columns:
        name, dtype = col.name, col.type.upper()
        kind = "numeric" if dtype in NUMERIC_TYPES or dtype.startswith("DECIMAL") else \
            "categorical" if dtype == "VARCHAR" else "other"
        if name == task.label:
            plan.exclusions.append(Exclusion(name, "label", task.outcome_columns[name]))
        elif name in task.outcome_columns:
            maybe(name, kind, "after-outcome", task.outcome_columns[name])
        elif name in AFTER_OUTCOME:
            maybe(name, kind, "after-outcome", AFTER_OUTCOME[name])
        elif name in IDENTIFIERS:
            plan.exclusions.append(Exclusion(name, "identifier", "an identifier or personal data"))
        elif name == task.bank_score:
            maybe(name, kind, "bank-score", "the bank's own score: the baseline the model must beat (and absent "
                  "for offers the bank has not scored)")
        elif name in BOOKKEEPING:
            plan.exclusions.append(Exclusion(name, "unusable", BOOKKEEPING[name]))
        elif name in FREE_TEXT and (name != "product_name" or "product_id" in names):
            plan.exclusions.append(Exclusion(name, "unusable", FREE_TEXT[name]))
        elif dtype in DATE_TYPES:
            if task.name == "conversion" and name != "product_recommendation_date":
                plan.dates.append(name)  # checked against the offer date on the data
            else:
                plan.exclusions.append(Exclusion(name, "unusable", "a date: the models use no calendar inputs"))
        elif kind == "other":
            plan.exclusions.append(Exclusion(name, "unusable", f"type {col.type} is not a number or a category"))
        else:
            plan.candidates.append(Candidate(name, kind))
    if task.name == "churn":
        plan.candidates += [Candidate(name, "numeric", "features") for name in LAYER_FEATURES]
    else:
        plan.exclusions.append(Exclusion("customer feature layer: " + ", ".join(LAYER_OUTCOME), "after-outcome",
                                         "they count the customer's accepted offers and revenue, the predicted offer "
                                         "included"))
    return plan


def date_exclusions(plan: Plan, later: dict[str, int]) -> None:
    """Dates after the offer are known only after it; the rest are not used as inputs (no calendar features)."""
    for name in plan.dates:
        n = later.get(name, 0)
        if n:
            plan.exclusions.append(Exclusion(name, "after-outcome", f"later than the recommendation date on {n:,} "
                                             "decided offers: known only after the offer"))
        else:
            plan.exclusions.append(Exclusion(name, "unusable", "a date: the models use no calendar inputs"))
    plan.dates = []
