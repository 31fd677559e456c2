"""Grounding: is every number in a text backed by a query result of the run?

Numbers are read the way people write them: thousands separators (``1,234``), decimals, percentages and
percentage points (``25.3%`` matches a ratio of 0.2534), compact money (``USD 2.86B``), multiples
(``2.4×``) and ISO dates. A number is grounded when some value in the run's evidence rounds to it at the
precision it was written with. References like ``[Q12]`` are not numbers.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from finmatch_agents.ids import ID

#: the confidence level of an interval ("95% CI") is a convention, not a figure from the data
_CONFIDENCE = re.compile(r"(?<![\d.])95% (?=CI\b|interval\b|confidence\b)")
_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?(?!\d)")
_NUMBER = re.compile(
    r"(?<![\w.\\])"
    r"(?P<currency>(?:USD|EUR|GBP|CHF|JPY|[$€£])\s?)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?!\d|\.\d)"  # not part of 127.0.0.1 or 1.2.3
    r"(?:\s?(?P<suffix>%|pp\b|bn\b|[kKMB]\b|×|x\b))?"
)
_SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "bn": 1e9}


@dataclass(frozen=True)
class NumberToken:
    raw: str
    value: float
    decimals: int
    scale: float
    percent: bool

    @property
    def tolerance(self) -> float:
        return 0.5 * 10 ** (-self.decimals) * self.scale * (1 + 1e-9) + 1e-12


def find_numbers(text: str) -> tuple[list[NumberToken], list[str]]:
    """(numbers, ISO dates) written in ``text``."""
    text = _CONFIDENCE.sub(" ", ID.sub(" ", text))
    dates = [m.group(1) for m in _DATE.finditer(text)]
    text = _DATE.sub(" ", text)
    tokens = []
    for m in _NUMBER.finditer(text):
        digits = m.group("num").replace(",", "")
        suffix = m.group("suffix") or ""
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        scale = _SCALE.get(suffix, 1.0)
        tokens.append(NumberToken(m.group(0).strip(), float(digits) * scale, decimals, scale, suffix in ("%", "pp")))
    return tokens, dates


class Evidence:
    """All numbers and dates the run's queries returned (absolute values, sorted for fast lookup)."""

    def __init__(self, values: Iterable[float], dates: Iterable[str]) -> None:
        self._values = sorted({abs(v) for v in values if math.isfinite(v)})
        self.dates = set(dates)

    @classmethod
    def from_queries(cls, queries: Iterable[Any], extra: Iterable[Any] = ()) -> Evidence:
        """Evidence from query results (records or dicts with a ``sample``) plus ``extra`` values (any JSON)."""
        values: list[float] = []
        dates: list[str] = []
        for item in extra:
            _collect(item, values, dates)
        for q in queries:
            sample = q["sample"] if isinstance(q, dict) else q.sample
            for row in sample:
                for cell in row:
                    _collect(cell, values, dates)
        return cls(values, dates)

    def _near(self, target: float, tolerance: float) -> bool:
        i = bisect.bisect_left(self._values, target - tolerance)
        return i < len(self._values) and self._values[i] <= target + tolerance

    def supports(self, token: NumberToken) -> bool:
        value, tol = abs(token.value), token.tolerance
        if self._near(value, tol):
            return True
        return self._near(value / 100, tol / 100)  # 25.3% or a chart's 25.3 from a ratio of 0.253


def _collect(cell: Any, values: list[float], dates: list[str]) -> None:
    if cell is None or isinstance(cell, bool):
        return
    if isinstance(cell, int | float):
        values.append(float(cell))
        return
    if isinstance(cell, list | tuple):
        for item in cell:
            _collect(item, values, dates)
        return
    if isinstance(cell, dict):
        for item in cell.values():
            _collect(item, values, dates)
        return
    numbers, found = find_numbers(str(cell))
    values.extend(t.value for t in numbers)
    dates.extend(found)


def ungrounded(text: str, evidence: Evidence) -> list[str]:
    """Numbers and dates in ``text`` that no query result supports."""
    numbers, dates = find_numbers(text)
    missing = [t.raw for t in numbers if not evidence.supports(t)]
    missing += [d for d in dates if d not in evidence.dates]
    return missing


UNVERIFIED = "(unverified)"


def mark_unverified(text: str, missing: list[str]) -> str:
    """Mark the first occurrence of each ungrounded number in ``text`` as "(unverified)"."""
    for raw in dict.fromkeys(missing):
        text = re.sub(rf"(?<![\w.]){re.escape(raw)}(?![\w]|\.\d)", f"{raw} {UNVERIFIED}", text, count=1)
    return text
