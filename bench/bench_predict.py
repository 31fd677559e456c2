"""Benchmark the predictive models on about 1M records (250k customers): training (`predict train
conversion` as its own process: wall time and peak memory), batch scoring of every record, and one-customer
scoring inside a running process (engine open, model loaded: what the API serves).

Targets (issue 14): training 1M x ~30 features <= 60 s and <= 3 GB; scoring 1M <= 10 s; one customer <= 50 ms.
The machine is shared; the script prints the load average beside the numbers. Prints numbers (not a test).

    python bench/bench_predict.py [--customers 250000] [--keep DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure_cpu, model_workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, help="keep the database and models in this folder")
    parser.add_argument("--threads", type=int, default=2, help="FINMATCH_THREADS for the fits")
    parser.add_argument("--repeat", type=int, default=20, help="one-customer scorings (median)")
    opts = parser.parse_args()
    work, db, state = model_workspace(opts, "finmatch-bench-predict-")
    out = work / "train.json"
    seconds, mib, cpu = measure_cpu(["predict", "train", "conversion", "--promote", "--json"], stdout=out)
    t = json.loads(out.read_text().splitlines()[-1])
    print(f"train conversion: {t['rows']:,} decided offers x {len(t['features'])} inputs "
          f"({t['split']['train_rows']:,} fitted): {seconds:.1f} s wall ({cpu:.1f} s CPU), peak {mib:,.0f} MiB; steps "
          + ", ".join(f"{k} {v:.1f} s" for k, v in t["timings"].items()))
    print(f"  holdout AUC logistic {t['holdout']['logistic']['auc']['value']:.3f}, gbm "
          f"{t['holdout']['gbm']['auc']['value']:.3f}, bank score {t['holdout']['bank_score']['auc']['value']:.3f}; "
          f"kept {t['kept']}: {t['verdict']}")
    print(f"load average after training: {os.getloadavg()[0]:.2f}")

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict import registry
    from finmatch_agents.predict.models import limit_threads
    from finmatch_agents.predict.score import score_batch, score_customer
    from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

    info = registry.promoted(state, "conversion")
    assert info is not None
    model = registry.load(info)
    engine = DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=300, threads=opts.threads))
    started, cpu0 = time.perf_counter(), time.process_time()
    with limit_threads(opts.threads):
        scored = score_batch(engine, QueryLog(), "fpr_records", info, model, every_offer=True)
    print(f"score every record: {len(scored.scores):,} rows in {time.perf_counter() - started:.1f} s wall "
          f"({time.process_time() - cpu0:.1f} s CPU; read + encode + predict; writing the table is `predict score`)")
    ids = [f"C{i:07d}" for i in range(1, opts.customers, max(1, opts.customers // opts.repeat))][: opts.repeat]
    times = []
    for cid in ids:
        started = time.perf_counter()
        score_customer(engine, QueryLog(), "fpr_records", info, model, cid)
        times.append((time.perf_counter() - started) * 1000)
    print(f"one customer in process (their open offers): median {statistics.median(times):.0f} ms, "
          f"max {max(times):.0f} ms over {len(times)} customers")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
