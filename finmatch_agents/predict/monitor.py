"""Population stability: has the data a model scores drifted from the data it was trained on?

The population stability index of one variable compares the share of rows in each bin now (a) with the
share at training (e): PSI = Σ (a − e) · ln(a / e). Bins are the training deciles of a number (plus one bin
for unknown values) or the categories (plus unknown and unseen). Usual reading, used here: below 0.1
stable, 0.1 to 0.25 watch, 0.25 or more act (retrain or investigate). Shares are floored at 0.0001 so an
empty bin does not make the index infinite.

The training snapshot (bins and shares of every input and of the score) is stored with the model, so
monitoring needs neither the training data nor a second pass over it.

A monitoring result can be recorded in the analysis database (:func:`record_drift`, by ``finmatch predict
monitor --record`` and by every scheduled ``predict-train`` job): ``model_drift`` gets one row per measurement
(model, data fingerprint, score PSI, the input that moved most, counts per level, AUC on new outcomes) and
``model_drift_inputs`` the PSI of each input. The tables are append-only, so they are the drift history; the
Performance agent reads the newest row of the promoted model through the sandbox, which puts the figures in
analysis reports (scheduled ones too) and so in ``finmatch diff``. The thresholds are the usual rule of thumb
for PSI, not a statistical test: on a few hundred rows the index is noisy, so the row counts go with it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import writer
from finmatch_agents.predict.metrics import scorecard
from finmatch_agents.predict.score import scoring_frame

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

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


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """The headline of :func:`monitor_model`'s result: score PSI and level, the
    input that moved most, how many inputs are at each level, and the AUC on new outcomes (None when too few)."""
    st, new = result["stability"], result["new_outcomes"]
    rows = st["features"]
    worst = rows[0] if rows else None
    metrics = new.get("metrics")
    auc = metrics["auc"] if metrics else None
    return {"score_psi": st["score"]["psi"], "score_level": st["score"]["level"],
            "worst_input": worst["feature"] if worst else None, "worst_input_psi": worst["psi"] if worst else None,
            "worst_input_level": worst["level"] if worst else None,
            "inputs": len(rows), "inputs_watch": sum(r["level"] == "watch" for r in rows),
            "inputs_act": sum(r["level"] == "act" for r in rows),
            "training_rows": st["rows"]["training"], "current_rows": st["rows"]["current"],
            "new_outcome_rows": new.get("rows", 0), "new_outcomes_after": new.get("after"),
            "new_outcome_auc": auc["value"] if auc else None, "new_outcome_auc_low": auc["low"] if auc else None,
            "new_outcome_auc_high": auc["high"] if auc else None, "new_outcome_note": new.get("note"),
            "watch": st["thresholds"]["watch"], "act": st["thresholds"]["act"]}


DRIFT = "model_drift"
DRIFT_INPUTS = "model_drift_inputs"
DRIFT_DDL = (f"CREATE TABLE IF NOT EXISTS {DRIFT} (drift_run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, "
             "model_id VARCHAR, task VARCHAR, source_table VARCHAR, fingerprint VARCHAR, source VARCHAR, "
             "score_psi DOUBLE, score_level VARCHAR, worst_input VARCHAR, worst_input_psi DOUBLE, inputs INTEGER, "
             "inputs_watch INTEGER, inputs_act INTEGER, training_rows BIGINT, current_rows BIGINT, "
             "new_outcome_rows BIGINT, new_outcomes_after VARCHAR, new_outcome_auc DOUBLE, new_outcome_auc_low DOUBLE, "
             "new_outcome_auc_high DOUBLE, watch DOUBLE, act DOUBLE, details VARCHAR)")
DRIFT_INPUTS_DDL = (f"CREATE TABLE IF NOT EXISTS {DRIFT_INPUTS} (drift_run_id VARCHAR, model_id VARCHAR, "
                    "feature VARCHAR, psi DOUBLE, level VARCHAR, position INTEGER)")


def new_drift_id() -> str:
    return "d-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


def record_drift(db: Path, result: dict[str, Any], summary: dict[str, Any], *, table: str, fingerprint: str,
                 source: str) -> str:
    """Append one monitoring result to ``model_drift`` / ``model_drift_inputs`` in one transaction."""
    run_id = new_drift_id()
    s = summary
    row = [run_id, result["model_id"], result["task"], table, fingerprint, source, s["score_psi"], s["score_level"],
           s["worst_input"], s["worst_input_psi"], s["inputs"], s["inputs_watch"], s["inputs_act"],
           s["training_rows"], s["current_rows"], s["new_outcome_rows"], s["new_outcomes_after"],
           s["new_outcome_auc"], s["new_outcome_auc_low"], s["new_outcome_auc_high"], s["watch"], s["act"],
           json.dumps({"new_outcomes": result["new_outcomes"], "queries": result.get("queries", {})},
                      sort_keys=True, default=str)]
    inputs = [[run_id, result["model_id"], r["feature"], r["psi"], r["level"], i + 1]
              for i, r in enumerate(result["stability"]["features"])]

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(DRIFT_DDL)
        con.execute(DRIFT_INPUTS_DDL)
        con.execute(f"INSERT INTO {DRIFT} VALUES (?, now(), {', '.join('?' * (len(row) - 1))})", row)
        if inputs:
            con.executemany(f"INSERT INTO {DRIFT_INPUTS} VALUES (?, ?, ?, ?, ?, ?)", inputs)
        writer.record_meta(con, DRIFT, "predict monitor", {"drift_run_id": run_id, "model_id": result["model_id"],
                                                            "task": result["task"], "fingerprint": fingerprint})

    writer.atomic_write(db, work)
    return run_id
