"""What every engine shares: result and column types, sandbox limits, and the byte limits on results.

:class:`~finmatch_agents.warehouse.engine.DuckDBEngine` and the remote engines
(:mod:`finmatch_agents.warehouse.remote`) both build these; :mod:`finmatch_agents.warehouse.engine` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from finmatch_agents.errors import FinMatchError
    from finmatch_agents.evidence import QueryRecord

SOFT_DELETE_COLUMN = "_fivetran_deleted"
HARD_ROW_CAP = 1_000_000
#: Arrow bytes one result may hold (measured batch by batch while fetching, before conversion to Python)
MAX_RESULT_BYTES = 128 * 1024 * 1024
#: bytes one value may hold, nested contents included (a string, a list, a struct, a map)
MAX_CELL_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str


@dataclass
class _Detached:
    """What a prefetched statement left: its result or error, and the records it would have logged."""

    result: QueryResult | None
    records: list[QueryRecord]
    error: FinMatchError | None


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    record: QueryRecord
    #: ``columnar=True`` results: one numpy array per column (masked where NULL) instead of ``rows``
    arrays: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.record.id

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def first(self) -> dict[str, Any]:
        """The first row as a dict (``{}`` when the result is empty)."""
        return dict(zip(self.columns, self.rows[0], strict=True)) if self.rows else {}

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


@dataclass
class SandboxLimits:
    max_rows: int = 10_000
    timeout: float = 30.0
    threads: int = 2
    memory_limit: str = "4GB"


@dataclass
class _Catalog:
    tables: dict[str, list[ColumnInfo]] = field(default_factory=dict)
    soft_delete: list[str] = field(default_factory=list)
    #: table -> SQL condition that is true for soft-deleted rows (``_fivetran_deleted`` as a BOOLEAN)
    deleted_when: dict[str, str] = field(default_factory=dict)
    #: table -> why it cannot be read safely (its soft-delete column holds values that are not true/false)
    unusable: dict[str, str] = field(default_factory=dict)


class CatalogReads:
    """What every engine answers from its catalogue snapshot (``self._catalog``, read when it opened)."""

    _catalog: _Catalog

    def tables(self) -> list[str]:
        return sorted(self._catalog.tables)

    def columns(self, table: str) -> list[ColumnInfo]:
        return list(self._catalog.tables.get(table.lower(), []))

    def has_table(self, table: str) -> bool:
        return table.lower() in self._catalog.tables

    def soft_delete_tables(self) -> list[str]:
        return list(self._catalog.soft_delete)

    def unusable_tables(self) -> dict[str, str]:
        """Tables no query may read, with the reason (their soft-delete column is not a boolean)."""
        return dict(self._catalog.unusable)


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _Oversized(Exception):
    """A result or a value over the byte limits (becomes an :class:`SQLRefused` with ``rule``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


def _check_cells(batch: pa.RecordBatch, columns: list[str], limit: int = MAX_CELL_BYTES) -> None:
    for name, array in zip(columns, batch.columns, strict=True):
        if array.nbytes <= limit:
            continue  # no value can be larger than its whole column
        sizes = _cell_sizes(array)
        if sizes is not None and len(sizes) and int(sizes.max()) > limit:
            raise _Oversized("cell-size", f"column '{name}' holds a value of {int(sizes.max()):,} bytes; the limit "
                             f"for one value is {limit:,} bytes")


def _summed(child: pa.Array, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per-parent sums of the sizes of ``child[starts[i]:ends[i]]`` (the values of list ``i``)."""
    sizes = _cell_sizes(child)
    if sizes is None:
        width = max(1, getattr(child.type, "bit_width", 64) // 8)
        return (ends - starts) * width
    sums = np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes, dtype=np.int64)])
    return sums[ends] - sums[starts]


def _cell_sizes(array: pa.Array) -> np.ndarray | None:
    """Bytes of each value of ``array``, nested contents included; ``None`` for fixed-width types.

    Linear and vectorised: list sizes are sums over the child sizes by offsets."""
    kind = array.type
    if isinstance(array, pa.ExtensionArray):
        return _cell_sizes(array.storage)
    if pa.types.is_dictionary(kind):
        values = _cell_sizes(array.dictionary)
        if values is None:
            return None
        index = array.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        return np.where(array.is_null().to_numpy(zero_copy_only=False), 0, values[index]) if len(values) else \
            np.zeros(len(array), np.int64)
    if (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind) or pa.types.is_string_view(kind) or pa.types.is_binary_view(kind)):
        import pyarrow.compute as pc  # only for a column over MAX_CELL_BYTES: keeps start-up fast (~50 ms)

        return pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_fixed_size_binary(kind):
        return np.full(len(array), kind.byte_width, np.int64)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)  # into .values (a map: entries)
        return _summed(array.values, offsets[:-1], offsets[1:])
    if pa.types.is_fixed_size_list(kind):
        first = array.offset * kind.list_size
        starts = first + np.arange(len(array), dtype=np.int64) * kind.list_size
        return _summed(array.values, starts, starts + kind.list_size)
    if pa.types.is_struct(kind):
        parts = [p for p in (_cell_sizes(f) for f in array.flatten()) if p is not None]
        return np.sum(parts, axis=0) if parts else None
    if pa.types.is_union(kind):  # children are not aligned with the rows: take the largest member value
        parts = [p for p in (_cell_sizes(array.field(i)) for i in range(kind.num_fields)) if p is not None]
        largest = max((int(p.max()) for p in parts if len(p)), default=0)
        return np.full(len(array), largest, np.int64) if parts else None
    return None
