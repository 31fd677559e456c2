"""The similarity index: what ranking and look-alikes read for every customer, built once per data version.

Per customer (rows in ``customer_id`` order, as in the feature layer): the value of each text field as an id
into that field's few distinct values (a multi-valued field as a boolean matrix), and the standardised
numeric features of the feature layer. Per embedding model: each distinct value's vector and each customer's
composed-vector norm, so a query scores every customer exactly from a few hundred dot products.

Everything comes from named SQL through the sandbox (the feature layer's queries and
``warehouse/sql/similar/``), with the query ids kept. The index is cached in ``<state_dir>/similar/`` under the
data fingerprint (the one ``finmatch data info`` shows) of the records and the catalogue, written atomically;
text vectors are cached by text (``vectors-<model>.npz``), so new data embeds only values not seen before.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import DataError, StorageError
from finmatch_agents.features import build_customer_features
from finmatch_agents.features.build import QueryRunner, result_columns
from finmatch_agents.features.spec import PARAMS
from finmatch_agents.files import FileLock, atomic_write_bytes
from finmatch_agents.match.store import fingerprint
from finmatch_agents.similar.text import FIELDS, wording
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from pathlib import Path

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.similar.embed import Embedder
    from finmatch_agents.warehouse.engine import Engine

INDEX_VERSION = "1"
DATE_COLUMN = "product_recommendation_date"
#: numeric features of the feature layer that look-alikes compare (money and counts on a log scale first)
NUMERIC = ("age", "income", "balance", "credit_score", "transactions", "churn_probability", "annual_revenue",
           "held_types", "risk_appetite", "financial_acumen")
LOG_SCALE = frozenset({"income", "balance", "annual_revenue", "transactions"})
SINGLE_COLUMNS = {"goal": "customer_goals", "segment": "customer_segment", "stage": "customer_lifecycle_stage"}
#: the stated goals: a table of their own (the generator's, one row per customer), else a records column of that name
GOALS = "customer_goals"
CHUNK = 32_768

Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class Field:
    """One text field: its distinct values and each customer's value(s)."""

    name: str
    values: list[str]
    ids: np.ndarray | None = None  # single-valued: int32 per customer, -1 = none
    member: np.ndarray | None = None  # multi-valued: bool, customers x values

    @property
    def texts(self) -> list[str]:
        return [wording(self.name, v) for v in self.values]

    def present(self) -> np.ndarray:
        if self.member is not None:
            return np.asarray(self.member.any(axis=1))
        assert self.ids is not None
        return np.asarray(self.ids >= 0)

    def of(self, row: int) -> list[str]:
        if self.member is not None:
            return [self.values[j] for j in np.flatnonzero(self.member[row])]
        assert self.ids is not None
        return [self.values[int(self.ids[row])]] if self.ids[row] >= 0 else []


@dataclass
class Index:
    table: str
    key: str  # data fingerprint of the records and the catalogue
    customer_ids: np.ndarray  # unicode, ascending
    fields: dict[str, Field]
    numeric: list[str]  # feature names of the columns of ``z``
    raw: np.ndarray  # float32 customers x numeric: the feature values (NaN = unknown)
    z: np.ndarray  # float32: standardised (log first where LOG_SCALE), unknown = 0 (the mean)
    notes: list[str] = field(default_factory=list)
    queries: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    model_id: str | None = None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # field -> values x dim (unit vectors)
    norms: np.ndarray | None = None  # each customer's composed-vector norm (0 = no text at all)

    @property
    def n(self) -> int:
        return len(self.customer_ids)

    def row_of(self, customer_id: str) -> int | None:
        i = int(np.searchsorted(self.customer_ids, customer_id))
        return i if i < self.n and self.customer_ids[i] == customer_id else None

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Index rows of customer ids; a DataError when one is not in the index (it would be stale)."""
        wanted = np.asarray(ids).astype(self.customer_ids.dtype if len(ids) else "U1")
        rows = np.searchsorted(self.customer_ids, wanted)
        rows = np.minimum(rows, max(self.n - 1, 0))
        if len(rows) and (self.n == 0 or np.any(self.customer_ids[rows] != wanted)):
            raise DataError("the similarity index does not match the data (a customer is missing from it)",
                            hint="rebuild it: finmatch similar index --force")
        return rows.astype(np.int64)

    # -- composed vectors --------------------------------------------------------------------------------
    def mean_weights(self, name: str) -> np.ndarray:
        """A multi-valued field's membership as float32 weights that sum to 1 per customer (0 without a value),
        computed once per index: a query is then one matrix-vector product."""
        cache = self.__dict__.setdefault("_mean_weights", {})
        if name not in cache:
            member = self.fields[name].member
            assert member is not None
            weights = member.astype(np.float32)
            weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
            cache[name] = weights
        got: np.ndarray = cache[name]
        return got

    def field_scores(self, name: str, sims: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per customer of ``rows``: the field's similarity (a multi-valued field: the mean over its values)."""
        f = self.fields[name]
        if f.member is not None:
            weights = self.mean_weights(name)
            every = len(rows) == self.n
            got: np.ndarray = (weights if every else weights[rows]) @ sims.astype(np.float32)
            return got
        assert f.ids is not None
        ids = f.ids[rows]
        out = np.where(ids >= 0, sims[np.maximum(ids, 0)] if len(sims) else 0.0, 0.0)
        return out.astype(np.float32)

    def combinations(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A multi-valued field's distinct combinations of values (bool, combinations x values) and each
        customer's combination (int32), computed once per index: few customers' sets differ (at most 2^values,
        a few hundred on the default data), so a per-customer best value is one gather."""
        cache = self.__dict__.setdefault("_combinations", {})
        if name not in cache:
            member = self.fields[name].member
            assert member is not None
            width = member.shape[1]
            if width <= 62:  # each customer's set as the bits of one integer: a 1-d unique, fast
                codes = member.astype(np.int64) @ (np.int64(1) << np.arange(width, dtype=np.int64))
                unique, inverse = np.unique(codes, return_inverse=True)
                combos = ((unique[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(bool)
            else:
                combos, inverse = np.unique(member, axis=0, return_inverse=True)
            cache[name] = (combos, inverse.reshape(-1).astype(np.int32))
        got: tuple[np.ndarray, np.ndarray] = cache[name]
        return got

    def field_best(self, name: str, sims: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per customer of ``rows``: the similarity of its value (a multi-valued field: its best value), 0 when it
        has none."""
        f = self.fields[name]
        if f.member is None:
            return self.field_scores(name, sims, rows)
        combos, ids = self.combinations(name)
        best = np.where(combos, sims.astype(np.float32)[None, :], np.float32(-np.inf)).max(axis=1, initial=-np.inf)
        best = np.where(np.isfinite(best), best, np.float32(0.0)).astype(np.float32)
        out: np.ndarray = best[ids if len(rows) == self.n else ids[rows]]
        return out

    def composed(self, rows: np.ndarray) -> np.ndarray:
        """The customers' composed text vectors (unnormalised): sum over fields of weight x field vector."""
        dim = next(iter(self.vectors.values())).shape[1]
        out = np.zeros((len(rows), dim), dtype=np.float32)
        for name, (_label, weight) in FIELDS.items():
            if name not in self.fields or name not in self.vectors:
                continue
            f, vec = self.fields[name], self.vectors[name]
            if f.member is not None:
                m = f.member[rows].astype(np.float32)
                out += weight * (m @ vec) / np.maximum(m.sum(axis=1, keepdims=True), 1)
            else:
                assert f.ids is not None
                ids = f.ids[rows]
                have = ids >= 0
                out[have] += weight * vec[ids[have]]
        return out


# -- building ---------------------------------------------------------------------------------------------
def _goals_table(engine: Engine) -> bool:
    """Whether the database has a usable stated-goals table (customer_id and customer_goals)."""
    if GOALS not in engine.tables():
        return False
    return {"customer_id", "customer_goals"} <= {c.name for c in engine.columns(GOALS)}


def data_key(engine: Engine, log: QueryLog, table: str, products: str) -> str:
    records = fingerprint(engine, log, table) or "none"
    catalogue = fingerprint(engine, log, products) if products in engine.tables() else None
    key = f"v{INDEX_VERSION}-{records}-{catalogue or 'nocatalogue'}"
    if _goals_table(engine):
        key += f"-{fingerprint(engine, log, GOALS) or 'nogoals'}"
    return key


def _present(engine: Engine, table: str, products: str) -> set[str]:
    cols = {c.name for c in engine.columns(table)}
    if products in engine.tables():
        cols |= {f"products.{c.name}" for c in engine.columns(products)}
    return cols


def build(engine: Engine, log: QueryLog, table: str, *, products: str = "products",
          progress: Progress | None = None, key: str | None = None) -> Index:
    """Build the customer part of the index (no vectors: :func:`attach_vectors` adds a model's)."""
    started = time.perf_counter()
    step = progress or (lambda _s, _d, _t: None)
    present = _present(engine, table, products)
    if "customer_id" not in present:
        raise DataError(f"{table} has no customer_id column: the similarity search needs one row per customer")
    key = key or data_key(engine, log, table, products)
    step("customer features", 0, 4)
    features = build_customer_features(engine, log, table, present, products=products)
    if features.n == 0:
        raise DataError(f"{table} has no customers to index")
    n = features.n
    queries = dict(features.queries)
    notes: list[str] = []
    column = DATE_COLUMN if DATE_COLUMN in present else "customer_id"
    runner = QueryRunner(engine, log, present, {"table": table, "products": products, "as_of": None,
                                                 "column": column, "customers": None, **PARAMS})
    fields: dict[str, Field] = {}
    step("text fields", 1, 4)
    goals_table = _goals_table(engine)
    for name, col in SINGLE_COLUMNS.items():
        if name == "goal" and goals_table:
            res = runner.run("similar/goals", goals=GOALS)
        elif name == "goal" and col not in present:
            notes.append(f"{FIELDS[name][0]} not used: no {GOALS} table and no {col} column")
            continue
        else:
            res = runner.run("similar/latest", group_column=col)
        if isinstance(res, named.Skipped):
            notes.append(f"{FIELDS[name][0]} not used: {res.reason}")
            continue
        got = result_columns(res)
        queries[f"similar/{'goals' if name == 'goal' and goals_table else 'latest:' + col}"] = res[0].id
        values, inverse = np.unique(got.objects("value").astype(str), return_inverse=True)
        ids = np.full(n, -1, dtype=np.int32)
        ids[got.ints("cix")] = inverse
        fields[name] = Field(name, [str(v) for v in values], ids=ids)
    if features.interests is not None:
        fields["interests"] = _interests(features.interests)
    else:
        notes.append(f"interests not used: {features.status['interests'].reason}")
    res = runner.run("similar/types")
    if isinstance(res, named.Skipped):
        notes.append(f"products held and offered not used: {res.reason}")
    else:
        got = result_columns(res)
        queries["similar/types"] = res[0].id
        cix, types, taken = got.ints("cix"), got.objects("product_type").astype(str), got.bools("taken")
        values, inverse = np.unique(types, return_inverse=True)
        held = np.zeros((n, len(values)), dtype=bool)
        offered = np.zeros((n, len(values)), dtype=bool)
        held[cix[taken], inverse[taken]] = True
        offered[cix[~taken], inverse[~taken]] = True
        fields["held"] = Field("held", [str(v) for v in values], member=held)
        fields["offered"] = Field("offered", [str(v) for v in values], member=offered)
    step("standardised features", 2, 4)
    names = [f for f in NUMERIC if features.has(f)]
    raw = np.full((n, len(names)), np.nan, dtype=np.float32)
    z = np.zeros((n, len(names)), dtype=np.float32)
    for j, f in enumerate(names):
        x = features.column(f).astype(np.float64)
        raw[:, j] = x
        x = np.log1p(np.maximum(x, 0)) if f in LOG_SCALE else x
        known = ~np.isnan(x)
        if known.sum() < 2:
            continue
        mean, std = float(x[known].mean()), float(x[known].std())
        z[known, j] = (x[known] - mean) / (std if std > 0 else 1.0)
    absent = [f for f in NUMERIC if not features.has(f)]
    if absent:
        notes.append(f"look-alikes compare without {', '.join(absent)} (absent from this data)")
    step("done", 4, 4)
    return Index(table=table, key=key, customer_ids=features.customer_ids.astype(str), fields=fields,
                 numeric=names, raw=raw, z=z, notes=notes, queries=queries,
                 seconds=round(time.perf_counter() - started, 2))


def _interests(joined: np.ndarray) -> Field:
    """The comma-separated interests (one joined text per customer) as a membership matrix."""
    texts = np.where(joined == None, "", joined).astype(str)  # noqa: E711
    unique, inverse = np.unique(texts, return_inverse=True)
    sets = [sorted({p.strip().lower() for p in t.split(",") if p.strip()}) for t in unique]
    values = sorted({v for s in sets for v in s})
    col = {v: j for j, v in enumerate(values)}
    per_unique = np.zeros((len(unique), len(values)), dtype=bool)
    for i, s in enumerate(sets):
        per_unique[i, [col[v] for v in s]] = True
    return Field("interests", values, member=per_unique[inverse])


def attach_vectors(index: Index, embedder: Embedder, cache: Path | None = None,
                   progress: Progress | None = None) -> int:
    """Give ``index`` the embedder's vectors of every field value and each customer's norm; returns how many
    texts had to be embedded (the others came from ``cache``)."""
    texts = sorted({t for f in index.fields.values() for t in f.texts})
    known = _load_vectors(cache) if cache else {}
    missing = [t for t in texts if t not in known]
    if missing:
        fresh = embedder.embed(missing)
        known.update(zip(missing, fresh, strict=True))
        if cache is not None:
            _save_vectors(cache, known)
    index.vectors = {name: np.array([known[t] for t in f.texts], dtype=np.float32).reshape(len(f.values), -1)
                     for name, f in index.fields.items() if f.values}
    index.model_id = embedder.model_id
    norms = np.zeros(index.n, dtype=np.float32)
    for start in range(0, index.n, CHUNK):
        rows = np.arange(start, min(start + CHUNK, index.n))
        norms[rows] = np.linalg.norm(index.composed(rows), axis=1)
        if progress:
            progress("customer vectors", int(rows[-1]) + 1, index.n)
    index.norms = norms
    return len(missing)


# -- files --------------------------------------------------------------------------------------------------
def folder(state_dir: Path) -> Path:
    return state_dir / "similar"


def index_path(state_dir: Path, table: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in table)
    return folder(state_dir) / f"index-{safe}-{key}.npz"


def vectors_path(state_dir: Path, model_id: str) -> Path:
    return folder(state_dir) / f"vectors-{model_id}.npz"


def lock_path(state_dir: Path) -> Path:
    return folder(state_dir) / "index.lock"


def save(index: Index, path: Path) -> int:
    arrays: dict[str, Any] = {"customer_ids": index.customer_ids, "raw": index.raw, "z": index.z}
    meta = {"version": INDEX_VERSION, "table": index.table, "key": index.key, "numeric": index.numeric,
            "notes": index.notes, "queries": index.queries, "seconds": index.seconds, "model_id": index.model_id,
            "fields": {name: f.values for name, f in index.fields.items()}}
    for name, f in index.fields.items():
        arrays[f"field_{name}"] = f.member if f.member is not None else f.ids
    for name, vec in index.vectors.items():
        arrays[f"vectors_{name}"] = vec
    if index.norms is not None:
        arrays["norms"] = index.norms
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise StorageError(f"cannot write the similarity index {path}: {exc.strerror or exc}",
                           hint="check the state folder (FINMATCH_STATE_DIR) is writable") from exc
    return len(data)


def load(path: Path) -> Index | None:
    """The index in ``path``, or None when there is none (or it is unreadable or of another version)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != INDEX_VERSION:
                return None
            fields = {}
            for name, values in meta["fields"].items():
                arr = data[f"field_{name}"]
                fields[name] = (Field(name, list(values), member=arr) if arr.dtype == bool
                                else Field(name, list(values), ids=arr))
            vectors = {k[len("vectors_"):]: data[k] for k in data.files if k.startswith("vectors_")}
            return Index(table=meta["table"], key=meta["key"], customer_ids=data["customer_ids"], fields=fields,
                         numeric=list(meta["numeric"]), raw=data["raw"], z=data["z"], notes=list(meta["notes"]),
                         queries=dict(meta["queries"]), seconds=float(meta["seconds"]), model_id=meta["model_id"],
                         vectors=vectors, norms=data["norms"] if "norms" in data.files else None)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


def _load_vectors(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip((str(t) for t in data["texts"]), data["vectors"], strict=True))
    except (OSError, ValueError, KeyError):
        return {}


def _save_vectors(path: Path, known: dict[str, np.ndarray]) -> None:
    texts = sorted(known)
    buffer = io.BytesIO()
    np.savez(buffer, texts=np.array(texts), vectors=np.array([known[t] for t in texts], dtype=np.float32))
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def locked(state_dir: Path) -> FileLock:
    """One index build at a time per state folder (a second waits; the cache then serves it)."""
    return FileLock(lock_path(state_dir), blocking=True)
