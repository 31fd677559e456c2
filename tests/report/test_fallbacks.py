"""A step whose model answer was not used is visible: the front matter counts it (`model_fallbacks`, and
`fallback_steps` names them), the step says the offline analyst wrote it, and the final line of `analyze`
names the steps. Synthetic data says so in the title, the front matter and the final line."""

from __future__ import annotations

from finmatch_agents.cli.analyze import final_line
from finmatch_agents.records import AgentAnalysis, AssumptionValue, Profile, RunMeta, RunRecords, Summary
from finmatch_agents.report.document import render_report
from finmatch_agents.report.outline import dataset_origin
from finmatch_agents.runner import RunResult

FELL_BACK = "offline (fallback from local)"


def records(provenance: dict) -> RunRecords:
    run = RunMeta(run_id="r1", focus=("performance", "strategy"), model="local", db="bank.duckdb", table="fpr_records",
                  created_at="2026-01-01T00:00:00Z",
                  assumptions=(AssumptionValue(key="program_cost", value=750000.0, unit="currency per year",
                                               description="Annual cost.", source="config"),
                               AssumptionValue(key="attribution_rate", value=0.25, unit="ratio",
                                               description="Share caused.", source="default")))
    analyses = {"performance": AgentAnalysis(agent="performance", analyst=FELL_BACK,
                                             warnings=("model local not used for Overall Performance (timeout)",)),
                "strategy": AgentAnalysis(agent="strategy", analyst="local", model_calls=2, tokens=900)}
    return RunRecords(run=run, profile=Profile(db="bank.duckdb", table="fpr_records", rows=10, provenance=provenance),
                      analyses=analyses, summary=Summary(analyst=FELL_BACK))


def test_fallbacks_are_counted_and_named() -> None:
    text, stats = render_report(records({"source": "synthetic", "seed": 42, "customers": 100}))
    front = text.split("\n---\n")[0]
    assert "model_fallbacks: 2" in front and 'fallback_steps: ["performance", "synthesize"]' in front
    assert stats.fallback_steps == ("performance", "synthesize")
    assert "The model's answer was not used for this step; the offline analyst wrote it instead" in text
    assert "> **Note:** model local not used for Overall Performance (timeout)" in text
    assert "Written by the model local (2 model calls)" in text
    # the summary names the assumption the user set, with its value; the defaults' values are in the table
    summary = text.split("## Executive summary")[1].split("\n## ")[0]
    assert ("**Assumptions:** 1 set in finmatch.toml: program\\_cost USD 750,000 per year (set); the others "
            "defaults") in summary
    assert "attribution\\_rate" not in summary and "| attribution\\_rate | 25.0% |" in text
    assert 'assumptions_set: ["program_cost"]' in front
    result = RunResult("r1", "completed", "reports/x.md", "reports/latest.md", stats.model_dump(),
                       state={"profile": records({"source": "synthetic", "seed": 42}).profile})
    line = final_line(result)
    assert "completed on synthetic data (seed 42)" in line
    assert "The model's answer was not used for performance, synthesize: the offline analyst wrote them." in line
    assert "0 ungrounded numbers" in line and "Latest: reports/latest.md" in line


def test_the_data_origin_is_recorded() -> None:
    text, _ = render_report(records({"source": "synthetic", "seed": 42, "customers": 100}))
    front, body = text.split("\n---\n", 1)
    assert 'origin: "synthetic"' in front and "seed: 42" in front and 'currency: "USD"' in front
    assert body.lstrip().startswith("# FinMatch analysis of fpr\\_records (synthetic data)")
    loaded, _ = render_report(records({"source": "file", "file": "bank-full.csv", "mapping": "bank.toml"}))
    front, body = loaded.split("\n---\n", 1)
    assert 'origin: "file"' in front and 'file: "bank-full.csv"' in front and 'mapping: "bank.toml"' in front
    assert "synthetic" not in body.split("\n## ")[0]
    assert "Loaded from the file bank-full.csv with the mapping bank.toml" in body
    assert dataset_origin(None).kind == "unknown"


def test_an_estimated_effect_is_shown_when_a_recommendation_has_one() -> None:
    from finmatch_agents.records import Query, Recommendation
    from finmatch_agents.report.html import render_html

    rec = Recommendation(title="Suppress the pair", rationale="It converts at 2.9% [Q101].", impact="High",
                         effort="Low", owner="Product", success_metric="acceptance up", horizon="Now",
                         agent="performance", query_ids=("Q101",), effect="about 1,449 more acceptances [Q101]")
    base = records({"source": "synthetic", "seed": 42})
    analysis = base.analyses["performance"].model_copy(update={"recommendations": (rec,)})
    stored = base.model_copy(update={"analyses": {**base.analyses, "performance": analysis},
                                     "summary": Summary(recommendations=(rec,)),
                                     "queries": (Query(id="Q101", sql="SELECT 1"),)})
    text, _ = render_report(stored)
    assert "**Suppress the pair** — about 1,449 more acceptances [Q101](#q101); High impact" in text
    # the markdown states the effect in the summary line (the rationale carries it in the table section), the HTML
    # page also in a column
    assert text.count("about 1,449 more acceptances") == 1
    assert "Estimated effect" in render_html(stored)
    plain, _ = render_report(base)
    assert "Estimated effect" not in plain
