"""Processes writing one catalog at once: nothing is lost, nobody fails.

Processes are spawned, not forked: a process forked after deltalake was used can die
silently.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.catalog import Catalog, NodeState, store

RUNS_EACH = 20


def _record_runs(uri: str, prefix: str, start: Any, runs: int) -> None:
    """A child process: ``runs`` whole runs, each as the observer records it. Tables are
    compacted every few commits, so that processes also compact at the same time."""
    store.COMPACT_AT = 4
    catalog = Catalog(uri, "proj")
    start.wait(60)
    for i in range(runs):
        run_id = f"{prefix}-{i:02}"
        now = datetime.now(UTC)
        run = {"run_id": run_id, "status": "running", "pipelines": ["p"], "started_at": now}
        catalog.run_started(run)
        key = f"p.{prefix}"
        catalog.run_finished(
            {**run, "status": "success", "ended_at": datetime.now(UTC)},
            [{"run_id": run_id, "key": key, "pipeline": "p", "node": prefix, "status": "success"}],
            [NodeState(key, "files", {"kind": "files"}, None, i, run_id, datetime.now(UTC))],
            [{"key": key, "file": f"{i}.csv", "size": 1, "run_id": run_id}],
            [],
        )


def _in_processes(uri: str, prefixes: list[str], runs: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_record_runs, args=(uri, p, start, runs)) for p in prefixes]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * len(procs)


@pytest.mark.slow
def test_two_processes_record_runs_at_once(tmp_path: Path) -> None:
    uri = str(tmp_path / "system")
    _in_processes(uri, ["a", "b"], RUNS_EACH)
    catalog = Catalog(uri, "proj")
    runs = catalog.runs(limit=None)
    assert len(runs) == 2 * RUNS_EACH
    assert {r["status"] for r in runs} == {"success"}
    assert len(catalog.node_runs(limit=None)) == 2 * RUNS_EACH  # none lost, none twice
    assert DeltaTable(catalog.table_uri("files")).count() == 2 * RUNS_EACH
    assert set(catalog.states()) == {"p.a", "p.b"}
    assert catalog.ledger("p.a") == {f"{i}.csv" for i in range(RUNS_EACH)}


@pytest.mark.slow
def test_processes_create_the_tables_at_once(tmp_path: Path) -> None:
    uri = str(tmp_path / "system")
    _in_processes(uri, ["a", "b", "c", "d"], 1)
    catalog = Catalog(uri, "proj")
    assert sorted(r["run_id"] for r in catalog.runs()) == ["a-00", "b-00", "c-00", "d-00"]
    assert set(catalog.states()) == {"p.a", "p.b", "p.c", "p.d"}
