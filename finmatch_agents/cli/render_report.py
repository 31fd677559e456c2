"""``finmatch report show``: a run's report drawn with Rich from the same outline as the markdown and HTML
(:mod:`finmatch_agents.report.outline`). Every data value is a plain ``Text`` (never markup); charts are
horizontal bar charts; the appendix lists the queries (the SQL is in ``finmatch report html``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from finmatch_agents.agents import AGENTS
from finmatch_agents.cli.render import bar
from finmatch_agents.records import (
    ChartBlock,
    FailedBlock,
    FindingBlock,
    NoteBlock,
    SkippedBlock,
    TableBlock,
    TextBlock,
)
from finmatch_agents.report.document import front_matter, query_line, report_stats
from finmatch_agents.report.outline import build_outline
from finmatch_agents.report.sections import cell_text
from finmatch_agents.report.svg import value_text

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from finmatch_agents.records import Block, ChartSpec, RunRecords
    from finmatch_agents.report.outline import Outline


def _header(outline: Outline, stats: Any) -> Panel:
    front = front_matter(outline, stats)
    data = front["dataset"]
    origin = outline.origin.short
    rows = [("run", front["run_id"]), ("created", front["created_at"]), ("focus", ", ".join(front["focus"])),
            ("model", front["model"] + (f" · fell back: {', '.join(stats.fallback_steps)}"
                                        if stats.fallback_steps else "")),
            ("dataset", f"{data['table']} · {data['rows']:,} rows · {origin}" if data.get("rows") is not None
             else f"{data['table']} · {origin}"),
            ("database", f"{data['path']} · fingerprint {data.get('fingerprint')} · {data['currency']}"),
            ("evidence", f"{front['queries']} queries · {front['findings']} findings · {front['model_calls']} model "
                         f"calls · {front['tokens']:,} tokens · {front['ungrounded_numbers']} ungrounded numbers"),
            ("duration", f"{front['duration_s']} s · finmatch {front['version']}")]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, Text(str(value)))
    title = Text(outline.title + (" (synthetic data)" if outline.origin.kind == "synthetic" else ""), style="bold")
    return Panel(grid, title=title, title_align="left", border_style="red" if outline.origin.kind == "synthetic"
                 else "blue")


def chart(spec: ChartSpec, currency: str, width: int = 80) -> Table:
    """A chart spec as a horizontal bar chart: the first series as bars, the others as values beside them."""
    bars = [s for s in spec.series if s.kind == "bar"] or list(spec.series[:1])
    main = bars[0]
    others = [s for s in spec.series if s is not main]
    top = max((abs(v) for s in spec.series for v in s.values if v is not None), default=0.0) or 1.0
    grid = Table(box=None, show_header=bool(others), title=Text(spec.title, style="bold"), title_justify="left",
                 padding=(0, 1))
    grid.add_column(Text(""), overflow="ellipsis", no_wrap=True, max_width=max(12, width // 4))
    grid.add_column(Text(main.name or ("bars" if main.kind == "bar" else "line")), no_wrap=True)
    grid.add_column(Text(""), justify="right", no_wrap=True)
    for s in others:
        grid.add_column(Text(s.name or s.kind), justify="right", no_wrap=True)
    bar_width = max(10, min(40, width - 50))
    for i, label in enumerate(spec.labels):
        value = main.values[i] if i < len(main.values) else None
        extra = [Text(value_text(s.values[i] if i < len(s.values) else None, spec, currency)) for s in others]
        grid.add_row(Text(label), Text(bar(abs(value or 0.0) / top, bar_width), style="cyan"),
                     Text(value_text(value, spec, currency)), *extra)
    return grid


def _table(block: TableBlock, currency: str) -> Table:
    view = Table(title=Text(f"{block.title} [{block.query}]", style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
    for c in block.columns:
        view.add_column(Text(c.label), justify="left" if c.unit in ("text", "date") else "right", overflow="fold")
    for row in block.rows:
        view.add_row(*[Text(cell_text(row.get(c.key), c.unit, currency)) for c in block.columns])
    return view


def _block(block: Block, outline: Outline, width: int) -> RenderableType | None:
    currency = outline.records.run.currency
    if isinstance(block, FindingBlock):
        f = outline.findings.get(block.id)
        if f is None:
            return None
        line = Text("• ")
        label = f" ({f.id})" if f.id in outline.referenced_anywhere else ""  # what "see [F203]" points at
        line.append(f"{f.title}{label}. ", style="bold")
        line.append(" ".join(f.statement.split()))
        return line
    if isinstance(block, TextBlock):
        return Text(block.text)
    if isinstance(block, NoteBlock):
        return Text(f"│ {block.text}", style="dim")
    if isinstance(block, SkippedBlock):
        return Text(f"Not analysed — {block.title}: {block.reason}.", style="dim italic")
    if isinstance(block, FailedBlock):
        return Text(f"This step did not complete: {block.reason}", style="red")
    if isinstance(block, TableBlock):
        return _table(block, currency)
    if isinstance(block, ChartBlock):
        return Group(chart(block.spec, currency, width), Text(f"Figure: {block.title} [{block.query}]", style="dim"))
    return None


def report_renderables(records: RunRecords, width: int = 100) -> list[RenderableType]:
    outline = build_outline(records)
    stats = report_stats(records)
    out: list[RenderableType] = [_header(outline, stats), Text(outline.origin.sentence,
                                                               style="bold red" if outline.origin.kind == "synthetic"
                                                               else "dim")]
    s = outline.summary
    if s is not None:
        out.append(Rule("Executive summary", align="left"))
        out += [Text(h) for h in s.headline]
        if s.findings:
            out.append(Text("\nKey findings", style="bold"))
            out += [Text(f"{k}. {' '.join(i.text.split())}") for k, i in enumerate(s.findings, start=1)]
        if s.recs:
            out.append(Text("\nTop recommendations", style="bold"))
            for k, (rec, row) in enumerate(s.recs, start=1):
                label = f"{row.label} " if row else ""
                effect = f"{' '.join(rec.effect.split())}; " if rec.effect else ""
                out.append(Text(f"{k}. {label}{rec.title} — {effect}{rec.impact} impact, {rec.effort.lower()} effort, "
                                f"{rec.horizon.lower()}; {rec.owner}."))
        if s.caveats:
            out.append(Text("\nCaveats", style="bold"))
            out += [Text(f"• {c}") for c in s.caveats]
        if outline.assumptions:
            out.append(Text("Assumptions: " + "; ".join(f"{a.key} {a.shown}" + (" (set)" if a.user_set else "")
                                                        for a in outline.assumptions), style="dim"))
    for view in outline.agents:
        out += [Text(""), Rule(view.spec.title, align="left", style="bold")]
        for step in view.steps:
            out.append(Text(f"\n{step.name}", style="bold cyan"))
            for block in step.blocks:
                drawn = _block(block, outline, width)
                if drawn is not None:
                    out.append(drawn)
            if step.kind == "ai":
                out.append(Text(step.analyst_note, style="dim italic"))
                out += [Text(f"Note: {w}", style="yellow") for w in step.warnings]
                out += [Text(f"• {' '.join(i.text.split())}") for i in step.insights]
                if step.insights_in_summary or step.insights_restating:
                    out.append(Text(f"({step.insights_in_summary} insight(s) in the summary, "
                                    f"{step.insights_restating} restating a finding: not repeated)", style="dim"))
            elif step.kind == "report":
                if step.recs:
                    out.append(Text("Recommendations: " + ", ".join(n.label for n in step.recs)
                                    + " (in the Recommendations table)"))
                out += [Text(f"Risk: {r}", style="yellow") for r in step.risks]
            elif step.state == "not run":
                out.append(Text("This step has not run.", style="dim"))
    if outline.recommendations:
        out.append(Rule("Recommendations", align="left", style="bold"))
        recs = Table(box=box.SIMPLE_HEAD)
        for col in ("#", "Recommendation", "Agents", "Impact", "Effort", "When", "Owner"):
            recs.add_column(col, overflow="fold", no_wrap=col in ("#", "Impact", "Effort", "When"))
        for n in outline.recommendations:
            agents = ", ".join(AGENTS[a].title if a in AGENTS else a for a in n.agents)
            recs.add_row(n.label, Text(n.rec.title), Text(agents), n.rec.impact, n.rec.effort, n.rec.horizon,
                         Text(n.rec.owner))
        out.append(recs)
        for n in outline.recommendations:
            line = Text(f"{n.label}. ", style="bold")
            line.append(" ".join(n.reason.split()))
            line.append(" Success metric: ", style="italic")
            line.append(" ".join(n.rec.success_metric.split()))
            out.append(line)
    if outline.quality:
        out.append(Rule("Data quality", align="left"))
        out += [Text(f"• {f.severity} {f.code}: {f.message}") for f in outline.quality]
    out.append(Rule("Evidence & provenance", align="left"))
    queries = Table(box=box.SIMPLE_HEAD)
    for col in ("query", "title", "where · rows · time"):
        queries.add_column(col, overflow="fold", no_wrap=col == "query")
    for q in outline.queries:
        queries.add_row(q.id, Text(q.title or "query"), Text(query_line(q)))
    out += [queries, Text("The SQL of every query: finmatch report html (folded under each query).", style="dim")]
    return out


def print_report(console: Console, records: RunRecords) -> None:
    for part in report_renderables(records, console.width):
        console.print(part)
