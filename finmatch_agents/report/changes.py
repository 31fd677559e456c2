"""The "Changes since last run" section of scheduled reports (the comparison itself is :mod:`diff`).

:func:`changes_view` decides what the section says (plain text, for every rendering); :func:`changes_section`
writes it as markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from finmatch_agents.agents import AGENTS
from finmatch_agents.diff import Matched, compare, snapshot_of
from finmatch_agents.formatting import fmt_count, sentence_case
from finmatch_agents.ids import strip_query_refs
from finmatch_agents.report.markdown import md_escape, prose, table
from finmatch_agents.units import format_delta, format_relative, format_value

if TYPE_CHECKING:
    from finmatch_agents.records import Finding, Profile, RunMeta

CHANGES_TITLE = "Changes since last run"
KPI_COLUMNS = ("Figure", "Previous", "Now", "Change", "Relative", "Findings")


@dataclass(frozen=True)
class ChangedFinding:
    label: str  # "Optimization Opportunities · Mis-targeted pair · risk"
    statement: str  # with this run's [Qn] references, or none for a previous run's finding
    where: str  # "F203" or "run A, F203"


@dataclass(frozen=True)
class ChangesView:
    previous: str | None  # the previous run's id (None: first run of the job)
    intro: str
    facts: tuple[str, ...] = ()
    kpis: tuple[tuple[str, ...], ...] = ()
    new: tuple[ChangedFinding, ...] = ()
    resolved: tuple[ChangedFinding, ...] = ()
    unchanged: str = ""  # "No finding appeared or disappeared…"
    more: str = ""  # how to see every other change

    @property
    def short(self) -> str:
        """One sentence for the executive summary."""
        if self.previous is None:
            return self.intro
        parts = [self.facts[0].rstrip(".") if self.facts else "",
                 f"{len(self.new)} new and {len(self.resolved)} resolved finding(s)",
                 f"{len(self.kpis)} key figure(s) compared"]
        return f"Since run {self.previous}: " + "; ".join(p[0].lower() + p[1:] for p in parts if p) + "."


def _label(m: Matched) -> str:
    f = m.finding
    agent = AGENTS[f.agent].title if f.agent in AGENTS else f.agent
    polarity = f" · {f.polarity}" if f.polarity in ("risk", "opportunity") else ""
    return f"{agent} · {f.title}{polarity}"


def changes_view(run: RunMeta, profile: Profile | None, findings: Sequence[Finding]) -> ChangesView:
    previous = run.previous
    if previous is None:
        return ChangesView(None, f"First run of this job ({run.job}): there is no earlier completed run to compare "
                                 "with.")
    cmp = compare(previous, snapshot_of(run, profile, findings))
    a, b, cur = cmp.a, cmp.b, cmp.currency
    intro = (f"Compared with run {a.run_id} of this job, started {a.created_at}. Previous values come from that "
             f"run's findings (ids like F103 are its finding ids); current values from this run's findings. "
             f"Changes are differences of the two.")
    facts = []
    if a.rows != b.rows:
        facts.append(f"the dataset has {fmt_count(b.rows)} rows, "
                     f"{format_delta((b.rows or 0) - (a.rows or 0), 'count')} since the previous run "
                     f"({fmt_count(a.rows)})")
    if a.fingerprint != b.fingerprint:
        facts.append(f"the data changed (fingerprint {a.fingerprint} → {b.fingerprint})")
    else:
        facts.append("the data is unchanged (same fingerprint)")
    if a.model != b.model:
        facts.append(f"the model changed from {a.model} to {b.model}")
    if a.focus != b.focus:
        facts.append("the focus changed from " + ", ".join(a.focus) + " to " + ", ".join(b.focus))
    kpis = tuple((d.label, format_value(d.a, d.unit, cur), format_value(d.b, d.unit, cur),
                  format_delta(d.delta, d.unit, cur) if d.changed else "no change",
                  format_relative(d.relative) if d.changed else "", f"{d.a_finding} → {d.b_finding}")
                 for d in cmp.kpis)
    new = tuple(ChangedFinding(_label(m), m.finding.statement, m.finding.id) for m in cmp.new)
    resolved = tuple(ChangedFinding(_label(m), strip_query_refs(m.finding.statement), f"run {a.run_id}, {m.finding.id}")
                     for m in cmp.resolved)
    unchanged = ("" if cmp.new or cmp.resolved else
                 f"No finding appeared or disappeared; {cmp.matched} findings are in both runs.")
    kpi_paths = {(k.agent, k.key, k.path) for k in cmp.kpis}
    others = len([d for d in cmp.changes if (d.agent, d.key, d.path) not in kpi_paths])
    more = (f"{others} other figure(s) and {len(cmp.text_changes)} label(s) in matched findings changed; "
            f"finmatch diff {a.run_id} {b.run_id} --all lists them." if others or cmp.text_changes else "")
    return ChangesView(a.run_id, intro, tuple(sentence_case(f) + "." for f in facts), kpis, new, resolved,
                       unchanged, more)


def changes_markdown(view: ChangesView, link: object = None) -> list[str]:
    """The section as markdown lines; ``link`` turns a finding statement into linked markdown (default: escaped
    text with its references)."""
    render = link if callable(link) else prose
    out = [f"## {CHANGES_TITLE}", ""]
    if view.previous is None:
        return [*out, md_escape(view.intro), ""]
    out += [md_escape(view.intro), ""]
    out += [f"- {md_escape(f)}" for f in view.facts] + [""]
    if view.kpis:
        rows = [[md_escape(c) for c in row] for row in view.kpis]
        out += ["**Key figures**", "",
                table(list(KPI_COLUMNS), rows, align=["l", "r", "r", "r", "r", "l"], raw=True), ""]
    if view.new:
        out += ["**New findings** (not in the previous run)", ""]
        out += [f"- _{md_escape(c.label)}:_ {render(c.statement)} ({md_escape(c.where)})" for c in view.new] + [""]
    if view.resolved:
        out += ["**Resolved findings** (in the previous run, not in this one)", ""]
        out += [f"- _{md_escape(c.label)}:_ {prose(c.statement)} ({md_escape(c.where)})" for c in view.resolved]
        out.append("")
    if view.unchanged:
        out += [md_escape(view.unchanged), ""]
    if view.more:
        out += [f"_{md_escape(view.more)}_", ""]
    return out


def changes_section(run: RunMeta, profile: Profile | None, findings: Sequence[Finding]) -> list[str]:
    """Markdown lines of the section, comparing this run with ``run.previous``."""
    return changes_markdown(changes_view(run, profile, findings))
