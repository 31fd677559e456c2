"""Markdown building blocks with escaping: data values never become markup, HTML or links."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
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


_REF_OUT = re.compile(r"\[([QF]\d+)\]")


def link_refs(text: str, known: Collection[str]) -> str:
    """``[Q12]`` in already escaped markdown becomes a link to the query's appendix anchor (``#q12``) when the
    run has that query, ``[F203]`` a link to the finding's anchor when the report states that finding; an id
    the run does not have is shown as plain text, never as a link."""

    def repl(m: re.Match[str]) -> str:
        ident = m.group(1)
        if ident in known:
            return f"[{ident}](#{ident.lower()})"
        return ident if ident.startswith("Q") else f"[{ident}]"

    return _REF_OUT.sub(repl, text)


def linked(text: str, known: Collection[str], *, line_start: bool = False) -> str:
    """Analyst or finding text escaped (:func:`prose`) with its query references as links."""
    return link_refs(prose(text, line_start=line_start), known)


def evidence(query_ids: Iterable[str], known: Collection[str]) -> str:
    """``[Q1](#q1) [Q2](#q2)`` for the ids the run has; anything else (e.g. what a model invented) is left out."""
    return " ".join(f"[{q}](#{q.lower()})" for q in dict.fromkeys(query_ids) if _QUERY_ID.match(q) and q in known)


_QUERY_ID = re.compile(r"^Q\d+$")


def html_text(value: Any) -> str:
    """A data value inside raw HTML of a markdown file (``<summary>``): one line, HTML-escaped, where markdown
    is not parsed."""
    text = " ".join(("" if value is None else str(value)).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


#: a report line longer than this (outside code blocks and tables) is wrapped at :data:`WRAP_AT`
MAX_LINE = 400
WRAP_AT = 200
_UNSAFE_START = re.compile(r"^(?:[-+*#>=]|\d+[.)])")
_CONTINUATION = re.compile(r"^(\s*(?:(?:[-*+]|\d+[.)]) |> )?)")


def wrap_line(line: str, width: int = WRAP_AT) -> list[str]:
    """A long paragraph, list item or quote line as several source lines that render the same: continuation
    lines keep the item's indentation (or the quote marker) and never start with a character that would open
    a new block (a list marker, heading, quote or setext underline)."""
    if len(line) <= MAX_LINE or line.lstrip().startswith(("|", "<", "```")):
        return [line]
    lead = _CONTINUATION.match(line).group(1)  # type: ignore[union-attr]
    indent = "> " if lead.strip() == ">" else " " * len(lead)
    words = line[len(lead):].split(" ")
    out: list[str] = []
    current = lead
    for word in words:
        fresh = current in (lead, indent)
        candidate = current + word if fresh else f"{current} {word}"
        if len(candidate) > width and not fresh and not _UNSAFE_START.match(word):
            out.append(current)
            current = indent + word
        else:
            current = candidate
    out.append(current)
    return out


def wrap_lines(lines: Iterable[str]) -> list[str]:
    """:func:`wrap_line` over markdown lines, leaving fenced code as it is."""
    out: list[str] = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        out += [line] if fenced else wrap_line(line)
    return out
