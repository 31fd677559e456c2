"""``finmatch predict``: conversion and churn models, next best action, honestly evaluated.

Thin: options and rendering here, the pipeline in :mod:`finmatch_agents.predict`. NumPy, scikit-learn and the
pipeline are imported inside the commands so that ``finmatch --help`` stays fast.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finmatch_agents.cli import common

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict.registry import ModelInfo
    from finmatch_agents.predict.train import TrainOptions
    from finmatch_agents.warehouse.engine import DuckDBEngine

app = typer.Typer(help="Predictive models: conversion propensity, churn risk and next best action, with a "
                       "time-ordered holdout, a leakage guard and a promotion gate.", no_args_is_help=True)

TaskArg = Annotated[str, typer.Argument(help="conversion or churn.", show_default=False, metavar="TASK")]
ModelArg = Annotated[str, typer.Argument(help="A model id (`finmatch predict list`) or a task name for its "
                                              "promoted model.", show_default=False, metavar="MODEL")]
HoldoutOpt = Annotated[float, typer.Option("--holdout", help="Share of the latest rows held out for the test.")]
FoldsOpt = Annotated[int, typer.Option("--folds", help="Random stratified k-fold beside the holdout (0 = skip).")]
KfoldRowsOpt = Annotated[int, typer.Option("--kfold-rows", min=100, help="Rows sampled for the k-fold.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random choice (splits, models, bootstrap).")]
AllowOpt = Annotated[list[str] | None, typer.Option(
    "--allow-feature", metavar="COLUMN", show_default=False,
    help="Keep an input the leakage guard excluded (after-outcome, bank score or AUC ≥ 0.9). Repeat for several. "
         "A model with an after-outcome input cannot be promoted.")]
ProductsOpt = Annotated[str, typer.Option("--products", metavar="TABLE", help="Catalogue table (nba).")]


def _open(s: Settings, source: str, *, any_engine: bool = False) -> tuple[DuckDBEngine, QueryLog]:
    """The engines' sandbox with a longer deadline (frames are read in partitions below the row cap). On DuckDB
    only unless ``any_engine`` (a command that only reads, with SQL every engine runs)."""
    return common.open_bulk_sandbox(s, source, duckdb_only=not any_engine, min_timeout=120.0)


def _progress(json_out: bool) -> Any:
    """A Rich progress line on a terminal's stderr; nothing off a terminal or with --json."""
    import sys

    if json_out or not sys.stderr.isatty():
        return nullcontext(lambda _m: None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    class _Bar:
        def __enter__(self) -> Any:
            self.p = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                              console=common.err(), transient=True)
            self.p.__enter__()
            self.t = self.p.add_task("starting")
            return lambda message: self.p.update(self.t, description=message)

        def __exit__(self, *exc: object) -> None:
            self.p.__exit__(*exc)  # type: ignore[arg-type]

    return _Bar()


def _options(holdout: float, folds: int, kfold_rows: int, seed: int, allow: list[str] | None) -> TrainOptions:
    from finmatch_agents.predict.train import TrainOptions

    return TrainOptions(holdout=holdout, folds=folds, kfold_rows=kfold_rows, seed=seed, allow=tuple(allow or ()))


def _train(s: Settings, task: str, options: TrainOptions, json_out: bool, source: str) -> tuple[Any, str | None,
                                                                                               QueryLog]:
    from finmatch_agents.match.store import fingerprint
    from finmatch_agents.predict.models import limit_threads, require_sklearn
    from finmatch_agents.predict.tasks import get_task
    from finmatch_agents.predict.train import train_task

    get_task(task)
    require_sklearn()
    engine, log = _open(s, source, any_engine=True)
    with engine:
        common.require_table(engine, s.table)
        with _progress(json_out) as say, limit_threads(s.effective_threads):
            result = train_task(engine, log, s.table, task, options, progress=say)
        fp = fingerprint(engine, log, s.table)
    return result, fp, log


@app.command()
def train(
    task: TaskArg,
    holdout: HoldoutOpt = 0.2,
    folds: FoldsOpt = 5,
    kfold_rows: KfoldRowsOpt = 30_000,
    seed: SeedOpt = 42,
    allow_feature: AllowOpt = None,
    promote: Annotated[bool, typer.Option("--promote", help="Promote the saved model (scoring uses it).")] = False,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Train a task's models, evaluate them on a time-ordered holdout and save the one the gate keeps.

    The gradient-boosted model is kept only if it beats the logistic baseline on the holdout (paired
    bootstrap interval above 0); otherwise the baseline is saved. Prints both splits, the bank's own score,
    calibration, what the leakage guard excluded and why.
    """
    from finmatch_agents.predict import registry

    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    options = _options(holdout, folds, kfold_rows, seed, allow_feature)
    result, fp, log = _train(s, task, options, json_out, "predict-train")
    info = registry.save(s.state_dir, result, db=str(s.db), fingerprint=fp)
    promoted = False
    if promote:
        registry.promote(s.state_dir, info.id)
        promoted = True
    if json_out:
        common.emit_json({"model_id": info.id, "promoted": promoted, "path": str(info.path), "fingerprint": fp,
                          **result.summary(), "query_log": [q.public() for q in log.records]})
        return
    _render_training(result.summary(), result.task.unit)
    console = common.out()
    state = "[green]promoted[/]" if promoted else f"not promoted (`finmatch predict promote {info.id}`)"
    console.print(f"Saved model [bold]{info.id}[/] ({info.meta['label']}) in {info.path.parent}: {state}.")


@app.command()
def evaluate(
    task: TaskArg,
    holdout: HoldoutOpt = 0.2,
    folds: FoldsOpt = 5,
    kfold_rows: KfoldRowsOpt = 30_000,
    seed: SeedOpt = 42,
    allow_feature: AllowOpt = None,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Evaluate a task exactly as `train` does, without saving a model (try `--allow-feature` safely here)."""
    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    options = _options(holdout, folds, kfold_rows, seed, allow_feature)
    result, fp, log = _train(s, task, options, json_out, "predict-evaluate")
    if json_out:
        common.emit_json({**result.summary(), "fingerprint": fp, "query_log": [q.public() for q in log.records]})
        return
    _render_training(result.summary(), result.task.unit)


def _interval(d: dict[str, Any] | None, digits: int = 3, signed: bool = False) -> str:
    if not d:
        return "—"
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f"{f.format(d['value'])} [{f.format(d['low'])}, {f.format(d['high'])}]"


def _render_training(t: dict[str, Any], unit: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.formatting import fmt_count, fmt_pct

    console = common.out()
    sp = t["split"]
    console.print(f"[bold]{t['task']}[/] on {escape(t['table'])}: {fmt_count(t['rows'])} {unit}s, "
                  f"{fmt_count(t['positives'])} positive ({fmt_pct(t['positives'] / t['rows'])}); "
                  f"{len(t['features'])} inputs; {t['timings']['total']:.1f} s.")
    if "first_date" in sp:
        window = (f"learn {sp['first_date']} to the day before {sp['test_from']} ({fmt_count(sp['train_rows'])}), "
                  f"test {sp['test_from']} to {sp['last_date']} ({fmt_count(sp['test_rows'])})")
    else:
        window = (f"learn the first {fmt_count(sp['train_rows'])} rows in file order, test the last "
                  f"{fmt_count(sp['test_rows'])} (from {escape(sp['test_from_row'])})")
    console.print(f"[bold]Time-ordered holdout[/] (the headline): {window}.")
    view = Table(title="Holdout (95% bootstrap intervals)", title_justify="left")
    for col in ("score", "AUC", "PR-AUC", "Brier", "lift top 10%", "gain top 30%"):
        view.add_column(col, justify="left" if col == "score" else "right")
    names = {"logistic": "logistic regression (baseline)", "gbm": "gradient boosting",
             "bank_score": f"bank's {t['comparisons'].get('bank_score', 'score')} (not a probability)"}
    for key, card in t["holdout"].items():
        lift = {round(r["top"], 2): r for r in card["lift"]}
        label = names[key] + (" [bold]← kept[/]" if key == t["kept"] else "")
        view.add_row(label, _interval(card["auc"]), _interval(card["pr_auc"]), _interval(card["brier"], 4),
                     f"{lift[0.1]['lift']:.2f}×" if 0.1 in lift else "—",
                     fmt_pct(lift[0.3]["gain"]) if 0.3 in lift else "—")
    console.print(view)
    console.print(f"[bold]Gate:[/] {escape(t['verdict'])}.")
    vs = t["comparisons"].get("kept_minus_bank_score_auc")
    if vs:
        word = ("better than" if vs["low"] > 0 else "worse than" if vs["high"] < 0 else "no clear difference from")
        console.print(f"Kept model versus the bank's {t['comparisons']['bank_score']}: AUC {_interval(vs, signed=True)}"
                      f" — {word} the bank's score.")
    k = t["kfold"]
    if k.get("folds"):
        parts = [f"{names[m].split(' (')[0]} {v['mean']:.3f} ({v['min']:.3f}–{v['max']:.3f})"
                 for m, v in k["models"].items()]
        kept_gap = k["models"][t["kept"]]["mean"] - t["holdout"][t["kept"]]["auc"]["value"]
        console.print(f"Random {k['folds']}-fold AUC beside it, on {fmt_count(k['rows'])} "
                      f"{'sampled ' if k['sampled'] else ''}rows: " + "; ".join(parts)
                      + f". The random split reads {kept_gap:+.3f} AUC against the time-ordered holdout for the "
                        "kept model.")
    cal = t["holdout"][t["kept"]]["calibration"]
    if cal:
        table = Table(title="Calibration of the kept model on the holdout (equal-count bins)", title_justify="left")
        for col in ("bin", "rows", "predicted", "observed"):
            table.add_column(col, justify="right")
        for b in cal:
            table.add_row(str(b["bin"]), fmt_count(b["n"]), fmt_pct(b["predicted"]), fmt_pct(b["observed"]))
        console.print(table)
    guard = Table(title="Leakage guard: inputs left out, and why", title_justify="left")
    for col in ("column", "rule", "reason"):
        guard.add_column(col, overflow="fold")
    for e in t["excluded"]:
        rule = e["rule"] if e["rule"] != "leak-auc" else "[red]leak-auc[/]"
        guard.add_row(escape(e["column"]), rule, escape(e["reason"]))
    console.print(guard)
    top = list(t["single_feature_auc"].items())[:3]
    if top:
        console.print("Strongest single inputs on the holdout (flagged from 0.9): "
                      + ", ".join(f"{escape(n)} {v:.3f}" for n, v in top) + ".")
    imp = Table(title="Permutation importance of the kept model (holdout AUC drop)", title_justify="left")
    imp.add_column("input")
    imp.add_column("AUC drop", justify="right")
    for r in t["importance"][:8]:
        imp.add_row(escape(r["feature"]), f"{r['auc_drop']:+.4f} ± {r['sd']:.4f}")
    console.print(imp)
    for note in t["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")


def _resolve(s: Settings, model: str) -> ModelInfo:
    from finmatch_agents.errors import UsageError
    from finmatch_agents.predict import registry
    from finmatch_agents.predict.tasks import TASKS

    if model in TASKS:
        info = registry.promoted(s.state_dir, model)
        if info is None:
            raise UsageError(f"MODEL: no promoted {model} model in {registry.root(s.state_dir)}",
                             hint=f"train one with `finmatch predict train {model} --promote`")
        return info
    return registry.get(s.state_dir, model)


@app.command()
def score(
    target: Annotated[str, typer.Argument(help="conversion, churn, nba (next best action, from the conversion "
                                               "model), or a model id.", show_default=False, metavar="TARGET")],
    customer: Annotated[str | None, typer.Option("--customer", metavar="ID", show_default=False,
                                                 help="Score one customer and print it (writes nothing).")] = None,
    all_offers: Annotated[bool, typer.Option("--all-offers", help="conversion: score every offer, not only the "
                                                                  "open ones.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="nba: products per customer.")] = 1,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    products: ProductsOpt = "products",
    engine_name: Annotated[str | None, typer.Option(
        "--engine", envvar="FINMATCH_ENGINE", show_default=False, metavar="duckdb|spark|databricks",
        help="Engine for --customer (one customer, nothing written): duckdb, spark or databricks. Batch scoring "
             "writes the scores table, so it runs on DuckDB.")] = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Score with the promoted model (or MODEL) and write the `scores` table (all-or-nothing; the model id and
    data fingerprint are recorded in `score_runs`). With --customer: one customer, printed, nothing written."""
    from finmatch_agents.assumptions import load_assumptions
    from finmatch_agents.match.store import fingerprint
    from finmatch_agents.predict import registry
    from finmatch_agents.predict.explain import reasons
    from finmatch_agents.predict.models import limit_threads
    from finmatch_agents.predict.nba import next_best_actions
    from finmatch_agents.predict.score import score_batch, score_customer, write_scores

    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    nba = target == "nba"
    info = _resolve(s, "conversion" if nba else target)
    model = registry.load(info)
    started = time.perf_counter()
    engine, log = _open(s, "predict-score", any_engine=bool(customer) and not nba)  # one customer: nothing written
    with engine, limit_threads(s.effective_threads):  # predicting uses OpenMP too: the same cap as the fits
        common.require_table(engine, s.table)
        if nba:
            threshold = float(load_assumptions(s)["high_churn_threshold"])
            actions = next_best_actions(engine, log, s.table, info, model, products=products, top=top,
                                        high_churn_threshold=threshold,
                                        customers=[customer] if customer else None)
            rows, task, summary = actions.table(), "nba", actions.summary()
            queries = actions.queries
        elif customer:
            frame, p = score_customer(engine, log, s.table, info, model, customer)
            why = reasons(model, frame.X, frame.features, info.meta["reference"])
            out = {"model_id": info.id, "task": info.task, "customer_id": customer,
                   "ms": round((time.perf_counter() - started) * 1000, 1),
                   "rows": [{"row_id": str(frame.row_id[i]), "score": float(p[i]), "reasons": why[i],
                             **({"product_id": str(frame.extra["product_id"][i])} if info.task == "conversion" else {})}
                            for i in range(len(p))]}
            if json_out:
                common.emit_json(out)
            else:
                _render_customer(out)
            return
        else:
            scored = score_batch(engine, log, s.table, info, model, every_offer=all_offers)
            rows, task, queries = scored.table(), info.task, scored.frame.queries
            p = scored.scores
            summary = {"rows": len(p), "mean_score": float(p.mean()) if len(p) else None,
                       "expected_positives": float(p.sum())}
        fp = fingerprint(engine, log, s.table)
    if customer:  # nba for one customer: print, write nothing
        if json_out:
            common.emit_json({"model_id": info.id, "task": "nba", "customer_id": customer, **summary,
                              "actions": rows.to_pylist()})
        else:
            _render_actions(rows.to_pylist(), summary)
        return
    details = {"table": s.table, "fingerprint": fp, "model_fingerprint": info.meta.get("fingerprint"),
               "queries": queries, "summary": summary}
    run_id = write_scores(s.db, task, info.id, rows, details)
    elapsed = time.perf_counter() - started
    if json_out:
        common.emit_json({"score_run_id": run_id, "model_id": info.id, "task": task, "rows": rows.num_rows,
                          "seconds": round(elapsed, 2), "fingerprint": fp, "summary": summary,
                          "query_log": [q.public() for q in log.records]})
        return
    _render_scores(task, info, rows.num_rows, summary, run_id, elapsed, fp)


def _render_customer(out: dict[str, Any]) -> None:
    from rich.markup import escape

    from finmatch_agents.formatting import fmt_pct

    console = common.out()
    if not out["rows"]:
        console.print(f"Customer {escape(out['customer_id'])}: nothing to score with {out['model_id']} "
                      "(no open offer, or not in the data).")
        return
    for r in out["rows"]:
        what = f"offer {escape(r['row_id'])} ({escape(r.get('product_id', ''))})" if out["task"] == "conversion" \
            else "churn risk"
        console.print(f"[bold]{escape(out['customer_id'])}[/] {what}: {fmt_pct(r['score'])}")
        for reason in r["reasons"]:
            console.print(f"  {reason['direction']} {abs(reason['effect']) * 100:.1f} pp: {escape(reason['feature'])} "
                          f"is {escape(reason['value'])} (typical {escape(reason['typical'])})")
    console.print(f"[dim]model {out['model_id']}; {out['ms']:.0f} ms[/]")


def _render_actions(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from rich.markup import escape

    from finmatch_agents.formatting import fmt_pct

    console = common.out()
    if not rows:
        console.print("No suitable product for this customer.")
    for r in rows:
        console.print(f"{r['rank']}. {escape(str(r['product_id']))} ({escape(str(r['product_type']))}): propensity "
                      f"{fmt_pct(r['score'])}, expected value {r['expected_value']:,.2f} ({summary['value_unit']})")
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")


def _render_scores(task: str, info: ModelInfo, rows: int, summary: dict[str, Any], run_id: str, elapsed: float,
                   fp: str | None) -> None:
    from rich.markup import escape

    from finmatch_agents.formatting import fmt_count, fmt_pct

    console = common.out()
    console.print(f"[bold]Scored {task}[/] with {info.id} ({info.meta['label']}; holdout AUC "
                  f"{info.holdout_auc():.3f}) in {elapsed:.1f} s → table [bold]scores[/] ({fmt_count(rows)} rows, "
                  f"run {run_id}, data fingerprint {fp}).")
    if task == "nba":
        console.print(f"{fmt_count(summary['with_action'])} of {fmt_count(summary['customers'])} customers have a "
                      f"suitable product; {fmt_count(summary['without_suitable_product'])} have none. Expected value "
                      f"of the first actions: {summary['total_expected_value']:,.0f} ({summary['value_unit']}).")
        for note in summary["notes"]:
            console.print(f"[yellow]note:[/] {escape(note)}")
    elif rows:
        console.print(f"Mean score {fmt_pct(summary['mean_score'])}; expected positives "
                      f"{summary['expected_positives']:,.0f} of {fmt_count(rows)}.")
    if info.meta.get("fingerprint") and fp and info.meta["fingerprint"] != fp:
        console.print("[yellow]note:[/] the data changed since the model was trained; `finmatch predict monitor` "
                      "shows how far it drifted.")


@app.command("explain")
def explain_cmd(
    model: ModelArg,
    customer: Annotated[str | None, typer.Option("--customer", metavar="ID", show_default=False,
                                                 help="Top reasons for this customer's score.")] = None,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Permutation importance of a model (from its holdout); with --customer, the top reasons for one score."""
    from rich.markup import escape
    from rich.table import Table

    common.want_json(json_out)
    s = common.settings(db=db, table=table)
    info = _resolve(s, model)
    if customer:
        # the same path as `score --customer`: one customer's rows, scores and reasons
        score(target=info.id, customer=customer, all_offers=False, top=1, db=db, table=table, products="products",
              json_out=json_out)
        return
    importance = info.meta["training"]["importance"]
    if json_out:
        common.emit_json({"model_id": info.id, "importance": importance})
        return
    view = Table(title=f"{info.id}: permutation importance on its holdout (AUC drop when the input is shuffled)",
                 title_justify="left")
    view.add_column("input")
    view.add_column("AUC drop", justify="right")
    for r in importance:
        view.add_row(escape(r["feature"]), f"{r['auc_drop']:+.4f} ± {r['sd']:.4f}")
    common.out().print(view)


@app.command("list")
def list_cmd(
    task: Annotated[str | None, typer.Option("--task", help="Only this task's models.", show_default=False)] = None,
    json_out: common.JsonOpt = False,
) -> None:
    """The registered models, newest first (* = promoted)."""
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.predict import registry

    common.want_json(json_out)
    s = common.settings()
    models = registry.list_models(s.state_dir, task)
    promoted = set(registry.promoted_ids(s.state_dir).values())
    if json_out:
        common.emit_json({"models": [{"id": m.id, "task": m.task, "kind": m.meta["kind"], "created_at":
                                      m.meta["created_at"], "table": m.meta["table"], "holdout_auc": m.holdout_auc(),
                                      "promoted": m.id in promoted, "leaky": m.leaky} for m in models]})
        return
    if not models:
        common.out().print(f"No models in {registry.root(s.state_dir)}; train one with `finmatch predict train "
                           "conversion`.")
        return
    view = Table(title=f"Models in {registry.root(s.state_dir)}", title_justify="left")
    for col in ("", "model", "task", "type", "holdout AUC", "table", "created"):
        view.add_column(col, justify="right" if col == "holdout AUC" else "left")
    for m in models:
        auc = m.holdout_auc()
        view.add_row("*" if m.id in promoted else "", m.id, m.task, m.meta["label"],
                     f"{auc:.3f}" if auc is not None else "—", escape(m.meta["table"]), m.meta["created_at"])
    common.out().print(view)


@app.command()
def show(model: ModelArg, json_out: common.JsonOpt = False) -> None:
    """Everything recorded with a model: inputs, exclusions, both splits, metrics, parameters."""
    from finmatch_agents.predict import registry

    common.want_json(json_out)
    s = common.settings()
    info = _resolve(s, model)
    if json_out:
        common.emit_json({k: v for k, v in info.meta.items() if k != "snapshot"})
        return
    promoted = registry.promoted_ids(s.state_dir).get(info.task) == info.id
    common.out().print(f"[bold]{info.id}[/] — {info.meta['label']}, task {info.task}, created {info.meta['created_at']}"
                       f"{' (promoted)' if promoted else ''}; trained on {info.meta['table']} of {info.meta['db']} "
                       f"(fingerprint {info.meta['fingerprint']}); scikit-learn {info.meta['sklearn']}.")
    _render_training(info.meta["training"], "offer" if info.task == "conversion" else "customer")


@app.command("promote")
def promote_cmd(model: Annotated[str, typer.Argument(help="The model id.", show_default=False, metavar="MODEL")],
                json_out: common.JsonOpt = False) -> None:
    """Make MODEL the one its task scores with (refused for a model trained with an after-outcome input)."""
    from finmatch_agents.predict import registry

    common.want_json(json_out)
    s = common.settings()
    info = registry.promote(s.state_dir, model)
    if json_out:
        common.emit_json({"promoted": info.id, "task": info.task})
        return
    common.out().print(f"Promoted {info.id} for {info.task} (holdout AUC {info.holdout_auc():.3f}).")


@app.command("delete")
def delete_cmd(model: Annotated[str, typer.Argument(help="The model id.", show_default=False, metavar="MODEL")],
               json_out: common.JsonOpt = False) -> None:
    """Delete a model from the registry (a promoted one leaves its task without a promoted model)."""
    from finmatch_agents.predict import registry

    common.want_json(json_out)
    s = common.settings()
    info, was = registry.delete(s.state_dir, model)
    if json_out:
        common.emit_json({"deleted": info.id, "was_promoted": was})
        return
    common.out().print(f"Deleted {info.id}" + (f"; {info.task} has no promoted model now." if was else "."))


@app.command()
def monitor(
    model: ModelArg = "conversion",
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    record: Annotated[bool, typer.Option("--record", help="Append the result to the model_drift tables of the "
                                         "database (the analysis reports, and so `finmatch diff`, show the newest "
                                         "one for the data it was measured on).")] = False,
    json_out: common.JsonOpt = False,
) -> None:
    """Population stability (PSI) of every input and of the score since training (0.1 watch, 0.25 act), and
    the model's metrics on outcomes that arrived after its training data."""
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.match.store import fingerprint
    from finmatch_agents.predict import registry
    from finmatch_agents.predict.monitor import monitor_model, record_drift, summarise

    common.want_json(json_out)
    s = common.settings(db=db, table=table)
    info = _resolve(s, model)
    fitted = registry.load(info)
    engine, log = _open(s, "predict-monitor")
    with engine:
        common.require_table(engine, s.table)
        result = monitor_model(engine, log, s.table, info, fitted)
        fp = fingerprint(engine, log, s.table) if record else None
    drift_run_id = None
    if record:
        assert fp is not None
        drift_run_id = record_drift(s.db, result, summarise(result), table=s.table, fingerprint=fp,
                                    source="predict monitor")
    if json_out:
        common.emit_json({**result, "summary": summarise(result), "drift_run_id": drift_run_id,
                          "query_log": [q.public() for q in log.records]})
        return
    st = result["stability"]
    console = common.out()
    console.print(f"[bold]{info.id}[/]: score PSI {st['score']['psi']:.3f} ({st['score']['level']}) between training "
                  f"({st['rows']['training']:,} rows) and now ({st['rows']['current']:,} rows); thresholds 0.1 watch, "
                  "0.25 act.")
    view = Table(title="Inputs by population stability index (worst first)", title_justify="left")
    for col in ("input", "PSI", "level"):
        view.add_column(col, justify="right" if col == "PSI" else "left")
    for r in st["features"][:12]:
        view.add_row(escape(r["feature"]), f"{r['psi']:.3f}", r["level"])
    console.print(view)
    new = result["new_outcomes"]
    if "metrics" in new:
        m = new["metrics"]
        console.print(f"New outcomes after {new['after']}: {new['rows']:,} rows, AUC {_interval(m['auc'])} "
                      f"(holdout at training {info.holdout_auc():.3f}).")
    else:
        console.print(f"[yellow]{escape(new['note'])}[/]")
    if drift_run_id:
        console.print(f"Recorded as {drift_run_id} in model_drift ({escape(str(s.db))}).", highlight=False)
