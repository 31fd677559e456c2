"""Backtest the engine on history with a time holdout: learn before the cut-off T, test on offers from T.

Features, holdings and popularity use only records dated before T; the catalogue is today's (it has no
history). Two questions:

1. **Do the offers the engine would make convert better?** Decided offers from T on (Accepted or
   Declined; Pending and In Progress are left out as undecided) are split into those the engine would have
   made (in its top K for that customer) and the rest, which are further split into suitable-but-not-top-K
   and failing a gate. Acceptance rates carry Wilson intervals, the difference Newcombe's interval.
2. **Does the engine's list contain what customers took up?** For customers who accepted a product from T
   on that they did not already hold, precision@K and recall@K of the engine's top K against a popularity
   baseline (the K products most accepted before T, minus those held) and against the bank's own
   ``recommendation_score``. The bank's list can only rank the offers the bank made in the test window,
   which contain every accepted product by construction, so it is compared with the engine re-ranking
   the same offers as well. Gaps are paired per customer, with normal intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data.queries import run as run_named
from finmatch_agents.errors import DataError, UsageError
from finmatch_agents.features.build import DATE_COLUMN, QueryRunner, build_customer_features, result_columns
from finmatch_agents.features.products import load_catalogue
from finmatch_agents.match.engine import Matcher, positions
from finmatch_agents.match.gates import RULE_BY_ID
from finmatch_agents.stats import mean_interval, newcombe, rate_interval
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.match.params import MatchParams
    from finmatch_agents.warehouse.engine import Engine

TRAIN_SHARE = 0.75


@dataclass
class Evaluation:
    cutoff: date
    calendar: dict[str, Any]
    params: MatchParams
    acceptance: dict[str, Any]
    ranking: dict[str, Any]
    excluded: dict[str, int]
    notes: list[str]
    queries: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "calendar": self.calendar, "params": self.params.to_dict(),
                "acceptance": self.acceptance, "ranking": self.ranking, "excluded": self.excluded,
                "notes": self.notes, "queries": self.queries}


def _group(accepted: np.ndarray) -> dict[str, Any]:
    est = rate_interval(int(accepted.sum()), len(accepted))
    return {"offers": len(accepted), "accepted": int(accepted.sum()), "rate": est.to_dict()}


def evaluate(engine: Engine, log: QueryLog, table: str, present: set[str], params: MatchParams, *,
             products: str = "products", test_from: date | None = None) -> Evaluation:
    for col in (DATE_COLUMN, "product_recommendation_status", "product_id", "customer_id"):
        if col not in present:
            raise DataError(f"{table} has no {col}: a time-ordered backtest needs dated offers with their product "
                            "and outcome", column=col)
    cal = run_named(engine, log, "match/cutoff", present=present, table=table, train_share=TRAIN_SHARE)
    assert not isinstance(cal, named.Skipped)
    calendar = cal.first()
    if calendar.get("dated_records", 0) == 0:
        raise DataError(f"{table} has no dated records to split in time", column=DATE_COLUMN)
    cutoff = test_from or calendar["cutoff"]
    if not calendar["first_date"] < cutoff <= calendar["last_date"]:
        raise UsageError(f"--test-from {cutoff} leaves no training or no test window (records run "
                         f"{calendar['first_date']} to {calendar['last_date']})")
    queries = {"match/cutoff": cal.id}
    features = build_customer_features(engine, log, table, present, products=products, as_of=cutoff)
    queries.update(features.queries)
    catalogue = load_catalogue(engine, log, present, products)
    matcher = Matcher(features, catalogue, params)
    runner = QueryRunner(engine, log, present, {"table": table, "products": products, "as_of": cutoff,
                                                "column": DATE_COLUMN, "customers": None})
    offers_res = runner.run("match/test_offers")
    assert not isinstance(offers_res, named.Skipped)
    queries["match/test_offers"] = offers_res[0].id
    got = result_columns(offers_res)
    del offers_res
    column = {str(p): j for j, p in enumerate(catalogue.product_ids)}
    cix = got.ints("cix", missing=-1)
    prod = np.array([column.get(str(p), -1) if p is not None else -1 for p in got.objects("product_id")],
                    dtype=np.int64)
    accepted = got.bools("accepted")
    decided = got.bools("decided")
    del got
    excluded = {"test_offers": len(cix), "new_customers": int((cix < 0).sum()),
                "product_not_in_catalogue": int(((cix >= 0) & (prod < 0)).sum()),
                "undecided": int(((cix >= 0) & (prod >= 0) & ~decided).sum())}
    keep = (cix >= 0) & (prod >= 0)
    if int(cix.max(initial=-1)) >= features.n:
        raise DataError("the test offers and the training features disagree on the customers (data changed?)")
    cix, prod, accepted, decided = cix[keep], prod[keep], accepted[keep], decided[keep]
    order = np.argsort(cix, kind="stable")
    cix, prod, accepted, decided = cix[order], prod[order], accepted[order], decided[order]

    k = params.top
    made = np.zeros(len(cix), dtype=bool)
    suitable = np.zeros(len(cix), dtype=bool)
    first_fail = np.full(len(cix), "", dtype=object)
    held = np.zeros(len(cix), dtype=bool)
    top = np.full((features.n, k), -1, dtype=np.int64)
    place = np.zeros((features.n, catalogue.m), dtype=np.int16)
    for b in matcher.blocks():
        lo, hi = np.searchsorted(cix, [b.rows.start, b.rows.stop])
        r, j = cix[lo:hi] - b.rows.start, prod[lo:hi]
        head = b.order[:, :k]
        valid = np.arange(k)[None, :] < b.n_suitable[:, None]
        top[b.rows] = np.where(valid, head, -1)
        place[b.rows] = positions(b.order)
        made[lo:hi] = (top[b.rows][r] == j[:, None]).any(axis=1)
        suitable[lo:hi] = b.suitable[r, j]
        for rule in reversed(list(b.fails)):  # report the first rule (in rule order) that fails
            f = b.fails[rule][r, j]
            first_fail[lo:hi] = np.where(f, rule, first_fail[lo:hi])
        if "H1" in b.fails:
            held[lo:hi] = b.fails["H1"][r, j]

    acceptance = _acceptance(accepted[decided], made[decided], suitable[decided], first_fail[decided], k)
    ranking, rank_queries = _ranking(runner, features.n, catalogue.m, column, cix, prod, accepted & ~held, top,
                                     place, k, matcher, log)
    queries.update(rank_queries)
    notes = [*features.degradations(), *matcher.space.notes]
    notes += [f"gate {rid} skipped: {why}" for rid, why in matcher.gates.skipped.items()]
    notes.append("customer attributes without history (balance, income, churn...) are the values on the records "
                 "before the cut-off; the catalogue is today's")
    return Evaluation(cutoff=cutoff, calendar={k2: v for k2, v in calendar.items()}, params=params,
                      acceptance=acceptance, ranking=ranking, excluded=excluded, notes=notes, queries=queries)


def _acceptance(accepted: np.ndarray, made: np.ndarray, suitable: np.ndarray, first_fail: np.ndarray,
                k: int) -> dict[str, Any]:
    groups = {
        f"engine_top{k}": _group(accepted[made]),
        "not_made": _group(accepted[~made]),
        "suitable_not_top": _group(accepted[~made & suitable]),
        "unsuitable": _group(accepted[~suitable]),
    }
    a = rate_interval(int(accepted[made].sum()), int(made.sum()))
    b = rate_interval(int(accepted[~made].sum()), int((~made).sum()))
    diff = newcombe(a, b)
    gates = {}
    for rule in sorted({str(r) for r in first_fail[~suitable]}):
        sel = ~suitable & (first_fail == rule)
        gates[rule] = {"name": RULE_BY_ID[rule].name, **_group(accepted[sel])}
    return {"decided_offers": len(accepted), "groups": groups, "difference": diff.to_dict(),
            "lift": a.value / b.value if b.value else None, "first_failing_gate": gates,
            "measurable": bool(diff.n and diff.low > 0)}


def _ranking(runner: QueryRunner, n: int, m: int, column: dict[str, int], cix: np.ndarray, prod: np.ndarray,
             relevant: np.ndarray, top: np.ndarray, place: np.ndarray, k: int, matcher: Matcher,
             log: QueryLog) -> tuple[dict[str, Any], dict[str, str]]:
    queries: dict[str, str] = {}
    rel = np.zeros((n, m), dtype=bool)
    rel[cix[relevant], prod[relevant]] = True
    customers = np.flatnonzero(rel.any(axis=1))
    out: dict[str, Any] = {"customers": len(customers), "k": k}
    if not len(customers):
        out["note"] = "no customer accepted a new catalogue product in the test window"
        return out, queries
    n_rel = rel[customers].sum(axis=1)

    def score(lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hits = np.zeros(len(customers))
        for s in range(lists.shape[1]):
            j = lists[:, s]
            hits += (j >= 0) & rel[customers, np.clip(j, 0, None)]
        return hits / k, hits / n_rel

    held = matcher.f.holdings.matrix(list(matcher.c.product_ids), 0, n) if matcher.f.holdings is not None else None
    methods: dict[str, tuple[np.ndarray, np.ndarray]] = {"engine": score(top[customers])}
    pop = run_named(runner.engine, log, "match/popularity", present=runner.present, table=runner.params["table"],
                    as_of=runner.params["as_of"])
    if not isinstance(pop, named.Skipped):
        queries["match/popularity"] = pop.id
        ranked = [column[str(r["product_id"])] for r in pop.dicts() if str(r["product_id"]) in column]
        ranked += [j for j in range(m) if j not in set(ranked)]
        lists = np.full((len(customers), k), -1, dtype=np.int64)
        for i, c in enumerate(customers):
            picks = [j for j in ranked if held is None or not held[c, j]][:k]
            lists[i, : len(picks)] = picks
        methods["popularity"] = score(lists)
    scores = runner.run("match/test_scores")
    if not isinstance(scores, named.Skipped):
        queries["match/test_scores"] = scores[0].id
        got = result_columns(scores)
        s_cix = got.ints("cix")
        s_prod = np.array([column.get(str(p), -1) for p in got.objects("product_id")], dtype=np.int64)
        s_score = got.floats("score")
        ok = s_prod >= 0
        s_cix, s_prod, s_score = s_cix[ok], s_prod[ok], s_score[ok]
        offered = np.full((n, m), -np.inf)
        offered[s_cix, s_prod] = s_score
        sub = offered[customers]
        bank = np.argsort(-sub, axis=1, kind="stable")[:, :k]
        bank = np.where(np.take_along_axis(sub, bank, axis=1) > -np.inf, bank, -1)
        methods["bank_score"] = score(bank)
        engine_key = np.where(sub > -np.inf, place[customers], np.iinfo(np.int16).max)
        mine = np.argsort(engine_key, axis=1, kind="stable")[:, :k]
        mine = np.where(np.take_along_axis(sub, mine, axis=1) > -np.inf, mine, -1)
        methods["engine_on_bank_offers"] = score(mine)
    out["methods"] = {name: {"precision": mean_interval(p).to_dict(), "recall": mean_interval(r).to_dict()}
                      for name, (p, r) in methods.items()}
    gaps: dict[str, Any] = {}
    for a, b in (("engine", "popularity"), ("engine_on_bank_offers", "bank_score")):
        if a in methods and b in methods:
            gaps[f"{a}_minus_{b}"] = {"precision": mean_interval(methods[a][0] - methods[b][0]).to_dict(),
                                      "recall": mean_interval(methods[a][1] - methods[b][1]).to_dict()}
    out["gaps"] = gaps
    return out, queries
