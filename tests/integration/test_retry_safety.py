"""Retries and timeouts at their edges: a commit that fails after its data streamed, a store
that fails right after a commit, a quarantine that cannot be taken back, slow hooks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import deltalake
import pytest
from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.io import delta

PROJECT = """
project: edges
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
retry: {max_attempts: 2, initial_delay: 0.1s, jitter: false}
pipelines:
  - pipeline: p
    nodes:
      - name: load
        read: {connection: raw, path: a.csv}
        transform: [STEP]
        validation:
          tests:
            - {type: not_null, columns: [amount], on_fail: quarantine}
          quarantine: {connection: lake, path: rejected}
        write: {connection: lake, path: out, format: delta, mode: append}
        NODE_EXTRA
"""

STEPS = """
import time
from pathlib import Path

COUNTER = Path(__file__).parent / "calls.txt"


def second_call_sleeps(df, seconds):
    n = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(n + 1))
    if n >= 1:
        time.sleep(seconds)
    return df
"""

CSV = "id,amount\n1,10\n2,\n3,30\n"


def load(
    project: Callable[..., Path], step: str = "{sql: 'SELECT * FROM df'}", extra: str = ""
) -> Project:
    yaml = PROJECT.replace("STEP", step).replace("NODE_EXTRA", extra)
    root = project(yaml, {"data/a.csv": CSV, "steps.py": STEPS})
    return Project.load(root / "lakestory.yaml")


def rows(project: Project, table: str) -> int:
    return DeltaTable(str(project.loaded.root_dir / "lake" / table)).to_pyarrow_table().num_rows


@pytest.fixture
def fail_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any, str], None]]:
    """``fail_once(module, name)``: that function raises ConnectionResetError on its first
    call, after doing its work (``after=True``) or instead of it."""

    def patch(module: Any, name: str, after: bool = True) -> None:
        real, calls = getattr(module, name), []

        def flaky(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                if after:
                    real(*args, **kwargs)
                raise ConnectionResetError("the store dropped the connection")
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, flaky)

    yield patch


def main_write_fails_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's own write (to lake:out) fails once, before committing anything."""
    real_write, calls = delta.write, []

    def flaky(uri: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(uri)
        if uri.rstrip("/").endswith("/out") and calls.count(uri) == 1:
            raise ConnectionResetError("the store dropped the connection")
        return real_write(uri, *args, **kwargs)

    monkeypatch.setattr(delta, "write", flaky)


def test_a_store_failing_right_after_a_commit_does_not_make_a_retry_write_twice(
    project: Callable[..., Path], fail_once: Callable[..., None]
) -> None:
    fail_once(delta, "_read_version", after=False)  # the commit lands, its version is lost
    proj = load(project)
    result = proj.run()
    rec = result.record("load")
    assert result.ok and rec.attempts == 1
    assert rows(proj, "out") == 2  # once, not twice


def test_a_commit_that_fails_after_its_data_streamed_is_retried_and_the_timeout_still_holds(
    project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt streams all its data, then its commit fails (transient): the
    retry's stuck step must still be cancelled at the timeout."""
    real, calls = deltalake.write_deltalake, []

    def commit_fails_once(uri: Any, data: Any, **kwargs: Any) -> None:
        calls.append(str(uri))
        if str(uri).endswith("/out") and calls.count(str(uri)) == 1:
            data.read_all()  # every batch streamed: the commit is under way ...
            raise ConnectionResetError("... and the store drops the connection")
        real(uri, data, **kwargs)

    monkeypatch.setattr(deltalake, "write_deltalake", commit_fails_once)
    proj = load(
        project,
        "{function: steps.second_call_sleeps, params: {seconds: 20}}",
        "timeout: 2s",
    )
    started = time.monotonic()
    result = proj.run()
    assert time.monotonic() - started < 12  # 2 s + the 5 s grace, not the 20 s sleep
    rec = result.record("load")
    assert rec.status == "failed" and rec.error is not None
    assert rec.error["kind"] == "cancelled"
    assert [a["status"] for a in rec.attempt_log] == ["retried", "failed"]
    assert not (proj.loaded.root_dir / "lake" / "out" / "_delta_log").exists() or (
        rows(proj, "out") == 0
    )


def test_a_quarantine_that_cannot_be_taken_back_is_not_written_again(
    project: Callable[..., Path],
    fail_once: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The main write fails (transient) and so does taking this run's rows back out of
    the quarantine table: no retry, or the rejected rows would be there twice."""
    fail_once(delta, "delete", after=False)
    main_write_fails_once(monkeypatch)
    proj = load(project)
    result = proj.run()
    rec = result.record("load")
    assert rec.status == "failed" and rec.attempts == 1
    assert rows(proj, "rejected") == 1  # the one row with no amount, once


def test_a_quarantine_taken_back_lets_the_retry_write_it_once(
    project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    main_write_fails_once(monkeypatch)
    proj = load(project)
    result = proj.run()
    rec = result.record("load")
    assert result.ok and rec.attempts == 2
    assert rows(proj, "out") == 2 and rows(proj, "rejected") == 1


def test_a_retried_node_reports_its_checks_and_sql_once(project: Callable[..., Path]) -> None:
    proj = load(project, "{function: steps.second_call_sleeps, params: {seconds: 0}}")
    (proj.loaded.root_dir / "flaky.py").write_text(
        "from pathlib import Path\n"
        "F = Path(__file__).parent / 'flaky.txt'\n"
        "def once(df):\n"
        "    if not F.exists():\n"
        "        F.write_text('1')\n"
        "        raise ConnectionResetError('dropped')\n"
        "    return df\n",
        "utf-8",
    )
    yaml = (proj.loaded.root_dir / "lakestory.yaml").read_text("utf-8")
    yaml = yaml.replace(
        "transform: [{function: steps.second_call_sleeps, params: {seconds: 0}}]",
        "transform: [{sql: 'SELECT * FROM df'}, {function: flaky.once}]",
    )
    (proj.loaded.root_dir / "lakestory.yaml").write_text(yaml, "utf-8")
    result = Project.load(proj.loaded.root_dir / "lakestory.yaml").run()
    rec = result.record("load")
    assert result.ok and rec.attempts == 2
    assert rec.sql == ["SELECT * FROM df"]
    assert [c["name"] for c in rec.checks] == [rec.checks[0]["name"]]
    assert rec.rows_quarantined == 1 and rows(proj, "rejected") == 1


def test_a_slow_hook_after_a_node_does_not_spin_the_scheduler(
    project: Callable[..., Path],
) -> None:
    proj = load(project, extra="timeout: 1s")
    proj.events.subscribe("node_finished", lambda e: time.sleep(7))
    cpu, wall = time.process_time(), time.monotonic()
    result = proj.run()
    assert result.ok  # the node's work ended in time: the hook is not the node's
    assert time.monotonic() - wall >= 7
    assert time.process_time() - cpu < 3  # waiting, not busy-looping
