"""The explanation served one customer at a time (cached blocks, pre-built static parts) is exactly the one the
engine computes for that customer alone: the reference below is the straightforward implementation it replaced."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finmatch_agents.features import spec
from finmatch_agents.features.products import ATTRIBUTES
from finmatch_agents.match.engine import Matcher, positions
from finmatch_agents.match.explain import explain_customer
from finmatch_agents.match.gates import RULE_BY_ID, RULES
from finmatch_agents.match.params import MatchParams, parse_weights
from finmatch_agents.match.space import TARGETS, targets
from tests.match.test_engine import load


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def reference(features: Any, catalogue: Any, params: MatchParams, row: int) -> dict[str, Any]:
    """One customer explained from a block of one, element by element."""
    matcher = Matcher(features, catalogue, params)
    rows = slice(row, row + 1)
    b = matcher.block(rows)
    prefs = matcher.prefs.parts(rows)
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
        why = f"churn {churn:.2f} {'≥' if passive else '<'} high-churn threshold {params.high_churn_threshold:g}"
    t = targets(features, matcher.space, matcher.passive, rows)[0]
    place, cplace = positions(b.order)[0], positions(b.customer_order)[0]
    n_suitable = int(b.n_suitable[0])
    products: list[dict[str, Any]] = []
    for j in range(catalogue.m):
        gates = []
        for rule in RULES:
            if rule.id in matcher.gates.skipped:
                gates.append({"rule": rule.id, "status": "skipped", "reason": matcher.gates.skipped[rule.id]})
                continue
            failed = bool(b.fails[rule.id][0, j])
            gates.append({"rule": rule.id, "status": "fail" if failed else "pass",
                          "reason": matcher.gates.reason(rule.id, row, j) if failed else ""})
        suitable = bool(b.suitable[0, j])
        products.append({
            "product_id": str(catalogue.product_ids[j]), "product_name": str(catalogue.names[j]),
            "product_type": str(catalogue.types[j]),
            "attributes": {a.name: _num(float(catalogue.attrs[a.name][j])) for a in ATTRIBUTES
                           if a.name in catalogue.attrs},
            "gates": gates, "suitable": suitable,
            "failed": [g["rule"] for g in gates if g["status"] == "fail"],
            "distance": float(b.distance[0, j]) if matcher.space.dims else None,
            "customer_interest_distance": float(b.customer_distance[0, j]) if matcher.space.dims else None,
            "preference": {k: float(v[0, j]) for k, v in prefs.items()}, "points": float(b.points[0, j]),
            "shortlisted": suitable and int(place[j]) < min(params.shortlist_size, n_suitable),
            "rank": int(place[j]) + 1 if suitable else None,
            "customer_interest_rank": int(cplace[j]) + 1 if suitable else None,
        })
    ranked = sorted((p for p in products if p["rank"] is not None), key=lambda p: p["rank"])
    offers = ranked[: params.top]
    customer_first = min((p for p in products if p["customer_interest_rank"] is not None),
                         key=lambda p: p["customer_interest_rank"], default=None)
    return {
        "customer_id": str(features.customer_ids[row]),
        "mode": "passive" if passive else "active", "mode_reason": why,
        "metrics": metrics, "features": values,
        "targets": {d: _num(float(v)) for d, v in zip(matcher.space.dims, t, strict=True)},
        "target_rules": {d: {"active": TARGETS[d][0], "passive": TARGETS[d][1]} for d in matcher.space.dims},
        "weights": params.weights_for("passive" if passive else "active"),
        "suitable_products": n_suitable,
        "gate_failures": {r.id: int(b.fails[r.id][0].sum()) for r in RULES if r.id in b.fails},
        "gate_rules": {r.id: {"name": r.name, "rule": r.rule} for r in RULES},
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


@pytest.fixture(scope="module")
def data(match_db: Path):
    return load(match_db)


@pytest.mark.parametrize("params", [MatchParams(), MatchParams(mode="passive", top=5),
                                    MatchParams(weights=parse_weights("revenue=0,bank_risk=2"), shortlist=3)],
                         ids=["auto", "passive-top5", "weights"])
def test_cached_blocks_explain_every_sampled_customer_exactly_as_a_block_of_one(data, params: MatchParams) -> None:
    features, catalogue = data
    cached = Matcher(features, catalogue, params).keep_blocks(chunk=97, rows=features.n)  # odd: edges, a short end
    cached.cache_rows = 300  # and evictions
    plain = Matcher(features, catalogue, params)
    rows = [*range(0, features.n, 37), features.n - 1, 96, 97, 0]  # chunk edges, the last (short) chunk, re-use
    failing = 0
    for row in rows:
        want = reference(features, catalogue, params, row)
        assert explain_customer(features, catalogue, params, row, cached) == want, row
        assert explain_customer(features, catalogue, params, row, plain) == want, row
        failing += sum(bool(p["failed"]) for p in want["products"])
    assert failing > 0  # the sample exercises the gates' reasons
    assert len(cached._cache) * 97 <= max(300, features.n) + 97  # the cache stays within its bound


def test_filled_blocks_are_the_blocks_computed_on_demand(data) -> None:
    features, catalogue = data
    filled = Matcher(features, catalogue, MatchParams()).keep_blocks(chunk=500).fill_blocks()
    assert len(filled._cache) == -(-features.n // 500)
    lazy = Matcher(features, catalogue, MatchParams()).keep_blocks(chunk=500)
    for row in (0, 499, 500, features.n - 1):
        (a, i), (b, k) = filled.block_for(row), lazy.block_for(row)
        assert i == k and np.array_equal(a.distance, b.distance) and np.array_equal(a.order, b.order)
    assert Matcher(features, catalogue, MatchParams()).fill_blocks()._cache == {}  # off unless kept


def test_a_book_larger_than_the_cache_keeps_one_customer_blocks(data) -> None:
    features, catalogue = data
    small = Matcher(features, catalogue, MatchParams()).keep_blocks(rows=features.n - 1)
    assert small.cache_chunk == 0
    b, i = small.block_for(5)
    assert i == 0 and b.distance.shape[0] == 1 and not small._cache


def test_an_answer_can_be_changed_by_its_caller_without_changing_the_next(data) -> None:
    features, catalogue = data
    matcher = Matcher(features, catalogue, MatchParams()).keep_blocks()
    first = explain_customer(features, catalogue, MatchParams(), 3, matcher)
    want = reference(features, catalogue, MatchParams(), 3)
    first["products"][0]["attributes"]["risk"] = -1.0
    first["gate_rules"]["H1"]["name"] = "changed"
    first["target_rules"][next(iter(first["target_rules"]))]["active"] = "changed"
    assert explain_customer(features, catalogue, MatchParams(), 3, matcher) == want
