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
    money: bool = False

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
        tokens.append(NumberToken(m.group(0).strip(), float(digits) * scale, decimals, scale, suffix in ("%", "pp"),
                                  bool(m.group("currency"))))
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


# -- per-sentence grounding: a number must come from what its own sentence cites ------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\[(*_\"“])")
#: how a written figure relates to the unit of the value behind it; None = a value of unknown unit (a model's
#: own query), which may back any figure
_KIND = {"percent": "rate", "pp": "gap", "times": "times", "count": "plain", "currency": "money",
         "score": "plain", "number": "plain"}


def _numbers_of(cell: Any) -> list[float]:
    values: list[float] = []
    _collect(cell, values, [])
    return [v for v in values if math.isfinite(v)]


def _dates_of(cell: Any) -> list[str]:
    dates: list[str] = []
    _collect(cell, [], dates)
    return dates


def _leaves(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(values, dict):
        return [leaf for k, v in values.items() for leaf in _leaves(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, values)]


Typed = tuple[float, "str | None"]  # (value, kind of figure it backs)


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _typed_extra(item: Any) -> list[Typed]:
    """Run-level values (the assumptions): an assumption's unit says what figure it can back."""
    if isinstance(item, list | tuple):
        return [t for i in item for t in _typed_extra(i)]
    unit = _get(item, "unit") if isinstance(item, dict) or hasattr(item, "unit") else None
    if isinstance(unit, str) and _get(item, "value") is not None:
        kinds = (("rate", "gap") if unit in ("ratio", "probability")  # a ratio threshold is a gap too
                 else ("money",) if unit.startswith("currency") else ("plain",))
        return [(v, kind) for v in _numbers_of(_get(item, "value")) for kind in kinds]
    return [(v, None) for v in _numbers_of(item)]


@dataclass
class _Pool:
    """The numbers one sentence may use, by the kind of figure they back: the values of what it cites, and the
    differences and ratios of two figures it writes itself."""

    kinds: dict[str | None, list[float]]
    rate_diffs: list[float]  # differences of two rates: what a "pp" figure can be
    diffs: list[float]  # differences of two plain values (counts, money)
    ratios: list[float]  # ratios of two positive values of one unit
    dates: set[str]

    def _near(self, pool: list[float], target: float, tol: float) -> bool:
        i = bisect.bisect_left(pool, target - tol)
        return i < len(pool) and pool[i] <= target + tol

    def with_pairs(self, written: list[NumberToken]) -> _Pool:
        """This pool plus the differences and ratios of two figures the sentence writes (and the evidence
        supports): "29.3% against 15.2%, a gap of 14.1 pp, 1.9×"."""
        rates = [t.value / 100 for t in written if t.percent and not t.raw.endswith("pp")]
        plain = [t.value for t in written if not t.percent and not t.raw.endswith(("×", "x"))]
        rate_diffs = sorted({abs(a - b) for i, a in enumerate(rates) for b in rates[i + 1:]})
        # a difference of two counts below 10 would back almost any small number: not accepted as evidence
        diffs = sorted({d for i, a in enumerate(plain) for b in plain[i + 1:] if (d := abs(a - b)) >= 10})
        ratios = sorted({x for group in (rates, plain) for i, a in enumerate(group) for b in group[i + 1:]
                         if a > 0 and b > 0 for x in (a / b, b / a)})
        return _Pool(self.kinds, rate_diffs, diffs, ratios, self.dates)

    def _in(self, kind: str, target: float, tol: float) -> bool:
        return self._near(self.kinds.get(kind, []), target, tol) or self._near(self.kinds.get(None, []), target, tol)

    def supports(self, token: NumberToken) -> bool:
        t, tol = abs(token.value), token.tolerance
        if token.raw.endswith("pp"):  # a difference of rates, in percentage points
            return self._in("gap", t / 100, tol / 100) or self._near(self.rate_diffs, t / 100, tol / 100)
        if token.percent:  # a rate, as a percentage
            return self._in("rate", t / 100, tol / 100)
        if token.raw.endswith(("×", "x")):
            return self._in("times", t, tol) or self._near(self.ratios, t, tol)
        if token.money:
            return self._in("money", t, tol) or self._near(self.diffs, t, tol)
        return self._in("plain", t, tol) or self._near(self.diffs, t, tol)


class Sources:
    """Evidence by id: each query's result sample, each finding's values and the queries it cites, every value
    with the unit its SQL or finding declares. Citing a finding brings in the queries it cites; citing a query
    does not bring in every finding drawn from it (a test or estimate is cited through its finding)."""

    def __init__(self, queries: Iterable[Any], findings: Iterable[Any] = (), extra: Iterable[Any] = ()) -> None:
        self.rows: dict[str, list[list[Typed]]] = {}
        self.labels: dict[str, list[frozenset[str]]] = {}  # per row: its text cells (what names the row)
        self.dates: dict[str, list[str]] = {}
        for q in queries:
            units = _get(q, "units") or {}
            columns = list(_get(q, "columns") or ())
            rows, labels = [], []
            for row in _get(q, "sample") or ():
                typed: list[Typed] = []
                for i, cell in enumerate(row):
                    column = columns[i] if i < len(columns) else None
                    kind = _KIND.get(units[column]) if column in units else None
                    typed += [(v, kind) for v in _numbers_of(cell)]
                rows.append(typed)
                labels.append(frozenset(c for c in row if isinstance(c, str) and len(c) > 2 and not _DATE.match(c)))
            qid = str(_get(q, "id"))
            self.rows[qid], self.labels[qid] = rows, labels
            self.dates[qid] = _dates_of([list(r) for r in _get(q, "sample") or ()])
        self.finding_values: dict[str, list[Typed]] = {}
        self.finding_queries: dict[str, tuple[str, ...]] = {}
        for f in findings:
            units = _get(f, "units") or {}
            fid = str(_get(f, "id"))
            qids = tuple(_get(f, "query_ids") or ())
            self.finding_values[fid] = [(v, _KIND.get(units.get(path, "number")))
                                        for path, leaf in _leaves(_get(f, "values") or {})
                                        for v in _numbers_of(leaf)]
            self.finding_queries[fid] = qids
        self.extra: list[Typed] = _typed_extra(list(extra))
        self.extra_dates = _dates_of(list(extra))
        self._cache: dict[tuple[frozenset[str], frozenset[tuple[str, int]]], _Pool] = {}

    def known(self, ident: str) -> bool:
        return ident in self.rows or ident in self.finding_values

    def _rows_named(self, qid: str, sentence: str) -> list[int]:
        """The rows of a result the sentence is about: those whose text cells it names most (all rows when it
        names none), so a figure from another segment's row does not back a statement about this one."""
        counts = [sum(_names(sentence, label) for label in labels) for labels in self.labels[qid]]
        best = max(counts, default=0)
        if not best:
            return list(range(len(self.rows[qid])))
        return [i for i, n in enumerate(counts) if n == best]  # "A x B" is the row naming both, not every A row

    def pool(self, ids: Iterable[str], sentence: str = "") -> _Pool:
        wanted = frozenset(ids)
        queries = {i for i in wanted if i in self.rows}
        finds = {i for i in wanted if i in self.finding_values}
        queries |= {q for f in finds for q in self.finding_queries[f] if q in self.rows}
        rows = frozenset((q, i) for q in queries for i in self._rows_named(q, sentence))
        # run-level values (the assumptions) back a sentence only when it says it states an assumption
        assumed = "assum" in sentence.lower()
        key = (wanted | ({"<assumptions>"} if assumed else set()), rows)
        if key not in self._cache:
            typed = [v for q, i in sorted(rows) for v in self.rows[q][i]]
            typed += [v for f in sorted(finds) for v in self.finding_values[f]] + (self.extra if assumed else [])
            kinds: dict[str | None, set[float]] = {}
            for value, kind in typed:
                kinds.setdefault(kind, set()).add(abs(value))
            dates = {d for q in queries for d in self.dates[q]} | set(self.extra_dates)
            self._cache[key] = _Pool({k: sorted(v) for k, v in kinds.items()}, [], [], [], dates)
        return self._cache[key]


def _names(sentence: str, label: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(label)}(?!\w)", sentence) is not None


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences; a run of references after a full stop belongs to the sentence before it."""
    parts = [p for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    out: list[str] = []
    for part in parts:
        if out and not ID.sub("", part).strip(" []*_\\.,;"):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def ungrounded_sentences(text: str, sources: Sources, item_ids: Iterable[str] = ()) -> list[str]:
    """Numbers and dates of ``text`` that the evidence its own sentence cites does not support. A sentence cites
    its ``[Qn]``/``[Fn]`` references and the ids given for the whole item; one that cites nothing itself also
    uses the references of the rest of the text."""
    item = set(item_ids)
    whole = {i for i in ID.findall(text) if sources.known(i)}
    missing: list[str] = []
    for sentence in sentences(text):
        own = {i for i in ID.findall(sentence) if sources.known(i)}
        pool = sources.pool(own | item if own else whole | item, sentence)
        numbers, dates = find_numbers(sentence)
        grounded = [t for t in numbers if pool.supports(t)]
        derived = pool.with_pairs(grounded)
        missing += [t.raw for t in numbers if t not in grounded and not derived.supports(t)]
        missing += [d for d in dates if d not in pool.dates]
    return missing
