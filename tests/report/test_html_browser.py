"""`finmatch report html latest` in a real browser: headless Chromium (Debian's, installed by .ci/run) loads the
page from disk with no network, draws every chart (SVG elements holding the data), resolves every evidence
link, prints it to PDF and takes a desktop and a phone-width screenshot. Skipped only when no Chromium is
installed. Screenshots go to $REPORT_SCREENSHOTS when set (the CI artefact), else to the test's tmp folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=False)


class Dom(HTMLParser):
    """What the test needs from the DOM Chromium built: ids, links, charts and their data elements, resources."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.scripts = 0
        self.charts: list[dict[str, int]] = []
        self._in_figure = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        for key in ("src", "srcset", "poster", "data"):
            if a.get(key):
                self.resources.append(a[key])
        if tag == "link":
            self.resources.append(a.get("href", ""))
        if tag == "script":
            self.scripts += 1
        if tag == "figure" and "chart" in a.get("class", ""):
            self.charts.append({"svg": 0, "bars": 0, "lines": 0, "paths": 0})
            self._in_figure = True
        if self._in_figure:
            chart = self.charts[-1]
            if tag == "svg":
                chart["svg"] += 1
            if a.get("id", "").startswith("fm-bar-"):
                chart["bars"] += 1
            if a.get("id", "").startswith("fm-line-"):
                chart["lines"] += 1
            if tag == "path" and len(a.get("d", "")) > 10:
                chart["paths"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._in_figure = False


@pytest.fixture
def page(cli, small_db: Path, isolated: Path) -> Path:
    result = cli("analyze", "--db", small_db, "--quiet")
    assert result.exit_code == 0, result.stderr
    written = cli("report", "html", "latest")
    assert written.exit_code == 0, written.stderr
    return Path(written.stdout.strip()).resolve()


def test_the_page_works_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    from finmatch_agents.records import ChartBlock
    from finmatch_agents.runs import RunStore

    dumped = chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Dom()
    dom.feed(dumped.stdout)

    store = RunStore(Path("data") / "runs.sqlite")
    records = store.records(store.list_runs(1)[0]["run_id"])
    store.close()
    assert records is not None
    specs = [b.spec for s in records.steps for b in s.blocks if isinstance(b, ChartBlock)]
    assert len(dom.charts) == len(specs) >= 5
    for chart, spec in zip(dom.charts, specs, strict=True):
        bars = sum(len([v for v in s.values if v is not None]) for s in spec.series if s.kind == "bar")
        lines = len([s for s in spec.series if s.kind == "line"])
        assert chart["svg"] == 1 and chart["bars"] == bars and chart["lines"] == lines, spec.title
        assert chart["paths"] >= bars + lines  # each datum drawn as a real shape

    internal = [href[1:] for href in dom.links if href.startswith("#")]
    assert internal and all(target in dom.ids for target in internal), set(internal) - dom.ids
    evidence = {t for t in internal if t.startswith("q")}
    assert evidence == {q.id.lower() for q in records.queries if f'href="#{q.id.lower()}"' in page.read_text()}
    assert len(evidence) > 30
    assert not [h for h in dom.links if not h.startswith("#")]  # no link leaves the page
    assert dom.resources == [] and dom.scripts == 0  # nothing fetched, nothing to run

    shots = Path(os.environ.get("REPORT_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    for name, size in (("report-desktop.png", "1280,1800"), ("report-mobile.png", "390,1600")):
        shot = chromium(tmp_path / "profile", f"--screenshot={shots / name}", f"--window-size={size}", page.as_uri())
        assert shot.returncode == 0 and (shots / name).stat().st_size > 20_000, shot.stderr[-2000:]
    pdf = tmp_path / "report.pdf"
    printed = chromium(tmp_path / "profile", f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert printed.returncode == 0 and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 50_000
