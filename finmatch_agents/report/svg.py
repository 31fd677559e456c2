"""Charts from chart specs as inline SVG for the HTML report, drawn with matplotlib (the ``charts`` extra).

The SVG is static (no script), scales with the page (``viewBox``, no fixed size), has a ``<title>`` for
screen readers, and marks each drawn datum with an id (``fm-bar-<series>-<i>``, ``fm-line-<series>``) so a
test can check the chart holds its data. Output is deterministic (fixed hash salt, no date). Without
matplotlib, :func:`chart_svg` returns None and the page shows the chart's numbers as a table instead.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from html import escape
from typing import TYPE_CHECKING, Any

from finmatch_agents.formatting import fmt_money

if TYPE_CHECKING:
    from finmatch_agents.records import ChartSpec

BAR, LINES = "#2f6690", ("#d1495b", "#7a7a7a", "#3a7d44")
_HEAD = re.compile(r"^.*?(<svg\b)", re.S)
_SIZE = re.compile(r'(<svg\b[^>]*?)\s(?:width|height)="[^"]*"')
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def charts_available() -> bool:
    try:
        import matplotlib  # noqa: F401  (optional extra; imported where a chart is drawn: start-up speed)
    except ImportError:
        return False
    return True


def value_text(value: float | None, spec: ChartSpec, currency: str, digits: int | None = None) -> str:
    """A chart value as the chart shows it: ``25.3%``, ``USD 1.33k``, ``0.84`` (``digits`` for axis ticks)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    digits = spec.digits if digits is None else digits
    if spec.y_title == "percent":
        return f"{value:.{digits}f}%"
    if spec.y_title == currency:
        return fmt_money(value, currency, compact=True)
    return f"{value:,.{digits}f}"


def _label(text: str, width: int = 16) -> str:
    return "\n".join(textwrap.wrap(" ".join(str(text).split()), width)[:3]) or " "


def chart_svg(spec: ChartSpec, currency: str = "USD") -> str | None:
    """The chart as an ``<svg>`` element, or None when matplotlib is not installed."""
    try:  # the optional `charts` extra; imported here, when a chart is drawn (start-up speed)
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return None
    n = len(spec.labels)
    bars = [s for s in spec.series if s.kind == "bar"]
    lines = [s for s in spec.series if s.kind == "line"]
    rc: dict[str, Any] = {
          "svg.hashsalt": "finmatch", "svg.fonttype": "none", "font.size": 9, "font.family": "sans-serif",
          "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#999999",
          "axes.titlesize": 10, "axes.titleweight": "bold", "axes.titlelocation": "left"}
    with matplotlib.rc_context(rc):  # type: ignore[arg-type]
        fig = Figure(figsize=(7.2, 3.4 if n <= 8 else 3.0))
        ax = fig.subplots()
        xs = list(range(n))
        width = 0.8 / max(1, len(bars))
        for s_i, series in enumerate(bars):
            offset = (s_i - (len(bars) - 1) / 2) * width
            heights = [v if v is not None else 0.0 for v in series.values]
            drawn = ax.bar([x + offset for x in xs], heights, width=width * 0.92, color=BAR if s_i == 0 else LINES[2],
                           label=series.name or None, zorder=2)
            for i, patch in enumerate(drawn.patches):
                if series.values[i] is not None:  # a missing value draws no bar
                    patch.set_gid(f"fm-bar-{s_i}-{i}")
            if n <= 12:
                ax.bar_label(drawn, labels=[value_text(v, spec, currency) if v is not None else "" for v in
                                            series.values], fontsize=7, padding=2, color="#333333")
        for l_i, series in enumerate(lines):
            ys = [v if v is not None else float("nan") for v in series.values]
            (line,) = ax.plot(xs, ys, color=LINES[l_i % len(LINES)], marker="o", markersize=3.5, linewidth=1.8,
                              linestyle="-" if l_i == 0 else "--", label=series.name or None, zorder=3)
            line.set_gid(f"fm-line-{l_i}")
        ax.set_xticks(xs, [_label(x) for x in spec.labels], fontsize=7.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: value_text(v, spec, currency, digits=0)))
        ax.margins(y=0.12)
        ax.grid(axis="y", color="#e5e5e5", zorder=0)
        ax.set_title(" ".join(spec.title.split())[:90])
        if spec.y_title and spec.y_title not in ("percent", currency):
            ax.set_ylabel(spec.y_title)
        if any(s.name for s in spec.series):  # unnamed series: the caption says which is which
            ax.legend(fontsize=7.5, frameon=False, loc="best")
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _HEAD.sub(r"\1", buffer.getvalue(), count=1), count=1)
    svg = _SIZE.sub(r"\1", _SIZE.sub(r"\1", svg, count=1), count=1)
    title = escape(" ".join(spec.title.split()))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{title}" class="chart" ', 1).replace(
        ">", f"><title>{title}</title>", 1)


def chart_data(spec: ChartSpec, currency: str = "USD") -> list[list[Any]]:
    """The chart's numbers as rows (the fallback table): label, then one value per series."""
    return [[label, *(value_text(s.values[i] if i < len(s.values) else None, spec, currency) for s in spec.series)]
            for i, label in enumerate(spec.labels)]
