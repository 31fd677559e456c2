"""Measure the default report as a reader meets it (issue 11): words in the body (all, and shown without
unfolding), the most repeated figures, the longest line; render times of the markdown and the HTML page; and,
with --screenshots DIR, headless-Chromium screenshots of the page (desktop and phone width) for the docs.

Works on a fresh default database (`finmatch data generate` defaults) in a temporary folder. Not a test: the
numbers go in docs/report.md and the closing notes.

    python bench/bench_report.py [--customers 25000] [--report FILE.md] [--screenshots docs/img]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from finmatch_agents.config import load_settings
from finmatch_agents.data.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from finmatch_agents.data.generator import write_synthetic
from finmatch_agents.report.document import render_report
from finmatch_agents.report.html import render_html
from finmatch_agents.report.measure import measure
from finmatch_agents.runner import RunRequest, run_analysis
from finmatch_agents.runs import RunStore


def show(label: str, text: str) -> None:
    m = measure(text)
    print(f"{label}: {len(text.splitlines()):,} lines, {len(text.encode()):,} bytes; body {m.words:,} words "
          f"({m.visible_words:,} shown unfolded); longest line outside code {m.longest_line:,} characters; "
          f"most repeated figures {', '.join(f'{f} ×{n}' for f, n in m.repeats[:6]) or 'none'}")


def screenshot(page: Path, out: Path, size: str, profile: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium: apt-get install chromium")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={out}", f"--window-size={size}",
                    page.as_uri()], check=True, capture_output=True, timeout=180)
    print(f"screenshot {out} ({size})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--report", type=Path, help="also measure this earlier report (before/after)")
    parser.add_argument("--screenshots", type=Path, help="write report-desktop.png and report-mobile.png here")
    args = parser.parse_args()
    args.screenshots = args.screenshots.resolve() if args.screenshots else None
    if args.report:
        show(f"given report {args.report}", args.report.read_text())
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        folder = Path(tmp)
        os.chdir(folder)  # paths in the report read as in a project: data/finmatch.duckdb, reports/...
        db = Path("data") / "finmatch.duckdb"
        write_synthetic(db, args.customers, DEFAULT_SEED, force=False, co_acceptance=True)  # as `data generate`
        settings = load_settings(db=db, env={})
        result = run_analysis(settings, RunRequest(focus=["all"], formats=("md", "html")), lambda _e: None)
        show(f"default report ({args.customers:,} customers)", Path(result.report_path).read_text())
        store = RunStore(settings.state_dir / "runs.sqlite")
        records = store.records(result.run_id)
        store.close()
        assert records is not None
        started = time.perf_counter()
        render_report(records)
        md_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        page = render_html(records)
        html_ms = (time.perf_counter() - started) * 1000
        print(f"render from stored records: markdown {md_ms:.0f} ms, HTML {html_ms:.0f} ms "
              f"({len(page.encode()):,} bytes, {page.count('<svg')} charts)")
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            html = Path(result.html_path or "").resolve()
            screenshot(html, args.screenshots / "report-desktop.png", "1280,1800", folder / "profile")
            screenshot(html, args.screenshots / "report-mobile.png", "390,1600", folder / "profile")


if __name__ == "__main__":
    main()
