"""``finmatch metrics``: the FinMatch metrics dashboard in the terminal (or as JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finmatch_agents.cli import common

if TYPE_CHECKING:
    from rich.console import RenderableType

    from finmatch_agents.metrics import Breakdown, Dashboard, MetricValue


def metrics(
    db: common.DbOpt = None,
    engine_name: common.EngineOpt = None,
    table: common.TableOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """KPIs, financial metrics, status / affinity / lifecycle distributions, top product types and segments.

    Every figure comes from a named SQL query run through the sandbox; --json lists them with their ids.
    """
    from finmatch_agents.data.checks import check_recommendations_table, run_currency
    from finmatch_agents.metrics import compute_dashboard

    common.want_json(json_out)
    s = common.settings(db=db, engine=engine_name, table=table)
    engine, log = common.open_sandbox(s, "metrics")
    with engine:
        check = check_recommendations_table(engine, s.table)
        currency, warning = run_currency(s.currency, s.sources.get("currency", "default"), check)
        if warning and not json_out:
            common.err().print(f"Note: {warning}", markup=False)
        dashboard = compute_dashboard(engine, log, table=s.table, currency=currency)
    if json_out:
        common.emit_json(dashboard.to_dict())
        return
    render_dashboard(dashboard)


def _metric_grid(title: str, items: list[MetricValue], currency: str) -> RenderableType:
    from rich.panel import Panel
    from rich.table import Table

    from finmatch_agents.formatting import fmt_value

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column(justify="right", style="bold")
    for m in items:
        value = "[dim]n/a — column absent[/]" if m.absent else fmt_value(m.value, m.unit, currency)
        grid.add_row(m.label, value)
    return Panel(grid, title=title, title_align="left", expand=True)


def _distribution(b: Breakdown) -> RenderableType:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from finmatch_agents.cli.render import bar
    from finmatch_agents.formatting import fmt_count, fmt_pct

    if b.absent:
        return Panel(Text(f"n/a — needs {', '.join(b.absent)}", style="dim"), title=b.title, title_align="left")
    grid = Table.grid(padding=(0, 1))
    grid.add_column()
    grid.add_column(style="cyan")
    grid.add_column(justify="right")
    grid.add_column(justify="right", style="dim")
    top = max((r["share"] for r in b.rows), default=1.0) or 1.0
    for r in b.rows:
        grid.add_row(Text(str(r["label"])), bar(r["share"] / top, 22), fmt_pct(r["share"]), fmt_count(r["count"]))
    return Panel(grid, title=b.title, title_align="left", expand=True)


def _ranking(b: Breakdown, columns: list[tuple[str, str, str]], currency: str) -> RenderableType:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from finmatch_agents.formatting import fmt_value

    if b.absent:
        return Panel(Text(f"n/a — needs {', '.join(b.absent)}", style="dim"), title=b.title, title_align="left")
    view = Table(expand=True, box=None, pad_edge=False)
    view.add_column("", overflow="fold")
    for label, _, _ in columns:
        view.add_column(label, justify="right")
    for r in b.rows:
        view.add_row(Text(str(r["label"])), *[fmt_value(r.get(key), unit, currency) for _, key, unit in columns])
    return Panel(view, title=b.title, title_align="left", expand=True)


def render_dashboard(d: Dashboard) -> None:
    from rich.columns import Columns

    console = common.out()
    console.print(f"[bold]FinMatch metrics[/] — {d.db} · {d.table}")
    console.print(Columns([_metric_grid("Key performance indicators", d.kpis, d.currency),
                           _metric_grid("Financial metrics", d.financial, d.currency)], equal=True, expand=True))
    console.print(Columns([_distribution(b) for b in d.distributions], equal=True, expand=True))
    product_cols = [("recs", "recommendations", "count"), ("accepted", "accepted", "count"),
                    ("rate", "acceptance_rate", "percent")]
    if any("sales" in r for r in d.product_types.rows):
        product_cols.append(("sales", "sales", "currency"))
    console.print(Columns([
        _ranking(d.product_types, product_cols, d.currency),
        _ranking(d.segments, [("customers", "customers", "count"), ("recs", "recommendations", "count"),
                              ("rate", "acceptance_rate", "percent")], d.currency),
    ], equal=True, expand=True))
    ids = ", ".join(q.id for q in d.queries)
    console.print(f"[dim]{len(d.queries)} queries ({ids}); `finmatch metrics --json` lists their SQL.[/]")
