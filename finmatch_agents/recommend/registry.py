"""The recommender registry: ``<state_dir>/recommenders/<model id>/`` with ``model.json`` and ``model.npz``.

``model.json`` holds the kind, the data fingerprint, every parameter, the whole evaluation (leaderboard,
folds, gate, verdict) and what the served lists were fitted on. ``model.npz`` holds numpy arrays only (no
object arrays, loaded with ``allow_pickle=False``, so loading a file someone put in the state folder cannot
run code): the customers and products, each customer's product order and scores from the served model, and
the counts the reasons are computed from (co-acceptance counts, popularity, segment counts). A folder is
written beside its final name and renamed into place, so a failed or interrupted training never leaves a
half-saved model. ``promoted.json`` names the promoted recommender; only a model that passed the gate can
be promoted.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.files import atomic_write_text, locked

FORMAT = 1
META_FILE = "model.json"
ARRAYS_FILE = "model.npz"
PROMOTED = "promoted.json"
KEY = "recommender"


@dataclass
class RecommenderInfo:
    meta: dict[str, Any]
    path: Path

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def promotable(self) -> bool:
        return bool(self.meta.get("promotable"))

    def arrays(self) -> dict[str, np.ndarray]:
        path = self.path / ARRAYS_FILE
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise StorageError(f"recommender {self.id}: {path} is not readable ({type(exc).__name__}: {exc})",
                               hint=f"delete {self.path} and train again (`finmatch recommend train`)") from exc


def root(state_dir: Path) -> Path:
    return state_dir / "recommenders"


def new_id() -> str:
    return "rec-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


def save(state_dir: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RecommenderInfo:
    """Write a model folder all or nothing and return it."""
    model_id = new_id()
    meta = {"id": model_id, "format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"), **meta}
    bad = [k for k, v in arrays.items() if v.dtype == object]
    if bad:
        raise ValueError(f"object arrays cannot be saved without pickle: {bad}")
    base = root(state_dir)
    tmp = base / f".{model_id}.tmp"
    final = base / model_id
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        with (tmp / ARRAYS_FILE).open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=_json), encoding="utf-8")
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(f"cannot save the recommender in {base} ({exc.strerror or exc}); nothing was saved",
                           hint="check that the state folder (FINMATCH_STATE_DIR) is writable and has space") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RecommenderInfo(meta, final)


def _json(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def list_models(state_dir: Path) -> list[RecommenderInfo]:
    """Every saved recommender, newest first; unreadable or half-written folders are skipped."""
    base = root(state_dir)
    out = []
    if base.exists():
        for folder in base.iterdir():
            if folder.name.startswith(".") or not (folder / META_FILE).is_file():
                continue
            try:
                meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and "id" in meta:
                out.append(RecommenderInfo(meta, folder))
    return sorted(out, key=lambda m: (m.meta.get("created_at", ""), m.id), reverse=True)


def get(state_dir: Path, model_id: str) -> RecommenderInfo:
    for info in list_models(state_dir):
        if info.id == model_id:
            return info
    known = ", ".join(m.id for m in list_models(state_dir)[:5]) or "none"
    raise UsageError(f"MODEL: no recommender '{model_id}' in {root(state_dir)} (newest: {known})",
                     hint="`finmatch recommend list` shows the recommenders")


def promoted_id(state_dir: Path) -> str | None:
    path = root(state_dir) / PROMOTED
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path} is not readable JSON ({exc})",
                           hint="promote a recommender again to rewrite it") from exc
    value = data.get(KEY) if isinstance(data, dict) else None
    return str(value) if value else None


def promoted(state_dir: Path) -> RecommenderInfo | None:
    model_id = promoted_id(state_dir)
    if model_id is None:
        return None
    try:
        return get(state_dir, model_id)
    except UsageError:
        return None


def promote(state_dir: Path, model_id: str) -> RecommenderInfo:
    """Make ``model_id`` the recommender that serves; refused unless it passed the gate."""
    info = get(state_dir, model_id)
    if not info.promotable:
        reason = info.meta.get("gate", {}).get("reason", "it did not pass the gate")
        raise UsageError(f"recommender {model_id} did not pass the promotion gate, so it cannot be promoted: {reason}",
                         hint="train again on more data (`finmatch recommend train`); popularity stays the bar")
    with locked(state_dir / "locks" / "recommenders.lock"):
        atomic_write_text(root(state_dir) / PROMOTED, json.dumps({KEY: info.id}, indent=1) + "\n")
    return info


def keep_newest(state_dir: Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest recommenders (the promoted one is always kept)."""
    current = promoted_id(state_dir)
    removed = []
    for info in list_models(state_dir)[keep:]:
        if info.id != current:
            shutil.rmtree(info.path, ignore_errors=True)
            removed.append(info.id)
    return removed
