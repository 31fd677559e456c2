"""Number formatting shared by the terminal views and the reports, so a figure reads the same everywhere."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

#: first characters that make a spreadsheet read a cell as a formula (OWASP: CSV injection)
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool) and math.isfinite(float(value))


def display(value: Any) -> str:
    """A raw value for a table cell: numbers with thousands separators and at most 4 decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def fmt_count(value: Any) -> str:
    return f"{round(float(value)):,}" if is_number(value) else "n/a"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A ratio (0.253) as a percentage ("25.3%")."""
    return f"{float(value) * 100:.{digits}f}%" if is_number(value) else "n/a"


def fmt_pp(value: Any, digits: int = 1, *, signed: bool = True) -> str:
    """A difference of ratios in percentage points ("+4.2 pp"; unsigned: "4.2 pp")."""
    if not is_number(value):
        return "n/a"
    v = float(value) * 100
    return f"{v:+.{digits}f} pp" if signed else f"{abs(v):.{digits}f} pp"


def fmt_times(value: Any, digits: int = 1) -> str:
    """A multiple ("2.4×")."""
    return f"{float(value):,.{digits}f}×" if is_number(value) else "n/a"


def fmt_num(value: Any, digits: int = 2) -> str:
    return f"{float(value):,.{digits}f}" if is_number(value) else "n/a"


def fmt_money(value: Any, currency: str = "USD", *, compact: bool = False) -> str:
    if not is_number(value):
        return "n/a"
    v = float(value)
    if compact:
        for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= div:
                return f"{currency} {v / div:,.2f}{suffix}"
        if not v.is_integer():
            return f"{currency} {v:,.2f}"
    return f"{currency} {v:,.0f}"


def fmt_value(value: Any, unit: str, currency: str = "USD") -> str:
    """Format by unit: count, percent (ratio), currency, score, number."""
    if unit == "count":
        return fmt_count(value)
    if unit == "percent":
        return fmt_pct(value)
    if unit == "pp":
        return fmt_pp(value)
    if unit == "times":
        return fmt_times(value)
    if unit == "currency":
        return fmt_money(value, currency, compact=True)
    if unit == "score":
        return fmt_num(value, 3 if is_number(value) and abs(float(value)) < 1 else 2)
    return fmt_num(value)


def sentence_case(text: str) -> str:
    """``text`` with its first letter upper-cased: a sentence may start with a data value ("student")."""
    return text[:1].upper() + text[1:] if text else text


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for values DuckDB returns."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def csv_cell(value: Any) -> Any:
    """``value`` for a CSV cell that is safe to open in a spreadsheet (every CSV writer uses this).

    Per OWASP's CSV-injection guidance, text starting with ``= + - @``, a tab or a carriage return gets a
    leading single quote, so ``=HYPERLINK(...)`` from a customer field stays text. Numbers stay numbers,
    negative ones included, whether they arrive as numbers or as text ("-3.5")."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    text = value if isinstance(value, str) else str(json_default(value))
    if text.startswith(CSV_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_line(values: Sequence[Any]) -> str:
    """One CSV record ending in ``\\n``, every value through :func:`csv_cell`.

    Fields holding a carriage return or a newline are always quoted (Python's csv module only quotes the
    characters of its line terminator, so with ``\\n`` a bare ``\\r`` used to break the file)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([csv_cell(v) for v in values])
    return buffer.getvalue()[:-2] + "\n"
