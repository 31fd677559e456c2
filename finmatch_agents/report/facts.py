"""Each fact once (issue 11): which parts of a text only restate figures the report already states elsewhere.

A text is cut into sentences and a sentence into clauses (``;``). A clause *restates* when every figure in it
(as :func:`.measure.figures` reads them, the sign aside: ``+USD 3.79M`` is ``USD 3.79M``) is one a source
states. Such a clause is replaced by a reference to the sources that state it; its claim before a colon
("Temenos is the weakest core banking feed: 1.8% …") is kept. Clauses without figures (the reasoning) and
clauses with a figure of their own are kept as they are. Nothing is reworded, and no figure is changed: the
text only loses what another place of the report says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from finmatch_agents.formatting import sentence_case
from finmatch_agents.ids import REF
from finmatch_agents.report.measure import figures

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\[(\d])")
_ONLY_REFS = re.compile(r"^(?:\s*\[[QF]\d+\])+\s*$")
_TRAILING_REFS = re.compile(r"((?:\s*\[[QF]\d+\])+)\s*$")


def figure_keys(text: str) -> frozenset[str]:
    """The figures of ``text`` without their sign, references left out."""
    return frozenset(f.lstrip("+-") for f in figures(REF.sub(" ", text)))


@dataclass(frozen=True)
class Source:
    """Where figures are stated: a finding (``label`` its id, referenced) or a place the reader has just read
    (``label`` None: the summary line of a recommendation, not referenced)."""

    label: str | None
    keys: frozenset[str]


@dataclass(frozen=True)
class Restated:
    text: str  # what is left, with the references to where the rest is stated
    refs: tuple[str, ...]  # finding ids referenced in place of what was cut
    cut: bool  # whether anything was cut


def _refs_text(refs: Sequence[str]) -> str:
    return ", ".join(f"[{r}]" for r in refs)


def restated(text: str, sources: Sequence[Source], *, min_figures: int = 1, inline: bool = True,
             keep_refs: bool = False) -> Restated:
    """``text`` without the clauses that restate ``sources``. ``min_figures``: a clause restates only when it
    has at least that many figures (one shared figure can be a coincidence, several in one clause are not).
    ``inline``: the references replace each cut clause (``(see [F203])``); otherwise they are returned for the
    caller to place, and a cut clause leaves only its claim before a colon. ``keep_refs``: a sentence keeps its
    query references even when it lost every figure (a finding keeps its evidence); otherwise they go with
    the figures they were for."""
    sentences = _SENTENCE.split(" ".join(text.split()))
    # a trailing "[Q1] [Q2]" belongs to the sentence before it
    merged: list[str] = []
    for s in sentences:
        if merged and _ONLY_REFS.match(s):
            merged[-1] += " " + s
        else:
            merged.append(s)
    out: list[str] = []
    all_refs: list[str] = []
    cut = False
    for sentence in merged:
        m = _TRAILING_REFS.search(sentence)
        trailing_refs = m.group(1).strip() if m else ""
        body = sentence[:m.start()].rstrip() if m else sentence.rstrip()
        end = body[-1:] if body[-1:] in ".!?" else "."
        body = body[:-1] if body[-1:] in ".!?" else body
        kept: list[str] = []
        sentence_cut = False
        for clause in body.split("; "):
            keys = figure_keys(clause)
            covering = [s for s in sources if s.keys & keys]
            if len(keys) >= max(1, min_figures) and keys <= frozenset().union(*(s.keys for s in covering)):
                cut = sentence_cut = True
                refs = [s.label for s in covering if s.label]
                all_refs += [r for r in refs if r not in all_refs]
                head, colon, _ = clause.partition(": ")
                claim = head if colon and not figure_keys(head) and len(head.split()) >= 3 else ""
                if inline and refs:
                    kept.append(f"{claim} (see {_refs_text(refs)})" if claim else f"see {_refs_text(refs)}")
                elif claim:
                    kept.append(claim)
                continue
            kept.append(clause)
        if not kept:
            continue
        # a sentence left with no figure of its own does not need the queries of the figures it lost
        refs_kept = "" if sentence_cut and not keep_refs and not any(figure_keys(k) for k in kept) else trailing_refs
        out.append(sentence_case("; ".join(kept)) + end + (f" {refs_kept}" if refs_kept else ""))
    return Restated(" ".join(out), tuple(all_refs), cut)
