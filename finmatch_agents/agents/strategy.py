"""Strategic Recommendations agent: channel and platform mix, the advantage of score-driven targeting over an
untargeted baseline, data readiness for new integrations, segment roles and digital adoption, turned into a
phased Now / Next / Later roadmap.

Steps and their order are the FinMatch document's. Every figure in a statement comes from the query result
it cites (shares, lifts and differences are result columns); rules below phrase those figures as insights
and recommendations whose horizons form the roadmap.
"""

from __future__ import annotations

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
from finmatch_agents.data.profile import SOURCE_UNITS
from finmatch_agents.formatting import fmt_count, fmt_num, fmt_pct, fmt_pp, fmt_times
from finmatch_agents.stats import adjust, against_rest, compare_means, compare_rates

if TYPE_CHECKING:
    from finmatch_agents.records import Finding
    from finmatch_agents.warehouse.engine import QueryResult

#: data dimensions that open banking, real-time (IoT-style) and event-driven integrations consume:
#: (column, label, what an integration would use it for)
READINESS_DIMENSIONS: tuple[tuple[str, str, str], ...] = (
    ("transaction_history", "Transaction history", "Open banking: account aggregation and cash-flow insight"),
    ("customer_product_interests", "Product interests", "Event-driven, interest-led offers"),
    ("customer_email", "Customer e-mail", "Digital consent and notifications (open banking)"),
    ("account_balance", "Account balance", "Real-time balance triggers (IoT-style signals)"),
    ("customer_lifecycle_stage_transition_date", "Lifecycle transition date", "Event-driven lifecycle triggers"),
)


#: a channel leads (or trails) clearly when it converts this many times as often as the others (or less)
CLEAR_LEAD = 1.2


def _names(items: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _pct(value: Any) -> str:
    """A percentage with two decimals when one decimal would round a non-zero share to 0.0%."""
    small = isinstance(value, int | float) and 0 < abs(value) < 0.001
    return fmt_pct(value, 2 if small else 1)


def _share(value: Any, total: Any) -> float:
    try:
        return min(1.0, abs(float(value)) / max(abs(float(total)), 1e-9))
    except (TypeError, ValueError):
        return 0.0


# -- steps -------------------------------------------------------------------------------------------------
def assess_technology(ctx: StepContext) -> None:
    """Channel mix and conversion, digital against assisted channels, CRM platform mix."""
    mix = ctx.sql("strategy/channel_mix", what="Channel mix and conversion")
    if mix and mix.rows:
        rows = mix.dicts()
        ctx.table(f"Recommendations and acceptance by channel (channels with at least "
                  f"{fmt_count(rows[0]['min_group_size'])} recommendations)", mix,
                  [("channel", "Channel"), ("channel_type", "Type"),
                   ("recommendations", "Recommendations"), ("share", "Share"),
                   ("acceptance_rate", "Acceptance"), ("vs_overall", "vs overall"),
                   ("lift", "Lift vs overall")])
        ctx.chart("Acceptance by channel (bars) against the overall rate (line), in percent",
                  xy_chart("Acceptance by channel", [r["channel"] for r in rows],
                           [("bar", percent_values([r["acceptance_rate"] for r in rows])),
                            ("line", percent_values([r["overall_rate"] for r in rows]))], y_title="percent"), mix)
        _channel_findings(ctx, mix, rows)
    split = ctx.sql("strategy/digital_split", what="Digital versus assisted channels")
    if split and split.rows and split.first().get("recommendations"):
        row = split.first()
        channels = ", ".join(str(c) for c in row["digital_channels"] or [])
        of = ("of recommendations with a recorded channel" if row["all_recommendations"] > row["recommendations"]
              else "of recommendations")
        if not row["digital_recommendations"]:
            ctx.finding("digital", "Digital share",
                        f"No recommendation went through a channel counted as digital ({channels}, per the "
                        "digital_channels assumption), so digital and assisted delivery cannot be compared; if the "
                        "data names its channels differently, set the assumption to match.", row, [split],
                        n=row["recommendations"])
        elif row["digital_acceptance"] is None or row["assisted_acceptance"] is None:
            ctx.finding("digital", "Digital share",
                        f"Digital channels ({channels}, per the digital_channels assumption) carry "
                        f"{fmt_pct(row['digital_share'])} {of}; there is no "
                        f"{'assisted' if row['assisted_acceptance'] is None else 'digital'} volume to compare "
                        "acceptance against.", row, [split], n=row["recommendations"])
        else:
            test = test_values(compare_rates(row["digital_recommendations"] * row["digital_acceptance"],
                                             row["digital_recommendations"],
                                             row["assisted_recommendations"] * row["assisted_acceptance"],
                                             row["assisted_recommendations"]), ctx.min_effect)
            ctx.finding("digital", "Digital against assisted channels",
                        f"Digital channels ({channels}, per the digital_channels assumption) carry "
                        f"{fmt_pct(row['digital_share'])} {of} and convert at "
                        f"{fmt_pct(row['digital_acceptance'])} against {fmt_pct(row['assisted_acceptance'])} for "
                        f"assisted channels ({fmt_pp(test['diff'])}; "
                        f"{interval_text(test) if test['clear'] else 'no clear difference'}).",
                        {**row, "test": test}, [split],
                        effect=_share(test["diff"], row["overall_rate"]) if test["clear"] else 0.05,
                        polarity=("opportunity" if test["diff"] > 0 else "risk") if test["clear"] else "neutral",
                        n=min(row["digital_recommendations"], row["assisted_recommendations"]), units=TEST_UNITS)


def _channel_findings(ctx: StepContext, mix: QueryResult, rows: list[dict[str, Any]]) -> None:
    """Recorded channels against each other (adjusted for the number of channels): only clear differences lead.
    Offers without a recorded channel are their own finding against all recorded ones, so an unknown group
    never makes a recorded channel look strong (or weak) by comparison."""
    total = float(rows[0]["overall_rate"]) * float(rows[0]["all_recommendations"])
    unknown = next((r for r in rows if r["channel"] == NOT_RECORDED), None)
    known = [r for r in rows if r["channel"] != NOT_RECORDED]
    if unknown is not None and known:
        test = test_values(against_rest_all(rows, key="channel")[NOT_RECORDED], ctx.min_effect)
        est = gap_estimate(unknown["recommendations"], test, total, "acceptances",
                           "upper bound if offers without a recorded channel converted like the recorded ones", mix.id)
        ctx.finding("unrecorded_channel", "Offers without a recorded channel",
                    f"{fmt_pct(unknown['share'])} of recommendations have no recorded channel; they convert at "
                    f"{fmt_pct(unknown['acceptance_rate'])} against {fmt_pct(test['rate_b'])} for offers with a "
                    f"recorded channel ({fmt_pp(test['diff'])}; "
                    f"{interval_text(test) if test['clear'] else 'no clear difference'}).",
                    {**unknown, "test": test, "estimate": est}, [mix],
                    effect=_share(test["diff"], unknown["overall_rate"]) if test["clear"] else 0.05,
                    polarity="risk" if test["clear"] and test["diff"] < 0 else "neutral",
                    n=unknown["recommendations"], units={**TEST_UNITS, **ESTIMATE_UNITS})
    if len(known) < 2:
        named = f" ({known[0]['channel']})" if known else ""
        ctx.note(f"Only one recorded channel{named} has enough recommendations, so channels are not compared.")
        return
    tests = {k: test_values(c, ctx.min_effect) for k, c in against_rest_all(known, key="channel").items()}
    above = [r for r in known if tests[r["channel"]]["clear"] and tests[r["channel"]]["diff"] > 0]
    below = [r for r in reversed(known) if tests[r["channel"]]["clear"] and tests[r["channel"]]["diff"] < 0]
    others = "the other recorded channels" if unknown is not None else "the other channels"
    if above:
        best, test = above[0], tests[above[0]["channel"]]
        kind = {"Digital": "a digital channel", "Assisted": "an assisted channel"}.get(best["channel_type"], "")
        ctx.finding("best_channel", "Best-converting channel",
                    f"{best['channel']}{', ' + kind + ',' if kind else ''} converts best at "
                    f"{fmt_pct(best['acceptance_rate'])} against {fmt_pct(test['rate_b'])} for {others} "
                    f"({fmt_pp(test['diff'])}; {interval_text(test)}); it carries {fmt_pct(best['share'])} of "
                    "recommendations.",
                    {**best, "test": test, "others": others}, [mix],
                    effect=min(1.0, _share(test["diff"], best["overall_rate"])),
                    polarity="opportunity", n=best["recommendations"], units={**TEST_UNITS, "others": "text"})
    if below:
        worst, test = below[0], tests[below[0]["channel"]]
        est = gap_estimate(worst["recommendations"], test, total, "acceptances",
                           f"upper bound if {worst['channel']} converted like {others}", mix.id)
        ctx.finding("weakest_channel", "Weakest channel",
                    f"{worst['channel']} converts worst at {fmt_pct(worst['acceptance_rate'])} against "
                    f"{fmt_pct(test['rate_b'])} for {others} ({fmt_pp(test['diff'])}; {interval_text(test)}) on "
                    f"{fmt_pct(worst['share'])} of recommendations.",
                    {**worst, "test": test, "estimate": est, "others": others}, [mix],
                    effect=_share(test["diff"], worst["overall_rate"]), polarity="risk",
                    n=worst["recommendations"], units={**TEST_UNITS, **ESTIMATE_UNITS, "others": "text"})
    if not above and not below:
        ctx.finding("channels_alike", "Channels",
                    f"No recorded channel converts clearly differently from {others} (by at least "
                    f"{fmt_pp(ctx.min_effect, signed=False)} beyond chance): acceptance ranges from "
                    f"{fmt_pct(known[-1]['acceptance_rate'])} ({known[-1]['channel']}) to "
                    f"{fmt_pct(known[0]['acceptance_rate'])} ({known[0]['channel']}).",
                    {"lowest": known[-1], "highest": known[0], "min_effect": ctx.min_effect}, [mix], effect=0.05,
                    units={"min_effect": "pp"})


def competitive_advantage(ctx: StepContext) -> None:
    """Gain of score-driven targeting over an untargeted baseline, by score tenth."""
    gain = ctx.sql("strategy/gain", what="Advantage of score-driven targeting (gain by score tenth)", bins=10)
    if not gain or not gain.rows:
        return
    rows = gain.dicts()
    ctx.table("Cumulative gain of contacting recommendations in score order", gain,
              [("top_percent", "Top percent by score"), ("min_score", "Lowest score"),
               ("acceptance_rate", "Acceptance in this tenth"),
               ("contacted_share", "Share contacted"),
               ("captured_share", "Share of acceptances captured"),
               ("cumulative_rate", "Cumulative acceptance"), ("lift", "Lift"),
               ("captured_vs_untargeted", "vs untargeted")])
    ctx.chart("Gain chart: share of acceptances captured by contacting the top offers by score (first line) "
              "against untargeted contact (second line), in percent",
              xy_chart("Gain of score-driven targeting", [f"Top {r['top_percent']}%" for r in rows],
                       [("line", percent_values([r["captured_share"] for r in rows])),
                        ("line", percent_values([r["contacted_share"] for r in rows]))], y_title="percent"), gain)
    top = rows[0]
    ctx.finding("targeting_advantage", "Advantage of score-driven targeting",
                f"Contacting the top {fmt_count(top['top_percent'])}% of recommendations by score captures "
                f"{fmt_pct(top['captured_share'])} of all acceptances at {fmt_pct(top['cumulative_rate'])} "
                f"acceptance, {fmt_times(top['lift'])} the overall acceptance rate (the untargeted baseline).",
                top, [gain], effect=min(1.0, (float(top["lift"] or 1.0) - 1.0) / 2),
                polarity="strength" if (top["lift"] or 0) >= 1.5 else "risk", n=top["recommendations"])
    half = next((r for r in rows if r["top_percent"] == top["half_capture_percent"]), None)
    middle = next((r for r in rows if r["top_percent"] == r["bottom_percent"]), None)  # the top half
    if half and middle:
        ctx.finding("capacity_focus", "Where the acceptances are",
                    f"At least half of all acceptances come from the top {fmt_count(half['top_percent'])}% of "
                    f"recommendations by score ({fmt_pct(half['captured_share'])} of acceptances at "
                    f"{fmt_times(half['lift'])} the baseline rate, {fmt_pp(half['captured_vs_untargeted'])} against "
                    f"untargeted contact). The lower {fmt_count(middle['bottom_percent'])}% by score yields only "
                    f"{fmt_pct(middle['remaining_share'])} of acceptances.",
                    {"half": half, "middle": middle, "overall_rate": top["overall_rate"]}, [gain],
                    effect=min(1.0, float(half["captured_vs_untargeted"] or 0.0) * 2),
                    polarity="opportunity", n=half["cum_recommendations"])


def assess_integration_readiness(ctx: StepContext) -> None:
    """Completeness of the dimensions new integrations consume (from the profile), sync latency, feed quality."""
    profile = ctx.profile
    stats_id = profile.query_ids.get("stats")
    columns = {c.name: c for c in profile.columns}
    flagged = {f.column for f in profile.flags if f.code == "high-nulls"}
    present = [d for d in READINESS_DIMENSIONS if d[0] in columns]
    absent = [d for d in READINESS_DIMENSIONS if d[0] not in columns]
    if not present or not stats_id:
        ctx.skipped("Data readiness for open banking, real-time and event-driven integrations",
                    "needs column(s) absent from the data: " + ", ".join(d[0] for d in READINESS_DIMENSIONS))
    else:
        rows: list[dict[str, Any]] = []
        for col, label, use in READINESS_DIMENSIONS:
            info = columns.get(col)
            status = "Absent" if info is None else ("Gap" if col in flagged else "Ready")
            rows.append({"dimension": label, "use": use, "null_rate": info.null_rate if info else None,
                         "status": status})
        ctx.table("Data readiness by integration dimension (empty share from the dataset profile)", stats_id,
                  [("dimension", "Data dimension", "text"), ("use", "Integration use", "text"),
                   ("null_rate", "Empty", "percent"), ("status", "Status", "text")], rows)
        ready = [r for r in rows if r["status"] == "Ready"]
        gaps = [r for r in rows if r["status"] == "Gap"]
        worst = max((r for r in rows if r["null_rate"] is not None), key=lambda r: (r["null_rate"], r["dimension"]))
        parts = []
        if ready:
            parts.append(f"{_names([r['dimension'].lower() for r in ready])} "
                         f"{'is' if len(ready) == 1 else 'are'} complete enough to build integrations on")
        if gaps:
            parts.append(f"{_names([r['dimension'].lower() for r in gaps])} "
                         f"{'has' if len(gaps) == 1 else 'have'} gaps the dataset profile flags")
        if absent:
            parts.append(f"{_names([d[1].lower() for d in absent])} "
                         f"{'is' if len(absent) == 1 else 'are'} not in the data")
        least = (f" The least complete is {worst['dimension'].lower()}, empty in {fmt_pct(worst['null_rate'])} of "
                 "rows." if len(present) > 1 else "")
        ctx.finding("data_readiness", "Data readiness for integrations",
                    "Of the data new integrations would consume, " + "; ".join(parts) + "." + least,
                    {"dimensions": rows, "worst": worst, "ready": [r["dimension"] for r in ready],
                     "gaps": [r["dimension"] for r in gaps], "absent": [d[1] for d in absent]}, [stats_id],
                    effect=0.6 if gaps or absent else min(1.0, float(worst["null_rate"] or 0.0) * 5),
                    polarity="risk" if gaps or absent else "strength",
                    units={"null_rate": "percent"})
    _source_quality(ctx)
    if ctx.has("source_system"):
        lat = ctx.sql("strategy/sync_latency", what="Sync latency by source system")
    else:  # no source systems: latency over all records
        lat = ctx.sql("strategy/sync_latency_overall", what="Sync latency")
    if lat and lat.rows and lat.first().get("records"):
        rows = lat.dicts()
        ctx.table("Days from recommendation to connector sync" + (", by source system" if ctx.has("source_system")
                                                                  else ""), lat,
                  [("source_system", "Source system"), ("records", "Records"),
                   ("median_days", "Median days"), ("p95_days", "Tail latency (days)"),
                   ("max_days", "Slowest (days)"), ("share_within_day", "Synced within a day")])
        total = next(r for r in rows if r["is_total"] == 1)
        sources = [r for r in rows if r["is_total"] == 0]
        # the slowest feed is named when its median is slower than the median record's (not when every feed is)
        slowest = f" The slowest feed is {sources[0]['source_system']} (median {fmt_num(sources[0]['median_days'])} " \
                  "days)." if len(sources) > 1 and fmt_num(sources[0]["median_days"]) != fmt_num(total["median_days"]) \
            else ""
        ctx.finding("sync_latency", "Sync latency",
                    f"Recommendations reach the warehouse a median of {fmt_num(total['median_days'])} days after "
                    f"they are made; {fmt_pct(total['tail_quantile'], 0)} arrive within "
                    f"{fmt_num(total['p95_days'])} days and {_pct(total['share_within_day'])} within a day. "
                    f"Batch sync at this pace cannot feed real-time or event-driven offers.{slowest}",
                    {**total, "slowest": sources[0] if sources else None}, [lat],
                    effect=1.0 - float(total["share_within_day"] or 0.0),
                    polarity="risk" if (total["share_within_day"] or 0) < 0.5 else "strength", n=total["records"])



def _source_quality(ctx: StepContext) -> None:
    """Completeness and freshness by core banking feed, from the profile's per-source checks."""
    profile = ctx.profile
    sources = profile.sources
    ids = profile.query_ids
    gaps_id = ids.get("source_gaps")
    if not sources or not gaps_id:
        return
    flags = profile.flags

    def flagged(code: str, name: str) -> bool:
        return any(f.code == code and f.message.startswith(f"{name}:") for f in flags)

    rows = [{**s, "gappy": flagged("source-gaps", s["source_system"]),
             "stale": flagged("stale-source", s["source_system"])} for s in sources]
    ctx.table("Empty fields by core banking source system (dataset profile)", gaps_id,
              [("source_system", "Source system", "text"), ("records", "Records", "count"),
               ("empty_rate", "Fields empty", "percent"), ("others_empty_rate", "Other systems", "percent")], rows)
    weak = [r for r in rows if r["gappy"] or r["stale"]]
    if weak:
        worst = max(weak, key=lambda r: (r["empty_rate"] or 0.0, r["source_system"]))
        text = (f"{worst['source_system']} is the weakest core banking feed: {fmt_pct(worst['empty_rate'])} of its "
                f"checked fields are empty against {fmt_pct(worst['others_empty_rate'])} in the other systems")
        qids = [gaps_id]
        if worst["stale"] and worst.get("lag_days") is not None and ids.get("source_freshness"):
            text += (f", and its newest recommendation is {fmt_count(worst['lag_days'])} days behind the newest "
                     "overall")
            qids.append(ids["source_freshness"])
        ctx.finding("source_quality", "Core banking feed quality",
                    text + f". Integrations that read from the {worst['source_system']} feed would inherit these "
                           "gaps.", worst, qids,
                    effect=min(1.0, 0.4 + (0.3 if worst["gappy"] else 0.0) + (0.3 if worst["stale"] else 0.0)),
                    polarity="risk", n=worst["records"],
                    units=SOURCE_UNITS)
    else:
        low = min(rows, key=lambda r: (r["empty_rate"] or 0.0, r["source_system"]))
        high = max(rows, key=lambda r: (r["empty_rate"] or 0.0, r["source_system"]))
        ctx.finding("source_quality", "Core banking feed quality",
                    f"The core banking feeds are similarly complete: between {fmt_pct(low['empty_rate'])} "
                    f"({low['source_system']}) and {fmt_pct(high['empty_rate'])} ({high['source_system']}) of "
                    "checked fields are empty, and none is flagged as stale.",
                    {"low": low, "high": high}, [gaps_id], effect=0.1, polarity="strength")


def develop_strategy(ctx: StepContext) -> None:
    """Segment roles (Grow / Defend / Nurture) and digital adoption by segment."""
    roles = (ctx.sql("strategy/segment_roles", what="Segment roles from acceptance and churn")
             if ctx.has("customer_churn_probability") else None)  # without churn: acceptance-only roles below
    if roles and roles.rows:
        rows = _tested_roles(ctx, roles.dicts(), with_churn=True)
        ctx.table("Segment roles: Defend (churn clearly above the other segments), Grow (acceptance clearly above), "
                  "Nurture (acceptance clearly below), Hold (no clear difference)", roles,
                  [("segment", "Segment"), ("role", "Role"), ("customers", "Customers"),
                   ("acceptance_rate", "Acceptance"), ("acceptance_vs_overall", "vs overall"),
                   ("avg_churn", "Mean churn"), ("churn_vs_overall", "vs overall")], rows)
        _role_findings(ctx, roles, rows, with_churn=True)
    elif roles is None and ctx.has("customer_segment"):  # churn absent: roles from acceptance only
        fallback = ctx.sql("strategy/segment_acceptance", what="Segment roles from acceptance only")
        if fallback and fallback.rows:
            rows = _tested_roles(ctx, fallback.dicts(), with_churn=False)
            ctx.note("Churn probability is not in the data, so segment roles rest on acceptance only: Grow when "
                     "acceptance is clearly above the other segments, Nurture when clearly below, Hold otherwise; "
                     "no segment can be marked Defend.")
            ctx.table("Segment roles from acceptance only", fallback,
                      [("segment", "Segment"), ("role", "Role"), ("customers", "Customers"),
                       ("acceptance_rate", "Acceptance"), ("acceptance_vs_overall", "vs overall")], rows)
            _role_findings(ctx, fallback, rows, with_churn=False)
    dig = ctx.sql("strategy/segment_digital", what="Digital adoption by segment")
    if dig and dig.rows and any(r["digital_share"] for r in dig.dicts()):  # none digital: said under channels
        rows = dig.dicts()
        ctx.table("Digital adoption and digital against assisted acceptance by segment", dig,
                  [("segment", "Segment"), ("recommendations", "Recommendations"),
                   ("digital_share", "Digital share"), ("adoption_vs_overall", "vs overall"),
                   ("digital_acceptance", "Digital acceptance"),
                   ("assisted_acceptance", "Assisted acceptance"),
                   ("digital_vs_assisted", "Digital advantage")])
        compared = [r for r in rows if r["digital_vs_assisted"] is not None]
        if compared:
            target = compared[0]  # most extra acceptances from matching the most digital segment (query order)
            lagging = target["segment"] != target["top_digital_segment"]
            n, share = float(target["recommendations"]), float(target["digital_share"] or 0.0)
            test = test_values(compare_rates(n * share * target["digital_acceptance"], n * share,
                                             n * (1 - share) * target["assisted_acceptance"], n * (1 - share)),
                               ctx.min_effect)
            material = lagging and float(target["adoption_gap_to_top"] or 0.0) >= ctx.min_effect
            if not test["clear"] or not (material or not lagging):
                return  # no clear digital advantage, or an adoption gap too small to act on: nothing to report
            gap = (f"; {fmt_pct(target['digital_share'])} of their recommendations are digital against "
                   f"{fmt_pct(target['top_digital_share'])} for {target['top_digital_segment']}, the most digital "
                   f"segment, and matching that adoption would add about {fmt_count(target['extra_acceptances'])} "
                   "acceptances on the same volume" if lagging else
                   f"; {fmt_pct(target['digital_share'])} of their recommendations are already digital, the most of "
                   "any segment")
            ctx.finding("digital_segment", "Digital adoption opportunity",
                        f"{target['segment']} customers convert {fmt_pp(target['digital_vs_assisted'])} better "
                        f"through digital channels ({fmt_pct(target['digital_acceptance'])} against "
                        f"{fmt_pct(target['assisted_acceptance'])} assisted){gap}. Overall, "
                        f"{fmt_pct(target['overall_digital_share'])} of recommendations are digital.",
                        {**target, "lagging": lagging, "test": test}, [dig],
                        effect=min(1.0, abs(float(target["digital_vs_assisted"] or 0.0)) * 5),
                        polarity="opportunity" if target["digital_vs_assisted"] > 0 and lagging else "neutral",
                        n=target["recommendations"], units=TEST_UNITS)


def _tested_roles(ctx: StepContext, rows: list[dict[str, Any]], *, with_churn: bool) -> list[dict[str, Any]]:
    """Roles from tests, not from which side of the average a segment falls: each segment's acceptance (and
    churn) against the other segments', adjusted for the number of segments."""
    first = rows[0]
    n_all, acc_all = float(first["all_recommendations"]), float(first["overall_acceptance"])
    acc = adjust([against_rest(r["recommendations"] * r["acceptance_rate"], r["recommendations"], acc_all * n_all,
                               n_all) for r in rows])
    churn: list[Any] = [None] * len(rows)
    if with_churn:
        c_all, mean_all = float(first["all_customers"]), float(first["overall_churn"])
        sd_all = float(first["overall_sd_churn"] or 0.0)
        raw = []
        for r in rows:
            rest_n = c_all - r["customers"]
            rest_mean = (mean_all * c_all - r["avg_churn"] * r["customers"]) / rest_n if rest_n > 0 else mean_all
            raw.append(compare_means(r["avg_churn"], float(r["sd_churn"] or 0.0), r["customers"], rest_mean, sd_all,
                                     rest_n))
        churn = adjust(raw)
    out = []
    for r, a, c in zip(rows, acc, churn, strict=True):
        a_test = test_values(a, ctx.min_effect)
        c_test = test_values(c, ctx.min_effect) if c is not None else None
        if c_test and c_test["clear"] and c_test["diff"] > 0:
            role = "Defend"
        elif a_test["clear"]:
            role = "Grow" if a_test["diff"] > 0 else "Nurture"
        else:
            role = "Hold"
        out.append({**r, "role": role, "acceptance_test": a_test, "churn_test": c_test})
    order = {"Grow": 1, "Defend": 2, "Nurture": 3, "Hold": 4}
    return sorted(out, key=lambda r: (order[r["role"]], -r["acceptance_rate"], r["segment"]))


def _role_findings(ctx: StepContext, result: Any, rows: list[dict[str, Any]], *, with_churn: bool) -> None:
    by_role: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_role.setdefault(r["role"], []).append(r)
    parts = [f"{role}: {_names([r['segment'] for r in by_role[role]])}"
             for role in ("Grow", "Defend", "Nurture", "Hold") if role in by_role]
    first = rows[0]
    basis = (f"Against overall acceptance of {fmt_pct(first['overall_acceptance'])} and mean churn of "
             f"{fmt_pct(first['overall_churn'])} (segments differ by up to "
             f"{fmt_pp(first['acceptance_spread'], signed=False)} in acceptance and "
             f"{fmt_pp(first['churn_spread'], signed=False)} in churn)" if with_churn else
             f"Against overall acceptance of {fmt_pct(first['overall_acceptance'])} (churn is not in the data)")
    ctx.finding("segment_roles", "Segment roles", f"{basis}: " + "; ".join(parts) + ".",
                {"roles": {k: [r["segment"] for r in v] for k, v in by_role.items()}, "with_churn": with_churn,
                 "overall_acceptance": first["overall_acceptance"], "overall_churn": first.get("overall_churn"),
                 "acceptance_spread": first.get("acceptance_spread"), "churn_spread": first.get("churn_spread")},
                [result], effect=0.2,
                n=sum(r["recommendations"] for r in rows))
    grow = by_role.get("Grow", [])
    if grow:
        g = grow[0]  # highest acceptance among Grow segments (query order)
        churn = (f" and a mean churn of {fmt_pct(g['avg_churn'])} ({fmt_pp(g['churn_vs_overall'])})"
                 if with_churn else "")
        ctx.finding("grow_segment", "Segment to grow",
                    f"{g['segment']} ({fmt_count(g['customers'])} customers, {fmt_pct(g['customer_share'])} of the "
                    f"base) accepts {fmt_pct(g['acceptance_rate'])} of offers "
                    f"({fmt_pp(g['acceptance_vs_overall'])} against overall){churn}.",
                    {**g, "with_churn": with_churn}, [result],
                    effect=min(1.0, 0.2 + _share(g["acceptance_vs_overall"], g["overall_acceptance"])),
                    polarity="opportunity", n=g["recommendations"], units=TEST_UNITS)
    defend = by_role.get("Defend", [])
    if defend:
        d = max(defend, key=lambda r: (r["avg_churn"], r["segment"]))
        ctx.finding("defend_segment", "Segment to defend",
                    f"{d['segment']} ({fmt_count(d['customers'])} customers) has the highest mean churn "
                    f"probability of the segments to defend, {fmt_pct(d['avg_churn'])} "
                    f"({fmt_pp(d['churn_vs_overall'])} against the overall {fmt_pct(d['overall_churn'])}); "
                    f"{fmt_pct(d['share_high_risk'])} of its customers are at or above the high-churn threshold of "
                    f"{fmt_pct(d['high_churn_threshold'], 0)}.",
                    d, [result], effect=min(1.0, 0.2 + 2 * _share(d["churn_vs_overall"], d["overall_churn"])),
                    polarity="risk", n=d["customers"], units=TEST_UNITS)


# -- rules for the offline analyst (the roadmap: Now / Next / Later) -------------------------------------
def _best_channel(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    test = v["test"]
    return RuleOutput(
        insight=f"{v['channel']} is the bank's strongest channel: {fmt_pct(v['acceptance_rate'])} acceptance against "
                f"{fmt_pct(test['rate_b'])} for {v['others']}.",
        recommendation=RecDraft(
            f"Shift recommendation volume towards {v['channel']}",
            f"{v['channel']} converts at {fmt_pct(v['acceptance_rate'])} against {fmt_pct(test['rate_b'])} for "
            f"{v['others']} ({interval_text(test)}) and carries {fmt_pct(v['share'])} of recommendations.",
            effort="Low", owner="Digital Channels", horizon="Now",
            success_metric=f"{v['channel']} share of recommendations above the current {fmt_pct(v['share'])} "
                           f"with its acceptance held at {fmt_pct(v['acceptance_rate'])}",
            topic=f"channel:{v['channel']}", direction="grow"))


def _unrecorded_channel(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    test = v["test"]
    if not test["clear"]:
        return RuleOutput(insight=f.statement.split(" [")[0])
    est = estimate_of(v.get("estimate"))
    worse = test["diff"] < 0
    return RuleOutput(
        insight=f"Offers with no recorded channel convert at {fmt_pct(v['acceptance_rate'])}, "
                f"{'below' if worse else 'above'} the recorded channels ({fmt_pct(test['rate_b'])}): the strongest "
                "channel signal in the data is where the channel is missing.",
        recommendation=RecDraft(
            "Find out how the offers without a recorded channel were made",
            f"{fmt_pct(v['share'])} of recommendations have no channel and convert at "
            f"{fmt_pct(v['acceptance_rate'])} against {fmt_pct(test['rate_b'])} for the others; record the channel "
            "of every offer so the difference can be acted on."
            + (estimate_text(est, "The gap to the recorded channels is worth up to {n} acceptances") if worse else ""),
            effort="Low", owner="Marketing Operations with Data Engineering", horizon="Now",
            success_metric="every new recommendation carries its delivery channel",
            topic=f"channel:{NOT_RECORDED}", direction="fix", estimate=est if worse else None))


def _weakest_channel(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    est = estimate_of(v.get("estimate"))
    return RuleOutput(
        insight=f"{v['channel']} is the weakest channel at {fmt_pct(v['acceptance_rate'])} acceptance against "
                f"{fmt_pct(v['test']['rate_b'])} for {v['others']}.",
        recommendation=RecDraft(
            f"Redesign {v['channel']} recommendations",
            f"{v['channel']} offers convert at {fmt_pct(v['acceptance_rate'])} against "
            f"{fmt_pct(v['test']['rate_b'])} for {v['others']} ({interval_text(v['test'])}), on "
            f"{fmt_pct(v['share'])} of recommendations."
            + estimate_text(est, f"The gap to {v['others']} is worth up to {{n}} acceptances"),
            effort="Medium", owner="Marketing", horizon="Next",
            success_metric=f"{v['channel']} acceptance up to the {fmt_pct(v['test']['rate_b'])} of {v['others']}",
            topic=f"channel:{v['channel']}", direction="fix", estimate=est))


def _channels_alike(f: Finding, idx: FindingIndex) -> RuleOutput:
    return RuleOutput(insight=f"{f.statement.split(' [')[0]} Channel mix is not a lever on its own.")


def _digital(f: Finding, idx: FindingIndex) -> RuleOutput | None:
    v = f.values
    if not v.get("digital_recommendations"):
        return None  # the finding already says so; nothing to add
    if v.get("digital_vs_assisted") is None:
        return RuleOutput(insight=f"Digital channels carry {fmt_pct(v['digital_share'])} of recommendations.")
    if not v["test"]["clear"]:
        return RuleOutput(insight=f"Digital and assisted channels convert alike ({fmt_pct(v['digital_acceptance'])} "
                                  f"against {fmt_pct(v['assisted_acceptance'])}, no clear difference): digital reach "
                                  "is neither an advantage nor a handicap here.")
    if v["test"]["diff"] > 0:
        return RuleOutput(insight=f"Digital delivery pays: digital channels convert at "
                                  f"{fmt_pct(v['digital_acceptance'])} against {fmt_pct(v['assisted_acceptance'])} "
                                  f"for assisted ones ({interval_text(v['test'])}).")
    return RuleOutput(insight=f"Digital channels convert worse than assisted ones "
                              f"({fmt_pct(v['digital_acceptance'])} against {fmt_pct(v['assisted_acceptance'])}; "
                              f"{interval_text(v['test'])}): digital reach alone is not a conversion advantage.")


def _targeting_advantage(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if f.polarity == "risk":
        return RuleOutput(
            insight=f"Score-driven targeting gives little advantage: the top {fmt_count(v['top_percent'])}% by "
                    f"score convert at only {fmt_times(v['lift'])} the untargeted rate.",
            recommendation=RecDraft(
                "Rebuild the matching model before scaling personalisation",
                f"The top {fmt_count(v['top_percent'])}% of offers by score capture only "
                f"{fmt_pct(v['captured_share'])} of acceptances.",
                effort="High", owner="Data Science", horizon="Next",
                success_metric=f"top {fmt_count(v['top_percent'])}% lift above the current {fmt_times(v['lift'])}",
                topic="model-retrain", direction="fix"))
    return RuleOutput(
        insight=f"Personalisation is a measurable competitive advantage: the top {fmt_count(v['top_percent'])}% of "
                f"offers by score capture {fmt_pct(v['captured_share'])} of acceptances at "
                f"{fmt_times(v['lift'])} the untargeted rate.",
        recommendation=RecDraft(
            "Rank every outreach list by recommendation score",
            f"Contacting the top {fmt_count(v['top_percent'])}% by score converts at "
            f"{fmt_pct(v['cumulative_rate'])} against the untargeted {fmt_pct(v['overall_rate'])}.",
            effort="Low", owner="Marketing Operations", horizon="Now",
            success_metric=f"the top {fmt_count(v['top_percent'])}% by score keeps converting at "
                           f"{fmt_times(v['lift'])} the baseline or better, tracked monthly"))


def _capacity_focus(f: Finding, idx: FindingIndex) -> RuleOutput:
    v, half, middle = f.values, f.values["half"], f.values["middle"]
    return RuleOutput(
        insight=f"Contact capacity is concentrated value: the top {fmt_count(half['top_percent'])}% of offers by "
                f"score hold {fmt_pct(half['captured_share'])} of acceptances, while the lower "
                f"{fmt_count(middle['bottom_percent'])}% hold {fmt_pct(middle['remaining_share'])}.",
        recommendation=RecDraft(
            "Suppress low-scoring offers and redeploy their contact capacity",
            f"The lower {fmt_count(middle['bottom_percent'])}% of offers by score yield only "
            f"{fmt_pct(middle['remaining_share'])} of acceptances.",
            effort="Medium", owner="Marketing Operations", horizon="Next",
            success_metric=f"overall acceptance above the current {fmt_pct(v['overall_rate'])} at the same contact "
                           "volume"))


def _data_readiness(f: Finding, idx: FindingIndex) -> RuleOutput:
    """Readiness is a fact about the data, not evidence for open banking or real-time offers: an insight only."""
    v = f.values
    worst = v["worst"]
    missing = [d.lower() for d in v["gaps"] + v["absent"]]
    ready = _names([d.lower() for d in v["ready"]])
    if missing:
        return RuleOutput(insight=f"Integration readiness is limited: {_names(missing)} "
                                  f"{'is' if len(missing) == 1 else 'are'} missing or incomplete"
                                  + (f", while {ready} can support pilots." if ready else "."))
    return RuleOutput(insight=f"The data is ready for integration pilots: {ready} are complete; the least complete, "
                              f"{worst['dimension'].lower()}, is empty in {fmt_pct(worst['null_rate'])} of rows.")


def _source_quality_rule(f: Finding, idx: FindingIndex) -> RuleOutput | None:
    v = f.values
    if f.polarity != "risk":
        return RuleOutput(insight="The core banking feeds are similarly complete, so no feed blocks new "
                                  "integrations.")
    return RuleOutput(
        insight=f"{v['source_system']} is the bottleneck for integration: its feed is the least complete "
                f"({fmt_pct(v['empty_rate'])} of fields empty).",
        recommendation=RecDraft(
            f"Repair the {v['source_system']} feed before building integrations on it",
            f"{fmt_pct(v['empty_rate'])} of its checked fields are empty against {fmt_pct(v['others_empty_rate'])} "
            "in the other core banking systems.",
            effort="Medium", owner="Data Engineering", horizon="Next",
            success_metric=f"{v['source_system']} empty-field rate down to the other systems' "
                           f"{fmt_pct(v['others_empty_rate'])}", topic=f"source:{v['source_system']}",
            direction="fix"))


def _sync_latency(f: Finding, idx: FindingIndex) -> RuleOutput | None:
    v = f.values
    if f.polarity != "risk":
        return RuleOutput(insight=f"Most records sync within a day ({_pct(v['share_within_day'])}), fast "
                                  "enough for event-driven offers.")
    return RuleOutput(
        insight=f"Real-time banking is not yet possible on this data: the median record syncs "
                f"{fmt_num(v['median_days'])} days after the recommendation.",
        recommendation=RecDraft(
            "Move core banking feeds from batch sync to event streaming",
            f"Only {_pct(v['share_within_day'])} of records reach the warehouse within a day; the median takes "
            f"{fmt_num(v['median_days'])} days.",
            effort="High", owner="IT Architecture", horizon="Later",
            success_metric=f"median sync latency under a day, down from {fmt_num(v['median_days'])} days"))


def _segment_roles(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    roles = v["roles"]
    text = "; ".join(f"{role} {_names(roles[role])}" for role in ("Grow", "Defend", "Nurture") if role in roles)
    caveat = ""
    if v.get("with_churn") and (v.get("churn_spread") or 0) < 0.1 * (v.get("overall_churn") or 0):
        caveat = (f" Churn differs little between segments (a spread of {fmt_pp(v['churn_spread'], signed=False)}), "
                  "so Defend marks a slight excess rather than a crisis.")
    return RuleOutput(insight=f"Segment priorities for the roadmap: {text}.{caveat}")


def _grow_segment(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        recommendation=RecDraft(
            f"Expand personalised offers to {v['segment']} customers",
            f"{v['segment']} accepts {fmt_pct(v['acceptance_rate'])} of offers against the overall "
            f"{fmt_pct(v['overall_acceptance'])}.",
            effort="Medium", owner="Product Management", horizon="Next",
            success_metric=f"{v['segment']} acceptance held at or above {fmt_pct(v['acceptance_rate'])} as offer "
                           "volume grows", topic=f"segment:{v['segment']}", direction="grow"))


def _defend_segment(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    return RuleOutput(
        insight=f"{v['segment']} needs retention before cross-sell: mean churn {fmt_pct(v['avg_churn'])} against "
                f"{fmt_pct(v['overall_churn'])} overall.",
        recommendation=RecDraft(
            f"Lead with retention offers for {v['segment']} customers",
            f"Mean churn probability is {fmt_pct(v['avg_churn'])} ({fmt_pp(v['churn_vs_overall'])} against "
            f"overall) and {fmt_pct(v['share_high_risk'])} of customers are at high risk.",
            effort="Medium", owner="Customer Experience (retention)", horizon="Now",
            success_metric=f"{v['segment']} mean churn down to the overall {fmt_pct(v['overall_churn'])}",
            topic=f"segment:{v['segment']}", direction="fix"))


def _digital_segment(f: Finding, idx: FindingIndex) -> RuleOutput | None:
    v = f.values
    if f.polarity != "opportunity":
        return RuleOutput(insight=f"No segment lags clearly on digital adoption; {v['segment']} converts "
                                  f"{fmt_pp(v['digital_vs_assisted'])} differently through digital channels.")
    return RuleOutput(
        insight=f"Digital migration pays most for {v['segment']} customers: digital converts "
                f"{fmt_pp(v['digital_vs_assisted'])} better than assisted channels, and their digital adoption "
                f"trails {v['top_digital_segment']}.",
        recommendation=RecDraft(
            f"Migrate {v['segment']} customers to digital channels",
            f"Digital offers convert at {fmt_pct(v['digital_acceptance'])} against "
            f"{fmt_pct(v['assisted_acceptance'])} assisted, but {fmt_pct(v['digital_share'])} of this segment's "
            f"recommendations are digital against {fmt_pct(v['top_digital_share'])} for "
            f"{v['top_digital_segment']}.",
            effort="Medium", owner="Digital Banking", horizon="Next",
            success_metric=f"digital share of {v['segment']} recommendations up to "
                           f"{fmt_pct(v['top_digital_share'])}, the level of {v['top_digital_segment']}"))


AGENT = AgentSpec(
    key="strategy",
    title="Strategic Recommendations",
    block=400,
    challenge="Chief Customer Officers spend hours analysing competitive positioning and building roadmaps for "
              "personalised banking and digital transformation.",
    solution="A strategic workflow that measures the advantage of score-driven personalisation, digital channel "
             "adoption and segment opportunities, and lays out a phased roadmap with success metrics.",
    steps=(
        StepSpec("Banking Technology Assessment", "data",
                 "Loading the digital banking context: channels and systems across customers and products.",
                 assess_technology),
        StepSpec("Financial Services Competitive Advantage Analysis", "data",
                 "Measuring the advantage of AI-driven personalisation over untargeted recommendation.",
                 competitive_advantage),
        StepSpec("Emerging FinTech Integration", "data",
                 "Assessing data readiness for open banking, real-time (IoT) and other integrations.",
                 assess_integration_readiness),
        StepSpec("Digital Banking Strategy Development", "data",
                 "Developing segment and channel priorities for the digital transformation roadmap.",
                 develop_strategy),
        StepSpec("AI Banking Strategic Processing", "ai",
                 "Strategic recommendations with the selected AI model (or the offline analyst)."),
        StepSpec("Digital Banking Report Generation", "report",
                 "The digital banking roadmap, ready for executive review."),
    ),
    rules={"best_channel": _best_channel, "weakest_channel": _weakest_channel,
           "unrecorded_channel": _unrecorded_channel, "digital": _digital,
           "targeting_advantage": _targeting_advantage, "capacity_focus": _capacity_focus,
           "channels_alike": _channels_alike, "data_readiness": _data_readiness,
           "source_quality": _source_quality_rule,
           "sync_latency": _sync_latency, "segment_roles": _segment_roles, "grow_segment": _grow_segment,
           "defend_segment": _defend_segment, "digital_segment": _digital_segment},
    run_tables=("finmatch_customers", "finmatch_offers"),  # its per-customer and per-offer-group queries read them
)
