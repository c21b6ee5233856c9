"""Where stories live, writing them atomically, listing them and retention.

Layout: ``<root>/<folder>/<YYYY-MM-DD>/<run_id>.json`` and ``.html``, where ``<folder>`` is
the run's pipeline (``_multi`` when a run spans several pipelines) and the date is the UTC
day the run started.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lakestory.config.loader import LoadedConfig
from lakestory.config.models.operations import StoryConfig
from lakestory.io import paths
from lakestory.io.folders import own_folder

DEFAULT_FOLDER = os.path.join(".lakestory", "stories")  # beside the project file
MULTI = "_multi"  # the folder of runs that span several pipelines


def story_root(loaded: LoadedConfig) -> str | None:
    """The stories' root folder, or None when ``story.enabled`` is false.

    Without a connection: ``path`` relative to the project folder (``.lakestory/stories``
    unless ``path`` is given). With a ``local`` connection: ``path`` under its ``base_path``.
    """
    cfg = loaded.config.story or StoryConfig()
    if not cfg.enabled:
        return None
    default = cfg.connection is None and "path" not in cfg.model_fields_set
    return own_folder(
        loaded, "story", cfg.connection, DEFAULT_FOLDER if default else cfg.path, "stories"
    )


def folder_for(pipelines: list[str]) -> str:
    """The folder of a run's stories: its pipeline, or ``_multi`` for several."""
    if len(pipelines) == 1:
        return re.sub(r"[^\w.-]", "_", pipelines[0]) or MULTI
    return MULTI


def story_base(root: str, pipelines: list[str], started_at: datetime, run_id: str) -> str:
    """The path (or URL, on a cloud connection) of a run's story without its extension."""
    day = started_at.astimezone(UTC).strftime("%Y-%m-%d")
    return paths.join(root, folder_for(pipelines), day, run_id)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` whole: readers see no half-written story."""
    paths.write_text(path, text)


@dataclass(frozen=True)
class StoryFile:
    """A story on disk, as listed from its JSON."""

    json_path: str
    run_id: str
    folder: str
    status: str | None
    started_at: datetime | None
    duration_s: float | None

    @property
    def html_path(self) -> str:
        return self.json_path[: -len(".json")] + ".html"

    def load(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(paths.read_text(self.json_path))
        return data

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "folder": self.folder,
            "status": self.status,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "duration_s": self.duration_s,
            "json": self.json_path,
            "html": self.html_path if paths.exists(self.html_path) else None,
        }


def _paths(root: str, folder: str | None = None) -> list[tuple[str, str]]:
    """(folder, json path) of every story under ``root`` (one folder's when given)."""
    out: list[tuple[str, str]] = []
    for name in [folder] if folder else paths.listdir(root):
        top = paths.join(root, name)
        for day in paths.listdir(top):
            inner = paths.join(top, day)
            out += [
                (name, paths.join(inner, f))
                for f in paths.listdir(inner)
                if f.endswith(".json") and not f.startswith(".")
            ]
    return out


def _read(folder: str, path: str) -> StoryFile:
    run_id = _run_id(path)
    try:
        run = json.loads(paths.read_text(path)).get("run", {})
        started = datetime.fromisoformat(run["started_at"]) if run.get("started_at") else None
        return StoryFile(path, run_id, folder, run.get("status"), started, run.get("duration_s"))
    except (OSError, ValueError, AttributeError, TypeError):  # unreadable: listed, oldest
        return StoryFile(path, run_id, folder, None, None, None)


def list_stories(root: str, folder: str | None = None) -> list[StoryFile]:
    """The stories under ``root`` (one folder's when given), newest first."""
    found = [_read(f, p) for f, p in _paths(root, folder)]
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda s: (s.started_at or epoch, s.run_id), reverse=True)


def apply_retention(
    root: str,
    folder: str,
    keep: str,
    cfg: StoryConfig,
    now: datetime | None = None,
) -> list[str]:
    """Delete the stories of ``folder`` beyond ``retention_count`` (newest kept) or older
    than ``retention_days``, oldest first, never the run ``keep``; then empty date folders.
    Returns the run ids deleted.

    A story's age is its JSON file's modification time (written when its run ended): the
    files are not read, so retention costs a directory listing however many stories pile
    up."""
    if cfg.retention_count is None and cfg.retention_days is None:
        return []
    now = now or datetime.now(UTC)
    cutoff = (now - timedelta(days=cfg.retention_days)).timestamp() if cfg.retention_days else None
    top = paths.join(root, folder)
    stories = sorted(
        ((mtime, path) for path, mtime in paths.files_under(top) if _is_story(top, path)),
        reverse=True,
    )
    doomed = []
    for i, (mtime, path) in enumerate(stories):
        run_id = _run_id(path)
        if run_id == keep:
            continue
        too_many = cfg.retention_count is not None and i >= cfg.retention_count
        if too_many or (cutoff is not None and mtime < cutoff):
            doomed.append((run_id, path))
    doomed.reverse()  # oldest first
    for _, path in doomed:
        for each in (path, path[: -len(".json")] + ".html"):
            paths.remove(each)
    _remove_empty(paths.join(root, folder))
    return [run_id for run_id, _ in doomed]


def _is_story(top: str, path: str) -> bool:
    """A story's JSON directly in a date folder below ``top`` (``<top>/<day>/<run>.json``)."""
    parts = path[len(top) :].replace("\\", "/").strip("/").split("/")
    return len(parts) == 2 and parts[1].endswith(".json") and not parts[1].startswith(".")


def _run_id(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1][: -len(".json")]


def _remove_empty(top: str) -> None:
    """Remove the empty date folders under ``top`` (object stores have no empty folders)."""
    for day in paths.listdir(top):
        inner = paths.join(top, day)
        if os.path.isdir(inner) and not os.listdir(inner):
            os.rmdir(inner)
