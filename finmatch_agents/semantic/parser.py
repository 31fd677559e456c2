"""The offline question parser: words → a :class:`StructuredQuery`, or a refusal that says what it understood.

Every word must be used (a measure, dimension, value, attribute comparison, time expression, grammar word)
or be known filler; any other word, an ambiguous value, a period outside the data or a question about causes
makes the parse incomplete, and the chat refuses rather than answer a question that was not asked (a filter
silently dropped would give the overall figure for "Email in 2025"). Passes, in order: time expressions,
comparisons of numeric attributes ("credit score over 750"), "top 5", then phrases longest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from finmatch_agents.semantic.periods import Calendar, TimeSpan
from finmatch_agents.semantic.query import TIME_GROUP, Filter, Period, Range, StructuredQuery
from finmatch_agents.semantic.text import NUMBER_WORDS, fold, is_percent, number, raw_words

if TYPE_CHECKING:
    from finmatch_agents.semantic.lexicon import Lexicon, Meaning
    from finmatch_agents.semantic.model import SemanticModel
    from finmatch_agents.semantic.vocabulary import Vocabulary

ABOVE = (("more", "than"), ("greater", "than"), ("higher", "than"), ("at", "least"), ("over",), ("above",),
         ("exceeding",), (">",), (">=",), ("older", "than"), ("minimum", "of"), ("from",))
BELOW = (("less", "than"), ("lower", "than"), ("fewer", "than"), ("at", "most"), ("under",), ("below",), ("<",),
         ("<=",), ("younger", "than"), ("up", "to"), ("maximum", "of"))
INCLUSIVE = {("at", "least"), (">=",), ("<=",), ("at", "most"), ("minimum", "of"), ("maximum", "of"), ("from",),
             ("up", "to")}
AGE_WORDS = {("older", "than"): "age", ("younger", "than"): "age"}
PEOPLE = ("customer", "client", "people", "person")
WHO = ("for", "to", "among", "amongst", "with", "from")  # "for high net worth customers": who, not what is counted
MAX_AGE = 110
TOP_WORDS = {"top": "desc", "bottom": "asc", "best": "best", "worst": "worst", "highest": "desc", "lowest": "asc"}
DEFAULT_TOP = 5


@dataclass
class Parse:
    """The result of reading a question: the query when every word was understood."""

    query: StructuredQuery | None
    understood: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    direction: str | None = None  # "down" / "up": what the question presumes about a change
    partial: StructuredQuery | None = None  # what could be built from the understood words (for suggestions)
    measures: list[str] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    period: Period | None = None
    compare: tuple[Period, Period] | None = None
    groups: list[str] = field(default_factory=list)
    ranges: list[Range] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.query is not None


@dataclass
class _Span:
    first: int
    stop: int
    meanings: list[Meaning]
    text: str


class Parser:
    def __init__(self, model: SemanticModel, vocab: Vocabulary, lexicon: Lexicon) -> None:
        self.model, self.vocab, self.lexicon = model, vocab, lexicon
        self.calendar = Calendar(vocab.first_day, vocab.last_day)

    def parse(self, text: str) -> Parse:
        raw = raw_words(text)
        w = [fold(t) for t in raw]
        used = [False] * len(w)
        out = Parse(None)
        spans = self.calendar.read(w, used)
        for s in spans:
            for k in range(s.first, s.stop):
                used[k] = True
        ranges = self._ranges(w, raw, used, out)
        top = self._top(w, used)
        phrases = self._phrases(w, used)
        unknown = [raw[k] for k in range(len(w)) if not used[k]]
        return self._interpret(out, raw, spans, ranges, top, phrases, unknown)

    # -- passes ---------------------------------------------------------------------------------------------
    def _match_at(self, w: list[str], used: list[bool], i: int) -> tuple[int, list[Meaning]] | None:
        for size in range(min(self.lexicon.longest, len(w) - i), 0, -1):
            if any(used[i: i + size]):
                continue
            found = self.lexicon.lookup(tuple(w[i: i + size]))
            if found:
                return size, found
        return None

    def _ranges(self, w: list[str], raw: list[str], used: list[bool], out: Parse,
                where: list[tuple[int, int, Range]] | None = None) -> list[Range]:
        """``<attribute> [is] <comparator> <number>`` (and ``between N and M``; ``older than N``). ``where``
        collects each comparison's word span (the customer search reads "over 800 and under 700" on)."""
        found: list[Range] = []
        where = [] if where is None else where
        i = 0
        while i < len(w):
            if used[i]:
                i += 1
                continue
            attr, size = None, 0
            for cue, name in AGE_WORDS.items():
                if tuple(w[i: i + len(cue)]) == cue and "age" in self.model.attributes:
                    attr, size = name, 0
                    break
            if attr is None and w[i] in PEOPLE and "age" in self.model.attributes:
                aged = self._comparison(w, raw, i + 1, "age")  # "customers over 65": a plain number of years
                if aged is not None and raw[aged[1] - 1].isdigit() and int(raw[aged[1] - 1]) <= MAX_AGE:
                    found.append(aged[0])
                    where.append((i + 1, aged[1], aged[0]))
                    for k in range(i + 1, aged[1]):
                        used[k] = True
                    i = aged[1]
                    continue
            if attr is None:
                match = self._match_at(w, used, i)
                names = [m.name for m in match[1] if m.kind == "attribute"] if match else []
                if not names:
                    i += 1
                    continue
                attr, size = names[0], match[0] if match else 0
            j = i + size
            if j < len(w) and w[j] in ("is", "of", "with", "a", "are"):
                j += 1
            result = self._comparison(w, raw, j, attr)
            if result is None:
                i += 1
                continue
            rng, stop = result
            found.append(rng)
            where.append((i, stop, rng))
            for k in range(i, stop):
                used[k] = True
            i = stop
        return found

    def _comparison(self, w: list[str], raw: list[str], j: int, attr: str) -> tuple[Range, int] | None:
        a = self.model.attributes[attr]

        def value(k: int) -> float | None:
            if k >= len(w):
                return None
            v = number(raw[k])
            if v is None or (raw[k].isdigit() and len(raw[k]) == 4 and attr != "income" and 1990 <= v <= 2100
                             and a.ratio):
                return None
            if a.ratio and not is_percent(raw[k]) and v > 1:
                v = v / 100  # "churn over 50" means 50%
            return v

        if w[j: j + 1] == ["between"]:
            lo, hi = value(j + 1), value(j + 3)
            if lo is not None and hi is not None and w[j + 2: j + 3] in (["and"], ["to"]):
                return Range(attribute=attr, op="between", low=min(lo, hi), high=max(lo, hi)), j + 4
            return None
        lo = value(j)
        if lo is not None and w[j + 1: j + 2] == ["to"] and value(j + 2) is not None:  # "aged 30 to 40"
            hi = value(j + 2)
            assert hi is not None
            return Range(attribute=attr, op="between", low=min(lo, hi), high=max(lo, hi)), j + 3
        if lo is not None and w[j + 1: j + 3] in (["or", "more"], ["or", "above"], ["or", "over"], ["or", "older"],
                                                   ["and", "above"], ["and", "over"], ["plus"]):
            return Range(attribute=attr, op=">=", low=lo), j + 3
        if lo is not None and w[j + 1: j + 3] in (["or", "less"], ["or", "below"], ["or", "under"],
                                                   ["or", "younger"], ["and", "below"], ["and", "under"]):
            return Range(attribute=attr, op="<=", high=lo), j + 3
        for cues, above in ((ABOVE, True), (BELOW, False)):
            for cue in cues:
                if tuple(w[j: j + len(cue)]) == cue:
                    v = value(j + len(cue))
                    if v is None:
                        continue
                    inclusive = cue in INCLUSIVE
                    if above:
                        rng = Range(attribute=attr, op=">=" if inclusive else ">", low=v)
                    else:
                        rng = Range(attribute=attr, op="<=" if inclusive else "<", high=v)
                    return rng, j + len(cue) + 1
        return None

    def _top(self, w: list[str], used: list[bool]) -> tuple[str, int] | None:
        """"top 5", "5 best", "bottom three", "which 3 segments": (direction, n)."""
        for i, t in enumerate(w):
            if used[i]:
                continue
            n = number(t) if (t.isdigit() or t in NUMBER_WORDS) else None
            if t in TOP_WORDS and i + 1 < len(w) and not used[i + 1] and (
                    w[i + 1] in NUMBER_WORDS or w[i + 1].isdigit()):
                used[i] = used[i + 1] = True
                return TOP_WORDS[t], int(number(w[i + 1]) or 0)
            if n is not None and 1 <= n <= 100 and i + 1 < len(w) and w[i + 1] in TOP_WORDS:
                used[i] = used[i + 1] = True
                return TOP_WORDS[w[i + 1]], int(n)
            if n is not None and 1 <= n <= 100 and i > 0 and w[i - 1] in ("which", "what") and not used[i - 1]:
                used[i] = True
                return "rank", int(n)
        return None

    def _phrases(self, w: list[str], used: list[bool]) -> list[_Span]:
        out = []
        i = 0
        while i < len(w):
            if used[i]:
                i += 1
                continue
            match = self._match_at(w, used, i)
            if match is None:
                i += 1
                continue
            size, meanings = match
            out.append(_Span(i, i + size, meanings, " ".join(w[i: i + size])))
            for k in range(i, i + size):
                used[k] = True
            i += size
        return out

    # -- meaning ----------------------------------------------------------------------------------------------
    def _interpret(self, out: Parse, raw: list[str], times: list[TimeSpan], ranges: list[Range],
                   top: tuple[str, int] | None, spans: list[_Span], unknown: list[str]) -> Parse:
        model = self.model
        out.unknown = unknown
        measures: list[str] = []
        groups: list[str] = []
        filters: dict[tuple[str, bool], list[str]] = {}
        nouns: list[tuple[int, str]] = []
        roles: set[str] = set()
        count_at: int | None = None
        first_value_level: str | None = None
        grammar = [(s, next((m.name for m in s.meanings if m.kind == "grammar"), None)) for s in spans]
        dims_named = {m.name for s in spans for m in s.meanings if m.kind == "dimension"}
        modifiers: list[str] = []
        versus_values: set[str] = set()
        last_value: tuple[str, bool] | None = None
        group_words: list[str] = []  # the last word of each group's mention ("segments": a plural asks for several)
        for idx, (span, role) in enumerate(grammar):
            prev_role = grammar[idx - 1][1] if idx else None
            nxt = spans[idx + 1] if idx + 1 < len(spans) else None
            kinds = {m.kind for m in span.meanings}
            if role and kinds == {"grammar"}:
                if role == "negate" and not (nxt and any(m.kind == "value" for m in nxt.meanings)):
                    out.problems.append(f"“{span.text}” can only exclude values (e.g. “excluding Email”)")
                roles.add(role)
                if role == "count":
                    count_at = idx
                elif role in ("average", "total", "rate"):
                    modifiers.append(role)
                continue
            values = [m for m in span.meanings if m.kind == "value"]
            dims = [m for m in span.meanings if m.kind == "dimension"]
            measure = [m for m in span.meanings if m.kind == "measure"]
            grain = [m for m in span.meanings if m.kind == "grain"]
            noun = [m for m in span.meanings if m.kind == "noun"]
            if values:
                chosen = self._choose_value(values, spans, idx, dims_named, out)
                if chosen is None:
                    continue
                negate = prev_role == "negate" or (  # "excluding Email and Branch": both excluded
                    prev_role == "join" and last_value is not None and last_value == (chosen.name, True))
                last_value = (chosen.name, negate)
                filters.setdefault((chosen.name, negate), [])
                filters[(chosen.name, negate)] += [v for v in chosen.values if v not in filters[(chosen.name,
                                                                                                    negate)]]
                if prev_role == "join" and not negate and idx >= 2 and grammar[idx - 1][0].text != "or" and any(
                        m.kind == "value" and m.name == chosen.name for m in spans[idx - 2].meanings):
                    versus_values.add(chosen.name)
                if first_value_level is None and count_at is not None:
                    first_value_level = model.dimensions[chosen.name].level
                continue
            after_value = idx > 0 and any(m.kind == "value" for m in spans[idx - 1].meanings)
            if dims and after_value and prev_role is None and not measure:
                continue  # "mortgage products", "student segment": names what the value is
            if dims and (prev_role in ("group", "which") or not measure):
                dim = dims[0].name
                qualifies = any(m.kind == "value" and m.name == dim for s in (nxt,) if s for m in s.meanings) or (
                    idx > 0 and any(m.kind == "value" and m.name == dim for m in spans[idx - 1].meanings))
                if not qualifies and dim not in groups:
                    groups.append(dim)
                    group_words.append(raw[span.stop - 1])
                continue
            if grain:
                groups.append(TIME_GROUP + grain[0].name)
                continue
            if measure:
                if measure[0].name not in measures:
                    measures.append(measure[0].name)
                continue
            if noun and prev_role == "group":
                out.problems.append(f"“{grammar[idx - 1][0].text} {span.text}”: a figure per {span.text} is not a "
                                    "measure of the semantic model")
                continue
            if noun:
                nouns.append((idx, noun[0].name))
                if first_value_level is None and count_at is not None and idx > count_at:
                    first_value_level = "customer" if noun[0].name == "customers" else "record"
                continue
            if role:
                roles.add(role)
                continue
            # filler
        self._time(out, times, roles)
        if "trend" in roles and out.compare is None and not any(g.startswith(TIME_GROUP) for g in groups) \
                and "month" in model.grains:
            groups.append(TIME_GROUP + "month")  # "acceptance trend for mortgages": month by month
        if "accepted" in measures and len(measures) > 1 and count_at is None:
            # "score for accepted offers": the accepted offers are a filter of another measure, not a second one
            status = next((d for d in model.dimensions.values()
                           if d.column == "product_recommendation_status"), None)
            if status is not None and self.vocab.has(status.name, "Accepted"):
                measures.remove("accepted")
                filters.setdefault((status.name, False), [])
                if "Accepted" not in filters[(status.name, False)]:
                    filters[(status.name, False)].append("Accepted")
        out.measures, out.groups, out.ranges = measures, groups, ranges
        out.filters = [Filter(dimension=d, values=tuple(v), negate=n) for (d, n), v in filters.items()]
        for name in versus_values:
            if name not in groups:
                groups.append(name)
        for r in ranges:
            a = model.attributes[r.attribute]
            out.understood.append(f"{a.label} {r.op} {r.low if r.low is not None else r.high:g}")
        ranked = bool(roles & {"desc", "asc", "best", "worst", "rank"}) or top is not None
        described = {i for i, _n in nouns if i > 0 and any(m.kind == "value" for m in spans[i - 1].meanings)
                     and spans[i - 1].first > 0 and raw[spans[i - 1].first - 1].lower() in WHO}
        if ranked:  # "top 5 products for high net worth customers": those customers say who, not what to rank by
            nouns = [(i, n) for i, n in nouns if i not in described]
        self._measures_from_nouns(out, measures, nouns, count_at, first_value_level)
        self._share_accepted(out, measures, modifiers)
        self._modifiers(out, measures, modifiers)
        order, n = self._order(out, roles, top, measures, groups, group_words)
        for name in measures:
            out.understood.insert(0, model.measures[name].label)
        out.understood += [f"by {g.removeprefix(TIME_GROUP)}" if g.startswith(TIME_GROUP) else
                           f"by {model.dimensions[g].label}" for g in groups]
        out.understood += [f"{model.dimensions[f.dimension].label} {'≠' if f.negate else '='} {' or '.join(f.values)}"
                           for f in out.filters]
        self._status_conflict(out, measures)
        breakdown = "driver" in roles
        comparison = out.compare
        if breakdown and comparison is None:
            out.problems.append("the data can compare periods or groups, but it cannot say why something happened")
        if breakdown and comparison is not None and len(measures) != 1:
            out.problems.append("a change can be broken down for one measure at a time")
        if not measures:
            out.problems.append("no measure: say what to compute, e.g. acceptance rate, recommendations or customers")
        if not measures:
            out.partial = None
        elif not out.problems:
            try:
                query = StructuredQuery(measures=tuple(measures), group_by=tuple(groups),
                                        filters=tuple(out.filters), ranges=tuple(ranges),
                                        period=None if comparison else out.period, compare=comparison,
                                        breakdown=breakdown and comparison is not None, top=n,
                                        order="asc" if order == "asc" else "desc" if order else None)
            except ValueError as exc:
                out.problems.append(str(exc))
            else:
                out.partial = query
                if not out.unknown:
                    out.query = query
        if out.partial is None and measures:
            out.partial = StructuredQuery(measures=tuple(measures), filters=tuple(out.filters),
                                          period=out.period)
        return out

    def _choose_value(self, values: list[Meaning], spans: list[_Span], idx: int, dims_named: set[str],
                      out: Parse) -> Meaning | None:
        if len({v.name for v in values}) == 1:
            return values[0]
        near = {m.name for s in spans[max(0, idx - 1): idx + 2] for m in s.meanings if m.kind == "dimension"}
        for scope in (near, dims_named):
            picked = [v for v in values if v.name in scope]
            if len({v.name for v in picked}) == 1:
                return picked[0]
        exact = [v for v in values if v.exact]
        if len({v.name for v in exact}) == 1:
            return exact[0]
        if exact:
            # the same data value in several dimensions (a product type and a product): the first one declared
            order = list(self.model.dimensions)
            return min(exact, key=lambda v: order.index(v.name))
        options = " or ".join(f"{self.model.dimensions[v.name].label} = {'/'.join(v.values)}" for v in values)
        out.problems.append(f"“{spans[idx].text}” is ambiguous: {options}")
        return None

    def _time(self, out: Parse, times: list[TimeSpan], roles: set[str]) -> None:
        periods: list[Period] = []
        compare: tuple[Period, Period] | None = None
        change = bool(roles & {"change", "down", "up", "driver"})
        for span in times:
            if span.error:
                out.problems.append(span.error)
                continue
            if span.compare or (span.joined and change):
                compare = (span.periods[0], span.periods[1])
            elif span.joined and span.range is not None:
                periods.append(span.range)
            elif span.joined:
                periods += span.periods
            else:
                periods += span.periods
        if compare and periods:
            out.problems.append("a comparison and another period: ask for one comparison")
        if len(periods) == 2 and change and compare is None:
            later, earlier = sorted(periods, key=lambda p: p.start, reverse=True)
            compare, periods = (later, earlier), []
        if len(periods) > 1:
            out.problems.append("several periods: give one, or compare two (“Q3 vs Q2”)")
        elif periods:
            out.period = periods[0]
            out.understood.append(periods[0].label)
        if compare:
            out.compare = compare
            out.understood.append(f"{compare[0].label} vs {compare[1].label}")
        if "down" in roles:
            out.direction = "down"
        elif "up" in roles:
            out.direction = "up"
        if change and compare is None and not out.problems:
            out.problems.append("a change needs two periods to compare, e.g. “Q3 vs Q2” or “2025 compared to 2024”")

    def _measures_from_nouns(self, out: Parse, measures: list[str], nouns: list[tuple[int, str]],
                             count_at: int | None, first_level: str | None) -> None:
        model = self.model
        counted = [m for m in measures if model.measures[m].kind == "count"]
        if count_at is not None and not counted:
            if first_level == "customer" and "customers" in model.measures:
                measures.append("customers")
            elif "recommendations" in model.measures:
                measures.append("recommendations")
            return
        if not measures and nouns:  # "offers by channel", "customers nearing retirement": how many of them
            measures.append(nouns[0][1])

    def _share_accepted(self, out: Parse, measures: list[str], modifiers: list[str]) -> None:
        """"What share of offers were accepted": the acceptance rate (the accepted status is its numerator);
        "what share of customers are at high churn risk": a count measure's declared ``share``."""
        counted = [m for m in measures if self.model.measures[m].share]
        if "rate" in modifiers and len(counted) == 1 and set(measures) - set(counted) <= {"customers",
                                                                                          "recommendations"}:
            measures[:] = [self.model.measures[counted[0]].share or ""]
            modifiers.remove("rate")
            return
        status = [f for f in out.filters if self.model.dimensions[f.dimension].column ==
                  "product_recommendation_status"]
        if ("rate" in modifiers and measures == ["recommendations"] and len(status) == 1
                and status[0].values == ("Accepted",) and not status[0].negate
                and "acceptance_rate" in self.model.measures):
            measures[:] = ["acceptance_rate"]
            modifiers.remove("rate")
            out.filters.remove(status[0])

    def _modifiers(self, out: Parse, measures: list[str], modifiers: list[str]) -> None:
        kinds = {self.model.measures[m].kind for m in measures}
        for role in modifiers:
            if role == "average" and kinds and kinds <= {"count", "total"}:
                out.problems.append("an average of a count or total is not defined in the semantic model")
            if role == "total" and kinds and kinds <= {"mean", "rate"}:
                out.problems.append("a total of a mean or a rate is not defined in the semantic model")
            if role == "rate" and kinds and kinds <= {"count", "total"}:
                out.problems.append("a rate of a count or total is not defined: ask for the rate by name (e.g. "
                                    "acceptance rate)")

    def _order(self, out: Parse, roles: set[str], top: tuple[str, int] | None, measures: list[str],
               groups: list[str], group_words: list[str]) -> tuple[str | None, int | None]:
        direction = top[0] if top else next((r for r in ("desc", "asc", "best", "worst") if r in roles), None)
        if direction is None and "rank" in roles:
            direction = "desc"
        if direction is None:
            return None, None
        if measures and direction in ("best", "worst"):
            better = self.model.measures[measures[0]].higher_is_better
            direction = "desc" if (direction == "best") == better else "asc"
        elif direction in ("best", "worst"):
            direction = "desc" if direction == "best" else "asc"
        if direction == "rank":
            direction = "desc"
        if not groups:
            if top or roles & {"desc", "asc", "best", "worst"}:
                out.problems.append("highest or lowest among what? name a dimension, e.g. “which segment”")
            return None, None
        n = top[1] if top else None
        if n is None and "rank" not in roles:
            plural = any(fold(w.lower()) != w.lower() for w in group_words)
            n = DEFAULT_TOP if plural else 1
        return direction, n

    def _status_conflict(self, out: Parse, measures: list[str]) -> None:
        status = [f for f in out.filters if self.model.dimensions[f.dimension].column ==
                  "product_recommendation_status"]
        rated = [m for m in measures if self.model.measures[m].uses_status]
        if status and rated:
            out.problems.append(f"{self.model.measures[rated[0]].label} already depends on the status, so a status "
                                "filter would make it meaningless")

