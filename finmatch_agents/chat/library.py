"""Which verified question, if any, a question is: its canonical wording, or a keyword match whose parse asks
for nothing the verified answer would leave out (a filter, a period, another group or measure, an unknown
word). Anything else goes to the question compiler, which answers exactly what was asked or refuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finmatch_agents.chat.questions import Match, Verified, canonical, match, normalise, offer_params, terms
from finmatch_agents.semantic.periods import unit_end, unit_start
from finmatch_agents.semantic.text import fold

if TYPE_CHECKING:
    from finmatch_agents.semantic.layer import SemanticLayer
    from finmatch_agents.semantic.parser import Parse

#: parse problems a verified answer covers: it names its own measure; a ranking shows every group
NO_MEASURE, NO_GROUP = "no measure", "highest or lowest among what"


def find_verified(text: str, parse: Parse, layer: SemanticLayer) -> Match | None:
    exact = canonical(text)
    if exact is not None:
        parsed = match(text)  # the same question with the parameters its text gives (a product type)
        if parsed is not None and parsed.question.id == exact.id:
            return parsed
        return Match(exact, {**exact.params, **(offer_params(normalise(text)) if exact.kind == "offers" else {})})
    found = match(text)
    if found is None:
        return None
    # a model's scores are not a semantic-model measure: the parse of "likely to churn" (the bank's churn
    # probability) or of a product type (a filter the answer takes) says nothing against them; nor is the
    # recommender's list for one named customer (the parse cannot place the customer id)
    if found.question.kind in ("explain", "model_scores", "recommend") or consistent(found.question, found.params,
                                                                                      parse, layer):
        return found
    return None


def consistent(q: Verified, params: dict[str, object], parse: Parse, layer: SemanticLayer) -> bool:
    """True when the verified answer answers everything ``parse`` understood and nothing was left unknown."""
    allowed = terms(q)
    if any(fold(w.lower()) not in allowed for w in parse.unknown):
        return False
    covered = (NO_MEASURE, NO_GROUP) if q.group else (NO_MEASURE,)
    if any(not p.startswith(covered) for p in parse.problems):
        return False
    if parse.ranges or parse.compare:
        return False
    query = parse.query or parse.partial
    if query is not None and (query.order == "asc" or (query.top or 1) > 1):
        return False  # a verified ranking leads with the highest and names the lowest; "bottom 3" is compiled
    if parse.measures and parse.measures[0] != q.measures[0]:
        return False
    if any(f.negate or f.dimension not in q.takes for f in parse.filters):
        return False
    if set(parse.groups) - ({q.group} if q.group else set()):
        return False
    if set(parse.measures) - set(q.measures):
        return False
    if parse.period is not None:
        return bool(q.takes) and _is_latest(parse, str(params.get("period", "")), layer)
    return True


def _is_latest(parse: Parse, unit: str, layer: SemanticLayer) -> bool:
    """The parsed period is the latest ``unit`` of the data (what the offers list shows)."""
    last = layer.vocab.last_day
    if last is None or parse.period is None or unit not in ("year", "quarter", "month"):
        return False
    start = unit_start(last, unit)
    return parse.period.start == start and parse.period.end == unit_end(start, unit)
