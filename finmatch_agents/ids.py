"""Query and finding ids: ``Q101``, ``F203``… and the one parser for ``[Qn]`` references in text.

Each producer owns a block of ids so parallel agents number the same on every run: ``prepare`` uses
``Q1``… and each focus agent its own block of :data:`BLOCK_SIZE` (``Q101``–``Q199`` for the first).
"""

from __future__ import annotations

import re

BLOCK_SIZE = 100

#: an id written in text: ``Q12`` or ``F203`` (captures the id)
ID = re.compile(r"\b([QF]\d+)\b")
#: a bracketed reference: ``[Q12]`` (captures the id)
REF = re.compile(r"\[([QF]\d+)\]")
#: a bracketed reference as ``md_escape`` leaves it: ``\[Q12\]``
ESCAPED_REF = re.compile(r"\\\[([QF]\d+)\\\]")


def number(ident: str) -> int:
    """``"Q103"`` -> 103 (sorting ids by number, not text)."""
    digits = ident.lstrip("QF")
    return int(digits) if digits.isdigit() else 0


def in_block(ident: str, block: int) -> bool:
    """Whether an id belongs to the block starting after ``block`` (``Q101``–``Q199`` for block 100)."""
    return block < number(ident) < block + BLOCK_SIZE


def query_refs(text: str) -> list[str]:
    """Query ids cited in ``text`` as ``[Qn]``, in order, each once."""
    return list(dict.fromkeys(i for i in REF.findall(text) if i.startswith("Q")))


def cited_ids(text: str) -> set[str]:
    """Every query or finding id written in ``text`` (bracketed or not)."""
    return set(ID.findall(text))


def strip_query_refs(text: str) -> str:
    """``text`` without its ``[Qn]`` references (a previous run's queries are not in this report)."""
    return re.sub(r"\s*\[Q\d+\]", "", text).strip()


def refs(ids: list[str] | tuple[str, ...]) -> str:
    """``[Q1] [Q2]`` for ids, each once, in order."""
    return " ".join(f"[{i}]" for i in dict.fromkeys(ids))
