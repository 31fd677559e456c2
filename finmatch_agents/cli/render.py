"""Rich building blocks shared by the terminal views. Data values always render as plain text, never markup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

BAR_WIDTH = 28
_EIGHTHS = " ▏▎▍▌▋▊▉"


def data_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    from rich.table import Table
    from rich.text import Text

    from finmatch_agents.formatting import display, is_number

    view = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        numeric = bool(rows) and all(is_number(r[i]) or r[i] is None for r in rows)
        view.add_column(Text(str(name)), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        view.add_row(*[Text(display(v)) for v in row])
    return view


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar with eighth-block resolution (0 <= fraction <= 1)."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)
