"""`finmatch diff RUN_A RUN_B` and the "Changes since last run" section of scheduled reports: KPI deltas checked
against SQL run independently, new and resolved findings, run facts, and the escaping/citation rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.diff import compare, flatten
from finmatch_agents.llm.grounding import Evidence, ungrounded
from finmatch_agents.records import Finding, RunMeta, RunSnapshot
from tests.agents.conftest import ACTIVE

PAIR = "customer_segment = 'Mass Market' AND product_type = 'Wealth Management'"


def acceptance(db: Path) -> float:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT avg((product_recommendation_status = 'Accepted')::DOUBLE) FROM {ACTIVE}"
                           ).fetchone()[0]


def fix_the_mistargeted_pair(db: Path) -> None:
    """Every Mass Market x Wealth Management offer accepted: the planted mis-targeting is gone."""
    with duckdb.connect(str(db)) as con:
        con.execute(f"UPDATE fpr_records SET product_recommendation_status = 'Accepted' WHERE {PAIR}")


def run_id_of(result) -> str:
    return json.loads(result.stdout.splitlines()[0])["run_id"]


@pytest.fixture
def two_runs(cli, small_db: Path, db_copy: Path) -> tuple[str, str, Path]:
    a = cli("analyze", "--db", small_db, "--json")
    assert a.exit_code == 0, a.stderr
    fix_the_mistargeted_pair(db_copy)
    b = cli("analyze", "--db", db_copy, "--json")
    assert b.exit_code == 0, b.stderr
    return run_id_of(a), run_id_of(b), db_copy


def test_diff_of_two_runs_on_different_data(cli, small_db: Path, two_runs: tuple[str, str, Path]) -> None:
    run_a, run_b, changed_db = two_runs
    result = cli("diff", run_a, run_b, "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["a"]["run_id"] == run_a and got["b"]["run_id"] == run_b
    facts = {f["what"]: f for f in got["facts"]}
    assert facts["fingerprint"]["changed"] and not facts["rows"]["changed"] and facts["db"]["changed"]
    assert not facts["model"]["changed"] and facts["model"]["a"] == "offline"

    kpi = {k["label"]: k for k in got["kpis"]}
    before, after = acceptance(small_db), acceptance(changed_db)
    rate = kpi["Acceptance rate"]
    assert rate["a"] == pytest.approx(before) and rate["b"] == pytest.approx(after)
    assert rate["delta"] == pytest.approx(after - before)
    assert rate["relative"] == pytest.approx((after - before) / before)
    assert rate["a_finding"] == rate["b_finding"] == "F102"  # the acceptance finding, matched by key
    assert kpi["Recommendations"]["delta"] == 0  # same rows, only statuses changed
    assert kpi["Top/bottom score decile ratio"]["a"] > 0 and "First-year ROI" in kpi
    assert "Missed acceptances (Mass Market x Wealth Management)" not in kpi  # resolved: nothing to compare

    resolved = {(f["agent"], f["key"], f["identity"]) for f in got["resolved"]}
    new = {(f["agent"], f["key"], f["identity"]) for f in got["new"]}
    assert ("optimization", "mistargeted", "Mass Market x Wealth Management") in resolved
    assert ("performance", "worst_cell", "Mass Market x Wealth Management") in resolved
    assert ("performance", "best_cell", "Mass Market x Wealth Management") in new  # 100% accepted now
    assert any(agent == "optimization" and key == "targeting_ok" for agent, key, _ in new)
    assert not resolved & new and got["matched_findings"] > 30
    changed_paths = {(c["key"], c["path"]) for c in got["changes"]}
    assert ("acceptance", "accepted") in changed_paths and ("scope", "records") not in changed_paths

    table = cli("diff", run_a, run_b)
    assert table.exit_code == 0
    pp = (after - before) * 100
    assert f"{before * 100:.1f}%" in table.stdout and f"{after * 100:.1f}%" in table.stdout
    assert f"+{pp:.1f} pp" in table.stdout
    assert "Resolved findings" in table.stdout and "Mass Market x Wealth Management is mis-targeted" in table.stdout
    assert "[Q" not in table.stdout.split("Resolved findings")[1]
    assert "--all lists them" in table.stdout
    everything = cli("diff", run_a, run_b, "--all")
    assert "Other changed values" in everything.stdout


def test_diff_of_identical_data_shows_no_change(cli, small_db: Path) -> None:
    a = run_id_of(cli("analyze", "--db", small_db, "--focus", "performance", "--json"))
    b = run_id_of(cli("analyze", "--db", small_db, "--focus", "performance", "--json"))
    got = json.loads(cli("diff", a, b, "--json").stdout)
    assert got["new"] == [] and got["resolved"] == [] and got["changes"] == [] and got["text_changes"] == []
    assert not any(k["changed"] for k in got["kpis"]) and len(got["kpis"]) >= 5
    assert all(k["delta"] == 0 for k in got["kpis"])  # float noise of parallel aggregation is no change
    assert not any(f["changed"] for f in got["facts"] if f["what"] != "focus")


def test_diff_usage_errors(cli, small_db: Path, isolated: Path) -> None:
    a = run_id_of(cli("analyze", "--db", small_db, "--focus", "strategy", "--json"))
    unknown = cli("diff", a, "20990101-000000-beef")
    assert unknown.exit_code == 2 and "RUN_B: no run 20990101-000000-beef" in unknown.stderr
    unknown = cli("diff", "nope", a, "--json")
    assert unknown.exit_code == 2 and json.loads(unknown.stdout.splitlines()[-1])["exit_code"] == 2
    from finmatch_agents.runs import RunStore

    store = RunStore(isolated / "data" / "runs.sqlite")
    store.start_run(RunMeta(run_id="stopped-run", created_at="2026-01-01T00:00:00Z", focus=("strategy",),
                            model="offline", db=str(small_db), table="fpr_records"))
    store.finish_run("stopped-run", "interrupted")
    store.close()
    stopped = cli("diff", "stopped-run", a)
    assert stopped.exit_code == 2 and "only completed runs" in stopped.stderr and "--resume" in stopped.stderr


def test_identity_tells_repeated_findings_apart() -> None:
    def finding(fid: str, key: str, values: dict) -> Finding:
        return Finding(id=fid, agent="optimization", step="s", key=key, title=key, statement=f"{fid} [Q1]",
                       values=values, query_ids=("Q1",))

    prev = RunSnapshot(run_id="A", findings=(
        finding("F203", "mistargeted", {"segment": "S1", "product_type": "P1", "missed_acceptances": 10}),
        finding("F204", "mistargeted", {"segment": "S2", "product_type": "P2", "missed_acceptances": 5}),
        finding("F205", "scope", {"total": 10, "nested": {"share": 0.5}})))
    current = RunSnapshot(run_id="B", findings=(
        finding("F203", "mistargeted", {"segment": "S2", "product_type": "P2", "missed_acceptances": 7}),
        finding("F204", "scope", {"total": 10, "nested": {"share": 0.25}})))
    cmp = compare(prev, current)
    (kpi,) = cmp.kpis
    assert kpi.label == "Missed acceptances (S2 x P2)" and (kpi.a, kpi.b) == (5, 7)
    assert (kpi.a_finding, kpi.b_finding) == ("F204", "F203")
    assert [f.identity for f in cmp.resolved] == ["S1 x P1"] and cmp.new == []
    assert [(d.path, d.a, d.b) for d in cmp.changes] == [("missed_acceptances", 5, 7), ("nested.share", 0.5, 0.25)]
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": 1, "d": "x"}


# -- the report section ---------------------------------------------------------------------------------
def section(report: str) -> str:
    """The section, with list items the report wrapped (lines over 400 characters) joined back."""
    text = report.split("## Changes since last run")[1].split("\n## ")[0]
    return re.sub(r"\n {2}(?=\S)", " ", text)


def test_scheduled_reports_say_what_changed_since_the_last_run(cli, small_db: Path, db_copy: Path,
                                                               isolated: Path) -> None:
    (isolated / "finmatch.toml").write_text(f'[finmatch]\ndb = "{db_copy}"\n\n[schedule.jobs.weekly]\n'
                                            'cron = "0 7 * * MON"\nfocus = ["performance", "optimization"]\n')
    first = cli("schedule", "run-once", "weekly")
    assert first.exit_code == 0, first.stderr
    first_report = Path(first.stdout.strip()).read_text()
    assert "First run of this job (weekly)" in section(first_report)
    assert 'previous_run: null' in first_report

    before = acceptance(db_copy)
    fix_the_mistargeted_pair(db_copy)
    after = acceptance(db_copy)
    second = cli("schedule", "run-once", "weekly")
    assert second.exit_code == 0, second.stderr
    report = Path(second.stdout.strip()).read_text()
    runs = json.loads(cli("history", "list", "--job", "weekly", "--json").stdout)
    prev_id, this_id = runs[1]["run_id"], runs[0]["run_id"]
    assert f'previous_run: "{prev_id}"' in report
    text = section(report)
    assert f"Compared with run {prev_id} of this job" in text
    assert "The data changed (fingerprint" in text
    row = next(line for line in text.splitlines() if line.startswith("| Acceptance rate |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    pp = (after - before) * 100
    assert cells == ["Acceptance rate", f"{before * 100:.1f}%", f"{after * 100:.1f}%", f"+{pp:.1f} pp",
                     f"+{(after - before) / before * 100:.1f}%", "F102 → F102"]
    resolved = text.split("**Resolved findings**")[1]
    line = next(x for x in resolved.splitlines() if "is mis-targeted" in x)
    assert line.startswith("- _Optimization Opportunities · Mis-targeted segment x product pair · risk:_ Mass Market x "
                           "Wealth Management is mis-targeted")
    assert line.endswith(f"(run {prev_id}, F203)") and "[Q" not in line  # its queries are not in this report
    new = text.split("**New findings**")[1].split("**Resolved findings**")[0]
    assert "Mass Market x Wealth Management converts best at 100.0%" in new and "[Q104]" in new  # this run's query
    assert f"finmatch diff {prev_id} {this_id} --all" in text

    # every number in the section is a value of one of the two runs' findings, or a difference of them
    store_findings = json.loads(cli("diff", prev_id, this_id, "--json").stdout)
    from finmatch_agents.runs import RunStore

    store = RunStore(isolated / "data" / "runs.sqlite")
    values = [json.loads(f["vals"]) for rid in (prev_id, this_id) for f in store.table_rows("findings", rid)]
    rows = [store.get(rid)["dataset_rows"] for rid in (prev_id, this_id)]
    started = store.get(prev_id)["created_at"]
    store.close()
    derived = [x for k in store_findings["kpis"] for x in (k["delta"], k["relative"]) if x is not None]
    plain = re.sub(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b|fingerprint [0-9a-f]{16} → [0-9a-f]{16}", " ", text)
    assert ungrounded(plain, Evidence.from_queries([], extra=[values, derived, rows, started])) == []


def test_unscheduled_reports_are_unchanged(cli, small_db: Path) -> None:
    result = cli("analyze", "--db", small_db, "--focus", "performance")
    text = Path(result.stdout.strip()).read_text()
    assert "Changes since last run" not in text and "previous_run" not in text and "\njob:" not in text


def test_section_escapes_data_values() -> None:
    from finmatch_agents.records import Profile
    from finmatch_agents.report.changes import changes_section

    evil = "<img src=x> **bold** [link](http://x)"
    prev = RunSnapshot(run_id="A", created_at="2026-01-01T00:00:00Z", model="offline", rows=10, fingerprint="f1",
                       findings=(Finding(id="F101", agent="performance", step="s", key="best_cell", title="Best",
                                         statement=f"{evil} converts best [Q104]", values={"segment": evil},
                                         polarity="strength"),))
    run = RunMeta(run_id="B", job="w", focus=("performance",), previous=prev, model="offline", db="x", table="t",
                  created_at="2026-01-02T00:00:00Z")
    text = "\n".join(changes_section(run, Profile(db="x", table="t", rows=10, fingerprint="f1"), []))
    assert "<img" not in text and "**bold**" not in text and "http://" not in text
    assert "&lt;img src=x&gt; \\*\\*bold\\*\\* \\[link\\](http:\\/\\/x) converts best (run A, F101)" in text
    assert "The data is unchanged" in text
