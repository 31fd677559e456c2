"""Population stability: has the data a model scores drifted from the data it was trained on?

The population stability index of one variable compares the share of rows in each bin now (a) with the
share at training (e): PSI = Σ (a − e) · ln(a / e). Bins are the training deciles of a number (plus one bin
for unknown values) or the categories (plus unknown and unseen). Usual reading, used here: below 0.1
stable, 0.1 to 0.25 watch, 0.25 or more act (retrain or investigate). Shares are floored at 0.0001 so an
empty bin does not make the index infinite.

The training snapshot (bins and shares of every input and of the score) is stored with the model, so
monitoring needs neither the training data nor a second pass over it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.predict.metrics import scorecard
from finmatch_agents.predict.score import scoring_frame

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict.frame import Feature
    from finmatch_agents.predict.models import Fitted
    from finmatch_agents.predict.registry import ModelInfo
    from finmatch_agents.warehouse.engine import Engine

WATCH = 0.1
ACT = 0.25
FLOOR = 1e-4
BINS = 10


def level(psi: float) -> str:
    if math.isnan(psi):
        return "unknown"
    return "act" if psi >= ACT else "watch" if psi >= WATCH else "stable"


def _numeric_bins(x: np.ndarray) -> list[float]:
    known = x[~np.isnan(x)]
    if not len(known):
        return []
    edges = np.unique(np.quantile(known, np.linspace(0, 1, BINS + 1)[1:-1]))
    return [float(e) for e in edges]


def _shares_numeric(x: np.ndarray, edges: list[float]) -> list[float]:
    missing = np.isnan(x)
    idx = np.searchsorted(np.array(edges), x[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return list(counts / max(len(x), 1))


def _shares_categorical(x: np.ndarray, k: int) -> list[float]:
    missing = np.isnan(x)
    counts = np.bincount(x[~missing].astype(np.int64), minlength=k).astype(float)
    counts = np.append(counts, missing.sum())
    return list(counts / max(len(x), 1))


def snapshot(X: np.ndarray, features: list[Feature], scores: np.ndarray) -> dict[str, Any]:
    """Bins and shares of every input and of the score on the training rows."""
    out: dict[str, Any] = {"rows": len(X), "features": {}}
    for j, f in enumerate(features):
        if f.kind == "categorical":
            out["features"][f.name] = {"kind": "categorical", "shares": _shares_categorical(X[:, j], len(f.categories))}
        else:
            edges = _numeric_bins(X[:, j])
            out["features"][f.name] = {"kind": "numeric", "edges": edges, "shares": _shares_numeric(X[:, j], edges)}
    edges = _numeric_bins(scores)
    out["score"] = {"kind": "numeric", "edges": edges, "shares": _shares_numeric(scores, edges)}
    return out


def psi(expected: list[float], actual: list[float]) -> float:
    e = np.maximum(np.array(expected, dtype=float), FLOOR)
    a = np.maximum(np.array(actual, dtype=float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _current(entry: dict[str, Any], x: np.ndarray) -> list[float]:
    if entry["kind"] == "categorical":
        return _shares_categorical(x, len(entry["shares"]) - 1)
    return _shares_numeric(x, entry["edges"])


def stability(snap: dict[str, Any], X: np.ndarray, features: list[Feature], scores: np.ndarray) -> dict[str, Any]:
    """PSI of every input and of the score between the training snapshot and ``X``, worst first."""
    rows: list[dict[str, Any]] = []
    for j, f in enumerate(features):
        entry = snap["features"].get(f.name)
        if entry is None:
            continue
        value = psi(entry["shares"], _current(entry, X[:, j]))
        rows.append({"feature": f.name, "psi": value, "level": level(value)})
    rows.sort(key=lambda r: -float(r["psi"]))
    score_psi = psi(snap["score"]["shares"], _current(snap["score"], scores))
    return {"score": {"psi": score_psi, "level": level(score_psi)}, "features": rows,
            "rows": {"training": snap["rows"], "current": len(X)}, "thresholds": {"watch": WATCH, "act": ACT}}


def new_outcomes(info_meta: dict[str, Any], frame_day: np.ndarray, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Holdout metrics of a model on outcomes dated after its training data ended (none: says so)."""
    split = info_meta.get("training", {}).get("split", {})
    last = split.get("last_date")
    if not last:
        return {"rows": 0, "note": "the training data had no dates, so new outcomes cannot be told apart"}
    last_day = (dt.date.fromisoformat(last) - dt.date(1970, 1, 1)).days
    new = ~np.isnan(frame_day) & (frame_day > last_day)
    yy, pp = y[new], p[new]
    out: dict[str, Any] = {"after": last, "rows": int(new.sum()), "positives": int(yy.sum()) if len(yy) else 0}
    if len(yy) < 50 or yy.min() == yy.max():
        out["note"] = (f"{len(yy):,} outcome(s) after {last}: too few (or one class only) to measure the model on "
                       "new data yet")
        return out
    card = scorecard(yy.astype(float), pp, resamples=100)
    out["metrics"] = card.to_dict()
    return out


def monitor_model(engine: Engine, log: QueryLog, table: str, info: ModelInfo, model: Fitted) -> dict[str, Any]:
    """PSI of every input and of the score between training and the data as it is now, and the model's
    metrics on outcomes that arrived after its training data."""
    current = scoring_frame(engine, log, table, info, every_offer=True)
    stable = stability(info.meta["snapshot"], current.X, info.features, model.predict(current.X))
    labelled = scoring_frame(engine, log, table, info, labelled=True)
    assert labelled.y is not None
    outcomes = new_outcomes(info.meta, labelled.day, labelled.y, model.predict(labelled.X))
    return {"model_id": info.id, "task": info.task, "stability": stable, "new_outcomes": outcomes,
            "holdout_auc": info.holdout_auc(), "queries": {**current.queries, **labelled.queries}}
