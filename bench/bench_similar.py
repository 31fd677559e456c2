"""Benchmark the similarity search (issue 16): the index build for 250k customers (`similar index --force` as its
own process: wall time and peak memory), a cached `similar index`, a cold `finmatch similar "QUESTION"` process,
queries inside a running process (engine open, index loaded: what the API serves), and the evaluation set
(constraint precision from independent SQL, NDCG@10 of the embedding and the lexical ranker) on the default data.

Targets: query over 250k <= 300 ms in process; cold process <= 2 s; index build <= 120 s and <= 1.5 GB on 2 cores;
constraint precision 100%; NDCG@10 embedding > lexical. The machine is shared; the script prints the load
average beside the numbers. Prints numbers (not a test).

    python bench/bench_similar.py [--customers 250000] [--eval-customers 25000] [--keep DIR] [--threads 2]
    python bench/bench_similar.py --dev    # only the development set (seed 7 data), what design choices are tuned on
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import measure

QUESTIONS = [
    "Customers with credit score over 750 interested in investment products",
    "Young professionals with good credit scores who might qualify for premium credit cards",
    "Find high-income professionals nearing retirement who might be interested in wealth management services",
    "interested in saving for a first home",
    "customers without a mortgage interested in buying a house",
]


def children_cpu() -> float:
    """User + system CPU seconds of this script's finished child processes (their children included)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def generate(db: Path, customers: int, seed: int = 42) -> None:
    if not db.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "finmatch_agents", "data", "generate", "--customers", str(customers),
                        "--seed", str(seed), "--db", str(db)], check=True, capture_output=True)
        print(f"generated {customers:,} customers in {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--eval-customers", type=int, default=25_000, help="the evaluation's data (the default)")
    parser.add_argument("--keep", type=Path, help="keep the databases and the index in this folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5, help="in-process runs of each question (median)")
    parser.add_argument("--no-build", action="store_true", help="skip the forced index build (it is kept)")
    parser.add_argument("--no-processes", action="store_true", help="skip the own-process timings")
    parser.add_argument("--dev", action="store_true", help="score only the development set (tests/similar/"
                        "dev_cases.py, seed 7 data) and stop: design choices are tuned on it, not on the evaluation "
                        "set")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="finmatch-bench-similar-"))
    work.mkdir(parents=True, exist_ok=True)
    db, state = work / f"bench-{opts.customers}.duckdb", work / "state"
    os.environ.update({"FINMATCH_DB": str(db), "FINMATCH_STATE_DIR": str(state), "FINMATCH_THREADS": str(opts.threads)})
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    if opts.dev:
        score_sets(opts, work, state)
        return
    generate(db, opts.customers)

    out = work / "index.json"
    if not opts.no_processes:
        if not opts.no_build:
            seconds, mib = measure(["similar", "index", "--force", "--json"], stdout=out)
            info = json.loads(out.read_text().splitlines()[-1])
            print(f"index build (--force, own process): {info['customers']:,} customers in {seconds:.1f} s wall "
                  f"({info['ms'] / 1000:.1f} s in the call, of which features and text fields "
                  f"{info['build_seconds']:.1f} s), peak {mib:,.0f} MiB, file {info['bytes'] / 1e6:.1f} MB; "
                  f"text values: {info['fields']}")
        seconds, mib = measure(["similar", "index", "--json"], stdout=out)
        print(f"similar index again (cached by fingerprint): {seconds:.2f} s wall, peak {mib:,.0f} MiB")
        colds = []
        cpu = children_cpu()
        for question in QUESTIONS[:3]:
            seconds, mib = measure(["similar", question, "--json"], stdout=out)
            colds.append(seconds)
        cpu = (children_cpu() - cpu) / len(colds)
        print(f"cold `finmatch similar QUESTION` process: median {statistics.median(colds):.2f} s, "
              f"max {max(colds):.2f} s, {cpu:.2f} s CPU each (user + system, mean) (peak {mib:,.0f} MiB)  "
              "[target <= 2 s]")
        print(f"load average after the processes: {os.getloadavg()[0]:.2f}")

    from finmatch_agents.config import load_settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.similar import api
    from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

    settings = load_settings(config_path=None, allow_missing=True, db=db, state_dir=state)
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=300, threads=opts.threads)) as engine:
        started, cpu = time.perf_counter(), time.process_time()
        api.search(settings, engine, QueryLog(), QUESTIONS[0], 20)
        print(f"first query in a new process (index and model loaded): {time.perf_counter() - started:.2f} s wall, "
              f"{time.process_time() - cpu:.2f} s CPU")
        for ranker in ("embedding", "lexical"):
            api.search(settings, engine, QueryLog(), QUESTIONS[0], 20, ranker=ranker)
            for question in QUESTIONS:
                times, cpus, matched = [], [], 0
                for i in range(opts.repeat):
                    started, cpu = time.perf_counter(), time.process_time()
                    r = api.search(settings, engine, QueryLog(), question + (" " * i), 20, ranker=ranker)
                    times.append((time.perf_counter() - started) * 1000)
                    cpus.append((time.process_time() - cpu) * 1000)
                    matched = r["matched"]
                print(f"  {ranker:9} {statistics.median(times):5.0f} ms median wall, {max(times):5.0f} max; "
                      f"CPU {statistics.median(cpus):5.0f} ms (all threads) ({matched:,} matched): {question}")
        times = []
        for cid in ("C0000001", "C0100000", "C0200000"):
            started = time.perf_counter()
            api.like(settings, engine, QueryLog(), [cid], 20)
            times.append((time.perf_counter() - started) * 1000)
        print(f"  look-alikes of one customer (exact scan of {opts.customers:,}): median "
              f"{statistics.median(times):.0f} ms")
        started = time.perf_counter()
        r = api.like_segment(settings, engine, QueryLog(), "accepted Mortgage in 2025", 20)
        print(f"  look-alike audience of 'accepted Mortgage in 2025' ({r['seed_size']:,} seeds): "
              f"{r['lookalikes']:,} resemble it, {(time.perf_counter() - started) * 1000:.0f} ms")

    score_sets(opts, work, state)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def score_sets(opts: argparse.Namespace, work: Path, state: Path) -> None:
    """NDCG@10 of both rankers and constraint precision: the evaluation set, or with --dev the development set."""
    from finmatch_agents.config import load_settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits
    from tests.similar.cases import CASES
    from tests.similar.dev_cases import DEV_CASES, DEV_SEED
    from tests.similar.evaluate import evaluate, paired, truth

    title, cases, seed = ("development set", DEV_CASES, DEV_SEED) if opts.dev else ("evaluation set", CASES, 42)
    eval_db = work / f"{'dev' if opts.dev else 'eval'}-{opts.eval_customers}.duckdb"
    generate(eval_db, opts.eval_customers, seed)
    t = truth(eval_db, cases)
    settings = load_settings(config_path=None, allow_missing=True, db=eval_db, state_dir=state)
    with DuckDBEngine(eval_db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=300, threads=opts.threads)) as engine:
        scores = evaluate(settings, engine, QueryLog(), t, cases=cases)
    print(f"{title}: {len(cases)} questions ({opts.eval_customers:,} customers, seed {seed})")
    for name, s in scores.items():
        print(f"  {name:9} constraint precision {s.precision:.2%} (recall {s.recall:.2%}, {s.selected:,} selected), "
              f"top-10 outside the constraints {s.listed_wrong}, refused {len(s.refused)}, NDCG@10 "
              f"{s.mean_ndcg:.3f} over {len(s.ndcgs)} questions; ranking after the filter median "
              f"{statistics.median(s.ms):.0f} ms")
    d = paired(scores["embedding"], scores["lexical"])
    print(f"  paired over questions, embedding - lexical: {d.mean:+.3f} (standard error {d.se:.3f}, t {d.t:.2f}; "
          f"embedding better on {d.wins}, worse on {d.losses}, tied on {d.ties} of {d.n})")
    if opts.dev:
        return
    for i, case in enumerate(CASES[:3]):
        print(f"  example {i + 1}: NDCG@10 embedding {scores['embedding'].per_case[i]['ndcg10']:.3f}, lexical "
              f"{scores['lexical'].per_case[i]['ndcg10']:.3f} — {case.question}")


if __name__ == "__main__":
    main()
