"""Build the customer feature frame: run the feature queries through the sandbox, assemble numpy columns.

Every column comes from a named query under ``warehouse/sql/features/`` (logged with its id), except the two
composite metrics, which are weighted means of logged inputs (formulas in :mod:`features.spec`). Rows are
customers in ``customer_id`` order; each query returns the customer's index (``cix``), so results align
without joining strings in Python. A result larger than the engine's row cap is fetched again in
partitions of customers (``cix % parts``), so no figure is silently cut off.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import queries
from finmatch_agents.errors import DataError
from finmatch_agents.features import spec
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    import pyarrow as pa

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import Engine, QueryResult

DATE_COLUMN = "product_recommendation_date"
MAX_PARTS = 4 ** 8
#: the one-statement path counts each listed customer against the whole book (list x book comparisons);
#: longer lists take the per-group queries, which sort the book once
MAX_COMBINED_CUSTOMERS = 100


@dataclass(frozen=True)
class FeatureStatus:
    """Whether a feature could be computed on this data, and if not, why (shown to the user as it is)."""

    name: str
    present: bool
    reason: str = ""  # absent: why; composite metric: which inputs it lacks
    query_id: str | None = None
    known: int = 0  # customers with a value
    inputs_used: tuple[str, ...] = ()
    inputs_absent: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "present": self.present, "reason": self.reason, "query_id": self.query_id,
                "known": self.known, "inputs_used": list(self.inputs_used),
                "inputs_absent": list(self.inputs_absent)}


@dataclass
class Holdings:
    """Products each customer holds, as parallel arrays sorted by customer row."""

    rows: np.ndarray  # int64, index into CustomerFeatures rows
    product_ids: np.ndarray  # object (str)

    def matrix(self, product_ids: Sequence[str], start: int = 0, stop: int | None = None) -> np.ndarray:
        """Boolean (customers start..stop x products): does the customer hold the product?"""
        stop = int(self.rows.max() + 1 if len(self.rows) else 0) if stop is None else stop
        out = np.zeros((max(stop - start, 0), len(product_ids)), dtype=bool)
        lo, hi = np.searchsorted(self.rows, [start, stop])
        column = {p: j for j, p in enumerate(product_ids)}
        cols = np.array([column.get(p, -1) for p in self.product_ids[lo:hi]], dtype=np.int64)
        keep = cols >= 0
        out[self.rows[lo:hi][keep] - start, cols[keep]] = True
        return out

    def of(self, row: int) -> list[str]:
        lo, hi = np.searchsorted(self.rows, [row, row + 1])
        return [str(p) for p in self.product_ids[lo:hi]]


@dataclass
class CustomerFeatures:
    """One row per customer: numeric features (NaN = unknown for that customer), holdings and preferences.

    ``status`` covers every declared feature, present or not, so a caller can always say what is missing
    and why. ``queries`` maps each named query to the id it ran under (provenance)."""

    table: str
    as_of: date | None
    customer_ids: np.ndarray
    values: dict[str, np.ndarray]
    status: dict[str, FeatureStatus]
    holdings: Holdings | None
    types: tuple[str, ...] = ()
    affinity: np.ndarray | None = None  # customers x types, NaN = no offer of that type
    usage_trend: np.ndarray | None = None
    interests: np.ndarray | None = None  # object: the customer's interests text or None
    queries: dict[str, str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.customer_ids)

    def has(self, name: str) -> bool:
        status = self.status.get(name)
        return bool(status and status.present)

    def column(self, name: str) -> np.ndarray:
        if not self.has(name):
            raise KeyError(f"feature {name} is absent: {self.status[name].reason if name in self.status else '?'}")
        return self.values[name]

    @property
    def absent(self) -> dict[str, str]:
        return {n: s.reason for n, s in self.status.items() if not s.present}

    def index_of(self, customer_id: str) -> int | None:
        i = int(np.searchsorted(self.customer_ids, customer_id))
        return i if i < self.n and self.customer_ids[i] == customer_id else None

    def row(self, i: int) -> dict[str, Any]:
        """One customer's features as plain values (``None`` where unknown or absent)."""
        out: dict[str, Any] = {"customer_id": str(self.customer_ids[i])}
        for name in (f.name for f in spec.FEATURES):
            value = self.values[name][i] if self.has(name) else math.nan
            out[name] = None if math.isnan(value) else float(value)
        if self.holdings is not None:
            out["held"] = self.holdings.of(i)
        if self.interests is not None:
            out["interests"] = self.interests[i]
        for label, matrix in (("affinity", self.affinity), ("usage_trend", self.usage_trend)):
            if matrix is not None:
                out[label] = {t: float(v) for t, v in zip(self.types, matrix[i], strict=True) if not math.isnan(v)}
        return out

    def degradations(self) -> list[str]:
        """Plain sentences: which metrics are absent or partial, and why."""
        notes = []
        for m in spec.METRICS:
            s = self.status[m.name]
            if not s.present:
                notes.append(f"{m.label} absent: {s.reason}")
            elif s.inputs_absent:
                notes.append(f"{m.label} computed without {', '.join(s.inputs_absent)} ({s.reason})")
        for name in ("held", "affinity", "usage_trend", "interests"):
            s = self.status[name]
            if not s.present:
                notes.append(f"{name.replace('_', ' ')} absent: {s.reason}")
        return notes

    def to_arrow(self) -> pa.Table:
        """The numeric features as an Arrow table (NULL where unknown; absent features are all-NULL columns,
        listed with their reasons in the schema metadata)."""
        import pyarrow as pa  # only callers that want a table pay for pyarrow (`match customer` never does)

        columns: dict[str, pa.Array] = {"customer_id": pa.array(self.customer_ids.astype(str), pa.string())}
        for f in spec.FEATURES:
            if self.has(f.name):
                v = self.values[f.name]
                columns[f.name] = pa.array(v, mask=np.isnan(v), type=pa.float64())
            else:
                columns[f.name] = pa.nulls(self.n, pa.float64())
        meta = {"absent": json.dumps(self.absent), "queries": json.dumps(self.queries),
                "as_of": self.as_of.isoformat() if self.as_of else ""}
        return pa.table(columns).replace_schema_metadata(meta)


def present_columns(engine: Engine, table: str, products: str = "products") -> set[str]:
    """The column set named queries check ``-- requires:`` against (catalogue columns as ``products.x``)."""
    cols = {c.name for c in engine.columns(table)}
    return cols | {f"products.{c.name}" for c in engine.columns(products)}


class _Columnar:
    """The engine, asked for numpy columns instead of Python tuples (one row per customer adds up)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def query(self, sql: str, **kw: Any) -> QueryResult:
        return self.engine.query(sql, columnar=True, **kw)  # type: ignore[call-arg]

    @property
    def dialect(self) -> str:  # named queries pick their variant by it
        return named.engine_dialect(self.engine)


class QueryRunner:
    """Runs feature queries with the shared parameters, partitioning results larger than the row cap.

    ``columnar`` fetches numpy columns (the whole book); a few customers come back as rows, which saves
    start-up time (no numpy.ma) where start-up is most of the cost."""

    def __init__(self, engine: Engine, log: QueryLog, present: set[str], params: dict[str, Any], *,
                 columnar: bool = True) -> None:
        self.engine, self.log, self.present, self.params = engine, log, present, params
        self.columnar = columnar

    def run(self, name: str, *, start_parts: int = 1, **extra: Any) -> list[QueryResult] | named.Skipped:
        """``start_parts``: begin with this many partitions (a caller that knows the result's size saves the
        attempts that would be cut off at the row cap)."""
        params = {**self.params, **extra}
        target = _Columnar(self.engine) if self.columnar else self.engine
        parts = max(1, start_parts)
        while True:
            if parts > MAX_PARTS:
                raise DataError(f"{name}: the result does not fit the row cap even in {MAX_PARTS // 4:,} parts",
                                hint="raise FINMATCH_SQL_MAX_ROWS")
            results: list[QueryResult] = []
            for part in range(parts):
                title = named.load(name).title + (f" (part {part + 1} of {parts})" if parts > 1 else "")
                res = queries.run(target, self.log, name, present=self.present,  # type: ignore[arg-type]
                                title=title, **params, parts=parts, part=part)
                if isinstance(res, named.Skipped):
                    return res
                if res.truncated:
                    break
                results.append(res)
            else:
                return results
            parts *= 4


def _column(result: QueryResult, k: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, missing) of one result column, from numpy columns (masked where NULL) or from rows."""
    if result.arrays is not None:
        values = result.arrays[name]
        if type(values).__name__ == "MaskedArray":
            return np.asarray(values.data), np.asarray(values.mask, dtype=bool) | np.zeros(len(values), dtype=bool)
        return np.asarray(values), np.zeros(len(values), dtype=bool)
    data = np.fromiter(map(itemgetter(k), result.rows), dtype=object, count=len(result.rows))  # lists stay whole
    return data, np.array([v is None for v in data], dtype=bool)


class Columns:
    """The columns of a (partitioned) result, in ``cix`` order, converted on request (NULL -> NaN/None)."""

    def __init__(self, results: list[QueryResult]) -> None:
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for k, name in enumerate(results[0].columns):
            pieces = [_column(r, k, name) for r in results]
            self.data[name] = (np.concatenate([v for v, _ in pieces]), np.concatenate([m for _, m in pieces]))
        if len(results) > 1 and "cix" in self.data:  # parts interleave customers (cix % parts): one order again
            order = np.argsort(self.ints("cix"), kind="stable")
            self.data = {n: (v[order], m[order]) for n, (v, m) in self.data.items()}

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))[0]) if self.data else 0

    def _filled(self, name: str, kind: type, missing: Any) -> np.ndarray:
        values, mask = self.data[name]
        if values.dtype == object:
            values = np.where(mask, missing, values)
        out: np.ndarray = values.astype(kind)
        out[mask] = missing
        return out

    def floats(self, name: str) -> np.ndarray:
        return self._filled(name, float, np.nan)

    def ints(self, name: str, missing: int = -1) -> np.ndarray:
        return self._filled(name, np.int64, missing)

    def bools(self, name: str) -> np.ndarray:
        return self._filled(name, bool, False)

    def objects(self, name: str) -> np.ndarray:
        values, mask = self.data[name]
        out = np.array(values, dtype=object) if values.dtype != object else values.copy()
        out[mask] = None
        return out


def result_columns(results: list[QueryResult]) -> Columns:
    return Columns(results)


def build_customer_features(engine: Engine, log: QueryLog, table: str, present: set[str], *,
                            products: str = "products", as_of: date | None = None,
                            customers: Sequence[str] | None = None, combined: bool = True) -> CustomerFeatures:
    """Compute the feature frame for every customer of ``table`` (or only ``customers``).

    ``present`` is the column set of :func:`present_columns`. With ``as_of`` only records dated before it
    are read (the backtest's training window). Percentile inputs always rank a customer against every
    customer of the window, also when ``customers`` narrows the rows returned. ``combined=False`` forces one
    query per input group for a customer list too (tests compare the two paths)."""
    if "customer_id" not in present:
        raise DataError(f"{table} has no customer_id column: customer features need one row per customer",
                        hint="map a customer id when loading (see docs/data.md, [derive.customer_id])")
    if as_of is not None and DATE_COLUMN not in present:
        raise DataError(f"{table} has no {DATE_COLUMN}: a cut-off date needs dated records",
                        column=DATE_COLUMN)
    params: dict[str, Any] = {"table": table, "products": products, "as_of": as_of,
                              "column": DATE_COLUMN if DATE_COLUMN in present else "customer_id",
                              "customers": list(customers) if customers is not None else None, **spec.PARAMS}
    runner = QueryRunner(engine, log, present, params, columnar=customers is None)
    # explaining a few customers: one statement when the data has every input column (fast start-up; their
    # percentiles are counted against one aggregate of the book instead of ranking it, the same numbers);
    # the whole book, a long list, or data lacking a column: one query per input group, which bounds the
    # memory of each result and lets an absent column cost only the features that need it.
    few = customers is not None and len(customers) <= MAX_COMBINED_CUSTOMERS
    whole = runner.run(spec.COMBINED_QUERY) if combined and few else None
    if whole is not None and not isinstance(whole, named.Skipped):
        cols, first_id = result_columns(whole), whole[0].id
        queries = {spec.COMBINED_QUERY: first_id}
    else:
        base = runner.run("features/customers")
        assert not isinstance(base, named.Skipped)  # requires only customer_id, checked above
        cols, first_id = result_columns(base), base[0].id
        queries = {"features/customers": first_id}
    del whole
    cix = cols.ints("cix")
    ids = cols.objects("customer_id")
    n = len(ids)

    def rows_of(wanted: np.ndarray) -> np.ndarray:
        rows = np.searchsorted(cix, wanted)
        if len(rows) and (rows.max() >= n or np.any(cix[rows] != wanted)):
            raise DataError(f"feature queries disagree on the customers of {table} (did the data change meanwhile?)")
        return rows

    values: dict[str, np.ndarray] = {}
    status: dict[str, FeatureStatus] = {}
    for query in spec.CUSTOMER_QUERIES:
        names = spec.columns_of_query(query)
        if spec.COMBINED_QUERY in queries or query == "features/customers":
            got, qid = cols, first_id
        else:
            res = runner.run(query)
            if isinstance(res, named.Skipped):
                for name in names:
                    status[name] = FeatureStatus(name, False, res.reason)
                continue
            got, qid = result_columns(res), res[0].id
            del res
            queries[query] = qid
        rows = rows_of(got.ints("cix"))
        for name in names:
            column = np.full(n, np.nan)
            column[rows] = got.floats(name)
            known = int(np.count_nonzero(~np.isnan(column)))
            # a column empty for every customer is absent; for a list of customers it is only unknown for them
            if known or customers is not None:
                values[name] = column
                status[name] = FeatureStatus(name, True, query_id=qid, known=known)
            else:
                status[name] = FeatureStatus(name, False, "no customer has a value", query_id=qid)
    for metric in spec.METRICS:
        if metric.composite:
            _combine(metric, values, status, n)
    features = CustomerFeatures(table=table, as_of=as_of, customer_ids=ids, values=values, status=status,
                                holdings=None, queries=queries)
    if spec.COMBINED_QUERY in queries:
        interests = cols.objects("interests")
        features.interests = interests
        features.status["interests"] = FeatureStatus("interests", True, query_id=first_id,
                                                     known=int(np.count_nonzero(interests != None)))  # noqa: E711
    held = list(cols.objects("held")) if spec.COMBINED_QUERY in queries else None
    per_type = None
    if spec.COMBINED_QUERY in queries:
        types = cols.objects("types")
        per_type = (list(types[0]) if n and types[0] is not None else [], list(cols.objects("preferences")))
    del cols
    _preferences(features, runner, rows_of, held, first_id if held is not None else None, per_type)
    return features


def _combine(metric: spec.Metric, values: dict[str, np.ndarray], status: dict[str, FeatureStatus], n: int) -> None:
    used = [(c, w) for c, w in zip(metric.inputs, metric.weights, strict=True) if status[c].present]
    missing = tuple(c for c in metric.inputs if not status[c].present)
    why = "; ".join(f"{c}: {status[c].reason}" for c in missing)
    if not used:
        status[metric.name] = FeatureStatus(metric.name, False, f"none of its inputs is present ({why})",
                                            inputs_absent=missing)
        return
    total = np.zeros(n)
    weight = np.zeros(n)
    for c, w in used:
        x = values[c]
        ok = ~np.isnan(x)
        total[ok] += w * x[ok]
        weight[ok] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        column = np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), np.nan)
    values[metric.name] = column
    status[metric.name] = FeatureStatus(metric.name, True, why, known=int(np.count_nonzero(weight > 0)),
                                        inputs_used=tuple(c for c, _ in used), inputs_absent=missing)


def _holdings(rows: np.ndarray, lists: list[Any]) -> Holdings:
    """Holdings from one list of product ids per customer row (rows ascending)."""
    lengths = np.array([0 if x is None else len(x) for x in lists], dtype=np.int64)
    flat = [str(p) for x in lists if x is not None for p in x]
    return Holdings(np.repeat(rows, lengths), np.array(flat, dtype=object))


def _preferences(features: CustomerFeatures, runner: QueryRunner, rows_of: Any, held: list[Any] | None,
                 held_id: str | None, per_type: tuple[list[Any], list[Any]] | None = None) -> None:
    """Holdings, product types and the per-type preferences: from the one-statement query when it ran
    (``held``, ``per_type``: its list columns), else from their own queries."""
    n = features.n
    if held is not None and held_id is not None:  # came with the one-statement customer query
        features.holdings = _holdings(np.arange(n), held)
        features.status["held"] = FeatureStatus("held", True, query_id=held_id,
                                                known=int(np.count_nonzero([x is not None and len(x) > 0
                                                                            for x in held])))
    else:
        res = runner.run("features/held")
        if isinstance(res, named.Skipped):
            features.status["held"] = FeatureStatus("held", False, res.reason)
        else:
            got = result_columns(res)
            features.holdings = Holdings(rows_of(got.ints("cix")), got.objects("product_id"))
            features.queries["features/held"] = res[0].id
            features.status["held"] = FeatureStatus("held", True, query_id=res[0].id,
                                                    known=len(np.unique(features.holdings.rows)))
    if per_type is not None and held_id is not None:
        _combined_preferences(features, held_id, *per_type)
    else:
        _queried_preferences(features, runner, rows_of)
    if features.interests is not None:
        return
    res = runner.run("features/interests")
    if isinstance(res, named.Skipped):
        features.status["interests"] = FeatureStatus("interests", False, res.reason)
        return
    got = result_columns(res)
    interests = np.full(n, None, dtype=object)
    interests[rows_of(got.ints("cix"))] = got.objects("interests")
    features.interests = interests
    features.queries["features/interests"] = res[0].id
    features.status["interests"] = FeatureStatus("interests", True, query_id=res[0].id,
                                                 known=int(np.count_nonzero(interests != None)))  # noqa: E711


def _set_per_type(features: CustomerFeatures, name: str, matrix: np.ndarray, qid: str) -> None:
    known = int(np.count_nonzero(~np.isnan(matrix).all(axis=1)))
    features.status[name] = (FeatureStatus(name, True, query_id=qid, known=known) if known else
                             FeatureStatus(name, False, "no customer has a value", query_id=qid))
    setattr(features, name, matrix if known else None)


def _combined_preferences(features: CustomerFeatures, qid: str, types: list[Any], lists: list[Any]) -> None:
    """Types and per-type preferences from the list columns of the one-statement query (rows = customers)."""
    features.types = tuple(str(t) for t in types)
    shape = (features.n, len(features.types))
    matrices = {"affinity": np.full(shape, np.nan), "usage_trend": np.full(shape, np.nan)}
    for row, items in enumerate(lists):
        for item in items or ():
            for name, matrix in matrices.items():
                if item[name] is not None:
                    matrix[row, int(item["tix"])] = float(item[name])
    for name, matrix in matrices.items():
        _set_per_type(features, name, matrix, qid)


def _queried_preferences(features: CustomerFeatures, runner: QueryRunner, rows_of: Any) -> None:
    n = features.n
    types = runner.run("features/types")
    if not isinstance(types, named.Skipped):
        features.types = tuple(str(t) for t in result_columns(types).objects("product_type"))
        features.queries["features/types"] = types[0].id
    both = runner.run("features/preferences")
    for name in ("affinity", "usage_trend"):
        if isinstance(both, named.Skipped):
            res = runner.run(f"features/{name}")
            if isinstance(res, named.Skipped):
                features.status[name] = FeatureStatus(name, False, res.reason)
                continue
            query, qid, got = f"features/{name}", res[0].id, result_columns(res)
            del res
        else:
            query, qid, got = "features/preferences", both[0].id, result_columns(both)
        features.queries[query] = qid
        matrix = np.full((n, len(features.types)), np.nan)
        matrix[rows_of(got.ints("cix")), got.ints("tix")] = got.floats(name)
        del got
        _set_per_type(features, name, matrix, qid)
