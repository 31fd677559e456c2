"""Overall Performance agent: how well recommendations convert, how well the score ranks them, and which
behaviour patterns (lifecycle, affinity, usage, satisfaction) go with acceptance and churn.

Steps and their order are the FinMatch document's. Every figure in a statement comes from the query
result it cites; rules below phrase those figures as insights and recommendations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.agents.base import (
    AgentSpec,
    FindingIndex,
    RecDraft,
    RuleOutput,
    StepContext,
    StepSpec,
    percent_values,
    ref,
    xy_chart,
)
from finmatch_agents.formatting import fmt_count, fmt_num, fmt_pct, fmt_pp, fmt_times

if TYPE_CHECKING:
    from finmatch_agents.records import Finding

TOP_N = 5


def _rate(row: dict[str, Any], key: str = "acceptance_rate") -> str:
    return fmt_pct(row.get(key))


# -- steps -------------------------------------------------------------------------------------------------
def initialize(ctx: StepContext) -> None:
    """Load the scope of the data and carry the data-quality flags from `prepare` into the report."""
    overview = ctx.sql("metrics/overview", what="Scope of the dataset")
    if overview:
        row = overview.first()
        p = ctx.profile
        period = ""
        if p.date_min:
            period = f", recommended between {p.date_min} and {p.date_max}"
        stats_ref = ref(p.query_ids.get("stats"))
        ctx.finding("scope", "Scope",
                    f"{fmt_count(row['records'])} recommendations to {fmt_count(row['customers'])} customers across "
                    f"{fmt_count(row['product_types'])} product types "
                    f"({fmt_num(row['recommendations_per_customer'], 1)} per customer){period}. "
                    f"{ref(overview)} {stats_ref}".strip(),
                    row, [overview, *([p.query_ids['stats']] if stats_ref else [])])
    warnings = ctx.profile.warnings()
    if warnings:
        ids = [f.query_id for f in warnings if f.query_id]
        ctx.finding("data_quality", "Data quality",
                    "Data-quality warnings that qualify the figures below: "
                    + "; ".join(f.message for f in warnings) + ".",
                    {"flags": [f.code for f in warnings]}, ids, effect=0.3, polarity="risk")


def assess(ctx: StepContext) -> None:
    """Acceptance, score calibration by decile, segment x product performance and affinity."""
    acc = ctx.sql("metrics/acceptance", what="Acceptance rate")
    if acc:
        row = acc.first()
        ctx.finding("acceptance", "Acceptance rate",
                    f"{_rate(row)} of {fmt_count(row['recommendations'])} recommendations were accepted "
                    f"({fmt_count(row['accepted'])}); among decided offers (accepted or declined) the rate is "
                    f"{fmt_pct(row['decided_acceptance_rate'])}.", row, [acc], n=row["recommendations"])
    cal = ctx.sql("performance/calibration", what="Score calibration by decile")
    if cal and cal.rows:
        rows = cal.dicts()
        head = rows[0]
        ctx.table("Acceptance by recommendation-score decile", cal,
                  [("decile", "Decile"), ("recommendations", "Recommendations"),
                   ("min_score", "Min score"), ("max_score", "Max score"),
                   ("avg_score", "Mean score"), ("acceptance_rate", "Acceptance"),
                   ("calibration_gap", "Score minus acceptance")])
        ctx.chart("Acceptance (bars) and mean score (line) by score decile, in percent",
                  xy_chart("Score calibration by decile", [r["decile"] for r in rows],
                           [("bar", percent_values([r["acceptance_rate"] for r in rows])),
                            ("line", percent_values([r["avg_score"] for r in rows]))], y_title="percent"), cal)
        ratio = head["top_bottom_ratio"]
        weak = ratio is None or ratio < 1.5 or (head["score_acceptance_correlation"] or 0) < 0.5
        gap = head["mean_abs_calibration_gap"] or 0.0
        ctx.finding("calibration", "Score calibration",
                    f"Acceptance rises from {fmt_pct(head['bottom_decile_rate'])} in the lowest score decile to "
                    f"{fmt_pct(head['top_decile_rate'])} in the highest ({fmt_times(ratio)}); the correlation between "
                    f"mean score and acceptance across deciles is {fmt_num(head['score_acceptance_correlation'])} "
                    f"with {fmt_count(head['decile_drops'])} decile-to-decile drops. Scores differ from observed "
                    f"acceptance by {fmt_pp(gap, signed=False)} on average (largest overstatement "
                    f"{fmt_pp(head['max_overstatement'], signed=False)}).",
                    {k: head[k] for k in ("top_decile_rate", "bottom_decile_rate", "top_bottom_ratio",
                                          "score_acceptance_correlation", "mean_abs_calibration_gap",
                                          "max_overstatement", "decile_drops")},
                    [cal], effect=1.0 if weak else min(1.0, gap / 0.2), polarity="risk" if weak else "strength",
                    n=sum(r["recommendations"] for r in rows))
    cells = ctx.sql("performance/segment_product", what="Acceptance by segment x product type")
    if cells and cells.rows:
        rows = cells.dicts()
        shown = rows[:TOP_N] + [r for r in rows[-TOP_N:] if r not in rows[:TOP_N]]
        ctx.table(f"Best and worst segment x product combinations (groups of at least "
                  f"{fmt_count(ctx.min_group)} recommendations)", cells,
                  [("segment", "Segment"), ("product_type", "Product type"),
                   ("recommendations", "Recommendations"), ("acceptance_rate", "Acceptance"),
                   ("vs_overall", "vs overall")], shown)
        best, worst = rows[0], rows[-1]
        overall = best["overall_rate"] or 0.0
        ctx.finding("best_cell", "Best segment x product",
                    f"{best['segment']} x {best['product_type']} converts best at {_rate(best)} "
                    f"({fmt_count(best['recommendations'])} recommendations, overall {fmt_pct(overall)}).",
                    best, [cells], effect=min(1.0, abs(best["vs_overall"]) / max(overall, 0.01)),
                    polarity="strength", n=best["recommendations"])
        ctx.finding("worst_cell", "Weakest segment x product",
                    f"{worst['segment']} x {worst['product_type']} converts worst at {_rate(worst)} "
                    f"({fmt_count(worst['recommendations'])} recommendations, {fmt_pp(worst['vs_overall'])} against "
                    f"the overall rate of {fmt_pct(overall)}).",
                    worst, [cells], effect=min(1.0, abs(worst["vs_overall"]) / max(overall, 0.01)),
                    polarity="risk", n=worst["recommendations"])
    aff = ctx.sql("performance/affinity", what="Acceptance by product affinity")
    if aff and aff.rows:
        rows = aff.dicts()
        ctx.table("Acceptance by customer product affinity", aff,
                  [("affinity", "Affinity"), ("recommendations", "Recommendations"),
                   ("share", "Share"), ("acceptance_rate", "Acceptance")])
        by = {r["affinity"]: r for r in rows}
        ratio = rows[0]["high_low_ratio"]
        if "High" in by and "Low" in by:
            ctx.finding("affinity", "Affinity and acceptance",
                        f"High-affinity offers convert at {_rate(by['High'])} against {_rate(by['Low'])} for "
                        f"Low-affinity ones ({fmt_times(ratio)}); Low-affinity customers receive "
                        f"{fmt_pct(by['Low']['share'])} of all recommendations.",
                        {"high": by["High"], "low": by["Low"], "high_low_ratio": ratio}, [aff],
                        effect=min(1.0, ((ratio or 1.0) - 1) / 4), polarity="opportunity",
                        n=by["Low"]["recommendations"])


def recognise_patterns(ctx: StepContext) -> None:
    """Lifecycle, usage trend and satisfaction against acceptance and churn; top and bottom products."""
    life = ctx.sql("performance/lifecycle", what="Acceptance by lifecycle stage")
    if life and life.rows:
        rows = life.dicts()
        ctx.table("Acceptance by lifecycle stage", life,
                  [("stage", "Stage"), ("customers", "Customers"),
                   ("recommendations", "Recommendations"), ("acceptance_rate", "Acceptance")])
        best = max(rows, key=lambda r: (r["acceptance_rate"], r["stage"]))
        worst = min(rows, key=lambda r: (r["acceptance_rate"], r["stage"]))
        ctx.finding("lifecycle", "Lifecycle stage",
                    f"Acceptance is highest for {best['stage']} customers ({_rate(best)}) and lowest for "
                    f"{worst['stage']} customers ({_rate(worst)}), a spread of "
                    f"{fmt_pp(rows[0]['acceptance_spread'], signed=False)}.",
                    {"best": best, "worst": worst, "spread": rows[0]["acceptance_spread"]}, [life],
                    effect=min(1.0, (rows[0]["best_worst_ratio"] or 1.0) - 1), n=worst["recommendations"],
                    units={"spread": "pp"})
    usage = ctx.sql("performance/usage_churn", what="Churn by product-usage trend")
    if usage and usage.rows:
        rows = usage.dicts()
        ctx.table("Churn probability by product-usage trend (per customer)", usage,
                  [("trend", "Usage trend"), ("customers", "Customers"),
                   ("avg_churn", "Mean churn probability"),
                   ("share_high_risk", "Share at high churn risk")])
        by = {r["trend"]: r for r in rows}
        if "Decreasing" in by and "Increasing" in by:
            ratio = rows[0]["decreasing_increasing_ratio"]
            ctx.finding("usage_churn", "Usage decline and churn",
                        f"Customers whose product usage is falling have a mean churn probability of "
                        f"{fmt_pct(by['Decreasing']['avg_churn'])}, against {fmt_pct(by['Increasing']['avg_churn'])} "
                        f"for rising usage ({fmt_times(ratio)}); {fmt_pct(by['Decreasing']['share_high_risk'])} of "
                        f"them are at high churn risk.",
                        {"decreasing": by["Decreasing"], "increasing": by["Increasing"],
                         "stable_churn": rows[0]["stable_churn"], "ratio": ratio}, [usage],
                        effect=min(1.0, ((ratio or 1.0) - 1) / 5), polarity="risk",
                        n=by["Decreasing"]["customers"],
                        units={"ratio": "times"})
    sat = ctx.sql("performance/satisfaction_churn", what="Churn by satisfaction")
    if sat and sat.rows:
        rows = sat.dicts()
        ctx.table("Churn probability by satisfaction band (per customer)", sat,
                  [("band", "Satisfaction"), ("customers", "Customers"),
                   ("share", "Share"), ("avg_churn", "Mean churn probability")])
        by = {r["band"]: r for r in rows}
        low, high = by.get("Low (1-4)"), by.get("High (8-10)")
        if low and high:
            ratio = rows[0]["low_high_ratio"]
            ctx.finding("satisfaction_churn", "Satisfaction and churn",
                        f"Dissatisfied customers (score 1-4, {fmt_pct(low['share'])} of customers) have a mean churn "
                        f"probability of {fmt_pct(low['avg_churn'])}, against {fmt_pct(high['avg_churn'])} for "
                        f"satisfied ones (8-10), {fmt_times(ratio)} as high.",
                        {"low": low, "high": high, "ratio": ratio}, [sat],
                        effect=min(1.0, ((ratio or 1.0) - 1) / 5), polarity="risk", n=low["customers"],
                        units={"ratio": "times"})
    products = ctx.sql("performance/products", what="Top and bottom products")
    if products and products.rows:
        rows = products.dicts()
        shown = rows[:TOP_N] + [r for r in rows[-TOP_N:] if r not in rows[:TOP_N]]
        ctx.table("Top and bottom products by acceptance", products,
                  [("product_name", "Product"), ("product_type", "Type"),
                   ("recommendations", "Recommendations"), ("acceptance_rate", "Acceptance"),
                   ("vs_product_average", "vs product average")], shown)
        top, bottom = rows[0], rows[-1]
        ctx.finding("products", "Top and bottom products",
                    f"Of {fmt_count(top['products_compared'])} products compared, {top['product_name']} converts best "
                    f"({_rate(top)}) and {bottom['product_name']} worst ({_rate(bottom)}, "
                    f"{fmt_pp(bottom['vs_product_average'])} against the product average).",
                    {"top": top, "bottom": bottom}, [products],
                    effect=min(1.0, abs(bottom["vs_product_average"]) * 4), polarity="risk",
                    n=bottom["recommendations"])


# -- rules for the offline analyst ----------------------------------------------------------------------
def _scope(f: Finding, idx: FindingIndex) -> RuleOutput:
    return RuleOutput(insight=f.statement)


def _data_quality(f: Finding, idx: FindingIndex) -> None:
    return None  # the flags are already in the summary caveats and the data-quality section


def _acceptance(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(insight=f"Baseline: {fmt_pct(v['acceptance_rate'])} of recommendations convert "
                              f"({fmt_pct(v['decided_acceptance_rate'])} of decided offers); every targeting change "
                              "below is measured against this rate.")


def _calibration(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if f.polarity == "risk":
        return RuleOutput(
            insight=f"The score barely ranks offers: the top decile converts only {fmt_times(v['top_bottom_ratio'])} "
                    "as often as the bottom one.",
            recommendation=RecDraft(
                "Retrain the matching model before scaling it",
                f"Top-decile acceptance is only {fmt_times(v['top_bottom_ratio'])} the bottom decile's.",
                effort="High", owner="Data Science",
                success_metric="top-decile acceptance at least twice the bottom decile's on a hold-out month",
                topic="model-retrain"))
    insight = (f"The score ranks offers well: the top decile converts {fmt_times(v['top_bottom_ratio'])} as often as "
               f"the bottom decile ({fmt_pct(v['top_decile_rate'])} vs {fmt_pct(v['bottom_decile_rate'])}).")
    rec = None
    if (v.get("mean_abs_calibration_gap") or 0) >= 0.05:
        rec = RecDraft(
            "Recalibrate recommendation scores to observed acceptance",
            f"Scores miss observed acceptance by {fmt_pp(v['mean_abs_calibration_gap'], signed=False)} on average "
            f"(up to {fmt_pp(v['max_overstatement'], signed=False)}), so they cannot be read as probabilities for "
            "capacity planning or expected-value targeting.",
            effort="Medium", owner="Data Science",
            success_metric="mean gap between score and acceptance per decile below the current "
                           f"{fmt_pp(v['mean_abs_calibration_gap'], signed=False)}, tracked monthly")
    return RuleOutput(insight=insight, recommendation=rec)


def _best_cell(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(insight=f"{v['segment']} customers respond best to {v['product_type']} offers "
                              f"({fmt_pct(v['acceptance_rate'])}, {fmt_times(v['index_vs_overall'])} the overall "
                              "rate): a pattern to replicate.")


def _worst_cell(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        insight=f"{v['product_type']} offers to {v['segment']} customers convert at only "
                f"{fmt_pct(v['acceptance_rate'])}.",
        recommendation=RecDraft(
            f"Review {v['product_type']} offers to {v['segment']} customers",
            f"{fmt_count(v['recommendations'])} recommendations converted at {fmt_pct(v['acceptance_rate'])}, "
            f"{fmt_pp(v['vs_overall'])} against the overall rate.",
            effort="Low", owner="Product Management",
            success_metric=f"acceptance of this combination back to the overall rate of {fmt_pct(v['overall_rate'])}",
            topic=f"pair:{v['segment']}|{v['product_type']}"))


def _affinity(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        insight=f"Affinity is a strong conversion signal: High-affinity offers convert "
                f"{fmt_times(v['high_low_ratio'])} as often as Low-affinity ones.",
        recommendation=RecDraft(
            "Weight product affinity more heavily in targeting",
            f"Low-affinity customers receive {fmt_pct(v['low']['share'])} of recommendations but accept only "
            f"{fmt_pct(v['low']['acceptance_rate'])} of them, against {fmt_pct(v['high']['acceptance_rate'])} "
            "for High affinity.",
            effort="Low", owner="Product Management",
            success_metric=f"share of recommendations to Low-affinity customers below the current "
                           f"{fmt_pct(v['low']['share'])}", topic="affinity-gating"))


def _lifecycle(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(insight=f"Lifecycle stage shapes response: {v['best']['stage']} customers accept "
                              f"{fmt_pct(v['best']['acceptance_rate'])} of offers, {v['worst']['stage']} customers "
                              f"{fmt_pct(v['worst']['acceptance_rate'])}; offers should differ by stage.")


def _usage_churn(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        insight=f"Falling product usage is the clearest churn warning: churn probability is "
                f"{fmt_times(v['ratio'])} that of customers with rising usage.",
        recommendation=RecDraft(
            "Trigger retention outreach when product usage turns downward",
            f"Customers with decreasing usage carry a mean churn probability of "
            f"{fmt_pct(v['decreasing']['avg_churn'])} against {fmt_pct(v['increasing']['avg_churn'])} with rising "
            "usage.",
            effort="Medium", owner="Customer Experience (retention)",
            success_metric="mean churn probability of decreasing-usage customers down to the stable-usage level "
                           f"of {fmt_pct(v['stable_churn'])}"))


def _satisfaction_churn(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        insight=f"Dissatisfaction predicts churn: customers scoring 1-4 are {fmt_times(v['ratio'])} as likely to "
                "leave as those scoring 8-10.",
        recommendation=RecDraft(
            "Start a service-recovery programme for customers scoring satisfaction 1-4",
            f"Their mean churn probability is {fmt_pct(v['low']['avg_churn'])} against "
            f"{fmt_pct(v['high']['avg_churn'])} for satisfied customers.",
            effort="Medium", owner="Customer Experience",
            success_metric=f"share of customers scoring 1-4 below the current {fmt_pct(v['low']['share'])}"))


def _products(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(insight=f"{v['top']['product_name']} is the best-converting product "
                              f"({fmt_pct(v['top']['acceptance_rate'])}); {v['bottom']['product_name']} trails at "
                              f"{fmt_pct(v['bottom']['acceptance_rate'])} and needs a positioning review.")


AGENT = AgentSpec(
    key="performance",
    title="Overall Performance",
    block=100,
    challenge="Retail banking managers review thousands of customer profiles and transaction histories by hand, "
              "spending hours every day to decide which products to recommend and where to cross-sell.",
    solution="An autonomous product-matching workflow that measures how recommendations convert, how well the "
             "recommendation score ranks offers, and which customer behaviour patterns go with acceptance and churn.",
    steps=(
        StepSpec("Banking Customer Data Initialization", "data",
                 "Loading the customer banking dataset with validation across customers and product types.",
                 initialize),
        StepSpec("Product Matching Performance Assessment", "data",
                 "Calculating product recommendation indicators with customer affinity analysis.", assess),
        StepSpec("Banking Pattern Recognition", "data",
                 "Identifying customer behaviour patterns and their relation to acceptance and churn.",
                 recognise_patterns),
        StepSpec("AI Banking Intelligence Processing", "ai",
                 "Interpreting the evidence with the selected AI model (or the offline analyst)."),
        StepSpec("Financial Services Report Compilation", "report",
                 "Compiling the performance analysis with evidence-based recommendations."),
    ),
    rules={"scope": _scope, "data_quality": _data_quality, "acceptance": _acceptance, "calibration": _calibration,
           "best_cell": _best_cell, "worst_cell": _worst_cell, "affinity": _affinity, "lifecycle": _lifecycle,
           "usage_churn": _usage_churn, "satisfaction_churn": _satisfaction_churn, "products": _products},
)
