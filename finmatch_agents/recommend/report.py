"""The evaluation report a scheduled retraining writes: the leaderboard, the gate and the trend across runs.

Markdown only (the HTML renderer of analysis reports works on an analysis outline, not on this page). Every
figure comes from a saved model's evaluation (``model.json``), so the trend is the history of the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.recommend.candidates import LABELS
from finmatch_agents.recommend.common import GATE_K

if TYPE_CHECKING:
    from finmatch_agents.recommend.registry import RecommenderInfo


def _iv(d: dict[str, Any] | None) -> str:
    if not d or d.get("value") is None:
        return "—"
    if d.get("low") is None:
        return f"{d['value']:.4f}"
    return f"{d['value']:.4f} [{d['low']:.4f}, {d['high']:.4f}]"


def leaderboard(ev: dict[str, Any], k: int = GATE_K) -> list[str]:
    lines = [f"| recommender | MAP@{k} | precision@{k} | recall@{k} | NDCG@{k} | MAP@{k} over all customers | "
             "coverage | popularity bias |", "|---|---|---|---|---|---|---|---|"]
    cards = ev["test"]["recommenders"]
    order = sorted(cards, key=lambda n: (n == "bank_score", -(cards[n][f"@{k}"]["positive_customers"]["map"]["value"]
                                                              or 0.0)))
    for name in order:
        c = cards[name][f"@{k}"]
        pc = c["positive_customers"]
        label = LABELS.get(name, name) + (" (winner)" if name == ev["gate"]["winner"] else "")
        if name == "bank_score":
            label += " — re-ranks only the offers made in the window"
        lines.append(f"| {label} | {_iv(pc['map'])} | {_iv(pc['precision'])} | {_iv(pc['recall'])} | "
                     f"{_iv(pc['ndcg'])} | {_iv(c['all_customers']['map'])} | {c['coverage']:.0%} | "
                     f"{c['popularity_bias']:.2f} |")
    return lines


def trend(models: list[RecommenderInfo], k: int = GATE_K) -> list[str]:
    """Oldest first: each run's served recommender, its test MAP@k, the baseline's, and the gate."""
    lines = [f"| trained | model | served | its test MAP@{k} | baseline test MAP@{k} | passed gate |",
             "|---|---|---|---|---|---|"]
    for info in reversed(models):
        test = info.meta["evaluation"]["test"]
        cards = test["recommenders"]
        mine = cards.get(info.kind, {}).get(f"@{k}", {}).get("positive_customers", {}).get("map")
        base = cards.get(test["baseline"], {}).get(f"@{k}", {}).get("positive_customers", {}).get("map")
        lines.append(f"| {info.meta.get('created_at')} | {info.id} | {LABELS.get(info.kind, info.kind)} | {_iv(mine)} "
                     f"| {_iv(base)} ({test['baseline']}) | {'yes' if info.promotable else 'no'} |")
    return lines


def render(info: RecommenderInfo, models: list[RecommenderInfo], *, promoted: bool) -> str:
    ev = info.meta["evaluation"]
    d, w = ev["data"], ev["windows"]
    out = [f"# Recommender evaluation — {info.id}", "",
           f"Data: `{ev['table']}` (fingerprint `{info.meta.get('fingerprint')}`), {d['customers']:,} customers, "
           f"{d['products']} products, {d['offers']:,} offers ({d['accepted']:,} accepted), {d['first_date']} to "
           f"{d['last_date']}; {d['feedback_used']} feedback row(s) used.", "",
           f"Test window from {w['test']['from']}; validation window {w['fold1']['from']} to {w['fold1']['to']}. "
           f"{ev['test']['positive_customers']:,} of {ev['test']['customers']:,} customers accepted a product they "
           "did not hold in the test window. Intervals are 95% bootstrap over customers; metrics are averaged over "
           "customers with a positive, and MAP also over all customers.", "",
           f"## Leaderboard (test window, K = {GATE_K})", "", *leaderboard(ev), "",
           "## Gate", "", f"{ev['gate']['reason']}.", "", f"Test window: {ev['verdict']}.", "",
           f"Served: {LABELS.get(info.kind, info.kind)} — "
           + ("promoted." if promoted else "not promoted (the previous promoted recommender, if any, keeps serving)."),
           "", "## Trend across runs", "", *trend(models), ""]
    return "\n".join(out)
