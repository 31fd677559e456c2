"""What changed between two runs: KPI deltas, new and resolved findings, and run facts.

Used by ``finmatch diff RUN_A RUN_B`` and by the "Changes since last run" section of scheduled reports, so
both say the same thing. Inputs are :class:`RunSnapshot` records: the run store gives them back for every
completed run, and a scheduled run carries its predecessor's in ``RunMeta.previous``. Every number compared
is a value of a finding, which came from a query result; deltas are plain differences of those values, in
the unit the finding declares for the value.

Findings are matched by (agent, key, identity). Most keys occur once per run; the identity tells repeated
or entity-specific findings apart (the segment, product, system or channel a finding is about, e.g.
"Mass Market x Wealth Management" for a mis-targeted pair), so "the weakest channel is now Branch instead
of Email" shows as one finding resolved and one new, never as a meaningless delta between two channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import UsageError
from finmatch_agents.formatting import is_number
from finmatch_agents.ids import number
from finmatch_agents.records import Finding, Profile, RunMeta, RunSnapshot

if TYPE_CHECKING:
    from finmatch_agents.runs import RunStore

#: top-level value fields that say which entity a finding is about (in this order)
ENTITY_FIELDS = ("segment", "product_type", "product_name", "system", "source_system", "channel", "crm_system")

#: the headline figures: (label, agent, finding key, value path, unit)
KPIS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Recommendations", "performance", "acceptance", "recommendations", "count"),
    ("Acceptance rate", "performance", "acceptance", "acceptance_rate", "percent"),
    ("Acceptance of decided offers", "performance", "acceptance", "decided_acceptance_rate", "percent"),
    ("Top/bottom score decile ratio", "performance", "calibration", "top_bottom_ratio", "times"),
    ("Score-acceptance correlation", "performance", "calibration", "score_acceptance_correlation", "score"),
    ("Missed acceptances", "optimization", "mistargeted", "missed_acceptances", "count"),
    ("Share of offers to low-affinity customers", "optimization", "low_affinity", "low_share", "percent"),
    ("Annual net revenue of accepted products", "financial-impact", "roi", "booked_revenue", "currency"),
    ("First-year ROI", "financial-impact", "roi", "first_year_roi", "percent"),
    ("Customer lifetime value", "financial-impact", "clv", "total_clv", "currency"),
    ("Annual revenue at risk from churn", "financial-impact", "revenue_at_risk", "revenue_at_risk", "currency"),
    ("Digital share of recommendations", "strategy", "digital", "digital_share", "percent"),
    ("Digital acceptance", "strategy", "digital", "digital_acceptance", "percent"),
    ("Lift of the top 10% by score", "strategy", "targeting_advantage", "lift", "times"),
    # the promoted predictive models (Performance agent): holdout AUC, and drift since training as recorded by
    # `finmatch predict monitor --record` or a predict-train job for the data the run analysed
    ("Holdout AUC of the conversion model", "performance", "model_conversion", "holdout_auc", "number"),
    ("Score drift (PSI) of the conversion model", "performance", "model_conversion", "drift_score_psi", "number"),
    ("Largest input drift (PSI) of the conversion model", "performance", "model_conversion",
     "drift_worst_input_psi", "number"),
    ("AUC of the conversion model on new outcomes", "performance", "model_conversion", "drift_new_outcome_auc",
     "number"),
    # the promoted recommender (Performance agent): its test-window MAP@3 against popularity
    ("Recommender MAP@3 on its test window", "performance", "model_recommender", "test.recommender.map.value",
     "score"),
    ("Popularity MAP@3 on the recommender's test window", "performance", "model_recommender",
     "test.popularity.map.value", "score"),
    ("Recommender minus its baseline, MAP@3", "performance", "model_recommender", "minus_baseline.value", "score"),
    ("Holdout AUC of the churn model", "performance", "model_churn", "holdout_auc", "number"),
    ("Score drift (PSI) of the churn model", "performance", "model_churn", "drift_score_psi", "number"),
    ("Largest input drift (PSI) of the churn model", "performance", "model_churn", "drift_worst_input_psi", "number"),
    ("AUC of the churn model on new outcomes", "performance", "model_churn", "drift_new_outcome_auc", "number"),
)


@dataclass(frozen=True)
class Matched:
    """A finding of one run with the identity it is matched by."""

    finding: Finding
    identity: str

    @property
    def match(self) -> tuple[str, str, str]:
        return (self.finding.agent, self.finding.key, self.identity)

    def to_dict(self, run_id: str) -> dict[str, Any]:
        f = self.finding
        return {"run_id": run_id, "finding_id": f.id, "agent": f.agent, "key": f.key, "identity": self.identity,
                "title": f.title, "statement": f.statement, "polarity": f.polarity}


def identity_of(values: dict[str, Any]) -> str:
    return " x ".join(str(values[f]) for f in ENTITY_FIELDS if isinstance(values.get(f), str) and values[f])


def matched(findings: Sequence[Finding]) -> list[Matched]:
    """Findings with identities; a repeated (agent, key, identity) gets ``#2``, ``#3``... in finding order."""
    out: list[Matched] = []
    seen: dict[tuple[str, str, str], int] = {}
    for f in sorted(findings, key=lambda f: number(f.id)):
        ident = identity_of(f.values)
        n = seen[(f.agent, f.key, ident)] = seen.get((f.agent, f.key, ident), 0) + 1
        out.append(Matched(f, f"{ident} #{n}".strip() if n > 1 else ident))
    return out


def snapshot_from_store(store: RunStore, run_id: str, label: str = "RUN") -> RunSnapshot:
    """A completed run from the run store (usage error, exit 2, when unknown or not completed)."""
    row = store.get(run_id)
    if row is None:
        raise UsageError(f"{label}: no run {run_id} in {store.path}", hint="`finmatch history list` shows run ids")
    if row["status"] != "completed":
        raise UsageError(f"{label}: run {run_id} is {row['status']}; only completed runs have findings to compare",
                         hint=f"finish it with `finmatch analyze --resume {run_id}`"
                         if row["status"] == "interrupted" else None)
    findings = store.findings(run_id)
    return RunSnapshot(run_id=run_id, created_at=row["created_at"], model=row["model"], db=row["db"],
                       table=row["table_name"], rows=row["dataset_rows"], fingerprint=row["fingerprint"],
                       focus=tuple(row.focus), currency=row["currency"] or _currency(findings),
                       findings=tuple(findings))


def snapshot_of(run: RunMeta, profile: Profile | None, findings: Sequence[Finding]) -> RunSnapshot:
    """The run being reported on."""
    return RunSnapshot(run_id=run.run_id, created_at=run.created_at, model=run.model, db=run.db, table=run.table,
                       rows=profile.rows if profile else None, fingerprint=profile.fingerprint if profile else None,
                       focus=run.focus, currency=run.currency, findings=tuple(findings))


def previous_snapshot(store: RunStore, job: str, *, before: str | None = None) -> RunSnapshot | None:
    """The newest completed run of ``job`` (optionally created before ``before``), or None for a first run."""
    for row in store.list_runs(500, job=job):
        if row["status"] != "completed" or (before and row["created_at"] >= before):
            continue
        return snapshot_from_store(store, row["run_id"])
    return None


def _currency(findings: Sequence[Finding]) -> str:
    for f in findings:
        cur = f.values.get("currency")
        if isinstance(cur, str):
            return cur
    return "USD"


# -- numbers --------------------------------------------------------------------------------------------
def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values by dotted path (lists are left out: their items have no stable identity)."""
    out: dict[str, Any] = {}
    if isinstance(values, dict):
        for k, v in values.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                out.update(flatten(v, path))
            elif not isinstance(v, list):
                out[path] = v
    return out


@dataclass(frozen=True)
class Delta:
    label: str
    agent: str
    key: str
    identity: str
    path: str
    unit: str
    a: float
    b: float
    a_finding: str
    b_finding: str

    @property
    def delta(self) -> float:
        return self.b - self.a if self.changed else 0.0  # float noise (parallel aggregation) is no change

    @property
    def relative(self) -> float | None:
        return None if self.a == 0 else self.delta / abs(self.a)

    @property
    def changed(self) -> bool:
        return not math.isclose(self.a, self.b, rel_tol=1e-9, abs_tol=1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "agent": self.agent, "key": self.key, "identity": self.identity,
                "path": self.path, "unit": self.unit, "a": self.a, "b": self.b, "changed": self.changed,
                "delta": self.delta,
                "relative": self.relative, "a_finding": self.a_finding, "b_finding": self.b_finding}


@dataclass
class Comparison:
    a: RunSnapshot
    b: RunSnapshot
    kpis: list[Delta]
    changes: list[Delta]  # every numeric value of matched findings that changed (headline ones included)
    text_changes: list[dict[str, Any]]  # text values of matched findings that changed (e.g. best.stage)
    new: list[Matched]
    resolved: list[Matched]
    matched: int

    @property
    def currency(self) -> str:
        return self.b.currency or self.a.currency or "USD"

    @property
    def facts(self) -> list[dict[str, Any]]:
        out = []
        for what in ("rows", "fingerprint", "model", "db", "table", "focus"):
            va, vb = getattr(self.a, what), getattr(self.b, what)
            if what == "focus":
                va, vb = list(va), list(vb)
            out.append({"what": what, "a": va, "b": vb, "changed": va != vb})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"a": _facts(self.a), "b": _facts(self.b), "facts": self.facts,
                "kpis": [d.to_dict() for d in self.kpis], "changes": [d.to_dict() for d in self.changes],
                "text_changes": self.text_changes, "new": [f.to_dict(self.b.run_id) for f in self.new],
                "resolved": [f.to_dict(self.a.run_id) for f in self.resolved], "matched_findings": self.matched}


def _facts(side: RunSnapshot) -> dict[str, Any]:
    return {"run_id": side.run_id, "created_at": side.created_at, "model": side.model, "db": side.db,
            "table": side.table, "rows": side.rows, "fingerprint": side.fingerprint, "focus": list(side.focus)}


def compare(a: RunSnapshot, b: RunSnapshot) -> Comparison:
    """B against A (A is the earlier run)."""
    in_a = {m.match: m for m in matched(a.findings)}
    in_b = {m.match: m for m in matched(b.findings)}
    pairs = [(in_a[k], in_b[k]) for k in in_b if k in in_a]
    kpis: list[Delta] = []
    for label, agent, key, path, unit in KPIS:
        for ma, mb in pairs:
            fa, fb = ma.finding, mb.finding
            if fa.agent == agent and fa.key == key:
                va, vb = flatten(fa.values).get(path, None), flatten(fb.values).get(path, None)
                if va is not None and vb is not None and is_number(va) and is_number(vb):
                    name = f"{label} ({ma.identity})" if ma.identity else label
                    ids = fa.values.get("model_id"), fb.values.get("model_id")
                    if ids[0] != ids[1]:  # a retrained model: the two figures are of different models
                        name += f" (model {ids[0]} → {ids[1]})"
                    kpis.append(Delta(name, agent, key, ma.identity, path, unit, float(va), float(vb), fa.id, fb.id))
    changes: list[Delta] = []
    text_changes: list[dict[str, Any]] = []
    for ma, mb in pairs:
        fa, fb = ma.finding, mb.finding
        flat_a, flat_b = flatten(fa.values), flatten(fb.values)
        for path in flat_b:
            if path not in flat_a:
                continue
            va, vb = flat_a[path], flat_b[path]
            if va is not None and vb is not None and is_number(va) and is_number(vb):
                unit = fb.units.get(path) or fa.units.get(path) or "number"
                d = Delta(f"{fa.title}: {path}", fa.agent, fa.key, ma.identity, path, unit, float(va), float(vb),
                          fa.id, fb.id)
                if d.changed:
                    changes.append(d)
            elif isinstance(va, str) and isinstance(vb, str) and va != vb:
                text_changes.append({"agent": fa.agent, "key": fa.key, "identity": ma.identity, "title": fa.title,
                                     "path": path, "a": va, "b": vb, "a_finding": fa.id, "b_finding": fb.id})
    new = [m for k, m in in_b.items() if k not in in_a]
    resolved = [m for k, m in in_a.items() if k not in in_b]
    return Comparison(a, b, kpis, changes, text_changes, new, resolved, len(pairs))


def compare_runs(store: RunStore, run_a: str, run_b: str) -> Comparison:
    return compare(snapshot_from_store(store, run_a, "RUN_A"), snapshot_from_store(store, run_b, "RUN_B"))


# -- recommender evaluations (a recommend-train job's report) -----------------------------------------------
@dataclass
class EvaluationChanges:
    """One saved recommender's evaluation against the previous one's: MAP@K and precision@K of every
    recommender on each one's test window, the gate and the served recommender, and the data."""

    a: str  # the earlier recommender's id
    b: str
    deltas: list[Delta]
    text_changes: list[dict[str, Any]]
    facts: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "deltas": [d.to_dict() for d in self.deltas],
                "text_changes": self.text_changes, "facts": self.facts}


def compare_evaluations(a_id: str, a: dict[str, Any], b_id: str, b: dict[str, Any], *, k: int = 3,
                        labels: dict[str, str] | None = None) -> EvaluationChanges:
    """``b`` (a saved recommender's ``model.json``) against the earlier ``a``. Each figure is on its own run's
    test window (the windows move with the data), averaged over customers with a positive."""
    labels = labels or {}
    ea, eb = a["evaluation"], b["evaluation"]
    deltas: list[Delta] = []
    cards_a, cards_b = ea["test"]["recommenders"], eb["test"]["recommenders"]
    for name in [n for n in cards_b if n in cards_a]:
        for metric, title in (("map", "MAP"), ("precision", "precision")):
            va = cards_a[name].get(f"@{k}", {}).get("positive_customers", {}).get(metric, {}).get("value")
            vb = cards_b[name].get(f"@{k}", {}).get("positive_customers", {}).get(metric, {}).get("value")
            if is_number(va) and is_number(vb):
                deltas.append(Delta(f"{labels.get(name, name)}: {title}@{k} on the test window", "recommend", name,
                                    "", f"test.{name}.@{k}.{metric}", "score", float(va), float(vb), a_id, b_id))
    texts = []

    def label(kind: Any) -> str:
        return "none" if not kind else labels.get(str(kind), str(kind))

    for what, va, vb in (("served recommender", label(a.get("kind")), label(b.get("kind"))),
                         ("gate winner", label(ea["gate"].get("winner")), label(eb["gate"].get("winner"))),
                         ("baseline", label(ea["gate"].get("baseline")), label(eb["gate"].get("baseline"))),
                         ("verdict", ea.get("verdict"), eb.get("verdict"))):
        if va != vb:
            texts.append({"what": what, "a": va, "b": vb})
    facts = []
    for what, va, vb in (("fingerprint", a.get("fingerprint"), b.get("fingerprint")),
                         ("offers", ea["data"]["offers"], eb["data"]["offers"]),
                         ("customers", ea["data"]["customers"], eb["data"]["customers"]),
                         ("test window from", ea["windows"]["test"]["from"], eb["windows"]["test"]["from"]),
                         ("feedback rows used", ea["data"].get("feedback_used"), eb["data"].get("feedback_used"))):
        facts.append({"what": what, "a": va, "b": vb, "changed": va != vb})
    return EvaluationChanges(a_id, b_id, deltas, texts, facts)
