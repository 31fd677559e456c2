"""Markdown for one agent's section: its steps in order, their blocks (findings, tables, charts, notes), then
the analyst's insights and prioritised recommendations. Text from data and analysts is escaped (``prose``);
evidence links are only ever ids of queries the run has.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from finmatch_agents.records import (
    AgentAnalysis,
    Block,
    ChartBlock,
    FailedBlock,
    Finding,
    FindingBlock,
    NoteBlock,
    Recommendation,
    SkippedBlock,
    StepRecord,
    TableBlock,
    TextBlock,
)
from finmatch_agents.report.charts import mermaid
from finmatch_agents.report.markdown import code, md_escape, prose, table
from finmatch_agents.units import format_value

if TYPE_CHECKING:
    from finmatch_agents.agents.base import AgentSpec

_QUERY_ID = re.compile(r"^Q\d+$")


def evidence_links(query_ids: Sequence[str], known: Collection[str]) -> str:
    """``[Q1] [Q2]`` for the ids the run has; anything else a model wrote is left out."""
    return " ".join(f"[{q}]" for q in dict.fromkeys(query_ids) if _QUERY_ID.match(q) and q in known)


def render_block(block: Block, findings: dict[str, Finding], currency: str) -> str:
    if isinstance(block, FindingBlock):
        f = findings.get(block.id)
        return f"- **{md_escape(f.title)}.** {prose(f.statement)}" if f else ""
    if isinstance(block, TextBlock):
        return prose(block.text, line_start=True)
    if isinstance(block, NoteBlock):
        return f"> {prose(block.text)}"
    if isinstance(block, SkippedBlock):
        return f"> _Not analysed — {md_escape(block.title)}: {md_escape(block.reason)}._"
    if isinstance(block, FailedBlock):
        return f"> **This step did not complete:** {md_escape(block.reason)}"
    if isinstance(block, TableBlock):
        rows = [[_cell(row.get(c.key), c.unit, currency) for c in block.columns] for row in block.rows]
        align = ["l" if c.unit == "text" else "r" for c in block.columns]
        body = table([c.label for c in block.columns], rows, align=align, raw=True)
        return f"**{md_escape(block.title)}** [{block.query}]\n\n{body}"
    if isinstance(block, ChartBlock):
        return f"```mermaid\n{mermaid(block.spec)}\n```\n\n_Figure: {md_escape(block.title)} [{block.query}]_"
    raise ValueError(f"unknown block type {type(block).__name__}")


def _cell(value: Any, unit: str, currency: str) -> str:
    if unit == "text":
        return md_escape(value) if value is not None else ""
    return format_value(value, unit, currency) if value is not None else "n/a"


def recommendations_table(recs: Sequence[Recommendation], known_queries: Collection[str], *,
                          with_agent: bool = False) -> str:
    headings = ["Recommendation", "Impact", "Effort", "When", "Owner", "Success metric", "Evidence"]
    if with_agent:
        headings.insert(0, "Agent")
    rows = []
    for r in recs:
        row = [f"**{md_escape(r.title)}** — {prose(r.rationale)}", r.impact, r.effort, r.horizon,
               md_escape(r.owner), prose(r.success_metric), evidence_links(r.query_ids, known_queries)]
        if with_agent:
            row.insert(0, md_escape(r.agent))
        rows.append(row)
    return table(headings, rows, align=["l"] * len(headings), raw=True)


def render_agent_section(spec: AgentSpec, steps: Sequence[StepRecord], analysis: AgentAnalysis,
                         findings: Sequence[Finding], known_queries: Collection[str], currency: str = "USD") -> str:
    by_id = {f.id: f for f in findings}
    done = {s.step: s for s in steps if s.agent == spec.key}
    out = [f"## {spec.title}", "", f"**Business challenge.** {prose(spec.challenge)}", "",
           f"**Agent solution.** {prose(spec.solution)}", ""]
    for step in spec.steps:
        out += [f"### {step.name}", "", f"_{prose(step.about)}_", ""]
        record = done.get(step.name)
        if step.kind == "ai":
            for block in record.blocks if record else ():
                out += [render_block(block, by_id, currency), ""]
            out += [f"Analyst: {code(analysis.analyst)}.", ""]
            out += [f"> **Note:** {prose(w)}" for w in analysis.warnings] + ([""] if analysis.warnings else [])
            if analysis.insights:
                out += ["**Insights**", ""]
                out += [f"- {prose(i.text)}" for i in analysis.insights]
                out.append("")
            else:
                out += ["_No insights: the data steps produced no findings to interpret._", ""]
            continue
        if step.kind == "report":
            if analysis.recommendations:
                out += ["**Prioritised recommendations**", "",
                        recommendations_table(analysis.recommendations, known_queries), ""]
            if analysis.risks:
                out += ["**Risks and caveats**", ""] + [f"- {prose(r)}" for r in analysis.risks] + [""]
            continue
        if record is None:
            out += ["_This step has not run._", ""]
            continue
        if not record.blocks:
            out += ["_No results._", ""]
        for block in record.blocks:
            out += [render_block(block, by_id, currency), ""]
    return "\n".join(out).rstrip() + "\n"
