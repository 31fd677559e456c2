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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finmatch_agents.artefacts import META_FILE as META_FILE
from finmatch_agents.artefacts import PROMOTED as PROMOTED
from finmatch_agents.artefacts import ArtefactStore, created_at
from finmatch_agents.artefacts import new_id as _new_id
from finmatch_agents.errors import StorageError, UsageError

FORMAT = 1
ARRAYS_FILE = "model.npz"
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


def _store(state_dir: Path) -> ArtefactStore:
    return ArtefactStore(root(state_dir), "recommender", "finmatch recommend list", "recommenders.lock")


def new_id() -> str:
    return _new_id("rec")


def save(state_dir: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RecommenderInfo:
    """Write a model folder all or nothing and return it."""
    model_id = new_id()
    meta = {"id": model_id, "format": FORMAT, "created_at": created_at(), **meta}
    bad = [k for k, v in arrays.items() if v.dtype == object]
    if bad:
        raise ValueError(f"object arrays cannot be saved without pickle: {bad}")

    def write(tmp: Path) -> None:
        with (tmp / ARRAYS_FILE).open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    return RecommenderInfo(meta, _store(state_dir).save(model_id, meta, write))


def list_models(state_dir: Path) -> list[RecommenderInfo]:
    """Every saved recommender, newest first; unreadable or half-written folders are skipped."""
    return [RecommenderInfo(meta, folder) for meta, folder in _store(state_dir).folders()]


def get(state_dir: Path, model_id: str) -> RecommenderInfo:
    for info in list_models(state_dir):
        if info.id == model_id:
            return info
    raise _store(state_dir).unknown(model_id)


def promoted_id(state_dir: Path) -> str | None:
    value = _store(state_dir).pointer().get(KEY)
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
    _store(state_dir).update_pointer(lambda current: {KEY: info.id})
    return info


def keep_newest(state_dir: Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest recommenders (the promoted one is always kept)."""
    return _store(state_dir).prune([(m.id, m.path) for m in list_models(state_dir)], keep, promoted_id(state_dir))
