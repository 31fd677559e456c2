"""The shared space where customers and products meet, and the two distances of 003.

Each dimension pairs a product attribute (0-1, :mod:`features.products`) with the customer's *target* for
it: the value the customer's metrics say the product should have.

| dimension  | product attribute  | active target               | passive target |
|------------|--------------------|-----------------------------|----------------|
| risk       | risk to customer   | risk appetite               | 0 (low risk)   |
| complexity | complexity         | financial acumen            | acumen         |
| revenue    | revenue potential  | profit (customer's value)   | profit         |
| retention  | lock-in            | 1 − churn (expected tenure) | 1 (retain)     |
| value      | customer value     | 1 (the most value)          | 1              |
| bank_risk  | risk to bank       | 0 (the least risk)          | 0              |

*Active* mode ranks by the Mahalanobis distance between target and product, with the covariance of the
catalogue's attributes (Ledoit-Wolf shrunk, so a small catalogue is still invertible); a weight w scales
a dimension's difference by sqrt(w). *Passive* mode (customers likely to leave) ranks by the weighted
vector distance sqrt(sum w_k (t_k - p_k)^2 / var_k), with retention and low risk weighted up and revenue
down. A weight of 0 removes a dimension (the customer-interest-only ranking zeroes revenue and bank risk).
A customer whose target is unknown on a dimension is matched on the others (the covariance restricted to
the dimensions known), never with a made-up value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from finmatch_agents.errors import DataError
from finmatch_agents.features.products import ATTRIBUTE_BY_NAME, Catalogue
from finmatch_agents.match.params import DIMS
from finmatch_agents.match.shrinkage import ledoit_wolf

if TYPE_CHECKING:
    from finmatch_agents.features.build import CustomerFeatures

#: dimension -> (active target, passive target): a feature name, "commitment" (1 - churn) or a constant
TARGETS: dict[str, tuple[str | float, str | float]] = {
    "risk": ("risk_appetite", 0.0),
    "complexity": ("financial_acumen", "financial_acumen"),
    "revenue": ("profit", "profit"),
    "retention": ("commitment", 1.0),
    "value": (1.0, 1.0),
    "bank_risk": (0.0, 0.0),
}
MAX_CONDITION = 1e10
#: the least shrinkage when the catalogue's covariance is singular (fewer independent products than dims)
MIN_SHRINKAGE_SINGULAR = 0.1


@dataclass
class Space:
    dims: tuple[str, ...]  # dimensions used (catalogue attribute present and not constant)
    dropped: dict[str, str]  # dimension -> why it is not used
    positions: np.ndarray  # products x dims
    cov: np.ndarray  # dims x dims, shrunk
    shrinkage: float
    rank: int  # rank of the catalogue's sample covariance before shrinkage
    condition: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"dims": list(self.dims), "dropped": self.dropped, "shrinkage": self.shrinkage, "rank": self.rank,
                "condition_number": self.condition, "covariance": self.cov.round(6).tolist(), "notes": self.notes}


def build_space(catalogue: Catalogue) -> Space:
    """Choose the dimensions the catalogue can separate and estimate their covariance."""
    dropped: dict[str, str] = {}
    dims: list[str] = []
    for dim in DIMS:
        column = ATTRIBUTE_BY_NAME[dim].column
        if dim not in catalogue.attrs:
            dropped[dim] = catalogue.absent.get(dim, f"{column} absent")
        elif catalogue.m > 1 and float(np.ptp(catalogue.attrs[dim])) == 0.0:
            dropped[dim] = f"{column} is the same for every product ({catalogue.raw[column][0]:g}): it cannot " \
                           "separate products"
        else:
            dims.append(dim)
    notes = [f"{dim} left out of the distance: {why}" for dim, why in dropped.items()]
    if catalogue.m == 1:
        notes.append("one product in the catalogue: there is nothing to rank it against, so the engine only "
                     "applies the suitability gates (no distance)")
        return Space((), dropped, np.zeros((1, 0)), np.zeros((0, 0)), 0.0, 0, 1.0, notes)
    if not dims:
        raise DataError("every matching attribute of the catalogue is absent or constant, so products cannot be "
                        "told apart: " + "; ".join(f"{d}: {w}" for d, w in dropped.items()),
                        hint="the catalogue needs at least one of risk_to_customer, complexity, revenue_potential, "
                             "lock_in_months, customer_value, risk_to_bank that differs between products")
    positions = np.column_stack([catalogue.attrs[d] for d in dims])
    centred = positions - positions.mean(axis=0)
    rank = int(np.linalg.matrix_rank(centred.T @ centred / len(positions)))
    cov, shrinkage = ledoit_wolf(positions)
    if rank < len(dims) and shrinkage < MIN_SHRINKAGE_SINGULAR:
        # too few products for Ledoit-Wolf's own estimate (it can be 0 with two products): pull further towards
        # the scaled identity so the matrix is invertible, and say so
        sample = np.cov(positions.T, bias=True).reshape(len(dims), len(dims))
        mu = float(np.trace(sample)) / len(dims)
        shrinkage = MIN_SHRINKAGE_SINGULAR
        cov = (1 - shrinkage) * sample + shrinkage * mu * np.eye(len(dims))
    eig = np.linalg.eigvalsh(cov)
    condition = float(eig.max() / eig.min()) if eig.min() > 0 else math.inf
    if not math.isfinite(condition) or condition > MAX_CONDITION:
        raise DataError(f"the catalogue covariance is singular even after shrinkage (condition {condition:.3g})")
    if rank < len(dims):
        notes.append(f"the catalogue's attribute covariance has rank {rank} of {len(dims)} (too few or collinear "
                     f"products); Ledoit-Wolf shrinkage {shrinkage:.2f} makes it invertible")
    return Space(tuple(dims), dropped, positions, cov, shrinkage, rank, condition, notes)


def targets(features: CustomerFeatures, space: Space, passive: np.ndarray, rows: slice) -> np.ndarray:
    """Customers (``rows``) x dims targets; NaN where the metric behind a target is unknown."""
    n = len(range(*rows.indices(features.n)))
    out = np.full((n, len(space.dims)), np.nan)
    for k, dim in enumerate(space.dims):
        for mode_is_passive, target in ((False, TARGETS[dim][0]), (True, TARGETS[dim][1])):
            mask = passive[rows] == mode_is_passive
            if isinstance(target, float):
                out[mask, k] = target
            elif target == "commitment":
                if features.has("churn_probability"):
                    out[mask, k] = 1.0 - features.values["churn_probability"][rows][mask]
            elif features.has(target):
                out[mask, k] = features.values[target][rows][mask]
    return out


def distances(t: np.ndarray, space: Space, weights: np.ndarray, *, mahalanobis: bool) -> np.ndarray:
    """Customers x products distances from targets ``t`` (customers x dims) with one weight per dimension:
    Mahalanobis (active) or the weighted vector distance (passive).

    Customers are grouped by which dimensions they use (target known, weight > 0); each group is whitened
    once, so the cost is one small matrix product per group."""
    n, m = len(t), len(space.positions)
    out = np.zeros((n, m))
    if not space.dims or n == 0:
        return out
    use = ~np.isnan(t) & (weights > 0)[None, :]
    codes = use @ (1 << np.arange(len(space.dims)))
    ordered = np.sort(codes)  # its distinct values without np.unique, which loads numpy.ma (start-up)
    for code in ordered[np.r_[True, ordered[1:] != ordered[:-1]]]:
        rows = np.flatnonzero(codes == code)
        idx = np.flatnonzero(use[rows[0]])
        if not len(idx):
            continue
        w = weights[idx]
        sub = space.cov[np.ix_(idx, idx)]
        if mahalanobis:
            root = np.sqrt(w)
            metric = root[:, None] * np.linalg.inv(sub) * root[None, :]
        else:
            metric = np.diag(w / np.diag(sub))
        vals, vecs = np.linalg.eigh((metric + metric.T) / 2)
        whiten = vecs * np.sqrt(np.clip(vals, 0, None))  # x' M x = |x @ whiten|^2
        tw = _project(t[np.ix_(rows, idx)], whiten)
        pw = _project(space.positions[:, idx], whiten)
        d2 = np.zeros((len(rows), m))
        for k in range(len(idx)):  # the squared differences summed dimension by dimension
            d2 += (tw[:, k, None] - pw[None, :, k]) ** 2
        out[rows] = np.sqrt(d2)
    return out


def _project(x: np.ndarray, whiten: np.ndarray) -> np.ndarray:
    """``x @ whiten`` summed term by term in a fixed order, so a customer's distance has the same bits in a
    block of one (``match customer``) as in a block of 25,000 (``match run``); BLAS sums in an order that
    depends on the shape. The dimensions are few (at most six), so the loop costs little."""
    out = np.zeros((len(x), whiten.shape[1]))
    for k in range(whiten.shape[0]):
        out += x[:, k, None] * whiten[None, k, :]
    return out
