"""A scheduled job with task = "predict-train" retrains, promotes and keeps the newest models, and records the
drift of the model it replaces and of the new one."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.errors import ConfigError
from finmatch_agents.schedule.jobs import job_from_table


def test_predict_train_job_retrains_promotes_and_keeps_the_newest(cli, match_copy: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from finmatch_agents.predict.train import TrainOptions, train_task
    from finmatch_agents.schedule import train as job_train

    # the job's wiring is under test, not the k-fold: a short one keeps the suite fast
    monkeypatch.setattr(job_train, "train_task", lambda e, q, t, task: train_task(
        e, q, t, task, TrainOptions(folds=2, kfold_rows=1500)))
    Path("finmatch.toml").write_text(f'[finmatch]\ndb = "{match_copy}"\nstate_dir = "state"\n\n'
                                     '[schedule.jobs.retrain]\ncron = "0 3 * * *"\ntask = "predict-train"\n'
                                     'predict_tasks = ["churn"]\nkeep = 1\n')
    first = cli("schedule", "run-once", "retrain")
    assert first.exit_code == 0, first.stderr
    second = cli("schedule", "run-once", "retrain")
    assert second.exit_code == 0, second.stderr
    models = json.loads(cli("predict", "list", "--json").stdout)["models"]
    assert [m["id"] for m in models] == [second.stdout.strip()]  # keep = 1: the older one is gone
    assert models[0]["promoted"] and models[0]["task"] == "churn"
    log = (tmp_path / "state" / "logs" / "retrain.log").read_text()
    assert "saved and promoted" in log and "holdout AUC" in log and "retention (keep 1) deleted" in log
    # drift: the first run measures its new model; the second the model it replaces, then its own
    with duckdb.connect(str(match_copy), read_only=True) as con:
        rows = con.execute("SELECT model_id, source, score_psi, score_level FROM model_drift ORDER BY created_at, "
                           "drift_run_id").fetchall()
    first_id = first.stdout.strip()
    assert [r[0] for r in rows] == [first_id, first_id, second.stdout.strip()]
    assert all(r[1] == "predict-train job" and r[2] >= 0 and r[3] in {"stable", "watch", "act"} for r in rows)
    assert f"churn: drift of {first_id} (before retraining): score PSI {rows[1][2]:.3f} ({rows[1][3]}" in log


def test_job_task_is_validated() -> None:
    job = job_from_table("r", {"cron": "0 3 * * *", "task": "predict-train"})
    assert job.predict_tasks == ("conversion", "churn") and job.to_table()["task"] == "predict-train"
    assert "task" not in job_from_table("a", {"cron": "0 3 * * *"}).to_table()
    for bad in ({"task": "train"}, {"task": "predict-train", "predict_tasks": ["nba"]}):
        try:
            job_from_table("r", {"cron": "0 3 * * *", **bad})
        except ConfigError as exc:
            assert "task" in exc.message
        else:
            raise AssertionError(bad)
