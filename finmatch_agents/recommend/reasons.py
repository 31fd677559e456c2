"""Why a customer gets a product, in words, from the counts saved with a recommender (numpy only: the serving
path imports this and not the training code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def reason(arrays: dict[str, np.ndarray], kind: str, c: int, slot: int) -> str:
    """Why customer row ``c`` gets the product in ``slot`` of their list, in words (from the saved counts)."""
    j = int(arrays["top"][c, slot])
    b = int(arrays["because"][c, slot])
    names = arrays["product_names"]
    co, pop = arrays["co"], arrays["popularity"]
    if b >= 0 and kind in ("item_cf", "hybrid"):
        return (f"{int(co[b, j]):,} of the {int(pop[b]):,} customers who hold {names[b]} also accepted "
                f"{names[j]} ({co[b, j] / max(pop[b], 1):.0%})")
    seg = int(arrays["segment"][c])
    if kind == "segment_popularity" and seg >= 0 and arrays["segment_sizes"][seg]:
        n_seg = int(arrays["segment_sizes"][seg])
        return (f"accepted by {int(arrays['segment_counts'][seg, j]):,} of the {n_seg:,} customers in the "
                f"{arrays['segment_names'][seg]} segment")
    if kind == "content":
        return f"the content model ranks {arrays['product_types'][j] or names[j]} high for this customer's profile"
    if kind == "match_engine":
        return "the matching engine ranks it first among the suitable products not held"
    base = f"accepted by {int(pop[j]):,} customers ({pop[j] / max(int(arrays['customers_known']), 1):.1%})"
    if kind == "item_cf":  # no product the customer accepted co-occurs with this one: its score is 0
        return f"no product they accepted points here (score 0), so ranked by overall acceptance: {base}"
    if b >= 0:
        base += f"; also {int(co[b, j]):,} of the {int(pop[b]):,} holders of {names[b]}"
    return base
