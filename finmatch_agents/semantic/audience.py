"""Questions about *which customers*: exact constraints plus a semantic part (the similarity search).

"Young professionals with good credit scores who might qualify for premium credit cards" reads as
``segment = Young Professional · credit score band = good (670-739) · interested in: premium credit cards``.
The parser's own passes read the words (time expressions, numeric comparisons, phrases longest first); what
differs from a question about a figure is what they mean:

* a **customer-level** value or comparison (segment, lifecycle stage, age band, credit score over 750...) is a
  condition on the customer's profile, one row per customer: numbers are the mean over the customer's
  records (as in the feature layer), categories the value of the customer's latest record;
* a **record-level** value (a product type or product, a status, a channel...), a record-level comparison
  and a period are conditions on one of the customer's records. A product spoken of as had ("customers with
  a mortgage", "holding a credit card") means one taken up: an accepted recommendation of it. "Offered" or
  "recommended" drops that ("customers offered a mortgage"); "accepted a mortgage in 2025" says it all
  itself. "Without", "no", "not" turn it round: the customer has no such record;
* the words after an **intent cue** ("interested in", "might qualify for", "looking for"...) are the semantic
  part: free text ranked by meaning, never a filter;
* every other word must be filler or grammar, or the question is refused, as in the chat: a constraint
  silently dropped would give an unfiltered answer.

Contradictory constraints (a credit score over 800 and under 700, holding and not holding a mortgage) are
refused as such. :func:`compile_audience` turns the constraints into one statement for the sandbox.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from finmatch_agents.errors import UsageError
from finmatch_agents.records import Record
from finmatch_agents.semantic.compiler import STATUS_COLUMN, period_condition, pretty
from finmatch_agents.semantic.lexicon import Meaning
from finmatch_agents.semantic.parser import ABOVE, BELOW, Parse, _Span
from finmatch_agents.semantic.query import Filter, Period, Range
from finmatch_agents.semantic.text import fold, phrase, raw_words
from finmatch_agents.warehouse.sqltext import quote_ident

if TYPE_CHECKING:
    from finmatch_agents.semantic.compiler import Compiler
    from finmatch_agents.semantic.model import SemanticModel
    from finmatch_agents.semantic.parser import Parser

#: phrases that start the semantic part: what the customers might want
INTENT_CUES = tuple(sorted({phrase(c) for c in (
    "interested in", "interest in", "an interest in", "interested", "qualify for", "eligible for", "looking for",
    "looking to", "in the market for", "want", "wanting", "need", "needing", "keen on", "open to", "suited to",
    "suited for", "suitable for", "a good fit for", "good fit for", "fit for", "benefit from", "thinking about",
    "thinking of", "planning", "planning to", "planning for", "likely to want", "likely to need", "likely to buy",
    "prospects for", "candidates for", "ready for", "asking about", "asked about", "curious about")},
    key=len, reverse=True))
#: words just before a cue that belong to it ("who might be interested in")
MODALS = {"who", "that", "might", "may", "could", "would", "be", "also", "possibly", "potentially", "likely",
          "probably", "are", "is", "and", "perhaps", "maybe"}
#: words that end the semantic part (a new clause with constraints follows)
BOUNDARY = {"with", "who", "whose", "aged", "holding", "without", "excluding", "except", "but", "having", "that",
            "among", "amongst", "born"}
#: connectors left out at either end of the semantic part
EDGE = {"a", "an", "the", "and", "or", "for", "in", "of", "to", "some", "any", "their", "our", "new"}
#: people words: who is asked about, not a figure ("professionals" reads as customers: the data has no occupation)
PEOPLE = {phrase(p) for p in ("customer", "customers", "client", "clients", "people", "person", "persons",
                              "professional", "professionals", "individual", "individuals", "prospect",
                              "prospects", "account holder", "account holders", "member", "members", "owner",
                              "owners", "household", "households")}
NEGATE = {"no", "not", "dont", "doesnt", "never", "non", "without", "excluding", "except", "exclude", "nor"}
OFFERED = {"offered", "recommended", "pitched", "targeted", "proposed"}
#: verbs of having a product (the chat's filler already has hold, held, holding, have, has, having)
HAVE = {"own", "owning", "owned", "bought", "opened", "took", "taken", "got"}
#: record-level dimensions whose values are things a customer can hold (one existence condition each)
HOLDABLE = ("product_type", "product_name", "product_id")
DEFAULT_ACCEPTED = "Accepted"


class Holding(Record):
    """A condition on one of the customer's records: it exists (or, negated, none does)."""

    filters: tuple[Filter, ...] = ()
    ranges: tuple[Range, ...] = ()
    period: Period | None = None
    negate: bool = False
    taken_up: bool = False  # the accepted status was added because the question speaks of having the product

    def echo(self, model: SemanticModel) -> str:
        shown = [f for f in self.filters if not (self.taken_up and _is_status(model, f.dimension))]
        parts = [_filter_text(model, f) for f in shown] + [_range_text(model, r) for r in self.ranges]
        if self.period is not None:
            parts.append(self.period.label)
        body = ", ".join(parts)
        if self.taken_up:
            return f"holds no {body}" if self.negate else f"holds {body}"
        return f"has no record with {body}" if self.negate else f"has a record with {body}"


class AudienceQuery(Record):
    """Which customers: exact constraints (profile filters and ranges, holdings) and the semantic part."""

    filters: tuple[Filter, ...] = ()  # customer-level dimensions
    ranges: tuple[Range, ...] = ()  # customer-level attributes
    holdings: tuple[Holding, ...] = ()
    intent: str | None = None

    @property
    def constrained(self) -> bool:
        return bool(self.filters or self.ranges or self.holdings)

    def constraints(self, model: SemanticModel) -> list[str]:
        return ([_filter_text(model, f) for f in self.filters] + [_range_text(model, r) for r in self.ranges]
                + [h.echo(model) for h in self.holdings])

    def echo(self, model: SemanticModel) -> str:
        """One line: "credit score > 750 · interested in: investment products"."""
        parts = self.constraints(model) or ["no constraint (every customer)"]
        if self.intent:
            parts.append(f"interested in: {self.intent}")
        return " · ".join(parts)


@dataclass
class AudienceParse:
    query: AudienceQuery | None
    understood: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    top: int | None = None  # "top 20 customers ...": how many to list

    @property
    def complete(self) -> bool:
        return self.query is not None

    def reason(self) -> str:
        """Why the question was refused, in one sentence."""
        parts = list(self.problems)
        if self.unknown:
            parts.append("not understood: " + ", ".join(f"“{w}”" for w in self.unknown))
        return "; ".join(parts) or "nothing in the question says which customers"


def _is_status(model: SemanticModel, dimension: str) -> bool:
    return model.dimensions[dimension].column == STATUS_COLUMN


def _filter_text(model: SemanticModel, f: Filter) -> str:
    label = model.dimensions[f.dimension].label
    return f"{label} {'≠' if f.negate else '='} {' or '.join(f.values)}"


def _range_text(model: SemanticModel, r: Range) -> str:
    label = model.attributes[r.attribute].label
    if r.op == "between":
        return f"{label} {r.low:g} to {r.high:g}"
    return f"{label} {r.op} {(r.low if r.low is not None else r.high):g}"


# -- reading ------------------------------------------------------------------------------------------------
def read_audience(parser: Parser, text: str) -> AudienceParse:
    """Read a question about which customers (see the module docstring); refusals say why."""
    model = parser.model
    raw = raw_words(text)
    w = [fold(t) for t in raw]
    used = [False] * len(w)
    out = AudienceParse(None)
    times = parser.calendar.read(w, used)
    for s in times:
        for k in range(s.first, s.stop):
            used[k] = True
    where: list[tuple[int, int, Range]] = []
    ranges = parser._ranges(w, raw, used, Parse(None), where)
    ranges += _elliptic(parser, w, raw, used, where)
    top = parser._top(w, used)
    if top is not None:
        out.top = top[1]
    intents = _intents(parser, w, raw, used, out)
    cues = _cue_words(w, used)
    spans = sorted(parser._phrases(w, used) + cues, key=lambda s: s.first)
    out.unknown = [raw[k] for k in range(len(w)) if not used[k]]
    period = _period(times, out)
    scratch = Parse(None)
    customer_filters: dict[tuple[str, bool], list[str]] = {}
    shared: dict[str, list[str]] = {}  # record-level values every holding of the question shares
    held: list[tuple[str, list[str], bool]] = []  # things held (dimension, values, offered rather than taken up)
    not_held: list[tuple[str, tuple[str, ...], bool]] = []
    negate = offered = False
    join: str | None = None
    last_held = False
    dims_named = {m.name for s in spans for m in s.meanings if m.kind == "dimension"}
    for idx, span in enumerate(spans):
        kinds = {m.kind for m in span.meanings}
        role = next((m.name for m in span.meanings if m.kind == "grammar"), None)
        words = tuple(span.text.split())
        if (len(words) == 1 and words[0] in NEGATE) or role == "negate":
            negate = True
            continue
        if len(words) == 1 and words[0] in OFFERED:
            offered = True
            continue
        if role == "join":
            join = span.text
            continue
        values = [m for m in span.meanings if m.kind == "value"]
        if values:
            chosen = parser._choose_value(values, spans, idx, dims_named, scratch)
            if chosen is None:
                continue
            dim = model.dimensions[chosen.name]
            vals = list(chosen.values)
            if dim.level == "customer":
                bucket = customer_filters.setdefault((dim.name, negate), [])
                bucket += [v for v in vals if v not in bucket]
                last_held = False
            elif negate:
                not_held.append((dim.name, tuple(vals), offered))
                last_held = offered = False
            elif dim.column in HOLDABLE:
                if join == "or" and last_held and held and held[-1][0] == dim.name:
                    held[-1][1].extend(v for v in vals if v not in held[-1][1])
                else:
                    held.append((dim.name, vals, offered))
                last_held, offered = True, False
            else:
                bucket = shared.setdefault(dim.name, [])
                bucket += [v for v in vals if v not in bucket]
                last_held = False
            negate, join = False, None
            continue
        if kinds <= {"filler"} or words in PEOPLE or role == "which" or "noun" in kinds:
            continue
        measure = next((m.name for m in span.meanings if m.kind == "measure"), None)
        if measure is not None:
            threshold = _threshold(model, measure)
            if measure == "customers":
                continue
            if threshold is not None:
                ranges.append(threshold)
                continue
            out.problems.append(f"“{span.text}” is a figure ({model.measures[measure].label}), not a condition "
                                "on customers: compare it, e.g. “churn over 50%”, or ask the chat for the figure")
            continue
        if "dimension" in kinds:
            near = [s for s in spans[max(0, idx - 1): idx + 2] if s is not span]
            if any(m.kind == "value" for s in near for m in s.meanings):
                continue  # "the Student segment", "mortgage products"
            out.problems.append(f"“{span.text}” alone does not say which customers: name a value")
            continue
        nxt = spans[idx + 1] if idx + 1 < len(spans) else None
        if role == "group" and nxt is not None and any(m.kind == "value" for m in nxt.meanings):
            continue  # "declined an offer by email": the channel it happened in, not a breakdown
        if "grain" in kinds or role in ("group", "count", "desc", "asc", "best", "worst", "rank", "trend",
                                        "average", "total", "rate", "change", "driver", "down", "up"):
            out.problems.append(f"“{span.text}” asks for a figure or a breakdown; the similarity search lists "
                                "customers (the chat answers figures)")
            continue
    out.problems += scratch.problems
    if negate:
        out.problems.append("“not”/“without” must come before what is excluded (e.g. “without a mortgage”)")
    customer_ranges = [r for r in ranges if model.attributes[r.attribute].level == "customer"]
    record_ranges = tuple(r for r in ranges if model.attributes[r.attribute].level != "customer")
    filters = tuple(Filter(dimension=d, values=tuple(v), negate=n) for (d, n), v in customer_filters.items())
    if offered and held:  # "a mortgage offered in 2025": the word came after what was offered
        held[-1] = (held[-1][0], held[-1][1], True)
    elif offered and not_held:
        not_held[-1] = (not_held[-1][0], not_held[-1][1], True)
    elif offered:
        shared.setdefault("", [])  # "customers offered anything": a record of any recommendation
    holdings = _holdings(model, parser, held, not_held, shared, record_ranges, period, out)
    intent = "; ".join(intents) or None
    query = AudienceQuery(filters=filters, ranges=tuple(customer_ranges), holdings=tuple(holdings), intent=intent)
    out.understood = query.constraints(model) + ([f"interested in: {intent}"] if intent else [])
    out.problems += contradictions(model, query)
    if not query.constrained and not intent and not out.problems:
        out.problems.append("nothing in the question says which customers (no constraint the semantic model "
                            "knows, and no “interested in …”)")
    if not out.problems and not out.unknown:
        out.query = query
    return out


def _cue_words(w: list[str], used: list[bool]) -> list[_Span]:
    """Negations, "offered" and people words the chat's lexicon does not have, as spans of their own."""
    found = []
    k = 0
    while k < len(w):
        if used[k]:
            k += 1
            continue
        size = next((n for n in (2, 1) if tuple(w[k: k + n]) in PEOPLE and not any(used[k: k + n])), 0)
        if size:
            found.append(_Span(k, k + size, [Meaning("filler", "people")], " ".join(w[k: k + size])))
        elif w[k] in NEGATE or w[k] in OFFERED or w[k] in HAVE:
            found.append(_Span(k, k + 1, [Meaning("filler", w[k])], w[k]))
            size = 1
        else:
            k += 1
            continue
        for j in range(k, k + size):
            used[j] = True
        k += size
    return found


def _elliptic(parser: Parser, w: list[str], raw: list[str], used: list[bool],
              where: list[tuple[int, int, Range]]) -> list[Range]:
    """"credit score over 800 and under 700": a second comparison of the same attribute after "and"."""
    found: list[Range] = []
    queue = list(where)
    while queue:
        _start, stop, rng = queue.pop(0)
        if stop < len(w) and w[stop] in ("and", "but") and not used[stop] and stop + 1 < len(w) \
                and any(tuple(w[stop + 1: stop + 1 + len(c)]) == c for c in (*ABOVE, *BELOW)):
            got = parser._comparison(w, raw, stop + 1, rng.attribute)
            if got is not None and not any(used[stop: got[1]]):
                for k in range(stop, got[1]):
                    used[k] = True
                found.append(got[0])
                queue.append((stop + 1, got[1], got[0]))
    return found


def _intents(parser: Parser, w: list[str], raw: list[str], used: list[bool], out: AudienceParse) -> list[str]:
    """The semantic parts: the words after each intent cue up to the next constraint or clause."""
    texts: list[str] = []
    model = parser.model
    i = 0
    while i < len(w):
        cue = next((c for c in INTENT_CUES if tuple(w[i: i + len(c)]) == c and not any(used[i: i + len(c)])), None)
        if cue is None:
            i += 1
            continue
        first = i
        while first > 0 and not used[first - 1] and w[first - 1] in MODALS:
            first -= 1
        k = start = i + len(cue)
        while k < len(w) and not used[k] and w[k] not in BOUNDARY:
            match = parser._match_at(w, used, k)
            if match and any(m.kind == "value" and model.dimensions[m.name].level == "customer"
                             for m in match[1]):
                break  # "... for young professionals": a constraint, not part of what they want
            k += 1
        stop = k
        while stop > start and w[stop - 1] in EDGE:
            stop -= 1
        lead = start
        while lead < stop and w[lead] in EDGE:
            lead += 1
        if lead == stop:
            out.problems.append(f"“{' '.join(raw[i: i + len(cue)])}” needs what they might want after it "
                                "(e.g. “interested in investment products”)")
        else:
            texts.append(" ".join(raw[lead:stop]))
        for k2 in range(first, stop):
            used[k2] = True
        i = max(stop, i + len(cue))
    return texts


def _period(times: list, out: AudienceParse) -> Period | None:
    periods: list[Period] = []
    for span in times:
        if span.error:
            out.problems.append(span.error)
        elif span.compare:
            out.problems.append("a comparison of periods is a question for the chat; say one period")
        elif span.joined and span.range is not None:
            periods.append(span.range)
        else:
            periods += span.periods
    if len(periods) > 1:
        out.problems.append("several periods: give one (e.g. “accepted a mortgage in 2025”)")
        return None
    return periods[0] if periods else None


def _threshold(model: SemanticModel, measure: str) -> Range | None:
    """A count of customers above a threshold ("customers at high churn risk") as the comparison it counts."""
    m = model.measures[measure]
    if not m.per_customer or m.kind != "count" or not m.per_customer.startswith("avg("):
        return None
    column = m.per_customer[4:-1].strip()
    attr = next((a for a in model.attributes.values() if a.column == column and a.level == "customer"), None)
    text = " ".join(m.sql.split())
    prefix = "count(*) FILTER (WHERE value >= "
    if attr is None or not text.startswith(prefix) or not text.endswith(")"):
        return None
    try:
        value = float(text[len(prefix):-1])
    except ValueError:
        return None
    return Range(attribute=attr.name, op=">=", low=value)


def _holdings(model: SemanticModel, parser: Parser, held: list[tuple[str, list[str], bool]],
              not_held: list[tuple[str, tuple[str, ...], bool]], shared: dict[str, list[str]],
              record_ranges: tuple[Range, ...], period: Period | None, out: AudienceParse) -> list[Holding]:
    status = next((d.name for d in model.dimensions.values() if d.column == STATUS_COLUMN), None)
    can_accept = status is not None and parser.vocab.has(status, DEFAULT_ACCEPTED)
    anything = shared.pop("", None) is not None
    common = tuple(Filter(dimension=d, values=tuple(v)) for d, v in shared.items())
    explicit_status = status in shared

    def taken(filters: tuple[Filter, ...], offered: bool) -> tuple[tuple[Filter, ...], bool]:
        if offered or explicit_status or not can_accept or status is None:
            return filters, False
        return (*filters, Filter(dimension=status, values=(DEFAULT_ACCEPTED,))), True

    positive: list[Holding] = []
    for dim, values, offered in held:
        filters, taken_up = taken((Filter(dimension=dim, values=tuple(values)), *common), offered)
        positive.append(Holding(filters=filters, ranges=record_ranges, period=period, taken_up=taken_up))
    if not held and (common or record_ranges or period is not None or anything) and not not_held:
        positive.append(Holding(filters=common, ranges=record_ranges, period=period))
    negative: list[Holding] = []
    for dim, excluded, offered in not_held:
        own = (Filter(dimension=dim, values=excluded),)
        if dim in {d.name for d in model.dimensions.values() if d.column in HOLDABLE}:
            filters, taken_up = taken(own, offered)
        else:
            filters, taken_up = own, False
        if not positive:  # "did not accept a mortgage in 2025": the period and the rest belong to the negation
            extra = tuple(f for f in common if f.dimension not in {x.dimension for x in filters})
            filters = (*filters, *extra)
            negative.append(Holding(filters=filters, ranges=record_ranges, period=period, negate=True,
                                    taken_up=taken_up and not explicit_status))
        else:
            negative.append(Holding(filters=filters, negate=True, taken_up=taken_up))
    if period is not None and not positive and not negative:
        out.problems.append("a period needs something that happened in it (e.g. “accepted a mortgage in 2025”)")
    return positive + negative


# -- contradictions -------------------------------------------------------------------------------------------
Interval = tuple[float, bool, float, bool]  # low, low inclusive, high, high inclusive


def _range_intervals(r: Range) -> list[Interval]:
    inf = math.inf
    low = r.low if r.low is not None else -inf
    high = r.high if r.high is not None else inf
    return {">": [(low, False, inf, False)], ">=": [(low, True, inf, False)], "<": [(-inf, False, high, False)],
            "<=": [(-inf, False, high, True)], "between": [(low, True, high, True)]}[r.op]


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for lo1, li1, hi1, hi1i in a:
        for lo2, li2, hi2, hi2i in b:
            lo, li = (lo1, li1) if (lo1, not li1) > (lo2, not li2) else (lo2, li2)
            hi, hii = (hi1, hi1i) if (hi1, hi1i) < (hi2, hi2i) else (hi2, hi2i)
            if lo < hi or (lo == hi and li and hii):
                out.append((lo, li, hi, hii))
    return out


def _conflict(model: SemanticModel, filters: tuple[Filter, ...], ranges: tuple[Range, ...]) -> str | None:
    """The first column whose comparisons and bands no value can satisfy, said in words."""
    by_column: dict[str, list[tuple[str, list[Interval]]]] = {}
    for r in ranges:
        col = model.attributes[r.attribute].column
        by_column.setdefault(col, []).append((_range_text(model, r), _range_intervals(r)))
    for f in filters:
        dim = model.dimensions[f.dimension]
        if not dim.bands or f.negate:
            continue
        spans = [(b.min if b.min is not None else -math.inf, True, b.max if b.max is not None else math.inf, False)
                 for b in dim.bands if b.label in f.values]
        by_column.setdefault(dim.column, []).append((_filter_text(model, f), spans))
    for items in by_column.values():
        allowed: list[Interval] = [(-math.inf, False, math.inf, False)]
        for _text, spans in items:
            allowed = _intersect(allowed, spans)
        if not allowed:
            return " and ".join(t for t, _ in items)
    return None


def contradictions(model: SemanticModel, q: AudienceQuery) -> list[str]:
    """Constraints no customer can meet, each as a sentence (an empty answer would hide the mistake)."""
    found = []
    clash = _conflict(model, q.filters, q.ranges)
    if clash:
        found.append(f"contradictory constraints: {clash} cannot both hold")
    for f in q.filters:
        if not f.negate:
            other = next((g for g in q.filters if g.negate and g.dimension == f.dimension), None)
            if other is not None and set(f.values) <= set(other.values):
                found.append(f"contradictory constraints: {_filter_text(model, f)} and {_filter_text(model, other)}")
    for h in q.holdings:
        clash = _conflict(model, h.filters, h.ranges)
        if clash:
            found.append(f"contradictory constraints: {clash} cannot both hold on one record")
        if not h.negate:
            same = next((g for g in q.holdings if g.negate and set(g.filters) <= set(h.filters)
                         and set(g.ranges) <= set(h.ranges) and (g.period is None or g.period == h.period)), None)
            if same is not None:
                found.append(f"contradictory constraints: {h.echo(model)} and {same.echo(model)}")
    return found


# -- the statement --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudienceSQL:
    sql: str
    title: str
    columns: tuple[str, ...]  # the profile columns the conditions read


def check_audience(model: SemanticModel, present: set[str], q: AudienceQuery) -> None:
    """Every column the constraints read is in the data, else a UsageError naming it."""
    needed: list[tuple[str, str]] = [(model.dimensions[f.dimension].column, model.dimensions[f.dimension].label)
                                     for f in q.filters]
    needed += [(model.attributes[r.attribute].column, model.attributes[r.attribute].label) for r in q.ranges]
    for h in q.holdings:
        needed += [(model.dimensions[f.dimension].column, model.dimensions[f.dimension].label) for f in h.filters]
        needed += [(model.attributes[r.attribute].column, model.attributes[r.attribute].label) for r in h.ranges]
        if h.period is not None:
            needed.append((model.time_column, model.time_label))
    for column, label in needed:
        if column not in present:
            raise UsageError(f"this data has no {column} column, so customers cannot be chosen by {label}")


def compile_audience(model: SemanticModel, compiler: Compiler, table: str, q: AudienceQuery) -> AudienceSQL:
    """One statement: the customers (ids ascending, with the profile values the conditions read) that meet
    every constraint of ``q``.

    The profile has one row per customer and only the columns the conditions read: numbers (attributes and
    banded dimensions) as the mean of the customer's records, categories as the value of the latest record
    (by the time column; the greatest value when the data has no dates). Each holding is an ``IN`` /
    ``NOT IN`` over the records that meet all of its conditions."""
    check_audience(model, compiler.present, q)
    numeric = {a.column for a in model.attributes.values()} | {d.column for d in model.dimensions.values()
                                                                  if d.bands}
    columns = sorted({model.dimensions[f.dimension].column for f in q.filters}
                     | {model.attributes[r.attribute].column for r in q.ranges})
    time = quote_ident(model.time_column) if model.time_column in compiler.present else None
    select = ["customer_id"]
    for c in columns:
        col = quote_ident(c)
        if c in numeric:
            select.append(f"avg({col}) AS {col}")
        elif time is not None:
            select.append(f"arg_max({col}, ({time}, {col})) AS {col}")
        else:
            select.append(f"max({col}) AS {col}")
    source = quote_ident(table)
    conds = compiler.conditions(q.filters, q.ranges)
    for h in q.holdings:
        inner = compiler.conditions(h.filters, h.ranges)
        if h.period is not None:
            inner.append(period_condition(h.period, model.time_column))
        where = " AND ".join(["customer_id IS NOT NULL", *inner])
        conds.append(f"customer_id {'NOT IN' if h.negate else 'IN'} (SELECT customer_id FROM {source} WHERE {where})")
    group = " GROUP BY customer_id" if columns else ""
    distinct = "" if columns else "DISTINCT "
    profile = f"SELECT {distinct}{', '.join(select)} FROM {source} WHERE customer_id IS NOT NULL{group}"
    where_sql = f"\nWHERE {' AND '.join(conds)}" if conds else ""
    shown = ", ".join(["customer_id", *(quote_ident(c) for c in columns)])
    sql = pretty(f"WITH profile AS (\n  {profile}\n)\nSELECT {shown} FROM profile{where_sql}\nORDER BY customer_id")
    return AudienceSQL(sql, q.echo(model), tuple(columns))
