"""Data-quality check results in the catalog: the ``checks`` table, as the observer writes
it, read back by ``Catalog.checks`` and ``Catalog.volume_history``."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from lakestory.catalog import Catalog
from lakestory.observe.catalog import CatalogObserver
from lakestory.runtime.events import RunFinished, RunStarted
from lakestory.runtime.records import NodeRecord, RunResult

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SECRET = "alice@example.com"  # a value only the samples hold


def check(
    name: str,
    phase: str = "validation",
    status: str = "passed",
    rows: int | None = 100,
    failing: int | None = 0,
    **fields: Any,
) -> dict[str, Any]:
    """A check result as ``NodeRecord.checks`` holds it."""
    rate = None if failing is None or not rows else (rows - failing) / rows
    return {
        "name": name,
        "type": "not_null",
        "phase": phase,
        "on_fail": "fail",
        "status": status,
        "rows": rows,
        "failing": failing,
        "pass_rate": rate,
        "threshold": None,
        "observed": None,
        "message": None,
        "samples": [],
        **fields,
    }


def node(key: str, status: str = "success", **fields: Any) -> NodeRecord:
    pipeline, _, name = key.partition(".")
    start = datetime.now(UTC)
    return NodeRecord(
        key=key,
        pipeline=pipeline,
        node=name,
        status=status,
        started_at=start,
        ended_at=start + timedelta(seconds=0.5),
        **fields,
    )


def checked(key: str, rows: int, status: str = "success") -> NodeRecord:
    """A node whose contract and two validation tests judged ``rows`` rows."""
    return node(
        key,
        status,
        rows_checked=rows,
        checks=[
            check("id_present", "contract", rows=rows + 5),  # before the drops
            check("id_not_null", rows=rows),
            check("volume", type="volume_drop", rows=rows, failing=None, observed=rows),
        ],
    )


def run(observer: CatalogObserver, run_id: str, *nodes: NodeRecord) -> RunResult:
    """A run's start and end events, as the runner publishes them."""
    res = RunResult(run_id, observer.catalog.project, "dev", T0, pipelines=["silver"])
    observer(RunStarted(res, tuple(n.key for n in nodes)))
    res.nodes = list(nodes)
    res.ended_at = T0 + timedelta(seconds=3)
    res.status = "failed" if any(n.status == "failed" for n in nodes) else "success"
    observer(RunFinished(res))
    return res


@pytest.fixture
def observer(catalog: Catalog) -> CatalogObserver:
    return CatalogObserver(catalog)


def test_a_row_per_check_and_one_per_gate(catalog: Catalog, observer: CatalogObserver) -> None:
    gate = {
        "status": "blocked",
        "pass_rate": 0.9,
        "required": 0.95,
        "failed_thresholds": {"email_valid": {"required": 0.99, "actual": 0.8}},
        "action": "write_valid_only",
    }
    run(
        observer,
        "r1",
        node(
            "silver.orders",
            rows_checked=10,
            rows_dropped=1,
            rows_quarantined=2,
            gate=gate,
            checks=[
                check("id_present", "contract", "dropped", 11, 1, on_fail="drop"),
                check(
                    "email_valid",
                    status="quarantined",
                    rows=10,
                    failing=2,
                    on_fail="quarantine",
                    threshold=0.99,
                    message="2 rows with an invalid email",
                    samples=[{"id": 7, "email": SECRET}],
                ),
                check(
                    "fresh",
                    type="freshness",
                    rows=10,
                    failing=None,
                    observed="2026-03-01T07:00:00+00:00",  # a string stays a string
                ),
            ],
        ),
    )
    rows = catalog.checks("r1")
    assert [(r["phase"], r["test"], r["status"]) for r in rows] == [
        ("contract", "id_present", "dropped"),
        ("validation", "email_valid", "quarantined"),
        ("validation", "fresh", "passed"),
        ("gate", "gate", "blocked"),
    ]
    contract, email, fresh, blocked = rows
    assert contract["on_fail"] == "drop" and (contract["rows"], contract["failing"]) == (11, 1)
    assert email["pass_rate"] == 0.8 and email["threshold"] == 0.99
    assert email["message"] == "2 rows with an invalid email"
    assert (email["project"], email["key"], email["pipeline"], email["node"]) == (
        "proj",
        "silver.orders",
        "silver",
        "orders",
    )
    assert email["node_status"] == "success" and email["recorded_at"] is not None
    assert fresh["type"] == "freshness" and fresh["failing"] is None
    assert fresh["observed"] == "2026-03-01T07:00:00+00:00"
    assert blocked["type"] == "gate" and blocked["on_fail"] == "write_valid_only"
    assert (blocked["pass_rate"], blocked["threshold"], blocked["rows"]) == (0.9, 0.95, 10)
    assert blocked["observed"] == gate
    assert blocked["message"] == "pass rate 90.00% < 95.00%; email_valid: 80.00% < 99.00%"
    assert all("samples" not in r for r in rows)
    # the samples hold data: they are nowhere in the catalog's files
    files = DeltaTable(catalog.table_uri("checks")).file_uris()
    raw = ds.dataset(files, format="parquet").to_table().to_pylist()
    assert SECRET not in repr(raw)


def test_checks_are_filtered_newest_run_first(catalog: Catalog, observer: CatalogObserver) -> None:
    run(observer, "r1", checked("silver.orders", 10))
    failing = check("amount_positive", status="failed", rows=20, failing=3)
    run(
        observer,
        "r2",
        checked("silver.orders", 20),
        node("gold.sales", "failed", checks=[failing]),
    )
    assert [(r["run_id"], r["test"]) for r in catalog.checks(limit=4)] == [
        ("r2", "id_present"),
        ("r2", "id_not_null"),
        ("r2", "volume"),
        ("r2", "amount_positive"),
    ]
    assert len(catalog.checks()) == 7
    assert {r["run_id"] for r in catalog.checks(key="silver.orders")} == {"r1", "r2"}
    assert [r["key"] for r in catalog.checks(pipeline="gold")] == ["gold.sales"]
    (failed,) = catalog.checks(status="failed")
    assert failed["node_status"] == "failed" and failed["failing"] == 3
    assert catalog.checks("r1", "gold.sales") == []


def test_volume_history_of_successful_runs(catalog: Catalog, observer: CatalogObserver) -> None:
    run(observer, "r1", checked("silver.orders", 100), checked("silver.customers", 7))
    run(observer, "r2", checked("silver.orders", 200, "failed"))  # not a baseline
    run(observer, "r3", checked("silver.orders", 300))
    run(observer, "r4", node("silver.orders"))  # no checks this time
    run(observer, "r5", checked("silver.orders", 500))
    assert catalog.volume_history("silver.orders", 10) == [500, 300, 100]
    assert catalog.volume_history("silver.orders", 2) == [500, 300]
    assert catalog.volume_history("silver.orders", 0) == []
    assert catalog.volume_history("silver.customers", 5) == [7]
    assert catalog.volume_history("orders", 5) == []  # a key, not a bare name
    assert catalog.volume_history("gold.sales", 5) == []


def test_volume_history_counts_validation_rows_only(
    catalog: Catalog, observer: CatalogObserver
) -> None:
    contract_only = [check("id_present", "contract", rows=50)]
    run(observer, "r1", node("silver.orders", checks=contract_only))
    assert catalog.volume_history("silver.orders", 5) == []
    gated = {"status": "passed", "pass_rate": 1.0, "required": 0.9, "action": "abort"}
    run(observer, "r2", node("silver.orders", rows_checked=40, gate=gated))  # a gate alone
    assert catalog.volume_history("silver.orders", 5) == []


def test_volume_history_is_per_project(catalog: Catalog, observer: CatalogObserver) -> None:
    other = Catalog(catalog.uri, "other")  # the same catalog folder, another project
    run(observer, "r1", checked("silver.orders", 100))
    run(CatalogObserver(other), "o1", checked("silver.orders", 999))
    run(observer, "r2", checked("silver.orders", 200))
    assert catalog.volume_history("silver.orders", 5) == [200, 100]
    assert other.volume_history("silver.orders", 5) == [999]
    assert {r["run_id"] for r in other.checks()} == {"o1"}


def test_no_checks_table_until_a_run_has_checks(
    catalog: Catalog, observer: CatalogObserver
) -> None:
    assert catalog.checks() == [] and catalog.volume_history("silver.orders", 3) == []
    run(observer, "r1", node("silver.orders"))  # as a catalog from before checks
    assert not os.path.exists(catalog.table_uri("checks"))
    assert catalog.checks() == [] and catalog.volume_history("silver.orders", 3) == []
    run(observer, "r2", checked("silver.orders", 10))
    assert catalog.volume_history("silver.orders", 3) == [10]
    assert [r["run_id"] for r in catalog.node_runs()] == ["r2", "r1"]


def test_unreadable_check_results_lose_nothing_else(
    catalog: Catalog, observer: CatalogObserver, caplog: pytest.LogCaptureFixture
) -> None:
    odd = check("odd", rows="many", failing=None, pass_rate="high")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="lakestory.observe.catalog"):
        run(
            observer,
            "r1",
            node("silver.broken", checks=["not a result"]),  # type: ignore[list-item]
            node("silver.odd", checks=[odd]),
        )
    assert [r["key"] for r in catalog.node_runs("r1")] == ["silver.broken", "silver.odd"]
    (row,) = catalog.checks("r1")
    assert (row["test"], row["rows"], row["pass_rate"]) == ("odd", None, None)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "the check results of silver.broken could not be recorded" in warning
