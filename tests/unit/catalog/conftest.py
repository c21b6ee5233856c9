"""A catalog on disk, and a helper that records runs in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakestory.catalog import Catalog, NodeState

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Recorder:
    """Writes runs as the observer would, at times counted in seconds from T0."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @staticmethod
    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def start(self, run_id: str, start: float = 0, **fields: Any) -> dict[str, Any]:
        run = {
            "run_id": run_id,
            "status": "running",
            "pipelines": ["silver"],
            "options": {"nodes": ["silver.orders"]},
            "started_at": self.at(start),
            **fields,
        }
        self.catalog.run_started(run)
        return run

    def run(
        self,
        run_id: str,
        start: float = 0,
        status: str = "success",
        nodes: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> None:
        """A whole run: its start row, then its end with ``nodes`` (one by default)."""
        run = self.start(run_id, start, **fields)
        end = {**run, "status": status, "ended_at": self.at(start + 2), "duration_s": 2.0}
        rows = [self.node(run_id, status=status)] if nodes is None else nodes
        self.catalog.run_finished(end, rows, [], [], [])

    @staticmethod
    def node(
        run_id: str, key: str = "silver.orders", status: str = "success", **fields: Any
    ) -> dict[str, Any]:
        pipeline, _, node = key.partition(".")
        return {
            "run_id": run_id,
            "key": key,
            "pipeline": pipeline,
            "node": node,
            "status": status,
            **fields,
        }

    def state(
        self, key: str, value: Any, at: float, kind: str = "column", version: int = 1
    ) -> NodeState:
        payload = {"kind": kind, "column": "seq", "value": value}
        return NodeState(key, kind, payload, f"/lake/{key}", version, f"r{at:g}", self.at(at))

    def files(self, key: str, *names: str) -> list[dict[str, Any]]:
        return [
            {"key": key, "file": n, "size": 10, "mtime": 1.5, "run_id": "r", "table_version": 1}
            for n in names
        ]

    def finished(
        self,
        states: list[NodeState] | None = None,
        files: list[dict[str, Any]] | None = None,
        schemas: list[dict[str, Any]] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        """A run_finished commit with just these state, ledger and schema rows."""
        run = {"run_id": "r", "status": "success"}
        (catalog or self.catalog).run_finished(run, [], states or [], files or [], schemas or [])


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(str(tmp_path / "system"), "proj")


@pytest.fixture
def rec(catalog: Catalog) -> Recorder:
    return Recorder(catalog)
