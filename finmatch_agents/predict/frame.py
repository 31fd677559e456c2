"""Read a task's rows through the sandbox and encode them as one float matrix the models share.

Rows come from the task's named query (``warehouse/sql/predict/``) and are put in time order (``rix``); the
query selects the input columns by name with DuckDB's ``COLUMNS(lambda ...)``, so one file serves any table,
including columns a mapping added. Large tables are fetched in partitions so every result stays under the
sandbox's row and byte caps; nothing is cut off. Offers are partitioned by a hash of the record id and
ordered by (time, record id) after reading: numbering them in SQL (a window over the whole table) cost a
full sort of every column per partition, about 85% of the read at 1M records.

Encoding: numbers (and booleans) as float64 with NaN for unknown; a category as its index in the sorted list
of categories seen when the model was trained (NaN for unknown or unseen). The encoding is stored with the
model (:class:`Feature`), so scoring encodes new data exactly as the training data was.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finmatch_agents.data import queries
from finmatch_agents.errors import DataError, SQLRefused
from finmatch_agents.features.build import DATE_COLUMN, Columns, build_customer_features, result_columns
from finmatch_agents.predict.columns import MAX_CATEGORIES, NUMERIC_TYPES, Candidate, Plan
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from collections.abc import Iterator

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict.tasks import Task
    from finmatch_agents.warehouse.engine import Engine, QueryResult

#: rows and bytes one partition aims at (the sandbox refuses results above 1M rows or 128 MB). Every
#: partition is a scan of the whole table, so few large ones are cheaper; a partition the sandbox refuses as
#: too large (rows wider than the estimate) is read again in four times as many parts.
PART_ROWS = 900_000
PART_BYTES = 96 * 1024 * 1024
MAX_PARTS = 4 ** 6


@dataclass(frozen=True)
class Feature:
    """One model input and how it is encoded (stored with the model)."""

    name: str
    kind: str  # numeric | categorical
    source: str = "records"  # records | features
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "categories": list(self.categories)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Feature:
        return cls(d["name"], d["kind"], d.get("source", "records"), tuple(d.get("categories", ())))


@dataclass
class Frame:
    """A task's rows: inputs ``X`` (rows x features), outcome ``y`` (None when scoring), time order."""

    task: str
    X: np.ndarray
    y: np.ndarray | None
    rix: np.ndarray
    day: np.ndarray  # days since 1970 of the row's date (NaN without dates)
    row_id: np.ndarray  # record id (offers) or customer id (customers)
    features: list[Feature]
    bank_score: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # customer_id, product_id when scoring
    queries: dict[str, str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rix)

    def names(self) -> list[str]:
        return [f.name for f in self.features]


def order_column(present: set[str]) -> str:
    """Rows are ordered by the recommendation date, or by record id (file order) when there is none."""
    return DATE_COLUMN if DATE_COLUMN in present else "record_id"


def parts_for(rows: int, columns: int) -> int:
    width = 24 + 16 * columns  # bytes per row, a generous estimate (text values as short strings)
    return max(1, math.ceil(rows / PART_ROWS), math.ceil(rows * width / PART_BYTES))


class _Columnar:
    """The engine, asked for numpy columns instead of Python tuples: fetching 1M rows as tuples (20M Python
    objects, then back to arrays) was most of the cost of reading them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def query(self, sql: str, **kw: Any) -> QueryResult:
        return self.engine.query(sql, columnar=True, **kw)  # type: ignore[call-arg]

    @property
    def dialect(self) -> str:  # named queries pick their variant by it
        return named.engine_dialect(self.engine)


#: up to this many rows a result comes back as tuples (no numpy.ma start-up: one customer's rows)
ROWS_AS_TUPLES = 2_000


class Ordered(Columns):
    """``cols`` in the row order ``order``, each column put in order only when it is asked for, after its
    conversion: reordering every column at once (object columns of text included) was a second pass over
    the whole result, and a category is cheaper to reorder as its code than as text (:func:`column_values`
    encodes first). ``__rix`` is the position in the new order."""

    def __init__(self, cols: Columns, order: np.ndarray) -> None:
        self.data = cols.data
        self.order = order
        self.data["__rix"] = (order, np.zeros(len(order), bool))  # a placeholder: ``_filled`` answers __rix

    def __len__(self) -> int:
        return len(self.order)

    def _filled(self, name: str, kind: type, missing: Any) -> np.ndarray:
        if name == "__rix":
            return np.arange(len(self.order), dtype=np.int64)
        return super()._filled(name, kind, missing)[self.order]

    def objects(self, name: str) -> np.ndarray:
        values, mask = self.data[name]  # one copy in the new order (not a copy, then a reordered copy)
        out = np.asarray(values, dtype=object)[self.order]
        out[mask[self.order]] = None
        return out

    def unordered_objects(self, name: str) -> np.ndarray:
        return super().objects(name)


def fetch(engine: Engine, log: QueryLog, name: str, present: set[str], params: dict[str, Any], rows: int,
          columns: int) -> tuple[Columns, str]:
    """Run a frame query in as many partitions as its size needs; the columns sorted by ``rix``."""
    target = cast("Engine", _Columnar(engine)) if rows > ROWS_AS_TUPLES else engine
    parts = parts_for(rows, columns)
    while True:
        if parts > MAX_PARTS:
            raise DataError(f"{name}: the rows do not fit the sandbox's result limits even in {MAX_PARTS:,} parts")
        results: list[QueryResult] = []
        for part in range(parts):
            title = named.load(name).title + (f" (part {part + 1} of {parts})" if parts > 1 else "")
            try:
                res = queries.run(target, log, name, present=present, title=title, parts=parts, part=part,
                                  **params)
            except SQLRefused as exc:
                if exc.rule != "result-size":
                    raise
                break  # wider rows than estimated: the same rows in four times as many parts
            if isinstance(res, named.Skipped):
                raise DataError(f"{name}: {res.reason}", column=res.absent[0])
            if res.truncated:
                break
            results.append(res)
        else:
            break
        parts *= 4
    cols = result_columns(results) if results else None
    if cols is None or not len(cols):
        return Columns(results), results[0].id
    if "__key" in cols.data:
        return Ordered(cols, time_order(cols.floats("__key"), cols.objects("__row"))), results[0].id
    order = np.argsort(cols.ints("__rix"), kind="stable")
    cols.data = {n: (v[order], m[order]) for n, (v, m) in cols.data.items()}
    return cols, results[0].id


def time_order(key: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The row order of ``ORDER BY key, row`` (unknown keys last): offers are read in hash partitions (a
    cheap filter, no window over the whole table per partition) and put in time order here."""
    return np.lexsort((row.astype(str), key))


def categories_of(values: np.ndarray) -> tuple[str, ...]:
    arr = pa.array(values, type=pa.string(), from_pandas=True)
    uniq = pc.unique(arr.drop_null())
    return tuple(sorted(str(v) for v in uniq.to_pylist()))


def encode_category(values: np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``categories`` as float; NaN for unknown or unseen values."""
    arr = pa.array(values, type=pa.string(), from_pandas=True)
    idx = pc.index_in(arr, value_set=pa.array(list(categories), pa.string()))
    return np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.float64)


def column_values(cols: Columns, feature: Feature) -> np.ndarray:
    if feature.kind == "numeric":
        return cols.floats(feature.name)
    if isinstance(cols, Ordered):  # encode in read order, then reorder the codes
        return encode_category(cols.unordered_objects(feature.name), feature.categories)[cols.order]
    return encode_category(cols.objects(feature.name), feature.categories)


def _text(cols: Columns, name: str) -> np.ndarray:
    """A text column in any row order (its set of values is all that is wanted)."""
    return cols.unordered_objects(name) if isinstance(cols, Ordered) else cols.objects(name)


def learn_features(cols: Columns, candidates: list[Candidate], plan: Plan) -> list[Feature]:
    """The encodings of the candidates (categories from the data), excluding empty, constant and
    high-cardinality columns with the reason."""
    out = []
    for c in candidates:
        if c.source != "records":
            continue
        if c.kind == "numeric":
            x = cols.floats(c.name)
            known = x[~np.isnan(x)]
            if not len(known):
                plan.exclude(c.name, "unusable", "empty: no row has a value")
            elif known.min() == known.max():
                plan.exclude(c.name, "unusable", f"constant: every known value is {known[0]:g}")
            else:
                out.append(Feature(c.name, "numeric"))
            continue
        cats = categories_of(_text(cols, c.name))
        if not cats:
            plan.exclude(c.name, "unusable", "empty: no row has a value")
        elif len(cats) == 1:
            plan.exclude(c.name, "unusable", f"constant: every known value is '{cats[0]}'")
        elif len(cats) > MAX_CATEGORIES:
            plan.exclude(c.name, "unusable", f"{len(cats):,} distinct values: an identifier or free text, not a "
                         f"category (at most {MAX_CATEGORIES})")
        else:
            out.append(Feature(c.name, "categorical", categories=cats))
    return out


def layer_values(engine: Engine, log: QueryLog, table: str, present: set[str], ids: np.ndarray,
                 names: list[str], *, customers: list[str] | None = None) -> tuple[dict[str, np.ndarray],
                                                                                  dict[str, str], dict[str, str]]:
    """Customer feature-layer columns aligned to ``ids`` (customer ids): values, absent reasons, query ids."""
    layer = build_customer_features(engine, log, table, present, customers=customers)
    pos = np.searchsorted(layer.customer_ids, ids)
    pos = np.clip(pos, 0, max(layer.n - 1, 0))
    found = (layer.n > 0) & (layer.customer_ids[pos] == ids) if layer.n else np.zeros(len(ids), bool)
    values, absent = {}, {}
    for name in names:
        if not layer.has(name):
            absent[name] = layer.status[name].reason if name in layer.status else "not computed"
            continue
        v = np.full(len(ids), np.nan)
        v[found] = layer.values[name][pos[found]]
        values[name] = v
    return values, absent, dict(layer.queries)


def vocabulary(features: list[Feature]) -> list[str]:
    """Every category of the model's text inputs read from the records, sorted: scoring queries send a text
    value as its 1-based position in this list (``predict/open_offers``), so no text crosses into Python."""
    return sorted({c for f in features if f.kind == "categorical" and f.source == "records" for c in f.categories})


def decode_positions(positions: np.ndarray, vocab: list[str], categories: tuple[str, ...]) -> np.ndarray:
    """Positions in ``vocab`` (1-based; 0 = missing or not in it) as the index in ``categories`` that
    :func:`encode_category` gives the same value: NaN for missing, unknown or unseen."""
    index = {c: i for i, c in enumerate(categories)}
    lut = np.full(len(vocab) + 1, np.nan)
    for p, value in enumerate(vocab, 1):
        if value in index:
            lut[p] = index[value]
    if len(positions) and (positions.min() < 0 or positions.max() > len(vocab)):
        raise DataError("a scoring query returned a category position outside the model's vocabulary")
    return lut[positions]


def assemble_positions(cols: Columns, features: list[Feature], layer: dict[str, np.ndarray],
                       vocab: list[str]) -> np.ndarray:
    """The matrix :func:`assemble` builds, from a result whose text inputs came as vocabulary positions."""
    def values(f: Feature) -> np.ndarray:
        if f.source == "features":
            return layer[f.name]
        if f.kind == "numeric":
            return cols.floats(f.name)
        return decode_positions(cols.ints(f.name, missing=0), vocab, f.categories)

    return stack(len(cols), [values(f) for f in features])


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Ask NumPy not to back its large arrays with transparent huge pages while inside (restored after).

    NumPy advises huge pages (``madvise``) for every large array. On this 2-core virtual machine, first touching
    a fresh huge-page array costs far more system time than small pages: filling one 1M x 19 float64 matrix
    measured 1.0-1.3 s of system time with huge pages against 0.04 s without (``NUMPY_MADVISE_HUGEPAGE=0``
    does the same for a whole process). Batch scoring allocates a few such arrays per input; the values are
    the same either way. Process-wide while inside, so only set around a batch read."""
    setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    before = setter(False)
    try:
        yield
    finally:
        setter(before)


#: rows :func:`stack` copies at a time
STACK_ROWS = 16_384


def stack(n: int, columns: list[np.ndarray]) -> np.ndarray:
    """Columns as one C-ordered float64 matrix (rows x columns), filled a block of rows at a time: writing a
    whole column into ``X[:, j]`` walks every cache line of the matrix once per column (1.6 s of CPU at 1M
    rows x 19 inputs, against 0.1 s by blocks, which stay in cache; ``np.column_stack`` 0.3 s). Same values."""
    X = np.empty((n, len(columns)), dtype=np.float64)
    for start in range(0, n, STACK_ROWS):
        rows = slice(start, min(n, start + STACK_ROWS))
        for j, column in enumerate(columns):
            X[rows, j] = column[rows]
    return X


def assemble(task: Task, cols: Columns, features: list[Feature], layer: dict[str, np.ndarray],
             labelled: bool) -> tuple[np.ndarray, np.ndarray | None]:
    X = stack(len(cols), [layer[f.name] if f.source == "features" else column_values(cols, f) for f in features])
    y = cols.ints("__y", missing=-1).astype(np.int8) if labelled else None
    return X, y


def require_columns(features: list[Feature], types: dict[str, str], model_id: str) -> None:
    """A model scores only data that has every column it was trained on, of the same kind (exit 3 naming
    them): a number where it learnt a number, text where it learnt categories."""
    missing = [f.name for f in features if f.source == "records" and f.name not in types]
    if missing:
        raise DataError(f"model {model_id} needs column(s) the data lacks: {', '.join(missing)}",
                        column=missing[0], hint="score data with the model's columns, or train a model on this data "
                        "(`finmatch predict train`)")
    wrong = []
    for f in features:
        if f.source != "records":
            continue
        dtype = types[f.name].upper()
        numeric = dtype in NUMERIC_TYPES or dtype.startswith("DECIMAL")
        if (f.kind == "numeric") != numeric:
            wrong.append(f"{f.name} is {dtype}, the model learnt {'a number' if f.kind == 'numeric' else 'text'}")
    if wrong:
        raise DataError(f"model {model_id}: the data's columns changed kind: " + "; ".join(wrong),
                        column=wrong[0].split(" ")[0], hint="train a model on this data (`finmatch predict train`)")
