"""A small run as the runner records it (three nodes, one failed, a hostile value in its
data), and stories on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.story.files import story_base, write_atomic

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>"


@pytest.fixture
def run() -> RunResult:
    ok = NodeRecord(
        "bronze.raw",
        "bronze",
        "raw",
        status="success",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=1),
        rows_read=3,
        rows_out=3,
        rows_written=3,
        schema=[{"name": "id", "type": "bigint"}, {"name": "name", "type": "varchar"}],
        sql=[f"SELECT id, '{EVIL}' AS name FROM df WHERE id > 1"],
        target="lake:bronze/raw",
        target_uri="/lake/bronze/raw",
        table_version=4,
        checks=[
            {
                "name": "not_null(id)",
                "type": "not_null",
                "phase": "validation",
                "status": "warned",
                "failing": 1,
                "pass_rate": 0.5,
                "message": EVIL,
                "samples": [{"id": None, "name": EVIL}],
            }
        ],
        rows_dropped=1,
    )
    ok.sample = [{"id": 1, "name": EVIL}, {"id": 2, "name": "b"}]  # type: ignore[attr-defined]
    bad = NodeRecord(
        "silver.clean",
        "silver",
        "clean",
        status="failed",
        started_at=T0 + timedelta(seconds=1),
        ended_at=T0 + timedelta(seconds=2),
        error={"kind": "error", "message": f"boom {EVIL}", "text": f"boom {EVIL}\nhint: fix"},
    )
    skipped = NodeRecord(
        "gold.report", "gold", "report", status="skipped", skipped_because="silver.clean failed"
    )
    return RunResult(
        "abc123",
        "proj",
        None,
        T0,
        T0 + timedelta(seconds=2),
        status="failed",
        nodes=[ok, bad, skipped],
        pipelines=["bronze", "gold", "silver"],
    )


@pytest.fixture
def now() -> datetime:
    """The clock the stories of :func:`make` are dated against."""
    return NOW


@pytest.fixture
def make() -> Callable[..., str]:
    """``make(root, run_id, days_ago, folder="p")``: a story on disk (JSON and HTML) of a run
    that started (and was written) ``days_ago`` days before NOW; returns its path without
    extension."""

    def write(root: Path, run_id: str, days_ago: float, folder: str = "p") -> str:
        started = NOW - timedelta(days=days_ago)
        base = story_base(str(root), [folder], started, run_id)
        run = {"run_id": run_id, "status": "success", "started_at": started.isoformat()}
        write_atomic(base + ".json", json.dumps({"run": run}))
        write_atomic(base + ".html", "<html></html>")
        os.utime(base + ".json", (started.timestamp(), started.timestamp()))
        return base

    return write
