"""Next best action: per customer, the suitable product with the highest expected value.

expected value = calibrated propensity (the promoted conversion model) × value of one accepted offer.

1. **Suitable products only**: the matching engine's suitability gates (:mod:`finmatch_agents.match.gates`:
   already held, eligibility, affordability, risk, complexity, lock-in) run on the customer feature layer
   exactly as in ``finmatch match``; a product that fails one is never proposed, whatever it would earn.
2. **A propensity for offers not made yet**: the customer's own columns come from their latest record; the
   product's from the catalogue; the offer columns that depend on the product type (affinity, usage and
   their trends) from the customer's latest offer of that type, unknown when they never had one (the model
   handles unknowns as it learnt them). The channel is the customer's latest.
3. **Value of one accepted offer** (``predict/product_value``): the product's median accepted sale × its
   catalogue margin, i.e. the expected annual net revenue of one acceptance (the Financial Impact agent's
   revenue rule); a product never sold takes the median of its type. Without sales amounts or margins the
   value is the catalogue's revenue potential (1–5) and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from finmatch_agents.data import queries
from finmatch_agents.errors import DataError
from finmatch_agents.features import build_customer_features, present_columns
from finmatch_agents.features.build import result_columns
from finmatch_agents.features.products import load_catalogue
from finmatch_agents.match.gates import Gates
from finmatch_agents.match.params import MatchParams
from finmatch_agents.predict.columns import OFFER_COLUMNS
from finmatch_agents.predict.frame import column_values, encode_category, fetch, order_column, require_columns
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict.models import Fitted
    from finmatch_agents.predict.registry import ModelInfo
    from finmatch_agents.warehouse.engine import Engine

#: offer columns taken from the customer's latest offer of the product's type
TYPE_COLUMNS = tuple(c for c in OFFER_COLUMNS if c not in ("product_id", "product_type", "channel"))
BLOCK = 20_000


@dataclass
class Actions:
    customer_ids: np.ndarray
    product_ids: np.ndarray  # catalogue order
    product_types: np.ndarray
    propensity: np.ndarray  # customers x products, NaN where unsuitable
    value: np.ndarray  # per product
    value_unit: str  # currency | revenue potential (1-5)
    top: np.ndarray  # customers x k product indices, -1 = none
    notes: list[str] = field(default_factory=list)
    queries: dict[str, str] = field(default_factory=dict)

    def expected(self) -> np.ndarray:
        return self.propensity * self.value[None, :]

    def table(self) -> pa.Table:
        rows, slots = np.nonzero(self.top >= 0)
        j = self.top[rows, slots]
        return pa.table({
            "customer_id": pa.array(self.customer_ids[rows], pa.string()),
            "record_id": pa.nulls(len(rows), pa.string()),
            "product_id": pa.array(self.product_ids[j], pa.string()),
            "product_type": pa.array(self.product_types[j], pa.string()),
            "score": pa.array(self.propensity[rows, j], pa.float64()),
            "expected_value": pa.array(self.propensity[rows, j] * self.value[j], pa.float64()),
            "rank": pa.array(slots + 1, pa.int32()),
        })

    def summary(self) -> dict[str, Any]:
        first = self.top[:, 0] if self.top.shape[1] else np.zeros(0, np.int64)
        has = first >= 0
        counts: dict[str, int] = {}
        for j in first[has]:
            counts[str(self.product_ids[j])] = counts.get(str(self.product_ids[j]), 0) + 1
        ev = self.expected()[np.arange(len(first))[has], first[has]] if has.any() else np.zeros(0)
        return {"customers": len(first), "with_action": int(has.sum()), "without_suitable_product": int((~has).sum()),
                "mean_expected_value": float(ev.mean()) if len(ev) else None,
                "total_expected_value": float(ev.sum()) if len(ev) else 0.0, "value_unit": self.value_unit,
                "first_products": dict(sorted(counts.items(), key=lambda kv: -kv[1])[:10]), "notes": self.notes}


def _values(engine: Engine, log: QueryLog, table: str, present: set[str], products: str, ids: np.ndarray,
            types: np.ndarray, catalogue: Any, used: dict[str, str]) -> tuple[np.ndarray, str, list[str]]:
    notes: list[str] = []
    res = queries.run(engine, log, "predict/product_value", present=present, table=table, products=products)
    if not isinstance(res, named.Skipped):
        used["predict/product_value"] = res.id
        by_id = {str(r["product_id"]): r["value"] for r in res.dicts()}
        value = np.array([np.nan if by_id.get(str(p)) is None else float(by_id[str(p)]) for p in ids])
        for t in np.unique(types.astype(str)):
            sel = types.astype(str) == t
            known = value[sel][~np.isnan(value[sel])]
            if len(known) and np.isnan(value[sel]).any():
                notes.append(f"{int(np.isnan(value[sel]).sum())} {t} product(s) never sold: valued at the median of "
                             "their type")
                value[sel & np.isnan(value)] = float(np.median(known))
        if np.isnan(value).any():
            notes.append(f"{int(np.isnan(value).sum())} product(s) of types never sold have no value and are not "
                         "proposed")
        return value, "currency", notes
    if catalogue.has("revenue_potential"):
        notes.append(f"value is the catalogue's revenue potential (1–5), not money: {res.reason}")
        return catalogue.raw["revenue_potential"].astype(float), "revenue potential (1-5)", notes
    raise DataError("next best action needs a value per product: sales amounts and margins, or the catalogue's "
                    f"revenue_potential ({res.reason})", column="revenue_potential")


def next_best_actions(engine: Engine, log: QueryLog, table: str, info: ModelInfo, model: Fitted, *,
                      products: str = "products", top: int = 1, high_churn_threshold: float = 0.5,
                      customers: list[str] | None = None, product_type: str | None = None) -> Actions:
    """Rank suitable products by expected value for every customer (or ``customers``), best first."""
    if info.task != "conversion":
        raise DataError(f"next best action needs a conversion model; {info.id} is a {info.task} model")
    present = present_columns(engine, table, products)
    types = {c.name: c.type for c in engine.columns(table)}
    require_columns(info.features, types, info.id)
    catalogue = load_catalogue(engine, log, present, products)
    used: dict[str, str] = {"features/products": catalogue.query_id}
    params = MatchParams(top=1, high_churn_threshold=high_churn_threshold)
    layer = build_customer_features(engine, log, table, present, products=products, customers=customers)
    used.update(layer.queries)
    gates = Gates(layer, catalogue, params)
    features = info.features
    names = [f.name for f in features if f.source == "records"]
    column = order_column(present)
    rows = layer.n
    cols, qid = fetch(engine, log, "predict/customer_rows", present,
                      {"table": table, "column": column, "features": names, "customers": customers}, rows, len(names))
    used["predict/customer_rows"] = qid
    ids = cols.objects("__customer") if len(cols) else np.zeros(0, object)
    if len(ids) != layer.n or (len(ids) and not np.array_equal(ids.astype(str), layer.customer_ids.astype(str))):
        raise DataError("the customer rows and the feature layer disagree on the customers (did the data change?)")
    n, m = len(ids), catalogue.m
    base = np.empty((n, len(features)))
    for j, f in enumerate(features):
        base[:, j] = column_values(cols, f) if len(cols) else np.zeros(0)
    per_type: dict[str, np.ndarray] = {}
    wanted_type = [c for c in TYPE_COLUMNS if c in names]
    if wanted_type and "product_type" in present and n:
        res = queries.run(engine, log, "predict/type_offers", present=present, table=table, column=column,
                          features=wanted_type, customers=customers)
        if not isinstance(res, named.Skipped):
            used["predict/type_offers"] = res.id
            got = result_columns([res])
            t_ids = got.objects("customer_id").astype(str)
            t_types = got.objects("product_type").astype(str)
            rows_of = np.searchsorted(ids.astype(str), t_ids)
            encoded = {f.name: got.floats(f.name) if f.kind == "numeric" else
                       encode_category(got.objects(f.name), f.categories) for f in features if f.name in wanted_type}
            for t in np.unique(t_types):
                sel = t_types == t
                block = np.full((n, len(features)), np.nan)
                for j, f in enumerate(features):
                    if f.name in encoded:
                        block[rows_of[sel], j] = encoded[f.name][sel]
                per_type[t] = block
    value, unit, notes = _values(engine, log, table, present, products, catalogue.product_ids, catalogue.types,
                                 catalogue, used)
    notes += [f"gate {rid} skipped: {why}" for rid, why in gates.skipped.items()]
    wanted_types = {j for j in range(m) if product_type is None or str(catalogue.types[j]).lower() ==
                    product_type.lower()}
    if product_type is not None and not wanted_types:
        raise DataError(f"no product of type '{product_type}' in {products}",
                        hint="types: " + ", ".join(sorted({str(t) for t in catalogue.types})))
    propensity = np.full((n, m), np.nan)
    index = {f.name: j for j, f in enumerate(features)}
    for start in range(0, n, BLOCK):
        rows_sl = slice(start, min(n, start + BLOCK))
        suitable = np.ones((rows_sl.stop - start, m), dtype=bool)
        for rule in gates.applied:
            suitable &= ~gates.fails(rule, rows_sl)
        for j in sorted(wanted_types):
            sel = np.flatnonzero(suitable[:, j]) + start
            if not len(sel) or np.isnan(value[j]):
                continue
            X = base[sel].copy()
            for name, code_of in (("product_id", str(catalogue.product_ids[j])),
                                  ("product_type", str(catalogue.types[j]))):
                if name in index:
                    f = features[index[name]]
                    X[:, index[name]] = encode_category(np.array([code_of], dtype=object), f.categories)[0]
            typed = per_type.get(str(catalogue.types[j]))
            for name in wanted_type:
                k = index[name]
                X[:, k] = typed[sel, k] if typed is not None else np.nan
            propensity[sel, j] = model.predict(X)
    ev = propensity * value[None, :]
    order = np.argsort(np.where(np.isnan(ev), np.inf, -ev), axis=1, kind="stable")[:, :top]
    valid = np.take_along_axis(~np.isnan(ev), order, axis=1)
    top_idx = np.where(valid, order, -1)
    return Actions(customer_ids=ids, product_ids=catalogue.product_ids, product_types=catalogue.types,
                   propensity=propensity, value=value, value_unit=unit, top=top_idx, notes=notes, queries=used)
