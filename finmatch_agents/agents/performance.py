"""Overall Performance agent: how well recommendations convert, how well the score ranks them, and which
behaviour patterns (affinity, usage, satisfaction) go with acceptance and churn.

Steps and their order are the FinMatch document's. Every figure in a statement comes from the query
result it cites; rules below phrase those figures as insights and recommendations.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

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
    flip,
    gap_estimate,
    interval_text,
    percent_values,
    ref,
    test_values,
    xy_chart,
)
from finmatch_agents.errors import FinMatchError
from finmatch_agents.events import plural
from finmatch_agents.formatting import fmt_count, fmt_num, fmt_pct, fmt_pp, fmt_times, sentence_case
from finmatch_agents.predict.api import model_summary
from finmatch_agents.predict.monitor import level as psi_level
from finmatch_agents.recommend.api import promoted_summary
from finmatch_agents.recommend.candidates import LABELS as RECOMMENDER_LABELS
from finmatch_agents.stats import adjust, against_rest, compare_means, compare_rates

if TYPE_CHECKING:
    from finmatch_agents.records import Finding
    from finmatch_agents.warehouse.engine import QueryResult

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
                    f"{plural(row['product_types'], 'product type')} "
                    f"({fmt_num(row['recommendations_per_customer'], 1)} per customer){period}. "
                    f"{ref(overview)} {stats_ref}".strip(),
                    row, [overview, *([p.query_ids['stats']] if stats_ref else [])])


def _clear_text(test: dict[str, Any]) -> str:
    """How a difference reads: its interval, or that it is within chance / below the minimum effect."""
    return interval_text(test) if test["clear"] else "no clear difference from the rest"


def assess(ctx: StepContext) -> None:
    """Acceptance, score calibration by decile, segment x product performance and affinity."""
    acc = ctx.sql("metrics/acceptance", what="Acceptance rate")
    if acc:
        row = acc.first()
        ctx.finding("acceptance", "Acceptance rate",
                    f"{_rate(row)} of the recommendations were accepted "
                    f"({fmt_count(row['accepted'])}); among decided offers (accepted or declined) the rate is "
                    f"{fmt_pct(row['decided_acceptance_rate'])}.", row, [acc], n=row["recommendations"])
    cal = ctx.sql("performance/calibration", what="Score calibration by decile", bins=10)
    if cal and cal.rows:
        rows = cal.dicts()
        head = rows[0]
        ctx.table("Acceptance by recommendation-score decile (deciles cut at score values, so equal scores share "
                  "a decile)", cal,
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
                    f"with {plural(head['decile_drops'], 'decile-to-decile drop')}. Scores differ from observed "
                    f"acceptance by {fmt_pp(gap, signed=False)} on average (largest overstatement "
                    f"{fmt_pp(head['max_overstatement'], signed=False)}).",
                    {k: head[k] for k in ("top_decile_rate", "bottom_decile_rate", "top_bottom_ratio",
                                          "score_acceptance_correlation", "mean_abs_calibration_gap",
                                          "max_overstatement", "decile_drops")},
                    [cal], effect=1.0 if weak else min(1.0, gap / 0.2), polarity="risk" if weak else "strength",
                    n=sum(r["recommendations"] for r in rows))
    _predictive_models(ctx)
    _recommender(ctx)
    cells = ctx.sql("performance/segment_product", what="Acceptance by segment x product type")
    if cells and cells.rows:
        _cells(ctx, cells)
    aff = ctx.sql("performance/affinity", what="Acceptance by product affinity")
    if aff and aff.rows:
        _affinity_finding(ctx, aff)


PREDICT_COUNTS = {"conversion": ("predict/offer_counts", "offers"), "churn": ("predict/customer_counts", "customers")}


def _predictive_models(ctx: StepContext) -> None:
    """The promoted predictive models of this table (``finmatch predict train --promote``): their AUC on the
    time-ordered holdout beside the baseline and the bank's score, and their calibration. Nothing is added
    when no model is promoted, so the default report is unchanged."""
    if ctx.state_dir is None:
        return
    try:
        summaries = model_summary(ctx.state_dir) or {}
    except FinMatchError as exc:
        ctx.note(f"Predictive models are left out: the model registry cannot be read ({exc.message}).")
        return
    for task, s in summaries.items():
        if s["table"] != ctx.table_name or task not in PREDICT_COUNTS:
            continue
        name, unit = PREDICT_COUNTS[task]
        counts = ctx.sql(name, what=f"The {task} model's data")
        if counts is None:
            continue
        auc, split = s["holdout"]["auc"], s["split"]
        cal = s["calibration"]
        gaps = [abs(b["predicted"] - b["observed"]) for b in cal]
        kfold = (s["kfold"].get("models") or {}).get(s["kind"], {}).get("mean")
        bank = s["bank_score"]
        when = (f"{unit} from {split['test_from']} on" if split.get("by") == "date" else f"the latest {unit} in "
                "file order")
        text = (f"The promoted {task} model ({'gradient boosting' if s['kind'] == 'gbm' else 'logistic regression'}, "
                f"`{s['model_id']}`), fitted on earlier {unit} and tested on the {fmt_count(split['test_rows'])} "
                f"{when}, ranks them with AUC {fmt_num(auc['value'], 3)} (95% interval {fmt_num(auc['low'], 3)} to "
                f"{fmt_num(auc['high'], 3)}); the logistic baseline reaches "
                f"{fmt_num(s['baseline']['logistic_auc']['value'], 3)}")
        if bank and bank.get("auc"):
            text += f" and the bank's {bank['column']} {fmt_num(bank['auc']['value'], 3)}"
        text += (f". Its probabilities miss the observed rate by {fmt_pp(float(np.mean(gaps)), signed=False)} on "
                 f"average across deciles (at most {fmt_pp(max(gaps), signed=False)}).") if gaps else "."
        if kfold is not None:
            text += (f" A random {s['kfold']['folds']}-fold split would report {fmt_num(kfold, 3)}; the time-ordered "
                     "figure is the one to plan with.")
        values = {"task": task, "model_id": s["model_id"], "kind": s["kind"], "holdout_auc": auc["value"],
                  "holdout_auc_low": auc["low"], "holdout_auc_high": auc["high"],
                  "logistic_auc": s["baseline"]["logistic_auc"]["value"],
                  "bank_score_auc": bank["auc"]["value"] if bank and bank.get("auc") else None,
                  "kfold_auc": kfold, "test_rows": split["test_rows"], "test_from": split.get("test_from"),
                  "mean_calibration_gap": float(np.mean(gaps)) if gaps else None,
                  "max_calibration_gap": max(gaps) if gaps else None, "verdict": s["verdict"]}
        drift_text, drift_values, drift = _model_drift(ctx, s["model_id"])
        text += drift_text
        values.update(drift_values)
        ctx.finding(f"model_{task}", f"Predictive model: {task}", text, values, [counts, *drift], effect=0.4,
                    n=split["test_rows"],
                    units={"task": "text", "model_id": "text", "kind": "text", "holdout_auc": "number",
                           "holdout_auc_low": "number", "holdout_auc_high": "number", "logistic_auc": "number",
                           "bank_score_auc": "number", "kfold_auc": "number", "test_rows": "count",
                           "test_from": "date", "mean_calibration_gap": "pp", "max_calibration_gap": "pp",
                           "verdict": "text", **DRIFT_UNITS})
        if len(drift) > 1:
            ctx.table(f"Inputs of the {task} model by population stability index since training (worst first; "
                      "below 0.1 stable, 0.1 to 0.25 watch, 0.25 or more act)", drift[1],
                      [("feature", "Input"), ("psi", "PSI"), ("level", "Level")])
        ctx.table(f"Calibration of the {task} model on its time-ordered holdout (equal-count deciles of the "
                  "predicted probability)", counts.id,
                  [("bin", "Decile", "count"), ("n", unit.capitalize(), "count"),
                   ("predicted", "Predicted", "percent"), ("observed", "Observed", "percent")], rows=cal)


DRIFT_UNITS: dict[str, Any] = {"drift_score_psi": "number", "drift_score_level": "text", "drift_worst_input": "text",
                               "drift_worst_input_psi": "number", "drift_inputs_watch": "count",
                               "drift_inputs_act": "count", "drift_current_rows": "count",
                               "drift_new_outcome_auc": "number", "drift_measured_at": "text", "drift_stale": "text"}


def _model_drift(ctx: StepContext, model_id: str) -> tuple[str, dict[str, Any], list[QueryResult]]:
    """The promoted model's newest recorded drift (``predict monitor --record`` or a predict-train job): a
    sentence, values (in the finding, so scheduled reports and ``finmatch diff`` compare them across runs) and
    the queries cited. The figures count only when they were measured on the data analysed now (same
    fingerprint); otherwise the sentence says they are stale and the values are left out. Nothing recorded:
    one sentence saying how to measure it."""
    how = f"`finmatch predict monitor {model_id} --record`"
    if not ctx.has("model_drift.drift_run_id", "model_drift.model_id", "model_drift.score_psi",
                   "model_drift.fingerprint", "model_drift_inputs.psi"):
        return f" Its drift since training has not been recorded for this database ({how} measures it).", {}, []
    res = ctx.sql("performance/model_drift", what="The promoted model's drift", model_id=model_id)
    if res is None or not res.rows:
        return f" Its drift since training has not been recorded for this database ({how} measures it).", {}, []
    d = res.first()
    if d["source_table"] != ctx.table_name or d["fingerprint"] != ctx.profile.fingerprint:
        return (f" Its newest drift measurement ({d['created_at'][:16]}) was taken on other data (table "
                f"{d['source_table']}, fingerprint {d['fingerprint']}; now {ctx.profile.fingerprint}), so it is "
                f"not repeated here; {how} measures the data as it is now.",
                {"drift_measured_at": d["created_at"], "drift_stale": "measured on other data"}, [res])
    text = (f" Since training, the population stability index of its score is {fmt_num(d['score_psi'], 3)} "
            f"({d['score_level']}: below {fmt_num(d['watch'], 2)} stable, {fmt_num(d['watch'], 2)} to "
            f"{fmt_num(d['act'], 2)} watch, {fmt_num(d['act'], 2)} or more act; a rule of thumb, not a test) between "
            f"the {fmt_count(d['training_rows'])} training rows of its snapshot and all {fmt_count(d['current_rows'])} "
            "rows now (the training rows included, which dampens the index)")
    if d["worst_input"] is not None:
        text += (f"; the input that moved most is {d['worst_input']} ({fmt_num(d['worst_input_psi'], 3)}, "
                 f"{psi_level(float(d['worst_input_psi']))}), and of its {fmt_count(d['inputs'])} inputs "
                 f"{fmt_count(d['inputs_act'])} are at act and {fmt_count(d['inputs_watch'])} at watch")
    if d["new_outcome_auc"] is not None:
        text += (f". On the {fmt_count(d['new_outcome_rows'])} outcomes dated after {d['new_outcomes_after']} it "
                 f"reaches AUC {fmt_num(d['new_outcome_auc'], 3)} (95% interval {fmt_num(d['new_outcome_auc_low'], 3)} "
                 f"to {fmt_num(d['new_outcome_auc_high'], 3)})")
    elif d["new_outcome_rows"]:
        text += (f". The {fmt_count(d['new_outcome_rows'])} outcomes dated after its training data are too few to "
                 "measure it on new data yet")
    else:
        text += ". No outcome is dated after its training data yet, so its accuracy on new data cannot be measured"
    text += f" (measured {d['created_at'][:16]})."
    values = {"drift_score_psi": d["score_psi"], "drift_score_level": d["score_level"],
              "drift_worst_input": d["worst_input"], "drift_worst_input_psi": d["worst_input_psi"],
              "drift_inputs_watch": d["inputs_watch"], "drift_inputs_act": d["inputs_act"],
              "drift_current_rows": d["current_rows"], "drift_new_outcome_auc": d["new_outcome_auc"],
              "drift_measured_at": d["created_at"]}
    inputs = ctx.sql("performance/model_drift_inputs", what="The promoted model's drift per input",
                     drift_run_id=d["drift_run_id"])
    return text, values, [res] + ([inputs] if inputs is not None and inputs.rows else [])


def _model_rule(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    bank = v.get("bank_score_auc")
    insight = (f"The {v['task']} model ranks later, unseen {'offers' if v['task'] == 'conversion' else 'customers'} "
               f"with AUC {fmt_num(v['holdout_auc'], 3)}")
    insight += f" against {fmt_num(bank, 3)} for the bank's own score." if bank is not None else "."
    if bank is not None and v["holdout_auc_low"] > bank:
        return RuleOutput(insight=insight, recommendation=RecDraft(
            f"Target {v['task']} actions with the model's calibrated probabilities",
            f"On a time-ordered holdout its AUC ({fmt_num(v['holdout_auc'], 3)}, interval from "
            f"{fmt_num(v['holdout_auc_low'], 3)}) is above the bank score's {fmt_num(bank, 3)}.",
            effort="Medium", owner="Data Science",
            success_metric="holdout AUC of the promoted model stays above the bank score's at each monthly retrain",
            topic=f"model-{v['task']}", direction="grow"))
    return RuleOutput(insight=insight)


#: the recommenders the finding compares, in the order its table shows them
RECOMMENDER_ROWS = ("recommender", "popularity", "segment_popularity", "bank_score")


def _interval(card: dict[str, Any]) -> str:
    return f"{fmt_num(card['value'], 3)} (95% interval {fmt_num(card['low'], 3)} to {fmt_num(card['high'], 3)})"


def _versus(a: dict[str, Any], b: dict[str, Any]) -> str:
    """How interval ``a`` stands against interval ``b``: above, below, or no clear difference (they overlap)."""
    if a["low"] > b["high"]:
        return "above"
    if a["high"] < b["low"]:
        return "below"
    return "no clear difference"


def _sign(difference: dict[str, Any]) -> str:
    """A paired difference's direction: above or below zero beyond its interval, else no clear difference."""
    if difference["low"] > 0:
        return "above"
    if difference["high"] < 0:
        return "below"
    return "no clear difference"


def _recommender(ctx: StepContext) -> None:
    """The promoted recommender of this table (``finmatch recommend train``, promoted through the gate): its
    MAP@3 and precision@3 on the test window, after every choice was made, against popularity and the bank's
    own score. Every figure is the stored evaluation's; the query run here sizes the test window in the data
    now. Nothing is added when no recommender is promoted, so the default report is unchanged."""
    if ctx.state_dir is None:
        return
    try:
        s = promoted_summary(ctx.state_dir)
    except FinMatchError as exc:
        ctx.note(f"The recommender is left out: its registry cannot be read ({exc.message}).")
        return
    if s is None or s["table"] != ctx.table_name:
        return
    t, kind, k = s["test"], s["recommender"], s["k"]
    rec, base_name = t["recommender"], t["baseline"]
    start = s["windows"]["test"]["from"]
    if rec is None or t.get(base_name) is None or start is None:
        return
    window = ctx.sql("performance/recommender_window", what="The promoted recommender's test window",
                     window_from=date.fromisoformat(start))
    if window is None:
        return
    w = window.first()
    base, pop, seg, bank = t[base_name], t["popularity"], t["segment_popularity"], t["bank_score"]
    on_bank = s.get("on_bank_offers") or {}
    label = s["label"] or RECOMMENDER_LABELS.get(kind, kind)
    base_label = RECOMMENDER_LABELS.get(base_name, base_name).lower()
    versus = _versus(rec["map"], base["map"])
    text = (f"The promoted recommender ({label.lower()}, `{s['model_id']}`), fitted on offers before {start} and "
            f"judged on the {fmt_count(s['positive_customers'])} customers who accepted a product new to them from "
            f"then on, reaches MAP@{k} {_interval(rec['map'])} and precision@{k} {_interval(rec['precision'])}.")
    popular = [f"{what} {_interval(card['map'])}" for what, card in (("popularity per segment", seg),) if card]
    if pop is not None:
        popular.insert(0, f"Overall popularity reaches MAP@{k} {_interval(pop['map'])}")
    elif popular:
        popular[0] = f"Popularity per segment reaches MAP@{k} {_interval(seg['map'])}"
    text += f" {' and '.join(popular)}." if popular else ""
    diff = t["minus_baseline"]
    if versus == "above":
        text += f" Its interval lies above {base_label}'s: a clear improvement"
    elif versus == "below":
        text += f" Its interval lies below {base_label}'s: popularity would have done better"
    else:
        text += f" The intervals overlap with {base_label}'s: no clear difference"
    text += (f" (paired difference {fmt_num(diff['value'], 3)}, interval {fmt_num(diff['low'], 3)} to "
             f"{fmt_num(diff['high'], 3)})." if diff else ".")
    text += (f" Averaged over all {fmt_count(s['customers'])} customers known before the window, most of whom "
             f"accepted nothing new, its MAP@{k} is {fmt_num(rec['map_all_customers']['value'], 3)}.")
    bank_values: dict[str, Any] = {}
    if bank is not None:
        text += (f" The bank's recommendation_score reaches MAP@{k} {fmt_num(bank['map']['value'], 3)}, but it only "
                 "re-ranks the offers the bank actually made in the window, and every accepted product was one of "
                 "them: it answers which of those offers to make first, not what to offer.")
        bank_values = {"bank_score_map": bank["map"]["value"], "bank_score_precision": bank["precision"]["value"]}
        mine, theirs = (on_bank.get("methods") or {}).get(kind), (on_bank.get("methods") or {}).get("bank_score")
        gap = (on_bank.get("minus_bank_score") or {}).get(kind)
        if mine and theirs and gap:
            side = _sign(gap)
            verdict = {"above": "the recommender orders them better", "below": "the bank's score orders them better",
                       "no clear difference": "no clear difference"}[side]
            text += (f" Re-ranking those same offers, the recommender reaches MAP@{k} {fmt_num(mine['value'], 3)} "
                     f"against the bank score's {fmt_num(theirs['value'], 3)}: {verdict}.")
            bank_values.update({"on_bank_offers_recommender_map": mine["value"],
                                "on_bank_offers_bank_score_map": theirs["value"],
                                "on_bank_offers_difference": gap["value"], "on_bank_offers_difference_low": gap["low"],
                                "on_bank_offers_difference_high": gap["high"], "on_bank_offers_versus": side})
    text += (f" The data now holds {fmt_count(w['window_offers'])} offers dated from {start} on, "
             f"{fmt_count(w['window_accepted'])} of them accepted.")
    same_data = bool(s.get("fingerprint")) and s["fingerprint"] == ctx.profile.fingerprint
    if not same_data:
        text += (f" The recommender was trained on an earlier state of the data (fingerprint `{s['fingerprint']}`); "
                 "`finmatch recommend train` evaluates it again on the data as it is.")
    cards = {name: {"map": card["map"], "precision": card["precision"]} for name in RECOMMENDER_ROWS
             if (card := t.get(name)) is not None}
    values: dict[str, Any] = {
        "model_id": s["model_id"], "recommender": kind, "label": label, "k": k, "test_from": start,
        "positive_customers": s["positive_customers"], "customers": s["customers"], "baseline": base_name,
        "test": cards, "map_all_customers": rec["map_all_customers"]["value"],
        "minus_baseline": diff, "versus_baseline": versus, **bank_values,
        "window_offers": w["window_offers"], "window_accepted": w["window_accepted"],
        "same_data": same_data, "fingerprint": s.get("fingerprint"), "verdict": s["verdict"], "gate": s["gate"]}
    ctx.finding("model_recommender", "Recommender: next product", text, values, [window],
                effect=0.4, polarity="strength" if versus == "above" else "risk" if versus == "below" else "neutral",
                n=s["positive_customers"],
                units={"model_id": "text", "recommender": "text", "label": "text", "k": "count", "test_from": "date",
                       "positive_customers": "count", "customers": "count", "baseline": "text", "value": "score",
                       "low": "score", "high": "score", "n": "count", "map_all_customers": "score",
                       "versus_baseline": "text", "bank_score_map": "score", "bank_score_precision": "score",
                       "on_bank_offers_recommender_map": "score", "on_bank_offers_bank_score_map": "score",
                       "on_bank_offers_difference": "score", "on_bank_offers_difference_low": "score",
                       "on_bank_offers_difference_high": "score", "on_bank_offers_versus": "text",
                       "same_data": "text", "fingerprint": "text", "verdict": "text", "gate": "text"})
    rows = [{"name": label if name == "recommender" else RECOMMENDER_LABELS.get(name, name),
             "map": card["map"]["value"], "map_low": card["map"]["low"], "map_high": card["map"]["high"],
             "precision": card["precision"]["value"], "recall": card["recall"]["value"],
             "map_all_customers": card["map_all_customers"]["value"], "coverage": card["coverage"]}
            for name in RECOMMENDER_ROWS if (card := t.get(name)) is not None]
    ctx.table(f"Recommenders on the test window at K = {k} (customers with a new acceptance; the bank's score only "
              "re-ranks the offers it made)", window.id,
              [("name", "Recommender", "text"), ("map", f"MAP@{k}", "score"), ("map_low", "Low", "score"),
               ("map_high", "High", "score"), ("precision", f"Precision@{k}", "score"),
               ("recall", f"Recall@{k}", "score"), ("map_all_customers", "MAP, all customers", "score"),
               ("coverage", "Catalogue coverage", "percent")], rows=rows)


def _recommender_rule(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    k, rec = v["k"], v["test"]["recommender"]["map"]
    base = v["test"][v["baseline"]]["map"]
    base_label = RECOMMENDER_LABELS.get(v["baseline"], v["baseline"]).lower()
    insight = (f"On later, unseen acceptances the promoted recommender's MAP@{k} is {fmt_num(rec['value'], 3)} "
               f"against {fmt_num(base['value'], 3)} for {base_label}")
    if v["versus_baseline"] == "above":
        insight += ": the intervals do not overlap, so the recommender is the better guide to what to offer next."
        return RuleOutput(insight=insight, recommendation=RecDraft(
            "Choose each customer's next offer with the promoted recommender",
            f"On the test window its MAP@{k} ({fmt_num(rec['value'], 3)}, interval from {fmt_num(rec['low'], 3)}) "
            f"is above {base_label}'s ({fmt_num(base['value'], 3)}, interval to {fmt_num(base['high'], 3)}).",
            effort="Medium", owner="Data Science",
            success_metric=f"test-window MAP@{k} of the promoted recommender stays above popularity's at each "
                           "scheduled retrain (`recommend-train`)",
            topic="model-recommender", direction="grow"))
    if v["versus_baseline"] == "below":
        return RuleOutput(insight=insight + ": popularity did better on the test window.",
                          risk=f"The promoted recommender falls below {base_label} on the test window (MAP@{k} "
                               f"{fmt_num(rec['value'], 3)} against {fmt_num(base['value'], 3)}).")
    return RuleOutput(insight=insight + ": the intervals overlap, so there is no clear difference yet.")


def _cell(row: dict[str, Any], one_type: bool) -> str:
    return f"{row['segment']} customers" if one_type else f"{row['segment']} x {row['product_type']}"


def _cells(ctx: StepContext, cells: QueryResult) -> None:
    """Segment x product cells against the rest of the offers; only clear differences become findings."""
    rows = cells.dicts()
    head = rows[0]
    total = float(head["total_recommendations"] or 0)
    overall = float(head["overall_rate"] or 0.0)
    tests = {}
    raw = [against_rest(r["recommendations"] * r["acceptance_rate"], r["recommendations"], overall * total, total)
           for r in rows]
    for r, c in zip(rows, adjust(raw), strict=True):
        tests[(r["segment"], r["product_type"])] = test_values(c, ctx.min_effect)
    shown = rows[:TOP_N] + [r for r in rows[-TOP_N:] if r not in rows[:TOP_N]]
    one_type = len({r["product_type"] for r in rows}) == 1  # then the cells are segments of one product type
    what = (f"customer segments ({rows[0]['product_type']} is the only product type)" if one_type
            else "segment x product combinations")
    ctx.table(f"Best and worst {what} (groups of at least "
              f"{fmt_count(ctx.min_group)} recommendations)", cells,
              [("segment", "Segment"), ("product_type", "Product type"),
               ("recommendations", "Recommendations"), ("acceptance_rate", "Acceptance"),
               ("vs_overall", "vs overall")], shown)
    if len(rows) < 2:
        ctx.note("Only one segment x product combination has enough recommendations, so there is nothing to "
                 "compare it with.")
        return
    above = [r for r in rows if tests[(r["segment"], r["product_type"])]["clear"]
             and tests[(r["segment"], r["product_type"])]["diff"] > 0]
    below = [r for r in reversed(rows) if tests[(r["segment"], r["product_type"])]["clear"]
             and tests[(r["segment"], r["product_type"])]["diff"] < 0]
    if above:
        best = above[0]
        test = tests[(best["segment"], best["product_type"])]
        ctx.finding("best_cell", "Best segment" if one_type else "Best segment x product",
                    f"{_cell(best, one_type)} convert{'' if one_type else 's'} best at {_rate(best)} "
                    f"({fmt_count(best['recommendations'])} recommendations, {fmt_pp(test['diff'])} against the "
                    f"other offers; {_clear_text(test)}).",
                    {**best, "test": test, "one_product_type": one_type}, [cells],
                    effect=min(1.0, abs(best["vs_overall"]) / max(overall, 0.01)), polarity="strength",
                    n=best["recommendations"], units={**TEST_UNITS, "one_product_type": "text"})
    if below:
        worst = below[0]
        test = tests[(worst["segment"], worst["product_type"])]
        est = gap_estimate(worst["recommendations"], test, overall * total, "acceptances",
                           f"if {worst['product_type']} offers to {worst['segment']} customers converted like the "
                           "other offers", cells.id)
        ctx.finding("worst_cell", "Weakest segment" if one_type else "Weakest segment x product",
                    f"{_cell(worst, one_type)} convert{'' if one_type else 's'} worst at {_rate(worst)} "
                    f"({fmt_count(worst['recommendations'])} recommendations, {fmt_pp(test['diff'])} against the "
                    f"other offers; {_clear_text(test)}).",
                    {**worst, "test": test, "total_accepted": overall * total, "estimate": est,
                     "one_product_type": one_type}, [cells],
                    effect=min(1.0, abs(worst["vs_overall"]) / max(overall, 0.01)), polarity="risk",
                    n=worst["recommendations"], units={**TEST_UNITS, **ESTIMATE_UNITS, "total_accepted": "count",
                                                       "one_product_type": "text"})
    if not above and not below:
        ctx.finding("cells_alike", "Segment x product combinations",
                    f"None of the {fmt_count(len(rows))} segment x product combinations converts clearly differently "
                    f"from the other offers (by at least {fmt_pp(ctx.min_effect, signed=False)} beyond chance); "
                    f"they range from {_rate(rows[-1])} to {_rate(rows[0])}.",
                    {"combinations": len(rows), "lowest": rows[-1], "highest": rows[0],
                     "min_effect": ctx.min_effect}, [cells], effect=0.05, units={"combinations": "count",
                                                                                  "min_effect": "pp"})


def _affinity_finding(ctx: StepContext, aff: QueryResult) -> None:
    rows = aff.dicts()
    ctx.table("Acceptance by customer product affinity", aff,
              [("affinity", "Affinity"), ("recommendations", "Recommendations"),
               ("share", "Share"), ("acceptance_rate", "Acceptance")])
    by = {r["affinity"]: r for r in rows}
    if "High" not in by or "Low" not in by:
        return
    high, low = by["High"], by["Low"]
    ratio = rows[0]["high_low_ratio"]
    test = test_values(compare_rates(low["recommendations"] * low["acceptance_rate"], low["recommendations"],
                                     high["recommendations"] * high["acceptance_rate"], high["recommendations"]),
                       ctx.min_effect)
    rest_n = sum(r["recommendations"] for r in rows if r["affinity"] != "Low")
    rest_k = sum(r["recommendations"] * r["acceptance_rate"] for r in rows if r["affinity"] != "Low")
    vs_rest = test_values(against_rest(low["recommendations"] * low["acceptance_rate"], low["recommendations"],
                                       rest_k + low["recommendations"] * low["acceptance_rate"],
                                       rest_n + low["recommendations"]), ctx.min_effect)
    est = gap_estimate(low["recommendations"], vs_rest, sum(r["recommendations"] * r["acceptance_rate"] for r in rows),
                       "acceptances", "upper bound if Low-affinity offers converted like the other offers", aff.id)
    missing = by.get(NOT_RECORDED)
    gap = (f" {fmt_pct(missing['share'])} of recommendations have no recorded affinity and convert at "
           f"{_rate(missing)}." if missing else "")
    ctx.finding("affinity", "Affinity and acceptance",
                f"High-affinity offers convert at {_rate(high)} against {_rate(low)} for Low-affinity ones "
                f"({fmt_times(ratio)}; {_clear_text(flip(test))}); Low-affinity customers receive "
                f"{fmt_pct(low['share'])} of all recommendations.{gap}",
                {"high": high, "low": low, "high_low_ratio": ratio, "test": test, "vs_rest": vs_rest,
                 "total_accepted": sum(r["recommendations"] * r["acceptance_rate"] for r in rows),
                 "not_recorded": missing, "estimate": est},
                [aff], effect=min(1.0, ((ratio or 1.0) - 1) / 4) if test["clear"] else 0.05, polarity="opportunity",
                n=low["recommendations"], units={**TEST_UNITS, **ESTIMATE_UNITS, "total_accepted": "count"})


def recognise_patterns(ctx: StepContext) -> None:
    """Usage trend and satisfaction against churn; top and bottom products. (Lifecycle stage against acceptance
    is the Optimization agent's, with its test: each fact once.)"""
    usage = ctx.sql("performance/usage_churn", what="Churn by product-usage trend")
    if usage and usage.rows:
        rows = usage.dicts()
        ctx.table("Churn probability by product-usage trend (per customer)", usage,
                  [("trend", "Usage trend"), ("customers", "Customers"),
                   ("avg_churn", "Mean churn probability"),
                   ("share_high_risk", "Share at high churn risk")])
        by = {r["trend"]: r for r in rows}
        if "Decreasing" in by and "Increasing" in by:
            down, up = by["Decreasing"], by["Increasing"]
            ratio = rows[0]["decreasing_increasing_ratio"]
            test = _mean_test(down, up, ctx.min_effect)
            stable = by.get("Stable")
            vs_stable = _mean_test(down, stable, ctx.min_effect) if stable else None
            est = gap_estimate(down["customers"], flip(vs_stable or test), sum(r["customers"] for r in rows),
                               "customers", "expected customers kept if falling-usage customers churned like "
                               "stable-usage ones", usage.id)
            ctx.finding("usage_churn", "Usage decline and churn",
                        f"Customers whose product usage is falling have a mean churn probability of "
                        f"{fmt_pct(down['avg_churn'])}, against {fmt_pct(up['avg_churn'])} for rising usage "
                        f"({fmt_times(ratio)}; {_clear_text(test)}); {fmt_pct(down['share_high_risk'])} of them are "
                        f"at high churn risk.",
                        {"decreasing": down, "increasing": up, "stable_churn": rows[0]["stable_churn"],
                         "ratio": ratio, "test": test, "vs_stable": vs_stable,
                         "customers": sum(r["customers"] for r in rows), "estimate": est}, [usage],
                        effect=min(1.0, ((ratio or 1.0) - 1) / 5) if test["clear"] else 0.05, polarity="risk",
                        n=down["customers"],
                        units={**TEST_UNITS, **ESTIMATE_UNITS, "ratio": "times", "customers": "count"})
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
            test = _mean_test(low, high, ctx.min_effect)
            est = gap_estimate(low["customers"], flip(test), sum(r["customers"] for r in rows), "customers",
                               "upper bound: expected customers kept if dissatisfied customers churned like satisfied "
                               "ones", sat.id)
            ctx.finding("satisfaction_churn", "Satisfaction and churn",
                        f"Dissatisfied customers (score 1-4, {fmt_pct(low['share'])} of customers) have a mean churn "
                        f"probability of {fmt_pct(low['avg_churn'])}, against {fmt_pct(high['avg_churn'])} for "
                        f"satisfied ones (8-10), {fmt_times(ratio)} as high ({_clear_text(test)}).",
                        {"low": low, "high": high, "ratio": ratio, "test": test,
                         "customers": sum(r["customers"] for r in rows), "estimate": est}, [sat],
                        effect=min(1.0, ((ratio or 1.0) - 1) / 5) if test["clear"] else 0.05, polarity="risk",
                        n=low["customers"],
                        units={**TEST_UNITS, **ESTIMATE_UNITS, "ratio": "times", "customers": "count"})
    products = ctx.sql("performance/products", what="Top and bottom products")
    if products and products.rows:
        rows = products.dicts()
        shown = rows[:TOP_N] + [r for r in rows[-TOP_N:] if r not in rows[:TOP_N]]
        ctx.table("Top and bottom products by acceptance", products,
                  [("product_name", "Product"), ("product_type", "Type"),
                   ("recommendations", "Recommendations"), ("acceptance_rate", "Acceptance"),
                   ("vs_product_average", "vs product average")], shown)
        if len(rows) < 2:
            ctx.note(f"Only one product ({rows[0]['product_name']}) has enough recommendations, so products "
                     "are not compared.")
            return
        tests = {k: test_values(c, ctx.min_effect) for k, c in against_rest_all(rows, key="product_name").items()}
        top, bottom = rows[0], rows[-1]
        clear = tests[top["product_name"]]["clear"] or tests[bottom["product_name"]]["clear"]
        ctx.finding("products", "Top and bottom products",
                    f"Of {fmt_count(top['products_compared'])} products compared, {top['product_name']} converts best "
                    f"({_rate(top)}) and {bottom['product_name']} worst ({_rate(bottom)}, "
                    f"{fmt_pp(bottom['vs_product_average'])} against the product average"
                    + (")." if clear else "); neither differs clearly from the other products."),
                    {"top": top, "bottom": bottom, "clear": clear, "bottom_test": tests[bottom["product_name"]]},
                    [products], effect=min(1.0, abs(bottom["vs_product_average"]) * 4) if clear else 0.05,
                    polarity="risk" if clear else "neutral", n=bottom["recommendations"], units=TEST_UNITS)


def _mean_test(a: dict[str, Any], b: dict[str, Any], min_effect: float) -> dict[str, Any]:
    """Mean churn of group a against group b (Welch), as finding values."""
    return test_values(compare_means(float(a["avg_churn"]), float(a["sd_churn"] or 0.0), float(a["customers"]),
                                     float(b["avg_churn"]), float(b["sd_churn"] or 0.0), float(b["customers"])),
                       min_effect)


# -- rules for the offline analyst ----------------------------------------------------------------------
def _scope(f: Finding, idx: FindingIndex) -> RuleOutput:
    return RuleOutput(insight=f.statement)


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
                topic="model-retrain", direction="fix"))
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
                           f"{fmt_pp(v['mean_abs_calibration_gap'], signed=False)}, tracked monthly",
            topic="score-calibration", direction="fix")
    return RuleOutput(insight=insight, recommendation=rec)


def _best_cell(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if v.get("one_product_type"):
        return RuleOutput(insight=sentence_case(f"{v['segment']} customers accept most often: "
                                                f"{fmt_pct(v['acceptance_rate'])}, {fmt_times(v['index_vs_overall'])} "
                                                f"the overall rate of {fmt_pct(v['overall_rate'])}."))
    return RuleOutput(insight=sentence_case(f"{v['segment']} customers respond best to {v['product_type']} offers "
                                            f"({fmt_pct(v['acceptance_rate'])}, {fmt_times(v['index_vs_overall'])} "
                                            "the overall rate): a pattern to replicate."))


def _worst_cell(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    est = estimate_of(v.get("estimate"))
    worth = estimate_text(est, "Converting like the other offers would add about {n} acceptances")
    one = bool(v.get("one_product_type"))
    offers = f"offers to {v['segment']} customers" if one else f"{v['product_type']} offers to {v['segment']} customers"
    return RuleOutput(
        insight=f"{sentence_case(offers)} convert at only {fmt_pct(v['acceptance_rate'])}, against "
                f"{fmt_pct(v['test']['rate_b'])} for the other offers.",
        recommendation=RecDraft(
            f"Review {offers}",
            f"{fmt_count(v['recommendations'])} recommendations converted at {fmt_pct(v['acceptance_rate'])}, "
            f"{fmt_pp(v['test']['diff'])} against the other offers ({interval_text(v['test'])}).{worth}",
            effort="Low", owner="Product Management",
            success_metric=f"acceptance of these offers up to the overall rate of {fmt_pct(v['overall_rate'])}",
            topic=f"segment:{v['segment']}" if one else f"pair:{v['segment']}|{v['product_type']}", direction="fix",
            estimate=est))


def _cells_alike(f: Finding, idx: FindingIndex) -> RuleOutput:
    return RuleOutput(insight=f.statement)


def _affinity(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if not v["test"]["clear"]:
        return RuleOutput(insight=f"Affinity does not separate responders clearly: High-affinity offers convert at "
                                  f"{fmt_pct(v['high']['acceptance_rate'])} and Low-affinity ones at "
                                  f"{fmt_pct(v['low']['acceptance_rate'])}.")
    est = estimate_of(v.get("estimate"))
    worth = estimate_text(est, "The gap to the other offers is worth up to {n} acceptances")
    return RuleOutput(
        insight=f"Affinity is a strong conversion signal: High-affinity offers convert "
                f"{fmt_times(v['high_low_ratio'])} as often as Low-affinity ones.",
        recommendation=RecDraft(
            "Weight product affinity more heavily in targeting",
            f"Low-affinity customers receive {fmt_pct(v['low']['share'])} of recommendations but accept only "
            f"{fmt_pct(v['low']['acceptance_rate'])} of them, against {fmt_pct(v['high']['acceptance_rate'])} "
            f"for High affinity.{worth}",
            effort="Low", owner="Product Management",
            success_metric=f"share of recommendations to Low-affinity customers below today's share [{f.id}]",
            topic="affinity-gating", direction="fix", estimate=est))


def _usage_churn(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if not v["test"]["clear"]:
        return RuleOutput(insight=f.statement)
    est = estimate_of(v.get("estimate"))
    worth = estimate_text(est, "Bringing their churn to the stable-usage level would keep about {n} customers")
    return RuleOutput(
        insight=f"Falling product usage is the clearest churn warning: churn probability is "
                f"{fmt_times(v['ratio'])} that of customers with rising usage.",
        recommendation=RecDraft(
            "Trigger retention outreach when product usage turns downward",
            f"Customers with decreasing usage carry a mean churn probability of "
            f"{fmt_pct(v['decreasing']['avg_churn'])} against {fmt_pct(v['increasing']['avg_churn'])} with rising "
            f"usage.{worth}",
            effort="Medium", owner="Customer Experience (retention)",
            success_metric="mean churn probability of decreasing-usage customers down to the stable-usage level "
                           f"of {fmt_pct(v['stable_churn'])}", topic="retention:usage", direction="fix",
            estimate=est))


def _satisfaction_churn(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if not v["test"]["clear"]:
        return RuleOutput(insight=f.statement)
    est = estimate_of(v.get("estimate"))
    worth = estimate_text(est, "If they churned like satisfied customers, about {n} more customers would stay")
    return RuleOutput(
        insight=f"Dissatisfaction predicts churn: customers scoring 1-4 are {fmt_times(v['ratio'])} as likely to "
                "leave as those scoring 8-10.",
        recommendation=RecDraft(
            "Start a service-recovery programme for customers scoring satisfaction 1-4",
            f"Their mean churn probability is {fmt_pct(v['low']['avg_churn'])} against "
            f"{fmt_pct(v['high']['avg_churn'])} for satisfied customers.{worth}",
            effort="Medium", owner="Customer Experience",
            success_metric=f"share of customers scoring 1-4 below today's share [{f.id}]",
            topic="retention:satisfaction", direction="fix", estimate=est))


def _products(f: Finding, idx: FindingIndex) -> RuleOutput:
    v = f.values
    if not v.get("clear"):
        return RuleOutput(insight=f.statement)
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
    rules={"scope": _scope, "acceptance": _acceptance, "calibration": _calibration,
           "best_cell": _best_cell, "worst_cell": _worst_cell, "cells_alike": _cells_alike, "affinity": _affinity,
           "usage_churn": _usage_churn, "satisfaction_churn": _satisfaction_churn, "products": _products,
           "model_conversion": _model_rule, "model_churn": _model_rule, "model_recommender": _recommender_rule},
    run_tables=("finmatch_customers", "finmatch_offers"),  # its per-customer and per-offer-group queries read them
)
