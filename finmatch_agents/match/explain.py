"""Explain one customer: metrics with their inputs, every product's gates, distances and preference, the ranking."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import UsageError
from finmatch_agents.features import spec
from finmatch_agents.features.build import build_customer_features
from finmatch_agents.features.products import Catalogue, load_catalogue
from finmatch_agents.match.engine import Matcher
from finmatch_agents.match.gates import RULE_BY_ID, RULES
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.match.params import MatchParams
    from finmatch_agents.warehouse.engine import Engine


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _places(order: list[int]) -> list[int]:
    """:func:`match.engine.positions` of one customer: each product's 0-based place in ``order``."""
    out = [0] * len(order)
    for k, j in enumerate(order):
        out[j] = k
    return out


def explain_customer(features: CustomerFeatures, catalogue: Catalogue, params: MatchParams,
                     row: int, matcher: Matcher | None = None) -> dict[str, Any]:
    """Everything the engine decided for customer ``row`` of ``features``, as plain data. ``matcher``: one
    already built for these features, catalogue and parameters (``finmatch serve`` keeps one per worker, so
    explaining a customer of the whole book costs one customer's work; with its block cache on, less)."""
    if matcher is None:
        matcher = Matcher(features, catalogue, params)
    b, i = matcher.block_for(row)
    prefs = {k: v[0].tolist() for k, v in matcher.prefs.parts(slice(row, row + 1)).items()}
    passive = bool(matcher.passive[row])
    values = features.row(row)
    metrics = []
    for m in spec.METRICS:
        s = features.status[m.name]
        metrics.append({"metric": m.name, "label": m.label, "value": values.get(m.name), "present": s.present,
                        "reason": s.reason, "inputs": {c: values.get(c) for c in m.inputs},
                        "weights": dict(zip(m.inputs, m.weights, strict=True)) if m.composite else {}})
    churn = values.get("churn_probability")
    if params.mode != "auto":
        why = f"--mode {params.mode}"
    elif churn is None:
        why = "churn unknown: active"
    else:
        op = "≥" if passive else "<"
        why = f"churn {churn:.2f} {op} high-churn threshold {params.high_churn_threshold:g}"
    assert b.targets is not None
    t = b.targets[i].tolist()
    place, cplace = _places(b.order[i].tolist()), _places(b.customer_order[i].tolist())
    n_suitable = int(b.n_suitable[i])
    shortlisted_below = min(params.shortlist_size, n_suitable)
    has_dims = bool(matcher.space.dims)
    distance = b.distance[i].tolist()
    customer_distance = b.customer_distance[i].tolist()
    points = b.points[i].tolist()
    suitable_row = b.suitable[i].tolist()
    skipped = matcher.gates.skipped
    fails = {rid: f[i].tolist() for rid, f in b.fails.items()}
    static = matcher.explain_static()
    products: list[dict[str, Any]] = []
    for j in range(catalogue.m):
        gates = []
        failed_rules = []
        for rule in RULES:
            rid = rule.id
            if rid in skipped:
                gates.append({"rule": rid, "status": "skipped", "reason": skipped[rid]})
            elif fails[rid][j]:
                gates.append({"rule": rid, "status": "fail", "reason": matcher.gates.reason(rid, row, j)})
                failed_rules.append(rid)
            else:
                gates.append({"rule": rid, "status": "pass", "reason": ""})
        suitable = bool(suitable_row[j])
        head = static.products[j]
        products.append({
            "product_id": head["product_id"], "product_name": head["product_name"],
            "product_type": head["product_type"], "attributes": dict(head["attributes"]),
            "gates": gates, "suitable": suitable, "failed": failed_rules,
            "distance": distance[j] if has_dims else None,
            "customer_interest_distance": customer_distance[j] if has_dims else None,
            "preference": {k: v[j] for k, v in prefs.items()}, "points": points[j],
            "shortlisted": suitable and place[j] < shortlisted_below,
            "rank": place[j] + 1 if suitable else None,
            "customer_interest_rank": cplace[j] + 1 if suitable else None,
        })
    ranked = sorted((p for p in products if p["rank"] is not None), key=lambda p: p["rank"])
    offers = ranked[: params.top]
    customer_first = min((p for p in products if p["customer_interest_rank"] is not None),
                         key=lambda p: p["customer_interest_rank"], default=None)
    failing = {r.id: sum(fails[r.id]) for r in RULES if r.id in fails}
    return {
        "customer_id": str(features.customer_ids[row]),
        "mode": "passive" if passive else "active", "mode_reason": why,
        "metrics": metrics, "features": values,
        "targets": {d: None if math.isnan(v) else v for d, v in zip(matcher.space.dims, t, strict=True)},
        "target_rules": {d: dict(r) for d, r in static.target_rules.items()},
        "weights": params.weights_for("passive" if passive else "active"),
        "suitable_products": n_suitable, "gate_failures": failing,
        "gate_rules": {rid: dict(g) for rid, g in static.gate_rules.items()},
        "offers": [{"rank": p["rank"], "product_id": p["product_id"], "product_name": p["product_name"],
                    "distance": p["distance"], "points": p["points"],
                    "customer_interest_rank": p["customer_interest_rank"]} for p in offers],
        "customer_interest_first": customer_first["product_id"] if customer_first else None,
        "bank_weights_change_first": bool(offers and customer_first
                                          and offers[0]["product_id"] != customer_first["product_id"]),
        "products": products,
        "space": matcher.space.to_dict(),
        "notes": [*features.degradations(), *matcher.space.notes,
                  *(f"gate {rid} ({RULE_BY_ID[rid].name}) skipped: {why}"
                    for rid, why in matcher.gates.skipped.items())],
        "queries": features.queries | {"features/products": catalogue.query_id},
    }


def explain_customer_id(engine: Engine, log: QueryLog, table: str, present: set[str], params: MatchParams,
                        customer_id: str, *, products: str = "products", catalogue: Catalogue | None = None
                        ) -> dict[str, Any]:
    """``match customer ID`` as a library call (the CLI and the chat tool): the explanation of
    :func:`explain_customer` for one customer id, with the parameters used. Without ``catalogue`` it is
    loaded and ``params.top`` is capped at its size. An unknown id is a :class:`UsageError` naming close ids."""
    if catalogue is None:
        catalogue = load_catalogue(engine, log, present, products)
        if params.top > catalogue.m:
            params = replace(params, top=catalogue.m, shortlist=None)
    features = build_customer_features(engine, log, table, present, products=products, customers=[customer_id])
    if features.n == 0:
        close = named.run(engine, log, "features/close_ids", present=present, table=table, customer=customer_id)
        ids = [str(r["customer_id"]) for r in close.dicts()] if not isinstance(close, named.Skipped) else []
        raise UsageError(f"customer '{customer_id}' is not in {table}",
                         hint=f"did you mean {', '.join(ids)}?" if ids else None)
    return {**explain_customer(features, catalogue, params, 0), "params": params.to_dict()}


def for_model(detail: dict[str, Any]) -> dict[str, Any]:
    """The explanation cut to what a chat model needs to answer "which product for this customer, and why":
    the offers in order, the metrics, and every product left out with the gates it failed."""
    return {
        "customer_id": detail["customer_id"], "mode": detail["mode"], "mode_reason": detail["mode_reason"],
        "metrics": {m["metric"]: m["value"] if m["present"] else f"absent: {m['reason']}" for m in detail["metrics"]},
        "suitable_products": detail["suitable_products"],
        "offers": detail["offers"],
        "customer_interest_first": detail["customer_interest_first"],
        "bank_weights_change_first": detail["bank_weights_change_first"],
        "unsuitable": [{"product_id": p["product_id"], "product_name": p["product_name"],
                        "failed": [f"{g['rule']} {g['reason']}" for g in p["gates"] if g["status"] == "fail"]}
                       for p in detail["products"] if not p["suitable"]],
        "gate_rules": {rid: g["name"] for rid, g in detail["gate_rules"].items()},
        "notes": detail["notes"],
    }
