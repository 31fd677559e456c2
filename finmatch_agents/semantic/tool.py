"""The structured query as a model's tool: a JSON schema whose enums are the semantic model's measures,
dimensions, attributes and the values learned from the data, and the check that turns the model's arguments
into a :class:`StructuredQuery` (periods are time expressions, read by the same calendar as questions).
Anything unknown is an error naming the allowed choices, for the model to correct.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.semantic.periods import Calendar
from finmatch_agents.semantic.query import TIME_GROUP, Filter, Period, Range, StructuredQuery
from finmatch_agents.semantic.text import words

if TYPE_CHECKING:
    from finmatch_agents.semantic.layer import SemanticLayer

MAX_ENUM = 60
TIME_HELP = ("a time expression: '2025', 'Q3 2025', '2025-03', 'H1 2025', 'last quarter' (the latest in the data), "
             "'previous quarter', 'last 6 months', 'year to date', 'since March 2025', 'before 2025'")


def tool_schema(layer: SemanticLayer) -> dict[str, Any]:
    """The JSON schema of the ``query_data`` tool's arguments."""
    model, vocab = layer.model, layer.vocab
    present = set(vocab.present)
    measures = [m for m in model.measures if not model.absent(present, m)]
    dims = [d for d in model.dimensions if not model.absent(present, d)]
    groups = dims + ([TIME_GROUP + g for g in model.grains] if model.time_column in present else [])
    attrs = [a for a in model.attributes if not model.absent(present, a)]
    values = sorted({v for d in dims for v in vocab.values.get(d, ())})
    value_schema: dict[str, Any] = {"type": "string"}
    if len(values) <= MAX_ENUM * 3:
        value_schema["enum"] = values
    return {"type": "object", "required": ["measures"], "additionalProperties": False, "properties": {
        "measures": {"type": "array", "minItems": 1, "maxItems": 6, "items": {"type": "string", "enum": measures},
                     "description": "What to compute (the first one orders and ranks)."},
        "group_by": {"type": "array", "maxItems": 3, "items": {"type": "string", "enum": groups},
                     "description": "Dimensions (or time:<grain>) to break the result down by."},
        "filters": {"type": "array", "maxItems": 8, "items": {
            "type": "object", "required": ["dimension", "values"], "additionalProperties": False, "properties": {
                "dimension": {"type": "string", "enum": dims},
                "values": {"type": "array", "minItems": 1, "items": value_schema},
                "negate": {"type": "boolean", "description": "true: everything except these values"}}}},
        "ranges": {"type": "array", "maxItems": 4, "items": {
            "type": "object", "required": ["attribute", "op"], "additionalProperties": False, "properties": {
                "attribute": {"type": "string", "enum": attrs},
                "op": {"type": "string", "enum": [">", ">=", "<", "<=", "between"]},
                "low": {"type": "number"}, "high": {"type": "number"}}}},
        "period": {"type": "string", "description": TIME_HELP},
        "compare": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "string"},
                    "description": "Two time expressions to compare (current first), e.g. ['Q3 2026', 'Q2 2026']."},
        "breakdown": {"type": "boolean", "description": "With compare: rank the groups where the change happened."},
        "top": {"type": "integer", "minimum": 1, "maximum": 100},
        "order": {"type": "string", "enum": ["desc", "asc"]},
    }}


def _period(layer: SemanticLayer, text: str) -> Period:
    calendar = Calendar(layer.vocab.first_day, layer.vocab.last_day)
    w = words(text)
    spans = calendar.read(w, [False] * len(w))
    if len(spans) != 1 or spans[0].first != 0 or spans[0].stop != len(w):
        raise ValueError(f"period {text!r} is not a time expression ({TIME_HELP})")
    span = spans[0]
    if span.error:
        raise ValueError(span.error)
    if span.range is not None:
        return span.range
    if len(span.periods) != 1:
        raise ValueError(f"period {text!r} names two periods: use compare")
    return span.periods[0]


def to_query(layer: SemanticLayer, args: dict[str, Any]) -> StructuredQuery:
    """The model's arguments as a structured query; ValueError names what is wrong and the allowed choices."""
    model, vocab = layer.model, layer.vocab
    for name in args.get("measures", []):
        if name not in model.measures:
            raise ValueError(f"unknown measure {name!r}; measures: {', '.join(model.measures)}")
    for g in args.get("group_by", []):
        if g not in model.dimensions and g.removeprefix(TIME_GROUP) not in model.grains:
            raise ValueError(f"unknown group {g!r}; dimensions: {', '.join(model.dimensions)}, or time:<grain>")
    filters = []
    for f in args.get("filters", []):
        dim = f.get("dimension")
        if dim not in model.dimensions:
            raise ValueError(f"unknown dimension {dim!r}; dimensions: {', '.join(model.dimensions)}")
        known = vocab.values.get(dim, ())
        wrong = [v for v in f.get("values", []) if v not in known]
        if wrong:
            raise ValueError(f"{dim} has no value {wrong[0]!r}; values: {', '.join(known[:MAX_ENUM])}")
        filters.append(Filter(dimension=dim, values=tuple(f["values"]), negate=bool(f.get("negate"))))
    ranges = []
    for r in args.get("ranges", []):
        if r.get("attribute") not in model.attributes:
            raise ValueError(f"unknown attribute {r.get('attribute')!r}; attributes: {', '.join(model.attributes)}")
        if r.get("op") == "between" and (r.get("low") is None or r.get("high") is None):
            raise ValueError("a 'between' range needs low and high")
        if (r.get("op") in (">", ">=") and r.get("low") is None) or (
                r.get("op") in ("<", "<=") and r.get("high") is None):
            raise ValueError("'>' and '>=' need low; '<' and '<=' need high")
        ranges.append(Range(attribute=r["attribute"], op=r["op"], low=r.get("low"), high=r.get("high")))
    compare = None
    if args.get("compare"):
        first, second = (_period(layer, p) for p in args["compare"])
        compare = (first, second) if first.start >= second.start else (second, first)
    period = _period(layer, args["period"]) if args.get("period") else None
    return StructuredQuery(measures=tuple(args["measures"]), group_by=tuple(args.get("group_by", [])),
                           filters=tuple(filters), ranges=tuple(ranges), period=None if compare else period,
                           compare=compare, breakdown=bool(args.get("breakdown")) and compare is not None,
                           top=args.get("top"), order=args.get("order"))
