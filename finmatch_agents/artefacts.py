"""Folders of trained artefacts under the state dir (predictive models, recommenders), kept one way.

Each artefact is a folder ``<base>/<id>/`` with a ``model.json`` of metadata beside the files its registry
writes. A folder is written beside its final name and renamed into place, so a failed or interrupted
training never leaves a half-saved artefact; listing skips hidden (unfinished) and unreadable folders.
``promoted.json`` in ``base`` names the promoted artefacts. What goes into a folder, and which artefact may be
promoted, is the registries' business (``predict.registry``, ``recommend.registry``); this module only keeps
the folders and the pointer file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.files import atomic_write_text, locked

META_FILE = "model.json"
PROMOTED = "promoted.json"


def new_id(prefix: str) -> str:
    return f"{prefix}-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


def created_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


@dataclass(frozen=True)
class ArtefactStore:
    """The folders of one kind of artefact: ``noun`` names it in messages ("model", "recommender"),
    ``list_command`` is the command that lists them, ``lock`` the lock name for the pointer file."""

    base: Path
    noun: str
    list_command: str
    lock: str

    def save(self, artefact_id: str, meta: dict[str, Any], write: Callable[[Path], None]) -> Path:
        """Write ``meta`` and what ``write`` puts in the folder, all or nothing; returns the folder."""
        tmp, final = self.base / f".{artefact_id}.tmp", self.base / artefact_id
        try:
            self.base.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            write(tmp)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=_json), encoding="utf-8")
            tmp.rename(final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StorageError(f"cannot save the {self.noun} in {self.base} ({exc.strerror or exc}); nothing was "
                               "saved", hint="check that the state folder (FINMATCH_STATE_DIR) is writable and has "
                               "space") from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def folders(self) -> list[tuple[dict[str, Any], Path]]:
        """Every saved artefact's metadata and folder, newest first; unreadable or half-written ones skipped."""
        out = []
        if self.base.exists():
            for folder in self.base.iterdir():
                if folder.name.startswith(".") or not (folder / META_FILE).is_file():
                    continue
                try:
                    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(meta, dict) and "id" in meta:
                    out.append((meta, folder))
        return sorted(out, key=lambda m: (m[0].get("created_at", ""), str(m[0]["id"])), reverse=True)

    def unknown(self, artefact_id: str) -> UsageError:
        known = ", ".join(str(meta["id"]) for meta, _ in self.folders()[:5]) or "none"
        return UsageError(f"MODEL: no {self.noun} '{artefact_id}' in {self.base} (newest: {known})",
                          hint=f"`{self.list_command}` shows the {self.noun}s")

    def pointer(self) -> dict[str, Any]:
        """``promoted.json`` ({} when absent); a damaged file is a storage error, never silently empty."""
        path = self.base / PROMOTED
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StorageError(f"{path} is not readable JSON ({exc})",
                               hint=f"promote a {self.noun} again to rewrite it") from exc
        return data if isinstance(data, dict) else {}

    def update_pointer(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """Rewrite ``promoted.json`` with ``change`` applied to what it holds, under the store's lock (a
        rewrite is what makes running servers reload); ``change`` returning None leaves the file as it is."""
        with locked(self.base.parent / "locks" / self.lock):
            data = change(self.pointer())
            if data is not None:
                atomic_write_text(self.base / PROMOTED, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def prune(self, newest_first: list[tuple[str, Path]], keep: int, protected: str | None) -> list[str]:
        """Delete all but the ``keep`` first of ``newest_first`` (id, folder), never ``protected``."""
        removed = []
        for artefact_id, folder in newest_first[keep:]:
            if artefact_id != protected:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(artefact_id)
        return removed
