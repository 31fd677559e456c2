"""``finmatch diff RUN_A RUN_B``: what changed between two completed runs (see finmatch_agents.diff)."""

from __future__ import annotations

from typing import Annotated

import typer

from finmatch_agents.cli import common


def diff(
    run_a: Annotated[str, typer.Argument(help="The earlier run (see `finmatch history`).", show_default=False)],
    run_b: Annotated[str, typer.Argument(help="The later run.", show_default=False)],
    json_out: common.JsonOpt = False,
    all_values: Annotated[bool, typer.Option("--all", help="Also list every other value of matched findings "
                                             "that changed.")] = False,
) -> None:
    """Compare two runs: key figures with deltas, new and resolved findings, data and model changes."""
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents import diff as differ
    from finmatch_agents.agents import AGENTS
    from finmatch_agents.ids import strip_query_refs
    from finmatch_agents.runs import RunStore
    from finmatch_agents.units import format_delta, format_relative, format_value

    common.want_json(json_out)
    s = common.settings()
    store = RunStore(s.state_dir / "runs.sqlite")
    try:
        cmp = differ.compare_runs(store, run_a, run_b)
    finally:
        store.close()
    if json_out:
        common.emit_json(cmp.to_dict())
        return
    console, cur = common.out(), cmp.currency
    console.print(f"[bold]{escape(run_a)} → {escape(run_b)}[/]  ({escape(str(cmp.a.created_at))} → "
                  f"{escape(str(cmp.b.created_at))})", highlight=False)
    for fact in cmp.facts:
        a, b = fact["a"], fact["b"]
        if isinstance(a, list):
            a, b = ",".join(a), ",".join(b or [])
        mark = "[yellow]changed[/]" if fact["changed"] else "[dim]same[/]"
        text = escape(f"{a}") if not fact["changed"] else escape(f"{a} → {b}")
        console.print(f"  {fact['what']:<12} {mark}  {text}", highlight=False)

    def figures(title: str, deltas: list[differ.Delta]) -> None:
        view = Table(title=title, title_justify="left")
        for col in ("figure", "previous", "now", "change", "relative", "findings"):
            view.add_column(col, justify="left" if col in ("figure", "findings") else "right", overflow="fold")
        for d in deltas:
            view.add_row(escape(d.label), format_value(d.a, d.unit, cur), format_value(d.b, d.unit, cur),
                         format_delta(d.delta, d.unit, cur) if d.changed else "[dim]no change[/]",
                         format_relative(d.relative) if d.changed else "", f"{d.a_finding} → {d.b_finding}")
        console.print(view)

    if cmp.kpis:
        figures("Key figures", cmp.kpis)
    for title, items, style in (("New findings", cmp.new, "green"), ("Resolved findings", cmp.resolved, "cyan")):
        console.print(f"[bold {style}]{title}[/] ({len(items)})", highlight=False)
        for m in items:
            f = m.finding
            agent = AGENTS[f.agent].title if f.agent in AGENTS else f.agent
            console.print(f"  {f.id} [dim]{escape(agent)} · {escape(f.title)} · {f.polarity}[/]  "
                          f"{escape(strip_query_refs(f.statement))}", highlight=False)
    kpi_paths = {(k.agent, k.key, k.path) for k in cmp.kpis}
    others = [d for d in cmp.changes if (d.agent, d.key, d.path) not in kpi_paths]
    if all_values:
        if others:
            figures("Other changed values", others)
        for t in cmp.text_changes:
            console.print(f"  {t['a_finding']} {escape(t['title'])}: {escape(t['path'])} {escape(t['a'])} → "
                          f"{escape(t['b'])}", highlight=False)
    elif others or cmp.text_changes:
        console.print(f"[dim]{len(others)} other value(s) and {len(cmp.text_changes)} label(s) in matched findings "
                      "changed; --all lists them.[/]", highlight=False)
