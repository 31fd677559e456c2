"""Scoring questions against expected results computed by independent SQL (plain DuckDB on the file, deleted
rows excluded as the sandbox does). Shared by the evaluation tests and bench/bench_questions.py.

A case is a question and what it should give: one figure (``scalar``), one figure per group (``groups``),
the first group of a ranking (``top``), two periods' figures (``compare``), or a refusal (``REFUSE``). An
answered question whose figures differ from the expected ones, or whose figure is under another name, is
*wrong*; a refused answerable question is *refused*; an answered unanswerable one is *wrong*.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finmatch_agents.chat.questions import LIBRARY

ACTIVE = "(SELECT * FROM fpr_records WHERE NOT coalesce(_fivetran_deleted, false))"
ANSWERED = ("compiled", "verified")
#: how a verified answer's table columns map to semantic keys (its reviewed SQL names them its own way)
VERIFIED_COLUMNS = {q.id: dict(q.columns) for q in LIBRARY}
VERIFIED_COLUMNS["offers"] = {"total_matching": "recommendations"}


@dataclass(frozen=True)
class Expect:
    kind: str  # scalar | groups | top | compare | refuse
    measure: str = ""
    sql: str = ""
    tolerance: float = 1e-9  # relative; revenue rounded to cents by a verified query gets an absolute 0.01
    n: int | None = None  # a compiled ranking must list exactly this many groups


REFUSE = Expect("refuse")


def scalar(measure: str, sql: str, tolerance: float = 1e-9) -> Expect:
    return Expect("scalar", measure, sql, tolerance)


def groups(measure: str, sql: str, tolerance: float = 1e-9) -> Expect:
    return Expect("groups", measure, sql, tolerance)


def top(measure: str, sql: str, n: int | None = None) -> Expect:
    return Expect("top", measure, sql, n=n)


def compare(measure: str, sql: str) -> Expect:
    return Expect("compare", measure, sql)


@dataclass
class Score:
    correct: int = 0
    refused: int = 0
    wrong: int = 0
    refused_ok: int = 0  # unanswerable and refused
    wrong_answerable: int = 0
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def answered_share(self) -> float:
        answerable = self.correct + self.refused + self.wrong_answerable
        return self.correct / answerable if answerable else 0.0

    def line(self, name: str) -> str:
        share = self.answered_share
        return (f"{name}: {self.correct + self.refused + self.wrong + self.refused_ok} questions · answered-correct "
                f"{self.correct} · refused {self.refused} · wrong {self.wrong} · unanswerable refused "
                f"{self.refused_ok} · answered {share:.1%} of answerable")


def expected_values(db: Path, cases: list[tuple[str, Expect]], sql_prefix: str = "") -> list[Any]:
    """Every case's expected rows, computed in a separate process with plain DuckDB (the sandbox holds the file)."""
    sqls = [c.sql if c.sql else "" for _q, c in cases]
    code = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "cols = [r[0] for r in con.execute('DESCRIBE fpr_records').fetchall()]; "
            f"active = {ACTIVE!r} if '_fivetran_deleted' in cols else '(SELECT * FROM fpr_records)'; "
            "sqls = json.loads(sys.stdin.read()); "
            "print(json.dumps([con.execute(s.replace('{A}', active)).fetchall() if s else None for s in sqls], "
            "default=str))")
    out = subprocess.run([sys.executable, "-c", code, str(db)], input=json.dumps(sqls), capture_output=True,
                         text=True, check=True)
    return list(json.loads(out.stdout))


def figures(answer: Any) -> list[dict[str, Any]]:
    """The answer's rows under semantic keys (compiled answers already use them)."""
    if answer.kind == "compiled":
        return [dict(r) for t in answer.tables[:1] for r in t.rows]
    mapping = VERIFIED_COLUMNS.get(answer.matched or "", {})
    rows = [r for t in answer.tables[:1] for r in t.rows] if answer.tables else []
    if answer.matched == "offers":
        rows = rows[:1]  # the listed offers each carry the total
    if not rows and answer.query_ids:
        return []
    return [{mapping[k]: v for k, v in r.items() if k in mapping} for r in rows]


def _close(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if tol >= 0.01:
        return abs(a - b) <= tol
    return math.isclose(a, b, rel_tol=tol, abs_tol=1e-12)


def judge(answer: Any, expect: Expect, rows: Any) -> tuple[str, str]:
    """("correct" | "refused" | "wrong" | "refused_ok", why)."""
    answered = answer.kind in ANSWERED
    if expect.kind == "refuse":
        return ("wrong", "answered an unanswerable question") if answered else ("refused_ok", "")
    if not answered:
        return "refused", answer.kind
    got = figures(answer)
    m = expect.measure
    if expect.kind == "scalar":
        if len(got) != 1 or m not in got[0]:
            return "wrong", f"expected one figure {m}, got {got[:3]}"
        ok = _close(got[0][m], rows[0][0], expect.tolerance)
        return ("correct", "") if ok else ("wrong", f"{m} {got[0][m]} != {rows[0][0]}")
    if expect.kind == "compare":
        if not got or m + "__current" not in got[0]:
            return "wrong", f"expected a comparison of {m}, got {got[:2]}"
        first = got[0]
        ok = _close(first[m + "__current"], rows[0][0], 1e-9) and _close(first[m + "__baseline"], rows[0][1], 1e-9)
        return ("correct", "") if ok else ("wrong", f"{first} != {rows[0]}")
    keyed = {}
    for r in got:
        if m not in r:
            return "wrong", f"no {m} in {r}"
        key = tuple(str(v) for k, v in r.items() if k != m and isinstance(v, str))
        keyed[key] = r[m]
    expected = {tuple(str(v) for v in row[:-1]): row[-1] for row in rows}
    if expect.kind == "top":
        best = rows[0]
        first = got[0] if got else {}
        if m not in first or not _close(first[m], best[-1], 1e-9):
            return "wrong", f"top {first} != {best}"
        label = [str(v) for k, v in first.items() if k != m and isinstance(v, str)]
        if expect.n is not None and answer.kind == "compiled" and len(got) != expect.n:
            return "wrong", f"listed {len(got)} groups, not {expect.n}"
        tied = [row for row in rows if _close(row[-1], best[-1], 1e-12)]
        ok = any([str(v) for v in row[:-1]] == label[: len(row) - 1] for row in tied)
        return ("correct", "") if ok else ("wrong", f"top label {label} != {best}")
    if set(keyed) != set(expected):
        return "wrong", f"groups {sorted(keyed)[:6]} != {sorted(expected)[:6]}"
    bad = [k for k in expected if not _close(keyed[k], expected[k], expect.tolerance)]
    return ("correct", "") if not bad else ("wrong", f"{bad[0]}: {keyed[bad[0]]} != {expected[bad[0]]}")


def evaluate(session: Any, cases: list[tuple[str, Expect]], expected: list[Any]) -> Score:
    score = Score()
    for (question, expect), rows in zip(cases, expected, strict=True):
        started = time.perf_counter()
        answer = session.ask(question)
        score.latencies.append((time.perf_counter() - started) * 1000)
        verdict, why = judge(answer, expect, rows)
        setattr(score, verdict, getattr(score, verdict) + 1)
        if verdict == "wrong" and expect.kind != "refuse":
            score.wrong_answerable += 1
        if verdict in ("wrong", "refused"):
            score.problems.append(f"{verdict.upper()}: {question} — {why} ({answer.interpretation})")
    return score
