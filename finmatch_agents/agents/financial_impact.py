"""Financial Impact agent: what the accepted recommendations earn, what the programme costs, how much customer
lifetime value they create and put at risk, where a recommendation earns most, and what the sales and churn
targets would be worth.

Steps and their order are the FinMatch document's. Every figure, including each derived one (revenue, ROI,
lifetime value, projections, ratios), is a column of a named query under ``warehouse/sql/financial``; the
assumptions behind them are echoed by the same queries. Python only selects rows and formats values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from finmatch_agents.agents.base import (
    AgentSpec,
    FindingIndex,
    RecDraft,
    RuleOutput,
    StepContext,
    StepSpec,
    assumed,
    rests_on_defaults,
    xy_chart,
)
from finmatch_agents.agents.matching import UNITS as ENGINE_UNITS
from finmatch_agents.agents.matching import engine_evidence
from finmatch_agents.errors import FinMatchError
from finmatch_agents.formatting import fmt_count, fmt_money, fmt_num, fmt_pct, fmt_pp, fmt_times, is_number
from finmatch_agents.predict.api import promoted_model_summary
from finmatch_agents.stats import Z95

if TYPE_CHECKING:
    from finmatch_agents.records import Finding
    from finmatch_agents.units import Unit

#: ROI from which the programme counts as clearly profitable (revenue per year at least twice its cost)
STRONG_ROI = 1.0
#: share of the sales amount with a catalogue margin below which revenue figures are flagged as incomplete
FULL_COVERAGE = 0.95


# -- formatting helpers (format only; every value comes from a query) --------------------------------------
def _currency(ctx: StepContext) -> str:
    return ctx.currency


def _money(value: Any, currency: str) -> str:
    return fmt_money(value, currency, compact=True)


def _price(value: Any, currency: str) -> str:
    """A small amount with cents ("USD 1.50"), for unit costs and revenue per recommendation."""
    return f"{currency} {fmt_num(value, 2)}" if is_number(value) else "n/a"


def _known(row: dict[str, Any], *keys: str) -> bool:
    return bool(row) and all(is_number(row.get(k)) for k in keys)


def _revenue_columns(key: str, label: str) -> list[tuple[str, str, str]]:
    return [(key, label, "text"), ("recommendations", "Recommendations", "count"),
            ("recommendation_share", "Share of recommendations", "percent"),
            ("acceptance_rate", "Acceptance", "percent"), ("annual_revenue", "Annual revenue", "currency"),
            ("revenue_share", "Share of revenue", "percent"),
            ("revenue_per_recommendation", "Revenue per recommendation", "currency"),
            ("net_per_recommendation", "Net of delivery cost", "currency"),
            ("index_vs_overall", "vs average", "times")]


# -- steps -------------------------------------------------------------------------------------------------
def integrate(ctx: StepContext) -> None:
    """Accepted sales, the period the data covers and how much of the sales the margin catalogue prices."""
    ctx.note("Revenue is accepted sales times the catalogue margin (annual net revenue); lifetime value is that "
             "revenue times the expected lifetime, 1 / churn probability capped by lifetime_cap_years "
             "(definitions: docs/financial.md).")
    cur = _currency(ctx)
    sales = ctx.sql("financial/sales", what="Accepted sales")
    if sales and _known(sales.first(), "accepted_sales", "total_sales"):
        row = sales.first()
        missing = ""
        if row["accepted_without_amount"]:
            missing = (f" {fmt_count(row['accepted_without_amount'])} accepted recommendations have no sales "
                       "amount and are left out of the money figures.")
        ctx.finding("sales", "Accepted sales",
                    f"{fmt_count(row['accepted_sales'])} accepted recommendations booked product sales of "
                    f"{_money(row['total_sales'], cur)}, {_money(row['avg_sale_amount'], cur)} per sale on "
                    f"average.{missing}",
                    {**row, "currency": cur}, [sales], n=row["accepted_sales"])
    period = ctx.sql("financial/period", what="Analysis period")
    if period and period.first().get("period_days") == 0:
        ctx.note("All recommendations carry the same date, so no per-year figures (revenue per year, ROI) can be "
                 "derived.")
    elif period and _known(period.first(), "period_years", "recommendations_per_year"):
        row = period.first()
        ctx.finding("period", "Analysis period",
                    f"Recommendations span {fmt_num(row['period_years'], 2)} years ({row['first_date']} to "
                    f"{row['last_date']}), {fmt_count(row['recommendations_per_year'])} a year.",
                    row, [period], n=row["dated_recommendations"])
    coverage = ctx.sql("financial/coverage", what="Catalogue coverage of accepted sales")
    if coverage and _known(coverage.first(), "coverage_share", "coverage_amount_share"):
        row = coverage.first()
        gap = ""
        if row["products_without_margin"]:
            gap = (f" {fmt_count(row['products_without_margin'])} products sold have no margin in the catalogue; "
                   "their revenue is left out, so revenue figures below are understated.")
        complete = row["coverage_amount_share"] >= FULL_COVERAGE
        every = row["sales_with_margin"] == row["accepted_sales"]
        ctx.finding("catalogue_coverage", "Catalogue coverage",
                    "Every accepted sale has a product margin in the catalogue." if every else
                    f"{fmt_pct(row['coverage_share'])} of accepted sales ({fmt_count(row['sales_with_margin'])} of "
                    f"{fmt_count(row['accepted_sales'])}) have a product margin in the catalogue, covering "
                    f"{fmt_pct(row['coverage_amount_share'])} of the amount sold.{gap}",
                    row, [coverage], effect=min(1.0, (1.0 - row["coverage_amount_share"]) * 3),
                    polarity="neutral" if complete else "risk", n=row["accepted_sales"])


def revenue_impact(ctx: StepContext) -> None:
    """Booked annual revenue, revenue added per programme year, programme cost, first-year ROI, product mix."""
    cur = _currency(ctx)
    rev = ctx.sql("financial/revenue", what="Revenue, programme cost and ROI")
    if rev and _known(rev.first(), "booked_revenue", "revenue_per_year", "cost_per_year", "first_year_roi"):
        row = rev.first()
        roi = row["first_year_roi"]
        src = ctx.sources("attribution_rate", "program_cost", "cost_per_recommendation")
        ctx.finding("roi", "Revenue and first-year ROI",
                    f"Accepted products generate {_money(row['booked_revenue'], cur)} of annual net revenue, an "
                    f"effective margin of {fmt_pct(row['effective_margin'], 2)} on the amount sold. Spread over "
                    f"{fmt_num(row['period_years'], 2)} years of recommendations, accepted offers add "
                    f"{_money(row['revenue_per_year'], cur)} of annual revenue per year. Assuming the programme "
                    f"caused {assumed(src, 'attribution_rate', fmt_pct(row['attribution_rate']))} of it "
                    f"({_money(row['attributed_revenue_per_year'], cur)}) and costs "
                    f"{assumed(src, 'program_cost', _money(row['program_cost'], cur) + ' a year')} to run plus "
                    f"{assumed(src, 'cost_per_recommendation', _price(row['cost_per_recommendation'], cur))} for each "
                    f"of {fmt_count(row['recommendations_per_year'])} recommendations a year "
                    f"({_money(row['cost_per_year'], cur)} in all), the first-year ROI is {fmt_pct(roi)} and net "
                    f"revenue {_money(row['net_revenue_per_year'], cur)} a year.",
                    {**row, "currency": cur, "sources": src}, [rev],
                    effect=min(1.0, abs(roi) / STRONG_ROI) * (0.4 if rests_on_defaults(src) else 1.0),
                    polarity="strength" if roi >= 0 else "risk", n=row["recommendations"],
                    units={"sources": "text"})
    mix = ctx.sql("financial/revenue_by_type", what="Revenue by product type")
    if mix and mix.rows:
        rows = mix.dicts()
        ctx.table("Annual revenue by product type (accepted sales with a catalogue margin)", mix,
                  [("product_type", "Product type"), ("accepted_sales", "Accepted sales"),
                   ("sales", "Amount sold"), ("sales_share", "Share of amount sold"),
                   ("annual_revenue", "Annual revenue"), ("revenue_share", "Share of revenue"),
                   ("effective_margin", "Effective margin"),
                   ("revenue_per_sale", "Revenue per sale")])
        ctx.chart(f"Annual revenue by product type, in {cur}",
                  xy_chart("Annual revenue by product type", [r["product_type"] for r in rows],
                           [("bar", [r["annual_revenue"] for r in rows])], y_title=cur, digits=0), mix)
        top = rows[0]
        richest = max(rows, key=lambda r: (r["effective_margin"] or 0.0, r["product_type"]))
        if is_number(top["revenue_share"]):
            ctx.finding("revenue_mix", "Revenue by product type",
                        f"{top['product_type']} earns the most: {_money(top['annual_revenue'], cur)} a year, "
                        f"{fmt_pct(top['revenue_share'])} of annual revenue from {fmt_pct(top['sales_share'])} of the "
                        f"amount sold. {richest['product_type']} has the highest effective margin "
                        f"({fmt_pct(richest['effective_margin'])}) and earns {fmt_pct(richest['revenue_share'])} of "
                        f"revenue from {fmt_pct(richest['sales_share'])} of the amount sold.",
                        {"top": top, "highest_margin": richest, "currency": cur}, [mix],
                        effect=min(1.0, top["revenue_share"]), n=top["accepted_sales"])
    _open_offers(ctx)


def _holdout_calibration(calibration: list[dict[str, Any]]) -> dict[str, Any]:
    """The promoted model's calibration on its time-ordered holdout (the deciles its training stored): mean
    predicted against observed acceptance, weighted by offers, and the mean and largest gap per decile."""
    n = sum(b["n"] for b in calibration)
    if not n:
        return {"holdout_predicted": None, "holdout_observed": None, "mean_calibration_gap": None,
                "max_calibration_gap": None}
    gaps = [abs(b["predicted"] - b["observed"]) for b in calibration]
    return {"holdout_predicted": sum(b["n"] * b["predicted"] for b in calibration) / n,
            "holdout_observed": sum(b["n"] * b["observed"] for b in calibration) / n,
            "mean_calibration_gap": sum(gaps) / len(gaps), "max_calibration_gap": max(gaps)}


OPEN_OFFER_UNITS: dict[str, Unit] = {
    "currency": "text", "score_run_id": "text", "holdout_predicted": "percent", "holdout_observed": "percent",
    "mean_calibration_gap": "pp", "max_calibration_gap": "pp", "holdout_auc": "number", "stale": "text"}


def _open_offers(ctx: StepContext) -> None:
    """With a promoted conversion model whose scores of this data are in the database (``finmatch predict score
    conversion``): expected acceptances of the open offers as the sum of the calibrated propensities, and the
    revenue they are worth, beside what the flat historical acceptance rate gives. Scores written by another model
    or for other data are named as stale and not used. Without a promoted model or scores nothing is added, so
    the default report is unchanged."""
    if ctx.state_dir is None or not ctx.has("scores.score", "scores.score_run_id", "score_runs.fingerprint"):
        return
    try:
        model = promoted_model_summary(ctx.state_dir, "conversion")
    except FinMatchError as exc:
        ctx.note(f"Propensity-based expected acceptances are left out: the model registry cannot be read "
                 f"({exc.message}).")
        return
    if model is None or model["table"] != ctx.table_name:
        return
    runs = ctx.sql("financial/score_run", what="The conversion scores in the database", task="conversion")
    if runs is None or not runs.rows:
        return
    run = runs.first()
    stale = []
    if run["model_id"] != model["model_id"]:
        stale.append(f"they were written by model `{run['model_id']}`, not by the promoted `{model['model_id']}`")
    if run["source_table"] != ctx.table_name:
        stale.append(f"they score table {run['source_table']}, not {ctx.table_name}")
    elif run["fingerprint"] != ctx.profile.fingerprint:
        stale.append(f"the data changed since they were written (fingerprint {run['fingerprint']}, now "
                     f"{ctx.profile.fingerprint})")
    if len(runs.rows) > 1:
        stale.append(f"{fmt_count(len(runs.rows))} scoring runs left rows in the table")
    if stale:
        ctx.finding("open_offers_stale", "Propensity scores are stale",
                    f"The conversion scores in the database (run {run['score_run_id']}, {run['created_at']}) are not "
                    f"used for expected acceptances: {'; '.join(stale)}. Run `finmatch predict score conversion` "
                    "to refresh them.",
                    {"score_run_id": run["score_run_id"], "scored_model_id": run["model_id"],
                     "promoted_model_id": model["model_id"], "scored_fingerprint": run["fingerprint"],
                     "fingerprint": ctx.profile.fingerprint, "stale": "; ".join(stale)}, [runs],
                    polarity="risk", effect=0.1,
                    units={"scored_model_id": "text", "promoted_model_id": "text", "scored_fingerprint": "text",
                           "fingerprint": "text", "stale": "text", "score_run_id": "text"})
        return
    res = ctx.sql("financial/expected_acceptances", what="Expected acceptances of the open offers",
                  task="conversion", model_id=model["model_id"], z=Z95)
    if res is None:
        return
    row = res.first()
    if not row["scored_offers"] or not _known(row, "expected_acceptances", "flat_expected_acceptances"):
        return
    cur = _currency(ctx)
    cal = _holdout_calibration(model["calibration"])
    auc = model["holdout"]["auc"]
    unscored = row["open_offers"] - row["scored_offers"]
    text = (f"The promoted conversion model (`{model['model_id']}`, holdout AUC {fmt_num(auc['value'], 3)}) gives the "
            f"{fmt_count(row['scored_offers'])} open offers a mean calibrated acceptance probability of "
            f"{fmt_pct(row['mean_propensity'])}: their sum, {fmt_count(row['expected_acceptances'])} expected "
            f"acceptances (95% interval {fmt_count(row['expected_acceptances_low'])} to "
            f"{fmt_count(row['expected_acceptances_high'])} if the probabilities are right), against "
            f"{fmt_count(row['flat_expected_acceptances'])} at the flat historical rate of "
            f"{fmt_pct(row['flat_rate'])} ({fmt_count(row['accepted_offers'])} of {fmt_count(row['decided_offers'])} "
            f"decided offers).")
    if unscored:
        text += f" {fmt_count(unscored)} open offers have no score and are left out of the model's figure."
    if _known(row, "expected_revenue", "flat_expected_revenue"):
        text += (f" At the mean annual revenue of an accepted offer ({_money(row['revenue_per_acceptance'], cur)} over "
                 f"{fmt_count(row['accepted_sales'])} accepted sales) they are worth "
                 f"{_money(row['expected_revenue'], cur)} of annual revenue "
                 f"({_money(row['expected_revenue_low'], cur)} to {_money(row['expected_revenue_high'], cur)}), "
                 f"against {_money(row['flat_expected_revenue'], cur)} at the flat rate.")
    if is_number(cal["holdout_predicted"]):
        text += (f" On its time-ordered holdout the model predicted {fmt_pct(cal['holdout_predicted'])} acceptance "
                 f"where {fmt_pct(cal['holdout_observed'])} was observed, and its deciles miss the observed rate by "
                 f"{fmt_pp(cal['mean_calibration_gap'], signed=False)} on average (at most "
                 f"{fmt_pp(cal['max_calibration_gap'], signed=False)}), a systematic error the interval above does "
                 "not include.")
    flat = row["flat_expected_acceptances"]
    ctx.finding("open_offers", "Expected acceptances of the open offers", text,
                {**row, **cal, "currency": cur, "score_run_id": run["score_run_id"], "holdout_auc": auc["value"]},
                [res, runs], effect=min(1.0, abs(row["acceptances_vs_flat"]) / flat) if flat else 0.0,
                polarity="neutral", n=row["scored_offers"], units=OPEN_OFFER_UNITS)


def lifetime_value(ctx: StepContext) -> None:
    """Customer lifetime value, revenue at risk from churn, CLV by segment, cross-selling and retention."""
    cur = _currency(ctx)
    clv = ctx.sql("financial/clv", what="Customer lifetime value and revenue at risk")
    if clv and _known(clv.first(), "total_clv", "revenue_at_risk", "revenue_at_risk_share"):
        row = clv.first()
        src = ctx.sources("lifetime_cap_years", "high_churn_threshold")
        values = {**row, "currency": cur, "sources": src}
        cap = assumed(src, "lifetime_cap_years", f"{fmt_num(row['lifetime_cap_years'], 0)} years")
        # the annual revenue total is the ROI finding's when an earlier step stated it
        stated = any(f.key == "roi" for f in (*ctx.prior_findings, *ctx.findings))
        revenue = (f"Their annual revenue ({_money(row['arpu'], cur)} per customer) is held for " if stated else
                   f"Their annual revenue is {_money(row['annual_revenue'], cur)} ({_money(row['arpu'], cur)} per "
                   "customer), held for ")
        ctx.finding("clv", "Customer lifetime value",
                    f"Customers hold {_money(row['total_clv'], cur)} of lifetime value "
                    f"from accepted products, {_money(row['avg_clv'], cur)} per customer on average and "
                    f"{_money(row['avg_clv_revenue_customers'], cur)} among the "
                    f"{fmt_count(row['revenue_customers'])} customers with revenue. {revenue}"
                    f"{fmt_num(row['revenue_weighted_lifetime_years'], 1)} years on average (weighted by revenue), "
                    f"with lifetimes capped at {cap}.",
                    values, [clv], effect=0.5, polarity="strength", n=row["customers"], units={"sources": "text"})
        ctx.finding("revenue_at_risk", "Retention value at risk",
                    f"Expected churn puts {_money(row['revenue_at_risk'], cur)} of annual revenue at risk each year, "
                    f"{fmt_pct(row['revenue_at_risk_share'])} of the total. The "
                    f"{fmt_count(row['high_churn_customers'])} high-churn-risk customers (churn probability of "
                    f"{assumed(src, 'high_churn_threshold', fmt_pct(row['high_churn_threshold']))} or more; "
                    f"{fmt_pct(row['high_churn_customer_share'])} of customers) hold "
                    f"{_money(row['high_churn_revenue'], cur)} of annual revenue "
                    f"({fmt_pct(row['high_churn_revenue_share'])}) and {fmt_pct(row['high_churn_share_of_risk'])} of "
                    f"the revenue at risk, but only {_money(row['high_churn_clv'], cur)} of lifetime value "
                    f"({fmt_pct(row['high_churn_clv_share'])}), because they are not expected to stay.",
                    values, [clv], effect=min(1.0, row["revenue_at_risk_share"] * 5), polarity="risk",
                    n=row["customers"], units={"sources": "text"})
    seg = ctx.sql("financial/clv_segment", what="Customer lifetime value by segment")
    if seg and seg.rows:
        rows = seg.dicts()
        ctx.table("Customer lifetime value by customer segment", seg,
                  [("segment", "Segment"), ("customers", "Customers"),
                   ("customer_share", "Share of customers"), ("arpu", "Annual revenue per customer"),
                   ("avg_churn", "Mean churn probability"), ("avg_clv", "Mean CLV"),
                   ("total_clv", "Total CLV"), ("clv_share", "Share of CLV"),
                   ("revenue_at_risk", "Annual revenue at risk"),
                   ("revenue_at_risk_share", "Share of revenue at risk")])
        top, bottom = rows[0], rows[-1]
        exposed = max(rows, key=lambda r: (r["revenue_at_risk"] or 0.0, r["segment"]))
        if is_number(top["clv_share"]) and len(rows) > 1:
            ctx.finding("clv_segment", "Lifetime value by segment",
                        f"{top['segment']} customers hold {fmt_pct(top['clv_share'])} of lifetime value with "
                        f"{fmt_pct(top['customer_share'])} of customers ({_money(top['avg_clv'], cur)} each on "
                        f"average); {bottom['segment']} customers hold {fmt_pct(bottom['clv_share'])} with "
                        f"{fmt_pct(bottom['customer_share'])}. {exposed['segment']} carries the most annual revenue "
                        f"at risk: {_money(exposed['revenue_at_risk'], cur)}, "
                        f"{fmt_pct(exposed['share_of_total_at_risk'])} of the total.",
                        {"top": top, "bottom": bottom, "most_at_risk": exposed, "currency": cur}, [seg],
                        effect=min(1.0, max(0.0, (top["clv_share_index"] or 1.0) - 1) / 5), polarity="opportunity",
                        n=top["customers"])
    cross = ctx.sql("financial/cross_sell", what="Churn by number of accepted products")
    if cross and cross.rows:
        rows = cross.dicts()
        ctx.table("Churn by number of accepted products per customer", cross,
                  [("accepted_products", "Accepted products"), ("customers", "Customers"),
                   ("customer_share", "Share of customers"),
                   ("avg_churn", "Mean churn probability"),
                   ("high_churn_share", "Share at high churn risk")])
        by = {r["accepted_products"]: r for r in rows}
        head, most = rows[0], rows[-1]
        if "0" in by and len(rows) > 1 and _known(head, "churn_none", "churn_multi", "churn_gap_none_vs_multi"):
            gap = head["churn_gap_none_vs_multi"]
            single = by.get("1")
            ctx.finding("cross_sell", "Cross-selling and retention",
                        f"Customers who accepted no product have a mean churn probability of "
                        f"{fmt_pct(head['churn_none'])}, against {fmt_pct(head['churn_multi'])} for those with "
                        f"{most['accepted_products']} accepted products ({fmt_pp(gap, signed=False)} "
                        f"{'higher' if gap >= 0 else 'lower'}, "
                        f"{fmt_times(head['churn_ratio_none_vs_multi'])} as high). "
                        f"{fmt_pct(by['0']['customer_share'])} of customers have accepted none.",
                        {"none": by["0"], "single": single, "multi": most, "churn_none": head["churn_none"],
                         "churn_multi": head["churn_multi"], "gap": gap,
                         "ratio": head["churn_ratio_none_vs_multi"]}, [cross],
                        effect=min(1.0, max(0.0, gap) / 0.2), polarity="opportunity" if gap > 0 else "neutral",
                        n=most["customers"],
                        units={"gap": "pp", "ratio": "times"})
    sat = ctx.sql("financial/cross_sell_satisfaction", what="Satisfaction by number of accepted products")
    if sat and sat.rows:
        rows = sat.dicts()
        ctx.table("Satisfaction by number of accepted products per customer", sat,
                  [("accepted_products", "Accepted products"), ("customers", "Customers"),
                   ("avg_satisfaction", "Mean satisfaction score")])
        head, most = rows[0], rows[-1]
        if len(rows) > 1 and _known(head, "satisfaction_none", "satisfaction_multi"):
            ctx.finding("cross_sell_satisfaction", "Cross-selling and satisfaction",
                        f"Mean satisfaction is {fmt_num(head['satisfaction_none'], 2)} for customers who accepted no "
                        f"product and {fmt_num(head['satisfaction_multi'], 2)} for those with "
                        f"{most['accepted_products']} ({fmt_num(head['satisfaction_gap_multi_vs_none'], 2)} points "
                        "apart).",
                        {"none": head, "multi": most, "gap": head["satisfaction_gap_multi_vs_none"]}, [sat],
                        effect=min(1.0, abs(head["satisfaction_gap_multi_vs_none"]) / 5), n=most["customers"],
                        units={"gap": "number"})


def _efficiency(ctx: StepContext, group_column: str, finding_key: str, column: str, label: str, dimension: str,
                chart_title: str, noun: Callable[[str], str]) -> None:
    cur = _currency(ctx)
    res = ctx.sql("financial/efficiency", what=f"Revenue per recommendation by {dimension}",
                  group_column=group_column, group_alias=column, group_label=dimension)
    if not res or not res.rows:
        return
    rows = res.dicts()
    ctx.table(f"Revenue per recommendation by {dimension} (groups of at least "
              f"{fmt_count(rows[0]['min_group_size'])} recommendations)", res, _revenue_columns(column, label))
    ctx.chart(f"Revenue per recommendation by {dimension}, in {cur}",
              xy_chart(chart_title, [r[column] for r in rows],
                       [("bar", [r["revenue_per_recommendation"] for r in rows])], y_title=cur, digits=2), res)
    head = rows[0]
    if len(rows) < 2 or not _known(head, "revenue_per_recommendation", "overall_revenue_per_recommendation"):
        return
    best, runner_up, worst = rows[0], rows[1], rows[-1]
    net = worst["net_per_recommendation"]
    src = ctx.sources("cost_per_recommendation")
    delivery = assumed(src, "cost_per_recommendation", _price(head["cost_per_recommendation"], cur))
    after_cost = (f" (after its delivery cost of {delivery} it loses {_price(abs(net), cur)})" if net < 0 else "")
    ctx.finding(finding_key, f"Efficiency by {dimension}",
                f"A recommendation {noun(best[column])} earns {_price(best['revenue_per_recommendation'], cur)} "
                f"of annual revenue, {fmt_times(best['index_vs_overall'])} the average of "
                f"{_price(head['overall_revenue_per_recommendation'], cur)}; one {noun(worst[column])} earns "
                f"{_price(worst['revenue_per_recommendation'], cur)}{after_cost}. {label}s earning less than "
                f"the average receive {fmt_pct(head['below_average_recommendation_share'])} of recommendations.",
                {"best": best, "runner_up": runner_up, "worst": worst, "currency": cur, "sources": src,
                 "overall": head["overall_revenue_per_recommendation"],
                 "below_average_share": head["below_average_recommendation_share"],
                 "best_worst_ratio": head["best_worst_ratio"]}, [res],
                effect=min(1.0, head["below_average_recommendation_share"] or 0.0), polarity="opportunity",
                n=worst["recommendations"],
                units={"overall": "currency", "below_average_share": "percent", "sources": "text"})


def portfolio_efficiency(ctx: StepContext) -> None:
    """Revenue per recommendation, gross and net of delivery cost, by customer segment and by product type."""
    _efficiency(ctx, "customer_segment", "efficiency_segment", "segment", "Segment", "customer segment",
                "Revenue per recommendation by segment", lambda s: f"to {s} customers")
    _efficiency(ctx, "product_type", "efficiency_product", "product_type", "Product type",
                "product type", "Revenue per recommendation by product", lambda t: f"for a {t} product")
    _engine_replacement(ctx)


def _engine_replacement(ctx: StepContext) -> None:
    """With a match run in the database: the revenue effect of replacing the offers that fail the engine's gates
    with the engine's choice. The backtest (:mod:`agents.matching`) gives the counts and the conversion gap, the
    named query does the arithmetic and echoes both assumptions. Without a match run nothing is added."""
    ev = engine_evidence(ctx)
    if ev is None or not ev.values["clear"]:
        return
    v = ev.values
    res = ctx.sql("financial/engine_replacement", what="Revenue effect of the matching engine's choice",
                  replaced_offers=v["unsuitable_offers"], test_days=v["test_days"], gain=v["gap"],
                  gain_low=v["gap_low"], gain_high=v["gap_high"])
    if res is None or not _known(res.first(), "revenue_per_acceptance", "extra_revenue_per_year"):
        return
    cur, row = _currency(ctx), res.first()
    ctx.finding("engine_replacement", "Replacing offers that fail suitability with the engine's choice",
                f"In the backtest of match run {v['run_id']}, {fmt_count(row['replaced_offers'])} decided offers from "
                f"{v['cutoff']} to {v['last_date']} ({fmt_count(row['test_days'])} days) failed a suitability gate. "
                f"Assuming each replaced offer is accepted as often as the engine's top {fmt_count(v['top'])} offers "
                f"were ({fmt_pp(row['gain'], signed=False)} more often, 95% CI {fmt_pp(row['gain_low'])} to "
                f"{fmt_pp(row['gain_high'])}) and each extra acceptance earns the mean annual revenue of an accepted "
                f"offer ({_money(row['revenue_per_acceptance'], cur)} over {fmt_count(row['accepted_sales'])} accepted "
                f"sales), replacing them with the engine's choice adds about {fmt_count(row['extra_acceptances'])} "
                f"acceptances in those days (95% CI {fmt_count(row['extra_acceptances_low'])} to "
                f"{fmt_count(row['extra_acceptances_high'])}), worth {_money(row['extra_revenue_per_year'], cur)} of "
                f"annual revenue for each year of offers (95% CI {_money(row['extra_revenue_per_year_low'], cur)} to "
                f"{_money(row['extra_revenue_per_year_high'], cur)}).",
                {**row, "currency": cur, "engine": v}, [res, *ev.query_ids],
                effect=min(1.0, float(row["gain"]) / 0.2), polarity="opportunity", n=row["replaced_offers"],
                units={**{f"engine.{k}": u for k, u in ENGINE_UNITS.items()}, "currency": "text"})


def scenarios(ctx: StepContext) -> None:
    """Scenario projections (deterministic SQL) for the AI step to interpret."""
    cur = _currency(ctx)
    res = ctx.sql("financial/scenarios", what="Scenario projections")
    if not res or len(res.rows) < 4:
        return
    rows = res.dicts()
    base, sales, churn, both = rows
    if not _known(base, "annual_revenue", "revenue_after_churn"):
        return
    ctx.table("Scenario projections (annual figures)", res,
              [("scenario", "Scenario"), ("sales_change", "Sales change"),
               ("churn_change", "Churn reduction"), ("annual_revenue", "Annual revenue"),
               ("expected_churn_loss", "Expected loss to churn"),
               ("revenue_after_churn", "Revenue after churn"),
               ("gain_vs_baseline", "Gain vs baseline"), ("arpu", "Revenue per customer"),
               ("arpu_after_churn", "Revenue per customer after churn")])
    src = ctx.sources("sales_uplift", "churn_reduction")
    common = {"currency": cur, "baseline": base, "sources": src}
    ctx.finding("scenario_sales", "Scenario: sales uplift",
                f"A {assumed(src, 'sales_uplift', fmt_pct(sales['sales_change']))} increase in product sales would add "
                f"{_money(sales['revenue_uplift'], cur)} of annual revenue "
                f"({_money(sales['gain_vs_baseline'], cur)} after expected churn), lifting annual revenue per "
                f"customer from {_price(base['arpu'], cur)} to {_price(sales['arpu'], cur)}.",
                {**common, "scenario": sales}, [res], effect=min(1.0, (sales["gain_share"] or 0.0) * 5),
                polarity="opportunity", n=base["customers"],
                units={"sources": "text"})
    ctx.finding("scenario_churn", "Scenario: churn reduction",
                f"A {assumed(src, 'churn_reduction', fmt_pct(churn['churn_change']))} reduction in churn would keep "
                f"{_money(churn['revenue_retained'], cur)} of annual revenue that churn would otherwise take, "
                f"lifting revenue per customer after churn from {_price(base['arpu_after_churn'], cur)} to "
                f"{_price(churn['arpu_after_churn'], cur)}.",
                {**common, "scenario": churn}, [res], effect=min(1.0, (churn["gain_share"] or 0.0) * 5),
                polarity="opportunity", n=base["customers"],
                units={"sources": "text"})
    ctx.finding("scenario_combined", "Scenario: both targets",
                f"Meeting both assumed targets would raise annual revenue after churn from "
                f"{_money(base['revenue_after_churn'], cur)} to {_money(both['revenue_after_churn'], cur)} "
                f"(+{_money(both['gain_vs_baseline'], cur)}, {fmt_pct(both['gain_share'])}); at these target sizes "
                f"the sales uplift is worth {fmt_times(base['sales_vs_churn_ratio'])} the churn reduction.",
                {**common, "scenario": both, "sales": sales, "churn": churn,
                 "sales_vs_churn_ratio": base["sales_vs_churn_ratio"]}, [res],
                effect=min(1.0, (both["gain_share"] or 0.0) * 5), polarity="opportunity", n=base["customers"],
                units={"sources": "text"})


# -- rules for the offline analyst ----------------------------------------------------------------------
def _catalogue_coverage(f: Finding, idx: FindingIndex) -> RuleOutput | None:
    v = f.values
    if f.polarity != "risk":
        return None
    return RuleOutput(
        insight=f"Revenue figures are understated: only {fmt_pct(v['coverage_amount_share'])} of the amount sold "
                "has a margin in the product catalogue.",
        recommendation=RecDraft(
            "Complete product margins in the catalogue",
            f"{fmt_count(v['products_without_margin'])} products sold have no margin, so their revenue is missing "
            "from ROI, lifetime value and efficiency figures.",
            effort="Low", owner="Finance (product control)",
            success_metric=f"share of the amount sold with a catalogue margin above the current "
                           f"{fmt_pct(v['coverage_amount_share'])}"),
        risk=f"Revenue covers only {fmt_pct(v['coverage_amount_share'])} of the amount sold; products without a "
             "catalogue margin are left out.")


def _engine_replacement_rule(f: Finding, idx: FindingIndex) -> RuleOutput:
    v, cur = f.values, f.values.get("currency", "USD")
    return RuleOutput(
        insight=f"Offers that fail the matching engine's suitability gates leave revenue behind: replacing them with "
                f"the engine's choice is worth about {_money(v['extra_revenue_per_year'], cur)} a year (95% CI "
                f"{_money(v['extra_revenue_per_year_low'], cur)} to {_money(v['extra_revenue_per_year_high'], cur)}).",
        recommendation=RecDraft(
            "Replace offers that fail suitability with the matching engine's choice",
            f"{fmt_count(v['replaced_offers'])} offers in the backtest window failed a gate; at the engine's "
            f"conversion ({fmt_pp(v['gain'])}) and {_money(v['revenue_per_acceptance'], cur)} per acceptance they "
            f"would add about {fmt_count(v['extra_acceptances'])} acceptances.",
            effort="Medium", owner="Product Management",
            success_metric="annual revenue from replaced offers against the backtest's estimate",
            topic="suitability-gating", direction="fix"),
        risk="The estimate assumes replaced offers convert like the engine's top offers the bank happened to make, "
             "and that an extra acceptance earns the average accepted offer's revenue.")


def _roi(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    cur = v["currency"]
    roi = v["first_year_roi"]
    src = v.get("sources", {})
    basis = (f"with {assumed(src, 'attribution_rate', fmt_pct(v['attribution_rate']))} of accepted revenue "
             f"attributed to the programme and {assumed(src, 'program_cost', _money(v['program_cost'], cur))} of "
             "running cost a year")
    caveat = ("These are the default assumptions: set the bank's own in [assumptions] before relying on the ROI."
              if rests_on_defaults(src) else "")
    if roi >= STRONG_ROI:
        return RuleOutput(
            insight=f"On the stated assumptions the programme pays for itself several times over: {basis}, each "
                    f"year of recommendations adds {_money(v['attributed_revenue_per_year'], cur)} of attributable "
                    f"annual revenue for {_money(v['cost_per_year'], cur)} of cost, a first-year ROI of "
                    f"{fmt_pct(roi)}. {caveat}".strip(),
            recommendation=RecDraft(
                "Scale the recommendation programme to more customers and products",
                f"With {basis}, attributable revenue added per programme year is "
                f"{fmt_times(v['revenue_cost_ratio'])} its yearly cost; a further recommendation costs "
                f"{_price(v['cost_per_recommendation'], cur)} to deliver. {caveat}".strip(),
                effort="Medium", owner="Retail Banking leadership with Finance", topic="programme", direction="grow",
                success_metric=f"first-year ROI held at or above the current {fmt_pct(roi)} as recommendation "
                               "volume grows"))
    if roi >= 0:
        return RuleOutput(
            insight=f"On the stated assumptions the programme earns back its cost with little to spare: {basis}, "
                    f"the first-year ROI is {fmt_pct(roi)} ({_money(v['attributed_revenue_per_year'], cur)} of "
                    f"attributable revenue added per year for {_money(v['cost_per_year'], cur)} of cost). "
                    f"{caveat}".strip(),
            recommendation=RecDraft(
                "Concentrate recommendations where they earn most before scaling",
                f"Net revenue per year is only {_money(v['net_revenue_per_year'], cur)} on a yearly cost of "
                f"{_money(v['cost_per_year'], cur)} ({basis}).",
                effort="Low", owner="Product Management with Finance", topic="programme", direction="fix",
                success_metric=f"first-year ROI above the current {fmt_pct(roi)}"))
    return RuleOutput(
        insight=f"On the stated assumptions the programme does not cover its cost: {basis}, attributable revenue "
                f"added per year ({_money(v['attributed_revenue_per_year'], cur)}) is below the yearly cost "
                f"({_money(v['cost_per_year'], cur)}), a first-year ROI of {fmt_pct(roi)}. {caveat}".strip(),
        recommendation=RecDraft(
            "Cut recommendation volume that does not earn its cost",
            f"The programme loses {_money(abs(v['net_revenue_per_year']), cur)} a year at "
            f"{_price(v['cost_per_recommendation'], cur)} per recommendation plus "
            f"{_money(v['program_cost'], cur)} of running cost ({basis}).",
            effort="Medium", owner="Retail Banking leadership with Finance", topic="programme", direction="reduce",
            success_metric=f"attributable revenue added per year at least the current yearly cost of "
                           f"{_money(v['cost_per_year'], cur)}"),
        risk=f"At the assumed costs the programme runs at a first-year ROI of {fmt_pct(roi)}.")


def _revenue_mix(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    top, rich = v["top"], v["highest_margin"]
    text = (f"Revenue is concentrated: {top['product_type']} alone earns {fmt_pct(top['revenue_share'])} of annual "
            "revenue.")
    if rich["product_type"] != top["product_type"]:
        text += (f" Margin, not amount sold, drives revenue: {rich['product_type']} is "
                 f"{fmt_pct(rich['sales_share'])} of the amount sold but {fmt_pct(rich['revenue_share'])} of revenue.")
    return RuleOutput(insight=text)


def _clv(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    cur = v["currency"]
    return RuleOutput(insight=f"Accepted products are worth {_money(v['total_clv'], cur)} over expected customer "
                              f"lifetimes: {_money(v['annual_revenue'], cur)} of annual revenue held for "
                              f"{fmt_num(v['revenue_weighted_lifetime_years'], 1)} years on average, so keeping a "
                              "customer multiplies the value of every sale.")


def _revenue_at_risk(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    cur = v["currency"]
    return RuleOutput(
        insight=f"Churn is expected to take {_money(v['revenue_at_risk'], cur)} of annual revenue a year "
                f"({fmt_pct(v['revenue_at_risk_share'])}); {fmt_pct(v['high_churn_share_of_risk'])} of that loss sits "
                f"with {fmt_count(v['high_churn_customers'])} high-churn-risk customers.",
        recommendation=RecDraft(
            "Target retention offers at high-churn-risk customers who hold accepted products",
            f"{fmt_count(v['high_churn_customers'])} customers with churn probability of "
            f"{fmt_pct(v['high_churn_threshold'])} or more hold {_money(v['high_churn_revenue'], cur)} of annual "
            f"revenue, of which {_money(v['high_churn_revenue_at_risk'], cur)} is expected to be lost each year.",
            effort="Medium", owner="Customer Experience (retention)",
            success_metric=f"annual revenue at risk below the current {_money(v['revenue_at_risk'], cur)}"))


def _clv_segment(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    cur = v["currency"]
    top, risk = v["top"], v["most_at_risk"]
    return RuleOutput(
        insight=f"{top['segment']} customers are worth {fmt_times(top['clv_share_index'])} their share of customers "
                f"in lifetime value ({fmt_pct(top['clv_share'])} of CLV from {fmt_pct(top['customer_share'])} of "
                "customers).",
        recommendation=RecDraft(
            f"Give {risk['segment']} customers priority in retention and relationship management",
            f"They carry {_money(risk['revenue_at_risk'], cur)} of annual revenue at risk, "
            f"{fmt_pct(risk['share_of_total_at_risk'])} of the total, at a mean churn probability of "
            f"{fmt_pct(risk['avg_churn'])}.",
            effort="Low", owner="Relationship Management",
            success_metric=f"{risk['segment']} revenue at risk below the current "
                           f"{fmt_pct(risk['revenue_at_risk_share'])} of its annual revenue"))


def _cross_sell(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if (v.get("gap") or 0) <= 0:
        return RuleOutput(insight=f"Holding more accepted products does not go with lower churn here "
                                  f"({fmt_pct(v['churn_none'])} with none, {fmt_pct(v['churn_multi'])} with "
                                  f"{v['multi']['accepted_products']}).")
    single = v.get("single")
    detail = (f"{fmt_count(single['customers'])} customers hold a single accepted product at a mean churn "
              f"probability of {fmt_pct(single['avg_churn'])}; " if single else "")
    return RuleOutput(
        insight=f"Cross-selling and retention go together: customers with no accepted product are "
                f"{fmt_times(v['ratio'])} as likely to leave as those with {v['multi']['accepted_products']}. The link "
                "is an association; loyal customers may also accept more offers.",
        recommendation=RecDraft(
            "Use cross-selling to deepen single-product and no-product relationships",
            f"{detail}customers with {v['multi']['accepted_products']} accepted products are at "
            f"{fmt_pct(v['churn_multi'])} against {fmt_pct(v['churn_none'])} with none.",
            effort="Medium", owner="Product Management with CRM",
            success_metric=f"share of customers with no accepted product below the current "
                           f"{fmt_pct(v['none']['customer_share'])}"))


def _cross_sell_satisfaction(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(insight=f"Customers holding {v['multi']['accepted_products']} accepted products are more "
                              f"satisfied ({fmt_num(v['multi']['avg_satisfaction'], 2)} against "
                              f"{fmt_num(v['none']['avg_satisfaction'], 2)} with none)."
                      if (v.get("gap") or 0) > 0 else
                      f"Satisfaction does not rise with accepted products "
                      f"({fmt_num(v['none']['avg_satisfaction'], 2)} with none, "
                      f"{fmt_num(v['multi']['avg_satisfaction'], 2)} with {v['multi']['accepted_products']}).")


def _efficiency_rule(kind: str) -> Callable[[Finding, FindingIndex], RuleOutput]:
    key = "segment" if kind == "segment" else "product_type"

    def rule(f: Finding, idx: FindingIndex) -> RuleOutput:
        v = f.values
        cur = v["currency"]
        best, second, worst = v["best"], v["runner_up"], v["worst"]
        insight = (f"Revenue per recommendation for {best[key]} is {fmt_times(v['best_worst_ratio'])} that for "
                   f"{worst[key]}, yet {fmt_pct(v['below_average_share'])} of recommendations go to "
                   f"{'segments' if kind == 'segment' else 'product types'} earning less than the average.")
        if kind == "segment":
            title = f"Shift recommendation volume toward {best[key]} and {second[key]} customers"
            owner = "Retail Banking (segment marketing)"
        else:
            title = f"Rebalance the product mix toward {best[key]} and {second[key]} offers for customers who qualify"
            owner = "Product Management"
        rationale = (f"They earn {_price(best['revenue_per_recommendation'], cur)} and "
                     f"{_price(second['revenue_per_recommendation'], cur)} per recommendation against an average of "
                     f"{_price(v['overall'], cur)}, yet receive {fmt_pct(best['recommendation_share'])} and "
                     f"{fmt_pct(second['recommendation_share'])} of recommendations; {worst[key]} earns "
                     f"{_price(worst['revenue_per_recommendation'], cur)}.")
        if kind == "product" and best["acceptance_rate"] < worst["acceptance_rate"]:
            rationale += (f" {best[key]} converts at only {fmt_pct(best['acceptance_rate'])}, so the shift must go "
                          "with better targeting.")
        return RuleOutput(insight=insight, recommendation=RecDraft(
            title, rationale, effort="Low" if kind == "segment" else "Medium", owner=owner,
            topic=f"segment:{best[key]}" if kind == "segment" else f"product:{best[key]}", direction="grow",
            counter_topic=f"segment:{worst[key]}" if kind == "segment" else f"product:{worst[key]}",
            success_metric=f"revenue per recommendation above the current {_price(v['overall'], cur)}, with less "
                           f"than {fmt_pct(v['below_average_share'])} of recommendations going to below-average "
                           f"{'segments' if kind == 'segment' else 'product types'}"))

    return rule


def _scenario_sales(f: Finding, idx: FindingIndex) -> RuleOutput:
    v, s = f.values, f.values["scenario"]
    cur = v["currency"]
    return RuleOutput(insight=f"Reaching the {fmt_pct(s['sales_change'])} sales target is worth "
                              f"{_money(s['revenue_uplift'], cur)} of annual revenue, "
                              f"{_money(s['gain_vs_baseline'], cur)} after expected churn.")


def _scenario_churn(f: Finding, idx: FindingIndex) -> RuleOutput:
    v, s = f.values, f.values["scenario"]
    cur = v["currency"]
    return RuleOutput(insight=f"Reaching the {fmt_pct(s['churn_change'])} churn-reduction target would keep "
                              f"{_money(s['revenue_retained'], cur)} of annual revenue a year.")


def _scenario_combined(f: Finding, idx: FindingIndex) -> RuleOutput:
    v, s = f.values, f.values["scenario"]
    cur = v["currency"]
    ratio = v["sales_vs_churn_ratio"]
    lever = ("the sales uplift is the larger lever" if is_number(ratio) and ratio >= 1
             else "the churn reduction is the larger lever")
    return RuleOutput(
        insight=f"Both targets together add {_money(s['gain_vs_baseline'], cur)} of annual revenue after churn "
                f"({fmt_pct(s['gain_share'])}); at the assumed sizes {lever} ({fmt_times(ratio)}).",
        risk="The scenarios are what-if arithmetic, not forecasts: they scale today's book uniformly, ignoring how "
             "the extra sales or retained customers would be won and at what cost.")


AGENT = AgentSpec(
    key="financial-impact",
    title="Financial Impact",
    block=300,
    challenge="Banking financial analysts calculate ROI across product lines and customer segments by hand, "
              "spending hours of financial modelling to judge the impact of product matching on revenue and "
              "customer lifetime value.",
    solution="An automated financial analysis of revenue, ROI, customer lifetime value and portfolio efficiency, "
             "with scenario projections whose assumptions are all listed.",
    steps=(
        StepSpec("Banking Financial Data Integration", "data",
                 "Loading customer financial data and revenue metrics with validation.", integrate),
        StepSpec("Banking Revenue Impact Calculation", "data",
                 "Calculating revenue and ROI from product sales.", revenue_impact),
        StepSpec("Customer Lifetime Value Impact Assessment", "data",
                 "Assessing customer lifetime value, retention value at risk and cross-selling.", lifetime_value),
        StepSpec("Banking Portfolio Efficiency Analysis", "data",
                 "Evaluating revenue per recommendation across segments and products.", portfolio_efficiency),
        StepSpec("AI Banking Financial Modeling", "ai",
                 "Revenue projections and customer value scenarios, interpreted by the selected AI model "
                 "(or the offline analyst).", scenarios),
        StepSpec("Banking Economics Report Generation", "report",
                 "The financial impact report with ROI calculations and customer value forecasts."),
    ),
    rules={"catalogue_coverage": _catalogue_coverage, "roi": _roi, "revenue_mix": _revenue_mix, "clv": _clv,
           "revenue_at_risk": _revenue_at_risk, "clv_segment": _clv_segment, "cross_sell": _cross_sell,
           "cross_sell_satisfaction": _cross_sell_satisfaction, "efficiency_segment": _efficiency_rule("segment"),
           "efficiency_product": _efficiency_rule("product"), "scenario_sales": _scenario_sales,
           "scenario_churn": _scenario_churn, "scenario_combined": _scenario_combined,
           "engine_replacement": _engine_replacement_rule},
    run_tables=("finmatch_customers", "finmatch_offers"),  # its per-customer and per-offer-group queries read them
)
