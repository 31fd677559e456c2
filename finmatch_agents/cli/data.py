"""``finmatch data``: create, load and describe the database (the only commands that write it)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finmatch_agents.cli import common

if TYPE_CHECKING:
    from finmatch_agents.records import Profile

app = typer.Typer(help="Create, load and describe the bank data (the only commands that write the database).",
                  no_args_is_help=True)


@app.command()
def generate(
    customers: Annotated[int, typer.Option("--customers", min=1, max=5_000_000,
                                           help="Number of customers (about 4 recommendations each).")] = (
        common.DEFAULT_CUSTOMERS),
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = (
        common.DEFAULT_SEED),
    db: common.DbOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace fpr_records and products if they exist.")] = False,
    co_acceptance: Annotated[bool, typer.Option(
        "--co-acceptance/--no-co-acceptance",
        help="Plant the bundle follow-up offers (pattern 9 of data/README.md) that collaborative filtering can "
             "learn; --no-co-acceptance leaves them out.")] = True,
    json_out: common.JsonOpt = False,
) -> None:
    """Write synthetic bank data (fpr_records + products) with the planted patterns of data/README.md."""
    from finmatch_agents.data.generator import write_synthetic

    common.want_json(json_out)
    s = common.settings(db=db)
    started = time.perf_counter()
    if not json_out:
        common.err().print(f"Generating {customers:,} customers (seed {seed}) into {s.db} ...")
    counts = write_synthetic(s.db, customers, seed, force=force, co_acceptance=co_acceptance)
    elapsed = time.perf_counter() - started
    if json_out:
        common.emit_json({"db": str(s.db), "customers": customers, "seed": seed, "co_acceptance": co_acceptance,
                          "tables": counts,
                          "seconds": round(elapsed, 2)})
    else:
        common.out().print(f"Wrote {counts['fpr_records']:,} recommendation records and {counts['products']} "
                           f"products to {s.db} in {elapsed:.1f} s.")


@app.command()
def load(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON-lines file.", show_default=False)],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML column mapping (see examples/).",
                                                 show_default=False, metavar="FILE")] = None,
    table: Annotated[str, typer.Option("--table", help="Target table.", metavar="NAME")] = "fpr_records",
    db: common.DbOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the table instead of appending to it.")] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="csv, parquet or jsonl (default: from the extension).",
                                            show_default=False)] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="CSV delimiter (default: sniffed).",
                                                  show_default=False)] = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Load a real dataset: map its columns, validate every value, and load it all-or-nothing.

    Source columns the mapping does not map are kept as extra columns under their own name (docs/data.md).
    """
    from finmatch_agents.data.loader import load_file
    from finmatch_agents.data.mapping import IDENTITY, load_mapping
    from finmatch_agents.errors import UsageError

    common.want_json(json_out)
    if fmt is not None and fmt not in ("csv", "parquet", "jsonl"):
        raise UsageError(f"--format: '{fmt}' is not one of csv, parquet, jsonl")
    if delimiter is not None and len(delimiter.encode().decode("unicode_escape")) != 1:
        raise UsageError("--delimiter must be a single character (use '\\t' for tab)")
    if not table.replace("_", "").isalnum():
        raise UsageError(f"--table: '{table}' is not a plain table name")
    s = common.settings(db=db)
    the_mapping = load_mapping(mapping) if mapping else IDENTITY
    started = time.perf_counter()
    report = load_file(s.db, file, table=table, mapping=the_mapping, replace=replace, fmt=fmt,
                       delimiter=delimiter.encode().decode("unicode_escape") if delimiter else None)
    elapsed = time.perf_counter() - started
    if json_out:
        common.emit_json({**asdict(report), "db": str(s.db), "seconds": round(elapsed, 2)})
        return
    action = "appended to" if report.appended else ("replaced" if report.replaced else "loaded into")
    console = common.out()
    console.print(f"{report.rows:,} rows from {file} {action} {table} in {s.db} ({elapsed:.1f} s).")
    extras = report.extra_columns
    console.print(f"Columns: {', '.join(c for c in report.columns if c not in extras)}", markup=False)
    if extras:
        shown = [name if name == src else f"{name} (from '{src}')" for name, src in extras.items()]
        console.print(f"Extra columns (kept under their own name; not in the data dictionary): {', '.join(shown)}",
                      markup=False)
    if report.ignored_source_columns:
        from rich.markup import escape

        dropped = escape(", ".join(report.ignored_source_columns))
        console.print(f"[dim]Not loaded (\\[drop] in the mapping): {dropped}[/]")
    if report.currency:
        console.print(f"Currency: {report.currency}", markup=False)
    for note in report.notes:
        common.err().print(f"Note: {note}", markup=False)
    if report.absent_columns:
        console.print(f"[dim]Absent dictionary columns (analyses that need them will say so): "
                      f"{', '.join(report.absent_columns)}[/]")


@app.command()
def info(
    db: common.DbOpt = None,
    engine_name: common.EngineOpt = None,
    table: common.TableOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Tables, row counts, columns, date ranges, null rates and data-quality flags."""
    from finmatch_agents.data.profile import profile_dataset

    common.want_json(json_out)
    s = common.settings(db=db, engine=engine_name, table=table)
    engine, log = common.open_sandbox(s, "data-info")
    with engine:
        common.require_table(engine, s.table)
        profile = profile_dataset(engine, log, s.table, distinct=True)
    if json_out:
        common.emit_json({**profile.to_json(), "extra_columns": _extra_columns(profile),
                          "queries": [q.to_json() for q in log.records]})
        return
    _render_profile(profile)


def _extra_columns(p: Profile) -> list[dict[str, str | None]]:
    """Columns of the table that are not in the data dictionary, with the source column and label they have."""
    from finmatch_agents.data.schema import column, columns_of

    if columns_of(p.table) is None:
        return []
    sources = p.provenance.get("extra_columns", {})
    labels = p.provenance.get("labels", {})
    return [{"name": c.name, "type": c.type, "source": sources.get(c.name), "label": labels.get(c.name)}
            for c in p.columns if column(p.table, c.name) is None]


def _render_profile(p: Profile) -> None:
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.formatting import fmt_count, fmt_pct

    console = common.out()
    console.print(f"[bold]{p.db}[/] — table [bold]{p.table}[/]: {fmt_count(p.rows)} rows"
                  + (f" (+{fmt_count(p.deleted_rows)} soft-deleted, excluded)" if p.deleted_rows else "")
                  + (f", {fmt_count(p.customers)} customers" if p.customers is not None else "")
                  + (f", recommendations {p.date_min} to {p.date_max}" if p.date_min else "")
                  + f"; fingerprint {p.fingerprint}")
    if p.provenance:
        detail = ", ".join(f"{k}={v}" for k, v in p.provenance.items()
                           if k not in ("sha256", "extra_columns", "labels"))
        console.print(f"[dim]Source: {escape(detail)}[/]")
    extras = _extra_columns(p)
    if extras:
        shown = [str(e["name"]) + (f" (from '{e['source']}')" if e["source"] not in (None, e["name"]) else "")
                 + (f" — {e['label']}" if e["label"] else "") for e in extras]
        console.print(f"Extra columns (not in the data dictionary; `finmatch sql` and analyses can use them): "
                      f"{', '.join(shown)}", markup=False)
    labels = {k: v for k, v in p.provenance.get("labels", {}).items() if k not in {e["name"] for e in extras}}
    if labels:
        console.print("Labels from the mapping: " + ", ".join(f"{k} = {v}" for k, v in labels.items()), markup=False)
    tables = Table(title="Tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    tables.add_column("columns", justify="right")
    for t in p.tables:
        tables.add_row(t.name, fmt_count(t.rows), str(t.columns))
    console.print(tables)
    cols = Table(title=f"Columns of {p.table}", title_justify="left")
    for name, justify in (("column", "left"), ("type", "left"), ("empty", "right"), ("distinct≈", "right"),
                          ("min", "left"), ("max", "left")):
        cols.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in p.columns:
        empty = fmt_pct(c.null_rate)
        cols.add_row(c.name, c.type, f"[yellow]{empty}[/]" if c.null_rate > 0.05 else empty,
                     fmt_count(c.distinct), escape(str(c.min)) if c.min is not None else "",
                     escape(str(c.max)) if c.max is not None else "")
    console.print(cols)
    if p.sources:
        src = Table(title="Source systems", title_justify="left")
        for name in ("source", "records", "newest", "lag days", "empty fields"):
            src.add_column(name, justify="left" if name in ("source", "newest") else "right")
        for r in p.sources:
            src.add_row(str(r["source_system"]), fmt_count(r["records"]), str(r.get("newest", "")),
                        str(r.get("lag_days", "")), fmt_pct(r["empty_rate"]))
        console.print(src)
    if p.flags:
        console.print("[bold]Data-quality flags[/]")
        style = {"error": "red", "warning": "yellow", "info": "cyan"}
        for f in p.flags:
            console.print(f"  [{style[f.severity]}]{f.severity:<7}[/] {f.code}: {escape(f.message)}")
    else:
        console.print("[green]No data-quality flags.[/]")


@app.command()
def dictionary(
    table: Annotated[str, typer.Option("--table", help="fpr_records or products.")] = "fpr_records",
    json_out: common.JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the whole dictionary as markdown "
                                           "(docs/data-dictionary.md is this output).")] = False,
) -> None:
    """The data dictionary: every column we know, its type, meaning, allowed values and ranges."""
    from rich.table import Table

    from finmatch_agents.data.schema import TABLES, dictionary_markdown
    from finmatch_agents.errors import UsageError

    if markdown:
        typer.echo(dictionary_markdown(), nl=False)
        return
    if table not in TABLES:
        raise UsageError(f"--table: no dictionary for '{table}' (known: {', '.join(TABLES)})")
    cols = TABLES[table]
    if json_out:
        common.emit_json([asdict(c) for c in cols])
        return
    view = Table(title=f"Data dictionary: {table}", title_justify="left", show_lines=False)
    for name in ("column", "type", "group", "meaning", "rules", "label"):
        view.add_column(name, overflow="fold")
    for c in cols:
        view.add_row(c.name, c.type, c.group, c.description, c.rules, c.label)
    common.out().print(view)
