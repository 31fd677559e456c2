"""Charts from chart specs: Mermaid for the markdown report (renders on GitHub and in most editors).

Labels are sanitised; values come from the query the chart cites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finmatch_agents.formatting import is_number

if TYPE_CHECKING:
    from finmatch_agents.records import ChartSpec


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


def mermaid(spec: ChartSpec) -> str:
    """An ``xychart-beta``: bars and/or lines over categories."""
    lines = ["xychart-beta", f'    title "{_label(spec.title)}"',
             "    x-axis [" + ", ".join(f'"{_label(x)}"' for x in spec.labels) + "]"]
    if spec.y_title:
        lines.append(f'    y-axis "{_label(spec.y_title)}"')
    for series in spec.series:
        lines.append(f"    {series.kind} [" + ", ".join(_num(v, spec.digits) for v in series.values) + "]")
    return "\n".join(lines)
