"""Financial Impact agent (skeleton: steps declared, analysis to be written)."""

from __future__ import annotations

from finmatch_agents.agents.base import AgentSpec, StepSpec

AGENT = AgentSpec(
    key="financial-impact",
    title="Financial Impact",
    block=300,
    challenge="Banking financial analysts calculate ROI across product lines and customer segments by hand, "
              "spending hours of financial modelling to judge the impact of product matching on revenue and "
              "customer lifetime value.",
    solution="An automated financial analysis of revenue, ROI, customer lifetime value and portfolio efficiency, "
             "with scenario projections whose assumptions are all listed.",
    steps=(
        StepSpec("Banking Financial Data Integration", "data",
                 "Loading customer financial data and revenue metrics with validation."),
        StepSpec("Banking Revenue Impact Calculation", "data",
                 "Calculating revenue and ROI from product sales."),
        StepSpec("Customer Lifetime Value Impact Assessment", "data",
                 "Assessing customer lifetime value, retention value at risk and cross-selling."),
        StepSpec("Banking Portfolio Efficiency Analysis", "data",
                 "Evaluating revenue per recommendation across segments and products."),
        StepSpec("AI Banking Financial Modeling", "ai",
                 "Revenue projections and customer value scenarios, interpreted by the selected AI model "
                 "(or the offline analyst)."),
        StepSpec("Banking Economics Report Generation", "report",
                 "The financial impact report with ROI calculations and customer value forecasts."),
    ),
)
