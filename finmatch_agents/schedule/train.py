"""Scheduled retraining (``task = "predict-train"``): train, save and promote each predictive model.

The same pipeline as ``finmatch predict train TASK --promote`` (time-ordered holdout, leakage guard, gate),
so a scheduled model is held to the same standard as one trained by hand. Before retraining, the model
promoted until now is monitored on the data as it is (population stability of its score and inputs, AUC on
new outcomes) and after it the new one is; both measurements are logged and appended to ``model_drift`` in
the database, where the Performance agent finds them (so scheduled analysis reports and ``finmatch diff``
show the drift of the promoted model for the data they analyse).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import FinMatchError
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.match.store import fingerprint
from finmatch_agents.predict import registry
from finmatch_agents.predict.models import limit_threads
from finmatch_agents.predict.monitor import monitor_model, record_drift, summarise
from finmatch_agents.predict.train import train_task
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, open_engine, require_duckdb

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.warehouse.engine import Engine


def retrain(settings: Settings, tasks: tuple[str, ...], *, keep: int | None, log: Callable[[str], None]) -> list[str]:
    saved: list[str] = []
    pending: list[dict[str, Any]] = []
    require_duckdb(settings, "schedule (model retraining)")  # it appends the drift it measures to model_drift
    engine = open_engine(settings, max_rows=HARD_ROW_CAP, min_timeout=120.0)
    qlog = QueryLog(sinks=[AuditLog(settings.state_dir / "sql-audit.jsonl", "predict-train job")])
    with engine:
        fp = fingerprint(engine, qlog, settings.table)
        for task in tasks:
            before = registry.promoted(settings.state_dir, task)
            measured: list[dict[str, Any]] = []
            if before is not None and before.meta.get("table") == settings.table:
                measured.append(_monitor(engine, qlog, settings, before, "before retraining", log))
            with limit_threads(settings.effective_threads):
                result = train_task(engine, qlog, settings.table, task)
            info = registry.save(settings.state_dir, result, db=str(settings.db), fingerprint=fp)
            registry.promote(settings.state_dir, info.id)
            measured.append(_monitor(engine, qlog, settings, info, "just trained", log))
            auc = result.holdout[result.kept].auc
            log(f"{task}: saved and promoted {info.id} ({info.meta['label']}; holdout AUC {auc.value:.3f} "
                f"[{auc.low:.3f}, {auc.high:.3f}]; {result.verdict})")
            if keep:
                removed = registry.keep_newest(settings.state_dir, task, keep)
                if removed:
                    log(f"{task}: retention (keep {keep}) deleted {', '.join(removed)}")
            saved.append(info.id)
            pending.extend(m for m in measured if m)
    for drift in pending:  # the engine is closed: the writer needs the database to itself
        record_drift(settings.db, drift, drift["summary"], table=settings.table, fingerprint=str(fp),
                     source="predict-train job")
    return saved


def _monitor(engine: Engine, qlog: QueryLog, settings: Settings, info: registry.ModelInfo, when: str,
             log: Callable[[str], None]) -> dict[str, Any]:
    """Drift of ``info`` on the data now, logged; {} (and a log line) when the data cannot be scored by it."""
    try:
        with limit_threads(settings.effective_threads):
            result = monitor_model(engine, qlog, settings.table, info, registry.load(info))
    except FinMatchError as exc:
        log(f"{info.task}: drift of {info.id} ({when}) not measured: {exc.message}")
        return {}
    s = summarise(result)
    text = (f"{info.task}: drift of {info.id} ({when}): score PSI {s['score_psi']:.3f} ({s['score_level']}; 0.1 watch, "
            f"0.25 act)")
    if s["worst_input"]:
        text += f"; most moved input {s['worst_input']} {s['worst_input_psi']:.3f}; {s['inputs_act']} input(s) at act"
    if s["new_outcome_auc"] is not None:
        text += (f"; AUC on {s['new_outcome_rows']:,} new outcomes {s['new_outcome_auc']:.3f} "
                 f"[{s['new_outcome_auc_low']:.3f}, {s['new_outcome_auc_high']:.3f}]")
    log(text)
    return {**result, "summary": s}
