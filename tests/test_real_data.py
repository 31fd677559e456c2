"""Issue 10 on the real UCI Bank Marketing file: every statement true for this data, no single-group
comparison, one overall rate, the unknown-channel group reported, no filler section, figures grounded in what
their sentence cites, and every gap inside the interval written beside it."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.data.loader import load_file
from finmatch_agents.data.mapping import load_mapping
from finmatch_agents.llm.grounding import Sources, ungrounded_sentences
from tests.agents.conftest import run_graph
from tests.agents.test_consistency import GAP_THEN_CI, _texts
from tests.conftest import REPO, UCI_CSV, UCI_VENDORED

MAPPING = REPO / "examples" / "bank-marketing.toml"


@pytest.fixture(scope="module")
def uci(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    tmp = tmp_path_factory.mktemp("uci")
    db = tmp / "uci.duckdb"
    load_file(db, UCI_CSV if UCI_CSV.exists() else UCI_VENDORED, mapping=load_mapping(MAPPING))
    state = run_graph(db, ["performance", "optimization", "financial-impact", "strategy"], tmp / "reports")
    return db, state, Path(state["report"]["path"]).read_text()


def _rate(db: Path, where: str = "true") -> float:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT avg((product_recommendation_status = 'Accepted')::DOUBLE) FROM fpr_records "
                           f"WHERE {where}").fetchone()[0]


def test_one_overall_rate(uci) -> None:
    db, _, report = uci
    overall = f"{_rate(db) * 100:.1f}%"
    assert overall == "11.7%"
    stated = re.findall(r"overall (?:rate|acceptance)(?: is| of)? (\d+\.\d%)", report)
    assert stated and set(stated) == {overall}


def test_the_unknown_channel_group_is_reported_with_its_rate(uci) -> None:
    db, state, _ = uci
    unknown = f"{_rate(db, 'channel IS NULL') * 100:.1f}%"
    assert unknown == "4.1%"
    found = {f["key"]: f for f in state["findings"]}
    assert f"convert at {unknown}" in found["unrecorded_channel"]["statement"]
    assert "best_channel" not in found  # mobile against landline is within the minimum effect: no winner


def test_no_comparison_of_a_single_group_and_no_filler_section(uci) -> None:
    _, _, report = uci
    assert not re.search(r"\bOf 1 \w+ compared|\b1 products\b|best \S+ and worst", report)
    assert "Only one product (Term Deposit) has enough recommendations, so products are not compared." in report
    financial = report.split("## Financial Impact", 1)[1].split("\n## ", 1)[0]
    assert len([line for line in financial.splitlines() if line.strip()]) == 1 and "Not analysed" in financial
    summary = report.split("## Executive summary", 1)[1].split("\n## ", 1)[0]
    assert "Financial Impact" not in summary
    bullets = [line[2:] for line in summary.splitlines() if line.startswith("- ")]
    assert bullets and all(b[:1].isupper() or b.startswith("[") for b in bullets), bullets  # "student customers"


def test_every_figure_is_backed_by_what_its_sentence_cites(uci) -> None:
    _, state, _ = uci
    sources = Sources(state["queries"], state["findings"], [state["run"]["assumptions"]])
    items = [(f["statement"], [f["id"]]) for f in state["findings"]]
    for section in state["sections"].values():
        a = section["analysis"]
        items += [(i["text"], [*i["finding_ids"], *i["query_ids"]]) for i in a["insights"]]
        items += [(r["rationale"], [*r["finding_ids"], *r["query_ids"]]) for r in a["recommendations"]]
    bad = [(text, missing) for text, ids in items if (missing := ungrounded_sentences(text, sources, ids))]
    assert not bad


def test_every_gap_lies_inside_its_interval(uci) -> None:
    _, state, _ = uci
    for text in _texts(state):
        for gap, low, high in GAP_THEN_CI.findall(text):
            assert float(low) - 0.05 <= float(gap) <= float(high) + 0.05, text


def test_the_contact_effect_is_read_by_value_and_stated_as_monotone(uci) -> None:
    db, state, _ = uci
    with duckdb.connect(str(db), read_only=True) as con:
        by_value = dict(con.execute("""SELECT campaign_contacts,
                                              avg((product_recommendation_status = 'Accepted')::DOUBLE)
                                       FROM fpr_records WHERE campaign_contacts <= 5 GROUP BY 1""").fetchall())
    contacts = {f["key"]: f for f in state["findings"]}["campaign_contacts"]
    text = contacts["statement"]
    assert text.startswith("Acceptance never rises with an extra contact")  # 2 and 3 contacts both show 11.2%
    for n in range(1, 6):
        assert f"{by_value[n] * 100:.1f}% at {n} contact{'s' if n > 1 else ''}" in text
    assert [f"{by_value[n] * 100:.1f}%" for n in (1, 2, 4)] == ["14.6%", "11.2%", "9.0%"]
    assert contacts["values"]["test"]["clear"] and contacts["values"]["by_value"] is False  # 48 distinct counts
