"""Phrase → meanings, built from the semantic model and the values learned from the data.

A phrase may mean several things ("age" is a measure, a dimension and a numeric attribute; "falling" is a
value of two trend dimensions); the parser picks by context or refuses as ambiguous. Values of a
``qualified`` dimension (Low/Medium/High, Increasing/Stable/Decreasing) are common words, so they are only
phrases next to the dimension's name ("high affinity", "usage trend decreasing").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from finmatch_agents.semantic.text import phrase

if TYPE_CHECKING:
    from finmatch_agents.semantic.model import SemanticModel
    from finmatch_agents.semantic.vocabulary import Vocabulary

#: the grammar: words with a role in a question rather than a meaning in the data
GRAMMAR: dict[str, tuple[str, ...]] = {
    "count": ("how many", "number of", "count of", "count", "total number of", "how many of"),
    "group": ("by", "per", "for each", "each", "every", "across", "in each", "broken down by", "split by",
              "breakdown by", "grouped by", "for every", "break down by", "segmented by", "compare", "across all"),
    "which": ("which", "what"),
    "desc": ("highest", "most", "top", "largest", "biggest", "greatest", "maximum", "leading", "strongest",
             "higher", "more"),
    "asc": ("lowest", "least", "fewest", "bottom", "smallest", "weakest", "minimum", "lower", "fewer", "less"),
    "best": ("best", "better"),
    "worst": ("worst", "worse", "poorest"),
    "rank": ("rank", "ranked", "ranking", "sorted", "sort", "order", "ordered", "league table"),
    "negate": ("not", "excluding", "except", "other than", "non", "without", "apart from", "outside of",
               "exclude"),
    "join": ("and", "or", "vs", "versus", "against", "compared to", "compared with", "as well as", "plus"),
    "down": ("drop", "fall", "fell", "decline", "decrease", "decreased", "dropped", "falling", "dip", "dipped",
             "slump", "go down", "went down", "worsen", "worsened", "shrink", "shrank"),
    "up": ("rise", "rose", "increase", "increased", "grow", "grew", "growth", "improve", "improved", "jump",
           "jumped", "go up", "went up", "climb", "climbed"),
    "change": ("change", "changed", "shift", "shifted", "move", "moved", "differ", "difference", "evolve",
               "evolved", "swing", "delta"),
    "driver": ("drove", "drive", "driven", "driver", "cause", "caused", "why", "explain", "behind", "reason",
               "contributed", "contribute", "responsible for", "account for", "due to", "what led to", "led to"),
    "average": ("average", "mean", "avg", "typical"),
    "total": ("total", "sum of", "overall total"),
    "rate": ("rate", "ratio", "share", "percentage", "proportion", "percent"),
    "trend": ("trend", "trends", "evolution", "over the months"),
    "noun_filler": ("there", "in total", "altogether", "so far", "to date", "how much", "make", "made"),
}


@dataclass(frozen=True)
class Meaning:
    kind: str  # measure | noun | dimension | value | attribute | grain | grammar | filler
    name: str
    values: tuple[str, ...] = ()
    exact: bool = False  # a value spelled as in the data (wins over a curated synonym)

    def __repr__(self) -> str:
        return f"{self.kind}:{self.name}{'=' + '|'.join(self.values) if self.values else ''}"


@dataclass
class Lexicon:
    entries: dict[tuple[str, ...], list[Meaning]] = field(default_factory=dict)
    #: words in the longest phrase: the parser tries spans up to this length at every word (kept on add, as
    #: recomputing it over thousands of phrases per word cost ~10 ms a question)
    longest: int = 1

    def __post_init__(self) -> None:
        self.longest = max((len(k) for k in self.entries), default=1)

    def add(self, text: str | tuple[str, ...], meaning: Meaning) -> None:
        key = phrase(text) if isinstance(text, str) else text
        if not key:
            return
        found = self.entries.setdefault(key, [])
        if meaning not in found:
            found.append(meaning)
        self.longest = max(self.longest, len(key))

    def lookup(self, words: tuple[str, ...]) -> list[Meaning]:
        return self.entries.get(words, [])


def _present(values: Iterable[str], known: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v for v in values if v in known)


def build_lexicon(model: SemanticModel, vocab: Vocabulary) -> Lexicon:
    lex = Lexicon()
    for role, phrases in GRAMMAR.items():
        for p in phrases:
            lex.add(p, Meaning("grammar", role))
    for m in model.measures.values():
        for p in (*([] if m.label in m.nouns else [m.label]), *m.synonyms):
            lex.add(p, Meaning("measure", m.name))
        for p in m.nouns:
            lex.add(p, Meaning("noun", m.name))
    for grain, synonyms in model.grains.items():
        for p in (grain, *synonyms):  # the bare word too: "which quarter had the most offers"
            lex.add(p, Meaning("grain", grain))
    for a in model.attributes.values():
        for p in (a.label, *a.synonyms):
            lex.add(p, Meaning("attribute", a.name))
    for d in model.dimensions.values():
        names = (d.label, *d.synonyms)
        for p in names:
            lex.add(p, Meaning("dimension", d.name))
        known = vocab.values.get(d.name, ())
        words: list[tuple[str, tuple[str, ...], bool]] = [(v, (v,), True) for v in known]
        for band in d.bands:
            words += [(s, (band.label,), False) for s in band.synonyms if band.label in known]
            if band.label in known:  # a band's own label ("55-64") only next to the dimension's name
                for name in names:
                    lex.add(f"{name} {band.label}", Meaning("value", d.name, (band.label,), True))
        curated = [(p, _present(vs, known), False) for p, vs in d.values.items()]
        words += [c for c in curated if c[1]]
        for text, values, exact in words:
            meaning = Meaning("value", d.name, values, exact)
            if not d.qualified or (not exact and len(phrase(text)) > 1) or (not exact and _unique(text, model)):
                lex.add(text, meaning)
            if d.qualified:
                for name in names:
                    for form in (f"{text} {name}", f"{name} {text}", f"{name} is {text}", f"{name} of {text}"):
                        lex.add(form, meaning)
    for word in model.filler:
        if not lex.lookup(phrase(word)):
            lex.add(word, Meaning("filler", word))
    return lex


def _unique(text: str, model: SemanticModel) -> bool:
    """A curated value phrase that names a value of one dimension only (so it needs no qualifier)."""
    key = phrase(text)
    owners = {d.name for d in model.dimensions.values() for p in d.values if phrase(p) == key}
    return len(owners) == 1
