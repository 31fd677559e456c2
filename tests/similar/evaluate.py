"""Scoring the similarity search against its evaluation set (shared by the tests and bench/bench_similar.py).

Constraint precision: the share of the customers the search selects that meet the truth SQL (and, reported
beside it, recall: the share of the truth the search selects). NDCG@10 of the semantic part per ranker, with
the graded relevance of tests/similar/cases.py, over the customers that meet the constraints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from finmatch_agents.data.generator import GOALS, INTERESTS
from tests.similar.cases import CASES, Case

ACTIVE = "(SELECT * FROM fpr_records WHERE NOT coalesce(_fivetran_deleted, false))"


@dataclass
class Truth:
    """Per case the customers meeting its constraints; per customer the planted goal intent and interests."""

    sets: list[set[str]]
    goal: dict[str, str | None]
    interests: dict[str, tuple[str, ...]]

    def subset(self, cases: list[Case], chosen: list[Case]) -> Truth:
        """The truth of ``chosen``, some of the ``cases`` it was computed for."""
        return Truth([self.sets[cases.index(c)] for c in chosen], self.goal, self.interests)


def truth(db: Path, cases: list[Case] = CASES) -> Truth:
    """Computed with a plain DuckDB connection of its own (before the sandbox opens the file)."""
    wording = {w: k for k, (_t, ws) in GOALS.items() for w in ws}
    with duckdb.connect(str(db), read_only=True) as con:
        sets = []
        for c in cases:
            having = f" HAVING {c.having}" if c.having else ""
            rows = con.execute(f"SELECT customer_id FROM {ACTIVE} WHERE customer_id IS NOT NULL GROUP BY customer_id"
                               f"{having}").fetchall()
            sets.append({r[0] for r in rows})
        goals = dict(con.execute("SELECT customer_id, customer_goals FROM customer_goals").fetchall())
        people = con.execute(f"SELECT customer_id, any_value(customer_product_interests) FROM {ACTIVE} "
                             "GROUP BY customer_id").fetchall()
    goal = {cid: wording.get(goals.get(cid) or "") for cid, _i in people}
    interests = {cid: tuple(p.strip() for p in (i or "").split(",") if p.strip()) for cid, i in people}
    return Truth(sets, goal, interests)


def grade(case: Case, goal: str | None, interests: tuple[str, ...]) -> int:
    if goal in case.goals:
        return 2
    types = {GOALS[goal][0]} if goal else set()
    types |= {INTERESTS[i] for i in interests if i in INTERESTS}
    return 1 if types & set(case.types) else 0


def ndcg(grades: list[int], ideal: list[int], k: int = 10) -> float | None:
    def dcg(g: list[int]) -> float:
        return sum((2 ** r - 1) / math.log2(i + 2) for i, r in enumerate(g[:k]))
    best = dcg(sorted(ideal, reverse=True))
    return None if best == 0 else dcg(grades) / best


@dataclass
class Score:
    ranker: str
    selected: int = 0
    correct: int = 0  # selected customers that meet the truth
    truth: int = 0
    found: int = 0  # truth customers selected
    listed_wrong: int = 0  # listed top-10 customers outside the truth
    refused: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)  # ranking time per case (after the filter)
    ndcgs: list[float] = field(default_factory=list)
    per_case: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct / self.selected if self.selected else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.truth if self.truth else 1.0

    @property
    def mean_ndcg(self) -> float:
        return float(np.mean(self.ndcgs)) if self.ndcgs else 0.0


def evaluate(settings: Any, engine: Any, log: Any, t: Truth, rankers: tuple[str, ...] = ("embedding", "lexical"),
             cases: list[Case] = CASES, top: int = 10) -> dict[str, Score]:
    """Run every case through the real search (the api: one filter per case, every ranker) and score it."""
    from finmatch_agents.similar import api

    scores = {r: Score(r) for r in rankers}
    results = api.evaluate_questions(settings, engine, log, [c.question for c in cases], top, rankers)
    for case, expected, got in zip(cases, t.sets, results, strict=True):
        for ranker, score in scores.items():
            if "error" in got:
                score.refused.append(f"{case.question}: {got['error']}")
                continue
            chosen = set(got["matched_ids"])
            result = got[ranker]
            score.selected += len(chosen)
            score.correct += len(chosen & expected)
            score.truth += len(expected)
            score.found += len(chosen & expected)
            listed = [h["customer_id"] for h in result["results"]]
            score.listed_wrong += sum(1 for c in listed if c not in expected)
            grades = [grade(case, t.goal.get(c), t.interests.get(c, ())) for c in listed]
            ideal = [grade(case, t.goal.get(c), t.interests.get(c, ())) for c in expected]
            value = ndcg(grades, ideal, top)
            if value is not None:
                score.ndcgs.append(value)
            score.ms.append(result["ms"])
            score.per_case.append({"question": case.question, "matched": result["matched"], "truth": len(expected),
                                   "ndcg10": value, "interpretation": result["interpretation"],
                                   "top": listed[:3]})
    return scores


@dataclass
class Paired:
    """Per-question differences of NDCG@10 between two rankers (the questions both could score)."""

    mean: float
    se: float  # standard error of the mean difference
    n: int
    wins: int
    losses: int
    ties: int

    @property
    def t(self) -> float:
        return self.mean / self.se if self.se > 0 else 0.0


def paired(a: Score, b: Score) -> Paired:
    diffs = np.array([x["ndcg10"] - y["ndcg10"] for x, y in zip(a.per_case, b.per_case, strict=True)
                      if x["ndcg10"] is not None and y["ndcg10"] is not None], dtype=np.float64)
    n = len(diffs)
    se = float(diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return Paired(float(diffs.mean()) if n else 0.0, se, n, int((diffs > 1e-12).sum()), int((diffs < -1e-12).sum()),
                  int((abs(diffs) <= 1e-12).sum()))

