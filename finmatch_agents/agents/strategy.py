"""Strategic Recommendations agent (skeleton: steps declared, analysis to be written)."""

from __future__ import annotations

from finmatch_agents.agents.base import AgentSpec, StepSpec

AGENT = AgentSpec(
    key="strategy",
    title="Strategic Recommendations",
    block=400,
    challenge="Chief Customer Officers spend hours analysing competitive positioning and building roadmaps for "
              "personalised banking and digital transformation.",
    solution="A strategic workflow that measures the advantage of score-driven personalisation, digital channel "
             "adoption and segment opportunities, and lays out a phased roadmap with success metrics.",
    steps=(
        StepSpec("Banking Technology Assessment", "data",
                 "Loading the digital banking context: channels and systems across customers and products."),
        StepSpec("Financial Services Competitive Advantage Analysis", "data",
                 "Measuring the advantage of AI-driven personalisation over untargeted recommendation."),
        StepSpec("Emerging FinTech Integration", "data",
                 "Assessing data readiness for open banking, real-time (IoT) and other integrations."),
        StepSpec("Digital Banking Strategy Development", "data",
                 "Developing segment and channel priorities for the digital transformation roadmap."),
        StepSpec("AI Banking Strategic Processing", "ai",
                 "Strategic recommendations with the selected AI model (or the offline analyst)."),
        StepSpec("Digital Banking Report Generation", "report",
                 "The digital banking roadmap, ready for executive review."),
    ),
)
