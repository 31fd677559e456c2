"""Hybrid search and look-alikes over one index.

``search``: the question's constraints select customers exactly (one statement through the sandbox, compiled
by the semantic layer); the semantic part ranks *all* of them (an exact scan after the filter); each hit says
why it matched. ``like``: the nearest customers to one customer on standardised features and text vectors.
``like_group``: the same against the centre of a seed group, with the look-alike audience size (how many
other customers resemble the group at least as much as its typical member does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import DataError, UsageError
from finmatch_agents.similar.embed import load_embedder
from finmatch_agents.similar.rank import (
    EMBEDDING,
    LEXICAL,
    RANKER_LABELS,
    Lexical,
    Scores,
    intent_scores,
    order,
    vector_scores,
)
from finmatch_agents.similar.text import FIELDS, wording
from finmatch_agents.warehouse.engine import HARD_ROW_CAP

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.semantic.audience import AudienceQuery
    from finmatch_agents.semantic.layer import SemanticLayer
    from finmatch_agents.similar.embed import Embedder
    from finmatch_agents.similar.index import Index
    from finmatch_agents.warehouse.engine import Engine

#: fields whose values are free text that may identify a person (the stated goal is PII in the dictionary): a reason
#: names the field, not its text, unless the caller reveals it (the CLI, whose user can read the data anyway)
PII_FIELDS = frozenset({"goal"})
TEXT_WEIGHT = 0.5  # look-alikes: the text part's weight (the standardised features have the rest)
MAX_REASONS = 3
FORMATS = {"income": "{:,.0f}", "balance": "{:,.0f}", "annual_revenue": "{:,.0f}", "age": "{:.0f}",
           "credit_score": "{:.0f}", "transactions": "{:.0f}", "held_types": "{:.0f}"}


@dataclass
class Hit:
    rank: int
    customer_id: str
    score: float | None
    reasons: list[str]
    values: dict[str, Any] = field(default_factory=dict)  # the constraint columns' values for this customer

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "customer_id": self.customer_id,
                "score": None if self.score is None else round(float(self.score), 4), "reasons": self.reasons,
                "values": self.values}


@dataclass
class Ranker:
    """Which ranker answers, and why (the embedding extra missing is said, never hidden). The embedding
    model is loaded when first needed (:func:`finmatch_agents.similar.embed.preload` starts that early, beside
    the index and the SQL)."""

    name: str
    loaded: Embedder | None = None
    lexical: Lexical | None = None
    note: str | None = None
    threads: int = 1

    @property
    def embedder(self) -> Embedder | None:
        if self.name == EMBEDDING and self.loaded is None:
            self.loaded = load_embedder(self.threads)
        return self.loaded

    @property
    def label(self) -> str:
        return RANKER_LABELS[self.name]


@dataclass
class Audience:
    rows: np.ndarray  # index rows that meet the constraints, ascending
    values: dict[str, np.ndarray]  # profile column -> value per row
    query_id: str | None
    sql: str | None


def select(layer: SemanticLayer, engine: Engine, log: QueryLog, index: Index, q: AudienceQuery) -> Audience:
    """The customers meeting ``q``'s constraints: exactly, through the sandbox (every customer when none)."""
    if not q.constrained:
        return Audience(np.arange(index.n), {}, None, None)
    compiled = layer.compile_audience(q)
    res = engine.query(compiled.sql, log=log, title=f"Customers: {compiled.title}", max_rows=HARD_ROW_CAP,
                       columnar=True)  # type: ignore[call-arg]
    if res.truncated:
        raise DataError(f"more than {HARD_ROW_CAP:,} customers meet the constraints; the search cannot list "
                        "them all", hint="add a constraint")
    arrays = res.arrays or {}
    ids = np.asarray(arrays.get("customer_id", np.array([], dtype=object)))
    rows = index.rows_of(ids.astype(str)) if len(ids) else np.zeros(0, dtype=np.int64)
    values = {c: np.ma.filled(arrays[c].astype(float), np.nan) if np.ma.isMaskedArray(arrays[c])
              and arrays[c].dtype.kind in "fiu" else np.asarray(arrays[c]) for c in compiled.columns}
    return Audience(rows, values, res.id, compiled.sql)


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        number = float(value)
        if np.isnan(number):
            return "unknown"
        return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"
    return str(value)


def constraint_reasons(layer: SemanticLayer, q: AudienceQuery, audience: Audience, k: int) -> tuple[list[str],
                                                                                                    dict[str, Any]]:
    """Why the ``k``-th customer of the audience meets the constraints: its values, and what it holds."""
    model = layer.model
    reasons: list[str] = []
    values: dict[str, Any] = {}
    labels = {model.dimensions[f.dimension].column: model.dimensions[f.dimension].label for f in q.filters}
    labels |= {a.column: a.label for a in model.attributes.values() if a.column in labels}  # a band: the number
    labels |= {model.attributes[r.attribute].column: model.attributes[r.attribute].label for r in q.ranges}
    for col, arr in audience.values.items():
        v = arr[k]
        values[col] = None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v)
        reasons.append(f"{labels.get(col, col)} {_fmt(v)}")
    reasons += [h.echo(model) for h in q.holdings]
    return reasons, values


def semantic_reasons(index: Index, s: Scores, i: int, row: int, reveal: bool = False) -> list[str]:
    """The fields that gave the ``i``-th candidate most of its score, with the value that matched."""
    out = []
    parts = sorted(((float(p[i]), name) for name, p in s.parts.items()), reverse=True)
    for part, name in parts[:MAX_REASONS]:
        if part <= 1e-6:
            break
        f = index.fields[name]
        values = f.of(row)
        if not values:
            continue
        sims = s.best[name]
        best = max(values, key=lambda v: float(sims[f.values.index(v)]))
        shown = best if reveal or name not in PII_FIELDS else "matches"
        out.append(f"{FIELDS[name][0]}: {shown} (+{part:.2f})")
    return out


@dataclass
class SearchResult:
    question: str
    interpretation: str
    constraints: list[str]
    intent: str | None
    ranker: Ranker
    matched: int
    total: int
    hits: list[Hit]
    query_ids: list[str]
    sql: str | None
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "interpretation": self.interpretation, "constraints": self.constraints,
                "intent": self.intent, "ranker": self.ranker.name, "ranker_label": self.ranker.label,
                "matched": self.matched, "customers": self.total, "results": [h.to_dict() for h in self.hits],
                "query_ids": self.query_ids, "sql": self.sql, "notes": self.notes}


def parse(layer: SemanticLayer, question: str) -> AudienceQuery:
    """The question's constraints and semantic part, or a UsageError (exit 2) saying why it was refused."""
    text = question.strip()
    if not text:
        raise UsageError("the question is empty", hint='e.g. finmatch similar "customers with credit score over 750 '
                         'interested in investment products"')
    p = layer.read_audience(text)
    if p.query is None:
        understood = f" (understood: {' · '.join(p.understood)})" if p.understood else ""
        raise UsageError(f"cannot read “{text}”: {p.reason()}{understood}",
                         hint="constraints the semantic model knows (docs/semantic-model.md), and what they might "
                              "want after “interested in”; e.g. “young professionals with good credit interested "
                              "in premium credit cards”")
    return p.query


def search(layer: SemanticLayer, engine: Engine, log: QueryLog, index: Index, ranker: Ranker, question: str,
           top: int, reveal: bool = False, *, audience: tuple[AudienceQuery, Audience] | None = None
           ) -> SearchResult:
    """``audience``: the question already read and its customers already selected (one filter for several
    rankers, as the evaluation does)."""
    first = len(log.records)
    if audience is None:
        q = parse(layer, question)
        chosen = select(layer, engine, log, index, q)
    else:
        q, chosen = audience
    notes = list((ranker.note and [ranker.note]) or [])
    rows = chosen.rows
    if q.intent and len(rows):
        s = _intent_scores(index, ranker, q.intent, rows)
        if ranker.name == LEXICAL and not s.matched_terms:
            notes.append(f"no word of “{q.intent}” occurs in any customer's text: the lexical ranker cannot "
                         "rank them (listed in customer order)")
        picked = order(s.scores, rows, top)
    else:
        s = None
        if not q.intent:
            notes.append("no semantic part (nothing after “interested in …”): customers listed in customer order")
        picked = np.arange(min(top, len(rows)))
    hits = []
    for place, i in enumerate(picked, start=1):
        row = int(rows[i])
        reasons, values = constraint_reasons(layer, q, chosen, int(i))
        if s is not None:
            reasons += semantic_reasons(index, s, int(i), row, reveal)
        hits.append(Hit(place, str(index.customer_ids[row]), float(s.scores[i]) if s is not None else None,
                        reasons, values))
    if q.constrained and not len(rows):
        notes.append("no customer meets the constraints")
    return SearchResult(question, q.echo(layer.model), q.constraints(layer.model), q.intent, ranker, len(rows),
                        index.n, hits, [r.id for r in log.records[first:]], chosen.sql, notes)


def _intent_scores(index: Index, ranker: Ranker, intent: str, rows: np.ndarray) -> Scores:
    if ranker.name == EMBEDDING:
        assert ranker.embedder is not None
        return intent_scores(index, ranker.embedder.embed_query(intent), rows)
    assert ranker.lexical is not None
    return ranker.lexical.scores(intent, rows)


# -- look-alikes ----------------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _numeric_similarity(index: Index, centre: np.ndarray, known: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """exp(−mean squared difference / 2) over the standardised features the seed has (1 = identical)."""
    if not known.any():
        return np.zeros(len(rows))
    diff = index.z[rows][:, known] - centre[known]
    return np.asarray(np.exp(-np.mean(diff.astype(np.float64) ** 2, axis=1) / 2))


def _overlap_similarity(index: Index, seed_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Without embeddings: per field, the share of the seeds with the customer's value (multi-valued: mean over
    the customer's values), weighted like the composed vector over the fields the seeds have."""
    total = np.zeros(len(rows))
    weight = 0.0
    for name, (_label, w) in FIELDS.items():
        f = index.fields.get(name)
        if f is None:
            continue
        if f.member is not None:
            share = f.member[seed_rows].mean(axis=0) if len(seed_rows) else np.zeros(len(f.values))
            if not share.any():
                continue
            m = f.member[rows]
            total += w * (m.astype(np.float64) @ share) / np.maximum(m.sum(axis=1), 1)
        else:
            assert f.ids is not None
            seeds = f.ids[seed_rows]
            seeds = seeds[seeds >= 0]
            if not len(seeds):
                continue
            share = np.bincount(seeds, minlength=len(f.values)) / len(seeds)
            ids = f.ids[rows]
            total += w * np.where(ids >= 0, share[np.maximum(ids, 0)], 0.0)
        weight += w
    return total / weight if weight else total


@dataclass
class LikeResult:
    seed: str
    seed_size: int
    ranker: Ranker
    hits: list[Hit]
    total: int
    candidates: int
    lookalikes: int | None
    threshold: float | None
    query_ids: list[str]
    notes: list[str]
    interpretation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "interpretation": self.interpretation, "seed_size": self.seed_size,
                "ranker": self.ranker.name, "ranker_label": self.ranker.label, "customers": self.total,
                "candidates": self.candidates, "lookalikes": self.lookalikes,
                "threshold": None if self.threshold is None else round(self.threshold, 4),
                "results": [h.to_dict() for h in self.hits], "query_ids": self.query_ids, "notes": self.notes}


def like_rows(index: Index, ranker: Ranker, seed_rows: np.ndarray, candidates: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, numeric part, text part) of each candidate against the seed group's centre."""
    z = index.z[seed_rows]
    known = ~np.isnan(index.raw[seed_rows]).all(axis=0)
    centre = np.array([z[~np.isnan(index.raw[seed_rows][:, j]), j].mean() if known[j] else 0.0
                       for j in range(z.shape[1])], dtype=np.float64)
    numeric = _numeric_similarity(index, centre, known, candidates)
    if ranker.name == EMBEDDING and index.norms is not None:
        seeds = index.composed(seed_rows)
        norms = np.linalg.norm(seeds, axis=1, keepdims=True)
        q = _unit((seeds / np.where(norms > 0, norms, 1.0)).mean(axis=0))
        text = vector_scores(index, q.astype(np.float32), candidates).scores
    else:
        text = _overlap_similarity(index, seed_rows, candidates)
    score = TEXT_WEIGHT * text + (1 - TEXT_WEIGHT) * numeric
    return score, numeric, text


def like_reasons(index: Index, seed_rows: np.ndarray, row: int, reveal: bool = False) -> list[str]:
    """The features closest to the seed's (values side by side) and the text values they share."""
    out = []
    seed_raw = index.raw[seed_rows]
    for j, name in enumerate(index.numeric):
        mine = float(index.raw[row, j])
        col = seed_raw[:, j]
        if np.isnan(mine) or np.isnan(col).all():
            continue
        theirs = float(np.nanmean(col))
        if mine == 0 and theirs == 0:
            continue  # "revenue 0 (seed 0)" says little
        gap = abs(float(index.z[row, j]) - float(np.nanmean(index.z[seed_rows, j])))
        out.append((gap, f"{name.replace('_', ' ')} {FORMATS.get(name, '{:.2f}').format(mine)} "
                         f"(seed {FORMATS.get(name, '{:.2f}').format(theirs)})"))
    numeric = [text for _gap, text in sorted(out)[:2]]
    shared = []
    for name, f in index.fields.items():
        mine_values = set(f.of(row))
        common = [v for v in mine_values if any(v in f.of(int(s)) for s in seed_rows[:50])]
        if common and name in PII_FIELDS and not reveal:
            shared.append(f"same {FIELDS[name][0]}")
        elif common:
            shared.append(f"same {FIELDS[name][0]}: {', '.join(sorted(common)[:2])}")
    return numeric + shared[:MAX_REASONS]


def like(index: Index, ranker: Ranker, customer_id: str, top: int, close: list[str] | None = None,
         reveal: bool = False) -> LikeResult:
    row = index.row_of(customer_id)
    if row is None:
        hint = f"did you mean {', '.join(close)}?" if close else None
        raise UsageError(f"customer '{customer_id}' is not in {index.table}", hint=hint)
    seed = np.array([row])
    candidates = np.delete(np.arange(index.n), row)
    score, _numeric, _text = like_rows(index, ranker, seed, candidates)
    picked = order(score, candidates, top)
    hits = [Hit(k, str(index.customer_ids[candidates[i]]), float(score[i]),
                like_reasons(index, seed, int(candidates[i]), reveal)) for k, i in enumerate(picked, start=1)]
    notes = list((ranker.note and [ranker.note]) or [])
    return LikeResult(customer_id, 1, ranker, hits, index.n, len(candidates), None, None, [], notes)


def like_group(index: Index, ranker: Ranker, seed_rows: np.ndarray, top: int, label: str,
               candidates: np.ndarray | None = None, reveal: bool = False) -> LikeResult:
    """Customers most like the seed group, and how many resemble it: a customer outside the group resembles
    it when its score is at least the median score of the group's own members."""
    if not len(seed_rows):
        raise UsageError(f"no customer matches the seed group “{label}”", hint="loosen the seed's constraints")
    outside = np.setdiff1d(np.arange(index.n) if candidates is None else candidates, seed_rows)
    score, _n, _t = like_rows(index, ranker, seed_rows, outside)
    own, _n2, _t2 = like_rows(index, ranker, seed_rows, seed_rows)
    threshold = float(np.median(own))
    picked = order(score, outside, top)
    hits = [Hit(k, str(index.customer_ids[outside[i]]), float(score[i]),
                like_reasons(index, seed_rows, int(outside[i]), reveal)) for k, i in enumerate(picked, start=1)]
    notes = list((ranker.note and [ranker.note]) or [])
    return LikeResult(label, len(seed_rows), ranker, hits, index.n, len(outside), int((score >= threshold).sum()),
                      threshold, [], notes)


def describe_value(field_name: str, value: str) -> str:
    return wording(field_name, value)
