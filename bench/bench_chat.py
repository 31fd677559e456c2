"""Benchmark chat answers offline: verified questions and slash commands at ~100k and ~1M records.

Prints, per question, the answer time inside one open session (what a chat user waits for) and the wall
time and peak memory of a one-shot `finmatch ask` process (what a script waits for, startup included).
Not a test: numbers go in the closing notes and docs/benchmarks.md.

    python bench/bench_chat.py [--sizes 25000,250000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure

QUESTIONS = ("Which segment has the highest churn?", "Show me declined mortgage offers last quarter",
             "What is the acceptance rate by customer segment?", "How many customers are at high churn risk?",
             "Which product types earn the most revenue?", "/metrics", "/sql SELECT channel, count(*) FROM "
             "fpr_records GROUP BY 1")


def in_session(db: Path, state: Path, repeat: int) -> dict[str, float]:
    """Median seconds per question, answered in one session (the database stays open, as in the chat)."""
    os.environ.update({"FINMATCH_DB": str(db), "FINMATCH_STATE_DIR": str(state)})
    from finmatch_agents.chat.session import ChatSession
    from finmatch_agents.config import load_settings

    session = ChatSession(load_settings(), "bench")
    try:
        out = {}
        for question in QUESTIONS:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                answer = session.ask(question)
                times.append(time.perf_counter() - start)
                assert answer.kind in ("verified", "command"), (question, answer.text)
            out[question] = statistics.median(times)
        return out
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,250000", help="customer counts (x4 = records)")
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="finmatch-bench-chat-"))
    results = []
    for customers in (int(c) for c in opts.sizes.split(",")):
        db = work / f"c{customers}.duckdb"
        measure(["data", "generate", "--customers", str(customers), "--db", str(db), "--force"])
        answers = in_session(db, work / f"state{customers}", opts.repeat)
        ask_wall, ask_mib = measure(["ask", QUESTIONS[0], "--db", str(db)], cwd=work)
        print(f"\n{customers:,} customers: one-shot `finmatch ask` {ask_wall:.2f} s, peak {ask_mib:.0f} MiB")
        print(f"{'in-session answer ms':>22}  question")
        for question, seconds in answers.items():
            print(f"{seconds * 1000:>22.0f}  {question[:70]}")
        results.append({"customers": customers, "ask_wall_s": round(ask_wall, 2), "ask_peak_mib": round(ask_mib),
                        "answer_ms": {q: round(s * 1000) for q, s in answers.items()}})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
