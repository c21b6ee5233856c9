"""A write that fails midway leaves the previous version of its target readable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

PROJECT = """
project: shop
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
pipelines:
  - pipeline: p
    nodes:
      - name: orders
        read: {{connection: raw, path: orders.csv}}
        transform: [{{function: streams.{function}}}]
        write: {{connection: lake, path: {target}, format: {format}}}
{extra}"""

# A step that returns a stream: two batches, then its source goes away.
STREAMS = """
import pyarrow as pa

SCHEMA = pa.schema([("id", pa.int64()), ("amount", pa.int64())])


def batches():
    for i in range(2):
        yield pa.record_batch([pa.array([i]), pa.array([i * 10])], schema=SCHEMA)
    raise ConnectionError("the source went away")


def broken(df):
    return pa.RecordBatchReader.from_batches(SCHEMA, batches())


def fine(df):
    return pa.table(df)
"""

OLD = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "amount": pa.array([5, 6, 7], pa.int64())})


@pytest.fixture
def shop(project: Callable[..., Path]) -> Callable[..., Path]:
    def make(fmt: str, target: str, function: str = "broken", extra: str = "") -> Path:
        return project(
            PROJECT.format(format=fmt, target=target, function=function, extra=extra),
            {"data/orders.csv": "id,amount\n1,10\n2,20\n", "streams.py": STREAMS},
        )

    return make


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if "lakestory-" in p.name)


def test_delta_keeps_its_version(
    shop: Callable[..., Path],
    run_json: Callable[..., Any],
    read_delta: Callable[..., Any],
    table_version: Callable[[Path], int],
) -> None:
    root = shop("delta", "orders")
    table = root / "lake" / "orders"
    write_deltalake(str(table), OLD)

    code, report = run_json(root / "lakestory.yaml")

    assert code == 1
    node = report["nodes"][0]
    assert node["status"] == "failed" and node["table_version"] is None
    assert table_version(table) == 0
    assert sorted(read_delta(table), key=lambda r: r["id"]) == OLD.to_pylist()


def test_delta_failure_message_shows_the_users_traceback(
    shop: Callable[..., Path], run_json: Callable[..., Any]
) -> None:
    root = shop("delta", "orders")
    write_deltalake(str(root / "lake" / "orders"), OLD)
    _, report = run_json(root / "lakestory.yaml")
    error = report["nodes"][0]["error"]
    assert error["kind"] == "write_error"
    assert error["message"] == (
        "writing lake:orders failed: the data being written raised "
        "ConnectionError: the source went away"
    )
    assert f'File "{root / "streams.py"}", line 9, in batches' in error["detail"]
    assert error["hint"] == "nothing was committed: lake:orders is as it was before this run"


def test_parquet_folder_keeps_its_files(
    shop: Callable[..., Path], run_json: Callable[..., Any], read_parquet: Callable[..., Any]
) -> None:
    root = shop("parquet", "orders")
    folder = root / "lake" / "orders"
    folder.mkdir(parents=True)
    pq.write_table(OLD, folder / "part-0.parquet")

    code, report = run_json(root / "lakestory.yaml")

    assert code == 1 and report["nodes"][0]["status"] == "failed"
    assert sorted(p.name for p in folder.iterdir()) == ["part-0.parquet"]
    assert read_parquet(folder) == OLD.to_pylist()
    assert _leftovers(root / "lake") == []


def test_single_parquet_file_is_kept(
    shop: Callable[..., Path], run_json: Callable[..., Any], read_parquet: Callable[..., Any]
) -> None:
    root = shop("parquet", "orders.parquet")
    target = root / "lake" / "orders.parquet"
    target.parent.mkdir(parents=True)
    pq.write_table(OLD, target)

    code, _ = run_json(root / "lakestory.yaml")

    assert code == 1
    assert read_parquet(target) == OLD.to_pylist()
    assert _leftovers(root / "lake") == []


def test_appending_to_a_parquet_folder_adds_nothing(
    shop: Callable[..., Path], run_json: Callable[..., Any], read_parquet: Callable[..., Any]
) -> None:
    root = shop("parquet", "orders")
    (root / "lakestory.yaml").write_text(
        (root / "lakestory.yaml")
        .read_text()
        .replace("format: parquet}", "format: parquet, mode: append}")
    )
    folder = root / "lake" / "orders"
    folder.mkdir(parents=True)
    pq.write_table(OLD, folder / "part-0.parquet")

    code, _ = run_json(root / "lakestory.yaml")

    assert code == 1
    assert read_parquet(folder) == OLD.to_pylist()
    assert _leftovers(root / "lake") == []


def test_a_good_stream_replaces_the_table(
    shop: Callable[..., Path],
    run_json: Callable[..., Any],
    read_delta: Callable[..., Any],
    table_version: Callable[[Path], int],
) -> None:
    """The same setup with a step that does not fail: the new rows are version 1."""
    root = shop("delta", "orders", function="fine")
    table = root / "lake" / "orders"
    write_deltalake(str(table), OLD)
    code, report = run_json(root / "lakestory.yaml")
    assert code == 0, report
    assert table_version(table) == 1 and report["nodes"][0]["table_version"] == 1
    assert sorted(read_delta(table), key=lambda r: r["id"]) == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
    ]


def test_a_failing_stream_read_by_another_node_is_the_users_error(
    shop: Callable[..., Path], run_json: Callable[..., Any]
) -> None:
    extra = """      - name: downstream
        transform: [{sql: "SELECT * FROM orders"}]
"""
    root = shop("delta", "orders", extra=extra)
    _, report = run_json(root / "lakestory.yaml")
    error = report["nodes"][0]["error"]
    assert not error["message"].startswith("internal error")
    assert "ConnectionError: the source went away" in error["message"]


def test_appending_other_columns_to_delta_is_refused(
    project: Callable[..., Path],
    run_json: Callable[..., Any],
    read_delta: Callable[..., Any],
    table_version: Callable[[Path], int],
) -> None:
    root = project(
        """
        project: shop
        connections:
          raw: {type: local, base_path: data}
        pipelines:
          - pipeline: p
            nodes:
              - name: orders
                read: {connection: raw, path: orders.csv}
                write: {connection: raw, path: t, mode: append}
        """,
        {"data/orders.csv": "id,name\n1,x\n"},
    )
    write_deltalake(str(root / "data" / "t"), OLD)

    code, report = run_json(root / "lakestory.yaml")

    assert code == 1
    error = report["nodes"][0]["error"]
    assert error["message"] == "cannot write raw:t: the data has columns the table lacks: name"
    assert "on_new_columns: evolve" in error["hint"]
    assert table_version(root / "data" / "t") == 0
    assert len(read_delta(root / "data" / "t")) == 3


def test_a_failed_first_write_leaves_no_table_behind(
    shop: Callable[..., Path], run_json: Callable[..., Any]
) -> None:
    root = shop("delta", "orders")
    code, _ = run_json(root / "lakestory.yaml")
    assert code == 1
    assert not (root / "lake" / "orders").exists()
