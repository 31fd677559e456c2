"""The "Changes since last run" section of scheduled reports (the comparison itself is :mod:`diff`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finmatch_agents.agents import AGENTS
from finmatch_agents.diff import Matched, compare, snapshot_of
from finmatch_agents.formatting import fmt_count
from finmatch_agents.ids import strip_query_refs
from finmatch_agents.report.markdown import md_escape, prose, table
from finmatch_agents.units import format_delta, format_relative, format_value

if TYPE_CHECKING:
    from finmatch_agents.records import Finding, Profile, RunMeta

CHANGES_TITLE = "Changes since last run"


def _label(m: Matched) -> str:
    f = m.finding
    agent = AGENTS[f.agent].title if f.agent in AGENTS else f.agent
    polarity = f" · {md_escape(f.polarity)}" if f.polarity in ("risk", "opportunity") else ""
    return f"_{md_escape(agent)} · {md_escape(f.title)}{polarity}:_"


def changes_section(run: RunMeta, profile: Profile | None, findings: Sequence[Finding]) -> list[str]:
    """Markdown lines of the section, comparing this run with ``run.previous``."""
    out = [f"## {CHANGES_TITLE}", ""]
    previous = run.previous
    if previous is None:
        return [*out, f"First run of this job ({md_escape(run.job)}): there is no earlier completed run "
                      "to compare with.", ""]
    cmp = compare(previous, snapshot_of(run, profile, findings))
    a, b, cur = cmp.a, cmp.b, cmp.currency
    out += [f"Compared with run {md_escape(a.run_id)} of this job, started {md_escape(a.created_at)}. Previous "
            f"values come from that run's findings (ids like F103 are its finding ids); current values from this "
            f"run's findings. Changes are differences of the two.", ""]
    facts = []
    if a.rows != b.rows:
        facts.append(f"the dataset has {fmt_count(b.rows)} rows, "
                     f"{format_delta((b.rows or 0) - (a.rows or 0), 'count')} since the previous run "
                     f"({fmt_count(a.rows)})")
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
        rows = [[md_escape(d.label), format_value(d.a, d.unit, cur), format_value(d.b, d.unit, cur),
                 format_delta(d.delta, d.unit, cur) if d.changed else "no change",
                 format_relative(d.relative) if d.changed else "", f"{d.a_finding} → {d.b_finding}"]
                for d in cmp.kpis]
        out += ["**Key figures**", "",
                table(["Figure", "Previous", "Now", "Change", "Relative", "Findings"], rows,
                      align=["l", "r", "r", "r", "r", "l"], raw=True), ""]
    if cmp.new:
        out += ["**New findings** (not in the previous run)", ""]
        out += [f"- {_label(m)} {prose(m.finding.statement)} ({m.finding.id})" for m in cmp.new] + [""]
    if cmp.resolved:
        out += ["**Resolved findings** (in the previous run, not in this one)", ""]
        out += [f"- {_label(m)} {prose(strip_query_refs(m.finding.statement))} (run {md_escape(a.run_id)}, "
                f"{m.finding.id})" for m in cmp.resolved] + [""]
    if not cmp.new and not cmp.resolved:
        out += [f"No finding appeared or disappeared; {cmp.matched} findings are in both runs.", ""]
    kpi_paths = {(k.agent, k.key, k.path) for k in cmp.kpis}
    others = len([d for d in cmp.changes if (d.agent, d.key, d.path) not in kpi_paths])
    if others or cmp.text_changes:
        out += [f"_{others} other figure(s) and {len(cmp.text_changes)} label(s) in matched findings changed; "
                f"finmatch diff {md_escape(a.run_id)} {md_escape(b.run_id)} --all lists them._", ""]
    return out
