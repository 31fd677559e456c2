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

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.files import atomic_write_text, locked
from finmatch_agents.predict.frame import Feature
from finmatch_agents.predict.models import LABELS, Fitted, params_of, require_sklearn

FORMAT = 1
MODEL_FILE = "model.skops"
META_FILE = "model.json"
PROMOTED = "promoted.json"
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


def new_id(task: str) -> str:
    return f"{task}-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


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
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "db": db, "table": result.table,
        "fingerprint": fingerprint, "features": [f.to_dict() for f in result.features],
        "reference": result.reference, "odds_factor": model.odds_factor, "params": params_of(model.kind),
        "seed": result.options.seed, "sklearn": sklearn.__version__, "snapshot": result.snapshot,
        "training": summary,
    }
    base = root(state_dir)
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{model_id}.tmp"
    final = base / model_id
    try:
        tmp.mkdir()
        sio.dump(model.estimator, tmp / MODEL_FILE)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=_json), encoding="utf-8")
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(f"cannot save the model in {base} ({exc.strerror or exc}); nothing was saved",
                           hint="check that the state folder (FINMATCH_STATE_DIR) is writable and has space") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ModelInfo(meta, final)


def _json(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def list_models(state_dir: Path, task: str | None = None) -> list[ModelInfo]:
    """Every registered model (newest first), optionally of one task; unreadable folders are skipped."""
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
            if task is None or meta.get("task") == task:
                out.append(ModelInfo(meta, folder))
    return sorted(out, key=lambda m: (m.meta.get("created_at", ""), m.id), reverse=True)


def get(state_dir: Path, model_id: str) -> ModelInfo:
    for info in list_models(state_dir):
        if info.id == model_id:
            return info
    known = ", ".join(m.id for m in list_models(state_dir)[:5]) or "none"
    raise UsageError(f"MODEL: no model '{model_id}' in {root(state_dir)} (newest: {known})",
                     hint="`finmatch predict list` shows the models")


def promoted_ids(state_dir: Path) -> dict[str, str]:
    path = root(state_dir) / PROMOTED
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path} is not readable JSON ({exc})", hint="promote a model again to rewrite it") from exc
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


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
    with locked(state_dir / "locks" / "models.lock"):
        current = promoted_ids(state_dir)
        current[info.task] = info.id
        atomic_write_text(root(state_dir) / PROMOTED, json.dumps(current, indent=1, sort_keys=True) + "\n")
    return info


def delete(state_dir: Path, model_id: str) -> tuple[ModelInfo, bool]:
    """Remove a model; True when it was the promoted one (its task then has no promoted model)."""
    info = get(state_dir, model_id)
    with locked(state_dir / "locks" / "models.lock"):
        current = promoted_ids(state_dir)
        was = current.get(info.task) == info.id
        if was:
            del current[info.task]
            atomic_write_text(root(state_dir) / PROMOTED, json.dumps(current, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(info.path)
    return info, was


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
    promoted_id = promoted_ids(state_dir).get(task)
    removed = []
    for info in list_models(state_dir, task)[keep:]:
        if info.id != promoted_id:
            shutil.rmtree(info.path, ignore_errors=True)
            removed.append(info.id)
    return removed
