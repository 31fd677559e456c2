"""Analysts: what turns an agent's findings into insights and prioritised recommendations.

The offline analyst (deterministic rules, no network) is the default; the model analyst asks an
OpenAI-compatible endpoint through the shared tool-calling loop (:mod:`finmatch_agents.llm.loop`) and falls
back to the offline analyst when the model fails.
"""
