"""Stage 2: refinement by the customer's own preferences, offline and by documented rules.

A product's preference points for a customer are

    interest_weight x [a stated interest points at the product's type]
  + affinity_weight x the customer's affinity for the type (-1 Low .. +1 High; 0 when never offered)
  + usage_trend_weight x the customer's usage trend for the type (-1 Decreasing .. +1 Increasing; 0 unknown)

Stage 2 re-orders only the stage-1 shortlist (the closest suitable products): by preference points, most
first, then by distance, then by product id. It never brings back a product the gates or the shortlist
left out, so preferences refine suitability, never override it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from finmatch_agents.features.interests import interest_matrix

if TYPE_CHECKING:
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.features.products import Catalogue
    from finmatch_agents.match.params import MatchParams


class Preferences:
    """Preference points for blocks of customers against every product (NaN-free).

    The three inputs depend on the product only through its type, so they are combined once per customer and
    type, and a block just picks the columns of its products' types."""

    def __init__(self, features: CustomerFeatures, catalogue: Catalogue, params: MatchParams) -> None:
        self.f, self.p = features, params
        self.types = sorted({str(t) for t in catalogue.types})
        self.product_type = np.array([self.types.index(str(t)) for t in catalogue.types], dtype=np.int64)
        self.used = [name for name, present in (("interests", features.interests is not None),
                                                ("affinity", features.affinity is not None),
                                                ("usage_trend", features.usage_trend is not None)) if present]
        self.by_type = self._by_type(slice(0, features.n))
        self.points_by_type = (params.interest_weight * self.by_type["interest"]
                               + params.affinity_weight * self.by_type["affinity"]
                               + params.usage_trend_weight * self.by_type["usage_trend"])

    def _by_type(self, rows: slice) -> dict[str, np.ndarray]:
        n = len(range(*rows.indices(self.f.n)))
        position = {t: k for k, t in enumerate(self.f.types)}
        source = np.array([position.get(t, -1) for t in self.types], dtype=np.int64)
        known = source >= 0
        out: dict[str, np.ndarray] = {}
        for name, matrix in (("affinity", self.f.affinity), ("usage_trend", self.f.usage_trend)):
            values = np.zeros((n, len(self.types)))
            if matrix is not None:
                values[:, known] = np.nan_to_num(matrix[rows][:, source[known]])
            out[name] = values
        if self.f.interests is None:
            out["interest"] = np.zeros((n, len(self.types)))
        else:
            out["interest"] = interest_matrix(list(self.f.interests[rows]), self.types).astype(float)
        return out

    def parts(self, rows: slice) -> dict[str, np.ndarray]:
        """The three inputs (customers x products) before weighting."""
        return {k: v[rows][:, self.product_type] for k, v in self.by_type.items()}

    def points(self, rows: slice) -> np.ndarray:
        return self.points_by_type[rows][:, self.product_type]
