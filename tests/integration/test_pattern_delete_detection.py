"""The delete_detection pattern through whole projects: three snapshots of a source (rows
deleted, one coming back), soft and hard, and the max_delete_percent stop that leaves the
table as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.runtime.records import RunResult

PROJECT = """
project: deletes
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: silver
    nodes:
      - name: customers
        read: {connection: raw, path: customers.csv}
        pattern:
          type: delete_detection
          params: PARAMS
        write: {connection: lake, path: customers}
"""

SNAPSHOTS = [
    "id,name\n1,Ann\n2,Bob\n3,Cid\n4,Dee\n",
    "id,name\n1,Ann\n2,Bobby\n4,Dee\n",  # 3 deleted, 2 renamed
    "id,name\n1,Ann\n3,Cid\n4,Dee\n5,Eve\n",  # 3 back, 2 deleted, 5 new
]


def make(project: Callable[..., Path], params: str, engine: str = "duckdb") -> Path:
    yaml = PROJECT.replace("ENGINE", engine).replace("PARAMS", params)
    return project(yaml, {"data/customers.csv": SNAPSHOTS[0]}, root=engine)


def deliver(root: Path, text: str) -> None:
    (root / "data" / "customers.csv").write_text(text)


def run(root: Path) -> RunResult:
    return Project.load(root / "lakestory.yaml").run()


def table(root: Path) -> list[dict[str, Any]]:
    rows = DeltaTable(str(root / "lake" / "customers")).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: r["id"])


def three_snapshots(root: Path) -> list[list[dict[str, Any]]]:
    got = []
    for snapshot in SNAPSHOTS:
        deliver(root, snapshot)
        result = run(root)
        assert result.ok, result.nodes[0].error
        got.append(table(root))
    return got


def flags(rows: list[dict[str, Any]]) -> list[tuple[int, str, bool]]:
    return [(r["id"], r["name"], r["is_deleted"]) for r in rows]


def test_soft_delete_flags_vanished_rows_and_undeletes_returning_ones(
    project: Callable[..., Path],
) -> None:
    root = make(project, "{keys: [id], deleted_at_column: deleted_at}")
    first, second, third = three_snapshots(root)
    assert flags(first) == [
        (1, "Ann", False),
        (2, "Bob", False),
        (3, "Cid", False),
        (4, "Dee", False),
    ]
    assert all(r["deleted_at"] is None for r in first)
    assert flags(second) == [
        (1, "Ann", False),
        (2, "Bobby", False),
        (3, "Cid", True),
        (4, "Dee", False),
    ]
    at = second[2]["deleted_at"]
    assert isinstance(at, dt.datetime) and abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(
        minutes=5
    )
    assert flags(third) == [
        (1, "Ann", False),
        (2, "Bobby", True),
        (3, "Cid", False),
        (4, "Dee", False),
        (5, "Eve", False),
    ]
    assert third[2]["deleted_at"] is None and third[1]["deleted_at"] is not None


def test_an_already_deleted_row_keeps_its_deletion_time(project: Callable[..., Path]) -> None:
    root = make(project, "{keys: [id], deleted_at_column: deleted_at}")
    three_snapshots(root)
    before = table(root)
    result = run(root)  # the same snapshot again
    assert result.ok
    assert result.nodes[0].rows_written == 0 and table(root) == before
    assert "0 row(s) deleted at the source" in (result.nodes[0].note or "")


def test_hard_delete_removes_vanished_rows(project: Callable[..., Path]) -> None:
    root = make(project, "{keys: [id], mode: hard, deleted_at_column: deleted_at}")
    first, second, third = three_snapshots(root)
    assert [(r["id"], r["name"]) for r in first] == [(1, "Ann"), (2, "Bob"), (3, "Cid"), (4, "Dee")]
    assert [(r["id"], r["name"]) for r in second] == [(1, "Ann"), (2, "Bobby"), (4, "Dee")]
    assert [(r["id"], r["name"]) for r in third] == [(1, "Ann"), (3, "Cid"), (4, "Dee"), (5, "Eve")]
    assert list(third[0]) == ["id", "name"]  # no flag or helper column


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_max_delete_percent_stops_the_node_and_leaves_the_table(
    project: Callable[..., Path], mode: str
) -> None:
    root = make(project, f"{{keys: [id], mode: {mode}, max_delete_percent: 25}}")
    deliver(root, SNAPSHOTS[0])
    assert run(root).ok
    before, version = table(root), DeltaTable(str(root / "lake" / "customers")).version()
    deliver(root, "id,name\n1,Ann\n2,Bob\n")  # half the rows gone
    result = run(root)
    assert not result.ok
    error = result.nodes[0].error
    assert error is not None
    text = error["text"]
    assert "2 of the table's 4 live rows (50.0%) would be deleted" in text
    assert "max_delete_percent (25%)" in text and "the table is unchanged" in text
    assert "raise `max_delete_percent`" in text and "lakestory.yaml" in text
    assert table(root) == before
    assert DeltaTable(str(root / "lake" / "customers")).version() == version
    # one row in four is within the limit
    deliver(root, "id,name\n1,Ann\n2,Bob\n3,Cid\n")
    assert run(root).ok


def test_an_empty_snapshot_is_stopped_by_the_default_limit(project: Callable[..., Path]) -> None:
    root = make(project, "{keys: [id]}")
    deliver(root, SNAPSHOTS[0])
    assert run(root).ok
    deliver(root, "id,name\n")
    result = run(root)
    assert not result.ok and "more than max_delete_percent (50%)" in result.nodes[0].error["text"]  # type: ignore[index]


def test_null_disables_the_limit(project: Callable[..., Path]) -> None:
    root = make(project, "{keys: [id], mode: hard, max_delete_percent: null}")
    deliver(root, SNAPSHOTS[0])
    assert run(root).ok
    deliver(root, "id,name\n9,Zed\n")
    assert run(root).ok
    assert table(root) == [{"id": 9, "name": "Zed"}]


def test_duplicate_keys_in_the_snapshot_fail_the_node(project: Callable[..., Path]) -> None:
    root = make(project, "{keys: [id], mode: hard}")
    deliver(root, "id,name\n1,Ann\n1,Annie\n")
    result = run(root)
    assert not result.ok
    assert "snapshot keys are unique" in str(result.nodes[0].error)


def test_an_incremental_read_is_refused(project: Callable[..., Path]) -> None:
    yaml = PROJECT.replace("ENGINE", "duckdb").replace("PARAMS", "{keys: [id]}")
    yaml = yaml.replace("path: customers.csv}", "path: customers.csv, incremental: {column: id}}")
    root = project(yaml, {"data/customers.csv": SNAPSHOTS[0]})
    result = run(root)
    assert not result.ok
    assert "this node's read is incremental" in result.nodes[0].error["text"]  # type: ignore[index]


@pytest.mark.parametrize("engine", ["pandas", "polars", "spark"])
@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_every_engine_gives_duckdb_s_tables(
    project: Callable[..., Path], request: pytest.FixtureRequest, engine: str, mode: str
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark_session")
    params = f"{{keys: [id], mode: {mode}, deleted_at_column: deleted_at}}"
    runs = {}
    for name in ("duckdb", engine):
        snapshots = three_snapshots(make(project, params, name))
        if mode == "soft":  # the deletion times differ by run: only whether one is set
            snapshots = [
                [r | {"deleted_at": r["deleted_at"] is not None} for r in rows]
                for rows in snapshots
            ]
        runs[name] = snapshots
    assert runs[engine] == runs["duckdb"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{keys: [ident]}", "the key column(s) ident are not in the node's data"),
        ("{keys: [id], deleted_column: name}", "the data already has a column name"),
    ],
)
def test_columns_that_do_not_fit_fail_at_the_pattern(
    project: Callable[..., Path], params: str, message: str
) -> None:
    result = run(make(project, params))
    assert not result.ok
    text = result.nodes[0].error["text"]  # type: ignore[index]
    assert message in text and "pattern" in text


def test_a_new_column_in_the_snapshot_is_null_in_deleted_rows(
    project: Callable[..., Path],
) -> None:
    root = make(project, "{keys: [id]}")
    yaml = (root / "lakestory.yaml").read_text()
    yaml = yaml.replace(
        "write: {connection: lake, path: customers}",
        "write: {connection: lake, path: customers, schema: {on_new_columns: evolve}}",
    )
    (root / "lakestory.yaml").write_text(yaml)
    deliver(root, "id,name\n1,Ann\n2,Bob\n")
    assert run(root).ok
    deliver(root, "id,name,tier\n1,Ann,gold\n")
    result = run(root)
    assert result.ok, result.nodes[0].error
    assert [(r["id"], r["tier"], r["is_deleted"]) for r in table(root)] == [
        (1, "gold", False),
        (2, None, True),
    ]
