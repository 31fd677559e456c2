"""Export every customer's top products from the serving recommender as Parquet or CSV (no data is read).

One row per customer and rank: ``customer_id, rank, product_id, product_name, score, because_of`` (the held
product the recommendation comes from, empty for popularity). Built as Arrow arrays from the saved lists and
written to a temporary file beside the target, then renamed, so a failed export leaves no partial file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.recommend.api import serving_model

if TYPE_CHECKING:
    from pathlib import Path


def export_lists(state_dir: Path, path: Path, fmt: str, top: int) -> dict[str, Any]:
    import pyarrow as pa

    info, promoted = serving_model(state_dir)
    arrays = info.arrays()
    served = int(arrays["top"].shape[1])
    if not 1 <= top <= served:
        raise UsageError(f"--top {top}: {info.id} keeps {served} products per customer; use 1..{served}")
    t = arrays["top"][:, :top].astype(np.int64)
    ok = t >= 0
    c, slot = np.nonzero(ok)
    j = t[c, slot]
    b = arrays["because"][:, :top].astype(np.int64)[c, slot]
    pids = arrays["product_ids"].astype(object)
    table = pa.table({
        "customer_id": pa.DictionaryArray.from_arrays(pa.array(c.astype(np.int32)),
                                                      pa.array(arrays["customer_ids"].astype(object))).cast(pa.string()),
        "rank": pa.array((slot + 1).astype(np.int16)),
        "product_id": pa.DictionaryArray.from_arrays(pa.array(j.astype(np.int32)), pa.array(pids)),
        "product_name": pa.DictionaryArray.from_arrays(pa.array(j.astype(np.int32)),
                                                       pa.array(arrays["product_names"].astype(object))),
        "score": pa.array(arrays["score"][:, :top][c, slot].astype(np.float32)),
        "because_of": pa.DictionaryArray.from_arrays(pa.array(np.clip(b, 0, None).astype(np.int32),
                                                              mask=b < 0), pa.array(pids)),
    })
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        else:
            import pyarrow.csv as pcsv

            plain = table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                                          for f in table.schema]))
            pcsv.write_csv(plain, tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path} ({exc.strerror or exc}); nothing was written",
                           hint="choose a writable --output path") from exc
    return {"path": str(path), "format": fmt, "rows": table.num_rows, "customers": int(ok.any(axis=1).sum()),
            "model_id": info.id, "recommender": info.kind, "promoted": promoted}
