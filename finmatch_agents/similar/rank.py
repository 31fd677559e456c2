"""The two rankers of the semantic part, both an exact scan of the customers that met the constraints.

* **embedding** — fielded: the intent's all-MiniLM-L6-v2 vector against every distinct value of every field
  (cosine), and a customer's score is the weighted sum over fields (weights of :data:`FIELDS`) of its value's
  cosine — for a multi-valued field the best of its values (max pooling: a customer with one interest that
  matches is as relevant as one with only that interest). Scoring is a few hundred dot products (one per
  distinct value) and a gather per customer, so no approximate index is needed and no row is lost. (The first
  version scored the cosine with the customer's composed vector — fields' mean vectors summed and normalised;
  it ranked lower on the development set, docs/similar.md, and is kept for look-alikes: :func:`vector_scores`.)
* **lexical** — Okapi BM25 (k1 = 1.2, b = 0.75) over the same fields' words (lower case, stop words out, a
  light stemmer), with document frequencies over the whole book. It is the fallback when the embedding extra
  is not installed, and the baseline the evaluation compares with.

Each returns the score of every candidate and, per field, its part of the score (the reasons).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from finmatch_agents.similar.text import FIELDS, tokens

if TYPE_CHECKING:
    from finmatch_agents.similar.embed import Embedder
    from finmatch_agents.similar.index import Index

EMBEDDING, LEXICAL = "embedding", "lexical"
RANKER_LABELS = {EMBEDDING: "embedding (all-MiniLM-L6-v2, int8 ONNX)", LEXICAL: "lexical (BM25)"}
K1, B = 1.2, 0.75


@dataclass
class Scores:
    scores: np.ndarray  # float64, one per candidate row
    parts: dict[str, np.ndarray]  # field -> its part of each candidate's score
    best: dict[str, np.ndarray]  # field -> per value: how well it matches (to name the matching value)
    matched_terms: list[str] | None = None  # lexical: query words found in some customer's text


def embedding_scores(index: Index, embedder: Embedder, intent: str, rows: np.ndarray) -> Scores:
    return intent_scores(index, embedder.embed_query(intent), rows)


def intent_scores(index: Index, q: np.ndarray, rows: np.ndarray) -> Scores:
    """Fielded similarity of ``q`` (a unit vector) to each candidate: sum over fields of weight x the cosine of
    the customer's value (a multi-valued field: its best value; no value: 0)."""
    parts: dict[str, np.ndarray] = {}
    best: dict[str, np.ndarray] = {}
    total = np.zeros(len(rows), dtype=np.float64)
    for name, (_label, weight) in FIELDS.items():
        if name not in index.vectors:
            continue
        sims = index.vectors[name] @ q
        best[name] = sims
        part = weight * index.field_best(name, sims, rows).astype(np.float64)
        parts[name] = part
        total += part
    return Scores(total, parts, best)


def vector_scores(index: Index, q: np.ndarray, rows: np.ndarray) -> Scores:
    """Cosine of ``q`` (a unit vector) with each candidate's composed vector (look-alikes: ``q`` is a seed
    group's centre in the same space)."""
    assert index.norms is not None
    norms = index.norms[rows]
    parts: dict[str, np.ndarray] = {}
    best: dict[str, np.ndarray] = {}
    total = np.zeros(len(rows), dtype=np.float64)
    safe = np.where(norms > 0, norms, 1.0)
    for name, (_label, weight) in FIELDS.items():
        if name not in index.vectors:
            continue
        sims = index.vectors[name] @ q
        best[name] = sims
        part = weight * index.field_scores(name, sims, rows) / safe
        parts[name] = part
        total += part
    return Scores(np.where(norms > 0, total, 0.0), parts, best)


class Lexical:
    """BM25 statistics of an index: token counts per distinct value, customers' document lengths, and the
    document frequency of every token of the book (computed once, so a query reads only its candidates)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.tokens = {name: [tokens(t) for t in f.texts] for name, f in index.fields.items()}
        lengths = np.zeros(index.n, dtype=np.float64)
        every = np.arange(index.n)
        for name in index.fields:
            per_value = np.array([len(t) for t in self.tokens[name]], dtype=np.float64)
            f = index.fields[name]
            if f.member is not None:
                lengths += f.member.astype(np.float64) @ per_value if len(per_value) else 0.0
            else:
                lengths += index.field_scores(name, per_value, every) if len(per_value) else 0.0
        self.lengths = lengths
        self.avg = float(lengths.mean()) if index.n else 0.0
        self.df: dict[str, int] = {}
        for term in sorted({t for toks in self.tokens.values() for value in toks for t in value}):
            has = np.zeros(index.n, dtype=bool)
            for name, f in index.fields.items():
                with_term = np.array([term in value for value in self.tokens[name]], dtype=bool)
                if not with_term.any():
                    continue
                if f.member is not None:
                    has |= f.member[:, with_term].any(axis=1)
                else:
                    assert f.ids is not None
                    has |= (f.ids >= 0) & with_term[np.maximum(f.ids, 0)]
            self.df[term] = int(has.sum())

    def scores(self, intent: str, rows: np.ndarray) -> Scores:
        index = self.index
        terms = list(dict.fromkeys(tokens(intent)))
        tf = np.zeros((len(rows), len(terms)), dtype=np.float64)
        per_field: dict[str, np.ndarray] = {}
        field_tf: dict[str, np.ndarray] = {}
        for name, f in index.fields.items():
            counts = np.array([[toks.count(t) for t in terms] for toks in self.tokens[name]],
                              dtype=np.float64).reshape(len(f.values), len(terms))
            per_field[name] = counts
            if f.member is not None:
                got = f.member[rows].astype(np.float64) @ counts
            else:
                assert f.ids is not None
                ids = f.ids[rows]
                got = np.where((ids >= 0)[:, None], counts[np.maximum(ids, 0)], 0.0) if len(terms) else \
                    np.zeros((len(rows), 0))
            field_tf[name] = got
            tf += got
        df = np.array([self.df.get(t, 0) for t in terms], dtype=np.float64)
        idf = np.log(1 + (index.n - df + 0.5) / (df + 0.5))
        norm = K1 * (1 - B + B * self.lengths[rows] / (self.avg or 1.0))
        weights = idf * (K1 + 1)
        term_scores = tf * weights / (tf + norm[:, None])
        total = term_scores.sum(axis=1) if len(terms) else np.zeros(len(rows))
        parts: dict[str, np.ndarray] = {}
        best: dict[str, np.ndarray] = {}
        for name, counts in per_field.items():
            # the field's share of each term's count, times the term's score: the parts add up to the score
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(tf > 0, field_tf[name] / np.where(tf > 0, tf, 1), 0.0)
            parts[name] = (share * term_scores).sum(axis=1) if len(terms) else np.zeros(len(rows))
            best[name] = (counts * idf).sum(axis=1) if len(terms) else np.zeros(len(counts))
        found = [t for t, d in zip(terms, df, strict=True) if d > 0]
        return Scores(total, parts, best, found)


def order(scores: np.ndarray, rows: np.ndarray, top: int) -> np.ndarray:
    """Positions of the ``top`` best candidates: highest score first, then customer order (deterministic)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(top, len(rows))
    if k < len(rows):
        # a threshold from a partial sort, then an exact sort of everything at or above it (ties kept whole)
        cut = np.partition(-scores, k - 1)[k - 1]
        keep = np.flatnonzero(-scores <= cut)
    else:
        keep = np.arange(len(rows))
    ranked = keep[np.lexsort((rows[keep], -scores[keep]))]
    return ranked[:k]
