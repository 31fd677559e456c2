"""Time expressions → periods of the time column, resolved against the span of the data.

"in 2025", "Q3 2025", "March", "H1 2025", "last quarter" (the latest quarter present in the data), "the previous
quarter", "last 6 months", "year to date", "since March", "before 2025", "from Q1 to Q3 2025", and comparisons:
"Q3 vs Q2", "2025 compared to 2024", "quarter over quarter". A quarter or month without a year is the latest
one the data reaches (two of them compared share a year). Periods outside the data, and the future, are
errors that say what the data covers; a period the data only partly covers carries a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from finmatch_agents.semantic.query import Period
from finmatch_agents.semantic.text import number

MONTHS = {"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
          "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
          "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
UNITS = ("year", "quarter", "month", "week", "day")
LATEST = ("last", "latest", "this", "current", "recent")
PREVIOUS = ("previous", "prior", "preceding")
FUTURE = ("next", "tomorrow", "future", "forecast", "upcoming", "coming")
COMPARE = {("vs",), ("versus",), ("compared", "to"), ("compared", "with"), ("against",), ("relative", "to"),
           ("over",), ("and",), ("to",)}
OVER = {("year", "over", "year"): "year", ("yoy",): "year", ("quarter", "over", "quarter"): "quarter",
        ("qoq",): "quarter", ("month", "over", "month"): "month", ("mom",): "month"}
TO_DATE = {("year", "to", "date"): "year", ("ytd",): "year", ("quarter", "to", "date"): "quarter",
           ("qtd",): "quarter", ("month", "to", "date"): "month", ("mtd",): "month",
           ("so", "far", "this", "year"): "year"}


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def unit_start(d: date, unit: str) -> date:
    if unit == "year":
        return date(d.year, 1, 1)
    if unit == "quarter":
        return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    if unit == "month":
        return date(d.year, d.month, 1)
    return d - timedelta(days=d.weekday()) if unit == "week" else d


def unit_end(start: date, unit: str) -> date:
    months = {"year": 12, "quarter": 3, "month": 1}.get(unit)
    if months:
        return _add_months(start, months)
    return start + timedelta(days=7 if unit == "week" else 1)


def unit_label(start: date, unit: str) -> str:
    if unit == "year":
        return str(start.year)
    if unit == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    if unit == "half":
        return f"{start.year} H{1 if start.month == 1 else 2}"
    if unit == "month":
        return f"{start.year}-{start.month:02d}"
    return f"week of {start.isoformat()}" if unit == "week" else start.isoformat()


@dataclass
class Atom:
    """One period word group: a unit with a number and maybe a year (``year=None``: the latest one)."""

    unit: str  # year | half | quarter | month | week | day | range
    n: int = 0
    year: int | None = None
    start: date | None = None  # fixed periods (relative expressions, ISO dates)
    end: date | None = None
    label: str = ""

    def resolve(self, year: int) -> Period:
        if self.start is not None and self.end is not None:
            return Period(start=self.start, end=self.end, label=self.label)
        if self.unit == "year":
            start, end = date(year, 1, 1), date(year + 1, 1, 1)
        elif self.unit == "half":
            start = date(year, 1 if self.n == 1 else 7, 1)
            end = _add_months(start, 6)
        elif self.unit == "quarter":
            start = date(year, 3 * (self.n - 1) + 1, 1)
            end = _add_months(start, 3)
        else:
            start = date(year, self.n, 1)
            end = _add_months(start, 1)
        return Period(start=start, end=end, label=unit_label(start, self.unit))

    def fits(self, year: int, last: date) -> bool:
        return self.resolve(year).start <= last


@dataclass
class TimeSpan:
    first: int  # token index
    stop: int  # exclusive
    periods: list[Period] = field(default_factory=list)
    compare: bool = False  # the span itself compares (e.g. "Q3 vs Q2", "year over year"): [later, earlier]
    joined: bool = False  # two periods joined by "and"/"to": a comparison only if the question asks for a change
    range: Period | None = None  # what a joined "from X to Y" / "between X and Y" means when it is not compared
    error: str | None = None


class Calendar:
    def __init__(self, first: date | None, last: date | None) -> None:
        self.first, self.last = first, last

    def _year(self, atom: Atom, *others: Atom) -> int:
        assert self.last is not None
        if atom.year is not None:
            return atom.year
        year = self.last.year
        while year > 1900 and not all(a.fits(year, self.last) for a in (atom, *others) if a.year is None):
            year -= 1
        return year

    def check(self, period: Period) -> Period | str:
        """The period as the data covers it, or why it cannot be answered."""
        assert self.first is not None and self.last is not None
        span = f"the data covers {self.first.isoformat()} to {self.last.isoformat()}"
        if period.start > self.last:
            return f"there is no data for {period.label} ({span})"
        if period.end <= self.first:
            return f"there is no data for {period.label} ({span})"
        notes = []
        if period.start < self.first:
            notes.append(f"from {self.first.isoformat()}")
        if period.end - timedelta(days=1) > self.last:
            notes.append(f"to {self.last.isoformat()}")
        if not notes:
            return period
        return period.model_copy(update={"partial": True, "label": f"{period.label} (data {' '.join(notes)})"})

    # -- reading ---------------------------------------------------------------------------------------------
    def atom(self, w: list[str], i: int) -> tuple[Atom, int] | None:
        """The period atom starting at ``w[i]`` and its length in words."""
        t = w[i]
        nxt = w[i + 1] if i + 1 < len(w) else ""

        def year_at(j: int) -> int | None:
            if j < len(w) and len(w[j]) == 4 and w[j].isdigit() and 1990 <= int(w[j]) <= 2100:
                return int(w[j])
            return None

        def with_year(atom: Atom, length: int) -> tuple[Atom, int]:
            y = year_at(i + length)
            if y is not None:
                atom.year = y
                return atom, length + 1
            if w[i + length: i + length + 1] in (["of"], ["in"]) and year_at(i + length + 1) is not None:
                atom.year = year_at(i + length + 1)
                return atom, length + 2
            return atom, length

        if len(t) == 10 and t[4] == "-" and t[7] == "-":
            d = date.fromisoformat(t)
            return Atom("day", start=d, end=d + timedelta(days=1), label=t), 1
        if len(t) == 7 and t[4] == "-" and t[:4].isdigit() and t[5:].isdigit() and 1 <= int(t[5:]) <= 12:
            return Atom("month", int(t[5:]), int(t[:4])), 1
        if (y := year_at(i)) is not None:
            if len(nxt) == 2 and nxt[0] in "qh" and nxt[1] in "1234":  # "2025 q3"
                unit = "quarter" if nxt[0] == "q" else "half"
                if unit == "half" and nxt[1] not in "12":
                    return None
                return Atom(unit, int(nxt[1]), y), 2
            return Atom("year", year=y), 1
        if len(t) == 2 and t[0] == "q" and t[1] in "1234":
            return with_year(Atom("quarter", int(t[1])), 1)
        if t in ("h1", "h2"):
            return with_year(Atom("half", int(t[1])), 1)
        if t in ORDINALS and nxt == "quarter":
            return with_year(Atom("quarter", ORDINALS[t]), 2)
        if t in ("first", "second", "1st", "2nd") and nxt == "half":
            return with_year(Atom("half", ORDINALS[t]), 2)
        if t in MONTHS and (t != "may" or year_at(i + 1) is not None or (i > 0 and w[i - 1] in ("in", "since"))):
            return with_year(Atom("month", MONTHS[t]), 1)
        return self._relative(w, i)

    def _relative(self, w: list[str], i: int) -> tuple[Atom, int] | None:
        assert self.last is not None
        last = self.last
        t, rest = w[i], w[i + 1:]
        for key, unit in TO_DATE.items():
            if tuple(w[i: i + len(key)]) == key:
                start = unit_start(last, unit)
                end = last + timedelta(days=1)
                return Atom("range", start=start, end=end, label=f"{unit} to date ({start} to {last})"), len(key)
        if t == "most" and rest[:1] == ["recent"]:
            t, rest, extra = "latest", rest[1:], 1
        else:
            extra = 0
        if t in ("last", "past", "latest", "recent") and rest and number(rest[0]) is not None and rest[1:2] \
                and rest[1] in UNITS:
            count = int(number(rest[0]) or 0)
            unit = rest[1]
            end = last + timedelta(days=1)
            if unit == "day":
                start = end - timedelta(days=count)
            elif unit == "week":
                start = end - timedelta(days=7 * count)
            else:
                start = _shift_back(end, count, unit)
            return Atom("range", start=start, end=end,
                        label=f"last {count} {unit}s ({start} to {last})"), 3 + extra
        if t == "past" and rest[:1] == ["year"]:
            end = last + timedelta(days=1)
            start = _shift_back(end, 1, "year")
            return Atom("range", start=start, end=end, label=f"last 12 months ({start} to {last})"), 2
        if t in (*LATEST, *PREVIOUS) and rest[:1] and rest[0] in UNITS[:4]:
            unit = rest[0]
            start = unit_start(last, unit)
            if t in PREVIOUS:
                start = unit_start(start - timedelta(days=1), unit)
            label = unit_label(start, unit)
            return Atom("range", start=start, end=unit_end(start, unit), label=label), 2 + extra
        return None

    def read(self, w: list[str], used: list[bool]) -> list[TimeSpan]:
        """Every time expression in ``w`` (words marked ``used`` are skipped)."""
        spans: list[TimeSpan] = []
        if self.first is None or self.last is None:
            return self._no_dates(w, used)
        i = 0
        while i < len(w):
            if used[i]:
                i += 1
                continue
            span = self._span(w, i)
            if span is None:
                i += 1
                continue
            spans.append(span)
            i = span.stop
        return spans

    def _no_dates(self, w: list[str], used: list[bool]) -> list[TimeSpan]:
        out = []
        for i in range(len(w)):
            if not used[i] and self.atom_shape(w, i):
                out.append(TimeSpan(i, i + 1, error="this data has no dates, so it cannot be cut by period"))
        return out

    def atom_shape(self, w: list[str], i: int) -> bool:
        t = w[i]
        nxt = w[i + 1] if i + 1 < len(w) else ""
        return (t.isdigit() and len(t) == 4 and 1990 <= int(t) <= 2100) or (len(t) == 2 and t[0] in "qh"
                                                                              and t[1] in "1234") \
            or (t in MONTHS and t != "may") or (t in ("last", "this", "previous", "since") and nxt in UNITS) \
            or t in ("ytd", "yoy", "qoq")

    def _span(self, w: list[str], i: int) -> TimeSpan | None:
        assert self.first is not None and self.last is not None
        t = w[i]
        if t in FUTURE and ((i + 1 < len(w) and w[i + 1] in UNITS) or t != "next"):
            stop = i + 2 if t == "next" else i + 1
            return TimeSpan(i, stop, error="the data holds no future: it ends on " + self.last.isoformat())
        for key, unit in OVER.items():
            if tuple(w[i: i + len(key)]) == key:
                start = unit_start(self.last, unit)
                before = unit_start(start - timedelta(days=1), unit)
                cur = Period(start=start, end=unit_end(start, unit), label=unit_label(start, unit))
                base = Period(start=before, end=unit_end(before, unit), label=unit_label(before, unit))
                return self._finish(TimeSpan(i, i + len(key), [cur, base], compare=True))
        prefix = None
        j = i
        if t in ("since", "after", "before", "until", "till", "through", "from", "between"):
            prefix, j = t, i + 1
        elif t == "up" and w[i + 1: i + 2] == ["to"]:
            prefix, j = "until", i + 2
        elif t == "starting" and w[i + 1: i + 2] in (["from"], ["in"]):
            prefix, j = "since", i + 2
        if j >= len(w):
            return None
        first = self.atom(w, j)
        if first is None:
            return None
        atom, length = first
        k = j + length
        second: tuple[Atom, int] | None = None
        joiner: tuple[str, ...] = ()
        for cue in sorted(COMPARE, key=len, reverse=True):
            if tuple(w[k: k + len(cue)]) == cue and k + len(cue) < len(w):
                found = self.atom(w, k + len(cue))
                if found is not None:
                    joiner, second = cue, found
                    break
        if second is not None:
            other, other_len = second
            if atom.year is None and other.year is not None and atom.unit == other.unit:
                atom.year = other.year  # "Q2 to Q3 2025": the year belongs to both
            year = self._year(atom, other)
            p1, p2 = atom.resolve(year), other.resolve(self._year(other, atom) if other.year is None else other.year)
            if p1 == p2 and atom.unit == other.unit == "range" and w[k + len(joiner)] in ("last", "previous"):
                p2 = _previous(p1)  # "this year vs last year": in a comparison, "last" is the one before
            elif p1 == p2:
                return TimeSpan(i, k + len(joiner) + other_len, error=f"both periods are {p1.label}")
            stop = k + len(joiner) + other_len
            if prefix in ("from", "between") or joiner in (("to",), ("and",)):
                ranged = prefix in ("from", "between") or joiner == ("to",)
                return self._finish(TimeSpan(i, stop, [p1, p2], joined=True), ranged=ranged)
            return self._finish(TimeSpan(i, stop, sorted([p1, p2], key=lambda p: p.start, reverse=True),
                                         compare=True))
        period = atom.resolve(self._year(atom))
        span = TimeSpan(i, k, [period])
        if prefix in ("since", "from", "after"):
            start = period.end if prefix == "after" else period.start
            end = self.last + timedelta(days=1)
            word = "after" if prefix == "after" else "since"
            span.periods = [Period(start=start, end=end, label=f"{word} {period.label} ({start} to {self.last})")]
        elif prefix in ("before", "until", "till", "through"):
            end = period.start if prefix == "before" else period.end
            word = "before" if prefix == "before" else "up to"
            span.periods = [Period(start=self.first, end=end,
                                   label=f"{word} {period.label} ({self.first} to {end - timedelta(days=1)})")]
        elif prefix == "between":
            return None
        return self._finish(span)

    def _finish(self, span: TimeSpan, ranged: bool = False) -> TimeSpan:
        checked = []
        for p in span.periods:
            result = self.check(p)
            if isinstance(result, str):
                span.error = result
                return span
            checked.append(result)
        span.periods = checked
        if span.joined and len(checked) == 2:
            earlier, later = sorted(checked, key=lambda p: p.start)
            span.periods = [later, earlier]
            if ranged:
                span.range = self.check(Period(start=earlier.start, end=later.end,  # type: ignore[assignment]
                                               label=f"{earlier.label.split(' (')[0]} to {later.label.split(' (')[0]}"))
        return span


def _previous(period: Period) -> Period:
    """The calendar unit (year, quarter, month) before ``period``, which is one such unit."""
    months = (period.end.year * 12 + period.end.month) - (period.start.year * 12 + period.start.month)
    unit = {12: "year", 3: "quarter", 1: "month"}.get(months, "month")
    start = unit_start(period.start - timedelta(days=1), unit)
    return Period(start=start, end=unit_end(start, unit), label=unit_label(start, unit))


def _shift_back(end: date, count: int, unit: str) -> date:
    """``count`` units before ``end`` (exclusive end), for rolling windows."""
    months = count * {"year": 12, "quarter": 3, "month": 1}[unit]
    total = end.year * 12 + end.month - 1 - months
    day = min(end.day, 28)
    return date(total // 12, total % 12 + 1, day)
