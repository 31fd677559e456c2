"""Benchmark scoring with the promoted conversion model on about 1M records: batch scoring of every record
(read through the sandbox, encode, predict, write the ``scores`` table), ``finmatch predict score`` as its own
process (the open offers), and one customer inside a running process (the API facade: engine open, model
loaded once, reasons included or not).

Targets (issue 14): scoring 1M <= 10 s; one customer <= 50 ms inside a running process. CPU seconds are user +
system of every thread of the process (``time.process_time``).
The machine is shared: the script prints the load average and the CPU seconds beside the wall times (on a
busy machine the wall time of a step is its CPU time stretched by the load). Prints numbers (not a test).

    python bench/bench_score.py [--customers 250000] [--keep DIR] [--threads 2] [--repeat 30]

With ``--keep DIR`` it reuses ``bench_predict.py``'s database and model folder there; without a promoted
conversion model it trains one first (``predict train conversion --promote --folds 0``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure, measure_cpu, model_workspace


class Clock:
    """Wall and CPU seconds (all threads of this process) of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.1f} s wall ({self.cpu:.1f} s CPU)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, help="reuse / keep the database and models in this folder")
    parser.add_argument("--threads", type=int, default=2, help="FINMATCH_THREADS")
    parser.add_argument("--repeat", type=int, default=30, help="one-customer scorings (median)")
    opts = parser.parse_args()
    _work, db, state = model_workspace(opts, "finmatch-bench-score-")

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict import api, registry
    from finmatch_agents.predict.models import limit_threads
    from finmatch_agents.predict.score import score_customer, scoring_frame, write_scores
    from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

    if registry.promoted(state, "conversion") is None:
        seconds, _ = measure(["predict", "train", "conversion", "--promote", "--folds", "0"])
        print(f"(trained a conversion model first: {seconds:.0f} s)")
    info = registry.promoted(state, "conversion")
    assert info is not None
    with Clock() as load:
        model = registry.load(info)
    print(f"model {info.id} ({info.meta['kind']}): loaded in {load.wall * 1000:.0f} ms")

    engine = DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=300, threads=opts.threads))
    with limit_threads(opts.threads):
        with Clock() as read:
            frame = scoring_frame(engine, QueryLog(), "fpr_records", info, every_offer=True)
        with Clock() as predict:
            scores = model.predict(frame.X)
    from finmatch_agents.predict.score import Scored

    with Clock() as table:
        rows = Scored(frame, scores, info.id, info.task).table()
    engine.close()  # the writer needs the file to itself
    with Clock() as write:
        write_scores(db, "conversion", info.id, rows, {"table": "fpr_records", "bench": True})
    total = read.wall + predict.wall + table.wall + write.wall
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"score every record: {len(scores):,} rows x {len(info.features)} inputs in {total:.1f} s wall "
          f"({read.cpu + predict.cpu + table.cpu + write.cpu:.1f} s CPU): read + encode {read}, predict {predict}, "
          f"arrow table {table}, write scores {write}; peak {peak:,.0f} MiB in this process")
    seconds, mib, cpu = measure_cpu(["predict", "score", "conversion"])
    print(f"`finmatch predict score conversion` (open offers, own process, import and fingerprint included): "
          f"{seconds:.1f} s wall ({cpu:.1f} s CPU), peak {mib:,.0f} MiB")
    seconds, mib, cpu = measure_cpu(["predict", "score", "conversion", "--all-offers"])
    print(f"`finmatch predict score conversion --all-offers` (every record, own process): {seconds:.1f} s wall "
          f"({cpu:.1f} s CPU), peak {mib:,.0f} MiB")
    print(f"load average after batch scoring: {os.getloadavg()[0]:.2f}")

    ids = [f"C{i:07d}" for i in range(1, opts.customers, max(1, opts.customers // opts.repeat))][: opts.repeat]
    engine = DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=300, threads=opts.threads))
    with engine, limit_threads(1):
        api.score_customer(engine, QueryLog(), state, "fpr_records", ids[0])  # warm: model cache, catalog
        bare, full = [], []
        for cid in ids:
            started = time.perf_counter()
            score_customer(engine, QueryLog(), "fpr_records", info, model, cid)
            bare.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            api.score_customer(engine, QueryLog(), state, "fpr_records", cid)
            full.append((time.perf_counter() - started) * 1000)
    print(f"one customer in process (their open offers), {len(ids)} customers: scores only median "
          f"{statistics.median(bare):.0f} ms (max {max(bare):.0f}); with top reasons (api.score_customer) median "
          f"{statistics.median(full):.0f} ms (max {max(full):.0f})")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
