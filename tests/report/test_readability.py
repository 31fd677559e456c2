"""The default report reads in minutes (issue 11): a one-screen summary, each fact once, no overlong line,
every evidence link resolving. Measured on a real default-size database (`finmatch data generate` defaults:
25,000 customers, seed 42) and on the tests' small one. The measures are `report/measure.py`'s."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.data.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from finmatch_agents.data.generator import write_synthetic
from finmatch_agents.report.markdown import MAX_LINE
from finmatch_agents.report.measure import body, measure
from finmatch_agents.report.outline import SUMMARY_FINDINGS, SUMMARY_RECOMMENDATIONS
from finmatch_agents.runner import RunRequest, run_analysis

#: issue 11's targets for the default four-agent report on the default data
TARGET_WORDS, TARGET_REPEATS = 3_000, 2


@pytest.fixture(scope="module")
def default_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("default")
    db = folder / "finmatch.duckdb"
    write_synthetic(db, DEFAULT_CUSTOMERS, DEFAULT_SEED, force=False, co_acceptance=True)  # as `data generate`
    settings = load_settings(db=db, reports_dir=folder / "reports", state_dir=folder / "state", env={})
    return Path(run_analysis(settings, RunRequest(focus=["all"]), lambda _e: None).report_path).read_text()


def _section(report: str, title: str) -> str:
    return report.split(f"\n## {title}\n")[1].split("\n## ")[0]


def prose_lines(report: str) -> list[str]:
    """Sentences of the body: outside code blocks, tables, headings and HTML."""
    out, fenced = [], False
    for line in body(report).splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.strip() and not line.lstrip().startswith(("|", "#", "<")):
            out.append(line.strip())
    return out


@pytest.mark.slow
def test_the_default_report_has_a_one_screen_summary_and_states_each_fact_once(default_report: str) -> None:
    m = measure(default_report)
    assert m.longest_line <= MAX_LINE  # outside code blocks, the appendix included
    summary = _section(default_report, "Executive summary")
    assert len(re.findall(r"^- .+\(\[[^]]+\]\(#[a-z-]+\)\)$", summary, re.M)) <= SUMMARY_FINDINGS
    assert len(re.findall(r"^- \[R\d+\]\(#r\d+\) ", summary, re.M)) <= SUMMARY_RECOMMENDATIONS
    assert len(summary.splitlines()) <= 40  # one screen
    # each sentence once: no line of prose is written twice in the body (the per-step notes in italics aside)
    repeated = [line for line, n in Counter(prose_lines(default_report)).items()
                if n > 1 and len(line) > 20 and not line.startswith("_")]
    assert repeated == []
    # one recommendations table; agent sections link to it
    assert default_report.count("| # | Recommendation | Agents |") == 1
    assert "All recommendations by priority" not in default_report
    # the business challenge once, in the introduction; no "AI processing" claim on an offline run
    assert default_report.count("Retail banking managers review thousands") == 1
    assert "no model was called" in default_report and "selected AI model" not in default_report
    # every evidence link resolves to an appendix anchor
    anchors = set(re.findall(r'<a id="(q\d+)"></a>', default_report))
    links = set(re.findall(r"\]\(#(q\d+)\)", body(default_report)))
    assert links and links <= anchors
    assert not re.search(r"(?<!\()\[Q\d+\](?!\()", body(default_report))  # no [Qn] left as plain text
    # formatted SQL: the 10,000-character profile statement is many short lines now
    sql = re.findall(r"```sql\n(.*?)```", default_report, re.S)
    assert len(sql) > 30 and max(len(line) for block in sql for line in block.splitlines()) <= 200


@pytest.mark.slow
def test_the_default_report_meets_the_length_and_repetition_targets(default_report: str) -> None:
    m = measure(default_report)
    assert m.words <= TARGET_WORDS, f"{m.words} words in the body"
    assert m.max_repeat <= TARGET_REPEATS, f"figures repeated: {m.repeats[:10]}"


@pytest.mark.slow
def test_a_fact_is_stated_once_and_later_mentions_link_to_it(default_report: str) -> None:
    text = body(default_report)
    # every link to a finding resolves to a finding that shows its id
    linked_findings = set(re.findall(r"\]\(#(f\d+)\)", text))
    anchors = set(re.findall(r'<a id="(f\d+)"></a>\*\*[^*]+ \((F\d+)\)\.\*\*', text))
    assert linked_findings and linked_findings <= {a for a, _ in anchors}
    assert all(a == label.lower() for a, label in anchors)
    # the Strategy agent refers to the Optimization agent's feed findings instead of restating their figures
    strategy = _section(default_report, "Strategic Recommendations")
    feed = next(line for line in strategy.splitlines() if line.startswith("- **Core banking feed quality.**"))
    stale, gaps = (re.search(rf'<a id="(f\d+)"></a>\*\*{title} \(', text).group(1)
                   for title in ("Stale core banking feed", "Gaps in a core banking feed"))
    assert f"(#{stale})" in feed and f"(#{gaps})" in feed and "%" not in feed
    assert "[Q12](#q12)" in feed  # the finding keeps its evidence
    # the summary does not show the stale feed both as a key finding and as a caveat, and Data quality does
    # not list it again
    summary = _section(default_report, "Executive summary")
    assert summary.count("183 days") == 1 and "stale-source" not in _section(default_report, "Data quality")
    # the detailed recommendations refer to their findings rather than restating them
    why = _section(default_report, "Recommendations").split("**Why, and how success is measured**")[1]
    assert why.count("See [F") >= 4
    assert "2.9%" not in why and "57.6%" not in why


def test_the_small_report_renders_each_insight_and_recommendation_once(small_db: Path, tmp_path: Path) -> None:
    settings = load_settings(db=small_db, reports_dir=tmp_path / "r", state_dir=tmp_path / "s", env={})
    result = run_analysis(settings, RunRequest(focus=["all"]), lambda _e: None)
    report = Path(result.report_path).read_text()
    text = body(report)
    for analysis in result.state["analyses"].values():
        for insight in analysis.insights:
            assert text.count(insight.text.split(" [Q")[0][:60]) <= 1, insight.text
    table = _section(report, "Recommendations")
    titles = [row.split(" | ")[1] for row in table.splitlines() if row.startswith('| <a id="r')]
    assert len(titles) == len(set(titles)) > 5  # one row per action
    assert text.count("| # | Recommendation |") == 1
    assert measure(report).longest_line <= MAX_LINE
