"""Load test of `finmatch serve` against 127.0.0.1 only (issue 17): latency and errors of single-customer
`scores` and `matches` at 50 concurrent clients, `ask` (compiled and verified questions), and the worker's
memory with every engine on the branch loaded (matching features and matchers, promoted conversion and churn
models with every row's score and reasons).

Targets: scores and matches p50 <= 20 ms, p99 <= 50 ms at 50 concurrent clients, 0 errors over >= 20,000
requests; ask verified/compiled p50 <= 50 ms; one worker on 1M records <= 1.5 GB.

The server is a real `finmatch serve` process (uvicorn, one worker); the clients are a small asyncio HTTP/1.1
client with keep-alive connections in this process (the cheapest client there is, because it shares the two
cores with the server). Latency is measured per request at the client, from writing the request to reading
the last byte, so it includes the wait behind the other 49 clients. The machine is shared, so wall latency
is noisy: each row also gives the server's CPU time (user + system, from /proc) and this client's per request,
and `uptime` is printed before and after. Prints numbers (not a test).

    python bench/bench_serve.py [--customers 25000] [--clients 50] [--requests 20000] [--keep DIR]
    python bench/bench_serve.py --customers 250000 --requests 2000   # ~1M records: memory
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

QUESTIONS = {  # verified (a verified question's own wording) and compiled (the semantic model's compiler)
    "verified": ["What is the acceptance rate by customer segment?", "Which channel converts best?",
                 "How many customers are at high churn risk, by segment?"],
    "compiled": ["What is the acceptance rate for Email in 2025?", "How many offers were accepted in 2025?",
                 "What is the acceptance rate for mortgages by channel?"],
}


def finmatch(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "finmatch_agents", *args], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"finmatch {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def uptime() -> str:
    """``uptime``'s line (the load averages of the shared machine)."""
    done = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or f"load average {os.getloadavg()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_client(port: int, key: str, paths: list[str], out: list[float], errors: list[str],
                     body: bytes | None = None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            method = "POST" if body is not None else "GET"
            payload = body.replace(b"@Q@", path.encode()) if body is not None else b""
            target = "/v1/ask" if body is not None else path
            head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Length: {len(payload)}\r\nContent-Type: application/json\r\n\r\n").encode()
            started = time.perf_counter()
            writer.write(head + payload)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            data = await reader.readexactly(length)
            out.append(time.perf_counter() - started)
            status = int(status_line.split()[1]) if status_line else 0
            if status != 200:
                errors.append(f"{status} {path}: {data[:200]!r}")
    finally:
        writer.close()


async def load(port: int, key: str, paths: list[str], clients: int, body: bytes | None = None
               ) -> tuple[list[float], list[str], float]:
    shares = [paths[i::clients] for i in range(clients)]
    out: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(one_client(port, key, share, out, errors, body) for share in shares if share))
    return out, errors, time.perf_counter() - started


def report(name: str, lat: list[float], errors: list[str], seconds: float, target: str, cpu: float,
           client_cpu: float = 0.0) -> dict[str, object]:
    row = {"name": name, "requests": len(lat), "errors": len(errors), "rps": round(len(lat) / seconds),
           "server_cpu_ms_per_request": round(cpu * 1000 / max(1, len(lat)), 3),
           "client_cpu_ms_per_request": round(client_cpu * 1000 / max(1, len(lat)), 3),
           "load_average_1m": round(os.getloadavg()[0], 2),
           "p50_ms": round(pct(lat, 0.50) * 1000, 1), "p90_ms": round(pct(lat, 0.90) * 1000, 1),
           "p99_ms": round(pct(lat, 0.99) * 1000, 1), "max_ms": round(max(lat) * 1000, 1),
           "mean_ms": round(statistics.fmean(lat) * 1000, 1), "target": target}
    print(json.dumps(row), flush=True)
    for e in errors[:3]:
        print("  error:", e)
    return row


def own_cpu() -> float:
    """User + system CPU seconds of this process (the load client)."""
    t = os.times()
    return t.user + t.system


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` and its live children have used (threads included; with
    ``--workers N`` the children are uvicorn's worker processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        with contextlib.suppress(OSError):  # it ended meanwhile
            total += cpu_seconds(int(child))
    return total


def memory(pid: int) -> tuple[float, float]:
    """(current, peak) resident MiB of one worker: process ``pid``, or with ``--workers N`` the largest of
    uvicorn's worker processes (the supervisor holds no engines)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    if children:
        return max(memory(c) for c in children)
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=25_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20_000, help="per endpoint (scores, matches)")
    parser.add_argument("--ask", type=int, default=400, help="questions per kind")
    parser.add_argument("--ask-clients", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="keep the database, models and key in this folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="finmatch-bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    db, state = work / f"serve-{opts.customers}.duckdb", work / "state"
    env = {**os.environ, "FINMATCH_DB": str(db), "FINMATCH_STATE_DIR": str(state),
           "FINMATCH_THREADS": str(opts.threads), "FINMATCH_CONFIG": str(work / "finmatch.toml"),
           "FINMATCH_SERVE_RATE_LIMIT": "0"}
    (work / "finmatch.toml").touch()
    print(f"uptime before: {uptime()} ({os.cpu_count()} cores)", flush=True)
    if not db.exists():
        finmatch("data", "generate", "--customers", str(opts.customers), "--seed", "7", env=env)
    for task in ("conversion", "churn"):
        if not (state / "models" / "promoted.json").exists() or task not in (state / "models" /
                                                                            "promoted.json").read_text():
            t = time.perf_counter()
            finmatch("predict", "train", task, "--promote", "--folds", "0", "--json", env=env)
            print(f"trained {task} in {time.perf_counter() - t:.1f} s", flush=True)
    keyfile = work / "key.txt"
    if not keyfile.exists():
        keyfile.write_text(finmatch("serve", "keys", "add", f"bench-{os.getpid()}", "--rate-limit", "0",
                                    env=env).strip())
    key = keyfile.read_text().strip()
    ids = json.loads(finmatch("sql", "SELECT DISTINCT customer_id FROM fpr_records ORDER BY 1", "--format", "json",
                              "--limit", "1000000", env=env))
    customers = [r["customer_id"] for r in (ids["rows"] if isinstance(ids, dict) else ids)]
    port = free_port()
    started = time.perf_counter()
    log = (work / "server.log").open("w")  # a file, not a pipe nobody reads (a full pipe would stall the server)
    server = subprocess.Popen([sys.executable, "-m", "finmatch_agents", "serve", "--port", str(port),
                               "--no-access-log", "--workers", str(opts.workers)], env=env, stderr=log, text=True)
    try:
        health: dict[str, Any] = {}
        while time.perf_counter() - started < 900:
            if server.poll() is not None:
                raise SystemExit(f"the server stopped: {(work / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    health = json.load(r)
                break
            except OSError:
                time.sleep(0.2)
        ready = time.perf_counter() - started
        rss, peak = memory(server.pid)
        print(json.dumps({"customers": opts.customers, "ready_s": round(ready, 1), "load_s": health["load_seconds"],
                          "rss_mib_loaded": round(rss), "peak_mib_loading": round(peak),
                          "engines": {k: v.get("available") for k, v in health["engines"].items()}}), flush=True)
        rng = random.Random(7)
        rows = []
        for name in ("scores", "matches"):
            paths = [f"/v1/customers/{rng.choice(customers)}/{name}" for _ in range(opts.requests)]
            asyncio.run(load(port, key, paths[:500], opts.clients))  # warm-up (not counted)
            for clients, share in ((1, paths[: max(200, opts.requests // 20)]), (opts.clients, paths)):
                cpu, mine = cpu_seconds(server.pid), own_cpu()
                lat, errors, seconds = asyncio.run(load(port, key, share, clients))
                rows.append(report(f"{name} x{clients}", lat, errors, seconds,
                                   "p50 <= 20 ms, p99 <= 50 ms, 0 errors" if clients > 1 else "(service time)",
                                   cpu_seconds(server.pid) - cpu, own_cpu() - mine))
        for kind, questions in QUESTIONS.items() if opts.ask > 0 else ():
            for question in questions:  # each question must be answered the way the row says
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/ask", method="POST",
                                                 data=json.dumps({"question": question}).encode(),
                                                 headers={"Authorization": f"Bearer {key}",
                                                          "Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as r:
                    got = json.load(r)["kind"]
                if got != kind:
                    raise SystemExit(f"{question!r} was answered as {got}, not {kind}")
            body = b'{"question": "@Q@", "session": "bench"}'
            asked = [questions[i % len(questions)] for i in range(opts.ask)]
            cpu, mine = cpu_seconds(server.pid), own_cpu()
            lat, errors, seconds = asyncio.run(load(port, key, asked, opts.ask_clients, body))
            rows.append(report(f"ask {kind} x{opts.ask_clients}", lat, errors, seconds, "p50 <= 50 ms",
                               cpu_seconds(server.pid) - cpu, own_cpu() - mine))
        rss, peak = memory(server.pid)
        print(json.dumps({"rss_mib_after": round(rss), "peak_mib": round(peak), "target_mib": 1536,
                          "load_average_after": round(os.getloadavg()[0], 2)}), flush=True)
        print(f"uptime after: {uptime()}", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
