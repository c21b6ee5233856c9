"""Hooks: users subscribe to a project's run events from Python, as the built-ins do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lakestory.api import Project
from lakestory.runtime.events import Event, NodeFinished, RunFinished

PROJECT = """
project: hooks
on_error: fail_later
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: good
        read: {connection: raw, path: a.csv}
        write: {connection: raw, path: good.parquet}
      - name: bad
        read: {connection: raw, path: a.csv}
        transform: [{sql: "SELECT missing_column FROM df"}]
        write: {connection: raw, path: bad.parquet}
"""


def test_hooks_see_named_events_in_priority_order_and_a_broken_one_stops_nothing(
    project: Callable[..., Path],
) -> None:
    root = project(PROJECT, {"data/a.csv": "id\n1\n2\n"})
    proj = Project.load(root / "lakestory.yaml")
    seen: list[tuple[str, Any]] = []

    def pager(event: Event) -> None:
        assert isinstance(event, NodeFinished)
        seen.append(("pager", event.record.key))

    def broken(event: Event) -> None:
        raise RuntimeError("the ticket system is down")

    def at_end(event: Event) -> None:
        assert isinstance(event, RunFinished)
        seen.append(("end", event.result.options.get("story")))  # written before hooks

    proj.events.subscribe("node_failed", broken, priority=-100)
    proj.events.subscribe("node_failed", pager)
    proj.events.subscribe("run_finished", at_end)
    result = proj.run()
    assert result.status == "failed"
    assert result.record("good").status == "success"  # fail_later: the good node ran
    assert seen[0] == ("pager", "p.bad")
    assert seen[1][0] == "end" and str(seen[1][1]).endswith(".html")
    # hooks stay subscribed for the project's next run
    seen.clear()
    proj.run()
    assert [s[0] for s in seen] == ["pager", "end"]
