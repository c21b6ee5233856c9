"""The story observer: on ``RunFinished`` it writes the run's story, then applies retention.

It reads what it compares against (the catalog's last schemas, the project's git commit)
in the background while the run's nodes run, so writing the story only formats records.
Any failure is logged as a warning and never fails the run.
"""

from __future__ import annotations

import json
import logging
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakestory.catalog import Catalog
from lakestory.config.loader import LoadedConfig
from lakestory.config.models.operations import StoryConfig
from lakestory.runtime.events import Event, RunFinished, RunStarted
from lakestory.runtime.plan import Plan
from lakestory.runtime.records import RunResult
from lakestory.secrets.redactor import current as current_redactor
from lakestory.story.files import apply_retention, folder_for, story_base, story_root, write_atomic
from lakestory.story.html import render_html
from lakestory.story.model import RunFacts, build_story

log = logging.getLogger(__name__)
GIT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class StorySettings:
    root: str  # the stories' root folder
    config: StoryConfig
    project_dir: Path

    @classmethod
    def for_project(cls, loaded: LoadedConfig) -> StorySettings | None:
        """None when ``story.enabled`` is false (every run has a story by default)."""
        root = story_root(loaded)
        if root is None:
            return None
        return cls(root, loaded.config.story or StoryConfig(), loaded.root_dir)


def dag_of(plan: Plan) -> tuple[list[str], list[tuple[str, str]]]:
    """The planned node keys and the edges (upstream, downstream) between them."""
    keys = [p.key for p in plan.nodes]
    planned = set(keys)
    edges = [
        (dep, p.key)
        for p in plan.nodes
        for dep in sorted(p.node.data_deps | p.node.order_deps)
        if dep in planned
    ]
    return keys, edges


class StoryObserver:
    """Subscribe to a run's event bus: ``bus.subscribe(StoryObserver(settings, plan))``."""

    def __init__(
        self, settings: StorySettings, plan: Plan | None = None, catalog: Catalog | None = None
    ) -> None:
        self.settings = settings
        self.dag = dag_of(plan) if plan is not None else ([], [])
        self.catalog = catalog
        self._git: subprocess.Popen[bytes] | None = None
        self._schemas: Future[Any] | None = None
        self.written: str | None = None  # the HTML path of the last story written

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._started()
        elif isinstance(event, RunFinished):
            try:
                self.write(event.result)
            except Exception as exc:  # an observer must never fail the run
                log.warning(
                    "the story of run %s could not be written under %s: %s",
                    event.result.run_id,
                    self.settings.root,
                    exc,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )

    def _started(self) -> None:
        try:
            self._git = subprocess.Popen(
                ["git", "rev-parse", "HEAD"],
                cwd=self.settings.project_dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
        except OSError:  # no git on this machine
            self._git = None
        if self.catalog is not None:
            catalog = self.catalog
            pool = ThreadPoolExecutor(1, thread_name_prefix="story-schemas")
            self._schemas = pool.submit(
                lambda: (catalog.last_schemas(), catalog.node_runs(status="success", limit=2000))
            )
            pool.shutdown(wait=False)

    def write(self, result: RunResult) -> str:
        """Write the story of ``result``; returns the HTML path (also in
        ``result.options["story"]``)."""
        if self._git is None and self._schemas is None:
            self._started()  # RunStarted was not seen (e.g. called directly)
        cfg = self.settings.config
        schemas, history = self._previous()
        facts = RunFacts(
            dag_nodes=self.dag[0],
            dag_edges=self.dag[1],
            git_commit=self._commit(),
            previous_schemas=schemas,
            max_sample_rows=cfg.max_sample_rows,
            history=history,
        )
        story = current_redactor().redact(build_story(result, facts))  # no secret leaves
        pipelines = story["run"]["pipelines"]
        base = story_base(self.settings.root, pipelines, result.started_at, result.run_id)
        write_atomic(base + ".json", json.dumps(story, indent=1, default=str))
        write_atomic(base + ".html", render_html(story))
        result.options["story"] = base + ".html"
        self.written = base + ".html"
        folder = folder_for(pipelines)
        apply_retention(self.settings.root, folder, result.run_id, cfg)
        return base + ".html"

    def _commit(self) -> str | None:
        proc, self._git = self._git, None
        if proc is None:
            return None
        try:
            out, _ = proc.communicate(timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return None
        text = out.decode("ascii", "replace").strip()
        return text if proc.returncode == 0 and text else None

    def _previous(self) -> tuple[dict[str, list[dict[str, str]]] | None, list[dict[str, Any]]]:
        """The catalog's last schemas and its successful node runs (newest first), read
        while the run ran; (None, []) without a catalog or when it could not be read."""
        future, self._schemas = self._schemas, None
        if future is None:
            return None, []
        try:
            schemas, runs = future.result()
            return schemas, runs
        except Exception as exc:  # the story is still worth writing without them
            log.warning(
                "the story could not read the run history from the catalog: %s",
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return None, []
