"""Drift of the promoted models where the bank reads it: `predict monitor --record` appends the population
stability index to model_drift, the Performance agent reports it (only for the data it was measured on) and
`finmatch diff` compares it across runs."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from finmatch_agents.diff import compare
from finmatch_agents.records import Finding, RunSnapshot


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def model_finding(cli, db: Path) -> dict:
    result = cli("analyze", "--db", db, "--focus", "performance", "--json")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return next(e for e in events if e["event"] == "finding" and e["title"] == "Predictive model: conversion")


def test_recorded_drift_is_in_the_analysis_for_the_data_it_was_measured_on(cli, trained) -> None:
    db = trained["db"]
    before = model_finding(cli, db)
    assert "drift since training has not been recorded" in before["statement"]
    result = cli("predict", "monitor", "conversion", "--db", db, "--record", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    (row,) = q(db, "SELECT drift_run_id, model_id, score_psi, score_level, worst_input, worst_input_psi, inputs_act "
                   "FROM model_drift")
    assert row[0] == out["drift_run_id"] and row[1] == trained["conversion"]["model_id"]
    assert row[2] == out["stability"]["score"]["psi"] and row[3] == out["stability"]["score"]["level"]
    worst = out["stability"]["features"][0]
    assert (row[4], row[5]) == (worst["feature"], worst["psi"])
    assert row[6] == sum(f["level"] == "act" for f in out["stability"]["features"])
    (inputs,) = q(db, f"SELECT count(*) FROM model_drift_inputs WHERE drift_run_id = '{row[0]}'")[0]
    assert inputs == len(out["stability"]["features"])

    statement = model_finding(cli, db)["statement"]
    assert f"population stability index of its score is {row[2]:.3f} ({row[3]}" in statement
    assert f"the input that moved most is {row[4]} ({row[5]:.3f}" in statement
    assert "a rule of thumb, not a test" in statement

    # the data changes: the recorded figures describe other data and are not repeated as current
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE fpr_records SET recommendation_score = recommendation_score * 0.5 "
                    "WHERE record_id IN (SELECT record_id FROM fpr_records ORDER BY record_id LIMIT 200)")
    stale = model_finding(cli, db)["statement"]
    assert "was taken on other data" in stale and f"{row[2]:.3f}" not in stale


def _finding(fid: str, model_id: str, psi: float, worst: float) -> Finding:
    return Finding(id=fid, agent="performance", step="acceptance", key="model_conversion",
                   title="Predictive model: conversion", statement="…",
                   values={"task": "conversion", "model_id": model_id, "holdout_auc": 0.7, "drift_score_psi": psi,
                           "drift_worst_input_psi": worst, "drift_new_outcome_auc": None})


def _run(run_id: str, finding: Finding) -> RunSnapshot:
    return RunSnapshot(run_id=run_id, created_at=run_id, model="offline", db="x.duckdb", table="fpr_records",
                       rows=10, fingerprint="f", focus=("performance",), currency="USD", findings=(finding,))


def test_diff_shows_the_drift_of_the_promoted_model_and_names_a_model_change() -> None:
    same = compare(_run("a", _finding("F1", "m-1", 0.04, 0.12)), _run("b", _finding("F1", "m-1", 0.31, 0.12)))
    kpis = {d.label: d for d in same.kpis}
    psi = kpis["Score drift (PSI) of the conversion model"]
    assert (psi.a, psi.b, psi.changed) == (0.04, 0.31, True) and abs(psi.delta - 0.27) < 1e-12
    assert not kpis["Largest input drift (PSI) of the conversion model"].changed
    assert not any("new outcomes" in label for label in kpis)  # unknown on both sides: not compared
    retrained = compare(_run("a", _finding("F1", "m-1", 0.31, 0.4)), _run("b", _finding("F1", "m-2", 0.01, 0.02)))
    labels = [d.label for d in retrained.kpis]
    assert "Score drift (PSI) of the conversion model (model m-1 → m-2)" in labels
