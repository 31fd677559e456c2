"""Scheduled retraining (``task = "predict-train"``): train, save and promote each predictive model.

The same pipeline as ``finmatch predict train TASK --promote`` (time-ordered holdout, leakage guard, gate),
so a scheduled model is held to the same standard as one trained by hand; only the report is a log line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.match.store import fingerprint
from finmatch_agents.predict import registry
from finmatch_agents.predict.models import limit_threads
from finmatch_agents.predict.train import train_task
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

if TYPE_CHECKING:
    from finmatch_agents.config import Settings


def retrain(settings: Settings, tasks: tuple[str, ...], *, keep: int | None, log: Callable[[str], None]) -> list[str]:
    saved = []
    engine = DuckDBEngine(settings.db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=max(settings.sql_timeout, 120.0),
                                                     threads=settings.effective_threads,
                                                     memory_limit=settings.memory_limit))
    qlog = QueryLog(sinks=[AuditLog(settings.state_dir / "sql-audit.jsonl", "predict-train job")])
    with engine:
        fp = fingerprint(engine, qlog, settings.table)
        for task in tasks:
            with limit_threads(settings.effective_threads):
                result = train_task(engine, qlog, settings.table, task)
            info = registry.save(settings.state_dir, result, db=str(settings.db), fingerprint=fp)
            registry.promote(settings.state_dir, info.id)
            auc = result.holdout[result.kept].auc
            log(f"{task}: saved and promoted {info.id} ({info.meta['label']}; holdout AUC {auc.value:.3f} "
                f"[{auc.low:.3f}, {auc.high:.3f}]; {result.verdict})")
            if keep:
                removed = registry.keep_newest(settings.state_dir, task, keep)
                if removed:
                    log(f"{task}: retention (keep {keep}) deleted {', '.join(removed)}")
            saved.append(info.id)
    return saved
