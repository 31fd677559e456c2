"""The model registry: every trained model under ``<state_dir>/models/<model id>/``, one promoted per task.

Each model folder holds ``model.skops`` (the fitted scikit-learn estimator, in skops' format: a zip of
JSON and numpy arrays, loaded without pickle) and ``model.json`` (task, kind, input columns and their
encodings, data fingerprint, parameters, every holdout metric, the monitoring snapshot, creation time). A
folder is written beside its final name and renamed into place, so a failed or interrupted training never
leaves a model behind. ``promoted.json`` names the promoted model of each task; scoring, monitoring and the
agents use it.

Loading checks the file before it builds anything: every type in it must be a scikit-learn or numpy type
(skops lists them without loading), otherwise the file is refused. The state folder is the user's; this
check is what makes loading a model file that someone else put there safe.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmatch_agents.artefacts import META_FILE as META_FILE
from finmatch_agents.artefacts import PROMOTED as PROMOTED
from finmatch_agents.artefacts import ArtefactStore, created_at, new_id
from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.predict.frame import Feature
from finmatch_agents.predict.models import LABELS, Fitted, params_of, require_sklearn

FORMAT = 1
MODEL_FILE = "model.skops"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "scipy.sparse.")
#: gradient boosting keeps a functools.partial of a scikit-learn function; skops checks the function itself
TRUSTED_TYPES = ("functools.partial",)


@dataclass
class ModelInfo:
    """A registered model's metadata (``model.json``)."""

    meta: dict[str, Any]
    path: Path

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def task(self) -> str:
        return str(self.meta["task"])

    @property
    def features(self) -> list[Feature]:
        return [Feature.from_dict(f) for f in self.meta["features"]]

    @property
    def leaky(self) -> list[str]:
        return list(self.meta.get("training", {}).get("leaky", []))

    def holdout_auc(self) -> float | None:
        card = self.meta.get("training", {}).get("holdout", {}).get(self.meta["kind"])
        return float(card["auc"]["value"]) if card else None


def root(state_dir: Path) -> Path:
    return state_dir / "models"


def _store(state_dir: Path) -> ArtefactStore:
    return ArtefactStore(root(state_dir), "model", "finmatch predict list", "models.lock")


def save(state_dir: Path, result: Any, *, db: str, fingerprint: str | None) -> ModelInfo:
    """Write the kept model of ``result`` (a :class:`predict.train.TrainResult`; not imported, so the registry
    does not depend on training) all or nothing, and return its metadata."""
    import sklearn
    import skops.io as sio

    model = result.models[result.kept]
    model_id = new_id(result.task.name)
    summary = result.summary()
    meta = {
        "id": model_id, "format": FORMAT, "task": result.task.name, "kind": model.kind, "label": LABELS[model.kind],
        "created_at": created_at(), "db": db, "table": result.table,
        "fingerprint": fingerprint, "features": [f.to_dict() for f in result.features],
        "reference": result.reference, "odds_factor": model.odds_factor, "params": params_of(model.kind),
        "seed": result.options.seed, "sklearn": sklearn.__version__, "snapshot": result.snapshot,
        "training": summary,
    }
    folder = _store(state_dir).save(model_id, meta, lambda tmp: sio.dump(model.estimator, tmp / MODEL_FILE))
    return ModelInfo(meta, folder)


def list_models(state_dir: Path, task: str | None = None) -> list[ModelInfo]:
    """Every registered model (newest first), optionally of one task; unreadable folders are skipped."""
    return [ModelInfo(meta, folder) for meta, folder in _store(state_dir).folders()
            if task is None or meta.get("task") == task]


def get(state_dir: Path, model_id: str) -> ModelInfo:
    for info in list_models(state_dir):
        if info.id == model_id:
            return info
    raise _store(state_dir).unknown(model_id)


def promoted_ids(state_dir: Path) -> dict[str, str]:
    return {str(k): str(v) for k, v in _store(state_dir).pointer().items()}


def promoted(state_dir: Path, task: str) -> ModelInfo | None:
    model_id = promoted_ids(state_dir).get(task)
    if model_id is None:
        return None
    try:
        return get(state_dir, model_id)
    except UsageError:
        return None


def promote(state_dir: Path, model_id: str) -> ModelInfo:
    """Make ``model_id`` the model its task scores with; a leaky model (trained with an input known only
    after the outcome) is refused."""
    info = get(state_dir, model_id)
    if info.leaky:
        raise UsageError(f"model {model_id} was trained with input(s) known only after the outcome "
                         f"({', '.join(info.leaky)}); it cannot score anyone in time, so it cannot be promoted",
                         hint="train without --allow-feature for those columns")
    _store(state_dir).update_pointer(lambda current: {**current, info.task: info.id})
    return info


def delete(state_dir: Path, model_id: str) -> tuple[ModelInfo, bool]:
    """Remove a model; True when it was the promoted one (its task then has no promoted model)."""
    info = get(state_dir, model_id)
    was: list[bool] = []

    def drop(current: dict[str, Any]) -> dict[str, Any] | None:
        was.append(current.get(info.task) == info.id)
        shutil.rmtree(info.path)
        return {k: v for k, v in current.items() if k != info.task} if was[0] else None

    _store(state_dir).update_pointer(drop)
    return info, was[0]


def load(info: ModelInfo) -> Fitted:
    """The fitted model, after checking every type in the file is a scikit-learn or numpy type."""
    require_sklearn()
    import skops.io as sio

    path = info.path / MODEL_FILE
    if info.meta.get("format") != FORMAT:
        raise StorageError(f"model {info.id}: format {info.meta.get('format')} is not {FORMAT}",
                           hint="train the model again with this version")
    try:
        types = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a damaged or foreign file: skops raises various errors
        raise StorageError(f"model {info.id}: {path} is not a readable skops file ({type(exc).__name__})",
                           hint=f"delete it with `finmatch predict delete {info.id}` and train again") from exc
    foreign = [t for t in types if not t.startswith(TRUSTED_PREFIXES) and t not in TRUSTED_TYPES]
    if foreign:
        raise StorageError(f"model {info.id}: {path} contains types that are not scikit-learn or numpy "
                           f"({', '.join(foreign[:3])}); refusing to load it",
                           hint="only load model files written by `finmatch predict train`")
    try:
        estimator = sio.load(path, trusted=types)
    except Exception as exc:
        raise StorageError(f"model {info.id}: cannot load {path} ({type(exc).__name__}: {exc})",
                           hint="the scikit-learn version may differ from the one that trained it "
                                f"({info.meta.get('sklearn')}); train again") from exc
    return Fitted(info.meta["kind"], estimator, float(info.meta.get("odds_factor", 1.0)))


def keep_newest(state_dir: Path, task: str, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest models of ``task`` (the promoted one is always kept)."""
    return _store(state_dir).prune([(m.id, m.path) for m in list_models(state_dir, task)], keep,
                                   promoted_ids(state_dir).get(task))
