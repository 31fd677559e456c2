"""``finmatch recommend``: recommenders trained and judged against popularity, served, improved by feedback.

Thin: options and rendering here, the work in :mod:`finmatch_agents.recommend`. NumPy and the pipeline are
imported inside the commands so that ``finmatch --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finmatch_agents.cli import common
from finmatch_agents.cli.predict import _open, _progress
from finmatch_agents.errors import UsageError

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.recommend.evaluate import Options

app = typer.Typer(help="Recommenders (popularity, collaborative filtering, content-based, hybrid, the matching "
                       "engine) evaluated on a time split against popularity and the bank's score; feedback.",
                  no_args_is_help=True)

TestShareOpt = Annotated[float, typer.Option("--test-share", help="Share of the newest offers in the test window "
                                                                  "(each fold takes the same share before it).")]
FoldsOpt = Annotated[int, typer.Option("--folds", help="Rolling-origin folds before the test window; the newest "
                                                       "is the validation window the gate judges.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the bootstrap and every sample.")]
ResamplesOpt = Annotated[int, typer.Option("--resamples", help="Bootstrap resamples per window.")]
KOpt = Annotated[list[int] | None, typer.Option("--k", help="Cut-offs K (repeat; default 1, 3 and 5).",
                                                show_default=False)]
CandidatesOpt = Annotated[str | None, typer.Option(
    "--candidates", metavar="NAMES", show_default=False,
    help="Comma-separated candidates to fit (item_cf, content, hybrid, match_engine; default all). The popularity "
         "baselines always run.")]
ProductsOpt = Annotated[str, typer.Option("--products", metavar="TABLE", help="Catalogue table.")]


def _options(test_share: float, folds: int, seed: int, resamples: int, k: list[int] | None,
             candidates: str | None) -> Options:
    from finmatch_agents.recommend.evaluate import Options

    names = tuple(c.strip() for c in candidates.split(",") if c.strip()) if candidates else None
    return Options(test_share=test_share, folds=folds, seed=seed, resamples=resamples,
                   ks=tuple(k) if k else None, candidates=names)


@app.command()
def train(
    test_share: TestShareOpt = 0.2,
    folds: FoldsOpt = 2,
    seed: SeedOpt = 42,
    resamples: ResamplesOpt = 200,
    k: KOpt = None,
    candidates: CandidatesOpt = None,
    products: ProductsOpt = "products",
    promote: Annotated[bool, typer.Option("--promote/--no-promote",
                                          help="Promote the saved recommender when it passed the gate.")] = True,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Evaluate every candidate, then fit the gate's winner (or the popularity baseline) on all the data and
    save it with every customer's list. Promoted only through the gate."""
    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    result = _train(s, _options(test_share, folds, seed, resamples, k, candidates), products, json_out, promote)
    if json_out:
        common.emit_json(result)
        return
    _render_evaluation(result["evaluation"])
    console = common.out()
    state = ("[green]promoted[/]" if result["promoted"] else
             "not promoted (it did not pass the gate)" if not result["promotable"] else
             f"not promoted (`finmatch recommend promote {result['model_id']}`)")
    console.print(f"Saved recommender [bold]{result['model_id']}[/] ({result['label']}) in {result['path']}: "
                  f"{state}. {result['seconds']['total']:.1f} s.")


def _train(s: Settings, options: Options, products: str, json_out: bool, promote: bool) -> dict[str, Any]:
    from finmatch_agents.recommend.train import train_and_save

    common.ensure_database(s)
    with _progress(json_out) as say:
        return train_and_save(s, options, products=products, promote=promote, progress=say)


@app.command()
def evaluate(
    test_share: TestShareOpt = 0.2,
    folds: FoldsOpt = 2,
    seed: SeedOpt = 42,
    resamples: ResamplesOpt = 200,
    k: KOpt = None,
    candidates: CandidatesOpt = None,
    products: ProductsOpt = "products",
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Print the leaderboard of every recommender on the test window, the folds and the gate (saves nothing)."""
    from finmatch_agents.recommend.evaluate import evaluate as run_evaluation

    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    options = _options(test_share, folds, seed, resamples, k, candidates)
    engine, log = _open(s, "recommend-evaluate", any_engine=True)
    with engine:
        common.require_table(engine, s.table)
        with _progress(json_out) as say:
            ev = run_evaluation(engine, log, s.table, options, products=products, progress=say)
    if json_out:
        common.emit_json({**ev.to_dict(), "query_log": [q.public() for q in log.records]})
        return
    _render_evaluation(ev.to_dict())


def _iv(d: dict[str, Any] | None, digits: int = 4) -> str:
    if not d or d.get("value") is None:
        return "—"
    if d.get("low") is None:
        return f"{d['value']:.{digits}f}"
    return f"{d['value']:.{digits}f} [{d['low']:.{digits}f}, {d['high']:.{digits}f}]"


def leaderboard_rows(ev: dict[str, Any], k: int = 3) -> list[dict[str, Any]]:
    """One row per recommender on the test window, best MAP@k first (used by the CLI and the job report)."""
    from finmatch_agents.recommend.candidates import LABELS

    test = ev["test"]
    rows = []
    for name, card in test["recommenders"].items():
        c = card.get(f"@{k}")
        if c is None:
            continue
        pc = c["positive_customers"]
        rows.append({"name": name, "label": LABELS.get(name, name), "map": pc["map"], "precision": pc["precision"],
                     "recall": pc["recall"], "f1": pc["f1"], "ndcg": pc["ndcg"], "map_all": c["all_customers"]["map"],
                     "coverage": c["coverage"], "popularity_bias": c["popularity_bias"],
                     "gate": ev["gate"]["candidates"].get(name, {}).get("reason", "baseline" if name in (
                         "popularity", "segment_popularity") else "reference")})
    return sorted(rows, key=lambda r: -(r["map"]["value"] or 0.0) if r["name"] != "bank_score" else 1.0)


def _render_evaluation(ev: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = common.out()
    d, w = ev["data"], ev["windows"]
    console.print(f"[bold]Recommenders[/] on {escape(ev['table'])}: {d['customers']:,} customers, {d['products']} "
                  f"products, {d['offers']:,} offers ({d['accepted']:,} accepted), {d['first_date']} to "
                  f"{d['last_date']}; feedback rows used: {d['feedback_used']}.")
    console.print(f"Test window from {w['test']['from']}; validation {w['fold1']['from']} to {w['fold1']['to']}. "
                  f"Test: {ev['test']['positive_customers']:,} of {ev['test']['customers']:,} customers accepted a "
                  "product they did not hold.")
    for k in ev["ks"]:
        view = Table(title=f"Leaderboard @{k}, test window (95% bootstrap; averaged over customers with a "
                           "positive, MAP also over all customers)", title_justify="left")
        for col in ("recommender", f"MAP@{k}", f"P@{k}", f"R@{k}", f"F1@{k}", f"NDCG@{k}", "MAP all", "coverage",
                    "pop. bias"):
            view.add_column(col, justify="left" if col == "recommender" else "right")
        for r in leaderboard_rows(ev, k):
            label = r["label"] + (" ★" if r["name"] == ev["gate"]["winner"] else "")
            if r["name"] == "bank_score":
                label += " (re-ranks the offers made in the window)"
            view.add_row(escape(label), _iv(r["map"]), _iv(r["precision"]), _iv(r["recall"]), _iv(r["f1"]),
                         _iv(r["ndcg"]), _iv(r["map_all"], 5), f"{r['coverage']:.0%}", f"{r['popularity_bias']:.2f}")
        console.print(view)
    console.print(f"[bold]Gate[/] ({ev['gate']['metric']} on the validation window against "
                  f"{escape(ev['gate']['baseline'])}): {escape(ev['gate']['reason'])}.")
    console.print(f"[bold]Test window:[/] {escape(ev['verdict'])}.")
    if ev.get("hybrid_weights"):
        console.print("Hybrid weights (learned on the validation window): " + ", ".join(
            f"{n} {v:.1f}" for n, v in ev["hybrid_weights"].items()))
    for note in ev["notes"]:
        console.print(f"[dim]Note: {escape(note)}[/]")


@app.command("for")
def for_cmd(
    customer: Annotated[str, typer.Argument(help="A customer id.", show_default=False, metavar="CUSTOMER")],
    top: Annotated[int, typer.Option("--top", help="How many products.")] = 3,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """What to offer CUSTOMER next: the serving recommender's list, with scores and reasons."""
    from finmatch_agents.recommend.api import recommendations_for

    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    engine, log = _open(s, "recommend-for", any_engine=True)
    with engine:
        result = recommendations_for(s, engine, log, customer, top)
    if json_out:
        common.emit_json(result)
        return
    from rich.markup import escape

    console = common.out()
    state = "promoted" if result["promoted"] else "not promoted — the newest trained recommender"
    console.print(f"[bold]{escape(customer)}[/]: {escape(result['label'])} ({result['model_id']}, {state}).")
    if not result["products"]:
        console.print("No product to recommend: the customer holds every product the model could offer.")
    for p in result["products"]:
        console.print(f"  {p['rank']}. {escape(p['product_name'])} ({p['product_id']}) score {p['score']:.4f} — "
                      f"{escape(p['reason'])}")


@app.command()
def export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default "
                                                "recommendations.<format> in the current folder).",
                                                show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    top: Annotated[int, typer.Option("--top", help="Products per customer.")] = 5,
    json_out: common.JsonOpt = False,
) -> None:
    """Write every customer's top products from the serving recommender (one row per customer and rank)."""
    import time

    from finmatch_agents.recommend.export import export_lists

    common.want_json(json_out)
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format {fmt}: choose parquet or csv")
    s = common.settings()
    started = time.perf_counter()
    path = output or Path(f"recommendations.{fmt}")
    result = export_lists(s.state_dir, path, fmt, top)
    result["seconds"] = round(time.perf_counter() - started, 2)
    if json_out:
        common.emit_json(result)
        return
    common.out().print(f"Wrote {result['rows']:,} rows ({result['customers']:,} customers × up to {top}) from "
                       f"{result['model_id']} to {result['path']} in {result['seconds']:.1f} s.")


@app.command()
def feedback(
    customer: Annotated[str | None, typer.Argument(help="A customer id.", show_default=False, metavar="CUSTOMER")
                        ] = None,
    product: Annotated[str | None, typer.Argument(help="A product id.", show_default=False, metavar="PRODUCT")
                       ] = None,
    rating: Annotated[int | None, typer.Option("--rating", help="1 (bad) to 5 (good).", show_default=False)] = None,
    accepted: Annotated[bool, typer.Option("--accepted", help="The customer accepted the product.")] = False,
    declined: Annotated[bool, typer.Option("--declined", help="The customer declined it (kept off their list).")
                        ] = False,
    note: Annotated[str | None, typer.Option("--note", help="Free text stored with the feedback.",
                                             show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Import a CSV (customer_id, product_id, rating and/or "
                                              "outcome, note); all rows or none.", show_default=False)] = None,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Record feedback on a recommendation (append-only; it is training signal and an outcome next time)."""
    from finmatch_agents.recommend import feedback as fb
    from finmatch_agents.recommend import registry

    common.want_json(json_out)
    s = common.settings(db=db, table=table)
    if file is not None:
        if customer or product or rating is not None or accepted or declined or note:
            raise UsageError("--file imports feedback rows; do not also give CUSTOMER, PRODUCT or a rating")
        entries = fb.read_file(file)
        source, file_name = f"file:{file.name}", str(file)
    else:
        if not customer or not product:
            raise UsageError("give CUSTOMER and PRODUCT (or --file FILE)")
        if accepted and declined:
            raise UsageError("--accepted and --declined exclude each other")
        outcome = "accepted" if accepted else "declined" if declined else None
        entries = [fb.Entry(customer, product, rating, outcome, note)]
        fb.check_entry(entries[0])
        source, file_name = "cli", None
    customers, product_ids = _known_ids(s)
    fb.check_ids(entries, customers, product_ids, file=file_name)
    serving = registry.promoted(s.state_dir)
    result = fb.record(s.db, entries, model_id=serving.id if serving else None, source=source)
    if json_out:
        common.emit_json(result)
        return
    common.out().print(f"Recorded {result['rows']} feedback row(s) by {result['recorded_by']} at "
                       f"{result['recorded_at']} (serving model: {result['model_id'] or 'none promoted'}).")


def _known_ids(s: Settings) -> tuple[set[str], list[str]]:
    from finmatch_agents.recommend.feedback import known_ids

    engine, log = _open(s, "recommend-feedback")
    with engine:
        common.require_table(engine, s.table)
        return known_ids(engine, log, s.table)


@app.command("list")
def list_cmd(json_out: common.JsonOpt = False) -> None:
    """The saved recommenders, newest first, with their gate result and test MAP@3."""
    from rich.table import Table

    from finmatch_agents.recommend import registry

    common.want_json(json_out)
    s = common.settings()
    current = registry.promoted_id(s.state_dir)
    rows = []
    for info in registry.list_models(s.state_dir):
        test = info.meta["evaluation"]["test"]["recommenders"].get(info.kind, {}).get("@3", {})
        rows.append({"model_id": info.id, "kind": info.kind, "created_at": info.meta.get("created_at"),
                     "table": info.meta.get("table"), "promotable": info.promotable, "promoted": info.id == current,
                     "test_map@3": test.get("positive_customers", {}).get("map"),
                     "gate": info.meta["gate"]["reason"]})
    if json_out:
        common.emit_json({"promoted": current, "recommenders": rows})
        return
    if not rows:
        common.out().print(f"No recommenders in {registry.root(s.state_dir)}: `finmatch recommend train`.")
        return
    view = Table(title_justify="left")
    for col in ("model", "recommender", "created", "passed gate", "test MAP@3", ""):
        view.add_column(col)
    for r in rows:
        view.add_row(r["model_id"], r["kind"], str(r["created_at"]), "yes" if r["promotable"] else "no",
                     _iv(r["test_map@3"]), "promoted" if r["promoted"] else "")
    common.out().print(view)


@app.command("promote")
def promote_cmd(model: Annotated[str, typer.Argument(help="The recommender id.", show_default=False,
                                                     metavar="MODEL")],
                json_out: common.JsonOpt = False) -> None:
    """Make MODEL the recommender that serves (refused unless it passed the gate)."""
    from finmatch_agents.recommend import registry

    common.want_json(json_out)
    s = common.settings()
    info = registry.promote(s.state_dir, model)
    if json_out:
        common.emit_json({"promoted": info.id, "recommender": info.kind})
        return
    common.out().print(f"Promoted {info.id} ({info.meta.get('label')}).")
