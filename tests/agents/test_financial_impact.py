"""The Financial Impact agent's revenue, ROI, lifetime value, efficiency and scenario figures match numbers computed
independently with plain DuckDB SQL on the small synthetic database."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.agents import AGENTS
from finmatch_agents.data.loader import load_file
from tests.agents.conftest import ACTIVE, assert_grounded, findings_by_key, query, run_graph, section_steps

AGENT = "financial-impact"
#: accepted records with their annual revenue (sales x catalogue margin)
REVENUE = f"""(SELECT r.*, r.product_sales_amount * p.margin AS revenue FROM {ACTIVE} r
    JOIN products p USING (product_id) WHERE r.product_recommendation_status = 'Accepted')"""
#: one row per customer: annual revenue from accepted products, churn, CLV with the default cap of 10 years
CUSTOMERS = f"""(SELECT customer_id, rev, churn, rev * CASE WHEN churn <= 0 THEN 10 ELSE least(1 / churn, 10) END AS clv
    FROM (SELECT a.customer_id, coalesce(sum(r.revenue), 0) AS rev, avg(a.customer_churn_probability) AS churn
          FROM {ACTIVE} a LEFT JOIN {REVENUE} r USING (record_id) GROUP BY a.customer_id))"""


@pytest.fixture(scope="module")
def state(analyzed):
    return analyzed(AGENT)


@pytest.fixture(scope="module")
def found(state):
    return findings_by_key(state, AGENT)


def test_steps_are_the_documents_in_order(state) -> None:
    names = [s.name for s in AGENTS[AGENT].steps]
    assert names == ["Banking Financial Data Integration", "Banking Revenue Impact Calculation",
                     "Customer Lifetime Value Impact Assessment", "Banking Portfolio Efficiency Analysis",
                     "AI Banking Financial Modeling", "Banking Economics Report Generation"]
    assert section_steps(state["sections"][AGENT]["markdown"]) == names
    steps = [s for s in state["steps"] if s["agent"] == AGENT]
    assert [s["step"] for s in steps] == names
    assert all(s["status"] == "done" for s in steps)
    ids = [f["id"] for f in state["findings"] if f["agent"] == AGENT]
    assert ids[0] == "F301" and all(q["id"].startswith("Q3") for q in state["queries"] if q["agent"] == AGENT)


def test_sales_period_and_catalogue_coverage(found, small_db: Path) -> None:
    accepted, total = query(small_db, f"""SELECT count(product_sales_amount), sum(product_sales_amount) FROM {ACTIVE}
        WHERE product_recommendation_status = 'Accepted'""")[0]
    assert found["sales"]["values"]["accepted_sales"] == accepted
    assert found["sales"]["values"]["total_sales"] == pytest.approx(total, abs=0.01)
    first, last = query(small_db, f"SELECT min(product_recommendation_date), max(product_recommendation_date) "
                                  f"FROM {ACTIVE}")[0]
    period = found["period"]["values"]
    assert (period["first_date"], period["last_date"]) == (first.isoformat(), last.isoformat())
    assert period["period_days"] == (last - first).days
    assert period["period_years"] == pytest.approx((last - first).days / 365.25)
    assert found["catalogue_coverage"]["values"]["coverage_share"] == 1.0  # the synthetic catalogue prices every sale


def test_booked_revenue_and_roi_with_default_assumptions(found, small_db: Path) -> None:
    (booked,) = query(small_db, f"SELECT sum(revenue) FROM {REVENUE}")[0]
    (records, days) = query(small_db, f"""SELECT count(*), max(product_recommendation_date)
        - min(product_recommendation_date) FROM {ACTIVE}""")[0]
    years = days / 365.25
    per_year = booked / years
    cost = 500_000 + records / years * 1.5
    attributed = per_year * 0.25
    roi = found["roi"]["values"]
    assert roi["booked_revenue"] == pytest.approx(booked, abs=0.01)
    assert roi["revenue_per_year"] == pytest.approx(per_year, abs=0.01)
    assert roi["cost_per_year"] == pytest.approx(cost, abs=0.01)
    assert roi["attributed_revenue_per_year"] == pytest.approx(attributed, abs=0.01)
    assert roi["first_year_roi"] == pytest.approx((attributed - cost) / cost, abs=1e-6)
    assert (roi["program_cost"], roi["cost_per_recommendation"], roi["attribution_rate"]) == (500_000, 1.5, 0.25)
    top = found["revenue_mix"]["values"]["top"]
    (type_revenue,) = query(small_db, f"SELECT sum(revenue) FROM {REVENUE} WHERE product_type = "
                                      f"'{top['product_type']}'")[0]
    assert top["annual_revenue"] == pytest.approx(type_revenue, abs=0.01)


def test_lifetime_value_and_revenue_at_risk(found, small_db: Path) -> None:
    total_clv, avg_clv, at_risk, revenue, high_clv = query(small_db, f"""SELECT sum(clv), avg(clv), sum(rev * churn),
        sum(rev), sum(clv) FILTER (WHERE churn >= 0.5) FROM {CUSTOMERS}""")[0]
    clv = found["clv"]["values"]
    assert clv["total_clv"] == pytest.approx(total_clv, abs=0.01)
    assert clv["avg_clv"] == pytest.approx(avg_clv, abs=0.01)
    risk = found["revenue_at_risk"]["values"]
    assert risk["revenue_at_risk"] == pytest.approx(at_risk, abs=0.01)
    assert risk["revenue_at_risk_share"] == pytest.approx(at_risk / revenue)
    assert risk["high_churn_clv"] == pytest.approx(high_clv, abs=0.01)


def test_cross_selling_goes_with_lower_churn(found, small_db: Path) -> None:
    rows = dict(query(small_db, f"""SELECT least(n, 3), avg(c) FROM (SELECT customer_id, count(*) FILTER (WHERE
        product_recommendation_status = 'Accepted') n, avg(customer_churn_probability) c FROM {ACTIVE}
        GROUP BY customer_id) GROUP BY 1"""))
    cross = found["cross_sell"]["values"]
    assert cross["churn_none"] == pytest.approx(rows[0]) and cross["churn_multi"] == pytest.approx(rows[3])
    assert cross["churn_none"] > cross["churn_multi"]
    assert found["cross_sell_satisfaction"]["values"]["gap"] > 0


def test_revenue_per_recommendation_for_a_segment(found, small_db: Path) -> None:
    best = found["efficiency_segment"]["values"]["best"]
    (per_rec,) = query(small_db, f"""SELECT sum(CASE WHEN product_recommendation_status = 'Accepted'
        THEN coalesce(a.product_sales_amount * p.margin, 0) ELSE 0 END) / count(*)
        FROM {ACTIVE} a LEFT JOIN products p USING (product_id) WHERE customer_segment = '{best['segment']}'""")[0]
    assert best["revenue_per_recommendation"] == pytest.approx(per_rec, abs=0.005)
    assert best["net_per_recommendation"] == pytest.approx(per_rec - 1.5, abs=0.01)
    assert found["efficiency_product"]["values"]["best"]["revenue_per_recommendation"] > 0


def test_scenarios_apply_the_assumptions(found, small_db: Path) -> None:
    revenue, at_risk, customers = query(small_db, f"SELECT sum(rev), sum(rev * churn), count(*) FROM {CUSTOMERS}")[0]
    sales = found["scenario_sales"]["values"]["scenario"]
    assert sales["revenue_uplift"] == pytest.approx(revenue * 0.10, abs=0.01)
    assert sales["arpu"] == pytest.approx(revenue * 1.10 / customers, abs=0.01)
    churn = found["scenario_churn"]["values"]["scenario"]
    assert churn["revenue_retained"] == pytest.approx(at_risk * 0.15, abs=0.01)
    both = found["scenario_combined"]["values"]["scenario"]
    assert both["gain_vs_baseline"] == pytest.approx(revenue * 1.1 - at_risk * 1.1 * 0.85 - (revenue - at_risk),
                                                     abs=0.02)


def test_offline_analyst_interprets_the_findings(state) -> None:
    analysis = state["sections"][AGENT]["analysis"]
    titles = " | ".join(r["title"] for r in analysis["recommendations"])
    # the small database earns too little attributable revenue for the default programme cost
    assert found_roi_below_zero(state) and "Cut recommendation volume that does not earn its cost" in titles
    assert "Shift recommendation volume toward High Net Worth" in titles
    for r in analysis["recommendations"]:
        assert r["impact"] in ("High", "Medium", "Low") and r["effort"] in ("Low", "Medium", "High")
        assert r["owner"] and r["success_metric"] and r["query_ids"]
    assert any("scale today's book uniformly" in r for r in analysis["risks"])


def found_roi_below_zero(state) -> bool:
    return findings_by_key(state, AGENT)["roi"]["values"]["first_year_roi"] < 0


def test_a_cheap_programme_gets_a_scale_up_recommendation(small_db: Path, tmp_path: Path) -> None:
    (tmp_path / "finmatch.toml").write_text("[assumptions]\nprogram_cost = 50000\nattribution_rate = 0.5\n")
    state = run_graph(small_db, [AGENT], tmp_path / "r")
    roi = findings_by_key(state, AGENT)["roi"]["values"]
    assert (roi["program_cost"], roi["attribution_rate"]) == (50_000, 0.5) and roi["first_year_roi"] > 1
    titles = [r["title"] for r in state["sections"][AGENT]["analysis"]["recommendations"]]
    assert "Scale the recommendation programme to more customers and products" in titles
    assert_grounded(state["sections"][AGENT]["markdown"], state)


def test_every_number_in_the_section_comes_from_a_query(state) -> None:
    assert_grounded(state["sections"][AGENT]["markdown"], state)


def test_thin_data_is_reported_as_not_analysed(tmp_path: Path) -> None:
    csv = tmp_path / "thin.csv"
    csv.write_text("customer_id,product_type,product_recommendation_status\n"
                   + "".join(f"C{i % 40},{('Savings', 'Mortgage', 'Checking')[i % 3]},"
                             f"{('Accepted', 'Declined')[i % 2]}\n" for i in range(200)))
    db = tmp_path / "thin.duckdb"
    load_file(db, csv, table="fpr_records")
    state = run_graph(db, [AGENT], tmp_path / "r")
    steps = [s for s in state["steps"] if s["agent"] == AGENT]
    assert len(steps) == len(AGENTS[AGENT].steps) and all(s["status"] == "done" for s in steps)
    markdown = state["sections"][AGENT]["markdown"]
    # nothing to say: one line naming what the data lacks, not a page of "not analysed" notes
    lines = [line for line in markdown.splitlines() if line.strip()]
    assert len(lines) == 2 and "Not analysed" in lines[1]
    for column in ("product_sales_amount", "product_recommendation_date", "customer_churn_probability"):
        assert column.replace("_", "\\_") in lines[1]
    assert not findings_by_key(state, AGENT)
    assert_grounded(markdown, state)


def test_a_costly_programme_gets_a_cut_recommendation(small_db: Path, tmp_path: Path) -> None:
    (tmp_path / "finmatch.toml").write_text("[assumptions]\nprogram_cost = 5000000\n")  # read from the working dir
    state = run_graph(small_db, [AGENT], tmp_path / "r")
    roi = findings_by_key(state, AGENT)["roi"]
    assert roi["values"]["program_cost"] == 5_000_000 and roi["values"]["first_year_roi"] < 0
    assert roi["polarity"] == "risk"
    titles = [r["title"] for r in state["sections"][AGENT]["analysis"]["recommendations"]]
    assert "Cut recommendation volume that does not earn its cost" in titles
    assert "Scale the recommendation programme to more customers and products" not in titles
    assert_grounded(state["sections"][AGENT]["markdown"], state)
