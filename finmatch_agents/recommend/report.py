"""The evaluation report a scheduled retraining writes: the leaderboard, the gate, what changed since the
previous saved recommender, and the trend across runs.

:func:`sections` builds the page once as plain data (headings, paragraphs, tables); :func:`render` writes it
as markdown and the scheduled job (``schedule/recommend.py``) as HTML with the analysis reports' style, so
the two say the same thing. Every figure comes from a saved model's evaluation (``model.json``): the trend
is the history of the registry, and the changes are :func:`finmatch_agents.diff.compare_evaluations` of the
previous saved recommender of the same table and this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finmatch_agents.diff import compare_evaluations
from finmatch_agents.recommend.candidates import LABELS
from finmatch_agents.recommend.common import GATE_K

if TYPE_CHECKING:
    from finmatch_agents.recommend.registry import RecommenderInfo


@dataclass
class Table:
    headings: list[str]
    rows: list[list[str]]
    numeric: list[bool]


@dataclass
class Section:
    title: str  # empty for the page's opening paragraphs
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def _iv(d: dict[str, Any] | None) -> str:
    if not d or d.get("value") is None:
        return "—"
    if d.get("low") is None:
        return f"{d['value']:.4f}"
    return f"{d['value']:.4f} [{d['low']:.4f}, {d['high']:.4f}]"


def leaderboard_table(ev: dict[str, Any], k: int = GATE_K) -> Table:
    cards = ev["test"]["recommenders"]
    order = sorted(cards, key=lambda n: (n == "bank_score", -(cards[n][f"@{k}"]["positive_customers"]["map"]["value"]
                                                              or 0.0)))
    rows = []
    for name in order:
        c = cards[name][f"@{k}"]
        pc = c["positive_customers"]
        label = LABELS.get(name, name) + (" (winner)" if name == ev["gate"]["winner"] else "")
        if name == "bank_score":
            label += " — re-ranks only the offers made in the window"
        rows.append([label, _iv(pc["map"]), _iv(pc["precision"]), _iv(pc["recall"]), _iv(pc["ndcg"]),
                     _iv(c["all_customers"]["map"]), f"{c['coverage']:.0%}", f"{c['popularity_bias']:.2f}"])
    return Table(["recommender", f"MAP@{k}", f"precision@{k}", f"recall@{k}", f"NDCG@{k}",
                  f"MAP@{k} over all customers", "coverage", "popularity bias"], rows,
                 [False, True, True, True, True, True, True, True])


def gate_table(ev: dict[str, Any]) -> Table:
    """Every candidate on the validation window: MAP@3, its paired difference from the baseline, the reason."""
    rows = []
    for name, r in ev["gate"]["candidates"].items():
        rows.append([LABELS.get(name, name), _iv(r.get("map@3")), _iv(r.get("minus_baseline")),
                     "yes" if r["promotable"] else "no", r["reason"]])
    return Table(["candidate", f"validation MAP@{GATE_K}", "minus baseline (paired)", "promotable", "why"], rows,
                 [False, True, True, False, False])


def trend_table(models: list[RecommenderInfo], k: int = GATE_K) -> Table:
    """Oldest first: each run's served recommender, its test MAP@k, the baseline's, and the gate."""
    rows = []
    for info in reversed(models):
        test = info.meta["evaluation"]["test"]
        cards = test["recommenders"]
        mine = cards.get(info.kind, {}).get(f"@{k}", {}).get("positive_customers", {}).get("map")
        base = cards.get(test["baseline"], {}).get(f"@{k}", {}).get("positive_customers", {}).get("map")
        rows.append([str(info.meta.get("created_at")), info.id, LABELS.get(info.kind, info.kind), _iv(mine),
                     f"{_iv(base)} ({test['baseline']})", "yes" if info.promotable else "no"])
    return Table(["trained", "model", "served", f"its test MAP@{k}", f"baseline test MAP@{k}", "passed gate"], rows,
                 [False, False, False, True, True, False])


def previous_of(info: RecommenderInfo, models: list[RecommenderInfo]) -> RecommenderInfo | None:
    """The newest saved recommender of the same table created before ``info`` (models: newest first)."""
    created = str(info.meta.get("created_at"))
    for other in models:
        if other.id != info.id and other.meta.get("table") == info.meta.get("table") and \
                str(other.meta.get("created_at")) < created:
            return other
    return None


def changes_section(info: RecommenderInfo, previous: RecommenderInfo | None) -> Section:
    if previous is None:
        return Section("Changes since the previous run", ["First saved recommender of this table: there is no "
                                                          "earlier evaluation to compare with."])
    cmp = compare_evaluations(previous.id, previous.meta, info.id, info.meta, labels=LABELS)
    facts = [f"{f['what']} {f['a']} → {f['b']}" for f in cmp.facts if f["changed"]]
    paras = [f"Against `{previous.id}` ({previous.meta.get('created_at')}). Each figure is on its own run's test "
             "window (the windows move with the data), so a change mixes a change of the recommender with a change "
             "of the customers judged. " + ("Data: " + "; ".join(facts) + "." if facts else "Same data (fingerprint "
                                             "and windows).")]
    paras += [f"{t['what'].capitalize()}: {t['a']} → {t['b']}." for t in cmp.text_changes]
    rows = [[d.label, f"{d.a:.4f}", f"{d.b:.4f}", f"{d.delta:+.4f}" if d.changed else "no change"]
            for d in cmp.deltas]
    tables = [Table(["figure", "previous", "now", "change"], rows, [False, True, True, True])] if rows else []
    return Section("Changes since the previous run", paras, tables)


def sections(info: RecommenderInfo, models: list[RecommenderInfo], *, promoted: bool) -> list[Section]:
    ev = info.meta["evaluation"]
    d, w = ev["data"], ev["windows"]
    head = Section("", [
        f"Data: `{ev['table']}` (fingerprint `{info.meta.get('fingerprint')}`), {d['customers']:,} customers, "
        f"{d['products']} products, {d['offers']:,} offers ({d['accepted']:,} accepted), {d['first_date']} to "
        f"{d['last_date']}; {d['feedback_used']} feedback row(s) used.",
        f"Test window from {w['test']['from']}; validation window {w['fold1']['from']} to {w['fold1']['to']}. "
        f"{ev['test']['positive_customers']:,} of {ev['test']['customers']:,} customers accepted a product they "
        "did not hold in the test window. Intervals are 95% bootstrap over customers; metrics are averaged over "
        "customers with a positive, and MAP also over all customers."])
    served = (f"Served: {LABELS.get(info.kind, info.kind)} — "
              + ("promoted." if promoted else "not promoted (the previous promoted recommender, if any, keeps "
                                              "serving)."))
    return [head,
            Section(f"Leaderboard (test window, K = {GATE_K})", tables=[leaderboard_table(ev)]),
            Section("Gate", [f"{ev['gate']['reason']}.", f"Test window: {ev['verdict']}.", served],
                    [gate_table(ev)]),
            changes_section(info, previous_of(info, models)),
            Section("Trend across runs", tables=[trend_table(models)])]


def title(info: RecommenderInfo) -> str:
    return f"Recommender evaluation — {info.id}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(page_title: str, parts: list[Section]) -> str:
    out = [f"# {page_title}", ""]
    for sec in parts:
        if sec.title:
            out += [f"## {sec.title}", ""]
        for p in sec.paragraphs:
            out += [p, ""]
        for t in sec.tables:
            out.append("| " + " | ".join(_md_cell(h) for h in t.headings) + " |")
            out.append("|" + "|".join("---:" if n else "---" for n in t.numeric) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
            out.append("")
    return "\n".join(out)


def render(info: RecommenderInfo, models: list[RecommenderInfo], *, promoted: bool) -> str:
    """The report as markdown."""
    return markdown(title(info), sections(info, models, promoted=promoted))
