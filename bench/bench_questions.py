"""Benchmark and score the question evaluation set: answered-correct / refused / wrong, and the time of each
answer inside one open chat session on ~1M records (the semantic layer learned once, as in a chat).

The default set runs on a synthetic database of ``--customers`` customers (250,000 ≈ 1M records, generated
into a temporary folder) and the UCI set on the vendored Bank Marketing file. Expected results come from
independent SQL, as in tests/semantic/test_questions.py. Not a test: numbers go in the closing notes.

    python bench/bench_questions.py [--customers 250000] [--seed 42] [--slowest 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from finmatch_agents.chat.session import ChatSession  # noqa: E402
from finmatch_agents.config import load_settings  # noqa: E402
from finmatch_agents.data.generator import write_synthetic  # noqa: E402
from finmatch_agents.data.loader import load_file  # noqa: E402
from finmatch_agents.data.mapping import load_mapping  # noqa: E402
from tests.semantic import cases_default, cases_uci  # noqa: E402
from tests.semantic.evaluate import Score, evaluate, expected_values  # noqa: E402

UCI = REPO / "tests" / "fixtures" / "uci-bank-marketing" / "bank-full.csv.gz"


def run(db: Path, cases: list, name: str, state: Path) -> tuple[Score, float]:
    expected = expected_values(db, cases)
    os.environ["FINMATCH_STATE_DIR"] = str(state)
    session = ChatSession(load_settings(db=db, env={"FINMATCH_STATE_DIR": str(state)}), f"bench-{name}")
    try:
        started = time.perf_counter()
        _ = session.semantic  # learned once per session (two queries), then every question reuses it
        learned = (time.perf_counter() - started) * 1000
        return evaluate(session, cases, expected), learned
    finally:
        session.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, score: Score, learned: float, cases: list, slowest: int) -> None:
    lat = score.latencies
    print(score.line(name))
    print(f"  latency per question: p50 {statistics.median(lat):.1f} ms · p95 {pct(lat, 0.95):.1f} ms · "
          f"max {max(lat):.1f} ms (semantic layer learned once in {learned:.0f} ms)")
    for ms, (question, _e) in sorted(zip(lat, cases, strict=True), key=lambda x: -x[0])[:slowest]:
        print(f"    {ms:7.1f} ms  {question}")
    for problem in score.problems:
        print(f"  {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--slowest", type=int, default=5)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chat-bench-questions-"))
    try:
        db = work / "bench.duckdb"
        started = time.perf_counter()
        counts = write_synthetic(db, opts.customers, opts.seed, force=False)
        print(f"generated {opts.customers:,} customers (seed {opts.seed}): {counts} in "
              f"{time.perf_counter() - started:.1f} s")
        score, learned = run(db, cases_default.CASES, "default", work / "state-default")
        report(f"default data ({opts.customers:,} customers)", score, learned, cases_default.CASES, opts.slowest)
        uci = work / "uci.duckdb"
        load_file(uci, UCI, mapping=load_mapping(REPO / "examples" / "bank-marketing.toml"))
        score, learned = run(uci, cases_uci.CASES, "uci", work / "state-uci")
        report("UCI Bank Marketing (45,211 rows)", score, learned, cases_uci.CASES, opts.slowest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
