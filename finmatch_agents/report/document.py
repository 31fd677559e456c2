"""The whole report (DESIGN §7), rendered once from a run's records: front matter, executive summary, changes
since the last run (scheduled reports), one section per agent, consolidated recommendations, assumptions,
data quality, and the *Evidence & provenance* appendix with every query.

Deterministic: the same records render the same text. Volatile values (run id, timestamps, durations,
query timings) appear only in the front matter and the appendix's per-query lines.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from finmatch_agents import __version__
from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.formatting import display
from finmatch_agents.ids import number
from finmatch_agents.records import (
    AgentAnalysis,
    Profile,
    Query,
    Recommendation,
    ReportStats,
    RunMeta,
    RunRecords,
    Summary,
    ranking_key,
)
from finmatch_agents.report.changes import changes_section
from finmatch_agents.report.markdown import code, md_escape, prose, table
from finmatch_agents.report.sections import recommendations_table, render_agent_section

APPENDIX_TITLE = "Appendix — Evidence & provenance"


def _yaml(value: dict[str, Any], indent: int = 0) -> list[str]:
    """Tiny YAML emitter for the front matter (scalars as JSON, which YAML accepts)."""
    pad = " " * indent
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            lines += _yaml(item, indent + 2)
        else:
            lines.append(f"{pad}{key}: {json.dumps(item, ensure_ascii=False, default=str)}")
    return lines


def _duration(created_at: str) -> float:
    try:
        started = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return round((datetime.now(UTC) - started).total_seconds(), 2)


def report_stats(records: RunRecords) -> ReportStats:
    analyses = [records.analyses[k] for k in FOCUS_ORDER if k in records.analyses]
    outputs = [*analyses, *([records.summary] if records.summary else [])]
    return ReportStats(
        queries=len(records.queries), findings=len(records.findings),
        model_calls=sum(a.model_calls for a in outputs), tokens=sum(a.tokens for a in outputs),
        model_cost=round(sum(a.cost for a in outputs), 6), ungrounded_numbers=sum(a.ungrounded for a in outputs),
        duration_s=_duration(records.run.created_at))


def _agent_names(run: RunMeta) -> str:
    titles = [AGENTS[k].title for k in FOCUS_ORDER if k in run.focus]
    return ", ".join(titles[:-1]) + (" and " if len(titles) > 1 else "") + titles[-1] if titles else ""


def render_summary(summary: Summary, run: RunMeta, known_queries: set[str]) -> list[str]:
    out = ["## Executive summary", ""]
    out += [prose(h, line_start=True) for h in summary.headline] + [""]
    if summary.insights:
        out += ["**Key findings**", ""]
        out += [f"- _{md_escape(AGENTS[i.agent].title)}:_ {prose(i.text)}" if i.agent in AGENTS
                else f"- {prose(i.text)}" for i in summary.insights]
        out.append("")
    if summary.recommendations:
        out += ["**Top recommendations**", "",
                recommendations_table(summary.recommendations, known_queries, with_agent=True), ""]
    if summary.caveats:
        out += ["**Caveats**", ""] + [f"- {prose(c)}" for c in summary.caveats] + [""]
    several = len([k for k in FOCUS_ORDER if k in run.focus]) > 1
    out += [f"_Summary written by the {code(summary.analyst)} analyst from the findings of the {_agent_names(run)} "
            f"agent{'s' if several else ''}._", ""]
    return out


def render_assumptions(run: RunMeta, profile: Profile | None) -> list[str]:
    qid = profile.query_ids.get("assumptions") if profile else None
    rows = []
    for a in run.assumptions:
        value = ", ".join(a.value) if isinstance(a.value, list | tuple) else display(a.value)
        unit = a.unit.replace("currency", run.currency)
        rows.append([md_escape(a.key), md_escape(value), md_escape(unit), a.source, prose(a.description)])
    out = ["## Assumptions", "",
           "Money figures and thresholds rest on these assumptions (defaults, or `[assumptions]` in finmatch.toml)."
           + (f" The run echoes them in [{qid}]." if qid else ""), ""]
    if rows:
        out += [table(["Assumption", "Value", "Unit", "Source", "Meaning"], rows, align=["l"] * 5, raw=True), ""]
    return out


def render_quality(profile: Profile | None) -> list[str]:
    out = ["## Data quality", ""]
    flags = profile.flags if profile else ()
    if not flags:
        return [*out, "No data-quality flags were raised.", ""]
    for f in flags:
        cited = f" [{f.query_id}]" if f.query_id else ""
        out.append(f"- **{md_escape(f.severity)}** {code(f.code)}: {prose(f.message)}{cited}")
    return [*out, ""]


def render_appendix(queries: tuple[Query, ...]) -> list[str]:
    out = [f"## {APPENDIX_TITLE}", "",
           "Every figure in this report cites the query that produced it. All queries ran read-only through the "
           "SQL sandbox; soft-deleted rows were excluded.", ""]
    for q in sorted(queries, key=lambda q: number(q.id)):
        where = " · ".join(md_escape(p) for p in (q.agent, q.step) if p)
        status = "" if q.status == "ok" else f" · **{md_escape(q.status)}**"
        truncated = " (truncated)" if q.truncated else ""
        out += [f"### {q.id} — {md_escape(q.title or 'query')}", "",
                f"_{where} · {q.rows:,} row(s){truncated} · {q.elapsed_ms:.1f} ms{status}_", "",
                "```sql", q.sql.replace("```", "` ` `"), "```", ""]
    return out


def front_matter(records: RunRecords, stats: ReportStats) -> dict[str, Any]:
    run, profile = records.run, records.profile
    front: dict[str, Any] = {
        "run_id": run.run_id,
        "created_at": run.created_at,
        "focus": list(run.focus),
        "model": run.model,
        "dataset": {"path": run.db, "table": run.table, "rows": profile.rows if profile else None,
                    "fingerprint": profile.fingerprint if profile else None},
        "version": __version__,
        "duration_s": stats.duration_s,
        **stats.model_dump(exclude={"duration_s"}),
    }
    if run.job:
        front["job"] = run.job
        front["previous_run"] = run.previous.run_id if run.previous else None
    return front


def render_report(records: RunRecords) -> tuple[str, ReportStats]:
    """The report's markdown and its accounting, from records alone (no graph, no database)."""
    run, profile = records.run, records.profile
    stats = report_stats(records)
    known = {q.id for q in records.queries}
    out = ["---", *_yaml(front_matter(records, stats)), "---", "", f"# FinMatch analysis of {md_escape(run.table)}",
           ""]
    if records.summary:
        out += render_summary(records.summary, run, known)
    if run.job:  # scheduled reports: what changed since the job's previous run
        out += changes_section(run, profile, records.findings)
    all_recs: list[Recommendation] = []
    for key in FOCUS_ORDER:
        analysis: AgentAnalysis | None = records.analyses.get(key)
        if analysis is not None:
            out += [render_agent_section(AGENTS[key], records.steps, analysis, records.findings, known,
                                         run.currency).rstrip(), ""]
            all_recs += analysis.recommendations
    if all_recs:
        all_recs.sort(key=ranking_key)
        out += ["## All recommendations by priority", "",
                "Ranked by impact over effort; _When_ places each in the roadmap (Now, Next, Later).", "",
                recommendations_table(all_recs, known, with_agent=True), ""]
    out += render_assumptions(run, profile)
    out += render_quality(profile)
    out += render_appendix(records.queries)
    return "\n".join(out).rstrip() + "\n", stats
