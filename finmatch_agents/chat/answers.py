"""What the chat answers with, and the offline answers to verified questions.

An :class:`Answer` is markdown text plus tables (raw values with units, formatted when shown) and the ids
of the queries behind it. Verified answers are built from one reviewed query each; their sentences only
use values from that query's result.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.chat.context import Answer, ChatContext, Table, refs
from finmatch_agents.chat.questions import LIBRARY, Match, normalise
from finmatch_agents.errors import UsageError
from finmatch_agents.formatting import fmt_count, fmt_num, fmt_pct, fmt_times
from finmatch_agents.ids import query_refs
from finmatch_agents.recommend.api import promoted_summary, recommendations_for
from finmatch_agents.report.markdown import code, md_escape, prose
from finmatch_agents.runs import RunStore
from finmatch_agents.units import format_value
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.warehouse.engine import QueryResult

__all__ = ["Answer", "Table", "answer_verified", "explain", "help_text", "refs"]


#: what each verified query shows, in order: (column, heading, unit)
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "chat/acceptance_by": [("label", "", "text"), ("recommendations", "Recommendations", "count"),
                           ("accepted", "Accepted", "count"), ("acceptance_rate", "Acceptance", "percent"),
                           ("vs_overall", "vs overall", "pp")],
    "chat/churn_by": [("label", "", "text"), ("customers", "Customers", "count"),
                      ("avg_churn", "Mean churn probability", "percent"),
                      ("share_high_risk", "At high churn risk", "percent")],
    "chat/satisfaction_by": [("label", "", "text"), ("customers", "Customers", "count"),
                             ("avg_satisfaction", "Mean satisfaction", "score"),
                             ("share_dissatisfied", "Scoring 1-4", "percent")],
    "chat/high_churn": [("label", "Segment", "text"), ("high_risk_customers", "At high churn risk", "count"),
                        ("customers", "Customers", "count"), ("share_high_risk", "Share", "percent")],
    "performance/products": [("product_name", "Product", "text"), ("product_type", "Type", "text"),
                             ("recommendations", "Recommendations", "count"),
                             ("acceptance_rate", "Acceptance", "percent")],
    "financial/revenue_by_type": [("product_type", "Product type", "text"),
                                  ("accepted_sales", "Accepted sales", "count"),
                                  ("annual_revenue", "Annual revenue", "currency"),
                                  ("revenue_share", "Share of revenue", "percent")],
    "optimization/systems": [("system", "System", "text"), ("recommendations", "Recommendations", "count"),
                             ("acceptance_rate", "Acceptance", "percent"),
                             ("undecided_share", "Undecided", "percent")],
    "chat/offers": [("record_id", "Record", "text"), ("customer_id", "Customer", "text"),
                    ("product_type", "Product type", "text"), ("recommended_on", "Recommended on", "text")],
    "performance/calibration": [("decile", "Score decile", "count"), ("recommendations", "Recommendations", "count"),
                                ("avg_score", "Mean score", "score"), ("acceptance_rate", "Acceptance", "percent")],
}


def answer_verified(session: ChatContext, m: Match, text: str) -> Answer:
    q = m.question
    if q.kind == "explain":
        return explain(session, text, q.id)
    if q.kind == "recommend":
        return _next_products(session, m)
    assert q.query is not None
    result = session.named(q.query, **m.params)
    if isinstance(result, named.Skipped) and q.kind == "model_scores":
        task = "churn" if q.id == "likely_churners" else "conversion"
        return Answer("unavailable", f"I know this question (“{q.question}”): it is answered from the {task} "
                      "model's scores, and this database has no scores table yet. Train and score first: "
                      f"`finmatch predict train {task} --promote`, then `finmatch predict score {task}`.",
                      matched=q.id)
    if isinstance(result, named.Skipped):
        return Answer("unavailable", f"I know this question (“{q.question}”), but the data lacks "
                      f"{', '.join(result.absent)}, so it cannot be answered here.", matched=q.id)
    builder = {"ranking": _ranking, "offers": _offers, "calibration": _calibration, "overall": _overall,
               "scope": _scope, "model_scores": _model_scores}[q.kind]
    answer = builder(session, m, result)
    answer.matched = q.id
    answer.query_ids = [result.id]
    return answer


def _label(row: dict[str, Any]) -> str:
    return md_escape(next(v for k, v in row.items() if isinstance(v, str)))


def _ranking(session: ChatContext, m: Match, res: QueryResult) -> Answer:
    q = m.question
    rows = [r for r in res.dicts() if r.get(q.metric) is not None]
    if not rows:
        return Answer("verified", f"No data to answer “{q.question}”. {refs(res.id)}")
    rows.sort(key=lambda r: r[q.metric], reverse=True)
    top, bottom = rows[0], rows[-1]
    cur = session.settings.currency

    def value(r: dict[str, Any]) -> str:
        return format_value(r[q.metric], q.unit, cur)

    text = f"**{_label(top)}** has the highest {q.phrase} ({value(top)})"
    text += f"; **{_label(bottom)}** the lowest ({value(bottom)})." if len(rows) > 1 else "."
    if q.id == "high_churn_customers":
        text = (f"{fmt_count(top['total_high_risk'])} customers are at high churn risk; the most are in "
                f"**{_label(top)}** ({fmt_count(top['high_risk_customers'])}, {fmt_pct(top['share_high_risk'])} of "
                "its customers).")
    table = Table(q.question, COLUMNS.get(q.query or "", []), rows, res.id)
    if table.columns and table.columns[0][1] == "":
        table.columns[0] = ("label", str(m.params.get("group_label", "")).capitalize(), "text")
    return Answer("verified", f"{text} {refs(res.id)}", [table])


def _offers(session: ChatContext, m: Match, res: QueryResult) -> Answer:
    rows = res.dicts()
    p = m.params
    first = rows[0] if rows else {}
    total = first.get("total_matching", 0) or 0
    what = f"{p['status'].lower()} {md_escape(p['product_type']) + ' ' if p['product_type'] else ''}recommendations"
    period = f"the latest {p['period']} of the data ({first.get('period_start')} to {first.get('period_last_day')})"
    listed = [r for r in rows if r.get("record_id")]
    if not total:
        return Answer("verified", f"No {what} in {period}. {refs(res.id)}")
    text = f"{fmt_count(total)} {what} were made in {period}"
    text += f"; the newest {fmt_count(len(listed))} are listed." if len(listed) < total else ":"
    return Answer("verified", f"{text} {refs(res.id)}", [Table(f"{what.capitalize()}", COLUMNS["chat/offers"],
                                                               listed, res.id)])


def _calibration(session: ChatContext, m: Match, res: QueryResult) -> Answer:
    rows = res.dicts()
    if not rows:
        return Answer("verified", f"There are no scored recommendations. {refs(res.id)}")
    head = rows[0]
    text = (f"Acceptance rises from {fmt_pct(head['bottom_decile_rate'])} in the lowest score decile to "
            f"{fmt_pct(head['top_decile_rate'])} in the highest ({fmt_times(head['top_bottom_ratio'])}); the "
            f"correlation between mean score and acceptance across deciles is "
            f"{fmt_num(head['score_acceptance_correlation'])}.")
    return Answer("verified", f"{text} {refs(res.id)}",
                  [Table("Acceptance by score decile", COLUMNS["performance/calibration"], rows, res.id)])


OVERALL_COLUMNS = {
    "overall_churn": [("avg_churn_probability", "Mean churn probability", "percent"),
                      ("customers_scored", "Customers", "count"),
                      ("share_high_churn_risk", "At high churn risk", "percent")],
    "overall_acceptance": [("recommendations", "Recommendations", "count"), ("accepted", "Accepted", "count"),
                           ("acceptance_rate", "Acceptance", "percent"),
                           ("decided_acceptance_rate", "Acceptance among decided", "percent")],
    "scope": [("records", "Recommendations", "count"), ("customers", "Customers", "count"),
              ("product_types", "Product types", "count")],
}


def _model_scores(session: ChatContext, m: Match, res: QueryResult) -> Answer:
    """The customers a predictive model scores highest (the scores table ``finmatch predict score`` wrote)."""
    rows = res.dicts()
    churn = m.question.id == "likely_churners"
    product = m.params.get("product_type")
    what = "churn" if churn else f"accept {'a ' + md_escape(str(product)) if product else 'an'} offer"
    if not rows:
        task = "churn" if churn else "conversion"
        scope = "" if churn or not product else f" for {md_escape(str(product))}"
        return Answer("verified", f"The scores table has no {task} scores{scope}: run `finmatch predict score "
                      f"{task}` with a promoted {task} model. {refs(res.id)}")
    head = rows[0]
    model = code(str(head["model_id"]))
    if churn:
        text = (f"The {fmt_count(len(rows))} customers most likely to churn by model {model}: "
                f"**{md_escape(str(head['customer_id']))}** is highest at {fmt_pct(head['churn_score'])}. Of "
                f"{fmt_count(head['scored_customers'])} customers scored, {fmt_count(head['above_half'])} have a "
                "churn probability of 50% or more.")
        columns = [("customer_id", "Customer", "text"), ("churn_score", "Churn probability", "percent")]
    else:
        text = (f"The {fmt_count(len(rows))} open offers most likely to be accepted"
                f"{' for ' + md_escape(str(product)) if product else ''} by model {model}: "
                f"**{md_escape(str(head['customer_id']))}** ({md_escape(str(head['product_id']))}) is highest at "
                f"{fmt_pct(head['acceptance_score'])}. The model expects {fmt_num(head['expected_acceptances'], 1)} "
                f"acceptances among the {fmt_count(head['scored_offers'])} open offers scored.")
        columns = [("customer_id", "Customer", "text"), ("product_id", "Product", "text"),
                   ("record_id", "Offer", "text"), ("acceptance_score", "Acceptance probability", "percent")]
    text += (" These are calibrated probabilities from a model checked on a time-ordered holdout "
             "(`finmatch predict show` gives its figures); they rank customers, they are not certainties.")
    return Answer("verified", f"{text} {refs(res.id)}", [Table(f"Customers most likely to {what}", columns, rows,
                                                               res.id)])


NEXT_PRODUCT_COLUMNS = [("rank", "#", "count"), ("product_name", "Product", "text"), ("product_id", "Id", "text"),
                        ("product_type", "Type", "text"), ("score", "Score", "score"), ("reason", "Why", "text")]


def _next_products(session: ChatContext, m: Match) -> Answer:
    """The recommender's next products for one customer (``finmatch recommend for``): the promoted recommender,
    else the newest trained one, labelled as a baseline. The lists were computed at training; the products the
    customer holds now are read through the session's sandbox (cited), so one accepted since is not offered."""
    q = m.question
    customer, top = str(m.params["customer_id"]), int(m.params.get("top") or 3)
    before = len(session.log.records)
    try:
        rec = recommendations_for(session.settings, session.engine, session.log, customer, top)
    except UsageError as exc:
        ran = [r.id for r in session.log.records[before:] if r.status == "ok"]
        why = exc.message.removeprefix("CUSTOMER: ").removeprefix("--top ")
        hint = f" ({exc.hint})" if exc.hint else ""  # our own hints: plain words and a `command`
        return Answer("unavailable", f"I know this question (“{q.question}”), but cannot answer it for "
                      f"**{md_escape(customer)}**: {md_escape(why)}{hint}.", query_ids=ran, matched=q.id)
    ids = list(rec["queries"].values())
    label = md_escape(str(rec["label"] or rec["recommender"]).lower())
    who = f"**{md_escape(customer)}**"
    if rec["promoted"]:
        intro, source = "", f"the promoted recommender ({label}, {code(rec['model_id'])})"
    else:
        intro = (f"No recommender is promoted, so this list is from the newest trained one, {code(rec['model_id'])} "
                 f"({label}): a **baseline**, not a promoted model (its gate: {md_escape(rec['gate'])}). ")
        source = "it"
    products = rec["products"]
    if not products:
        text = f"{intro}For {who} {source} has nothing left to offer: every product on its list is held or answered."
    else:
        listed = "; ".join(f"{p['rank']}. **{md_escape(p['product_name'])}** ({md_escape(p['product_id'])}"
                           f"{', ' + md_escape(p['product_type']) if p['product_type'] else ''}), because "
                           f"{md_escape(p['reason'][:1].lower() + p['reason'][1:])}" for p in products)
        text = f"{intro}For {who}, {source} would offer next: {listed}."
    held = rec["held_or_answered"]
    if held:
        text += (f" Left out: {fmt_count(len(held))} product{'s' if len(held) != 1 else ''} the customer holds or "
                 f"has answered ({', '.join(md_escape(h) for h in held)}).")
    summary = promoted_summary(session.settings.state_dir) if rec["promoted"] else None
    if summary is not None and summary["model_id"] == rec["model_id"]:
        text += f" How far to trust it, on offers after its training: {md_escape(summary['verdict'])}."
    text += f" Trained on data up to {rec['data_last_date']}."
    return Answer("verified", f"{text} {refs(*ids)}".rstrip(),
                  [Table(f"Next products for {customer}", NEXT_PRODUCT_COLUMNS, products, ids[0] if ids else None)],
                  query_ids=ids, matched=q.id)


def _overall(session: ChatContext, m: Match, res: QueryResult) -> Answer:
    answer = _overall_text(m, res)
    answer.tables = [Table(m.question.question, OVERALL_COLUMNS[m.question.id], res.dicts()[:1], res.id)]
    return answer


def _overall_text(m: Match, res: QueryResult) -> Answer:
    r = res.first()
    if m.question.id == "overall_churn":
        text = (f"The mean churn probability per customer is {fmt_pct(r['avg_churn_probability'])} over "
                f"{fmt_count(r['customers_scored'])} customers; {fmt_pct(r['share_high_churn_risk'])} of them are "
                "at high churn risk.")
    else:
        text = (f"{fmt_pct(r['acceptance_rate'])} of {fmt_count(r['recommendations'])} recommendations were "
                f"accepted ({fmt_count(r['accepted'])}); among decided offers (accepted or declined) the rate is "
                f"{fmt_pct(r['decided_acceptance_rate'])}.")
    return Answer("verified", f"{text} {refs(res.id)}")


def _scope(session: ChatContext, m: Match, res: QueryResult) -> Answer:
    r = res.first()
    text = (f"The data holds {fmt_count(r['records'])} recommendations to {fmt_count(r['customers'])} customers "
            f"across {fmt_count(r['product_types'])} product types "
            f"({fmt_num(r['recommendations_per_customer'], 1)} per customer).")
    return Answer("verified", f"{text} {refs(res.id)}",
                  [Table("Scope of the data", OVERALL_COLUMNS["scope"], res.dicts()[:1], res.id)])


# -- "why is the X report recommending Y?" ------------------------------------------------------------------
_AGENT_WORDS = {"performance": "Overall Performance", "optimi": "Optimization Opportunities",
                "financ": "Financial Impact", "roi": "Financial Impact", "strateg": "Strategic Recommendations",
                "roadmap": "Strategic Recommendations"}
_STOP = frozenset({
    "why", "is", "the", "are", "was", "report", "recommend", "recommending", "recommends", "recommendation", "a",
    "an", "of", "to", "for", "in", "on", "what", "does", "do", "we", "it", "this", "that", "our",
})
_ROW = re.compile(r"^\| \*\*(?P<title>.+?)\*\* — (?P<rationale>.+?) \| (?P<impact>High|Medium|Low) \| "
                  r"(?P<effort>Low|Medium|High) \| (?P<when>Now|Next|Later) \| (?P<owner>.+?) \| (?P<metric>.+?) \| "
                  r"(?P<evidence>.*?) \|$", re.M)


def explain(session: ChatContext, text: str, matched: str) -> Answer:
    """Look the recommendation up in the latest completed report and show its rationale and evidence."""
    store = RunStore(session.settings.state_dir / "runs.sqlite")
    try:
        runs = [r for r in store.list_runs(50) if r["status"] == "completed" and r["report_path"]]
        records = store.records(runs[0]["run_id"]) if runs else None
    finally:
        store.close()
    if not runs:
        return Answer("unavailable", "No completed analysis to explain yet: run `/analyze` first.", matched=matched)
    run = runs[0]
    path = Path(run["report_path"])
    if not path.is_absolute() and not path.exists():
        path = session.settings.reports_dir.parent / path
    if not path.exists() and records is None:
        return Answer("unavailable", f"The report of run {run['run_id']} is no longer at {path}.", matched=matched)
    norm = normalise(text)
    agent = next((title for word, title in _AGENT_WORDS.items() if f" {word}" in norm), None)
    # the run's records when the store has them (the report's recommendations table is one table for all
    # agents); older runs: the rows of the agent sections' tables in the markdown
    sections = [] if records is not None else re.split(r"^## ", path.read_text(encoding="utf-8"), flags=re.M)
    candidates: list[tuple[int, str, Any]] = []
    for rec in (r for a in records.analyses.values() for r in a.recommendations) if records is not None else ():
        title = AGENTS[rec.agent].title if rec.agent in AGENTS else rec.agent
        if agent and title != agent:
            continue
        fields = {"title": md_escape(rec.title), "rationale": prose(rec.rationale), "impact": rec.impact,
               "effort": rec.effort, "when": rec.horizon, "owner": md_escape(rec.owner),
               "metric": prose(rec.success_metric), "evidence": " ".join(f"[{q}]" for q in rec.query_ids)}
        words = set(normalise(rec.title + " " + rec.rationale).split()) - _STOP
        candidates.append((len(words & (set(norm.split()) - _STOP)), title, fields))
    for section in sections:
        title = section.split("\n", 1)[0].strip()
        if agent and title != agent:
            continue
        if title in ("All recommendations by priority", "Executive summary"):
            continue
        for row in _ROW.finditer(section):
            words = set(normalise(row["title"] + " " + row["rationale"]).split()) - _STOP
            wanted = set(norm.split()) - _STOP
            candidates.append((len(words & wanted), title, row))
    candidates = [c for c in candidates if c[0] > 0]
    if not candidates:
        scope = f"the {agent} section of " if agent else ""
        return Answer("unavailable", f"No recommendation in {scope}the latest report (run {run['run_id']}) matches "
                      "that question. `/report` shows the report.", matched=matched)
    _score, section_title, row = max(candidates, key=lambda c: c[0])
    answer = (f"In run {run['run_id']} the {section_title} agent recommends **{row['title']}**.\n\n"
              f"Why: {row['rationale']}\n\nImpact {row['impact']}, effort {row['effort']}, {row['when']}; owner "
              f"{row['owner']}; success metric: {row['metric']}. Evidence {row['evidence']} in {code(path)}.")
    return Answer("verified", answer, matched=matched,
                  query_ids=query_refs(row["evidence"]))


def help_text() -> str:
    lines = ["**Commands**", "",
             "- `/tables` — tables and row counts",
             "- `/describe [TABLE|NAME]` — the semantic model, one measure or dimension, or a table's columns",
             "- `/sql SELECT ...` — one read-only query through the sandbox",
             "- `/metrics` — the KPI dashboard",
             f"- `/analyze [FOCUS ...]` — run the analysis ({', '.join(FOCUS_ORDER)})",
             "- `/explore [TABLE] [CONDITION]` — the first page of a table",
             "- `/history` — past runs; `/report [RUN_ID]` — a run's executive summary",
             "- `/save [PATH]` — this session as a markdown report with provenance",
             "- `/model [NAME]` — show or switch the model; `/help`; `/exit` (or Ctrl-D)", "",
             "**Questions answered offline (verified SQL)**", ""]
    lines += [f"- {q.question}" for q in LIBRARY]
    lines += ["", "Other questions about the measures and dimensions of the semantic model (`/describe`) are "
              "compiled offline, e.g. *What is the acceptance rate for Email in 2025?* or *How many mortgages were "
              "accepted in 2024?*; the answer shows how the question was read and its SQL. A question with a word "
              "it does not know is refused, never guessed."]
    return "\n".join(lines)
