"""Each fact once (issue 11): what a text restates is cut to a reference to where it is stated, and nothing
else is touched: clauses without figures, clauses with a figure of their own, the claim before a colon and the
query references of what is kept all stay."""

from __future__ import annotations

from finmatch_agents.records import Finding, Insight
from finmatch_agents.report.facts import Source, figure_keys, restated
from finmatch_agents.report.outline import restates

PAIR = Source("F203", figure_keys("its 2,662 recommendations were accepted at 2.9% against 57.6% expected; about "
                                  "1,459 missed acceptances"))


def test_figures_are_compared_without_their_sign() -> None:
    assert figure_keys("+USD 3.79M and -24.3 pp [Q12]") == {"USD 3.79M", "24.3 pp"}


def test_a_restating_clause_becomes_a_reference_and_the_reasoning_stays() -> None:
    text = ("2,662 recommendations converted at 2.9% against a score-expected 57.6%, about 1,459 missed acceptances; "
            "the model overrates this pair, so suppress it. Converting as scored would add about 1,459 acceptances "
            "(95% CI 1,440 to 1,474). [Q202]")
    summary_line = Source(None, figure_keys("about 1,459 acceptances (95% CI 1,440 to 1,474) [Q202]"))
    cut = restated(text, [PAIR, summary_line], inline=False)
    assert cut.cut and cut.refs == ("F203",)
    assert cut.text == "The model overrates this pair, so suppress it."
    # without the summary line, the estimate (its interval is new) stays with its query reference
    kept = restated(text, [PAIR], inline=False)
    assert kept.text == ("The model overrates this pair, so suppress it. Converting as scored would add about 1,459 "
                         "acceptances (95% CI 1,440 to 1,474). [Q202]")


def test_the_claim_before_a_colon_stays_and_the_reference_is_written_in_place() -> None:
    gaps = Source("F211", figure_keys("1.8% of checked fields empty against 0.1% elsewhere"))
    stale = Source("F210", figure_keys("183 days behind the newest"))
    text = ("Temenos is the weakest core banking feed: 1.8% of its checked fields are empty against 0.1% in the other "
            "systems, and its newest recommendation is 183 days behind the newest overall. Integrations that read "
            "from the Temenos feed would inherit these gaps. [Q12] [Q11]")
    cut = restated(text, [stale, gaps], min_figures=2)
    assert cut.text == ("Temenos is the weakest core banking feed (see [F210], [F211]). Integrations that read from "
                        "the Temenos feed would inherit these gaps. [Q12] [Q11]")
    # one sentence cut whole: a finding keeps its evidence, a rationale lets it go with the figures
    one = "Temenos is the weakest core banking feed: 1.8% empty against 0.1%, 183 days behind. [Q12] [Q11]"
    assert restated(one, [stale, gaps], min_figures=2, keep_refs=True).text == (
        "Temenos is the weakest core banking feed (see [F210], [F211]). [Q12] [Q11]")
    assert restated(one, [stale, gaps], min_figures=2).text == (
        "Temenos is the weakest core banking feed (see [F210], [F211]).")


def test_one_shared_figure_is_not_enough_when_two_are_asked_and_a_new_figure_keeps_its_clause() -> None:
    emptiest = Source("F202", figure_keys("customer_product_affinity is empty in 2.4% of records"))
    text = "The least complete is customer e-mail, empty in 2.4% of rows."
    assert not restated(text, [emptiest], min_figures=2).cut  # the same share of another column: a coincidence
    assert not restated("Acceptance is 2.9% against 27.2% for the rest.", [PAIR]).cut  # 27.2% is new
    assert not restated("No figure here at all.", [PAIR]).cut


def test_an_insight_that_repeats_a_figure_of_its_finding_restates_it_one_that_interprets_does_not() -> None:
    finding = Finding(id="F205", agent="optimization", step="s", key="lifecycle", title="Lifecycle",
                      statement="Acceptance ranges from 30.7% for Growing customers to 16.2% for Dormant customers. "
                                "[Q204]", values={}, query_ids=("Q204",))
    findings = {"F205": finding}
    ratio = Insight(text="Growing customers accept 1.9× as often as Dormant ones. [Q204]", agent="optimization",
                    finding_ids=("F205",), query_ids=("Q204",))
    again = Insight(text="Dormant customers accept only 16.2%, 1.9× less often. [Q204]", agent="optimization",
                    finding_ids=("F205",), query_ids=("Q204",))
    assert not restates(ratio, findings)
    assert restates(again, findings)
