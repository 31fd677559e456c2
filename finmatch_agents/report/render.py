"""The whole report (DESIGN §7): front matter, executive summary, one section per agent, consolidated
recommendations, assumptions, data quality, and the *Evidence & provenance* appendix with every query.

Deterministic: the same state renders the same text. Volatile values (run id, timestamps, durations,
query timings) appear only in the front matter and the appendix's per-query lines.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from finmatch_agents import __version__
from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.formatting import display
from finmatch_agents.llm.analyst import AgentAnalysis, Recommendation, Summary
from finmatch_agents.report.markdown import code, md_escape, prose, table
from finmatch_agents.report.sections import recommendations_table

APPENDIX_TITLE = "Appendix — Evidence & provenance"


def _yaml(value: Any, indent: int = 0) -> list[str]:
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


def report_stats(state: dict[str, Any]) -> dict[str, Any]:
    sections = state.get("sections", {})
    analyses = [sections[k]["analysis"] for k in FOCUS_ORDER if k in sections]
    summary = state.get("summary") or {}
    return {
        "queries": len(state.get("queries", [])),
        "findings": len(state.get("findings", [])),
        "model_calls": sum(a.get("model_calls", 0) for a in analyses) + summary.get("model_calls", 0),
        "tokens": sum(a.get("tokens", 0) for a in analyses) + summary.get("tokens", 0),
        "model_cost": round(sum(a.get("cost", 0.0) for a in analyses) + summary.get("cost", 0.0), 6),
        "ungrounded_numbers": sum(a.get("ungrounded", 0) for a in analyses) + summary.get("ungrounded", 0),
    }


def render_summary(summary: Summary, run: dict[str, Any]) -> list[str]:
    out = ["## Executive summary", ""]
    out += [prose(h, line_start=True) for h in summary.headline] + [""]
    if summary.insights:
        out += ["**Key findings**", ""]
        out += [f"- _{md_escape(AGENTS[i_agent].title)}:_ {prose(i.text)}"
                for i_agent, i in ((_agent_of(i.finding_ids), i) for i in summary.insights)]
        out.append("")
    if summary.recommendations:
        out += ["**Top recommendations**", "", recommendations_table(summary.recommendations, with_agent=True), ""]
    if summary.caveats:
        out += ["**Caveats**", ""] + [f"- {prose(c)}" for c in summary.caveats] + [""]
    titles = [AGENTS[k].title for k in FOCUS_ORDER if k in run["focus"]]
    names = ", ".join(titles[:-1]) + (" and " if len(titles) > 1 else "") + titles[-1] if titles else ""
    out += [f"_Summary written by the {code(summary.analyst)} analyst from the findings of the {names} "
            f"agent{'s' if len(titles) > 1 else ''}._", ""]
    return out


def _agent_of(finding_ids: list[str]) -> str:
    number = int(finding_ids[0][1:]) if finding_ids else 100
    for spec in AGENTS.values():
        if spec.block < number <= spec.block + 99:
            return spec.key
    return FOCUS_ORDER[0]


def render_assumptions(run: dict[str, Any], profile: dict[str, Any], currency: str) -> list[str]:
    qid = profile.get("query_ids", {}).get("assumptions")
    rows = []
    for a in run.get("assumptions", []):
        value = ", ".join(a["value"]) if isinstance(a["value"], list) else display(a["value"])
        unit = a["unit"].replace("currency", currency)
        rows.append([md_escape(a["key"]), md_escape(value), md_escape(unit), a["source"], prose(a["description"])])
    out = ["## Assumptions", "",
           "Money figures and thresholds rest on these assumptions (defaults, or `[assumptions]` in finmatch.toml)."
           + (f" The run echoes them in [{qid}]." if qid else ""), ""]
    if rows:
        out += [table(["Assumption", "Value", "Unit", "Source", "Meaning"], rows, align=["l"] * 5, raw=True), ""]
    return out


def render_quality(profile: dict[str, Any]) -> list[str]:
    out = ["## Data quality", ""]
    flags = profile.get("flags", [])
    if not flags:
        return [*out, "No data-quality flags were raised.", ""]
    for f in flags:
        ref = f" [{f['query_id']}]" if f.get("query_id") else ""
        out.append(f"- **{md_escape(f['severity'])}** {code(f['code'])}: {prose(f['message'])}{ref}")
    return [*out, ""]


def render_appendix(queries: list[dict[str, Any]]) -> list[str]:
    out = [f"## {APPENDIX_TITLE}", "",
           "Every figure in this report cites the query that produced it. All queries ran read-only through the "
           "SQL sandbox; soft-deleted rows were excluded.", ""]
    for q in sorted(queries, key=lambda q: int(q["id"][1:])):
        where = " · ".join(md_escape(p) for p in (q.get("agent"), q.get("step")) if p)
        status = "" if q.get("status", "ok") == "ok" else f" · **{md_escape(q['status'])}**"
        truncated = " (truncated)" if q.get("truncated") else ""
        out += [f"### {q['id']} — {md_escape(q.get('title') or 'query')}", "",
                f"_{where} · {q.get('rows', 0):,} row(s){truncated} · {q.get('elapsed_ms', 0):.1f} ms{status}_", "",
                "```sql", q["sql"].replace("```", "` ` `"), "```", ""]
    return out


def render_report(state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    run, profile = state["run"], state.get("profile", {})
    currency = run.get("currency", "USD")
    stats = report_stats(state)
    front = {
        "run_id": run["run_id"],
        "created_at": run["created_at"],
        "focus": list(run["focus"]),
        "model": run["model"],
        "dataset": {"path": run["db"], "table": run["table"], "rows": profile.get("rows"),
                    "fingerprint": profile.get("fingerprint")},
        "version": __version__,
        "duration_s": _duration(run["created_at"]),
        **stats,
    }
    if run.get("job"):
        front["job"] = run["job"]
        front["previous_run"] = (run.get("previous") or {}).get("run_id")
    title = f"FinMatch analysis of {md_escape(run['table'])}"
    out = ["---", *_yaml(front), "---", "", f"# {title}", ""]
    summary = state.get("summary")
    if summary:
        out += render_summary(Summary.from_dict(summary), run)
    if run.get("job"):  # scheduled reports: what changed since the job's previous run (finmatch_agents.diff)
        from finmatch_agents.diff import changes_section

        out += changes_section(state)
    sections = state.get("sections", {})
    all_recs: list[Recommendation] = []
    for key in FOCUS_ORDER:
        if key in sections:
            out += [sections[key]["markdown"].rstrip(), ""]
            all_recs += AgentAnalysis.from_dict(sections[key]["analysis"]).recommendations
    if all_recs:
        all_recs.sort(key=lambda r: (-r.priority, r.agent, r.finding_ids))
        out += ["## All recommendations by priority", "",
                "Ranked by impact over effort; _When_ places each in the roadmap (Now, Next, Later).", "",
                recommendations_table(all_recs, with_agent=True), ""]
    out += render_assumptions(run, profile, currency)
    out += render_quality(profile)
    out += render_appendix(state.get("queries", []))
    return "\n".join(out).rstrip() + "\n", {**stats, "duration_s": front["duration_s"]}
