"""A campaign list from a search or look-alike result: CSV (spreadsheet-safe cells) or Parquet, written
atomically (a reader never sees half a file)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.files import atomic_write_bytes
from finmatch_agents.formatting import csv_line

if TYPE_CHECKING:
    from pathlib import Path

FORMATS = {".csv": "csv", ".parquet": "parquet"}
COLUMNS = ("rank", "customer_id", "score", "reasons", "interpretation", "ranker")


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    what = result.get("interpretation") or result.get("seed") or ""
    return [{"rank": h["rank"], "customer_id": h["customer_id"], "score": h["score"],
             "reasons": "; ".join(h["reasons"]), "interpretation": what, "ranker": result["ranker"]}
            for h in result["results"]]


def check_path(path: Path) -> str:
    """The export format for ``path`` (from its suffix), or a UsageError (exit 2)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"--export: '{path.name}' must end in .csv or .parquet")
    if path.is_dir():
        raise UsageError(f"--export: '{path}' is a folder; give a file name")
    return kind


def export(result: dict[str, Any], path: Path) -> int:
    """Write the ranked customers of ``result`` to ``path`` (format from the suffix); returns the row count."""
    kind = check_path(path)
    table = rows(result)
    if kind == "csv":
        data = (csv_line(COLUMNS) + "".join(csv_line([r[c] for c in COLUMNS]) for r in table)).encode("utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.table({"rank": pa.array([r["rank"] for r in table], pa.int32()),
                          "customer_id": pa.array([r["customer_id"] for r in table], pa.string()),
                          "score": pa.array([r["score"] for r in table], pa.float64()),
                          "reasons": pa.array([r["reasons"] for r in table], pa.string()),
                          "interpretation": pa.array([r["interpretation"] for r in table], pa.string()),
                          "ranker": pa.array([r["ranker"] for r in table], pa.string())})
        buffer = io.BytesIO()
        pq.write_table(arrow, buffer)
        data = buffer.getvalue()
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return len(table)
