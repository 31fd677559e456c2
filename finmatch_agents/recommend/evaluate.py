"""Time-split evaluation of every recommender, rolling-origin cross-validation and the promotion gate.

Windows are cut at shares of the dated offers (``test_share`` each, newest first): the **test** window is the
newest share; before it come ``folds`` windows of the same share, the newest of which is the **validation**
window. Each window is judged with recommenders fitted only on offers dated before its start; the content
model trains on the window before that one (features as of its start), so every cut needs features at two
dates and nothing after the cut is ever read. The folds are the rolling-origin cross-validation.

The **gate** runs on the validation window: a candidate is promotable only if its MAP@3 minus that of each
popularity baseline (overall and per segment) has a paired bootstrap interval above 0 — the 95% percentile
interval against the stronger one, as the leaderboard shows it, and a lower bound adjusted for the number of
candidates (Bonferroni: one-sided 2.5% shared by the candidates, from the bootstrap standard deviation)
against both. Beating both is required of each candidate, so only the candidates count as comparisons.
Without the adjustment, four candidates each tested at 95% would promote one on data with nothing to learn
up to one time in ten. The winner is the promotable candidate with the highest validation MAP@3; the test
window then reports what it achieves on data no choice was made on.
The hybrid's weights are learned on the validation window; its validation figure is cross-fitted (weights
learned on one half of the customers, measured on the other), so the gate does not see an in-sample number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import DataError, UsageError
from finmatch_agents.features.build import QueryRunner, build_customer_features, result_columns
from finmatch_agents.recommend import candidates as cands
from finmatch_agents.recommend.common import GATE_K
from finmatch_agents.recommend.data import Book, date_of, load_book
from finmatch_agents.recommend.metrics import (
    METRICS,
    Resamples,
    coverage,
    interval_dict,
    per_user,
    popularity_bias,
    popularity_percentile,
)
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.warehouse.engine import DuckDBEngine

GATE_METRIC = "map"
BLOCK_ROWS = 20_000  # customers scored at a time when lists are computed
LEARN_USERS = 8_000  # customers the hybrid's weights are learned on (a seeded sample when there are more)
DEFAULT_KS = (1, 3, 5)


@dataclass(frozen=True)
class Options:
    test_share: float = 0.2
    folds: int = 2
    ks: tuple[int, ...] | None = None  # None: (1, 3, 5), without those larger than the catalogue
    seed: int = 42
    resamples: int = 200
    #: the candidates to fit (None: all); popularity and segment popularity always run (they are the bar)
    candidates: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.candidates is not None:
            unknown = [c for c in self.candidates if c not in cands.CANDIDATES + cands.BASELINES]
            if unknown:
                raise UsageError(f"--candidates: '{unknown[0]}' is not a recommender; choose from "
                                 f"{', '.join(cands.CANDIDATES)}")
        if not 0.02 <= self.test_share <= 0.45:
            raise UsageError(f"--test-share {self.test_share:g} is outside 0.02..0.45")
        if not 1 <= self.folds <= 6:
            raise UsageError(f"--folds {self.folds} is outside 1..6 (the newest fold is the validation window)")
        if 1 - self.test_share * (self.folds + 2) <= 0.01:
            raise UsageError(f"--folds {self.folds} with --test-share {self.test_share:g} needs more history than "
                             "the data has: each fold and the content model's training window take one share",
                             hint="use fewer --folds or a smaller --test-share")
        if self.ks is not None and (not self.ks or min(self.ks) < 1):
            raise UsageError("--k: every K must be at least 1")
        if self.resamples < 20:
            raise UsageError("--resamples must be at least 20")


@dataclass
class Window:
    name: str
    start: int  # day (inclusive)
    end: int | None  # day (exclusive), None = open (the test window)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "from": date_of(self.start).isoformat(),
                "to": date_of(self.end).isoformat() if self.end is not None else None}


@dataclass
class Evaluation:
    """Everything ``recommend evaluate`` reports (``to_dict`` is what is saved with a model)."""

    table: str
    options: Options
    ks: tuple[int, ...]
    windows: dict[str, Window]
    cuts: list[int]
    test: dict[str, Any]
    folds: list[dict[str, Any]]
    gate: dict[str, Any]
    cv: dict[str, Any]
    verdict: str
    book_summary: dict[str, Any]
    notes: list[str]
    queries: dict[str, str]
    hybrid_weights: dict[str, float] | None = None
    # fitted state the training step reuses (not serialised)
    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def winner(self) -> str | None:
        return self.gate.get("winner")

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "options": {"test_share": self.options.test_share, "folds": self.options.folds,
                                                 "seed": self.options.seed, "resamples": self.options.resamples},
                "ks": list(self.ks), "windows": {k: w.to_dict() for k, w in self.windows.items()},
                "test": self.test, "folds": self.folds, "gate": self.gate, "cv": self.cv, "verdict": self.verdict,
                "hybrid_weights": self.hybrid_weights, "data": self.book_summary, "notes": self.notes,
                "queries": self.queries}


class Cuts:
    """Contexts and feature frames per cut-off day, computed once (features cost most of the time)."""

    def __init__(self, engine: DuckDBEngine, log: QueryLog, book: Book, products: str, say: Any, *,
                 with_features: bool = True) -> None:
        self.engine, self.log, self.book, self.products, self.say = engine, log, book, products, say
        self.with_features = with_features
        self.features: dict[int | None, CustomerFeatures | None] = {}
        self.contexts: dict[int | None, cands.Context] = {}
        self.lean: dict[int | None, cands.Context] = {}
        self.queries: dict[str, str] = {}
        self.notes: list[str] = []

    def feature_frame(self, day: int | None) -> CustomerFeatures | None:
        if not self.with_features:
            return None
        if day not in self.features:
            self.say(f"customer features as of {date_of(day) if day is not None else 'today'}")
            try:
                f = build_customer_features(self.engine, self.log, self.book.table, self.book.present,
                                            products=self.products, as_of=date_of(day) if day is not None else None)
            except DataError as exc:
                self.notes.append(f"customer features unavailable ({exc.message}): content and matching skipped")
                f = None
            if f is not None:
                self.queries.update({f"{k} (as of {date_of(day) if day is not None else 'today'})": v
                                     for k, v in f.queries.items()})
            self.features[day] = f
        return self.features[day]

    def context(self, day: int | None) -> cands.Context:
        if day not in self.contexts:
            self.contexts[day] = cands.make_context(self.book, day, self.feature_frame(day))
        return self.contexts[day]

    def context_without_features(self, day: int | None) -> cands.Context:
        """The same context without the customer features (for recommenders that do not use them)."""
        if day in self.contexts:
            return self.contexts[day]
        if day not in self.lean:
            self.lean[day] = cands.make_context(self.book, day, None)
        return self.lean[day]


def plan(book: Book, options: Options) -> tuple[list[int], dict[str, Window]]:
    """Cut-off days (newest first) and the windows: test, then fold 1 (validation) ... fold F."""
    shares = [1 - options.test_share * k for k in range(1, options.folds + 3)]
    days = np.sort(book.day)
    cuts = [int(days[min(len(days) - 1, max(0, math.ceil(s * len(days)) - 1))]) for s in shares]
    if len(set(cuts)) < len(cuts) or cuts[-1] <= book.first_day:
        raise DataError(f"the offers span too few distinct dates ({date_of(book.first_day)} to "
                        f"{date_of(book.last_day)}) for {options.folds} fold(s) and a test window of "
                        f"{options.test_share:.0%} each", column="product_recommendation_date",
                        hint="use fewer --folds or a larger --test-share")
    windows = {"test": Window("test", cuts[0], None)}
    for i in range(1, options.folds + 1):
        windows[f"fold{i}"] = Window("validation" if i == 1 else f"fold {i}", cuts[i], cuts[i - 1])
    return cuts, windows


def _bank_scores(runner: QueryRunner, book: Book, window: Window) -> tuple[np.ndarray, str] | None:
    res = runner.run("recommend/bank_scores", window_from=date_of(window.start),
                     window_to=date_of(window.end) if window.end is not None else None)
    if isinstance(res, named.Skipped):
        return None
    got = result_columns(res)
    column = {str(p): k for k, p in enumerate(book.product_ids)}
    c = got.ints("cix")
    j = np.array([column.get(str(p), -1) for p in got.objects("product_id")], dtype=np.int64)
    score = got.floats("score")
    ok = j >= 0
    out = np.full((book.n, book.m), -np.inf, dtype=np.float32)
    out[c[ok], j[ok]] = score[ok]
    return out, res[0].id


def _block_scores(rec: cands.Recommender, rows: np.ndarray) -> np.ndarray:
    return np.concatenate([rec.score(rows[i: i + cands.BLOCK]) for i in range(0, len(rows), cands.BLOCK)]) \
        if len(rows) else np.zeros((0, rec.ctx.book.m), dtype=np.float32)


def _card(top: np.ndarray, relevant: np.ndarray, pos: np.ndarray, ks: tuple[int, ...], res: Resamples,
          m: int, percentile: np.ndarray) -> tuple[dict[str, Any], dict[int, dict[str, np.ndarray]]]:
    """The metrics of one recommender on one window: per K, every metric under both conventions."""
    out: dict[str, Any] = {}
    values: dict[int, dict[str, np.ndarray]] = {}
    for k in ks:
        v = per_user(top[pos], relevant, k)
        values[k] = v
        out[f"@{k}"] = {
            "positive_customers": {name: interval_dict(res.interval(v[name])) for name in METRICS},
            "all_customers": {name: interval_dict(res.interval(v[name], all_users=True)) for name in METRICS},
            "coverage": round(coverage(top, k, m), 4),
            "popularity_bias": round(popularity_bias(top, k, percentile), 4),
        }
    return out, values


def evaluate_window(cuts: Cuts, window: Window, prev_day: int, options: Options, ks: tuple[int, ...], *,
                    hybrid_weights: np.ndarray | None = None, runner: QueryRunner | None = None,
                    seed: int = 0) -> dict[str, Any]:
    """Fit every recommender before ``window.start`` and measure it on the window's acceptances."""
    book = cuts.book
    ctx = cuts.context(window.start)
    prev = cuts.context(prev_day)
    users = np.flatnonzero(ctx.known)
    relevant_all = book.accepted_between(window.start, window.end) & ~ctx.held
    rel_users = relevant_all[users]
    pos = np.flatnonzero(rel_users.any(axis=1))  # positions in ``users``
    relevant = rel_users[pos]
    new_customers = int((relevant_all.any(axis=1) & ~ctx.known).sum())
    if not ctx.held.any():
        raise DataError(f"no accepted offers before {date_of(window.start)} (the start of the {window.name} "
                        "window): there is nothing to learn from", column="product_recommendation_status",
                        hint="use a smaller --test-share or fewer --folds, or load data with accepted offers")
    res = Resamples.draw(len(pos), len(users) - len(pos), seed=seed, resamples=options.resamples)
    percentile = popularity_percentile(ctx.popularity)
    kmax = max(ks)
    blocked = ctx.blocked[users]
    recs: dict[str, cands.Recommender] = {
        "popularity": cands.Popularity(), "segment_popularity": cands.SegmentPopularity(),
        "item_cf": cands.ItemCF(), "content": cands.Content(prev, seed=options.seed),
        "match_engine": cands.MatchEngine(),
    }
    chosen = wanted(options)
    recs = {n: r for n, r in recs.items() if n in chosen}
    cards: dict[str, Any] = {}
    values: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    skipped: dict[str, str] = {}
    scores_pos: dict[str, np.ndarray] = {}
    tops: dict[str, np.ndarray] = {}
    for name, rec in recs.items():
        cuts.say(f"{window.name}: {cands.LABELS[name].lower()}")
        rec.fit(ctx)
        if not rec.available:
            skipped[name] = rec.why_not
            continue
        s = _block_scores(rec, users)
        tops[name] = cands.top_lists(s, blocked, kmax)
        scores_pos[name] = s[pos]
        cards[name], values[name] = _card(tops[name], relevant, pos, ks, res, book.m, percentile)
        del s
    # hybrid: the blend of segment popularity (or popularity), item CF and content
    parts = [n for n in ("segment_popularity" if "segment_popularity" in cards else "popularity", "item_cf",
                         "content") if n in cards]
    hybrid_info: dict[str, Any] = {"components": parts}
    if "hybrid" not in chosen:
        skipped["hybrid"] = "not among --candidates"
    elif len(parts) >= 2:
        cuts.say(f"{window.name}: hybrid blend")
        ranks_pos = [cands._ranks(scores_pos[n], blocked[pos]) for n in parts]
        if hybrid_weights is None:
            sample = _sample(len(pos), LEARN_USERS, seed)
            weights, _ = cands.learn_weights([r[sample] for r in ranks_pos], relevant[sample], blocked[pos][sample])
            halves = (users[pos] % 2) == 0
            top_h = np.full((len(pos), kmax), -1, dtype=np.int64)
            for half in (halves, ~halves):  # cross-fitted: weights learned on the other half
                other = np.flatnonzero(~half)
                if len(other) == 0 or not half.any():
                    w_half = weights
                else:
                    idx = other[_sample(len(other), LEARN_USERS // 2, seed + 1)]
                    w_half, _ = cands.learn_weights([r[idx] for r in ranks_pos], relevant[idx], blocked[pos][idx])
                blend = sum(np.float32(w) * r[half] for w, r in zip(w_half, ranks_pos, strict=True))
                top_h[half] = cands.top_lists(np.asarray(blend), blocked[pos][half], kmax)
            hybrid_info["cross_fitted"] = True
        else:
            weights = hybrid_weights
            top_h = None
        hybrid = cands.Hybrid([recs[n] for n in parts], weights)
        hybrid.fit(ctx)
        s = _block_scores(hybrid, users)
        top_all = cands.top_lists(s, blocked, kmax)
        if top_h is not None:
            top_all[pos] = top_h
        tops["hybrid"] = top_all
        cards["hybrid"], values["hybrid"] = _card(top_all, relevant, pos, ks, res, book.m, percentile)
        hybrid_info["weights"] = {n: round(float(w), 2) for n, w in zip(parts, weights, strict=True)}
        hybrid_info["weight_vector"] = [float(w) for w in weights]
        del s
    else:
        skipped["hybrid"] = "fewer than two components are available to blend"
    bank_info: dict[str, Any] | None = None
    if runner is not None:
        bank = _bank_scores(runner, book, window)
        if bank is None:
            skipped["bank_score"] = "the data has no recommendation_score"
        else:
            b_scores, qid = bank
            b = b_scores[users]
            b_blocked = blocked | ~np.isfinite(b)
            tops["bank_score"] = cands.top_lists(b, b_blocked, kmax)
            cards["bank_score"], values["bank_score"] = _card(tops["bank_score"], relevant, pos, ks, res, book.m,
                                                              percentile)
            bank_info = _on_bank_offers(b[pos], b_blocked[pos], relevant, scores_pos, ks, res)
            bank_info["query_id"] = qid
    baseline = max((n for n in cands.BASELINES if n in cards),
                   key=lambda n: cards[n][f"@{GATE_K}"]["positive_customers"][GATE_METRIC]["value"] or -1)
    diffs = {name: {f"@{k}": {mname: interval_dict(res.interval(values[name][k][mname] - values[baseline][k][mname]))
                             for mname in METRICS} for k in ks}
             for name in cards if name != baseline}
    return {"window": window.to_dict(), "customers": len(users), "positive_customers": len(pos),
            "positive_share": round(len(pos) / len(users), 4) if len(users) else None,
            "new_customers_with_a_positive": new_customers, "relevant_products": int(relevant.sum()),
            "baseline": baseline, "recommenders": cards, "difference_vs_baseline": diffs, "skipped": skipped,
            "hybrid": hybrid_info, "on_bank_offers": bank_info,
            "_values": values, "_res": res, "_recs": recs}


def wanted(options: Options) -> tuple[str, ...]:
    """The recommenders an evaluation fits: the baselines always, then the chosen candidates."""
    chosen = cands.CANDIDATES if options.candidates is None else options.candidates
    return (*cands.BASELINES, *(c for c in cands.CANDIDATES if c in chosen))


def _on_bank_offers(bank: np.ndarray, blocked: np.ndarray, relevant: np.ndarray, scores: dict[str, np.ndarray],
                    ks: tuple[int, ...], res: Resamples) -> dict[str, Any]:
    """Re-ranking the offers the bank actually made in the window: its score against the recommenders' order of
    the same offers (every accepted product was offered, so this asks only 'which offer first')."""
    k = GATE_K if GATE_K in ks else max(ks)
    out: dict[str, Any] = {"k": k, "customers": len(bank), "methods": {}}
    ap_bank = per_user(cands.top_lists(bank, blocked, k), relevant, k)["map"]
    out["methods"]["bank_score"] = interval_dict(res.interval(ap_bank))
    for name, s in scores.items():
        ap = per_user(cands.top_lists(s, blocked, k), relevant, k)["map"]
        out["methods"][name] = interval_dict(res.interval(ap))
        out.setdefault("minus_bank_score", {})[name] = interval_dict(res.interval(ap - ap_bank))
    return out


def _sample(n: int, cap: int, seed: int) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def evaluate(engine: DuckDBEngine, log: QueryLog, table: str, options: Options | None = None, *,
             products: str = "products", progress: Any = None) -> Evaluation:
    options = options or Options()
    say = progress or (lambda _m: None)
    book = load_book(engine, log, table, products=products, progress=say)
    if options.ks is None:
        ks = tuple(k for k in DEFAULT_KS if k <= book.m)
    else:
        too_big = [k for k in options.ks if k > book.m]
        if too_big:
            raise DataError(f"K = {max(too_big)} is larger than the catalogue ({book.m} products): a top-K list "
                            "cannot be longer than the products there are", column="product_id",
                            hint=f"use K of at most {book.m}")
        ks = tuple(sorted(set(options.ks)))
    if GATE_K not in ks:
        ks = tuple(sorted({*ks, min(GATE_K, book.m)}))
    cut_days, windows = plan(book, options)
    chosen = wanted(options)
    cuts = Cuts(engine, log, book, products, say, with_features=bool({"content", "match_engine"} & set(chosen)))
    runner = QueryRunner(engine, log, book.present, {"table": table})
    folds = []
    for i in range(1, options.folds + 1):
        w = windows[f"fold{i}"]
        folds.append(evaluate_window(cuts, w, cut_days[i + 1], options, ks, runner=runner, seed=options.seed + i))
    val = folds[0]
    gate = _gate(val, options)
    weights = val["hybrid"].get("weight_vector")
    test = evaluate_window(cuts, windows["test"], cut_days[1], options, ks,
                           hybrid_weights=np.array(weights) if weights else None, runner=runner, seed=options.seed)
    verdict = _verdict(gate, test)
    cv = _cv(folds, test, ks)
    summary = {"customers": book.n, "products": book.m, "offers": len(book.c), "accepted": int(book.accepted.sum()),
               "first_date": date_of(book.first_day).isoformat(), "last_date": date_of(book.last_day).isoformat(),
               "segments": list(book.segment_names), "feedback_rows": book.feedback.rows,
               "feedback_used": len(book.feedback.c), "excluded": book.excluded}
    queries = {**book.queries, **cuts.queries}
    ev = Evaluation(table=table, options=options, ks=ks, windows=windows, cuts=cut_days, test=_strip(test),
                    folds=[_strip(f) for f in folds], gate=gate, cv=cv, verdict=verdict, book_summary=summary,
                    notes=[*book.notes, *cuts.notes], queries=queries,
                    hybrid_weights=val["hybrid"].get("weights"))
    ev._state = {"book": book, "cuts": cuts, "test": test}
    return ev


def _adjusted(val: dict[str, Any], name: str, comparisons: int) -> dict[str, Any]:
    """MAP@3 of ``name`` minus each popularity baseline on the validation window: the paired difference and
    its lower bound at one-sided 2.5% / ``comparisons`` (normal, from the bootstrap standard deviation)."""
    from statistics import NormalDist

    values, res = val["_values"], val["_res"]
    z = NormalDist().inv_cdf(1 - 0.025 / max(comparisons, 1))
    out: dict[str, Any] = {"z": round(z, 3), "comparisons": comparisons, "vs": {}}
    for base in cands.BASELINES:
        if base not in values:
            continue
        d = values[name][GATE_K][GATE_METRIC] - values[base][GATE_K][GATE_METRIC]
        point, sd = float(d.mean()) if len(d) else math.nan, res.spread(d)
        low = point - z * sd if math.isfinite(sd) else math.nan
        out["vs"][base] = {"value": round(point, 5), "low": round(low, 5) if math.isfinite(low) else None}
    return out


def _gate(val: dict[str, Any], options: Options) -> dict[str, Any]:
    """Promotable: beats each popularity baseline on validation MAP@3 — paired 95% interval above 0 against the
    stronger, and a lower bound adjusted for every candidate × baseline comparison above 0 against both."""
    baseline = val["baseline"]
    key = f"@{GATE_K}"
    rows = {}
    # one comparison per candidate: beating both baselines is required of each (an intersection of two tests
    # needs no adjustment), while promoting whichever candidate passes is a union over the candidates
    comparisons = len([n for n in cands.CANDIDATES if n in wanted(options) and n in val["recommenders"]])
    for name in cands.CANDIDATES:
        if name not in wanted(options):
            continue
        if name not in val["recommenders"]:
            rows[name] = {"promotable": False, "reason": val["skipped"].get(name, "not evaluated")}
            continue
        diff = val["difference_vs_baseline"][name][key][GATE_METRIC]
        value = val["recommenders"][name][key]["positive_customers"][GATE_METRIC]
        adjusted = _adjusted(val, name, comparisons)
        beats = diff["low"] is not None and diff["low"] > 0
        lows = [v["low"] for v in adjusted["vs"].values()]
        robust = bool(lows) and all(low is not None and low > 0 for low in lows)
        worse = diff["high"] is not None and diff["high"] < 0
        if beats and robust:
            reason = "beats both popularity baselines beyond the interval"
        elif beats:
            weak = [b for b, v in adjusted["vs"].items() if v["low"] is None or v["low"] <= 0]
            reason = (f"ahead of the baseline, but not beyond the interval once adjusted for the {comparisons} "
                      f"candidates of the gate (against {', '.join(cands.LABELS[b].lower() for b in weak)})")
        else:
            reason = "worse than the baseline" if worse else "no clear difference from the baseline"
        rows[name] = {"promotable": beats and robust, "map@3": value, "minus_baseline": diff, "adjusted": adjusted,
                      "reason": reason}
    eligible = [n for n, r in rows.items() if r["promotable"]]
    winner = max(eligible, key=lambda n: rows[n]["map@3"]["value"]) if eligible else None
    base_value = val["recommenders"][baseline][key]["positive_customers"][GATE_METRIC]
    if winner:
        why = (f"{cands.LABELS[winner]} beats {cands.LABELS[baseline].lower()} on the validation window: MAP@3 "
               f"{rows[winner]['map@3']['value']:.4f} against {base_value['value']:.4f}, difference "
               f"{rows[winner]['minus_baseline']['value']:+.4f} [{rows[winner]['minus_baseline']['low']:+.4f}, "
               f"{rows[winner]['minus_baseline']['high']:+.4f}]")
    else:
        best = max((n for n in rows if "map@3" in rows[n]), key=lambda n: rows[n]["map@3"]["value"], default=None)
        if best is None:
            why = "no candidate could be evaluated"
        else:
            d = rows[best]["minus_baseline"]
            why = (f"no candidate beats {cands.LABELS[baseline].lower()} beyond the interval on the validation "
                   f"window: the best, {cands.LABELS[best].lower()}, has MAP@3 {rows[best]['map@3']['value']:.4f} "
                   f"against {base_value['value']:.4f}, difference {d['value']:+.4f} [{d['low']:+.4f}, "
                   f"{d['high']:+.4f}] — {rows[best]['reason']}; nothing is promoted")
    return {"window": val["window"], "metric": f"MAP@{GATE_K}", "baseline": baseline,
            "baseline_value": base_value, "candidates": rows, "winner": winner, "promotable": winner is not None,
            "reason": why}


def _verdict(gate: dict[str, Any], test: dict[str, Any]) -> str:
    winner = gate["winner"]
    key = f"@{GATE_K}"
    baseline = test["baseline"]
    if winner is None:
        return gate["reason"]
    if winner not in test["recommenders"]:
        return f"{cands.LABELS[winner]} passed the gate but could not be evaluated on the test window"
    a = test["recommenders"][winner][key]["positive_customers"][GATE_METRIC]
    b = test["recommenders"][baseline][key]["positive_customers"][GATE_METRIC]
    d = test["difference_vs_baseline"][winner][key][GATE_METRIC]
    if a["low"] > b["high"]:
        how = "non-overlapping intervals"
    elif d["low"] > 0:
        how = "a paired interval above 0 (the two intervals overlap)"
    elif d["high"] < 0:
        how = "but it is worse on the test window"
    else:
        how = "but on the test window there is no clear difference"
    return (f"{cands.LABELS[winner]} on the test window: MAP@3 {a['value']:.4f} [{a['low']:.4f}, {a['high']:.4f}] "
            f"against {cands.LABELS[baseline].lower()} {b['value']:.4f} [{b['low']:.4f}, {b['high']:.4f}] — "
            f"{how}")


def _cv(folds: list[dict[str, Any]], test: dict[str, Any], ks: tuple[int, ...]) -> dict[str, Any]:
    """Rolling-origin cross-validation: each recommender's MAP@K and precision@K per window, mean and sd."""
    out: dict[str, Any] = {"windows": [f["window"] for f in [*reversed(folds), test]], "recommenders": {}}
    names = sorted({n for f in [*folds, test] for n in f["recommenders"]})
    for name in names:
        row: dict[str, Any] = {}
        for k in ks:
            for metric in ("map", "precision", "recall"):
                series = [f["recommenders"][name][f"@{k}"]["positive_customers"][metric]["value"]
                          if name in f["recommenders"] else None for f in [*reversed(folds), test]]
                present = [v for v in series if v is not None]
                row[f"{metric}@{k}"] = {"per_window": series,
                                        "mean": round(float(np.mean(present)), 5) if present else None,
                                        "sd": round(float(np.std(present, ddof=1)), 5) if len(present) > 1 else None}
        out["recommenders"][name] = row
    return out


def cut_dates(ev: Evaluation) -> list[date]:
    return [date_of(d) for d in ev.cuts]
