"""Optimization Opportunities agent: where recommendation effort is wasted and what to change.

It scopes the optimisation (decided vs undecided offers, readiness of the fields it relies on), detects
inefficiencies (segment x product pairs that convert far below what their scores promise, offers to
low-affinity customers), relates lifecycle and transaction behaviour to acceptance, and compares the
core banking and CRM systems the recommendations flow through (including stale or gappy feeds).

Steps and their order are the FinMatch document's. Every figure in a statement comes from the query
result it cites (derived figures are computed in SQL); rules below phrase them as insights and actions.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from finmatch_agents.agents.base import (
    ESTIMATE_UNITS,
    NOT_RECORDED,
    TEST_UNITS,
    AgentSpec,
    FindingIndex,
    RecDraft,
    RuleOutput,
    StepContext,
    StepSpec,
    against_rest_all,
    estimate_of,
    estimate_text,
    gap_estimate,
    interval_text,
    percent_values,
    test_values,
    xy_chart,
)
from finmatch_agents.agents.matching import UNITS as ENGINE_UNITS
from finmatch_agents.agents.matching import engine_evidence
from finmatch_agents.data.profile import SOURCE_UNITS, STALE_DAYS
from finmatch_agents.events import plural
from finmatch_agents.formatting import fmt_count, fmt_money, fmt_num, fmt_pct, fmt_pp, fmt_times, sentence_case
from finmatch_agents.stats import adjust, against_expected, compare_rates, monotone

if TYPE_CHECKING:
    from finmatch_agents.records import Finding, Query
    from finmatch_agents.warehouse.engine import QueryResult

TOP_N = 5
#: the fields the optimisation relies on, with what each is used for (readiness view of step 1)
READINESS_FIELDS: tuple[tuple[str, str], ...] = (
    ("product_recommendation_status", "outcome of every offer (accepted, declined, undecided)"),
    ("recommendation_score", "score-expected acceptance of each segment x product pair"),
    ("customer_product_affinity", "affinity gating and wasted delivery"),
    ("customer_segment", "segment x product targeting"),
    ("product_type", "segment x product targeting"),
    ("customer_lifecycle_stage", "lifecycle correlation"),
    ("customer_transaction_count", "transaction-pattern correlation"),
    ("customer_product_usage_trend", "usage-trend correlation"),
    ("source_system", "core banking system comparison and feed freshness"),
    ("crm_system", "CRM system comparison"),
    ("channel", "delivery channel of each offer"),
    ("record_id", "deterministic ordering of score deciles and quintiles"),
)


def _currency(ctx: StepContext) -> str:
    return ctx.currency


def _unit_cost(value: Any, currency: str) -> str:
    """A per-recommendation cost such as 1.5 reads "USD 1.50" (fmt_money would round it to a whole unit)."""
    return f"{currency} {fmt_num(value, 2)}"


def _money(value: Any, currency: str) -> str:
    return fmt_money(value, currency, compact=True)


# -- step 1: data preparation --------------------------------------------------------------------------------
def prepare_data(ctx: StepContext) -> None:
    """Scope of the optimisation (decided vs undecided offers) and readiness of the fields it relies on."""
    scope = ctx.sql("optimization/decision_scope", what="Decided and undecided recommendations")
    if scope and scope.rows:
        row = scope.first()
        state = (f"{fmt_count(row['decided'])} recommendations ({fmt_pct(row['decided_share'])}) are decided (accepted "
                 f"or declined) and {fmt_count(row['undecided'])} ({fmt_pct(row['undecided_share'])}) are still "
                 "undecided (pending or in progress)") if row["undecided"] else (
            f"all {fmt_count(row['total'])} recommendations are decided (accepted or declined)")
        ctx.table("Recommendations by decision state", scope,
                  [("decision", "Decision"), ("status", "Status"),
                   ("recommendations", "Recommendations"), ("share", "Share")])
        ctx.finding("scope", "Optimisation scope",
                    f"{sentence_case(state)}; "
                    f"{fmt_pct(row['decided_acceptance_rate'])} of the decided offers were accepted.",
                    {k: row[k] for k in ("total", "decided", "undecided", "other_status", "accepted", "declined",
                                         "decided_share", "undecided_share", "decided_acceptance_rate")},
                    [scope], effect=0.1, polarity="neutral", n=row["decided"])
    _readiness(ctx)


def _readiness(ctx: StepContext) -> None:
    p = ctx.profile
    stats_id = p.query_ids.get("stats")
    if not stats_id:
        return
    columns = {c.name: c for c in p.columns}
    flagged = {f.column: f for f in p.flags if f.code == "high-nulls"}
    rows: list[dict[str, Any]] = []
    for name, use in READINESS_FIELDS:
        col = columns.get(name)
        if col is None:
            status = "absent: analyses that need it are skipped"
        elif name in flagged:
            status = "flagged: often empty"
        elif not col.null_rate:
            status = "complete"
        else:
            status = "minor gaps"
        rows.append({"column": name, "use": use, "null_rate": col.null_rate if col else None,
                     "status": status})
    ctx.table("Readiness of the fields the optimisation relies on (share of records empty)", stats_id,
              [("column", "Column", "text"), ("use", "Used for", "text"), ("null_rate", "Empty", "percent"),
               ("status", "Status", "text")], rows)
    absent = [r["column"] for r in rows if r["null_rate"] is None]
    sparse = [r for r in rows if r["column"] in flagged]
    present = [r for r in rows if r["null_rate"] is not None]
    parts = []
    if absent:
        parts.append(f"Absent from the data, so the analyses that need them are skipped: {', '.join(absent)}.")
    if sparse:
        parts.append("Often empty: " + "; ".join(f"{r['column']} ({fmt_pct(r['null_rate'])} of records)"
                                                 for r in sparse) + ".")
    emptiest = max(present, key=lambda r: (r["null_rate"], r["column"])) if present else None
    if emptiest and emptiest["null_rate"] and not sparse and not absent:
        parts.append("Every field the optimisation relies on is present, and none is flagged as often empty.")
    elif present and not sparse:
        parts.append("The fields present are complete." if absent else
                     "Every field the optimisation relies on is present and complete.")
    risky = bool(absent or sparse)
    ctx.finding("readiness", "Data readiness", " ".join(parts),
                {"absent": absent, "sparse": {r["column"]: r["null_rate"] for r in sparse},
                 "emptiest": emptiest},
                [stats_id], effect=0.4 if absent else 0.25 if sparse else 0.05,
                polarity="risk" if risky else "strength",
                units={"null_rate": "percent"})


# -- step 2: inefficiency detection ----------------------------------------------------------------------------
def detect_inefficiencies(ctx: StepContext) -> None:
    """Mis-targeted segment x product pairs and recommendations to low-affinity customers."""
    currency = _currency(ctx)
    pairs = ctx.sql("optimization/mistargeting", what="Mis-targeted segment x product pairs", bins=10)
    if pairs and pairs.rows:
        rows = pairs.dicts()
        tests = adjust([against_expected(r["accepted"], r["recommendations"], r["expected_rate"]) for r in rows])
        for r, c in zip(rows, tests, strict=True):
            r["test"] = test_values(c, ctx.min_effect)
        # mis-targeted: a shortfall past the threshold that is also clear beyond chance
        flagged = [r for r in rows if r["mistargeted"] and r["test"]["clear"]]
        shown = flagged + [r for r in rows[:TOP_N] if r not in flagged]
        head = rows[0]
        ctx.table(f"Segment x product pairs with the most missed acceptances against their score-expected rate "
                  f"(pairs of at least {fmt_count(head['min_group_size'])} recommendations; mis-targeted from a "
                  f"shortfall of {fmt_pp(head['mistarget_gap'], signed=False)})", pairs,
                  [("segment", "Segment"), ("product_type", "Product type"),
                   ("recommendations", "Recommendations"), ("avg_score", "Mean score"),
                   ("acceptance_rate", "Acceptance"), ("expected_rate", "Expected from scores"),
                   ("gap", "Shortfall"), ("missed_acceptances", "Missed acceptances")], shown)
        ctx.chart("Actual (bars) and score-expected (line) acceptance of the pairs above, in percent",
                  xy_chart("Actual vs score-expected acceptance", [f"{r['segment']} x {r['product_type']}"
                                                                   for r in shown],
                           [("bar", percent_values([r["acceptance_rate"] for r in shown])),
                            ("line", percent_values([r["expected_rate"] for r in shown]))], y_title="percent"),
                  pairs)
        for r in flagged[:TOP_N]:
            ctx.finding("mistargeted", "Mis-targeted segment x product pair",
                        f"{r['segment']} x {r['product_type']} is mis-targeted: its "
                        f"{fmt_count(r['recommendations'])} recommendations carry a mean score of "
                        f"{fmt_num(r['avg_score'], 3)} yet only {fmt_pct(r['acceptance_rate'])} were accepted, "
                        f"against {fmt_pct(r['expected_rate'])} expected from their scores "
                        f"({fmt_times(r['expected_actual_ratio'])}). The shortfall of "
                        f"{fmt_pp(r['gap'], signed=False)} (threshold {fmt_pp(r['mistarget_gap'], signed=False)}) "
                        f"amounts to about {fmt_count(r['missed_acceptances'])} missed acceptances, and the "
                        f"{fmt_count(r['not_accepted'])} offers not accepted cost "
                        f"{_money(r['not_accepted_cost'], currency)} to deliver at the assumed cost per "
                        "recommendation.",
                        {**r, "currency": currency, "total_accepted": head["total_accepted"],
                         "estimate": gap_estimate(r["recommendations"], r["test"], head["total_accepted"],
                                                  "acceptances", f"if {r['segment']} x {r['product_type']} offers "
                                                  "converted as their scores predict", pairs.id)},
                        [pairs], effect=min(1.0, float(r["gap"]) / 0.3),
                        polarity="risk", n=r["recommendations"],
                        units={**TEST_UNITS, **ESTIMATE_UNITS, "total_accepted": "count"})
        if not flagged:
            ctx.finding("targeting_ok", "Segment x product targeting",
                        f"None of the {fmt_count(head['pairs_compared'])} segment x product pairs falls short of its "
                        f"score-expected acceptance by {fmt_pp(head['mistarget_gap'], signed=False)} or more; the "
                        f"largest shortfall is {head['segment']} x {head['product_type']} at "
                        f"{fmt_pp(head['gap'], signed=False)}.",
                        head, [pairs], effect=0.1, polarity="strength", n=head["recommendations"],
                        units=TEST_UNITS)
    aff = ctx.sql("optimization/low_affinity", what="Recommendations to low-affinity customers")
    if aff and aff.rows:
        rows = aff.dicts()
        ctx.table("Acceptance and delivery cost of offers not accepted, by product affinity", aff,
                  [("affinity", "Affinity"), ("recommendations", "Recommendations"),
                   ("share", "Share"), ("acceptance_rate", "Acceptance"),
                   ("not_accepted", "Not accepted"),
                   ("not_accepted_cost", "Delivery cost without result")])
        head = rows[0]
        if head["low_recommendations"] and head["medium_high_acceptance_rate"] is not None:
            test = test_values(compare_rates(head["low_accepted"], head["low_recommendations"],
                                             head["low_accepted"] / head["low_share_of_accepted"] - head["low_accepted"]
                                             if head["low_share_of_accepted"] else 0.0,
                                             head["low_recommendations"] / head["low_share"]
                                             - head["low_recommendations"]), ctx.min_effect)
            total_accepted = (head["low_accepted"] / head["low_share_of_accepted"]
                              if head["low_share_of_accepted"] else 0.0)
            ctx.finding("low_affinity", "Offers to low-affinity customers",
                        f"Low-affinity customers receive {fmt_pct(head['low_share'])} of recommendations "
                        f"({fmt_count(head['low_recommendations'])}) but accept only "
                        f"{fmt_pct(head['low_acceptance_rate'])} of them, against "
                        f"{fmt_pct(head['medium_high_acceptance_rate'])} for Medium and High affinity "
                        f"({fmt_times(head['medium_high_low_ratio'])}). The {fmt_count(head['low_not_accepted'])} "
                        f"low-affinity offers not accepted cost {_money(head['low_not_accepted_cost'], currency)} to "
                        "deliver at the assumed cost per recommendation; they bring "
                        f"{fmt_pct(head['low_share_of_accepted'])} of all acceptances.",
                        {k: head[k] for k in ("low_recommendations", "low_share", "low_acceptance_rate",
                                              "medium_high_acceptance_rate", "medium_high_low_gap",
                                              "medium_high_low_ratio", "low_not_accepted", "low_not_accepted_cost",
                                              "cost_per_recommendation", "low_accepted", "low_share_of_accepted")}
                        | {"currency": currency, "test": test, "total_accepted": total_accepted,
                           "estimate": gap_estimate(head["low_recommendations"], test, total_accepted, "acceptances",
                                                    "upper bound if Low-affinity offers converted like the other "
                                                    "offers", aff.id)},
                        [aff], effect=min(1.0, (float(head["medium_high_low_ratio"] or 1.0) - 1) / 4)
                        if test["clear"] else 0.05, polarity="opportunity", n=head["low_recommendations"],
                        units={**TEST_UNITS, **ESTIMATE_UNITS, "total_accepted": "count"})


    _engine_suitability(ctx)


def _engine_suitability(ctx: StepContext) -> None:
    """With a match run in the database: how the bank's past offers fare against the engine's suitability gates
    (the backtest of the run's parameters; :mod:`agents.matching`). Without one nothing is added."""
    ev = engine_evidence(ctx)
    if ev is None:
        return
    v = ev.values
    ctx.finding("engine_suitability", "Past offers against the matching engine's suitability gates",
                f"Replaying the matching engine (run {v['run_id']}, top {fmt_count(v['top'])}, {v['mode']} mode) on "
                f"the "
                f"{fmt_count(v['decided_offers'])} decided offers made from {v['cutoff']} to {v['last_date']}, with "
                f"what was known before {v['cutoff']}: {fmt_count(v['unsuitable_offers'])} of them "
                f"({fmt_pct(v['unsuitable_share'])}) fail a suitability gate and were accepted "
                f"{fmt_pct(v['unsuitable_rate'])} (95% CI {fmt_pct(v['unsuitable_low'])} to "
                f"{fmt_pct(v['unsuitable_high'])}), against {fmt_pct(v['top_rate'])} (95% CI {fmt_pct(v['top_low'])} "
                f"to {fmt_pct(v['top_high'])}) for the {fmt_count(v['top_offers'])} offers that were in the engine's "
                f"top {fmt_count(v['top'])}: a gap of {fmt_pp(v['gap'])} (95% CI {fmt_pp(v['gap_low'])} to "
                f"{fmt_pp(v['gap_high'])}). The gate failed most is {v['most_failed_gate']} "
                f"({v['most_failed_gate_name']}, {fmt_count(v['most_failed_gate_offers'])} offers, "
                f"{fmt_pct(v['most_failed_gate_rate'])} accepted); offers failing {v['worst_gate']} "
                f"({v['worst_gate_name']}) converted least ({fmt_pct(v['worst_gate_rate'])} of "
                f"{fmt_count(v['worst_gate_offers'])}).",
                v, list(ev.query_ids), effect=min(1.0, max(0.0, float(v["gap"])) / 0.2) if v["clear"] else 0.05,
                polarity="risk" if v["clear"] else "neutral", n=v["unsuitable_offers"], units=ENGINE_UNITS)


# -- step 3: correlation analysis ------------------------------------------------------------------------------
def correlate(ctx: StepContext) -> None:
    """Lifecycle stage, transaction volume and usage trend against acceptance."""
    life = ctx.sql("optimization/lifecycle", what="Acceptance by lifecycle stage")
    if life and life.rows:
        rows = life.dicts()
        ctx.table("Acceptance by lifecycle stage", life,
                  [("stage", "Stage"), ("recommendations", "Recommendations"),
                   ("share", "Share"), ("acceptance_rate", "Acceptance"),
                   ("vs_overall", "vs overall")])
        tests = {k: test_values(c, ctx.min_effect) for k, c in against_rest_all(rows, key="stage").items()}
        known = [r for r in rows if r["stage"] != NOT_RECORDED]
        best = max(known, key=lambda r: (r["acceptance_rate"], r["stage"])) if known else None
        worst = min(known, key=lambda r: (r["acceptance_rate"], r["stage"])) if known else None
        if best is not None and worst is not None and best is not worst:
            test = tests[worst["stage"]]
            est = gap_estimate(worst["recommendations"], test, sum(r["recommendations"] * r["acceptance_rate"]
                                                                   for r in rows), "acceptances",
                               f"if {worst['stage']} customers converted like the other stages", life.id)
            ctx.finding("lifecycle", "Lifecycle stage and acceptance",
                        f"Acceptance ranges from {fmt_pct(best['acceptance_rate'])} for {best['stage']} customers to "
                        f"{fmt_pct(worst['acceptance_rate'])} for {worst['stage']} customers, a spread of "
                        f"{fmt_pp(best['acceptance_rate'] - worst['acceptance_rate'], signed=False)}; "
                        f"{worst['stage']} customers receive {fmt_pct(worst['share'])} of recommendations and "
                        f"accept {fmt_pp(test['diff'])} against the other stages"
                        + (f" ({_clear(test)})." if test["clear"] else "; no stage differs clearly from the rest."),
                        {"best": best, "worst": worst, "spread": best["acceptance_rate"] - worst["acceptance_rate"],
                         "ratio": best["acceptance_rate"] / worst["acceptance_rate"] if worst["acceptance_rate"]
                         else None, "overall_rate": worst["overall_rate"], "test": test, "estimate": est}, [life],
                        effect=min(1.0, float(best["acceptance_rate"] - worst["acceptance_rate"]) / 0.2)
                        if test["clear"] else 0.05, polarity="opportunity", n=worst["recommendations"],
                        units={**TEST_UNITS, **ESTIMATE_UNITS, "spread": "pp", "ratio": "times"})
    mapped = ctx.profile.provenance.get("labels") or {}  # what the loading mapping calls a column, if anything
    for column, key, default_label, word in COUNT_COLUMNS:
        if column == "campaign_contacts" and not ctx.has(column):
            continue  # an optional column most banks' data lacks: no "not analysed" line for it
        label = str(mapped.get(column, default_label))
        res = ctx.sql("optimization/by_count", what=f"Acceptance by {label}", count_column=column, count_label=label,
                      bins=5 if key == "transactions" else 10)
        if res and res.rows:
            _count_finding(ctx, res, key, label, word)
    usage = ctx.sql("optimization/usage_trend", what="Acceptance by product-usage trend")
    if usage and usage.rows:
        rows = usage.dicts()
        ctx.table("Acceptance by product-usage trend", usage,
                  [("trend", "Usage trend"), ("recommendations", "Recommendations"),
                   ("share", "Share"), ("acceptance_rate", "Acceptance")])
        by = {r["trend"]: r for r in rows}
        if "Increasing" in by and "Decreasing" in by:
            up, down = by["Increasing"], by["Decreasing"]
            # rising against falling usage: the sign of the gap the interval qualifies
            test = test_values(compare_rates(up["recommendations"] * up["acceptance_rate"], up["recommendations"],
                                             down["recommendations"] * down["acceptance_rate"],
                                             down["recommendations"]), ctx.min_effect)
            total = sum(r["recommendations"] * r["acceptance_rate"] for r in rows)
            vs_rest = against_rest_all(rows, key="trend")["Decreasing"]
            est = gap_estimate(down["recommendations"], test_values(vs_rest, ctx.min_effect), total, "acceptances",
                               "upper bound if falling-usage customers converted like the others", usage.id)
            ctx.finding("usage_trend", "Usage trend and acceptance",
                        f"Customers whose product usage is rising accept {fmt_pct(up['acceptance_rate'])} of offers, "
                        f"against {fmt_pct(down['acceptance_rate'])} when usage is falling "
                        f"({fmt_times(up['increasing_decreasing_ratio'])}, "
                        f"{fmt_pp(up['increasing_decreasing_gap'])}, "
                        f"{_clear(test) if test['clear'] else 'no clear difference'}); falling-usage customers still "
                        f"receive {fmt_pct(down['share'])} of recommendations.",
                        {"increasing": up, "decreasing": down, "gap": up["increasing_decreasing_gap"],
                         "ratio": up["increasing_decreasing_ratio"], "test": test, "estimate": est}, [usage],
                        effect=min(1.0, float(up["increasing_decreasing_gap"] or 0.0) / 0.2) if test["clear"] else 0.05,
                        polarity="opportunity", n=down["recommendations"],
                        units={**TEST_UNITS, **ESTIMATE_UNITS, "gap": "pp", "ratio": "times"})


#: count columns whose groups are compared: (column, finding key, label, unit word in the singular)
COUNT_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("customer_transaction_count", "transactions", "transaction count in the last six months", "transaction"),
    ("campaign_contacts", "campaign_contacts", "contacts in this campaign", "contact"),
)


def _group_label(row: dict[str, Any], word: str, last: bool, first: bool = True) -> str:
    """``3 contacts``, ``8 to 58 transactions``; a range between the first and the last group goes without its
    word (``59 to 78``), which the groups around it name."""
    lo, hi = row["min_count"], row["max_count"]
    words = word if lo == hi == 1 else f"{word}s"
    if lo == hi:
        return f"{fmt_count(lo)} {words}"
    return f"{fmt_count(lo)} or more {words} (up to {fmt_count(hi)})" if last else \
        f"{fmt_count(lo)} to {fmt_count(hi)}" + (f" {words}" if first else "")


def _trend(rates: list[float], word: str) -> str:
    """How acceptance moves across ordered groups, judged on the rates as the report shows them (0.1%)."""
    shown = [round(r * 1000) for r in rates]
    if all(b < a for a, b in itertools.pairwise(shown)):
        return f"falls with every extra {word}"
    if all(b > a for a, b in itertools.pairwise(shown)):
        return f"rises with every extra {word}"
    if monotone(rates, decreasing=True) and rates[-1] < rates[0]:
        return f"never rises with an extra {word}"
    if monotone(rates, decreasing=False) and rates[-1] > rates[0]:
        return f"never falls with an extra {word}"
    return "does not move steadily with the count"


def _count_finding(ctx: StepContext, res: QueryResult, key: str, label: str, word: str) -> None:
    rows = res.dicts()
    head = rows[0]
    by_value = bool(head["by_value"])
    cut = f"one group per {word} count" if by_value else "groups cut at count values, so equal counts share a group"
    ctx.table(f"Acceptance by {label} ({cut})", res,
              [("grp", "Group"), ("recommendations", "Recommendations"), ("min_count", "From"),
               ("max_count", "To"), ("avg_count", "Mean"), ("acceptance_rate", "Acceptance")])
    ctx.chart(f"Acceptance by {label} (from-to), in percent",
              xy_chart(f"Acceptance by {word} count",
                       [f"{fmt_count(r['min_count'])}-{fmt_count(r['max_count'])}" for r in rows],
                       [("bar", percent_values([r["acceptance_rate"] for r in rows]))], y_title="percent"), res)
    if len(rows) < 2:
        ctx.note(f"All records share one {label}, so acceptance cannot be compared across counts.")
        return
    low, high = rows[0], rows[-1]
    test = test_values(compare_rates(high["recommendations"] * high["acceptance_rate"], high["recommendations"],
                                     low["recommendations"] * low["acceptance_rate"], low["recommendations"]),
                       ctx.min_effect)
    trend = _trend([float(r["acceptance_rate"]) for r in rows], word)
    groups = [f"{fmt_pct(r['acceptance_rate'])} at {_group_label(r, word, i == len(rows) - 1, i == 0)}"
              for i, r in enumerate(rows)]
    missing = int(head["all_recommendations"]) - int(head["records"])
    unrecorded = (f" {plural(missing, 'recommendation')} without a recorded count "
                  "are not in these groups." if missing else "")
    ctx.finding(key, f"{sentence_case(label)} and acceptance",
                f"Acceptance {trend}: " + ", ".join(groups[:-1]) + f" and {groups[-1]}; the last group against the "
                f"first is {fmt_pp(test['diff'])} "
                f"({interval_text(test) if test['clear'] else 'no clear difference'}).{unrecorded}",
                {k: head[k] for k in ("bottom_group_rate", "top_group_rate", "top_bottom_gap", "acceptance_spread",
                                      "correlation", "records", "all_recommendations", "groups")}
                | {"trend": trend, "test": test, "by_value": by_value, "label": label, "word": word,
                   "first": low, "last": high},
                [res], effect=min(1.0, abs(float(head["top_bottom_gap"] or 0.0)) / 0.2) if test["clear"] else 0.05,
                polarity="neutral", n=head["records"], units={**TEST_UNITS, "by_value": "text", "trend": "text"})


def _clear(test: dict[str, Any]) -> str:
    return interval_text(test)


# -- step 4: core banking and CRM systems ----------------------------------------------------------------------
def _system_finding(ctx: StepContext, key: str, kind: str, res: QueryResult) -> None:
    rows = res.dicts()
    ctx.table(f"Acceptance and undecided share by {kind}", res,
              [("system", "System", "text"), ("recommendations", "Recommendations", "count"),
               ("share", "Share", "percent"), ("acceptance_rate", "Acceptance", "percent"),
               ("decided_acceptance_rate", "Acceptance of decided", "percent"),
               ("undecided_share", "Undecided", "percent"), ("vs_others", "vs other systems", "pp")])
    known = [r for r in rows if r["system"] != NOT_RECORDED and r["recommendations"] >= ctx.min_group]
    if len(known) < 2:
        return
    tests = {k: test_values(c, ctx.min_effect) for k, c in against_rest_all(rows, key="system").items()}
    best = max(known, key=lambda r: (r["acceptance_rate"], r["system"]))
    worst = min(known, key=lambda r: (r["acceptance_rate"], r["system"]))
    test = tests[worst["system"]]
    total = sum(r["recommendations"] * r["acceptance_rate"] for r in rows)
    most = max(rows, key=lambda r: (r["undecided_share"], r["system"]))
    least = min(rows, key=lambda r: (r["undecided_share"], r["system"]))
    spread = float(best["acceptance_rate"] - worst["acceptance_rate"])
    # the undecided share is stated when it differs by the minimum effect or more (a smaller spread is noise)
    undecided = (f"; the undecided share ranges from {fmt_pct(least['undecided_share'])} ({least['system']}) to "
                 f"{fmt_pct(most['undecided_share'])} ({most['system']})"
                 if float(most["undecided_share"] - least["undecided_share"]) >= ctx.min_effect else "")
    ctx.finding(key, f"Acceptance by {kind}",
                f"Across the {fmt_count(rows[0]['systems'])} {kind}s, acceptance ranges from "
                f"{fmt_pct(worst['acceptance_rate'])} ({worst['system']}) to {fmt_pct(best['acceptance_rate'])} "
                f"({best['system']}), a spread of {fmt_pp(spread, signed=False)}{undecided}.",
                {"best": best, "worst": worst, "spread": spread, "kind": kind,
                 "undecided_spread": rows[0]["undecided_spread"], "test": test,
                 "estimate": gap_estimate(worst["recommendations"], test, total, "acceptances",
                                          f"if {worst['system']} offers converted like those of the other {kind}s",
                                          res.id)},
                [res], effect=min(1.0, spread / 0.1) if test["clear"] else 0.05,
                polarity="risk" if test["clear"] and spread >= 0.05 else "neutral",
                n=worst["recommendations"],
                units={**TEST_UNITS, **ESTIMATE_UNITS, "spread": "pp"})


def integrate_systems(ctx: StepContext) -> None:
    """Acceptance per core banking and CRM system; freshness and completeness of each core banking feed."""
    sources = ctx.sql("optimization/systems", what="Acceptance by core banking system", group_column="source_system",
                      group_label="core banking source system")
    if sources and sources.rows:
        _system_finding(ctx, "source_systems", "core banking system", sources)
    crms = ctx.sql("optimization/systems", what="Acceptance by CRM system", group_column="crm_system",
                   group_label="CRM system")
    if crms and crms.rows:
        _system_finding(ctx, "crm_systems", "CRM system", crms)
    if not ctx.has("source_system"):
        ctx.skipped("Freshness and completeness by core banking system",
                    "needs column(s) absent from the data: source_system")
        return
    affinity = ctx.sql("optimization/source_affinity", what="Records without a product affinity by core banking system")
    _feeds(ctx, sources, affinity)


def _feeds(ctx: StepContext, sources: QueryResult | None, affinity: QueryResult | None) -> None:
    p = ctx.profile
    ids = p.query_ids
    fresh_id, gaps_id = ids.get("source_freshness"), ids.get("source_gaps")
    by_system = {r["system"]: r for r in sources.dicts()} if sources else {}
    no_affinity = {r["system"]: r for r in affinity.dicts()} if affinity else {}
    rows = [r for r in p.sources if r.get("source_system") is not None]
    if rows and gaps_id:
        ctx.table("Freshness and completeness by core banking system (newest record; share of checked customer "
                  "fields empty)", gaps_id,
                  [("source_system", "System", "text"), ("records", "Records", "count"),
                   ("newest", "Newest record", "text"), ("lag_days", "Days behind", "count"),
                   ("empty_rate", "Fields empty", "percent"), ("others_empty_rate", "Other systems", "percent")],
                  rows)
    for r in rows:
        acc = by_system.get(r["source_system"], {})
        refs: list[QueryResult | Query | str] = [q for q in (fresh_id, sources if acc else None) if q]
        lag = r.get("lag_days")
        if fresh_id and lag is not None and lag > STALE_DAYS:
            share = f" ({fmt_pct(acc['share'])} of the total)" if acc else ""
            ctx.finding("stale_source", "Stale core banking feed",
                        f"{r['source_system']} is stale: its newest recommendation is dated {r['newest']}, "
                        f"{fmt_count(lag)} days behind the newest in the data, so its "
                        f"{fmt_count(acc.get('recommendations', r.get('records')))} recommendations{share} miss "
                        "the most recent months and any figure by core banking system under-reads it.",
                        {"system": r["source_system"], "newest": r["newest"], "lag_days": lag,
                         "records": r.get("records"), "share": acc.get("share"),
                         "acceptance_rate": acc.get("acceptance_rate")},
                        refs, effect=min(1.0, float(lag) / 180), confidence=1.0, polarity="risk",
                        units={"lag_days": "count", "records": "count"})
        empty, others = r.get("empty_rate"), r.get("others_empty_rate") or 0.0
        if (empty is not None and r.get("gap_min_rate") is not None and empty > r["gap_min_rate"]
                and empty > r["gap_ratio"] * others):
            gap = no_affinity.get(r["source_system"])
            detail = ""
            if gap and gap["missing_affinity"]:
                detail = (f" {fmt_pct(gap['missing_affinity_rate'])} of its records carry no product affinity "
                          f"(against {fmt_pct(gap['others_missing_affinity_rate'])} elsewhere), so affinity-based "
                          "targeting cannot reach them.")
            ctx.finding("source_gaps", "Gaps in a core banking feed",
                        f"{r['source_system']} rows leave {fmt_pct(empty)} of the checked customer fields empty "
                        f"({fmt_count(r['empty_fields'])} empty values across {fmt_count(r['records'])} records), "
                        f"against {fmt_pct(others)} in the other systems.{detail}",
                        {"system": r["source_system"], "empty_rate": empty, "others_empty_rate": others,
                         "empty_fields": r["empty_fields"], "records": r["records"],
                         "fields_checked": r.get("fields_checked"),
                         "missing_affinity_rate": gap["missing_affinity_rate"] if gap else None,
                         "others_missing_affinity_rate": gap["others_missing_affinity_rate"] if gap else None},
                        [q for q in (gaps_id, affinity if detail else None) if q],
                        effect=min(1.0, (empty - others) * 20), confidence=1.0, polarity="risk",
                        units=SOURCE_UNITS)
    if not rows:  # no per-source completeness in the profile: carry its source flags as they are
        flags = [f for f in p.flags if f.code in ("stale-source", "source-gaps")]
        if flags:
            ctx.finding("source_flags", "Core banking feed quality",
                        "Data-quality warnings on the core banking feeds: "
                        + "; ".join(f.message for f in flags) + ".",
                        {"flags": [f.code for f in flags]}, [f.query_id for f in flags if f.query_id],
                        effect=0.5, confidence=1.0, polarity="risk")


# -- rules for the offline analyst ----------------------------------------------------------------------------
def _scope(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    lead = (f"{fmt_pct(v['undecided_share'])} of recommendations are still undecided; targeting changes are"
            if v["undecided"] else "Every recommendation is decided, so targeting changes are")
    return RuleOutput(insight=f"{lead} judged on the {fmt_count(v['decided'])} decided offers, of which "
                              f"{fmt_pct(v['decided_acceptance_rate'])} were accepted.")


def _readiness_rule(f: Finding, idx: FindingIndex) -> RuleOutput | None:
    v = f.values
    if f.polarity != "risk":
        return None
    fields = list(v.get("absent") or []) + list((v.get("sparse") or {}).keys())
    return RuleOutput(
        insight="Parts of the optimisation rest on incomplete data: " + ", ".join(fields)
                + " are absent or often empty.",
        recommendation=RecDraft(
            "Backfill the fields the optimisation relies on",
            "Fields that are absent or often empty limit the analysis: " + ", ".join(fields) + ".",
            effort="Medium", owner="Data Engineering",
            success_metric="every field in the readiness table present and no longer flagged as often empty"))


def _worth(est: Any, what: str) -> str:
    """The estimate of an action in one sentence (empty when there is none)."""
    return estimate_text(est, f"{what} about {{n}} {est.unit}" if est else "")


def _mistargeted(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    est = estimate_of(v.get("estimate"))
    pair = f"{v['product_type']} offers to {v['segment']} customers"
    return RuleOutput(
        insight=f"{pair} are a clear targeting failure: with a mean score of {fmt_num(v['avg_score'], 3)} they "
                f"are accepted {fmt_pct(v['acceptance_rate'])} of the time, far below the "
                f"{fmt_pct(v['expected_rate'])} their scores imply.",
        recommendation=RecDraft(
            f"Suppress {pair} and re-score them",
            f"{fmt_count(v['recommendations'])} recommendations converted at {fmt_pct(v['acceptance_rate'])} against "
            f"a score-expected {fmt_pct(v['expected_rate'])}, about {fmt_count(v['missed_acceptances'])} missed "
            f"acceptances; the model overrates this pair, so suppress it in the recommendation engine and add a "
            f"segment x product correction before re-enabling.{_worth(est, 'Converting as scored would add')}",
            effort="Low", owner="Product Management with Data Science",
            success_metric=f"acceptance of {v['segment']} x {v['product_type']} offers up from today's rate towards "
                           f"the score-expected rate [{f.id}], or their volume cut",
            topic=f"pair:{v['segment']}|{v['product_type']}", direction="fix", estimate=est),
        risk=f"Scores for {v['segment']} x {v['product_type']} overstate acceptance [{f.id}]; forecasts built on "
             "raw scores will overstate conversions.")


def _targeting_ok(f: Finding, idx: FindingIndex) -> RuleOutput:
    return RuleOutput(insight=f.statement)


def _low_affinity(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    cur = v.get("currency", "USD")
    if not v["test"]["clear"]:
        return RuleOutput(insight=f"Low-affinity offers do not convert clearly worse than the others "
                                  f"({fmt_pct(v['low_acceptance_rate'])} against "
                                  f"{fmt_pct(v['medium_high_acceptance_rate'])}).")
    est = estimate_of(v.get("estimate"))
    return RuleOutput(
        insight=f"Recommendation volume is spent where it converts least: Low-affinity customers get "
                f"{fmt_pct(v['low_share'])} of offers and accept {fmt_pct(v['low_acceptance_rate'])}, while Medium and "
                f"High affinity convert {fmt_times(v['medium_high_low_ratio'])} as often.",
        recommendation=RecDraft(
            "Gate recommendations to Low-affinity customers",
            f"{fmt_count(v['low_not_accepted'])} low-affinity offers were not accepted, "
            f"{_money(v['low_not_accepted_cost'], cur)} of delivery at {_unit_cost(v['cost_per_recommendation'], cur)} "
            f"each; since they still bring {fmt_pct(v['low_share_of_accepted'])} of acceptances, require a high score "
            f"or rising affinity rather than stopping them outright.{_worth(est, 'The gap is worth up to')}",
            effort="Low", owner="Product Management",
            success_metric=f"acceptance of offers to Low-affinity customers up from today's rate, with their share "
                           f"of volume below today's [{f.id}]", topic="affinity-gating", direction="fix", estimate=est))


def _engine_suitability_rule(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if not v["clear"]:
        return RuleOutput(insight=f"Offers that fail the engine's suitability gates do not convert clearly worse than "
                                  f"its top {fmt_count(v['top'])} ({fmt_pct(v['unsuitable_rate'])} against "
                                  f"{fmt_pct(v['top_rate'])}).")
    return RuleOutput(
        insight=f"{fmt_pct(v['unsuitable_share'])} of decided offers would not pass the matching engine's suitability "
                f"gates, and they convert {fmt_pp(v['gap'], signed=False)} below the engine's own top "
                f"{fmt_count(v['top'])}.",
        recommendation=RecDraft(
            "Check every offer against the suitability gates before it is sent",
            f"{fmt_count(v['unsuitable_offers'])} offers in the test window failed a gate (most often "
            f"{v['most_failed_gate']}, {v['most_failed_gate_name']}) and converted {fmt_pct(v['unsuitable_rate'])} "
            f"against {fmt_pct(v['top_rate'])} for offers in the engine's top {fmt_count(v['top'])}; "
            "`finmatch match run` lists a suitable alternative for each customer.",
            effort="Medium", owner="Product Management",
            success_metric=f"share of offers failing a suitability gate down from {fmt_pct(v['unsuitable_share'])}",
            topic="suitability-gating", direction="fix"))


def _lifecycle(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    best, worst = v["best"], v["worst"]
    if not v["test"]["clear"]:
        return RuleOutput(insight=f.statement)
    est = estimate_of(v.get("estimate"))
    rec = None
    if (v.get("spread") or 0) >= 0.1:
        rec = RecDraft(
            f"Shift offer volume from {worst['stage']} to {best['stage']} customers",
            f"{worst['stage']} customers accept {fmt_pct(worst['acceptance_rate'])} of offers against "
            f"{fmt_pct(best['acceptance_rate'])} for {best['stage']} customers; serve {worst['stage']} customers "
            f"re-engagement rather than cross-sell offers.{_worth(est, 'The gap is worth up to')}",
            effort="Low", owner="Product Management",
            success_metric=f"acceptance of offers to {worst['stage']} customers up from today's rate [{f.id}] "
                           "towards the overall rate",
            topic=f"stage:{worst['stage']}", direction="reduce", estimate=est)
    return RuleOutput(
        insight=f"Lifecycle stage separates responsive from unresponsive customers: {best['stage']} customers accept "
                f"{fmt_times(v['ratio'])} as often as {worst['stage']} ones.", recommendation=rec)


def _transactions(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if not v["test"]["clear"]:
        return RuleOutput(insight=f"Acceptance shows no clear difference between the lowest and highest transaction "
                                  f"counts ({fmt_pct(v['bottom_group_rate'])} against "
                                  f"{fmt_pct(v['top_group_rate'])}); transaction volume should not drive targeting "
                                  "on its own.")
    more = v["top_bottom_gap"] > 0
    return RuleOutput(
        insight=f"Acceptance {v['trend']}: the most active customers accept {fmt_pct(v['top_group_rate'])} against "
                f"{fmt_pct(v['bottom_group_rate'])} for the least active ({interval_text(v['test'])}).",
        recommendation=RecDraft(
            "Add transaction activity to the matching model's features",
            f"Acceptance is {fmt_pp(v['top_bottom_gap'], signed=False)} {'higher' if more else 'lower'} for the most "
            f"active customers than for the least active ({interval_text(v['test'])}), a difference the score "
            "does not use today.",
            effort="Medium", owner="Data Science", topic="feature:transactions", direction="grow",
            success_metric=f"the score ranks the {fmt_pp(v['top_bottom_gap'], signed=False)} activity gap"))


def _campaign_contacts(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    first, last = v["first"], v["last"]
    if not v["test"]["clear"]:
        return RuleOutput(insight=f"Acceptance shows no clear difference with the number of contacts in the campaign "
                                  f"({fmt_pct(first['acceptance_rate'])} at the first group against "
                                  f"{fmt_pct(last['acceptance_rate'])} at the last).")
    if v["top_bottom_gap"] >= 0:
        return RuleOutput(insight=f"Acceptance {v['trend']}: customers contacted more often accept more "
                                  f"({fmt_pct(last['acceptance_rate'])} against {fmt_pct(first['acceptance_rate'])}).")
    return RuleOutput(
        insight=f"Acceptance {v['trend']}: {fmt_pct(first['acceptance_rate'])} at "
                f"{_group_label(first, 'contact', False)} against {fmt_pct(last['acceptance_rate'])} at "
                f"{_group_label(last, 'contact', True)} ({interval_text(v['test'])}).",
        recommendation=RecDraft(
            "Review the contact policy for customers who have not accepted after several contacts",
            f"Customers reached {fmt_count(last['min_count'])} or more times accept "
            f"{fmt_pct(last['acceptance_rate'])} of offers against {fmt_pct(first['acceptance_rate'])} at the first "
            "contact. The data shows the association, not its cause: customers still undecided after many calls "
            "may be less interested to begin with, so test a contact cap on part of the campaign before applying it.",
            effort="Low", owner="Marketing Operations", topic="contacts", direction="reduce",
            success_metric=f"acceptance per contact above {fmt_pct(last['acceptance_rate'])} for repeat contacts "
                           "in the test group, with total acceptances held"))


def _usage_trend(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    up, down = v["increasing"], v["decreasing"]
    if not v["test"]["clear"]:
        return RuleOutput(insight=f.statement)
    est = estimate_of(v.get("estimate"))
    rec = None
    if (v.get("gap") or 0) >= 0.05:
        rec = RecDraft(
            "Prioritise offers to customers with rising product usage",
            f"Rising-usage customers accept {fmt_pct(up['acceptance_rate'])} of offers against "
            f"{fmt_pct(down['acceptance_rate'])} for falling usage, yet falling-usage customers receive "
            f"{fmt_pct(down['share'])} of recommendations.{_worth(est, 'The gap is worth up to')}",
            effort="Low", owner="Product Management",
            success_metric=f"share of recommendations to falling-usage customers below today's share [{f.id}], "
                           "without lower overall acceptance",
            topic="usage:Decreasing", direction="reduce", estimate=est)
    return RuleOutput(insight=f"Usage momentum predicts response: rising-usage customers accept "
                              f"{fmt_times(v['ratio'])} as often as those whose usage is falling.", recommendation=rec)


def _systems(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    best, worst = v["best"], v["worst"]
    if f.polarity == "risk" and v["test"]["clear"]:
        est = estimate_of(v.get("estimate"))
        return RuleOutput(
            insight=f"Product matching performs unevenly by {v['kind']}: {worst['system']} converts at "
                    f"{fmt_pct(worst['acceptance_rate'])} against {fmt_pct(best['acceptance_rate'])} on "
                    f"{best['system']}.",
            recommendation=RecDraft(
                f"Align the recommendation integration of {worst['system']} with {best['system']}",
                f"Acceptance on {worst['system']} trails {best['system']} by {fmt_pp(v['spread'], signed=False)}."
                f"{_worth(est, 'Converting like the other systems would add')}",
                effort="Medium", owner="Core Banking Integration",
                success_metric=f"acceptance spread between systems below the current "
                               f"{fmt_pp(v['spread'], signed=False)}", topic=f"system:{worst['system']}",
                direction="fix", estimate=est))
    return RuleOutput(insight=f"Acceptance shows no clear difference across {v['kind']}s (spread "
                              f"{fmt_pp(v['spread'], signed=False)}), so integration fixes should target data "
                              "freshness and completeness rather than matching logic.")


def _stale_source(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        insight=f"The {v['system']} feed has stopped delivering recent data: its newest record is {v['newest']}, "
                f"{fmt_count(v['lag_days'])} days behind the newest data.",
        recommendation=RecDraft(
            f"Restore the {v['system']} core banking feed",
            f"The newest {v['system']} recommendation is dated {v['newest']}, {fmt_count(v['lag_days'])} days behind "
            "the newest data, so recent offers to its customers are missing from every analysis.",
            effort="Medium", owner="Data Engineering",
            success_metric=f"{v['system']} newest record within the same week as the other systems (currently "
                           f"{fmt_count(v['lag_days'])} days behind), monitored with a freshness alert",
            topic=f"source:{v['system']}", direction="fix"),
        )


def _source_gaps(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        insight=f"{v['system']} delivers incomplete customer records: {fmt_pct(v['empty_rate'])} of checked fields "
                f"are empty against {fmt_pct(v['others_empty_rate'])} elsewhere.",
        recommendation=RecDraft(
            f"Add completeness checks to the {v['system']} feed",
            f"{fmt_count(v['empty_fields'])} customer field values are empty in {v['system']} rows "
            f"({fmt_pct(v['empty_rate'])} against {fmt_pct(v['others_empty_rate'])} in the other systems)"
            + (f"; {fmt_pct(v['missing_affinity_rate'])} of its records have no product affinity, so affinity "
               "gating cannot apply to them." if v.get("missing_affinity_rate") else "."),
            effort="Low", owner="Data Engineering",
            success_metric=f"share of empty checked fields in {v['system']} rows down from {fmt_pct(v['empty_rate'])} "
                           f"to the other systems' {fmt_pct(v['others_empty_rate'])}",
            topic=f"source:{v['system']}", direction="fix"))


def _source_flags(f: Finding, idx: FindingIndex) -> RuleOutput:
    return RuleOutput(
        insight=f.statement,
        recommendation=RecDraft("Fix the flagged core banking feeds", f.statement, effort="Medium",
                                owner="Data Engineering",
                                success_metric="no stale-source or source-gaps warning in the dataset profile"))


AGENT = AgentSpec(
    key="optimization",
    title="Optimization Opportunities",
    block=200,
    run_tables=("finmatch_offers",),  # its per-offer-group queries read it
    challenge="Product managers spend hours every day identifying inefficiencies in customer segmentation, "
              "product affinity analysis and recommendation delivery across diverse customer portfolios.",
    solution="An optimisation analysis that detects targeting gaps, product positioning inefficiencies and "
             "delivery improvements, with implementation strategies for the core banking systems.",
    steps=(
        StepSpec("Banking Optimization Data Preparation", "data",
                 "Loading customer financial behaviour data with validation, to find product-matching "
                 "improvements.", prepare_data),
        StepSpec("Financial Product Inefficiency Detection", "data",
                 "Analysing customer segmentation and product affinity targeting for evidence of inefficiency.",
                 detect_inefficiencies),
        StepSpec("Banking Correlation Analysis", "data",
                 "Examining how lifecycle stages and transaction patterns relate to acceptance.", correlate),
        StepSpec("Core Banking System Integration Optimization", "data",
                 "Evaluating product matching across the FIS, Fiserv and Temenos core banking platforms and the CRMs.",
                 integrate_systems),
        StepSpec("AI Banking Optimization Intelligence", "ai",
                 "Generating targeting recommendations with the selected AI model (or the offline analyst)."),
        StepSpec("Banking Strategy Finalization", "report",
                 "The optimisation report with a prioritised implementation roadmap."),
    ),
    rules={"scope": _scope, "readiness": _readiness_rule, "mistargeted": _mistargeted, "targeting_ok": _targeting_ok,
           "low_affinity": _low_affinity,
           "engine_suitability": _engine_suitability_rule, "lifecycle": _lifecycle, "transactions": _transactions,
           "campaign_contacts": _campaign_contacts,
           "usage_trend": _usage_trend, "source_systems": _systems, "crm_systems": _systems,
           "stale_source": _stale_source, "source_gaps": _source_gaps, "source_flags": _source_flags},
)
