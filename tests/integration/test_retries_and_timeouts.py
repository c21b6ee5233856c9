"""Retries of transient failures, node timeouts and interrupted runs, through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from deltalake import DeltaTable

from lakestory.story.model import json_schema

PROJECT = """
project: ops
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
{retry}
pipelines:
  - pipeline: p
    nodes:
      - name: load
        read: {{connection: raw, path: a.csv}}
        transform: [{step}]
        write: {{connection: lake, path: out, format: delta, mode: append}}
{node_extra}
"""

STEPS = """
import time
from pathlib import Path

COUNTER = Path(__file__).parent / "calls.txt"


def calls():
    n = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(n + 1))
    return n + 1


def flaky(df, failures):
    if calls() <= failures:
        raise ConnectionResetError("the API dropped the connection")
    return df


def broken(df):
    calls()
    raise ValueError("a bug: this will fail the same way every time")


def slow(df, seconds):
    time.sleep(seconds)
    return df
"""

CSV = "id,amount\n1,10\n2,20\n"


def make(
    project: Callable[..., Path],
    step: str,
    retry: str = "",
    node_extra: str = "",
    root: str = "proj",
) -> Path:
    yaml = PROJECT.format(step=step, retry=retry, node_extra=node_extra)
    return project(yaml, {"data/a.csv": CSV, "steps.py": STEPS}, root=root) / "lakestory.yaml"


def calls(project_file: Path) -> int:
    counter = project_file.parent / "calls.txt"
    return int(counter.read_text()) if counter.exists() else 0


RETRY = """retry:
  max_attempts: 4
  backoff: exponential
  initial_delay: 0.2s
  max_delay: 0.3s
  jitter: false"""


def test_a_transient_failure_is_retried_to_success_with_the_recorded_backoff(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    file = make(project, "{function: steps.flaky, params: {failures: 2}}", RETRY)
    code, report = run_json(file)
    assert code == 0, report
    node = report["nodes"][0]
    assert node["status"] == "success"
    assert node["attempts"] == 3 and calls(file) == 3
    log = node["attempt_log"]
    assert [a["status"] for a in log] == ["retried", "retried", "success"]
    assert [a["delay_s"] for a in log] == [0.2, 0.3, None]  # 0.2, then 0.4 capped at 0.3
    assert log[0]["transient"] is True
    assert "ConnectionResetError" in log[0]["error"]["message"]
    # the waits really happened between the attempts
    gap = _seconds(log[1]["started_at"]) - _seconds(log[0]["ended_at"])
    assert gap >= 0.2
    # written once: a retry never repeats committed work
    rows = DeltaTable(str(file.parent / "lake" / "out")).to_pyarrow_table().num_rows
    assert rows == 2
    # the story shows every attempt
    story = Path(report["options"]["story"])
    html = story.read_text("utf-8")
    assert "<h3>Attempts</h3>" in html
    assert html.count('<span class="badge s-retried">retried</span>') == 2  # markup, not text
    story_json = json.loads(story.with_suffix(".json").read_text("utf-8"))
    jsonschema.validate(story_json, json_schema())
    node_json = story_json["nodes"][0]
    assert [a["status"] for a in node_json["attempt_log"]] == ["retried", "retried", "success"]


def test_retries_stop_at_max_attempts(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    file = make(project, "{function: steps.flaky, params: {failures: 10}}", RETRY)
    code, report = run_json(file)
    node = report["nodes"][0]
    assert code == 1 and node["status"] == "failed"
    assert node["attempts"] == 4 and calls(file) == 4
    assert [a["status"] for a in node["attempt_log"]] == ["retried"] * 3 + ["failed"]
    assert not (file.parent / "lake" / "out").exists()


def test_a_deterministic_failure_is_not_retried(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    file = make(project, "{function: steps.broken}", RETRY)
    code, report = run_json(file)
    node = report["nodes"][0]
    assert code == 1 and node["attempts"] == 1 and calls(file) == 1
    assert node["attempt_log"][0]["transient"] is False
    assert node["attempt_log"][0]["status"] == "failed"


def test_a_sql_error_is_not_retried(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    file = make(project, "{sql: 'SELECT nope FROM df'}", RETRY)
    code, report = run_json(file)
    assert code == 1 and report["nodes"][0]["attempts"] == 1


def test_a_node_retry_overrides_only_the_fields_it_gives(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    file = make(
        project,
        "{function: steps.flaky, params: {failures: 1}}",
        RETRY,
        node_extra="        retry: {max_attempts: 2}",
    )
    code, report = run_json(file)
    node = report["nodes"][0]
    assert code == 0 and node["attempts"] == 2
    assert node["attempt_log"][0]["delay_s"] == 0.2  # the project's initial_delay, no jitter


def test_without_a_retry_policy_a_transient_failure_fails_once(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    file = make(project, "{function: steps.flaky, params: {failures: 1}}")
    code, report = run_json(file)
    assert code == 1 and report["nodes"][0]["attempts"] == 1 and calls(file) == 1


SLOW_SQL = (  # hours of work for DuckDB, the same columns as the fast step
    "{sql: 'SELECT d.id, d.amount FROM df d WHERE (SELECT count(*) FROM range(100000000000) "
    "t(i) WHERE (i * 7 + d.id) % 13 = 0) >= 0'}"
)


def test_a_node_past_its_timeout_fails_and_leaves_its_table_as_it_was(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    fast = make(project, "{sql: 'SELECT * FROM df'}")
    assert run_json(fast)[0] == 0
    table = fast.parent / "lake" / "out"
    before = DeltaTable(str(table)).version()
    slow = fast.parent / "slow.yaml"
    slow.write_text(
        PROJECT.format(step=SLOW_SQL, retry="", node_extra="        timeout: 1s"), "utf-8"
    )
    started = time.monotonic()
    code, report = run_json(slow)
    elapsed = time.monotonic() - started
    node = report["nodes"][0]
    assert code == 1 and node["status"] == "failed"
    assert node["error"]["kind"] == "cancelled", (node, elapsed)
    assert "timeout of 1s" in node["error"]["message"]
    assert node["timeout_s"] == 1.0
    assert elapsed < 30  # the query was interrupted, not left to run for hours
    assert DeltaTable(str(table)).version() == before


def test_a_python_step_stuck_past_its_timeout_is_abandoned_and_never_commits(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    file = make(
        project,
        "{function: steps.slow, params: {seconds: 8}}",
        node_extra="        timeout: 1s",
    )
    started = time.monotonic()
    code, report = run_json(file)
    assert time.monotonic() - started < 8  # the run did not wait for the sleeping step
    assert code == 1 and report["nodes"][0]["error"]["kind"] == "cancelled"
    time.sleep(8.5)  # the abandoned thread wakes up, finds its token cancelled, stops
    assert not (file.parent / "lake" / "out").exists()


def test_a_timeout_also_bounds_the_waits_between_attempts(
    project: Callable[..., Path], run_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    retry = "retry: {max_attempts: 3, initial_delay: 60s, jitter: false}"
    file = make(
        project,
        "{function: steps.flaky, params: {failures: 5}}",
        retry,
        node_extra="        timeout: 1s",
    )
    started = time.monotonic()
    code, report = run_json(file)
    assert time.monotonic() - started < 20
    node = report["nodes"][0]
    assert code == 1 and node["error"]["kind"] == "cancelled" and calls(file) == 1


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_abort_the_run_cleanly(
    project: Callable[..., Path], sig: signal.Signals, code: int
) -> None:
    """SIGINT (Ctrl-C) or SIGTERM during a slow node: the node is aborted, its table
    untouched, the story written, and the exit code is the shell's (130, 143)."""
    file = make(project, SLOW_SQL)
    env = {**os.environ, "LAKESTORY_LOG_FORMAT": "json"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakestory", "run", str(file), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        started = ""
        for line in proc.stderr:  # the run has started (the signal handler is in place)
            started += line
            if '"run_started"' in line:
                break
        time.sleep(1.5)  # into the node's query
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        err = started + err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    report = json.loads(out)
    assert report["status"] == "aborted"
    assert report["nodes"][0]["status"] == "aborted"
    assert not (file.parent / "lake" / "out").exists()
    story = json.loads(Path(report["options"]["story"]).with_suffix(".json").read_text("utf-8"))
    jsonschema.validate(story, json_schema())
    assert story["run"]["status"] == "aborted" and story["totals"]["failed"] == 1


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_the_plan_shows_timeouts_and_retries(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    file = make(project, "{sql: 'SELECT * FROM df'}", RETRY, node_extra="        timeout: 30m")
    result = cli("plan", file)
    assert "timeout 1800s, 4 attempts (exponential)" in result.stdout
    plan = json.loads(cli("plan", file, "--format", "json").stdout)
    node = plan["nodes"][0]
    assert node["timeout_s"] == 1800 and node["retry"]["max_attempts"] == 4


def test_runner_stop_from_another_thread_aborts_like_ctrl_c(
    project: Callable[..., Path],
) -> None:
    """``Runner.stop`` (for signal handlers and continuous mode): the running node is
    cancelled, the run ends aborted, nothing is written."""
    from lakestory.api import Project
    from lakestory.engines import create_engine
    from lakestory.runtime.events import EventBus
    from lakestory.runtime.runner import Runner

    file = make(project, SLOW_SQL)
    proj = Project.load(file)
    engine, bus = create_engine("duckdb"), EventBus()
    runner = Runner(proj.plan(), engine, bus, 2, root=proj.loaded.root_dir)
    bus.subscribe("node_started", lambda e: runner.stop("stopped by the test"))
    try:
        started = time.monotonic()
        result = runner.run()
    finally:
        engine.close()
    assert time.monotonic() - started < 20
    assert result.status == "aborted"
    rec = result.record("load")
    assert rec.status == "aborted" and rec.error is not None
    assert rec.error["message"] == "stopped by the test"
    assert not (file.parent / "lake" / "out").exists()
