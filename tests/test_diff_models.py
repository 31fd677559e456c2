"""`finmatch diff` and the recommend-train report compare the promoted recommender across runs."""

from __future__ import annotations

from finmatch_agents.diff import compare, compare_evaluations
from finmatch_agents.records import Finding, RunSnapshot


def _rec_finding(model_id: str, mine: float, pop: float) -> Finding:
    return Finding(id="F2", agent="performance", step="acceptance", key="model_recommender",
                   title="Recommender: next product", statement="…",
                   values={"model_id": model_id, "test": {"recommender": {"map": {"value": mine}},
                                                          "popularity": {"map": {"value": pop}}},
                           "minus_baseline": {"value": mine - pop}})


def _run(run_id: str, f: Finding) -> RunSnapshot:
    return RunSnapshot(run_id=run_id, created_at=run_id, model="offline", db="x", table="fpr_records", rows=1,
                       fingerprint="f", focus=("performance",), currency="USD", findings=(f,))


def test_diff_compares_the_promoted_recommender_against_popularity() -> None:
    cmp = compare(_run("a", _rec_finding("rec-1", 0.12, 0.09)), _run("b", _rec_finding("rec-2", 0.10, 0.09)))
    kpis = {d.label.split(" (model")[0]: d for d in cmp.kpis}
    mine = kpis["Recommender MAP@3 on its test window"]
    assert (mine.a, mine.b) == (0.12, 0.10) and "(model rec-1 → rec-2)" in mine.label
    assert not kpis["Popularity MAP@3 on the recommender's test window"].changed


def _meta(kind: str, winner: str | None, item_cf: float, fp: str) -> dict:
    card = {"@3": {"positive_customers": {"map": {"value": item_cf}, "precision": {"value": item_cf / 2}}}}
    pop = {"@3": {"positive_customers": {"map": {"value": 0.09}, "precision": {"value": 0.05}}}}
    return {"kind": kind, "fingerprint": fp, "evaluation": {
        "test": {"recommenders": {"item_cf": card, "popularity": pop}},
        "gate": {"winner": winner, "baseline": "popularity"}, "verdict": "v",
        "data": {"offers": 10, "customers": 5, "feedback_used": 0}, "windows": {"test": {"from": "2025-01-01"}}}}


def test_compare_evaluations_lists_metric_changes_gate_changes_and_data_facts() -> None:
    out = compare_evaluations("rec-1", _meta("item_cf", "item_cf", 0.12, "f1"), "rec-2",
                              _meta("popularity", None, 0.08, "f2"), labels={"item_cf": "Item CF"})
    deltas = {d.label: d for d in out.deltas}
    assert abs(deltas["Item CF: MAP@3 on the test window"].delta + 0.04) < 1e-12
    assert not deltas["popularity: MAP@3 on the test window"].changed
    assert {"what": "gate winner", "a": "Item CF", "b": "none"} in out.text_changes
    assert [f["what"] for f in out.facts if f["changed"]] == ["fingerprint"]
