"""``finmatch match``: the product-matching engine (which product for which customer, why, is it suitable).

Thin: options and rendering here, the engine in :mod:`finmatch_agents.match`. NumPy, DuckDB and the engine
are imported inside the commands so that ``finmatch --help`` stays fast.
"""

from __future__ import annotations

import time
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finmatch_agents.cli import common

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.match.params import MatchParams

app = typer.Typer(help="The product-matching engine: suitability gates, Mahalanobis matching, preference "
                       "refinement, and the bank's weight disclosed.", no_args_is_help=True)

ModeOpt = Annotated[str, typer.Option("--mode", help="active (Mahalanobis), passive (retention-first weighted "
                                                     "distance) or auto (passive from the high-churn threshold).")]
TopOpt = Annotated[int | None, typer.Option("--top", min=1, show_default=False,
                                            help="Offers per customer (default 3, or the catalogue size if smaller).")]
WeightsOpt = Annotated[str | None, typer.Option(
    "--weights", metavar="DIM=W,...", show_default=False,
    help="Dimension weights (risk, complexity, revenue, retention, value, bank_risk), e.g. 'revenue=0,bank_risk=2'; "
         "0 leaves a dimension out.")]
ShortlistOpt = Annotated[int | None, typer.Option(
    "--shortlist", min=1, show_default=False, help="Suitable products stage 1 passes to stage 2 (default 2 × --top).")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", metavar="NAME", show_default=False,
    help="Re-rank the shortlist with this model ([models.NAME] in finmatch.toml): suitable products only, one-line "
         "reasons, PII masked, at most 2 calls; the engine's order stands if the answer is invalid.")]
DEFAULT_TOP = 3
ProductsOpt = Annotated[str, typer.Option("--products", metavar="TABLE", help="Catalogue table.")]


def _params(s: Settings, mode: str, top: int | None, weights: str | None, shortlist: int | None,
            products: int | None = None) -> MatchParams:
    """The run's parameters; without --top, 3 offers or as many as the catalogue has (an explicit --top
    larger than the catalogue is an error)."""
    from finmatch_agents.assumptions import load_assumptions
    from finmatch_agents.match.params import MatchParams, parse_weights

    threshold = float(load_assumptions(s)["high_churn_threshold"])
    if top is None:
        top = min(DEFAULT_TOP, products) if products else DEFAULT_TOP
    return MatchParams(mode=mode, top=top, weights=parse_weights(weights), shortlist=shortlist,
                       high_churn_threshold=threshold)


def _queries(log: QueryLog) -> list[dict[str, Any]]:
    return [q.public() for q in log.records]


def _notes(notes: list[str]) -> None:
    from rich.markup import escape

    console = common.out()
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


@app.command()
def run(
    mode: ModeOpt = "auto",
    top: TopOpt = None,
    weights: WeightsOpt = None,
    shortlist: ShortlistOpt = None,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    products: ProductsOpt = "products",
    json_out: common.JsonOpt = False,
) -> None:
    """Score every customer and write the `matches` table (all-or-nothing, versioned with its parameters).

    Prints the gates' effect, the modes, the distance space and how many first offers the bank's own
    attributes (revenue potential, risk to bank) change against a customer-interest-only ranking.
    """
    from finmatch_agents.errors import DataError
    from finmatch_agents.features import build_customer_features, present_columns
    from finmatch_agents.features.products import load_catalogue
    from finmatch_agents.match import store
    from finmatch_agents.match.engine import match_customers

    common.want_json(json_out)
    s = common.settings(db=db, table=table)
    _params(s, mode, top, weights, shortlist)  # bad flags fail before any work
    started = time.perf_counter()
    engine, log = common.open_bulk_sandbox(s, "match-run", duckdb_only=True)
    with engine:
        common.require_table(engine, s.table)
        present = present_columns(engine, s.table, products)
        catalogue = load_catalogue(engine, log, present, products)
        params = _params(s, mode, top, weights, shortlist, catalogue.m)
        features = build_customer_features(engine, log, s.table, present, products=products)
        if features.n == 0:
            raise DataError(f"{s.table} has no customers to match")
        result = match_customers(features, catalogue, params)
        run_id = store.new_run_id()
        details: dict[str, Any] = {"run_id": run_id, "table": s.table, "products": products,
                   "fingerprint": store.fingerprint(engine, log, s.table),
                   "products_fingerprint": store.fingerprint(engine, log, products),
                   "customers": features.n, "params": params.to_dict(),
                   "queries": {**features.queries, "features/products": catalogue.query_id}}
    summary = result.summary()
    written = store.write_matches(s.db, store.matches_table(result, catalogue), details, summary)
    elapsed = time.perf_counter() - started
    if json_out:
        common.emit_json({"run_id": details["run_id"], "db": str(s.db), "table": store.MATCHES, "rows": written,
                          "seconds": round(elapsed, 2), **{k: v for k, v in details.items() if k != "queries"},
                          "summary": summary, "queries": _queries(log)})
        return
    _render_run(details, summary, written, catalogue.m, params, elapsed, log)


def _render_run(details: dict[str, Any], summary: dict[str, Any], rows: int, products: int, params: MatchParams,
                elapsed: float, log: QueryLog) -> None:
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.formatting import fmt_count, fmt_pct

    console = common.out()
    n = summary["customers"]
    console.print(f"[bold]Matched {fmt_count(n)} customers × {products} products[/] in {elapsed:.1f} s → table "
                  f"[bold]matches[/] ({fmt_count(rows)} offers, top {params.top}; run {details['run_id']}, data "
                  f"fingerprint {details['fingerprint']}).")
    if summary["space"]["dims"]:
        console.print(f"Modes: {fmt_count(summary['active'])} active (Mahalanobis), {fmt_count(summary['passive'])} "
                      f"passive (weighted vector distance, retention first"
                      + (f"; churn ≥ {params.high_churn_threshold:g}" if params.mode == "auto" else "") + ").")
    else:
        console.print("Ranking: suitability gates only (no distance; see the notes).")
    console.print(f"Suitable products per customer: {summary['mean_suitable_products']:.1f} on average; "
                  f"{fmt_count(summary['customers_without_suitable_product'])} customers have none.")
    gates = Table(title="Suitability gates (stage 1)", title_justify="left")
    for col, justify in (("rule", "left"), ("gate", "left"), ("pairs failing", "right"),
                         ("customers affected", "right"), ("status", "left")):
        gates.add_column(col, justify=justify)  # type: ignore[arg-type]
    for rid, g in summary["gates"].items():
        status = "applied" if g["applied"] else f"[yellow]skipped: {escape(g['skipped_because'])}[/]"
        gates.add_row(rid, g["name"], fmt_count(g["pairs_failing"]) if g["applied"] else "",
                      fmt_count(g["customers_affected"]) if g["applied"] else "", status)
    console.print(gates)
    space = summary["space"]
    if space["dims"]:
        console.print(f"Distance space: {', '.join(space['dims'])} (catalogue covariance rank {space['rank']}, "
                      f"Ledoit-Wolf shrinkage {space['shrinkage']:.2f}).")
    bw = summary["business_weight"]
    console.print(f"[bold]Business weight:[/] revenue potential and risk to bank change the first offer for "
                  f"{fmt_count(bw['top1_changed_by_bank_weights'])} of {fmt_count(bw['customers_compared'])} "
                  f"customers ({fmt_pct(bw['top1_changed_share'])}) against the customer-interest-only ranking.")
    if summary["top1_products"]:
        firsts = Table(title="Most frequent first offers", title_justify="left")
        firsts.add_column("product")
        firsts.add_column("customers", justify="right")
        for pid, count in list(summary["top1_products"].items())[:5]:
            firsts.add_row(escape(str(pid)), fmt_count(count))
        console.print(firsts)
    _notes(summary["notes"])
    console.print(f"[dim]{len(log.records)} queries ({log.records[0].id}–{log.records[-1].id}); "
                  "`finmatch match run --json` lists them. Read the offers with "
                  "`finmatch sql \"SELECT * FROM matches WHERE customer_id = '...'\"`.[/]")


@app.command()
def customer(
    customer_id: Annotated[str, typer.Argument(help="The customer to explain.", show_default=False)],
    mode: ModeOpt = "auto",
    top: TopOpt = None,
    weights: WeightsOpt = None,
    shortlist: ShortlistOpt = None,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    products: ProductsOpt = "products",
    model: ModelOpt = None,
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Explain one customer: metrics and their inputs, every product's gates and distance, the final ranking.

    With --model, a model re-orders the engine's shortlist (suitable products only) with a reason for each.
    """
    from finmatch_agents.features import present_columns
    from finmatch_agents.features.products import load_catalogue
    from finmatch_agents.match.explain import explain_customer_id

    common.want_json(json_out)
    s = common.settings(db=db, table=table, engine=engine_name)
    _params(s, mode, top, weights, shortlist)
    engine, log = common.open_bulk_sandbox(s, "match-customer")
    with engine:
        common.require_table(engine, s.table)
        present = present_columns(engine, s.table, products)
        catalogue = load_catalogue(engine, log, present, products)
        params = _params(s, mode, top, weights, shortlist, catalogue.m)
        detail = explain_customer_id(engine, log, s.table, present, params, customer_id, products=products,
                                     catalogue=catalogue)
    reranked = _rerank(s, model, detail, params) if model else None
    if json_out:
        common.emit_json({**detail, **({"rerank": reranked.to_dict()} if reranked else {}), "queries": _queries(log)})
        return
    _render_customer(detail, params)
    if reranked is not None:
        _render_rerank(reranked)


def _rerank(s: Settings, name: str, detail: dict[str, Any], params: MatchParams) -> Any:
    """Stage 2 by a model (``--model``); ``offline`` keeps the documented rules."""
    from finmatch_agents.errors import ModelError
    from finmatch_agents.llm.calls import Budget
    from finmatch_agents.llm.models import OFFLINE, build_chat_model, resolve_model
    from finmatch_agents.llm.pii import Masker, load_key
    from finmatch_agents.llm.registry import llm_limits, privacy
    from finmatch_agents.llm.rerank import LIMITS, rerank

    if name == OFFLINE:
        return None
    cfg = resolve_model(name, s)
    limits = llm_limits(s)
    columns, _unmask = privacy(s)
    masker = Masker.for_settings(load_key(s.state_dir), columns, s)
    result = rerank(detail, params.top, cfg=cfg, chat=build_chat_model(cfg), masker=masker,
                    budget=Budget(min(LIMITS.max_turns, limits["max_calls_per_run"]), limits["max_tokens_per_run"]))
    if result.source == "offline" and result.model_calls and not s.model_fallback:
        raise ModelError(f"--model {name}: no usable ranking ({result.fallback_reason})",
                         hint="drop --model for the engine's own order, or allow the fallback (model_fallback)")
    return result


def _render_rerank(r: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = common.out()
    if r.source == "offline":
        console.print(f"[yellow]note:[/] model {escape(r.model)} gave no usable ranking "
                      f"({escape(r.fallback_reason or 'no answer')}); the engine's order stands.")
        return
    view = Table(title=f"Re-ranked by {r.model} (suitable shortlist only; first {r.top} offered)",
                 title_justify="left")
    for col in ("rank", "product", "engine rank", "reason"):
        view.add_column(col, justify="right" if "rank" in col else "left", overflow="fold")
    for i, row in enumerate(r.ranking, 1):
        view.add_row(str(i), escape(f"{row['product_id']} {row['product_name']}"), str(row["engine_rank"]),
                     escape(row["reason"]))
    console.print(view)


def _render_customer(d: dict[str, Any], params: MatchParams) -> None:
    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.formatting import fmt_num

    console = common.out()
    console.print(f"[bold]Customer {escape(d['customer_id'])}[/] — {d['mode']} mode ({escape(d['mode_reason'])}); "
                  f"{d['suitable_products']} suitable products.")
    metrics = Table(title="Metrics (0–1)", title_justify="left")
    for col in ("metric", "value", "inputs"):
        metrics.add_column(col, justify="right" if col == "value" else "left", overflow="fold")
    for m in d["metrics"]:
        if not m["present"]:
            metrics.add_row(m["label"], "absent", f"[yellow]{escape(m['reason'])}[/]")
            continue
        inputs = ", ".join(f"{k} {fmt_num(v)}" + (f" ×{m['weights'][k]:g}" if m["weights"] else "")
                           if v is not None else f"{k} unknown" for k, v in m["inputs"].items())
        metrics.add_row(m["label"], fmt_num(m["value"]) if m["value"] is not None else "unknown", escape(inputs))
    console.print(metrics)
    offers = Table(title=f"Offers (top {params.top})", title_justify="left")
    for col in ("rank", "product", "distance", "preference", "customer-interest rank"):
        offers.add_column(col, justify="left" if col == "product" else "right")
    for o in d["offers"]:
        offers.add_row(str(o["rank"]), escape(f"{o['product_id']} {o['product_name']}"), fmt_num(o["distance"], 3),
                       fmt_num(o["points"]), str(o["customer_interest_rank"]))
    console.print(offers if d["offers"] else "[yellow]No product passes every gate for this customer.[/]")
    if d["bank_weights_change_first"]:
        console.print(f"[bold]Business weight:[/] without the bank's attributes the first offer would be "
                      f"{escape(str(d['customer_interest_first']))}.")
    products = Table(title="Every product: gates (stage 1a), distance (1b), preference (2)", title_justify="left")
    for col in ("product", "gates", "distance", "pref", "place"):
        products.add_column(col, justify="right" if col in ("distance", "pref", "place") else "left",
                            overflow="fold")
    for p in sorted(d["products"], key=lambda p: (p["rank"] is None, p["rank"] or 0, p["distance"] or 0)):
        failed = [g for g in p["gates"] if g["status"] == "fail"]
        gates = "pass" if not failed else "; ".join(f"{g['rule']} {g['reason']}" for g in failed)
        place = str(p["rank"]) if p["rank"] is not None else "—"
        products.add_row(escape(f"{p['product_id']} {p['product_name']}"),
                         escape(gates) if failed else "[green]pass[/]", fmt_num(p["distance"], 3),
                         fmt_num(p["points"]), place + (" *" if p["shortlisted"] else ""))
    console.print(products)
    console.print("[dim]* shortlisted by distance for stage 2. Gate rules: "
                  + "; ".join(f"{rid} {g['name']}" for rid, g in d["gate_rules"].items()) + ".[/]")
    _notes(d["notes"])


@app.command()
def evaluate(
    mode: ModeOpt = "auto",
    top: TopOpt = None,
    weights: WeightsOpt = None,
    shortlist: ShortlistOpt = None,
    test_from: Annotated[str | None, typer.Option("--test-from", metavar="YYYY-MM-DD", show_default=False,
                                                  help="Cut-off: learn before it, test offers from it "
                                                       "(default: the date with 75% of the records before it).")]
    = None,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
    products: ProductsOpt = "products",
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Backtest on history with a time holdout: acceptance of the offers the engine would have made versus
    the rest, and precision@K / recall@K against popularity and the bank's recommendation score."""
    from finmatch_agents.errors import UsageError
    from finmatch_agents.features import present_columns
    from finmatch_agents.match.evaluate import evaluate as run_backtest

    common.want_json(json_out)
    cutoff = None
    if test_from is not None:
        try:
            cutoff = date.fromisoformat(test_from)
        except ValueError:
            raise UsageError(f"--test-from: '{test_from}' is not a date (YYYY-MM-DD)") from None
    s = common.settings(db=db, table=table, engine=engine_name)
    params = _params(s, mode, top, weights, shortlist)
    engine, log = common.open_bulk_sandbox(s, "match-evaluate")
    with engine:
        common.require_table(engine, s.table)
        result = run_backtest(engine, log, s.table, present_columns(engine, s.table, products), params,
                              products=products, test_from=cutoff)
    if json_out:
        common.emit_json({**result.to_dict(), "query_log": _queries(log)})
        return
    _render_evaluation(result.to_dict(), params)


def _render_evaluation(e: dict[str, Any], params: MatchParams) -> None:
    from rich.table import Table

    from finmatch_agents.formatting import fmt_count, fmt_pct, fmt_pp

    console = common.out()
    cal = e["calendar"]
    console.print(f"[bold]Backtest[/]: learn from {cal['first_date']} to the day before {e['cutoff']}, test offers "
                  f"from {e['cutoff']} to {cal['last_date']} (top {params.top}, mode {params.mode}).")
    a = e["acceptance"]

    def interval(r: dict[str, Any], pp: bool = False) -> str:
        f = fmt_pp if pp else fmt_pct
        return f"{f(r['value'])} [{f(r['low'])}, {f(r['high'])}]"

    view = Table(title=f"Acceptance of decided test offers ({fmt_count(a['decided_offers'])}), 95% Wilson intervals",
                 title_justify="left")
    for col, justify in (("offers", "left"), ("n", "right"), ("accepted", "right"), ("acceptance", "right")):
        view.add_column(col, justify=justify)  # type: ignore[arg-type]
    labels = {f"engine_top{params.top}": f"engine would make (top {params.top}, suitable)",
              "not_made": "engine would not make", "suitable_not_top": "  · suitable, not in top",
              "unsuitable": "  · fails a gate"}
    for key, label in labels.items():
        g = a["groups"][key]
        view.add_row(label, fmt_count(g["offers"]), fmt_count(g["accepted"]),
                     interval(g["rate"]) if g["offers"] else "n/a")
    console.print(view)
    diff = a["difference"]
    verdict = "[green]measurably better[/]" if a["measurable"] else "[yellow]not measurably better[/]"
    console.print(f"Would make − would not make: {interval(diff, pp=True)} (Newcombe 95%): {verdict}"
                  + (f"; lift {a['lift']:.2f}×" if a["lift"] else "") + ".")
    if a["first_failing_gate"]:
        gates = Table(title="Offers that fail a gate, by the first gate failed", title_justify="left")
        for col in ("gate", "offers", "acceptance"):
            gates.add_column(col, justify="left" if col == "gate" else "right")
        for rid, g in a["first_failing_gate"].items():
            gates.add_row(f"{rid} {g['name']}", fmt_count(g["offers"]), interval(g["rate"]))
        console.print(gates)
    r = e["ranking"]
    if "methods" in r:
        rank = Table(title=f"Accepted new products in the test window: {fmt_count(r['customers'])} customers "
                           f"(mean, 95% interval)", title_justify="left")
        for col in ("list", f"precision@{params.top}", f"recall@{params.top}"):
            rank.add_column(col, justify="left" if col == "list" else "right")
        names = {"engine": "engine (catalogue)", "popularity": "popularity (catalogue)",
                 "bank_score": "bank's score (its own test offers)",
                 "engine_on_bank_offers": "engine re-ranking the bank's test offers"}
        for key, m in r["methods"].items():
            rank.add_row(names[key], interval(m["precision"]), interval(m["recall"]))
        console.print(rank)
        for key, g in r["gaps"].items():
            console.print(f"{key.replace('_', ' ')}: precision {interval(g['precision'], pp=True)}, recall "
                          f"{interval(g['recall'], pp=True)}")
    else:
        console.print(f"[yellow]{r.get('note', 'no ranking evaluation')}[/]")
    ex = e["excluded"]
    console.print(f"[dim]Test offers {fmt_count(ex['test_offers'])}: left out {fmt_count(ex['new_customers'])} of "
                  f"customers first seen in the test window, {fmt_count(ex['undecided'])} undecided, "
                  f"{fmt_count(ex['product_not_in_catalogue'])} of products not in the catalogue.[/]")
    _notes(e["notes"])
