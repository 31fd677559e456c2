"""Which product types a stated interest points at (stage 2 of matching reads interests through this map).

``customer_product_interests`` is free text ("travel, investing"). An interest counts for a product when it
maps to the product's type here or is the type's own name ("mortgage" -> Mortgage), case-insensitively.
The vocabulary is the one the synthetic generator writes; a bank with other words extends this map.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

INTEREST_TYPES: dict[str, str] = {
    "everyday banking": "Checking",
    "saving": "Savings",
    "travel": "Credit Card",
    "cashback": "Credit Card",
    "car purchase": "Personal Loan",
    "home ownership": "Mortgage",
    "investing": "Investment",
    "retirement": "Investment",
    "family protection": "Insurance",
    "legacy planning": "Wealth Management",
}


def types_for(interest: str) -> set[str]:
    """Product types (as spelled in ``INTEREST_TYPES``, or lower-case type names) one interest points at."""
    word = " ".join(interest.lower().split())
    mapped = INTEREST_TYPES.get(word)
    return {mapped.lower(), word} if mapped else {word}


def interest_matrix(interests: Sequence[str | None], types: Iterable[str]) -> np.ndarray:
    """Boolean (customers x types): does any of the customer's interests point at the type?

    Customers share few distinct interest strings, so each distinct string is parsed once."""
    wanted = [t.lower() for t in types]
    codes: dict[str, int] = {}
    inverse = np.fromiter((codes.setdefault(s or "", len(codes)) for s in interests), dtype=np.int64,
                          count=len(interests))
    rows = np.zeros((len(codes), len(wanted)), dtype=bool)
    for text, u in codes.items():
        pointed = set().union(*(types_for(p) for p in text.split(",") if p.strip())) if text else set()
        rows[u] = [t in pointed for t in wanted]
    return rows[inverse]
