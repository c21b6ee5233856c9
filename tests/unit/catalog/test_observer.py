"""The catalog observer: what a run's events leave in the catalog."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakestory.catalog import Catalog
from lakestory.observe.catalog import CatalogObserver
from lakestory.runtime.events import NodeFinished, NodeStarted, RunFinished, RunStarted
from lakestory.runtime.records import NodeRecord, RunResult

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
COLS = [{"name": "id", "type": "BIGINT"}, {"name": "qty", "type": "INTEGER"}]


def node(key: str, status: str = "success", version: int | None = 0, **fields: Any) -> NodeRecord:
    pipeline, _, name = key.partition(".")
    if version is not None:  # it wrote its target
        fields = {"target_uri": f"/lake/{name}", "target": f"lake:{name}", "schema": COLS, **fields}
    start = datetime.now(UTC)  # real times: the ledger compares them with commit times
    return NodeRecord(
        key=key,
        pipeline=pipeline,
        node=name,
        status=status,
        started_at=start,
        ended_at=start + timedelta(seconds=0.5),
        table_version=version,
        **fields,
    )


def run(observer: CatalogObserver, run_id: str, *nodes: NodeRecord, **fields: Any) -> RunResult:
    """Publish a run's events to the observer, as the runner does."""
    res = RunResult(run_id, "proj", "dev", T0, pipelines=["silver"], **fields)
    observer(RunStarted(res, tuple(n.key for n in nodes)))
    for n in nodes:
        observer(NodeStarted(n))
        observer(NodeFinished(n))
    res.nodes = list(nodes)
    res.ended_at = T0 + timedelta(seconds=3)
    res.status = "failed" if any(n.status == "failed" for n in nodes) else "success"
    observer(RunFinished(res))
    return res


@pytest.fixture
def observer(catalog: Catalog) -> CatalogObserver:
    return CatalogObserver(catalog)


def test_a_run_is_recorded_with_its_nodes(catalog: Catalog, observer: CatalogObserver) -> None:
    run(
        observer,
        "r1",
        node("silver.orders", rows_read=10, rows_written=8, attempts=1, config_hash="abc"),
        node("silver.customers", "failed", None, error={"message": "boom"}),
        node("silver.metrics", "skipped", None, skipped_because="silver.customers failed"),
    )
    (info,) = catalog.runs()
    assert info["status"] == "failed" and info["env"] == "dev" and info["duration_s"] == 3.0
    counts = [info[f"nodes_{s}"] for s in ("total", "succeeded", "failed", "skipped")]
    assert counts == [3, 1, 1, 1]
    rows = {r["key"]: r for r in catalog.node_runs("r1")}
    assert rows["silver.orders"]["rows_written"] == 8
    assert rows["silver.orders"]["config_hash"] == "abc"
    assert rows["silver.orders"]["duration_s"] == 0.5
    assert rows["silver.customers"]["error"] == {"message": "boom"}
    assert rows["silver.metrics"]["skipped_because"] == "silver.customers failed"


def test_the_start_row_is_written_when_the_run_starts(catalog: Catalog) -> None:
    observer = CatalogObserver(catalog)
    res = RunResult("r1", "proj", None, T0, options={"nodes": ["silver.orders"]})
    observer(RunStarted(res, ("silver.orders",)))
    observer.wait()  # the start row is written in the background
    (info,) = catalog.runs()
    assert info["status"] == "incomplete" and info["nodes_total"] == 1
    assert info["pipelines"] == ["silver"]  # from the node keys, when the result has none
    assert info["options"] == {"nodes": ["silver.orders"]}


def test_node_events_touch_nothing(catalog: Catalog, observer: CatalogObserver) -> None:
    observer(NodeStarted(node("silver.orders")))
    observer(NodeFinished(node("silver.orders")))
    assert not os.path.exists(catalog.uri)


def test_state_is_recorded_for_nodes_that_committed(
    catalog: Catalog, observer: CatalogObserver
) -> None:
    mark = {"kind": "column", "column": "seq", "value": 7, "type": "int"}
    ledger = {"kind": "files"}
    files = [{"file": "a.csv", "size": 3, "mtime": 1.0}, {"file": "b.csv", "size": 4, "mtime": 2.0}]
    run(
        observer,
        "r1",
        node("bronze.by_col", version=4, state=mark),
        node("bronze.by_file", version=2, state=ledger, files=files),
        node("bronze.failed", "failed", version=None, state={"kind": "column", "value": 1}),
        node("bronze.idle", version=None, state={"kind": "column", "value": 1}),  # no new rows
    )
    states = catalog.states()
    assert set(states) == {"bronze.by_col", "bronze.by_file"}
    assert states["bronze.by_col"].value == mark
    assert (states["bronze.by_col"].table_version, states["bronze.by_col"].run_id) == (4, "r1")
    assert states["bronze.by_col"].table_uri == "/lake/by_col"
    assert catalog.ledger("bronze.by_file") == {"a.csv", "b.csv"}


def test_a_full_refresh_starts_a_new_ledger(catalog: Catalog, observer: CatalogObserver) -> None:
    ledger = {"kind": "files"}
    first = [{"file": "old.csv", "size": 1, "mtime": 1.0}]
    run(observer, "r1", node("bronze.by_file", version=0, state=ledger, files=first))
    assert catalog.ledger("bronze.by_file") == {"old.csv"}
    again = [{"file": "a.csv", "size": 1, "mtime": 1.0}, {"file": "b.csv", "size": 1, "mtime": 1.0}]
    run(
        observer,
        "r2",
        node("bronze.by_file", version=1, state=ledger, files=again),
        options={"full_refresh": ["bronze.by_file"]},
    )
    assert catalog.ledger("bronze.by_file") == {"a.csv", "b.csv"}
    assert catalog.states()["bronze.by_file"].run_id == "r2"  # the reset is not the latest


def test_schema_rows_only_when_columns_change(catalog: Catalog, observer: CatalogObserver) -> None:
    run(observer, "r1", node("silver.orders", version=0))
    run(observer, "r2", node("silver.orders", version=1))  # same columns: no row
    wider = [{"name": "id", "type": "BIGINT"}, {"name": "qty", "type": "BIGINT"}]
    run(observer, "r3", node("silver.orders", version=2, schema=wider))
    history = catalog.schema_history("/lake/orders")
    assert [(h["version"], h["run_id"], h["change"]) for h in history] == [
        (2, "r3", "qty: INTEGER → BIGINT"),
        (0, "r1", "created with 2 columns"),
    ]
    assert history[0]["table"] == "lake:orders" and history[0]["key"] == "silver.orders"
    assert catalog.last_schemas() == {"/lake/orders": wider}


def test_a_failing_catalog_warns_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the catalog folder should be")
    observer = CatalogObserver(Catalog(str(blocked), "proj"))
    with caplog.at_level(logging.WARNING, logger="lakestory.observe.catalog"):
        run(observer, "r1", node("silver.orders"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "could not record the start of run r1" in warnings[0]
    assert "could not record the outcome of run r1" in warnings[1]
    assert str(blocked) in warnings[1] and "not affected" in warnings[1]
