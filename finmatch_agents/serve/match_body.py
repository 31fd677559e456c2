"""The body of ``GET /v1/customers/{id}/matches`` written straight to JSON bytes.

:func:`match.explain.explain_customer` builds the explanation as Python objects (about 1,000 of them for 40
products: eight gate objects per product, the product's attributes, its preference parts); serialising them is
most of what a matches request costs the worker. :class:`MatchBody` writes the same bytes without them: what is
the same for every customer of a matcher (each product's name, type and attributes, a gate that passes or is
skipped, the rules, the space, the notes, the query ids, the parameters) is encoded once, and per request only
the customer's own values are encoded, a row of numbers at a time.

The bytes are exactly those of ``dumps({**explain_customer(...), "params": params.to_dict()})``
(tests/serve/test_match_body.py compares them for every customer of several books, degraded ones included).
A change to the explanation must be made here too; that test fails until it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from finmatch_agents.features import spec
from finmatch_agents.match.gates import RULE_BY_ID, RULES

if TYPE_CHECKING:
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.features.products import Catalogue
    from finmatch_agents.match.engine import Matcher
    from finmatch_agents.match.params import MatchParams

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
TRUE, FALSE, NULL = b"true", b"false", b"null"


def enc(value: Any) -> bytes:
    """One value as the API writes it (``serve.app.dumps`` for the values an explanation holds)."""
    return orjson.dumps(value, option=_OPTS)


def row_of(values: list[Any]) -> list[bytes]:
    """Each number of a flat list of numbers (or nulls) encoded: one call for the row, then split at commas
    (a JSON number never holds one)."""
    return enc(values)[1:-1].split(b",") if values else []


class MatchBody:
    """The matches body for any customer of one matcher (features, catalogue and parameters)."""

    def __init__(self, features: CustomerFeatures, catalogue: Catalogue, params: MatchParams,
                 matcher: Matcher) -> None:
        self.f, self.c, self.p, self.matcher = features, catalogue, params, matcher
        static = matcher.explain_static()
        skipped = matcher.gates.skipped
        self.has_dims = bool(matcher.space.dims)
        self.dims = list(matcher.space.dims)
        self.m = catalogue.m
        # each product's head, up to its gates
        self.heads = [b'{"product_id":' + enc(h["product_id"]) + b',"product_name":' + enc(h["product_name"])
                      + b',"product_type":' + enc(h["product_type"]) + b',"attributes":' + enc(h["attributes"])
                      + b',"gates":[' for h in static.products]
        self.product_ids = [enc(h["product_id"]) for h in static.products]
        self.product_names = [enc(h["product_name"]) for h in static.products]
        # a gate: skipped (the same for every product), passing, or the opening of a failing one
        self.rule_ids = [r.id for r in RULES]
        self.gate_skipped = {rid: enc({"rule": rid, "status": "skipped", "reason": why})
                             for rid, why in skipped.items()}
        self.gate_pass = {rid: enc({"rule": rid, "status": "pass", "reason": ""}) for rid in self.rule_ids}
        self.gate_fail = {rid: b'{"rule":' + enc(rid) + b',"status":"fail","reason":' for rid in self.rule_ids}
        self.failed_id = {rid: enc(rid) for rid in self.rule_ids}
        #: the gates of a product that fails none of them
        self.gate_base = [self.gate_skipped.get(rid) or self.gate_pass[rid] for rid in self.rule_ids]
        self.rule_index = {rid: k for k, rid in enumerate(self.rule_ids)}
        self.all_pass = b",".join(self.gate_base)
        self.failing_rules = [rid for rid in self.rule_ids if rid not in skipped]
        #: each applied rule's product part of its reason, encoded without quotes, per product
        self.product_text = {rid: [enc(matcher.gates.product_text(rid, j))[1:-1] for j in range(catalogue.m)]
                             for rid in self.failing_rules}
        self.pref_names = list(matcher.prefs.parts(slice(0, 0)).keys())
        # a product after its head: one bytes template, filled with the customer's values
        pref = b",".join(enc(name) + b":%b" for name in self.pref_names)
        tail = (b'],"suitable":%b,"failed":%b,"distance":%b,"customer_interest_distance":%b,"preference":{'
                + pref + b'},"points":%b,"shortlisted":%b,"rank":%b,"customer_interest_rank":%b}')
        self.templates = [head.replace(b"%", b"%%") + b"%b" + tail for head in self.heads]
        self.ranks = [str(k + 1).encode() for k in range(catalogue.m)]
        self.weights = {passive: enc(params.weights_for("passive" if passive else "active"))
                        for passive in (False, True)}
        self.metrics = [(m.name, m.inputs, b'{"metric":' + enc(m.name) + b',"label":' + enc(m.label) + b',"value":',
                         b',"present":' + enc(features.status[m.name].present) + b',"reason":'
                         + enc(features.status[m.name].reason) + b',"inputs":',
                         b',"weights":' + enc(dict(zip(m.inputs, m.weights, strict=True)) if m.composite else {})
                         + b"}") for m in spec.METRICS]
        notes = [*features.degradations(), *matcher.space.notes,
                 *(f"gate {rid} ({RULE_BY_ID[rid].name}) skipped: {why}" for rid, why in skipped.items())]
        self.tail = (b'],"space":' + enc(matcher.space.to_dict()) + b',"notes":' + enc(notes)
                     + b',"queries":' + enc(features.queries | {"features/products": catalogue.query_id})
                     + b',"params":' + enc(params.to_dict()) + b"}")
        self.target_rules = enc({d: dict(r) for d, r in static.target_rules.items()})
        self.gate_rules = enc({rid: dict(g) for rid, g in static.gate_rules.items()})
        self.high_churn = params.high_churn_threshold
        self.shortlist = params.shortlist_size
        self.top = params.top

    def body(self, row: int) -> bytes:
        """The JSON body for customer ``row`` of the features."""
        f, matcher, p = self.f, self.matcher, self.p
        b, i = matcher.block_for(row)
        passive = bool(matcher.passive[row])
        values = f.row(row)
        churn = values.get("churn_probability")
        if p.mode != "auto":
            why = f"--mode {p.mode}"
        elif churn is None:
            why = "churn unknown: active"
        else:
            why = f"churn {churn:.2f} {'≥' if passive else '<'} high-churn threshold {self.high_churn:g}"
        out = [b'{"customer_id":', enc(str(f.customer_ids[row])), b',"mode":',
               b'"passive"' if passive else b'"active"', b',"mode_reason":', enc(why), b',"metrics":[']
        for k, (name, inputs, head, middle, end) in enumerate(self.metrics):
            if k:
                out.append(b",")
            out += (head, enc(values.get(name)), middle, enc({c: values.get(c) for c in inputs}), end)
        assert b.targets is not None
        targets = b.targets[i].tolist()
        out += (b'],"features":', enc(values), b',"targets":',
                enc({d: None if v != v else v for d, v in zip(self.dims, targets, strict=True)}),
                b',"target_rules":', self.target_rules, b',"weights":', self.weights[passive])
        # the products: each product's place, rank, numbers and gates
        m = self.m
        order, corder = b.order[i].tolist(), b.customer_order[i].tolist()
        place, cplace = [0] * m, [0] * m
        for k, j in enumerate(order):
            place[j] = k
        for k, j in enumerate(corder):
            cplace[j] = k
        n_suitable = int(b.n_suitable[i])
        below = min(self.shortlist, n_suitable)
        suitable = b.suitable[i].tolist()
        distance_values = b.distance[i].tolist()
        points_values = b.points[i].tolist()
        points = row_of(points_values)
        if self.has_dims:
            distance, cdistance = row_of(distance_values), row_of(b.customer_distance[i].tolist())
        else:
            distance = cdistance = [NULL] * m
        parts = matcher.prefs.parts(slice(row, row + 1))
        prefs = [row_of(parts[name][0].tolist()) for name in self.pref_names]
        fails = {rid: b.fails[rid][i] for rid in self.failing_rules}
        failing_j = {rid: fails[rid].nonzero()[0].tolist() for rid in self.failing_rules}
        failed_at: dict[int, list[str]] = {}
        for rid in self.failing_rules:
            for j in failing_j[rid]:
                failed_at.setdefault(j, []).append(rid)
        gates = matcher.gates
        gate_bytes = [self.all_pass] * m
        failed = [b"[]"] * m
        if failed_at:
            texts = {rid: gates.customer_text(rid, row) for rid in self.failing_rules if failing_j[rid]}
            reasons = {rid: (self.gate_fail[rid] + b'"' + enc(before)[1:-1], enc(after)[1:-1] + b'"}')
                       for rid, (before, after) in texts.items()}
            for j, rules in failed_at.items():
                pieces = list(self.gate_base)
                for rid in rules:
                    head, tail = reasons[rid]
                    pieces[self.rule_index[rid]] = head + self.product_text[rid][j] + tail
                gate_bytes[j] = b",".join(pieces)
                failed[j] = b"[" + b",".join(self.failed_id[rid] for rid in rules) + b"]"
        ranks = self.ranks
        flags = [TRUE if ok else FALSE for ok in suitable]
        short = [TRUE if ok and place[j] < below else FALSE for j, ok in enumerate(suitable)]
        rank = [ranks[place[j]] if ok else NULL for j, ok in enumerate(suitable)]
        crank = [ranks[cplace[j]] if ok else NULL for j, ok in enumerate(suitable)]
        columns = (gate_bytes, flags, failed, distance, cdistance, *prefs, points, short, rank, crank)
        products = b",".join([t % values for t, values in zip(self.templates, zip(*columns, strict=True),
                                                             strict=True)])
        # the offers: the suitable products in rank order, the first ``top``
        offers = []
        for k, j in enumerate(order[: min(self.top, n_suitable)]):
            offers.append(b'{"rank":' + str(k + 1).encode() + b',"product_id":' + self.product_ids[j]
                          + b',"product_name":' + self.product_names[j] + b',"distance":' + distance[j]
                          + b',"points":' + points[j] + b',"customer_interest_rank":'
                          + str(cplace[j] + 1).encode() + b"}")
        first = corder[0] if n_suitable else None
        changed = bool(offers) and first is not None and self.product_ids[order[0]] != self.product_ids[first]
        out += (b',"suitable_products":', str(n_suitable).encode(), b',"gate_failures":',
                enc({rid: len(failing_j[rid]) for rid in self.failing_rules}), b',"gate_rules":', self.gate_rules,
                b',"offers":[', b",".join(offers), b'],"customer_interest_first":',
                self.product_ids[first] if first is not None else NULL, b',"bank_weights_change_first":',
                TRUE if changed else FALSE, b',"products":[', products, self.tail)
        return b"".join(out)
