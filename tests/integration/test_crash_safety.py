"""Kill a real run (SIGKILL: no cleanup, no atexit) at each point of a node's life, then run
again: every table must hold each row exactly once — none lost, none twice.

The kill points are named in :mod:`lakestory.core.faults`; ``LAKESTORY_FAULT`` selects one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

POINTS = ["after_read", "before_write", "during_write", "after_commit", "before_run_finished"]

READS = {
    "incremental column": "{connection: land, path: '*.csv', incremental: {column: seq}}",
    "incremental files": "{connection: land, path: ., format: csv, incremental: {mode: files}}",
    "append with keys": "{connection: land, path: '*.csv'}",
}


def make(root: Path, read: str) -> Path:
    (root / "landing").mkdir(parents=True)
    keys = ", keys: [id]" if "incremental" not in read else ""
    path = root / "lakestory.yaml"
    path.write_text(
        "project: crash\n"
        "connections:\n"
        "  land: {type: local, base_path: landing}\n"
        "  lake: {type: local, base_path: lake}\n"
        "pipelines:\n"
        "  - pipeline: bronze\n"
        "    nodes:\n"
        "      - name: events\n"
        f"        read: {read}\n"
        f"        write: {{connection: lake, path: events, mode: append{keys}}}\n"
    )
    return path


def land(root: Path, batch: int, size: int = 50) -> None:
    first = batch * size
    lines = [f"{i},{i},payload-{i}" for i in range(first, first + size)]
    (root / "landing" / f"batch{batch:03}.csv").write_text("id,seq,body\n" + "\n".join(lines))


def run(path: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKESTORY_")}
    if fault:
        env["LAKESTORY_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "lakestory", "run", str(path), "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ids(root: Path) -> list[int]:
    table = DeltaTable(str(root / "lake" / "events")).to_pyarrow_table(columns=["id"])
    return sorted(table.column("id").to_pylist())


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("kind", list(READS))
def test_a_run_killed_anywhere_loses_and_repeats_nothing(
    tmp_path: Path, kind: str, point: str
) -> None:
    path = make(tmp_path, READS[kind])
    land(tmp_path, 0)
    assert run(path).returncode == 0
    land(tmp_path, 1)

    killed = run(path, fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    survivor = ids(tmp_path)  # whole batches only: the table was never half written
    assert survivor in (list(range(50)), list(range(100)))
    again = run(path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ids(tmp_path) == list(range(100))
    land(tmp_path, 2)
    assert run(path).returncode == 0
    assert ids(tmp_path) == list(range(150))
