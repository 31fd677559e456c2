"""Stage 2 with a model: ``finmatch match customer ID --model NAME`` re-ranks the engine's shortlist.

The model sees one customer's metrics and preferences and the engine's shortlist — only products that
passed every suitability gate — as untrusted data, PII masked. It answers through the shared loop
(:mod:`finmatch_agents.llm.loop`) with a ``submit_ranking`` tool: every candidate exactly once, with a
one-line reason. The answer is checked before it is used: the schema, that the ids are exactly the
candidates (a product the gates removed can never come back, none may be added or dropped), one line per
reason, and every number in a reason grounded in the data the model was given. An invalid answer gets one
repair; then, or when the endpoint fails or the budget of calls is used up, the engine's own order stands
with offline reasons, and the output says why. The model never changes suitability or distances; it only
orders and explains.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from finmatch_agents.formatting import fmt_num
from finmatch_agents.llm import prompts
from finmatch_agents.llm.grounding import Evidence, ungrounded
from finmatch_agents.llm.loop import LoopLimits, LoopServices, Submit, Verdict, build_loop, failure_reason

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from finmatch_agents.llm.calls import Budget
    from finmatch_agents.llm.models import ModelConfig
    from finmatch_agents.llm.pii import Masker

SUBMIT = "submit_ranking"
#: most shortlisted products a model is asked to order (the engine's shortlist is 2 x --top by default)
MAX_CANDIDATES = 10
MAX_REASON_CHARS = 240
#: one call, one repair: a customer explanation is interactive
LIMITS = LoopLimits(max_turns=2, max_tool_calls=0, max_repairs=1)


class RankedOut(BaseModel):
    product_id: str = Field(max_length=64, description="A candidate's product_id.")
    reason: str = Field(max_length=MAX_REASON_CHARS,
                        description="One sentence: why the product fits this customer; numbers only from the data.")


class RankingOut(BaseModel):
    ranking: list[RankedOut] = Field(min_length=1, max_length=MAX_CANDIDATES,
                                     description="Every candidate exactly once, most suitable first.")


@dataclass
class Rerank:
    """The stage-2 order of one customer's shortlist and where it came from."""

    source: Literal["model", "offline"]
    model: str
    ranking: list[dict[str, Any]]  # product_id, product_name, engine_rank, reason
    top: int
    fallback_reason: str | None = None
    model_calls: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def offers(self) -> list[str]:
        return [r["product_id"] for r in self.ranking[: self.top]]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "offers": self.offers}


def candidates(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The engine's shortlist (suitable products, engine order) from a ``match customer`` explanation."""
    listed = sorted((p for p in detail["products"] if p["shortlisted"]), key=lambda p: p["rank"])
    return listed[:MAX_CANDIDATES]


def offline_reason(p: dict[str, Any]) -> str:
    return (f"engine rank {p['rank']}: distance {fmt_num(p['distance'], 3)}, preference points "
            f"{fmt_num(p['points'])}") if p["distance"] is not None else f"engine rank {p['rank']}"


def _offline(cands: list[dict[str, Any]], top: int, model: str, why: str | None, calls: int = 0) -> Rerank:
    return Rerank(source="offline", model=model, top=top, fallback_reason=why, model_calls=calls,
                  ranking=[{"product_id": p["product_id"], "product_name": p["product_name"], "engine_rank": p["rank"],
                            "reason": offline_reason(p)} for p in cands])


def _data(detail: dict[str, Any], cands: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the model may read: the customer's metrics and interests, the candidates' attributes and scores."""
    f = detail["features"]
    customer = {"mode": detail["mode"], "mode_reason": detail["mode_reason"],
                "metrics": {m["metric"]: m["value"] for m in detail["metrics"] if m["present"]},
                "stated_interests": f.get("interests"), "products_held": f.get("held")}
    rows = [{"product_id": p["product_id"], "product_name": p["product_name"], "product_type": p["product_type"],
             "engine_rank": p["rank"], "distance": p["distance"], "preference_points": p["points"],
             "preference": p["preference"], "attributes": p["attributes"]} for p in cands]
    return customer, rows


def rerank(detail: dict[str, Any], top: int, *, cfg: ModelConfig, chat: BaseChatModel, masker: Masker,
           budget: Budget | None = None) -> Rerank:
    """Ask the model to order the shortlist of ``detail`` (a ``match customer`` explanation); validated, bounded,
    and the engine's order when the model cannot give a valid answer."""
    cands = candidates(detail)
    if len(cands) < 2:
        return _offline(cands, top, cfg.name, "fewer than two suitable candidates: nothing to re-rank")
    customer, rows = _data(detail, cands)
    customer_text = masker.text(json.dumps(customer, default=str, ensure_ascii=False))
    rows_text = masker.text(json.dumps(rows, default=str, ensure_ascii=False))
    evidence = Evidence.from_queries([], [customer, rows])
    allowed = [p["product_id"] for p in cands]
    by_id = {p["product_id"]: p for p in cands}

    def validate(candidate: dict[str, Any]) -> Verdict:
        out = RankingOut.model_validate(candidate)
        ids = [r.product_id for r in out.ranking]
        foreign = [i for i in ids if i not in by_id]
        if foreign:
            return {"problem": f"{', '.join(foreign)} is not a candidate; rank only {', '.join(allowed)}"}
        if len(set(ids)) != len(ids) or set(ids) != set(allowed):
            return {"problem": f"rank every candidate exactly once: {', '.join(allowed)}"}
        for r in out.ranking:
            if "\n" in r.reason.strip() or not r.reason.strip():
                return {"problem": f"the reason for {r.product_id} must be one non-empty line"}
            missing = ungrounded(r.reason, evidence)
            if missing:
                return {"problem": f"numbers not in the data in the reason for {r.product_id}: {', '.join(missing)}"}
        return {"result": out}

    submit = Submit(SUBMIT, "Submit the ranking of the candidates, most suitable first, with one line each.",
                    RankingOut, validate)
    services = LoopServices(chat=chat, cfg=cfg, submit=submit, limits=LIMITS, budget=budget)
    prompt = prompts.render("match-rerank", top=top, submit=SUBMIT, customer=customer_text, candidates=rows_text)
    state = build_loop(name="match-rerank").invoke({"messages": [HumanMessage(prompt)], "turns": 0, "tool_calls": 0,
                                                    "repairs": 0}, context=services)
    calls = int(state.get("calls", 0))
    result = state.get("result")
    if not isinstance(result, RankingOut):
        return _offline(cands, top, cfg.name, failure_reason(dict(state)), calls)
    ranking = [{"product_id": r.product_id, "product_name": by_id[r.product_id]["product_name"],
                "engine_rank": by_id[r.product_id]["rank"], "reason": r.reason.strip()} for r in result.ranking]
    return Rerank(source="model", model=cfg.name, ranking=ranking, top=top, model_calls=calls)
