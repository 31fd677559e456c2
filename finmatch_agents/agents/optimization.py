"""Optimization Opportunities agent (skeleton: steps declared, analysis to be written)."""

from __future__ import annotations

from finmatch_agents.agents.base import AgentSpec, StepSpec

AGENT = AgentSpec(
    key="optimization",
    title="Optimization Opportunities",
    block=200,
    challenge="Product managers spend hours every day identifying inefficiencies in customer segmentation, "
              "product affinity analysis and recommendation delivery across diverse customer portfolios.",
    solution="An optimisation analysis that detects targeting gaps, product positioning inefficiencies and "
             "delivery improvements, with implementation strategies for the core banking systems.",
    steps=(
        StepSpec("Banking Optimization Data Preparation", "data",
                 "Loading customer financial behaviour data with validation, to find product-matching "
                 "improvements."),
        StepSpec("Financial Product Inefficiency Detection", "data",
                 "Analysing customer segmentation and product affinity targeting for evidence of inefficiency."),
        StepSpec("Banking Correlation Analysis", "data",
                 "Examining how lifecycle stages and transaction patterns relate to acceptance."),
        StepSpec("Core Banking System Integration Optimization", "data",
                 "Evaluating product matching across the FIS, Fiserv and Temenos core banking platforms and the CRMs."),
        StepSpec("AI Banking Optimization Intelligence", "ai",
                 "Generating targeting recommendations with the selected AI model (or the offline analyst)."),
        StepSpec("Banking Strategy Finalization", "report",
                 "The optimisation report with a prioritised implementation roadmap."),
    ),
)
