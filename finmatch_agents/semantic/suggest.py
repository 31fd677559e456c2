"""A structured query said back as a question the parser reads the same way, and the close questions a
refusal offers ("I can't answer that; you can ask: …"). Every suggestion is re-parsed before it is offered,
so the chat never suggests a question it would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from finmatch_agents.semantic.query import TIME_GROUP, StructuredQuery

if TYPE_CHECKING:
    from finmatch_agents.semantic.model import SemanticModel
    from finmatch_agents.semantic.parser import Parse, Parser

OPS = {">": "over", ">=": "at least", "<": "under", "<=": "at most"}
DEFAULT_MEASURES = ("acceptance_rate", "recommendations", "mean_churn")
GROUP_CHOICES = ("segment", "channel", "product_type")


def _clean(label: str) -> str:
    return label.split(" (")[0]


def question_for(q: StructuredQuery, model: SemanticModel) -> str:
    """``q`` in words ("What is the acceptance rate for channel Email in 2025?")."""
    first = model.measures[q.measures[0]]
    labels = " and ".join(model.measures[m].label for m in q.measures)
    if q.top and q.group_by and not q.group_by[0].startswith(TIME_GROUP):
        dim = model.dimensions[q.group_by[0]]
        word = "highest" if q.order != "asc" else "lowest"
        head = (f"Which {dim.label} has the {word} {labels}" if q.top == 1 else
                f"{'Top' if q.order != 'asc' else 'Bottom'} {q.top} {dim.label}s by {labels}")
    elif first.kind == "count" and first.nouns and len(q.measures) == 1:
        head = f"How many {first.nouns[0]}"
    elif first.kind == "count" and len(q.measures) == 1:
        head = f"How many {first.label}"
    else:
        head = f"What is the {labels}"
    parts = [head]
    for f in q.filters:
        dim = model.dimensions[f.dimension]
        values = " or ".join(f"{dim.label} {v}" for v in f.values)
        parts.append(f"excluding {' or '.join(f.values)}" if f.negate else f"for {values}")
    for r in q.ranges:
        attr = model.attributes[r.attribute].label
        if r.op == "between":
            parts.append(f"with {attr} between {r.low:g} and {r.high:g}")
        else:
            parts.append(f"with {attr} {OPS[r.op]} {(r.low if r.low is not None else r.high):g}")
    if q.group_by and not q.top:
        parts.append("by " + " and ".join(g.removeprefix(TIME_GROUP) if g.startswith(TIME_GROUP)
                                          else model.dimensions[g].label for g in q.group_by))
    elif q.top and q.group_by[1:]:
        parts.append("by " + " and ".join(model.dimensions[g].label for g in q.group_by[1:]))
    if q.compare:
        parts.append(f"in {_clean(q.compare[0].label)} compared to {_clean(q.compare[1].label)}")
    elif q.period:
        parts.append(f"in {_clean(q.period.label)}")
    return " ".join(parts) + "?"


def close_questions(parse: Parse, parser: Parser, accept: Callable[[StructuredQuery], bool],
                    limit: int = 3) -> list[str]:
    """Two or three questions near what was understood that the parser reads completely and ``accept`` (the
    compiler's check that the data has what they need) passes."""
    model = parser.model
    base = parse.partial
    candidates: list[StructuredQuery] = []
    filters = tuple(parse.filters)
    if base is not None:
        candidates.append(base.model_copy(update={"breakdown": False}))
        used = set(base.group_by) | {f.dimension for f in filters}
        for g in GROUP_CHOICES:
            if g not in used and g in model.dimensions:
                candidates.append(StructuredQuery(measures=base.measures, filters=filters, period=base.period,
                                                  group_by=(g,)))
                break
        if base.compare:
            candidates.append(base.model_copy(update={"breakdown": False, "group_by": ()}))
    measures = [m for m in DEFAULT_MEASURES if m in model.measures and (base is None or m not in base.measures)]
    for m in measures:
        candidates.append(StructuredQuery(measures=(m,), filters=filters, period=parse.period))
    out: list[str] = []
    for query in candidates:
        text = question_for(query, model)
        check = parser.parse(text)
        if check.query is not None and text not in out and accept(check.query):
            out.append(text)
        if len(out) == limit:
            break
    return out
