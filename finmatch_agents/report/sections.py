"""Markdown for one agent's section: its steps in order, their findings, tables and charts, then the
analyst's insights and prioritised recommendations. Text from data and analysts is escaped (``prose``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.formatting import fmt_value
from finmatch_agents.report.markdown import code, md_escape, prose, table

if TYPE_CHECKING:
    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.evidence import Finding
    from finmatch_agents.llm.analyst import AgentAnalysis, Recommendation


def render_block(block: dict[str, Any], findings: dict[str, Finding], currency: str) -> str:
    kind = block["type"]
    if kind == "finding":
        f = findings.get(block["id"])
        return f"- **{md_escape(f.title)}.** {prose(f.statement)}" if f else ""
    if kind == "text":
        return prose(block["text"], line_start=True)
    if kind == "note":
        return f"> {prose(block['text'])}"
    if kind == "skipped":
        return f"> _Not analysed — {md_escape(block['title'])}: {md_escape(block['reason'])}._"
    if kind == "failed":
        return f"> **This step did not complete:** {md_escape(block['reason'])}"
    if kind == "table":
        cols = block["columns"]
        rows = [[_cell(row.get(c["key"]), c["unit"], currency) for c in cols] for row in block["rows"]]
        align = ["l" if c["unit"] == "text" else "r" for c in cols]
        body = table([c["label"] for c in cols], rows, align=align, raw=True)
        return f"**{md_escape(block['title'])}** [{block['query']}]\n\n{body}"
    if kind == "chart":
        return f"```mermaid\n{block['mermaid']}\n```\n\n_Figure: {md_escape(block['title'])} [{block['query']}]_"
    raise ValueError(f"unknown block type {kind}")


def _cell(value: Any, unit: str, currency: str) -> str:
    if unit == "text":
        return md_escape(value) if value is not None else ""
    return fmt_value(value, unit, currency) if value is not None else "n/a"


def recommendations_table(recs: list[Recommendation], *, with_agent: bool = False) -> str:
    headings = ["Recommendation", "Impact", "Effort", "When", "Owner", "Success metric", "Evidence"]
    if with_agent:
        headings.insert(0, "Agent")
    rows = []
    for r in recs:
        row = [f"**{md_escape(r.title)}** — {prose(r.rationale)}", r.impact, r.effort, r.horizon,
               md_escape(r.owner), prose(r.success_metric), " ".join(f"[{q}]" for q in r.query_ids)]
        if with_agent:
            row.insert(0, md_escape(r.agent))
        rows.append(row)
    return table(headings, rows, align=["l"] * len(headings), raw=True)


def render_agent_section(spec: AgentSpec, steps: list[dict[str, Any]], analysis: AgentAnalysis,
                         findings: list[Finding], queries: list[dict[str, Any]], currency: str = "USD") -> str:
    by_id = {f.id: f for f in findings}
    done = {s["step"]: s for s in steps}
    out = [f"## {spec.title}", "", f"**Business challenge.** {prose(spec.challenge)}", "",
           f"**Agent solution.** {prose(spec.solution)}", ""]
    for step in spec.steps:
        out += [f"### {step.name}", "", f"_{prose(step.about)}_", ""]
        record = done.get(step.name)
        if step.kind == "ai":
            for block in (record or {}).get("blocks", []):
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
                out += ["**Prioritised recommendations**", "", recommendations_table(analysis.recommendations), ""]
            if analysis.risks:
                out += ["**Risks and caveats**", ""] + [f"- {prose(r)}" for r in analysis.risks] + [""]
            continue
        if record is None:
            out += ["_This step has not run._", ""]
            continue
        blocks = record.get("blocks", [])
        if not blocks:
            out += ["_No results._", ""]
        for block in blocks:
            out += [render_block(block, by_id, currency), ""]
    return "\n".join(out).rstrip() + "\n"
