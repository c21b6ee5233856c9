"""Incremental reads: high-water marks, file ledgers, rolling windows and full refreshes,
over several runs with new data landing in between."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.runtime.records import RunResult

HEADER = "id,amount,updated_at\n"


def project_file(root: Path, read: str, write: str, pipeline: str = "bronze") -> Path:
    (root / "landing").mkdir(parents=True, exist_ok=True)
    path = root / "lakestory.yaml"
    path.write_text(
        "project: inc\n"
        "connections:\n"
        "  land: {type: local, base_path: landing}\n"
        "  lake: {type: local, base_path: lake}\n"
        "pipelines:\n"
        f"  - pipeline: {pipeline}\n"
        "    nodes:\n"
        "      - name: orders\n"
        f"        read: {read}\n"
        f"        write: {write}\n"
    )
    return path


def land(root: Path, name: str, rows: str) -> None:
    (root / "landing" / name).write_text(HEADER + rows.strip() + "\n")


def run(path: Path, **options: Any) -> RunResult:
    result = Project.load(path).run(**options)
    assert result.ok, [r.error for r in result.nodes]
    return result


def rows(root: Path, table: str = "orders") -> list[tuple[Any, ...]]:
    data = DeltaTable(str(root / "lake" / table)).to_pyarrow_table().to_pylist()
    return sorted((r["id"], r["amount"]) for r in data)


def version(root: Path, table: str = "orders") -> int:
    return DeltaTable(str(root / "lake" / table)).version()


COLUMN = "{connection: land, path: '*.csv', incremental: {column: updated_at}}"
APPEND = "{connection: lake, path: orders, mode: append}"


def test_column_mode_reads_only_rows_past_the_mark(tmp_path: Path) -> None:
    path = project_file(tmp_path, COLUMN, APPEND)
    land(tmp_path, "a.csv", "1,10,2026-01-01 10:00:00\n2,20,2026-01-01 11:00:00")
    first = run(path)
    assert first.nodes[0].rows_read == 2
    assert first.nodes[0].state == {
        "kind": "column",
        "column": "updated_at",
        "value": "2026-01-01 11:00:00",
        "type": "timestamp_ntz",
    }
    land(tmp_path, "b.csv", "3,30,2026-01-02 09:00:00\n4,40,2026-01-01 09:00:00")  # 4 is late
    second = run(path)
    assert second.nodes[0].rows_read == 1  # only row 3 is past the mark
    assert rows(tmp_path) == [(1, 10), (2, 20), (3, 30)]
    v = version(tmp_path)
    third = run(path)  # nothing new: nothing is written
    assert (third.nodes[0].rows_read, third.nodes[0].rows_written) == (0, 0)
    assert third.nodes[0].note == "no new rows since the last run"
    assert version(tmp_path) == v


def test_the_mark_is_committed_with_the_data(tmp_path: Path) -> None:
    path = project_file(tmp_path, COLUMN, APPEND)
    land(tmp_path, "a.csv", "1,10,2026-01-01 10:00:00")
    result = run(path)
    commit = DeltaTable(str(tmp_path / "lake" / "orders")).history(1)[0]
    meta = json.loads(commit["lakestory"])
    assert meta["key"] == "bronze.orders"
    assert meta["run_id"] == result.run_id
    assert meta["state"]["value"] == "2026-01-01 10:00:00"


def test_lag_rereads_late_rows_and_upsert_keeps_them_once(tmp_path: Path) -> None:
    read = "{connection: land, path: '*.csv', incremental: {column: updated_at, lag: 2h}}"
    write = (
        "{connection: lake, path: orders, mode: upsert, keys: [id], dedupe: latest, "
        "order_by: updated_at}"
    )
    path = project_file(tmp_path, read, write)
    land(tmp_path, "a.csv", "1,10,2026-01-01 10:00:00\n2,20,2026-01-01 12:00:00")
    run(path)
    land(tmp_path, "b.csv", "3,30,2026-01-01 11:00:00\n2,21,2026-01-01 12:30:00")  # 3 is late
    second = run(path)
    assert second.nodes[0].rows_read == 3  # everything after 10:00 (the mark minus 2h)
    assert second.nodes[0].rows_written == 1 and second.nodes[0].rows_updated == 1
    assert rows(tmp_path) == [(1, 10), (2, 21), (3, 30)]


def test_a_plain_append_with_lag_is_refused(tmp_path: Path) -> None:
    read = "{connection: land, path: '*.csv', incremental: {column: updated_at, lag: 1h}}"
    path = project_file(tmp_path, read, APPEND)
    land(tmp_path, "a.csv", "1,10,2026-01-01 10:00:00")
    import pytest

    from lakestory.core.errors import ConfigError

    with pytest.raises(ConfigError, match="a plain append would add them twice"):
        Project.load(path).plan()


def test_files_mode_ingests_each_file_once(tmp_path: Path) -> None:
    read = "{connection: land, path: ., format: csv, incremental: {mode: files}}"
    path = project_file(tmp_path, read, APPEND)
    land(tmp_path, "a.csv", "1,10,2026-01-01 10:00:00")
    land(tmp_path, "b.csv", "2,20,2026-01-01 10:00:00")
    first = run(path)
    assert sorted(f["file"] for f in first.nodes[0].files) == ["a.csv", "b.csv"]
    land(tmp_path, "c.csv", "3,30,2020-01-01 00:00:00")  # old timestamps do not matter here
    second = run(path)
    assert [f["file"] for f in second.nodes[0].files] == ["c.csv"]
    assert second.nodes[0].rows_read == 1
    assert rows(tmp_path) == [(1, 10), (2, 20), (3, 30)]
    v = version(tmp_path)
    third = run(path)
    assert third.nodes[0].note == "no new files since the last run"
    assert version(tmp_path) == v


def test_window_mode_replaces_the_window(tmp_path: Path) -> None:
    read = (
        "{connection: land, path: '*.csv', "
        "incremental: {mode: window, column: updated_at, lookback: 3650d}}"
    )
    path = project_file(tmp_path, read, "{connection: lake, path: orders, mode: overwrite}")
    land(tmp_path, "a.csv", "1,10,2026-01-01 10:00:00\n2,20,2000-01-01 00:00:00")
    first = run(path)
    assert first.nodes[0].rows_read == 1  # 2 is outside the window
    (tmp_path / "landing" / "a.csv").unlink()
    land(tmp_path, "b.csv", "1,11,2026-01-02 10:00:00\n5,50,2026-01-03 10:00:00")
    run(path)
    assert rows(tmp_path) == [(1, 11), (5, 50)]  # the window was replaced, not appended to


def test_full_refresh_rebuilds_from_scratch(tmp_path: Path, cli: Callable[..., Any]) -> None:
    path = project_file(tmp_path, COLUMN, APPEND)
    land(tmp_path, "a.csv", "1,10,2026-01-01 10:00:00")
    run(path)
    land(tmp_path, "a.csv", "1,11,2026-01-01 10:00:00\n2,20,2025-01-01 00:00:00")
    plan = cli("plan", path, "--full-refresh", "--format", "json")
    write = json.loads(plan.stdout)["nodes"][0]["write"]
    assert write["full_refresh"] is True
    assert "replaces the table" in write["effect"]
    result = run(path, full_refresh=True)
    assert result.nodes[0].rows_read == 2
    assert rows(tmp_path) == [(1, 11), (2, 20)]
    land(tmp_path, "b.csv", "3,30,2026-02-01 00:00:00")
    assert run(path).nodes[0].rows_read == 1  # the mark is the rebuilt one


def test_two_pipelines_with_a_node_of_the_same_name_keep_separate_marks(tmp_path: Path) -> None:
    (tmp_path / "landing" / "x").mkdir(parents=True)
    (tmp_path / "landing" / "y").mkdir(parents=True)
    path = tmp_path / "lakestory.yaml"
    nodes = "\n".join(
        f"  - pipeline: {p}\n    nodes:\n      - name: orders\n"
        f"        read: {{connection: land, path: '{p}/*.csv', "
        "incremental: {column: updated_at}}\n"
        f"        write: {{connection: lake, path: {p}_orders, mode: append}}"
        for p in ("x", "y")
    )
    path.write_text(
        "project: inc\nconnections:\n  land: {type: local, base_path: landing}\n"
        f"  lake: {{type: local, base_path: lake}}\npipelines:\n{nodes}\n"
    )
    land(tmp_path, "x/a.csv", "1,10,2026-01-05 00:00:00")
    land(tmp_path, "y/a.csv", "1,10,2026-01-01 00:00:00")
    run(path)
    land(tmp_path, "y/b.csv", "2,20,2026-01-02 00:00:00")  # before x's mark, after y's
    result = run(path)
    assert result.record("y.orders").rows_read == 1
    assert result.record("x.orders").rows_read == 0
