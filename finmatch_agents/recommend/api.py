"""What other engines, the agents, the chat and the HTTP API call (stable; documented in docs/recommend.md).

- :func:`recommendations_for` — one customer's next products with scores and reasons, from the promoted
  recommender (or, when none is promoted, the newest trained one, which is then a baseline and says so).
- :func:`record_feedback` — one rating or outcome from the HTTP API, checked and stored like
  ``finmatch recommend feedback``.
- :func:`promoted_summary` — the Performance agent: the promoted recommender's holdout metrics against
  popularity and the bank's score, the gate and provenance; ``None`` when nothing is promoted.

Neither refits anything: the lists were computed at training time. ``recommendations_for`` runs one small
named query (the products the customer holds now) so that a product accepted since training is not offered.
"""

from __future__ import annotations

import difflib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import queries
from finmatch_agents.errors import UsageError
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.recommend import feedback, registry
from finmatch_agents.recommend.common import FEEDBACK_TABLE, GATE_K, NEGATIVE_RATING, POSITIVE_RATING, REQUIRED
from finmatch_agents.recommend.reasons import reason
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.engine import open_engine, require_duckdb

if TYPE_CHECKING:
    from pathlib import Path

    from finmatch_agents.config import Settings
    from finmatch_agents.warehouse.engine import DuckDBEngine


#: recommenders whose arrays a process keeps (the promoted one and the one before it, during a promotion)
ARRAYS_KEPT = 2
_arrays: OrderedDict[str, tuple[tuple[int, int, int], dict[str, np.ndarray], np.ndarray, np.ndarray]] = OrderedDict()
_arrays_lock = threading.Lock()


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


#: state folder -> (registry folder and promotion pointer stamps, the chosen model's file stamp, answer)
_serving: dict[str, tuple[tuple[Any, ...], tuple[int, int, int] | None, tuple[registry.RecommenderInfo, bool]]] = {}


def serving_model(state_dir: Path) -> tuple[registry.RecommenderInfo, bool]:
    """The promoted recommender, else the newest; :class:`UsageError` when none was trained.

    Reading it means parsing every saved recommender's metadata, so the answer is kept while the registry
    folder (a training adds a folder), the promotion pointer and the chosen model's metadata file are the
    same files as when it was read."""
    base = registry.root(state_dir)
    stamp = (_stat(base), _stat(base / registry.PROMOTED))
    with _arrays_lock:
        found = _serving.get(str(state_dir))
    if found is not None and found[0] == stamp and stamp[0] is not None:
        info, is_promoted = found[2]
        if _stat(info.path / registry.META_FILE) == found[1]:
            return info, is_promoted
    chosen = registry.promoted(state_dir)
    answer = (chosen, True) if chosen is not None else None
    if answer is None:
        models = registry.list_models(state_dir)
        if not models:
            raise UsageError(f"no trained recommender in {base}", hint="train one with `finmatch recommend train`")
        answer = (models[0], False)
    with _arrays_lock:
        _serving[str(state_dir)] = (stamp, _stat(answer[0].path / registry.META_FILE), answer)
    return answer


def _served(info: registry.RecommenderInfo) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The recommender's arrays, its customer ids sorted and their rows: read once per process and kept while
    the file is the same one (inode, size, modification time), so a server or a chat session does not read
    every customer's lists again for each answer. A new training is a new folder; a rewritten file, a new key."""
    path = info.path / registry.ARRAYS_FILE
    try:
        st = path.stat()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    key = str(path)
    with _arrays_lock:
        found = _arrays.get(key)
        if found is not None and stamp is not None and found[0] == stamp:
            _arrays.move_to_end(key)
            return found[1], found[2], found[3]
    arrays = info.arrays()  # a missing or unreadable file is its StorageError
    for values in arrays.values():
        values.flags.writeable = False  # shared by every later call: nobody may change them
    ids = arrays["customer_ids"]
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if stamp is not None:
        with _arrays_lock:
            _arrays[key] = (stamp, arrays, sorted_ids, order)
            while len(_arrays) > ARRAYS_KEPT:
                _arrays.popitem(last=False)
    return arrays, sorted_ids, order


def _row_of(sorted_ids: np.ndarray, order: np.ndarray, customer_id: str) -> int | None:
    """The first row of ``customer_id`` in the recommender's arrays (a binary search), or None."""
    i = int(np.searchsorted(sorted_ids, customer_id, side="left"))
    return int(order[i]) if i < len(sorted_ids) and sorted_ids[i] == customer_id else None


def recommendations_for(settings: Settings, engine: DuckDBEngine, log: QueryLog, customer_id: str,
                        top: int) -> dict[str, Any]:
    """The ``top`` products to offer ``customer_id`` next, best first, each with its score and reason."""
    info, is_promoted = serving_model(settings.state_dir)
    arrays, sorted_ids, order = _served(info)
    served = int(arrays["top"].shape[1])
    if top < 1:
        raise UsageError(f"--top {top}: ask for at least one product")
    if top > served:
        raise UsageError(f"--top {top} is more than the {served} products kept per customer by {info.id}",
                         hint=f"use --top {served} or less")
    ids = arrays["customer_ids"]
    row = _row_of(sorted_ids, order, customer_id)
    if row is None:
        close = difflib.get_close_matches(customer_id, ids.tolist(), n=3, cutoff=0.6)
        raise UsageError(f"CUSTOMER: '{customer_id}' is not among the {len(ids):,} customers recommender {info.id} "
                         "was trained on" + (f"; closest: {', '.join(close)}" if close else ""),
                         hint="a customer added since training appears after `finmatch recommend train`")
    c = row
    held_now = _held_now(engine, log, settings.table, customer_id)
    kind = str(info.meta["kind"])
    products: list[dict[str, Any]] = []
    for slot in range(served):
        j = int(arrays["top"][c, slot])
        if j < 0:
            break
        pid = str(arrays["product_ids"][j])
        if pid in held_now["products"]:
            continue  # accepted since training
        products.append({"rank": len(products) + 1, "product_id": pid, "product_name": str(arrays["product_names"][j]),
                         "product_type": str(arrays["product_types"][j]) or None,
                         "score": round(float(arrays["score"][c, slot]), 6), "reason": reason(arrays, kind, c, slot)})
        if len(products) == top:
            break
    ev = info.meta["evaluation"]
    return {"customer_id": customer_id, "model_id": info.id, "model_version": info.meta.get("created_at"),
            "recommender": kind, "label": info.meta.get("label"), "promoted": is_promoted,
            "baseline": info.meta["gate"]["baseline"], "gate": info.meta["gate"]["reason"],
            "products": products, "held_or_answered": sorted(held_now["products"]),
            "trained_on": info.meta.get("table"),
            "data_last_date": ev["data"]["last_date"], "queries": held_now["queries"]}


def _held_now(engine: DuckDBEngine, log: QueryLog, table: str, customer_id: str) -> dict[str, Any]:
    present = {c.name for c in engine.columns(table)} if engine.has_table(table) else set()
    if not set(REQUIRED) <= present:
        return {"products": set(), "queries": {}}
    res = queries.run(engine, log, "recommend/held_now", present=present, table=table, customer=customer_id)
    if isinstance(res, named.Skipped):
        return {"products": set(), "queries": {}}
    held = {str(r["product_id"]) for r in res.dicts()}
    ids = {"recommend/held_now": res.id}
    if engine.has_table(FEEDBACK_TABLE):  # accepted or declined through feedback since training: not offered
        fb = queries.run(engine, log, "recommend/customer_feedback", present=set(), customer=customer_id)
        if not isinstance(fb, named.Skipped):
            ids["recommend/customer_feedback"] = fb.id
            for r in fb.dicts():
                rating, outcome = r["rating"], r["outcome"]
                if outcome in ("accepted", "declined") or (rating is not None and (
                        rating >= POSITIVE_RATING or rating <= NEGATIVE_RATING)):
                    held.add(str(r["product_id"]))
    return {"products": held, "queries": ids}


def promoted_summary(state_dir: Path) -> dict[str, Any] | None:
    """The promoted recommender's test-window metrics against popularity and the bank's score, or None."""
    info = registry.promoted(state_dir)
    if info is None:
        return None
    ev = info.meta["evaluation"]
    test = ev["test"]
    key = f"@{GATE_K}"
    kind = info.kind

    def card(name: str) -> dict[str, Any] | None:
        r = test["recommenders"].get(name)
        if r is None:
            return None
        return {"map": r[key]["positive_customers"]["map"], "precision": r[key]["positive_customers"]["precision"],
                "recall": r[key]["positive_customers"]["recall"], "ndcg": r[key]["positive_customers"]["ndcg"],
                "map_all_customers": r[key]["all_customers"]["map"], "coverage": r[key]["coverage"]}

    return {
        "model_id": info.id, "recommender": kind, "label": info.meta.get("label"),
        "created_at": info.meta.get("created_at"), "table": info.meta.get("table"),
        "fingerprint": info.meta.get("fingerprint"), "k": GATE_K, "windows": ev["windows"],
        "test": {"recommender": card(kind), "popularity": card("popularity"),
                 "segment_popularity": card("segment_popularity"), "bank_score": card("bank_score"),
                 "baseline": test["baseline"],
                 "minus_baseline": test["difference_vs_baseline"].get(kind, {}).get(key, {}).get("map")},
        "on_bank_offers": test.get("on_bank_offers"), "gate": info.meta["gate"]["reason"],
        "verdict": ev["verdict"], "positive_customers": test["positive_customers"], "customers": test["customers"],
    }


def record_feedback(settings: Settings, item: dict[str, Any]) -> dict[str, Any]:
    """One feedback row (``customer_id``, ``product_id``, ``rating`` or ``accepted``, optional ``note``,
    ``model_id`` and ``source``): ids checked against the data, then appended like the CLI's. The read-only
    sandbox is closed before the write opens the database."""
    accepted = item.get("accepted")
    entry = feedback.Entry(str(item["customer_id"]), str(item["product_id"]), item.get("rating"),
                           None if accepted is None else "accepted" if accepted else "declined", item.get("note"))
    feedback.check_entry(entry)
    require_duckdb(settings, "recommend feedback")
    with open_engine(settings) as engine:
        log = QueryLog(sinks=[AuditLog(settings.state_dir / "sql-audit.jsonl", "recommend-feedback")])
        customers, products = feedback.known_ids(engine, log, settings.table)
    feedback.check_ids([entry], customers, products)
    serving = registry.promoted(settings.state_dir)
    return feedback.record(settings.db, [entry], model_id=item.get("model_id") or (serving.id if serving else None),
                           source=str(item.get("source") or "api"))
