"""What the agents, the chat and the API call (small, stable, documented in docs/predict.md).

- :func:`model_summary` — every promoted model's holdout figures, by task (None when none is promoted).
- :func:`score_customer` — one customer's scores with the top reasons, inside a running process (the
  engine open; the model is loaded once per process and reused while the registry entry is unchanged).
- :func:`promoted_model_summary` — the Performance agent: the promoted model's holdout AUC with its
  interval, calibration, the comparison with the baseline and the bank's score, and provenance.
- :func:`expected_acceptances` — Financial Impact: expected acceptances of the open offers as the sum of
  calibrated propensities (with a normal interval from the Bernoulli variances) instead of a flat rate.
- :func:`top_customers` — the chat ("which customers are most likely to accept a Mortgage offer?"): the
  customers with the highest propensity for a product type among those the suitability gates allow.
- :func:`promoted_model_drift` — the Performance agent (so scheduled reports and ``finmatch diff`` carry it):
  the population stability index of the promoted model's score and inputs between its training snapshot and
  the data now, and its AUC on outcomes that arrived after its training data.

All return ``None`` when there is no promoted model for the task (the caller says so and carries on), and
never write anything. Every query they run goes into the caller's :class:`QueryLog`, so its ids can be
cited in a report.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.predict import explain, registry
from finmatch_agents.predict.monitor import monitor_model, summarise
from finmatch_agents.predict.nba import next_best_actions
from finmatch_agents.predict.score import score_batch
from finmatch_agents.predict.score import score_customer as _score_customer
from finmatch_agents.predict.tasks import TASKS
from finmatch_agents.stats import Z95

if TYPE_CHECKING:
    from pathlib import Path

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict.models import Fitted
    from finmatch_agents.warehouse.engine import Engine

_LOADED: dict[tuple[str, str], Fitted] = {}  # (model folder, model id) -> the loaded model, per process


def promoted_model_summary(state_dir: Path, task: str = "conversion") -> dict[str, Any] | None:
    """The promoted ``task`` model's holdout figures (no data is read), or None."""
    info = registry.promoted(state_dir, task)
    if info is None:
        return None
    t = info.meta["training"]
    kind = info.meta["kind"]
    card = t["holdout"][kind]
    return {
        "model_id": info.id, "task": task, "kind": kind, "label": info.meta["label"],
        "created_at": info.meta["created_at"], "table": info.meta["table"], "fingerprint": info.meta["fingerprint"],
        "split": t["split"], "holdout": {"auc": card["auc"], "pr_auc": card["pr_auc"], "brier": card["brier"],
                                         "base_rate": card["base_rate"], "lift": card["lift"]},
        "calibration": card["calibration"],
        "baseline": {"logistic_auc": t["holdout"]["logistic"]["auc"], "gbm_auc": t["holdout"]["gbm"]["auc"],
                     "gbm_minus_logistic": t["comparisons"]["gbm_minus_logistic_auc"]},
        "bank_score": ({"column": t["comparisons"].get("bank_score"), "auc": t["holdout"]["bank_score"]["auc"],
                        "model_minus_bank": t["comparisons"].get("kept_minus_bank_score_auc")}
                       if "bank_score" in t["holdout"] else None),
        "kfold": t["kfold"], "verdict": t["verdict"], "excluded": t["excluded"],
        "training_queries": t["queries"],
    }


def expected_acceptances(engine: Engine, log: QueryLog, state_dir: Path, table: str) -> dict[str, Any] | None:
    """Expected acceptances of the open offers from calibrated propensities, overall and per product type."""
    info = registry.promoted(state_dir, "conversion")
    if info is None:
        return None
    model = registry.load(info)
    scored = score_batch(engine, log, table, info, model)
    p = scored.scores
    types = scored.frame.extra.get("product_type", np.full(len(p), None, object))

    def estimate(q: np.ndarray) -> dict[str, Any]:
        value = float(q.sum())
        half = Z95 * math.sqrt(float((q * (1 - q)).sum()))
        return {"open_offers": len(q), "expected": value, "low": max(0.0, value - half), "high": value + half,
                "mean_propensity": float(q.mean()) if len(q) else math.nan}

    by_type = {str(t): estimate(p[types == t]) for t in sorted({str(t) for t in types if t is not None})}
    return {"model_id": info.id, "holdout_auc": info.holdout_auc(), **estimate(p), "by_product_type": by_type,
            "queries": scored.frame.queries}


def top_customers(engine: Engine, log: QueryLog, state_dir: Path, table: str, product_type: str, n: int = 10, *,
                  products: str = "products", high_churn_threshold: float = 0.5) -> dict[str, Any] | None:
    """The ``n`` customers most likely to accept an offer of ``product_type`` (suitable customers only)."""
    info = registry.promoted(state_dir, "conversion")
    if info is None:
        return None
    model = registry.load(info)
    actions = next_best_actions(engine, log, table, info, model, products=products, top=1,
                                high_churn_threshold=high_churn_threshold, product_type=product_type)
    best = np.nanmax(np.where(np.isnan(actions.propensity), -1.0, actions.propensity), axis=1)
    which = np.argmax(np.where(np.isnan(actions.propensity), -1.0, actions.propensity), axis=1)
    eligible = best >= 0
    order = np.argsort(-np.where(eligible, best, -np.inf), kind="stable")[: min(n, int(eligible.sum()))]
    rows = [{"customer_id": str(actions.customer_ids[i]), "product_id": str(actions.product_ids[which[i]]),
             "propensity": float(best[i])} for i in order]
    return {"model_id": info.id, "product_type": product_type, "holdout_auc": info.holdout_auc(), "customers": rows,
            "suitable_customers": int(eligible.sum()), "unsuitable_customers": int((~eligible).sum()),
            "notes": actions.notes, "queries": actions.queries}


def promoted_model_drift(engine: Engine, log: QueryLog, state_dir: Path, table: str,
                         task: str = "conversion") -> dict[str, Any] | None:
    """Monitoring of the promoted ``task`` model on ``table`` as it is now (:func:`monitor.monitor_model`),
    with its :func:`monitor.summarise` under ``summary``; None without a promoted model. A model whose columns
    the data lacks raises DataError (exit 3), as scoring does."""
    info = registry.promoted(state_dir, task)
    if info is None:
        return None
    result = monitor_model(engine, log, table, info, _model(info))
    return {**result, "summary": summarise(result)}


def model_summary(state_dir: Path) -> dict[str, dict[str, Any]] | None:
    """:func:`promoted_model_summary` of every task with a promoted model, by task; None when there is none."""
    out = {task: summary for task in TASKS if (summary := promoted_model_summary(state_dir, task)) is not None}
    return out or None


def _model(info: registry.ModelInfo) -> Fitted:
    key = (str(info.path), info.id)
    if key not in _LOADED:
        _LOADED.clear()  # one model per process at a time: a promotion replaces it
        _LOADED[key] = registry.load(info)
    return _LOADED[key]


def score_customer(engine: Engine, log: QueryLog, state_dir: Path, table: str, customer_id: str,
                   task: str = "conversion", *, reasons: int = 3) -> dict[str, Any] | None:
    """One customer's scores by the promoted ``task`` model (conversion: each open offer; churn: one row),
    with the inputs that move each score most. None when no model is promoted for ``task``; an unknown
    customer gives an empty list of scores."""
    info = registry.promoted(state_dir, task)
    if info is None:
        return None
    model = _model(info)
    frame, scores = _score_customer(engine, log, table, info, model, customer_id)
    why = explain.reasons(model, frame.X, frame.features, info.meta["reference"], top=reasons) if len(scores) else []
    rows = []
    for i, score in enumerate(scores):
        row: dict[str, Any] = {"score": float(score), "reasons": why[i]}
        if task == "conversion":
            row.update({"record_id": str(frame.row_id[i]), "product_id": str(frame.extra["product_id"][i]),
                        "product_type": str(frame.extra["product_type"][i])})
        rows.append(row)
    return {"model_id": info.id, "task": task, "customer_id": customer_id, "holdout_auc": info.holdout_auc(),
            "scores": rows, "queries": frame.queries}
