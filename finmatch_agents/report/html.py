"""The report as one self-contained HTML page, rendered from the same :mod:`.outline` as the markdown (never by
re-reading the markdown): inline CSS, inline SVG charts (:mod:`.svg`), no script, no remote asset, printable.

Every value from the data or an analyst is HTML-escaped (:func:`html.escape`) before it is placed; the only
markup added to such text is the link of a ``[Qn]`` reference to a query the run has (``#q12``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from finmatch_agents.agents import AGENTS
from finmatch_agents.records import (
    Block,
    ChartBlock,
    FailedBlock,
    FindingBlock,
    NoteBlock,
    SkippedBlock,
    TableBlock,
    TextBlock,
)
from finmatch_agents.report.changes import CHANGES_TITLE, KPI_COLUMNS, changes_view
from finmatch_agents.report.document import (
    APPENDIX_TITLE,
    RECOMMENDATIONS_TITLE,
    SUMMARY_TITLE,
    front_matter,
    query_line,
    report_stats,
)
from finmatch_agents.report.outline import AgentView, Outline, StepView, build_outline, not_analysed_line
from finmatch_agents.report.sections import cell_text, not_repeated
from finmatch_agents.report.sqlformat import formatted_sql
from finmatch_agents.report.svg import chart_data, chart_svg

if TYPE_CHECKING:
    from finmatch_agents.records import ReportStats, RunRecords

_REF = re.compile(r"\[([QF]\d+)\]")

CSS = """
:root { --ink: #1d2733; --muted: #5b6673; --rule: #d9dee4; --accent: #2f6690; --risk: #b03a48; --bg: #ffffff;
        --soft: #f4f6f8; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 -apple-system, "Segoe UI", Roboto,
       "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.7rem; line-height: 1.25; margin: 0.5rem 0 0.25rem; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 0.75rem; padding-top: 0.5rem; border-top: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.6rem 0 0.5rem; color: var(--accent); }
a { color: var(--accent); }
a.ref { font-size: 0.85em; text-decoration: none; border-bottom: 1px dotted var(--accent); }
.origin { color: var(--muted); margin: 0 0 1rem; }
.origin.synthetic { color: var(--risk); font-weight: 600; }
header.run { background: var(--soft); border-bottom: 1px solid var(--rule); }
header.run dl { max-width: 980px; margin: 0 auto; padding: 0.75rem 1.25rem; display: grid;
                grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 0.25rem 1rem; font-size: 0.85rem; }
header.run dt { color: var(--muted); font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.04em; }
header.run dd { margin: 0 0 0.35rem; overflow-wrap: anywhere; }
.summary { background: var(--soft); border: 1px solid var(--rule); border-radius: 6px; padding: 0.25rem 1.25rem 1rem; }
.summary h2 { border: 0; margin-top: 0.75rem; }
.summary h3 { color: var(--ink); margin-top: 1rem; }
ol, ul { padding-left: 1.4rem; }
li { margin: 0.3rem 0; }
.note { border-left: 3px solid var(--rule); margin: 0.75rem 0; padding: 0.25rem 0.9rem; color: var(--muted); }
.warning { border-left-color: var(--risk); color: var(--ink); }
.analyst { color: var(--muted); font-style: italic; }
.skipped { color: var(--muted); font-style: italic; }
figure { margin: 1rem 0 1.5rem; }
figure svg.chart { width: 100%; height: auto; max-width: 760px; display: block; }
figcaption { color: var(--muted); font-size: 0.85rem; margin-top: 0.25rem; }
.scroll { overflow-x: auto; margin: 0.5rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.85rem; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border-bottom: 1px solid var(--rule); padding: 0.3rem 0.6rem; vertical-align: top; }
th { text-align: left; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.recs td:first-child { white-space: nowrap; font-weight: 600; }
.badge { display: inline-block; padding: 0 0.4rem; border-radius: 3px; font-size: 0.8rem; background: var(--soft);
         border: 1px solid var(--rule); }
.badge.High { border-color: var(--risk); color: var(--risk); }
details { margin: 0.5rem 0; }
summary { cursor: pointer; color: var(--accent); }
pre { background: var(--soft); padding: 0.75rem; overflow-x: auto; font-size: 0.8rem; line-height: 1.35; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.query { border-top: 1px solid var(--rule); padding-top: 0.25rem; }
.query h3 { margin-top: 0.75rem; }
.meta { color: var(--muted); font-size: 0.85rem; margin: 0; }
@media (max-width: 640px) {
  body { font-size: 14px; }
  main { padding: 1rem 0.75rem 3rem; }
  h1 { font-size: 1.35rem; }
  header.run dl { grid-template-columns: 1fr 1fr; padding: 0.5rem 0.75rem; }
  header.run .minor { display: none; }
  th, td { padding: 0.25rem 0.4rem; }
}
@media print {
  body { font-size: 11pt; }
  header.run { background: none; }
  main { max-width: none; padding: 0; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; }
  figure, table, .query { break-inside: avoid; }
  details::details-content { display: block; content-visibility: visible; }
  summary { list-style: none; }
}
"""


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def text(value: str, known: Collection[str]) -> str:
    """Analyst or finding text, escaped, with ``[Qn]`` references linked to the appendix."""

    def repl(m: re.Match[str]) -> str:
        ident = m.group(1)
        if ident in known:
            return f'<a class="ref" href="#{ident.lower()}">{ident}</a>'
        return esc(ident) if ident.startswith("Q") else f"[{esc(ident)}]"

    return _REF.sub(repl, esc(" ".join(value.split())))


def refs(query_ids: Iterable[str], known: Collection[str]) -> str:
    return " ".join(f'<a class="ref" href="#{q.lower()}">{q}</a>' for q in dict.fromkeys(query_ids) if q in known)


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool], *, caption: str = "",
           cls: str = "") -> str:
    """``rows`` cells are already HTML."""
    head = "".join(f'<th{" class=num" if n else ""} scope="col">{esc(h)}</th>' for h, n in zip(headings, numeric,
                                                                                                strict=True))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if n else ""}>{c}</td>' for c, n in zip(row, numeric,
                                                                                                 strict=True)) + "</tr>"
                   for row in rows)
    cap = f"<caption>{caption}</caption>" if caption else ""
    klass = f' class="{cls}"' if cls else ""
    return f'<div class="scroll"><table{klass}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def block_html(block: Block, outline: Outline) -> str:
    known, currency = outline.known, outline.records.run.currency
    if isinstance(block, FindingBlock):
        f = outline.findings.get(block.id)
        label = f" ({esc(f.id)})" if f and f.id in outline.referenced_anywhere else ""
        return (f'<li id="{esc(f.id.lower())}"><strong>{esc(f.title)}{label}.</strong> {text(f.statement, known)}'
                "</li>" if f else "")
    if isinstance(block, TextBlock):
        return f"<p>{text(block.text, known)}</p>"
    if isinstance(block, NoteBlock):
        return f'<p class="note">{text(block.text, known)}</p>'
    if isinstance(block, SkippedBlock):
        return f'<p class="skipped">Not analysed — {esc(block.title)}: {esc(block.reason)}.</p>'
    if isinstance(block, FailedBlock):
        return f'<p class="note warning"><strong>This step did not complete:</strong> {esc(block.reason)}</p>'
    if isinstance(block, TableBlock):
        rows = [[esc(cell_text(row.get(c.key), c.unit, currency)) for c in block.columns] for row in block.rows]
        numeric = [c.unit not in ("text", "date") for c in block.columns]
        return _table([c.label for c in block.columns], rows, numeric,
                      caption=f"{esc(block.title)} {refs([block.query], known)}")
    if isinstance(block, ChartBlock):
        svg = chart_svg(block.spec, currency)
        if svg is None:  # without the charts extra: the chart's numbers
            labels = ["", *(s.name or s.kind for s in block.spec.series)]
            drawn = _table(labels, [[esc(c) for c in row] for row in chart_data(block.spec, currency)],
                           [False, *([True] * len(block.spec.series))], caption=esc(block.spec.title))
            drawn += ('<p class="meta">Chart not drawn: install the charts extra '
                      '(pip install "finmatch-agents[charts]").</p>')
        else:
            drawn = svg
        return (f'<figure class="chart">{drawn}<figcaption>Figure: {esc(block.title)} {refs([block.query], known)}'
                "</figcaption></figure>")
    raise ValueError(f"unknown block type {type(block).__name__}")


def _blocks(blocks: Sequence[Block], outline: Outline) -> str:
    """Blocks in order; consecutive findings form one list."""
    out: list[str] = []
    items: list[str] = []
    for block in blocks:
        html = block_html(block, outline)
        if isinstance(block, FindingBlock):
            items.append(html)
            continue
        if items:
            out.append("<ul class=findings>" + "".join(items) + "</ul>")
            items = []
        out.append(html)
    if items:
        out.append("<ul class=findings>" + "".join(items) + "</ul>")
    return "\n".join(out)


def _rec_links(step: StepView) -> str:
    return ", ".join(f'<a href="#{n.anchor}" title="{esc(n.rec.title)}">{n.label}</a>' for n in step.recs)


def agent_html(view: AgentView, outline: Outline) -> str:
    known = outline.known
    out = [f'<section id="{view.anchor}"><h2>{esc(view.spec.title)}</h2>']
    if view.not_analysed is not None:
        return "\n".join([*out, f'<p class="meta">{esc(not_analysed_line(view))}</p></section>'])
    for step in view.steps:
        out.append(f"<h3>{esc(step.name)}</h3>")
        if step.kind == "ai":
            out.append(_blocks(step.blocks, outline))
            out.append(f'<p class="analyst">{esc(step.analyst_note)}</p>')
            out += [f'<p class="note warning"><strong>Note:</strong> {text(w, known)}</p>' for w in step.warnings]
            if step.insights:
                out.append("<ul class=insights>" + "".join(f"<li>{text(i.text, known)}</li>" for i in step.insights)
                           + "</ul>")
            elsewhere = not_repeated(step)
            if elsewhere:
                out.append(f'<p class="meta">{esc(elsewhere)}</p>')
            elif not step.insights:
                out.append('<p class="meta">No insights: the data steps produced no findings to interpret.</p>')
            continue
        if step.kind == "report":
            out.append(_blocks(step.blocks, outline))
            if step.recs:
                out.append(f'<p>Recommendations: {_rec_links(step)} (in the <a href="#recommendations">'
                           "Recommendations</a> table).</p>")
            if step.tradeoffs:
                out.append("<p><strong>Trade-offs</strong> (opposing advice from another agent: not listed as "
                           "actions)</p><ul>" + "".join(f"<li>{text(t.text, known)}</li>" for t in step.tradeoffs)
                           + "</ul>")
            elif not step.recs and not step.risks:
                out.append('<p class="meta">No recommendation: nothing in the findings calls for action.</p>')
            if step.risks:
                out.append("<p><strong>Risks and caveats</strong></p><ul>"
                           + "".join(f"<li>{text(r, known)}</li>" for r in step.risks) + "</ul>")
            continue
        if step.state == "not run":
            out.append('<p class="meta">This step has not run.</p>')
            continue
        out.append(_blocks(step.blocks, outline) if step.blocks else '<p class="meta">No results.</p>')
    out.append("</section>")
    return "\n".join(out)


def _header(outline: Outline, stats: ReportStats) -> str:
    front = front_matter(outline, stats)
    dataset = front.pop("dataset")
    items: list[tuple[str, Any]] = [("Run", front["run_id"]), ("Created", front["created_at"]),
                                    ("Focus", ", ".join(front["focus"])), ("Model", front["model"])]
    if stats.model_fallbacks:
        items.append(("Model fallbacks", f"{stats.model_fallbacks}: {', '.join(stats.fallback_steps)}"))
    origin = dataset.get("origin")
    if origin == "synthetic":
        items.append(("Dataset", f"synthetic, seed {dataset.get('seed')}"))
    elif origin == "file":
        items.append(("Dataset", f"{dataset.get('file')} (mapping {dataset.get('mapping') or 'none'})"))
    items += [("Table", f"{dataset['table']} · {dataset['rows']:,} rows" if dataset.get("rows") is not None
               else dataset["table"]), ("Queries", front["queries"]), ("Findings", front["findings"]),
              ("Model calls", f"{front['model_calls']} · {front['tokens']:,} tokens"),
              ("Ungrounded numbers", front["ungrounded_numbers"])]
    if "job" in front:
        items.append(("Job", front["job"]))
    minor = [("Database", dataset["path"]), ("Fingerprint", dataset.get("fingerprint")),
             ("Currency", dataset["currency"]), ("Duration", f"{front['duration_s']} s"), ("Version", front["version"])]
    cells = [f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items]
    cells += [f'<div class="minor"><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>' for k, v in minor]
    return '<header class="run"><dl>' + "".join(cells) + "</dl></header>"


def _summary(outline: Outline) -> str:
    s, known = outline.summary, outline.known
    out = [f'<section class="summary" id="summary"><h2>{SUMMARY_TITLE}</h2>']
    if s is None:
        return out[0] + "</section>"
    out += [f"<p>{text(h, known)}</p>" for h in s.headline]
    if s.findings:
        items = []
        for insight in s.findings:
            agent = next((a for a in outline.agents if a.spec.key == insight.agent), None)
            where = f' <a href="#{agent.anchor}">({esc(agent.spec.title)})</a>' if agent else ""
            extra = f" {refs(insight.query_ids, known)}" if "[Q" not in insight.text else ""
            items.append(f"<li>{text(insight.text, known)}{extra}{where}</li>")
        out.append("<h3>Key findings</h3><ol>" + "".join(items) + "</ol>")
    if s.recs:
        items = []
        for rec, row in s.recs:
            label = f'<a href="#{row.anchor}">{row.label}</a> ' if row else ""
            badge = f'<span class="badge {esc(rec.impact)}">{esc(rec.impact)} impact</span>'
            effect = f"{text(rec.effect, known)}; " if rec.effect else ""
            # the effect cites its own query; the row's other evidence follows
            cited = [q for q in (row.query_ids if row else rec.query_ids) if f"[{q}]" not in rec.effect]
            items.append(f"<li>{label}<strong>{esc(rec.title)}</strong> — {effect}{badge} {esc(rec.effort.lower())} "
                         f"effort. {refs(cited, known)}</li>")
        out.append("<h3>Top recommendations</h3><ol>" + "".join(items) + "</ol>")
    if s.tradeoffs:
        out.append("<h3>Trade-offs to decide</h3><ul>" + "".join(f"<li>{text(t.text, known)}</li>" for t in s.tradeoffs)
                   + "</ul>")
    if outline.run.job:
        changes = changes_view(outline.run, outline.records.profile, outline.records.findings)
        out.append(f'<p><strong>Changes since last run.</strong> {esc(changes.short)} '
                   '<a href="#changes-since-last-run">Details</a>.</p>')
    if s.caveats:
        out.append("<h3>Caveats</h3><ul>" + "".join(f"<li>{text(c, known)}</li>" for c in s.caveats) + "</ul>")
    if outline.assumptions:
        user = [a for a in outline.assumptions if a.user_set]
        how = "all defaults" if not user else (
            f"{len(user)} set in finmatch.toml: "
            + "; ".join(f"<code>{esc(a.key)}</code> {esc(a.shown)} <strong>(set)</strong>" for a in user)
            + "; the others defaults")
        out.append(f"<p><strong>Assumptions:</strong> {how}; the figures that rest on one name it. Values and "
                   'meanings: <a href="#assumptions">Assumptions</a>.</p>')
    out.append(f'<p class="analyst">{esc(s.analyst)}</p></section>')
    return "\n".join(out)


def _changes(outline: Outline) -> str:
    view = changes_view(outline.run, outline.records.profile, outline.records.findings)
    known = outline.known
    out = [f'<section id="changes-since-last-run"><h2>{CHANGES_TITLE}</h2><p>{esc(view.intro)}</p>']
    if view.previous is not None:
        out.append("<ul>" + "".join(f"<li>{esc(f)}</li>" for f in view.facts) + "</ul>")
        if view.kpis:
            out.append(_table(list(KPI_COLUMNS), [[esc(c) for c in row] for row in view.kpis],
                              [False, True, True, True, True, False], caption="Key figures"))
        for title, items in (("New findings", view.new), ("Resolved findings", view.resolved)):
            if items:
                out.append(f"<p><strong>{title}</strong></p><ul>" + "".join(
                    f"<li><em>{esc(c.label)}:</em> {text(c.statement, known)} ({esc(c.where)})</li>" for c in items)
                    + "</ul>")
        out += [f"<p>{esc(x)}</p>" for x in (view.unchanged, view.more) if x]
    out.append("</section>")
    return "\n".join(out)


def _recommendations(outline: Outline) -> str:
    known = outline.known
    with_effect = any(n.rec.effect for n in outline.recommendations)
    rows = []
    for n in outline.recommendations:
        r = n.rec
        agents = ", ".join(AGENTS[a].title if a in AGENTS else a for a in n.agents)
        row = [f'<a id="{n.anchor}" href="#{n.anchor}-why">{n.label}</a>', esc(r.title), esc(agents),
               f'<span class="badge {esc(r.impact)}">{esc(r.impact)}</span>', esc(r.effort), esc(r.horizon),
               esc(r.owner), refs(n.query_ids, known)]
        if with_effect:
            row.insert(3, text(r.effect, known) if r.effect else "")
        rows.append(row)
    headings = ["#", "Recommendation", "Agents", *(["Estimated effect"] if with_effect else []), "Impact", "Effort",
                "When", "Owner", "Evidence"]
    table = _table(headings, rows, [False] * len(headings), cls="recs")
    why = []
    for n in outline.recommendations:
        also = "".join(f"<li><em>Also {esc(AGENTS[o.agent].title if o.agent in AGENTS else o.agent)}:</em> "
                       f"<strong>{esc(o.title)}</strong> — {text(o.rationale, known)} <em>Success metric:</em> "
                       f"{text(o.success_metric, known)}.</li>" for o in n.also)
        why.append(f'<li id="{n.anchor}-why"><strong>{n.label}. {esc(n.rec.title)}.</strong> '
                   f"{text(n.reason, known)} <em>Success metric:</em> {text(n.rec.success_metric, known)}."
                   + (f"<ul>{also}</ul>" if also else "") + "</li>")
    return (f'<section id="recommendations"><h2>{RECOMMENDATIONS_TITLE}</h2><p>Ranked by priority (impact over '
            "effort), the same order everywhere in the report. Agents that reached the same action share a row.</p>"
            f'{table}<h3>Why, and how success is measured</h3><ul class="why">{"".join(why)}</ul></section>')


def _assumptions(outline: Outline) -> str:
    profile = outline.records.profile
    qid = profile.query_ids.get("assumptions") if profile else None
    echo = f" The run echoes them in {refs([qid], outline.known)}." if qid else ""
    rows = [[f"<code>{esc(a.key)}</code>", esc(a.value), esc(a.unit), "set" if a.user_set else "default",
             esc(a.description)] for a in outline.assumptions]
    table = _table(["Assumption", "Value", "Unit", "Source", "Meaning"], rows, [False] * 5) if rows else ""
    return ('<section id="assumptions"><h2>Assumptions</h2><p>Money figures and thresholds rest on these assumptions '
            f"(defaults, or <code>[assumptions]</code> in finmatch.toml).{echo}</p>{table}</section>")


def _quality(outline: Outline) -> str:
    if not outline.quality:
        listed = outline.records.profile is not None and outline.records.profile.flags
        say = "The flags raised are listed under Caveats in the summary." if listed else \
            "No data-quality flags were raised."
        return f'<section id="data-quality"><h2>Data quality</h2><p>{say}</p></section>'
    items = "".join(f"<li><strong>{esc(f.severity)}</strong> <code>{esc(f.code)}</code>: {esc(f.message)} "
                    f"{refs([f.query_id] if f.query_id else [], outline.known)}</li>" for f in outline.quality)
    return f'<section id="data-quality"><h2>Data quality</h2><ul>{items}</ul></section>'


def _appendix(outline: Outline) -> str:
    out = [f'<section id="appendix"><h2>{esc(APPENDIX_TITLE)}</h2><p>Every figure in this report cites the query '
           "that produced it. All queries ran read-only through the SQL sandbox; soft-deleted rows were excluded. "
           "Long generated statements are shown formatted; the SQL audit log keeps each one exactly as it ran.</p>"]
    for q in outline.queries:
        sql = formatted_sql(q.sql)
        lines = sql.count("\n") + 1
        out.append(f'<div class="query" id="{esc(q.id.lower())}"><h3>{esc(q.id)} — {esc(q.title or "query")}</h3>'
                   f'<p class="meta">{esc(query_line(q))}</p><details><summary>SQL ({lines} line'
                   f'{"s" if lines != 1 else ""})</summary><pre><code>{esc(sql)}</code></pre></details></div>')
    out.append("</section>")
    return "\n".join(out)


def render_html_outline(outline: Outline, stats: ReportStats) -> str:
    title = outline.title + (" (synthetic data)" if outline.origin.kind == "synthetic" else "")
    origin_class = "origin synthetic" if outline.origin.kind == "synthetic" else "origin"
    parts = [_summary(outline)]
    if outline.run.job:
        parts.append(_changes(outline))
    if outline.agents:
        parts.append('<section id="the-agents"><h2>The agents and the questions they answer</h2><ul>' + "".join(
            f'<li><a href="#{v.anchor}">{esc(v.spec.title)}</a>: {esc(v.spec.challenge)}</li>' for v in outline.agents)
            + "</ul></section>")
    parts += [agent_html(v, outline) for v in outline.agents]
    if outline.recommendations:
        parts.append(_recommendations(outline))
    parts += [_assumptions(outline), _quality(outline), _appendix(outline)]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="finmatch {esc(outline.records.run.version)}">'
            f"<title>{esc(title)} — run {esc(outline.run.run_id)}</title><style>{CSS}</style></head>\n<body>\n"
            f"{_header(outline, stats)}\n<main>\n<h1>{esc(title)}</h1>\n"
            f'<p class="{origin_class}">{text(outline.origin.sentence, outline.known)}</p>\n'
            + "\n".join(parts) + "\n</main>\n</body></html>\n")


def render_html(records: RunRecords) -> str:
    """The HTML page of a run, from its records alone."""
    return render_html_outline(build_outline(records), report_stats(records))
