"""Mermaid charts (render on GitHub and in most editors). Labels are sanitised; values come from queries."""

from __future__ import annotations

from collections.abc import Sequence

from finmatch_agents.formatting import is_number


def _label(text: object) -> str:
    """A label safe inside a Mermaid quoted string (no quotes, brackets, newlines or markup)."""
    cleaned = " ".join(str(text).split())
    for bad, good in (('"', "'"), ("[", "("), ("]", ")"), ("<", "‹"), (">", "›"), ("`", "'"), (";", ","), ("#", "")):
        cleaned = cleaned.replace(bad, good)
    return cleaned[:40]


def _num(value: object, digits: int) -> str:
    if not is_number(value):
        return "0"
    text = f"{float(value):.{digits}f}"  # type: ignore[arg-type]
    return text.rstrip("0").rstrip(".") if "." in text else text


def xy_chart(title: str, labels: Sequence[object], series: Sequence[tuple[str, Sequence[object]]], *,
             y_title: str = "", digits: int = 1) -> str:
    """Bars and/or a line over categories; ``series`` items are ("bar" | "line", values)."""
    lines = ["xychart-beta", f'    title "{_label(title)}"',
             "    x-axis [" + ", ".join(f'"{_label(x)}"' for x in labels) + "]"]
    if y_title:
        lines.append(f'    y-axis "{_label(y_title)}"')
    for kind, values in series:
        lines.append(f"    {kind} [" + ", ".join(_num(v, digits) for v in values) + "]")
    return "\n".join(lines)


def pie_chart(title: str, items: Sequence[tuple[object, object]], *, digits: int = 0) -> str:
    lines = [f"pie title {_label(title)}"]
    lines += [f'    "{_label(label)}" : {_num(value, digits)}' for label, value in items]
    return "\n".join(lines)


def percent_values(values: Sequence[object], digits: int = 1) -> list[float | None]:
    """Ratios (0.253) as percentages (25.3) for charts."""
    return [round(float(v) * 100, digits) if is_number(v) else None for v in values]  # type: ignore[arg-type]
