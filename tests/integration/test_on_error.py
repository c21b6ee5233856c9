"""What a failure does to the rest of the run: fail_later keeps independent work going,
fail_fast stops; either way no node runs on an older version of a failed node's output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

PROJECT = """
project: shop
on_error: {on_error}
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
pipelines:
  - pipeline: a
    nodes:
      - name: good
        read: {{connection: raw, path: good.csv}}
        write: {{connection: lake, path: good}}
      - name: bad                       # a malformed CSV row: fails
        read: {{connection: raw, path: bad.csv}}
        write: {{connection: lake, path: shared}}
      - name: bad_child                 # reads bad's output in this run
        transform: [{{sql: "SELECT id, amount * 2 AS amount FROM bad"}}]
        write: {{connection: lake, path: child}}
  - pipeline: b
    nodes:
      - name: reader                    # reads the table bad writes: the same table
        read: {{connection: lake, path: shared, format: delta}}
        write: {{connection: lake, path: b_out}}
      - name: independent
        read: {{connection: raw, path: good.csv}}
        write: {{connection: lake, path: independent}}
"""

FILES = {
    "data/good.csv": "id,amount\n1,10\n2,20\n",
    "data/bad.csv": "id,amount\n1,10\n2,20,5\n",
}


@pytest.fixture
def shop(project: Callable[..., Path]) -> Callable[[str], Path]:
    def make(on_error: str) -> Path:
        root = project(PROJECT.format(on_error=on_error), FILES)
        # an older version of the shared table, from some earlier run
        write_deltalake(str(root / "lake" / "shared"), pa.table({"id": [99], "amount": [990]}))
        return root

    return make


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {n["key"]: n["status"] for n in report["nodes"]}


def _reasons(report: dict[str, Any]) -> dict[str, str | None]:
    return {n["key"]: n["skipped_because"] for n in report["nodes"]}


def _check_fail_later(
    root: Path, code: int, report: dict[str, Any], read_delta: Callable[..., Any]
) -> None:
    assert code == 1
    assert report["status"] == "failed"
    assert _statuses(report) == {
        "a.good": "success",
        "a.bad": "failed",
        "a.bad_child": "skipped",
        "b.reader": "skipped",
        "b.independent": "success",
    }
    assert "a.bad" in (_reasons(report)["a.bad_child"] or "")
    assert "a.bad" in (_reasons(report)["b.reader"] or "")
    lake = root / "lake"
    assert read_delta(lake / "good") and read_delta(lake / "independent")
    # the dependents never ran, not even on the old version of the shared table
    assert not (lake / "child").exists() and not (lake / "b_out").exists()
    assert read_delta(lake / "shared") == [{"id": 99, "amount": 990}]


def test_fail_later_from_the_project(
    shop: Callable[[str], Path], run_json: Callable[..., Any], read_delta: Callable[..., Any]
) -> None:
    root = shop("fail_later")
    code, report = run_json(root / "lakestory.yaml")
    _check_fail_later(root, code, report, read_delta)


def test_fail_later_from_the_command_line(
    shop: Callable[[str], Path], run_json: Callable[..., Any], read_delta: Callable[..., Any]
) -> None:
    root = shop("fail_fast")
    code, report = run_json(root / "lakestory.yaml", "--on-error", "fail_later")
    _check_fail_later(root, code, report, read_delta)


def test_fail_later_with_one_worker(
    shop: Callable[[str], Path], run_json: Callable[..., Any], read_delta: Callable[..., Any]
) -> None:
    root = shop("fail_later")
    code, report = run_json(root / "lakestory.yaml", "--workers", "1")
    _check_fail_later(root, code, report, read_delta)


def test_the_failure_is_reported_on_the_failed_node(
    shop: Callable[[str], Path], run_json: Callable[..., Any]
) -> None:
    _, report = run_json(shop("fail_later") / "lakestory.yaml")
    bad = next(n for n in report["nodes"] if n["key"] == "a.bad")
    assert bad["error"]["kind"] == "data_error"
    assert bad["error"]["file"].endswith("bad.csv") and bad["error"]["line"] == 3
    assert bad["rows_written"] is None


def test_fail_fast_skips_dependents_with_a_reason(
    shop: Callable[[str], Path], run_json: Callable[..., Any], read_delta: Callable[..., Any]
) -> None:
    root = shop("fail_fast")
    code, report = run_json(root / "lakestory.yaml")
    assert code == 1
    statuses, reasons = _statuses(report), _reasons(report)
    assert statuses["a.bad"] == "failed"
    for key in ("a.bad_child", "b.reader"):
        assert statuses[key] == "skipped"
        assert reasons[key]
    assert read_delta(root / "lake" / "shared") == [{"id": 99, "amount": 990}]
    assert not (root / "lake" / "b_out").exists()


def test_fail_fast_skips_nodes_that_wait_for_others(
    project: Callable[..., Path], run_json: Callable[..., Any]
) -> None:
    root = project(
        """
        project: p
        connections:
          raw: {type: local, base_path: data}
        pipelines:
          - pipeline: a
            nodes:
              - name: bad
                read: {connection: raw, path: bad.csv}
              - name: good
                read: {connection: raw, path: good.csv}
              - name: later
                transform: [{sql: "SELECT * FROM good"}]
                write: {connection: raw, path: out/later}
        """,
        FILES,
    )
    code, report = run_json(root / "lakestory.yaml", "--workers", "1")
    assert code == 1
    statuses, reasons = _statuses(report), _reasons(report)
    assert statuses["a.bad"] == "failed"
    assert statuses["a.later"] == "skipped"
    assert reasons["a.later"] == "the run stopped after a failure (on_error: fail_fast)"
    assert not (root / "data" / "out").exists()


def test_fail_fast_does_not_start_queued_nodes(
    project: Callable[..., Path], run_json: Callable[..., Any]
) -> None:
    root = project(
        """
        project: p
        on_error: fail_fast
        connections:
          raw: {type: local, base_path: data}
        pipelines:
          - pipeline: a
            nodes:
              - name: bad
                read: {connection: raw, path: bad.csv}
              - name: one
                read: {connection: raw, path: good.csv}
                write: {connection: raw, path: out/one}
              - name: two
                read: {connection: raw, path: good.csv}
                write: {connection: raw, path: out/two}
        """,
        FILES,
    )
    # one worker: `bad` runs first, `one` and `two` have not started when it fails
    code, report = run_json(root / "lakestory.yaml", "--workers", "1")
    assert code == 1
    assert _statuses(report) == {"a.bad": "failed", "a.one": "skipped", "a.two": "skipped"}
    assert not (root / "data" / "out").exists()


def test_text_output_names_the_failure_and_the_skips(
    shop: Callable[[str], Path], cli: Callable[..., Any]
) -> None:
    result = cli("run", shop("fail_later") / "lakestory.yaml")
    assert result.exit_code == 1
    assert "✗ a.bad failed" in result.stderr
    assert "malformed CSV row: expected 2 fields, found 3" in result.stderr
    assert "a.bad_child  skipped: upstream a.bad failed" in result.stdout
    assert "run failed" in result.stdout
