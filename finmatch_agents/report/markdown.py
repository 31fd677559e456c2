"""Markdown building blocks with escaping: data values never become markup, HTML or links."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from finmatch_agents.formatting import display, is_number

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md_escape(value: Any) -> str:
    """Render a data value as inert markdown text (one line, no HTML, no links, no emphasis)."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # newlines would break tables and could start new blocks
    text = text.replace("&", "&amp;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def cell(value: Any) -> str:
    """A table cell: numbers readable (thousands separators, at most 4 decimals), text escaped."""
    if value is None or isinstance(value, bool) or is_number(value):
        return display(value)
    return md_escape(value)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` items are 'l' or 'r' (numbers default to right)."""
    rows = [list(r) for r in rows]
    if align is None:
        align = ["r" if rows and all(is_number(r[i]) or r[i] is None for r in rows) else "l"
                 for i in range(len(columns))]
    head = "| " + " | ".join(md_escape(c) for c in columns) + " |"
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    body = ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join([head, rule, *body])
