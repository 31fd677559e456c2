"""``finmatch similar``: find customers like these (plain-language questions, look-alikes, the index).

``finmatch similar "QUESTION"`` is short for ``finmatch similar search "QUESTION"`` (and so is ``finmatch similar
--like ID``). Thin: options and rendering here; the search is :mod:`finmatch_agents.similar.api`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from finmatch_agents.cli import common


class _SearchByDefault(TyperGroup):
    """A first argument that is not a subcommand is a question: ``similar "Q"`` runs ``similar search "Q"``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["search", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_SearchByDefault, no_args_is_help=True,
                  help="Find customers like these: a plain-language question (exact constraints, ranked by meaning), "
                       "look-alikes of a customer or of a group, and the index they read.\n\n"
                       "`finmatch similar \"QUESTION\"` and `finmatch similar --like ID` are short for "
                       "`finmatch similar search ...`.")

TopOpt = Annotated[int, typer.Option("--top", "-n", min=1, max=100_000, help="How many customers to list.")]
RankerOpt = Annotated[str, typer.Option(
    "--ranker", help="auto (embeddings when the \\[similarity] extra is installed, else BM25, said so), embedding "
                     "(exit 2 without the extra) or lexical (BM25).")]


def _progress(enabled: bool) -> Any:
    """A Rich progress bar on stderr for the index build (plain lines off a terminal, nothing with --json)."""
    import sys

    if not enabled:
        return None
    console = common.err()
    if not sys.stderr.isatty():
        seen: set[str] = set()

        def plain(step: str, done: int, total: int) -> None:
            if step not in seen:
                seen.add(step)
                console.print(f"index: {step}", markup=False)
        return plain
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), console=console,
                   transient=True)
    bar.start()
    task = bar.add_task("similarity index", total=1)

    def update(step: str, done: int, total: int) -> None:
        bar.update(task, description=f"index: {step}", completed=done, total=max(total, 1))
        if step == "done" or (step == "customer vectors" and done >= total):
            bar.stop()
    update.stop = bar.stop  # type: ignore[attr-defined]
    return update


@app.command()
def search(
    question: Annotated[str | None, typer.Argument(help="Which customers, in plain language, e.g. \"young "
                                                        "professionals with good credit interested in premium credit "
                                                        "cards\".", show_default=False)] = None,
    like: Annotated[list[str] | None, typer.Option(
        "--like", metavar="ID", show_default=False,
        help="Customers most like this customer (standardised features and text vectors); repeat it, or separate ids "
             "with commas, for the customers most like a few.")] = None,
    like_segment: Annotated[str | None, typer.Option(
        "--like-segment", metavar="SEED", show_default=False,
        help="Customers most like a seed group described in words, e.g. \"accepted Mortgage in 2025\", and how many "
             "resemble it; QUESTION may narrow the candidates with constraints.")] = None,
    top: TopOpt = 10,
    ranker: RankerOpt = "auto",
    explain: Annotated[bool, typer.Option("--explain", help="Also show the SQL filter, each reason's part of the "
                                                            "score and the query ids.")] = False,
    export: Annotated[Path | None, typer.Option("--export", metavar="FILE", help="Write the ranked customers to a "
                                                "campaign file (.csv or .parquet).", show_default=False)] = None,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Customers for a question: exact constraints from the semantic model, ranked by the semantic part.

    The interpretation is echoed first ("credit score > 750 · interested in: investment products"), then the
    customers with why each matched. A question with no understood part, contradictory constraints, an unknown
    --like id or --ranker embedding without the extra exit 2 with the reason; nothing is ever listed unfiltered
    in silence. The index is built on first use and cached (`finmatch similar index`).
    """
    from finmatch_agents.errors import UsageError
    from finmatch_agents.similar import api
    from finmatch_agents.similar.export import export as write_export

    common.want_json(json_out)
    seeds = [c.strip() for value in like or [] for c in value.split(",") if c.strip()]
    if like is not None and not seeds:
        raise UsageError("--like needs a customer id")
    if like and like_segment:
        raise UsageError("--like and --like-segment: give one")
    if like and question:
        raise UsageError("--like takes no question (use --like-segment to narrow a group's look-alikes)")
    if export is not None:
        from finmatch_agents.similar.export import check_path

        check_path(export)  # before any work
    if not like and not like_segment and not question:
        raise UsageError('say which customers: finmatch similar "QUESTION", --like ID or --like-segment SEED')
    s = common.settings(db=db, table=table, engine=engine_name)
    engine, log = common.open_bulk_sandbox(s, "similar")
    progress = _progress(not json_out)
    try:
        with engine:
            if like:
                result = api.like(s, engine, log, seeds, top, ranker=ranker, reveal=True)
            elif like_segment:
                result = api.like_segment(s, engine, log, like_segment, top, ranker=ranker, question=question,
                                          reveal=True)
            else:
                assert question is not None
                result = api.search(s, engine, log, question, top, ranker=ranker, reveal=True)
    finally:
        if progress is not None and hasattr(progress, "stop"):
            progress.stop()
    if export is not None:
        result["exported"] = {"path": str(export), "rows": write_export(result, export)}
    if json_out:
        common.emit_json(result)
        return
    _render(result, explain)


def _render(r: dict[str, Any], explain: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.formatting import fmt_count

    console = common.out()
    if "matched" in r:
        console.print(f"[bold]Understood as:[/] {escape(r['interpretation'])}")
        console.print(f"{fmt_count(r['matched'])} of {fmt_count(r['customers'])} customers meet the constraints; "
                      f"ranked by {escape(r['ranker_label'])}.")
    elif r.get("seed_size", 1) > 1 or r.get("lookalikes") is not None:
        console.print(f"[bold]Seed group:[/] {escape(r['interpretation'] or r['seed'])} — "
                      f"{fmt_count(r['seed_size'])} customers.")
        console.print(f"[bold]{fmt_count(r['lookalikes'])}[/] other customers resemble it (score ≥ the group's median "
                      f"member, {r['threshold']:.3f}); text part by {escape(r['ranker_label'])}.")
    else:
        console.print(f"[bold]Customers most like {escape(r['seed'])}[/] (standardised features and text by "
                      f"{escape(r['ranker_label'])}).")
    for note in r["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if r["results"]:
        view = Table(title_justify="left")
        view.add_column("#", justify="right")
        view.add_column("customer")
        view.add_column("score", justify="right")
        view.add_column("why", overflow="fold")
        for h in r["results"]:
            score = "" if h["score"] is None else f"{h['score']:.3f}"
            view.add_row(str(h["rank"]), escape(h["customer_id"]), score, escape("; ".join(h["reasons"])))
        console.print(view)
    if r.get("exported"):
        console.print(f"Wrote {fmt_count(r['exported']['rows'])} customers to {escape(r['exported']['path'])}.")
    if explain:
        if r.get("sql"):
            console.print("[bold]Constraint filter (one statement through the sandbox):[/]")
            console.print(escape(r["sql"]), markup=True, highlight=False)
        console.print(f"[dim]Queries: {', '.join(r['query_ids']) or 'none'}; {r['ms']:.0f} ms; index "
                      f"{escape(r['index_key'])}. Reasons show each field's part of the score (+0.12).[/]")
        for note in r.get("index_notes", []):
            console.print(f"[dim]index: {escape(note)}[/]")


@app.command("index")
def index_command(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the cached index matches the data.")]
    = False,
    ranker: RankerOpt = "auto",
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Build the similarity index for the current data (cached by data fingerprint; text vectors by text).

    Searches build it on first use; this does it ahead of time, with a progress bar.
    """
    from finmatch_agents.similar import api

    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    engine, log = common.open_bulk_sandbox(s, "similar-index")
    progress = _progress(not json_out)
    try:
        with engine:
            info = api.build_index(s, engine, log, ranker=ranker, force=force, progress=progress)
    finally:
        if progress is not None and hasattr(progress, "stop"):
            progress.stop()
    if json_out:
        common.emit_json(info)
        return
    from rich.markup import escape

    from finmatch_agents.formatting import fmt_count

    console = common.out()
    fields = ", ".join(f"{k} ({v})" for k, v in info["fields"].items())
    size = f"{info['bytes'] / 1e6:.1f} MB" if info["bytes"] else "?"
    console.print(f"[bold]Similarity index[/] for {fmt_count(info['customers'])} customers: {escape(info['path'])} "
                  f"({size}); built in {info['build_seconds']:.1f} s.")
    console.print(f"Text fields (distinct values): {escape(fields)}; look-alike features: "
                  f"{escape(', '.join(info['numeric']))}; ranker: {escape(info['ranker_label'])}.")
    for note in info["index_notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")
