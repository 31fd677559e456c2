"""What changed between two runs: KPI deltas, new and resolved findings, and run facts.

Used by ``finmatch diff RUN_A RUN_B`` and by the "Changes since last run" section of scheduled reports, so
both say the same thing. Inputs are the runs' findings (the run store keeps them for every completed run;
a scheduled run carries its predecessor's in ``run["previous"]``). Every number compared is a value of a
finding, which came from a query result; deltas are plain differences of those values.

Findings are matched by (agent, key, identity). Most keys occur once per run; the identity tells repeated
or entity-specific findings apart (the segment, product, system or channel a finding is about, e.g.
"Mass Market x Wealth Management" for a mis-targeted pair), so "the weakest channel is now Branch instead
of Email" shows as one finding resolved and one new, never as a meaningless delta between two channels.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import UsageError
from finmatch_agents.formatting import fmt_count, fmt_money, fmt_num, fmt_pct, fmt_pp, fmt_times, is_number

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
)
_REF = re.compile(r"\s*\[Q\d+\]")
_CURRENCY_WORDS = ("revenue", "sales", "clv", "cost", "arpu", "amount", "loss", "value", "income", "profit")


@dataclass(frozen=True)
class FindingView:
    """One finding of one run, in the shape both the run store and the graph state can give."""

    run_id: str
    finding_id: str
    agent: str
    key: str
    title: str
    statement: str
    values: dict[str, Any]
    polarity: str = "neutral"
    identity: str = ""

    @property
    def match(self) -> tuple[str, str, str]:
        return (self.agent, self.key, self.identity)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "finding_id": self.finding_id, "agent": self.agent, "key": self.key,
                "identity": self.identity, "title": self.title, "statement": self.statement,
                "polarity": self.polarity}


def identity_of(values: dict[str, Any]) -> str:
    return " x ".join(str(values[f]) for f in ENTITY_FIELDS if isinstance(values.get(f), str) and values[f])


def _views(run_id: str, rows: list[dict[str, Any]]) -> list[FindingView]:
    """Findings with identities; a repeated (agent, key, identity) gets ``#2``, ``#3``... in finding order."""
    out: list[FindingView] = []
    seen: dict[tuple[str, str, str], int] = {}
    for r in sorted(rows, key=lambda r: int(str(r["finding_id"]).lstrip("F") or 0)):
        values = r["values"] if isinstance(r["values"], dict) else {}
        ident = identity_of(values)
        n = seen[(r["agent"], r["key"], ident)] = seen.get((r["agent"], r["key"], ident), 0) + 1
        if n > 1:
            ident = f"{ident} #{n}".strip()
        out.append(FindingView(run_id, r["finding_id"], r["agent"], r["key"], r.get("title") or r["key"],
                               r.get("statement") or "", values, r.get("polarity") or "neutral", ident))
    return out


@dataclass
class RunSide:
    """One side of a comparison: the run's facts and its findings."""

    run_id: str
    created_at: str | None = None
    model: str | None = None
    db: str | None = None
    table: str | None = None
    rows: int | None = None
    fingerprint: str | None = None
    focus: list[str] = field(default_factory=list)
    currency: str = "USD"
    findings: list[FindingView] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "created_at": self.created_at, "model": self.model, "db": self.db,
                "table": self.table, "rows": self.rows, "fingerprint": self.fingerprint, "focus": self.focus}


def side_from_store(store: RunStore, run_id: str, label: str = "RUN") -> RunSide:
    """A completed run from the run store (usage error, exit 2, when unknown or without findings)."""
    row = store.get(run_id)
    if row is None:
        raise UsageError(f"{label}: no run {run_id} in {store.path}", hint="`finmatch history list` shows run ids")
    if row["status"] != "completed":
        raise UsageError(f"{label}: run {run_id} is {row['status']}; only completed runs have findings to compare",
                         hint=f"finish it with `finmatch analyze --resume {run_id}`"
                         if row["status"] == "interrupted" else None)
    rows = [{**f, "values": json.loads(f["vals"] or "{}")} for f in store.table_rows("findings", run_id)]
    return RunSide(run_id, row["created_at"], row["model"], row["db"], row["table_name"], row["dataset_rows"],
                   row["fingerprint"], json.loads(row["focus"]), _currency(rows), _views(run_id, rows))


def side_from_state(state: dict[str, Any]) -> RunSide:
    """The run being reported on (graph state)."""
    run, profile = state["run"], state.get("profile", {})
    rows = [{**f, "finding_id": f["id"]} for f in state.get("findings", [])]
    return RunSide(run["run_id"], run.get("created_at"), run.get("model"), run.get("db"), run.get("table"),
                   profile.get("rows"), profile.get("fingerprint"), list(run.get("focus", [])),
                   run.get("currency", "USD"), _views(run["run_id"], rows))


def previous_meta(store: RunStore, job: str, *, before: str | None = None) -> dict[str, Any] | None:
    """The newest completed run of ``job`` (optionally created before ``before``) as plain JSON for
    ``run["previous"]``, or None for a job's first run."""
    for row in store.list_runs(500, job=job):
        if row["status"] != "completed" or (before and row["created_at"] >= before):
            continue
        side = side_from_store(store, row["run_id"])
        return {**side.facts(), "currency": side.currency,
                "findings": [{**f.to_dict(), "values": f.values} for f in side.findings]}
    return None


def side_from_meta(meta: dict[str, Any]) -> RunSide:
    rows = list(meta.get("findings", []))
    return RunSide(meta["run_id"], meta.get("created_at"), meta.get("model"), meta.get("db"), meta.get("table"),
                   meta.get("rows"), meta.get("fingerprint"), list(meta.get("focus") or []),
                   meta.get("currency", "USD"), _views(meta["run_id"], rows))


def _currency(rows: list[dict[str, Any]]) -> str:
    for r in rows:
        cur = r["values"].get("currency") if isinstance(r["values"], dict) else None
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


def unit_of(path: str, value: Any) -> str:
    leaf = path.rsplit(".", 1)[-1]
    if "correlation" in leaf or leaf.startswith("avg_score") or leaf.startswith("satisfaction"):
        return "score"
    if any(w in leaf for w in ("ratio", "lift", "index")):
        return "times"
    if (leaf.endswith(("rate", "share", "margin", "roi", "gap", "churn", "spread", "acceptance"))
            or "_vs_" in leaf or leaf.startswith("vs_")):
        return "percent"
    if any(w in leaf for w in _CURRENCY_WORDS):
        return "currency"
    if leaf.endswith("_change"):
        return "percent"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 10):
        return "count"
    return "number"


def show(value: Any, unit: str, currency: str = "USD") -> str:
    if value is None:
        return "n/a"
    if unit == "count":
        return fmt_count(value)
    if unit == "percent":
        return fmt_pct(value)
    if unit == "times":
        return fmt_times(value)
    if unit == "currency":
        return fmt_money(value, currency, compact=True)
    if unit == "score":
        return fmt_num(value, 3)
    return fmt_num(value)


def show_delta(delta: float, unit: str, currency: str = "USD") -> str:
    if unit == "percent":
        return fmt_pp(delta)
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    if unit == "count":
        return f"{sign}{fmt_count(abs(delta))}"
    if unit == "times":
        return f"{sign}{abs(delta):,.1f}×"
    if unit == "currency":
        return f"{sign}{fmt_money(abs(delta), currency, compact=True)}"
    return f"{sign}{abs(delta):,.3f}" if unit == "score" else f"{sign}{abs(delta):,.2f}"


def show_relative(rel: float | None) -> str:
    return "n/a" if rel is None else f"{rel * 100:+.1f}%"


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
    a: RunSide
    b: RunSide
    kpis: list[Delta]
    changes: list[Delta]  # every numeric value of matched findings that changed (headline ones included)
    text_changes: list[dict[str, Any]]  # text values of matched findings that changed (e.g. best.stage)
    new: list[FindingView]
    resolved: list[FindingView]
    matched: int

    @property
    def facts(self) -> list[dict[str, Any]]:
        out = []
        for what in ("rows", "fingerprint", "model", "db", "table", "focus"):
            va, vb = getattr(self.a, what), getattr(self.b, what)
            out.append({"what": what, "a": va, "b": vb, "changed": va != vb})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.facts(), "b": self.b.facts(), "facts": self.facts,
                "kpis": [d.to_dict() for d in self.kpis], "changes": [d.to_dict() for d in self.changes],
                "text_changes": self.text_changes, "new": [f.to_dict() for f in self.new],
                "resolved": [f.to_dict() for f in self.resolved], "matched_findings": self.matched}


def compare(a: RunSide, b: RunSide) -> Comparison:
    """B against A (A is the earlier run)."""
    in_a = {f.match: f for f in a.findings}
    in_b = {f.match: f for f in b.findings}
    matched = [(in_a[k], in_b[k]) for k in in_b if k in in_a]
    kpis: list[Delta] = []
    for label, agent, key, path, unit in KPIS:
        for fa, fb in matched:
            if fa.agent == agent and fa.key == key:
                va, vb = flatten(fa.values).get(path, None), flatten(fb.values).get(path, None)
                if va is not None and vb is not None and is_number(va) and is_number(vb):
                    name = f"{label} ({fa.identity})" if fa.identity else label
                    kpis.append(Delta(name, agent, key, fa.identity, path, unit, float(va), float(vb),
                                      fa.finding_id, fb.finding_id))
    changes: list[Delta] = []
    text_changes: list[dict[str, Any]] = []
    for fa, fb in matched:
        flat_a, flat_b = flatten(fa.values), flatten(fb.values)
        for path in flat_b:
            if path not in flat_a:
                continue
            va, vb = flat_a[path], flat_b[path]
            if va is not None and vb is not None and is_number(va) and is_number(vb):
                d = Delta(f"{fa.title}: {path}", fa.agent, fa.key, fa.identity, path, unit_of(path, vb), float(va),
                          float(vb), fa.finding_id, fb.finding_id)
                if d.changed:
                    changes.append(d)
            elif isinstance(va, str) and isinstance(vb, str) and va != vb:
                text_changes.append({"agent": fa.agent, "key": fa.key, "identity": fa.identity, "title": fa.title,
                                     "path": path, "a": va, "b": vb, "a_finding": fa.finding_id,
                                     "b_finding": fb.finding_id})
    new = [f for k, f in in_b.items() if k not in in_a]
    resolved = [f for k, f in in_a.items() if k not in in_b]
    return Comparison(a, b, kpis, changes, text_changes, new, resolved, len(matched))


def compare_runs(store: RunStore, run_a: str, run_b: str) -> Comparison:
    return compare(side_from_store(store, run_a, "RUN_A"), side_from_store(store, run_b, "RUN_B"))


# -- the report section ---------------------------------------------------------------------------------
CHANGES_TITLE = "Changes since last run"


def _strip_refs(statement: str) -> str:
    """A previous run's statement without its [Qn] references (those queries are not in this report)."""
    return _REF.sub("", statement).strip()


def changes_section(state: dict[str, Any]) -> list[str]:
    """Markdown lines of the "Changes since last run" section of a scheduled report."""
    from finmatch_agents.agents import AGENTS
    from finmatch_agents.report.markdown import md_escape, prose, table

    run = state["run"]
    out = [f"## {CHANGES_TITLE}", ""]
    previous = run.get("previous")
    if not previous:
        return [*out, f"First run of this job ({md_escape(run.get('job'))}): there is no earlier completed run "
                      "to compare with.", ""]
    cmp = compare(side_from_meta(previous), side_from_state(state))
    a, b, cur = cmp.a, cmp.b, b_currency(cmp)
    out += [f"Compared with run {md_escape(a.run_id)} of this job, started {md_escape(a.created_at)}. Previous "
            f"values come from that run's findings (ids like F103 are its finding ids); current values from this "
            f"run's findings. Changes are differences of the two.", ""]
    facts = []
    if a.rows != b.rows:
        facts.append(f"the dataset has {fmt_count(b.rows)} rows, {show_delta((b.rows or 0) - (a.rows or 0), 'count')} "
                     f"since the previous run ({fmt_count(a.rows)})")
    if a.fingerprint != b.fingerprint:
        facts.append(f"the data changed (fingerprint {md_escape(a.fingerprint)} → {md_escape(b.fingerprint)})")
    else:
        facts.append("the data is unchanged (same fingerprint)")
    if a.model != b.model:
        facts.append(f"the model changed from {md_escape(a.model)} to {md_escape(b.model)}")
    if a.focus != b.focus:
        facts.append("the focus changed from " + md_escape(", ".join(a.focus)) + " to " + md_escape(", ".join(b.focus)))
    out += ["- " + f[0].upper() + f[1:] + "." for f in facts] + [""]
    if cmp.kpis:
        rows = [[md_escape(d.label), show(d.a, d.unit, cur), show(d.b, d.unit, cur),
                 show_delta(d.delta, d.unit, cur) if d.changed else "no change",
                 show_relative(d.relative) if d.changed else "", f"{d.a_finding} → {d.b_finding}"]
                for d in cmp.kpis]
        out += ["**Key figures**", "",
                table(["Figure", "Previous", "Now", "Change", "Relative", "Findings"], rows,
                      align=["l", "r", "r", "r", "r", "l"], raw=True), ""]
    if cmp.new:
        out += ["**New findings** (not in the previous run)", ""]
        out += [f"- _{md_escape(AGENTS[f.agent].title if f.agent in AGENTS else f.agent)} · {md_escape(f.title)}"
                f"{' · ' + md_escape(f.polarity) if f.polarity in ('risk', 'opportunity') else ''}:_ "
                f"{prose(f.statement)} ({f.finding_id})" for f in cmp.new] + [""]
    if cmp.resolved:
        out += ["**Resolved findings** (in the previous run, not in this one)", ""]
        out += [f"- _{md_escape(AGENTS[f.agent].title if f.agent in AGENTS else f.agent)} · {md_escape(f.title)}"
                f"{' · ' + md_escape(f.polarity) if f.polarity in ('risk', 'opportunity') else ''}:_ "
                f"{prose(_strip_refs(f.statement))} (run {md_escape(a.run_id)}, {f.finding_id})"
                for f in cmp.resolved] + [""]
    if not cmp.new and not cmp.resolved:
        out += [f"No finding appeared or disappeared; {cmp.matched} findings are in both runs.", ""]
    others = len([d for d in cmp.changes if (d.agent, d.key, d.path) not in {(k.agent, k.key, k.path)
                                                                           for k in cmp.kpis}])
    if others or cmp.text_changes:
        out += [f"_{others} other figure(s) and {len(cmp.text_changes)} label(s) in matched findings changed; "
                f"finmatch diff {md_escape(a.run_id)} {md_escape(b.run_id)} --all lists them._", ""]
    return out


def b_currency(cmp: Comparison) -> str:
    return cmp.b.currency or cmp.a.currency or "USD"
