"""Units of figures, and the one way each unit is shown (tables, chat answers, metrics, diffs, reports).

Named SQL declares the unit of each output column (``-- units:`` header); the unit travels with the query
result into findings and tables, so nothing guesses a unit from a column name.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from finmatch_agents.formatting import fmt_count, fmt_money, fmt_num, fmt_pct, fmt_pp, fmt_times, is_number

Unit = Literal["text", "count", "percent", "pp", "times", "currency", "score", "number", "date"]
UNITS: tuple[str, ...] = get_args(Unit)


def format_value(value: Any, unit: str, currency: str = "USD") -> str:
    """A figure in its unit: count, percent (a ratio), pp (a difference of ratios), times, currency, score."""
    if unit in ("text", "date"):
        return "" if value is None else str(value)
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


def format_delta(delta: float, unit: str, currency: str = "USD") -> str:
    """A change of a figure, signed, in its unit (a change of a percentage is in percentage points)."""
    if unit in ("percent", "pp"):
        return fmt_pp(delta)
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    if unit == "count":
        return f"{sign}{fmt_count(abs(delta))}"
    if unit == "times":
        return f"{sign}{abs(delta):,.1f}×"
    if unit == "currency":
        return f"{sign}{fmt_money(abs(delta), currency, compact=True)}"
    return f"{sign}{abs(delta):,.3f}" if unit == "score" else f"{sign}{abs(delta):,.2f}"


def format_relative(rel: float | None) -> str:
    return "n/a" if rel is None else f"{rel * 100:+.1f}%"
