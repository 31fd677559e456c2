"""How long a markdown report reads: the measures behind issue 11's targets (body ≤ 3,000 words, no figure
more than twice, no line over 400 characters outside code), used by the tests and ``bench/bench_report.py``.

* The **body** is what lies between the front matter and the appendix.
* **Words** are the words a reader reads in the body: code blocks (Mermaid charts) and markup (table pipes,
  link targets, HTML anchors and tags, emphasis marks) are not words; table cells are.
* A **figure** is a number as the report writes it (``41.1%``, ``USD 2.76M``, ``+4.2 pp``, ``7.4×``, ``1,449``,
  ``0.841``); counts below 100 written without a unit (``3 systems``), dates, ids and the ``95%`` of
  ``95% CI`` are not figures.
  Figures are counted in sentences (prose, list items, captions) and not in table cells, where equal values
  are the data's coincidences (``0.0%`` empty in many columns), not restatements.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from finmatch_agents.ids import ID

APPENDIX_HEADING = "## Appendix — Evidence & provenance"
_WORD = re.compile(r"[^\W_](?:[\w.,%'’×+\-/]*[\w%×])?")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIGURE = re.compile(
    r"(?<![\w.\\])[+\-−]?(?:(?:USD|EUR|GBP|CHF|JPY|[$€£])\s?)?"
    r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+)(?!\d)"
    r"(?:\s?(?:%|pp\b|[kMB]\b|×))?")


@dataclass(frozen=True)
class Readability:
    words: int  # every word of the body, folded parts included
    visible_words: int  # the words shown without unfolding a <details>
    longest_line: int
    repeats: tuple[tuple[str, int], ...]  # figures written more than once in sentences, most first

    @property
    def max_repeat(self) -> int:
        return self.repeats[0][1] if self.repeats else 1


def body(report: str) -> str:
    """The report between its front matter and the appendix."""
    text = report.split("\n---\n", 1)[1] if report.startswith("---\n") else report
    return text.split(APPENDIX_HEADING)[0]


def _lines_outside_code(text: str, *, folded: bool = True) -> list[str]:
    """Lines outside code blocks; ``folded=False`` leaves out what ``<details>`` folds away (its ``<summary>``
    shows, so it stays)."""
    out, fenced, depth = [], False, 0
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        visible = folded or depth == 0 or "<summary>" in line
        depth += line.count("<details>") - line.count("</details>")
        if visible:
            out.append(line)
    return out


def _plain(line: str) -> str:
    return _TAG.sub(" ", _LINK_TARGET.sub("]", line))


#: the level of an interval ("95% CI") is a convention, not a figure from the data
_CONFIDENCE = re.compile(r"(?<![\d.])95% (?=CI\b|interval\b|confidence\b)")


def figures(line: str) -> list[str]:
    text = _CONFIDENCE.sub(" ", _DATE.sub(" ", ID.sub(" ", _plain(line))))
    found = []
    for m in _FIGURE.finditer(text):
        raw = m.group(0).replace("−", "-")
        bare = raw.lstrip("+-")
        if bare.isdigit() and int(bare) < 100:
            continue
        found.append(raw)
    return found


def measure(report: str) -> Readability:
    """Words, repeated figures and the longest line of a report's body (lines of the whole report)."""
    part = _lines_outside_code(body(report))
    words = sum(len(_WORD.findall(_plain(line))) for line in part)
    visible = sum(len(_WORD.findall(_plain(line))) for line in _lines_outside_code(body(report), folded=False))
    counts = Counter(f for line in part if not line.lstrip().startswith("|") for f in figures(line))
    repeats = tuple(sorted(((f, n) for f, n in counts.items() if n > 1), key=lambda x: (-x[1], x[0])))
    longest = max((len(line) for line in _lines_outside_code(report)), default=0)
    return Readability(words=words, visible_words=visible, longest_line=longest, repeats=repeats)
