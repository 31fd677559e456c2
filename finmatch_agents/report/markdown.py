"""Markdown building blocks with escaping: data values never become markup, HTML or links."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from finmatch_agents.formatting import display, is_number
from finmatch_agents.ids import ESCAPED_REF

_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")
_LINE_START = re.compile(r"^([#+\-=])")
_NUMBERED = re.compile(r"^(\d+)([.)])")


def md_escape(value: Any, *, line_start: bool = False) -> str:
    """Render a data value as inert markdown text: one line, no HTML, links, images, emphasis or autolinks.

    ``line_start=True`` also neutralises what only matters at the start of a line (headings, list markers).
    """
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # newlines would break tables and could start new blocks
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    text = text.replace("://", ":\\/\\/").replace("www.", "www\\.")
    if not line_start:
        return text
    return _NUMBERED.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", text))


def code(value: Any) -> str:
    """An inline code span showing ``value`` literally (escapes are not processed inside code spans, so
    ``md_escape`` would show its backslashes): one line, fenced by more backticks than the value contains."""
    text = " ".join(("" if value is None else str(value)).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def prose(text: str, *, line_start: bool = False) -> str:
    """Escape analyst or finding text (plain text by contract) but keep its [Q12] / [F3] references."""
    return ESCAPED_REF.sub(r"[\1]", md_escape(text, line_start=line_start))


def cell(value: Any) -> str:
    """A table cell: numbers readable (thousands separators, at most 4 decimals), text escaped."""
    if value is None or isinstance(value, bool) or is_number(value):
        return display(value)
    return md_escape(value)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, align: Sequence[str] | None = None,
          raw: bool = False) -> str:
    """A GitHub-flavoured markdown table; ``align`` items are 'l' or 'r' (numbers default to right).

    ``raw=True`` means the cells are already markdown (escaped by the caller) and are used as they are.
    """
    rows = [list(r) for r in rows]
    if align is None:
        align = ["r" if rows and all(is_number(r[i]) or r[i] is None for r in rows) else "l"
                 for i in range(len(columns))]
    head = "| " + " | ".join(md_escape(c) for c in columns) + " |"
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    body = ["| " + " | ".join(str(v) if raw else cell(v) for v in r) + " |" for r in rows]
    return "\n".join([head, rule, *body])
