"""Markdown for one agent's section and for the recommendations table: each step in order with its blocks
(findings, tables, charts, notes), the AI step's analyst and the insights the summary does not already
carry, the report step's links to the recommendations table. Text from data and analysts is escaped and its
``[Qn]`` references become links to the appendix; only ids of queries the run has become links.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finmatch_agents.agents import AGENTS
from finmatch_agents.records import (
    AgentAnalysis,
    Block,
    ChartBlock,
    FailedBlock,
    Finding,
    FindingBlock,
    NoteBlock,
    SkippedBlock,
    StepRecord,
    TableBlock,
    TextBlock,
)
from finmatch_agents.report.charts import mermaid
from finmatch_agents.report.markdown import code, evidence, html_text, linked, md_escape, table
from finmatch_agents.report.outline import (
    DETAILED_RECOMMENDATIONS,
    AgentView,
    NumberedRec,
    StepView,
    agent_view,
    not_analysed_line,
    number_recommendations,
)
from finmatch_agents.units import format_value

if TYPE_CHECKING:
    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.report.outline import Outline


@dataclass(frozen=True)
class Context:
    """What rendering a block needs from the run."""

    findings: Mapping[str, Finding]
    known: Collection[str]
    currency: str = "USD"
    referenced: Collection[str] = ()  # findings another text refers to: they show their id and an anchor


def _context(outline: Outline) -> Context:
    return Context(outline.findings, outline.known, outline.records.run.currency, outline.referenced)


def cell_text(value: Any, unit: str, currency: str) -> str:
    """A table cell in its column's unit, unescaped (``n/a`` for a missing figure)."""
    if unit == "text":
        return "" if value is None else str(value)
    return format_value(value, unit, currency) if value is not None else "n/a"


def table_markdown(block: TableBlock, ctx: Context, *, folded: bool = True) -> str:
    rows = [[md_escape(cell_text(row.get(c.key), c.unit, ctx.currency)) for c in block.columns] for row in block.rows]
    align = ["l" if c.unit in ("text", "date") else "r" for c in block.columns]
    body = table([c.label for c in block.columns], rows, align=align, raw=True)
    if not folded:
        return f"**Table: {md_escape(block.title)}**\n\n{body}"
    return (f"<details><summary>Table: {html_text(block.title)}</summary>\n\n"
            f"{evidence([block.query], ctx.known)}\n\n{body}\n\n</details>")


def result_tables(outline: Outline) -> dict[str, list[str]]:
    """The tables the steps drew from each query, for the evidence appendix (the body states the findings and
    links each to its query; the data behind them is one click away)."""
    ctx = _context(outline)
    out: dict[str, list[str]] = {}
    for view in outline.agents:
        for step in view.steps:
            for block in step.blocks:
                if isinstance(block, TableBlock):
                    out.setdefault(block.query, []).append(table_markdown(block, ctx, folded=False))
    return out


def render_block(block: Block, ctx: Context) -> str:
    known = ctx.known
    if isinstance(block, FindingBlock):
        f = ctx.findings.get(block.id)
        if f is None:
            return ""
        if f.id in ctx.referenced:
            return f'- <a id="{f.id.lower()}"></a>**{md_escape(f.title)} ({f.id}).** {linked(f.statement, known)}'
        return f"- **{md_escape(f.title)}.** {linked(f.statement, known)}"
    if isinstance(block, TextBlock):
        return linked(block.text, known, line_start=True)
    if isinstance(block, NoteBlock):
        return f"> {linked(block.text, known)}"
    if isinstance(block, SkippedBlock):
        return f"> _Not analysed — {md_escape(block.title)}: {md_escape(block.reason)}._"
    if isinstance(block, FailedBlock):
        return f"> **This step did not complete:** {md_escape(block.reason)}"
    if isinstance(block, TableBlock):
        return table_markdown(block, ctx)
    if isinstance(block, ChartBlock):
        return (f"```mermaid\n{mermaid(block.spec)}\n```\n\n"
                f"_Figure: {md_escape(block.title)} {evidence([block.query], known)}_")
    raise ValueError(f"unknown block type {type(block).__name__}")


def not_repeated(step: StepView) -> str:
    """Why the AI step lists no insight although the analyst wrote some (no counts: every number in the body is
    evidence); when some are listed, the others go without a note."""
    if step.insights:
        return ""
    parts = (["are in the executive summary"] if step.insights_in_summary else []) + (
        ["restate the findings above"] if step.insights_restating else [])
    return f"Its insights {' or '.join(parts)}." if parts else ""


def rec_links(recs: Sequence[NumberedRec]) -> str:
    return ", ".join(f"[{n.label}](#{n.anchor})" for n in recs)


def render_agent_view(view: AgentView, outline: Outline | None = None, ctx: Context | None = None, *,
                      tables_elsewhere: bool = False) -> str:
    """An agent's section; ``tables_elsewhere``: its result tables are in the evidence appendix (the report),
    not here (a section rendered on its own keeps them)."""
    ctx = ctx or _context(outline)  # type: ignore[arg-type]
    out = [f"## {view.spec.title}", ""]
    if view.not_analysed is not None:
        return "\n".join([*out, f"_{md_escape(not_analysed_line(view))}_"]) + "\n"
    for step in view.steps:
        out += [f"### {step.name}", ""]
        if step.kind == "ai":
            for block in step.blocks:
                if tables_elsewhere and isinstance(block, TableBlock):
                    continue
                out += [render_block(block, ctx), ""]
            out += [f"_{md_escape(step.analyst_note)}_", ""]
            out += [f"> **Note:** {linked(w, ctx.known)}" for w in step.warnings] + ([""] if step.warnings else [])
            if step.insights:
                out += ["**Insights**", ""] + [f"- {linked(i.text, ctx.known)}" for i in step.insights] + [""]
            elsewhere = not_repeated(step)
            if elsewhere:
                out += [f"_{elsewhere}_", ""]
            elif not step.insights:
                out += ["_No insights: the data steps produced no findings to interpret._", ""]
            continue
        if step.kind == "report":
            for block in step.blocks:
                out += [render_block(block, ctx), ""]
            if step.recs:
                out += [f"Recommendations: {rec_links(step.recs)}.", ""]
            if step.tradeoffs:
                out += ["**Trade-offs** (opposing advice from another agent: not listed as actions)", ""]
                out += [f"- {linked(t.text, ctx.known)}" for t in step.tradeoffs] + [""]
            elif not step.recs and not step.risks:
                out += ["_No recommendation: nothing in the findings calls for action._", ""]
            if step.risks:
                out += ["**Risks and caveats**", ""] + [f"- {linked(r, ctx.known)}" for r in step.risks] + [""]
            continue
        if step.state == "not run":
            out += ["_This step has not run._", ""]
            continue
        if not step.blocks:
            out += ["_No results._", ""]
        for block in step.blocks:
            if tables_elsewhere and isinstance(block, TableBlock):
                continue
            out += [render_block(block, ctx), ""]
    return "\n".join(out).rstrip() + "\n"


def recommendations_markdown(outline: Outline) -> list[str]:
    known = outline.known
    detailed = outline.recommendations[:DETAILED_RECOMMENDATIONS]
    rest = outline.recommendations[DETAILED_RECOMMENDATIONS:]
    rows = []
    for n in detailed:
        r = n.rec
        agents = ", ".join(AGENTS[a].title if a in AGENTS else a for a in n.agents)
        rows.append([f'<a id="{n.anchor}"></a>{n.label}', md_escape(r.title), md_escape(agents), r.impact, r.effort,
                     r.horizon, md_escape(r.owner), evidence(n.query_ids, known)])
    headings = ["#", "Recommendation", "Agents", "Impact", "Effort", "When", "Owner", "Evidence"]
    out = ["Ranked by estimated effect (largest share of the baseline first), then by impact over effort. Agents "
           "that reached the same action share a row.",
           "", table(headings, rows, align=["l"] * len(headings), raw=True), "",
           "**Why, and how success is measured**", ""]
    for n in detailed:
        out += [f"- **{n.label}.** {linked(n.reason, known)}",
                f"  _Success metric:_ {linked(n.rec.success_metric, known)}."]
    if rest:
        listed = "; ".join(f'<a id="{n.anchor}"></a>{n.label} {md_escape(n.rec.title)} '
                           f"{evidence(n.query_ids, known)}" for n in rest)
        out += ["", f"**Also proposed, lower in priority:** {listed}."]
    return out


def render_agent_section(spec: AgentSpec, steps: Sequence[StepRecord], analysis: AgentAnalysis,
                         findings: Sequence[Finding], known_queries: Collection[str], currency: str = "USD") -> str:
    """One agent's section on its own (agent tests, chat): every insight, links to its own recommendations."""
    by_id = {f.id: f for f in findings}
    view = agent_view(spec, steps, analysis, by_id, number_recommendations([analysis]))
    return render_agent_view(view, ctx=Context(by_id, set(known_queries), currency))


__all__ = ["Context", "code", "render_agent_section", "render_agent_view", "render_block"]
