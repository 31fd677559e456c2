"""The markdown report (DESIGN §7), rendered once from a run's records through their :mod:`.outline`: front
matter, the one-screen executive summary, changes since the last run (scheduled reports), the agents and their
business challenges, one section per agent, the recommendations table, assumptions, data quality, and the
*Evidence & provenance* appendix with an anchor per query.

Deterministic: the same records render the same text. Volatile values (run id, timestamps, durations,
query timings) appear only in the front matter and the appendix's per-query lines.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from finmatch_agents import __version__
from finmatch_agents.agents import FOCUS_ORDER
from finmatch_agents.formatting import fmt_count
from finmatch_agents.ids import number
from finmatch_agents.records import Query, ReportStats, RunRecords
from finmatch_agents.report.changes import changes_markdown, changes_view
from finmatch_agents.report.markdown import code, evidence, linked, md_escape, table, wrap_lines
from finmatch_agents.report.outline import (
    AgentView,
    Outline,
    build_outline,
    fallback_steps,
)
from finmatch_agents.report.sections import recommendations_markdown, render_agent_view, result_tables
from finmatch_agents.report.sqlformat import formatted_sql

APPENDIX_TITLE = "Appendix — Evidence & provenance"
RECOMMENDATIONS_TITLE = "Recommendations"
SUMMARY_TITLE = "Executive summary"


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
    """The report's accounting; a published run's records carry it as written (a later rendering agrees)."""
    if records.report is not None:
        return records.report.stats
    analyses = [records.analyses[k] for k in FOCUS_ORDER if k in records.analyses]
    outputs = [*analyses, *([records.summary] if records.summary else [])]
    fallbacks = fallback_steps(records)
    return ReportStats(
        queries=len(records.queries), findings=len(records.findings),
        model_calls=sum(a.model_calls for a in outputs), tokens=sum(a.tokens for a in outputs),
        model_cost=round(sum(a.cost for a in outputs), 6), ungrounded_numbers=sum(a.ungrounded for a in outputs),
        duration_s=_duration(records.run.created_at), fallback_steps=fallbacks, model_fallbacks=len(fallbacks))


def front_matter(outline: Outline, stats: ReportStats) -> dict[str, Any]:
    records = outline.records
    run, profile = records.run, records.profile
    front: dict[str, Any] = {
        "run_id": run.run_id,
        "created_at": run.created_at,
        "focus": list(run.focus),
        "model": run.model,
        "model_fallbacks": stats.model_fallbacks,
        "fallback_steps": list(stats.fallback_steps),
        "dataset": {**{k: v for k, v in outline.origin.front.items() if v is not None},
                    "path": run.db, "table": run.table, "rows": profile.rows if profile else None,
                    "fingerprint": profile.fingerprint if profile else None, "currency": run.currency},
        "version": __version__,
        "duration_s": stats.duration_s,
        **stats.model_dump(exclude={"duration_s", "fallback_steps", "model_fallbacks"}),
        "assumptions_set": [a.key for a in outline.assumptions if a.user_set],
    }
    if run.job:
        front["job"] = run.job
        front["previous_run"] = run.previous.run_id if run.previous else None
    return front


# -- the summary ------------------------------------------------------------------------------------------------
def _assumption_sentence(outline: Outline) -> str:
    """The summary names the assumptions the user set, with their values; the defaults' values are in the
    Assumptions table, and each figure that rests on one names it (its value beside it where it is used)."""
    if not outline.assumptions:
        return ""
    user = [a for a in outline.assumptions if a.user_set]
    if not user:
        how = "all defaults"
    else:
        how = (f"{len(user)} set in finmatch.toml: "
               + "; ".join(f"{md_escape(a.key)} {md_escape(a.shown)} (set)" for a in user) + "; the others defaults")
    return (f"**Assumptions:** {how}; the figures that rest on one name it. Values and meanings: "
            "[Assumptions](#assumptions).")


def render_summary(outline: Outline) -> list[str]:
    s, known = outline.summary, outline.known
    out = [f"## {SUMMARY_TITLE}", ""]
    if s is None:
        return out
    out += [linked(h, known, line_start=True) for h in s.headline] + ([""] if s.headline else [])
    if s.findings:
        out += ["**Key findings**", ""]
        for insight in s.findings:
            agent = next((a for a in outline.agents if a.spec.key == insight.agent), None)
            where = f" ([{md_escape(agent.spec.title)}](#{agent.anchor}))" if agent else ""
            refs = evidence(insight.query_ids, known) if "[Q" not in insight.text else ""
            out.append(f"- {linked(insight.text, known)}{' ' + refs if refs else ''}{where}")
        out.append("")
    if s.recs:
        out += ["**Top recommendations**", ""]
        for rec, row in s.recs:
            label = f"[{row.label}](#{row.anchor}) " if row else ""
            # the effect cites its own query; the row's other evidence follows
            refs = evidence([q for q in (row.query_ids if row else rec.query_ids) if f"[{q}]" not in rec.effect],
                            known)
            effect = f"{linked(rec.effect, known)}; " if rec.effect else ""
            # when and who are in the recommendations table the label links to
            out.append(f"- {label}**{md_escape(rec.title)}** — {effect}{rec.impact} impact, {rec.effort.lower()} "
                       f"effort.{' ' + refs if refs else ''}")
        out.append("")
    if s.tradeoffs:
        out += ["**Trade-offs to decide**", ""] + [f"- {linked(t.text, known)}" for t in s.tradeoffs] + [""]
    if outline.run.job:
        changes = changes_view(outline.run, outline.records.profile, outline.records.findings)
        out += [f"**Changes since last run.** {md_escape(changes.short)} See "
                "[Changes since last run](#changes-since-last-run).", ""]
    if s.caveats:
        out += ["**Caveats**", ""] + [f"- {linked(c, known)}" for c in s.caveats] + [""]
    sentence = _assumption_sentence(outline)
    if sentence:
        out += [sentence, ""]
    out += [f"_{md_escape(s.analyst)}_", ""]
    return out


def render_introduction(outline: Outline) -> list[str]:
    """Each agent's business challenge, once (the sections themselves go straight to the evidence)."""
    if not outline.agents:
        return []
    out = ["## The agents and the questions they answer", ""]
    for view in outline.agents:
        out.append(f"- [{md_escape(view.spec.title)}](#{view.anchor}): {md_escape(view.spec.challenge)}")
    return [*out, ""]


def render_recommendations(outline: Outline) -> list[str]:
    if not outline.recommendations:
        return []
    return [f"## {RECOMMENDATIONS_TITLE}", "", *recommendations_markdown(outline), ""]


def render_assumptions(outline: Outline) -> list[str]:
    profile = outline.records.profile
    qid = profile.query_ids.get("assumptions") if profile else None
    out = ['<a id="assumptions"></a>', "", "### Assumptions", "",
           "Money figures and thresholds rest on these assumptions (defaults, or `[assumptions]` in finmatch.toml)."
           + (f" The run echoes them in [{qid}](#{qid.lower()})." if qid and qid in outline.known else ""), ""]
    rows = [[md_escape(a.key), md_escape(a.value), md_escape(a.unit), "set" if a.user_set else "default",
             md_escape(a.description)] for a in outline.assumptions]
    if rows:
        out += [table(["Assumption", "Value", "Unit", "Source", "Meaning"], rows, align=["l"] * 5, raw=True), ""]
    return out


def render_quality(outline: Outline) -> list[str]:
    out = ["## Data quality", ""]
    flags = outline.quality
    if not flags:
        listed = outline.records.profile is not None and outline.records.profile.flags
        return [*out, "The flags raised are listed under Caveats in the summary." if listed else
                "No data-quality flags were raised.", ""]
    for f in flags:
        cited = f" [{f.query_id}](#{f.query_id.lower()})" if f.query_id and f.query_id in outline.known else ""
        out.append(f"- **{md_escape(f.severity)}** {code(f.code)}: {md_escape(f.message)}{cited}")
    return [*out, ""]


def query_line(q: Query) -> str:
    """``performance · step · 12 row(s) · 3.1 ms`` (the timing is the only volatile part)."""
    where = " · ".join(p for p in (q.agent, q.step) if p)
    status = "" if q.status == "ok" else f" · {q.status}"
    truncated = " (truncated)" if q.truncated else ""
    return f"{where} · {fmt_count(q.rows)} row(s){truncated} · {q.elapsed_ms:.1f} ms{status}"


def render_appendix(queries: tuple[Query, ...] | list[Query], tables: dict[str, list[str]] | None = None,
                    assumptions: list[str] | None = None) -> list[str]:
    """The evidence: each query's title, size, timing, the result table the report drew from it (when a step
    tabulated it) and its SQL, folded; then the assumptions behind money figures and thresholds."""
    tables = tables or {}
    out = [f"## {APPENDIX_TITLE}", "",
           "Every figure in this report cites the query that produced it. All queries ran read-only through the "
           "SQL sandbox; soft-deleted rows were excluded. Long generated statements are shown formatted; the SQL "
           "audit log keeps each one exactly as it ran.", ""]
    for q in sorted(queries, key=lambda q: number(q.id)):
        sql = formatted_sql(q.sql).replace("```", "` ` `")
        lines = sql.count("\n") + 1
        out += [f'<a id="{q.id.lower()}"></a>', "", f"### {q.id} — {md_escape(q.title or 'query')}", "",
                f"_{md_escape(query_line(q))}_", ""]
        for shown in tables.get(q.id, []):
            out += [shown, ""]
        out += [f"<details><summary>SQL ({lines} line{'s' if lines != 1 else ''})</summary>", "",
                "```sql", sql, "```", "", "</details>", ""]
    listed = {q.id for q in queries}
    orphans = [shown for qid, shown_list in tables.items() if qid not in listed for shown in shown_list]
    if orphans:  # a table whose query is not in this run's records (never dropped silently)
        out += ["### Other tables", "", *[line for shown in orphans for line in (shown, "")]]
    return out + (assumptions or [])


def _title(outline: Outline) -> list[str]:
    title = f"# {md_escape(outline.title)}"
    if outline.origin.kind == "synthetic":
        title += " (synthetic data)"
    return [title, "", f"_{linked(outline.origin.sentence, outline.known)}_", ""]


def render_markdown(outline: Outline, stats: ReportStats) -> str:
    records = outline.records
    out = ["---", *_yaml(front_matter(outline, stats)), "---", "", *_title(outline)]
    out += render_summary(outline)
    if records.run.job:  # scheduled reports: what changed since the job's previous run
        changes = changes_view(records.run, records.profile, records.findings)
        out += changes_markdown(changes, lambda text: linked(text, outline.known))
    out += render_introduction(outline)
    for view in outline.agents:
        out += [render_agent_view(view, outline, tables_elsewhere=True).rstrip(), ""]
    out += render_recommendations(outline)
    out += render_quality(outline)
    out += render_appendix(outline.queries, result_tables(outline), render_assumptions(outline))
    return "\n".join(wrap_lines("\n".join(out).split("\n"))).rstrip() + "\n"


def render_report(records: RunRecords) -> tuple[str, ReportStats]:
    """The report's markdown and its accounting, from records alone (no graph, no database)."""
    stats = report_stats(records)
    return render_markdown(build_outline(records), stats), stats


__all__ = ["APPENDIX_TITLE", "AgentView", "render_appendix", "render_report", "report_stats"]
