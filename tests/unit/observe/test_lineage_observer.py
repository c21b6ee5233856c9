"""OpenLineage: dataset names for each connection kind, run ids, and the observer's events
(ABORT on interrupt, nothing for skipped nodes, one failed send stops the run's sending,
redaction, a bounded flush), with a fake client in place of the HTTP one."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.serde import Serde

from lakestory.api import Project
from lakestory.config.models import LineageConfig
from lakestory.config.models.connections import (
    AzureConnection,
    LocalConnection,
    PostgresConnection,
    S3Connection,
    SqlConnection,
)
from lakestory.io.specs import Location
from lakestory.observe import lineage
from lakestory.observe.lineage import LineageObserver, _Namer, dataset_name, node_uuid, run_uuid
from lakestory.runtime.events import NodeFinished, NodeStarted, RunFinished, RunStarted
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redactor import Redactor, current, set_current


def loc(kind: str, path: str, uri: str = "") -> Location:
    return Location(connection="c", kind=kind, uri=uri or path, path=path)


@pytest.mark.parametrize(
    ("connection", "location", "expected"),
    [
        (
            LocalConnection(type="local"),
            loc("local", "out/sales", "/data/proj/out/sales/"),
            ("file", "/data/proj/out/sales"),
        ),
        (
            S3Connection(type="s3", bucket="lake", path_prefix="/bronze/"),
            loc("s3", "sales/2024"),
            ("s3://lake", "bronze/sales/2024"),
        ),
        (
            S3Connection(type="s3", bucket="lake"),
            loc("s3", "/sales"),
            ("s3://lake", "sales"),
        ),
        (
            AzureConnection(type="azure_adls", account="acct", container="silver"),
            loc("azure_adls", "users"),
            ("abfss://silver@acct.dfs.core.windows.net", "/users"),
        ),
        (
            AzureConnection(
                type="azure_blob", account_name="acct", container="raw", path_prefix="in"
            ),
            loc("azure_blob", "a/b.csv"),
            ("wasbs://raw@acct.blob.core.windows.net", "/in/a/b.csv"),
        ),
        (
            PostgresConnection.model_validate(
                {"type": "postgres", "host": "db", "port": 5433, "database": "shop"}
            ),
            loc("postgres", "orders"),
            ("postgres://db:5433", "shop.public.orders"),
        ),
        (
            PostgresConnection.model_validate(
                {"type": "postgres", "host": "db", "database": "shop", "schema": "sales"}
            ),
            loc("postgres", "orders"),
            ("postgres://db:5432", "shop.sales.orders"),
        ),
        (
            PostgresConnection.model_validate({"type": "postgres", "database": "shop"}),
            loc("postgres", "mart.orders"),
            ("postgres://localhost:5432", "shop.mart.orders"),
        ),
        (
            SqlConnection(type="sql", url="postgresql+psycopg://u:pw@h:5432/app"),
            loc("sql", "t"),
            ("postgresql://h:5432", "app.t"),
        ),
    ],
)
def test_dataset_names_follow_the_openlineage_naming_spec(
    connection: Any, location: Location, expected: tuple[str, str]
) -> None:
    assert dataset_name(location, connection) == expected


def test_a_sql_connection_name_leaves_its_credentials_out() -> None:
    name = dataset_name(loc("sql", "t"), SqlConnection(type="sql", url="mysql://me:pw@h/db"))
    assert "pw" not in "".join(name) and "me" not in name[0]


def test_run_ids_are_uuids() -> None:
    assert run_uuid("fbbe0011a0e54b95") == run_uuid("fbbe0011a0e54b95")
    uuid.UUID(run_uuid("fbbe0011a0e54b95"))
    given = str(uuid.uuid4())
    assert run_uuid(given) == given
    a, b = node_uuid(given, "p.a"), node_uuid(given, "p.b")
    assert a != b and uuid.UUID(a) and node_uuid(given, "p.a") == a


def test_no_lineage_config_no_observer(project: Callable[..., Path]) -> None:
    p = Project.load(project(PROJECT.replace(LINEAGE, "")) / "lakestory.yaml")
    assert lineage.lineage_observer(p.loaded, p.plan()) is None


# -- the observer, with a fake client ------------------------------------------------------

LINEAGE = """\
lineage: {url: "http://127.0.0.1:9", namespace: ns, timeout: 1s}
"""
PROJECT = (
    """\
project: shop
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
"""
    + LINEAGE
    + """\
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: a.csv}
        write: {connection: lake, path: a}
      - name: b
        depends_on: [a]
        transform: [{function: json.dumps}, {sql: "SELECT id FROM df"}]
        write: {connection: lake, path: b}
"""
)


class FakeClient:
    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.raw: list[dict[str, Any]] = []
        self.fail, self.delay, self.calls = fail, delay, 0
        self.transport = self

    url = "http://collector.example:5000"

    def emit(self, event: Any) -> None:
        self.calls += 1
        time.sleep(self.delay)
        if self.fail:
            raise ConnectionError("refused")
        if isinstance(event, dict):
            self.raw.append(event)
        else:
            self.sent.append(Serde.to_dict(event))


def observer(project: Callable[..., Path], client: FakeClient) -> tuple[LineageObserver, Any]:
    p = Project.load(project(PROJECT, {"data/a.csv": "id\n1\n"}) / "lakestory.yaml")
    plan = p.plan()
    cfg = LineageConfig(url="http://127.0.0.1:9", namespace="ns", timeout=timedelta(seconds=1))
    return LineageObserver(cfg, plan, _Namer(dict(p.config.connections)), client), plan


def rec(key: str, status: str, **kw: Any) -> NodeRecord:
    now = datetime.now(UTC)
    pipeline, node = key.split(".")
    return NodeRecord(key, pipeline, node, status=status, started_at=now, ended_at=now, **kw)


def result(status: str) -> RunResult:
    return RunResult("run1", "shop", None, datetime.now(UTC), datetime.now(UTC), status)


def kinds(client: FakeClient) -> list[tuple[str, str]]:
    return [(e["job"]["name"], e["eventType"]) for e in client.sent + client.raw]


def test_an_interrupted_run_sends_abort_and_skipped_nodes_send_nothing(
    project: Callable[..., Path],
) -> None:
    client = FakeClient()
    obs, _ = observer(project, client)
    obs(RunStarted(result("running"), ("p.a", "p.b")))
    obs(NodeStarted(rec("p.a", "running")))
    obs(NodeFinished(rec("p.a", "aborted")))
    obs(NodeFinished(rec("p.b", "skipped", skipped_because="p.a was aborted")))
    obs(RunFinished(result("aborted")))
    assert kinds(client) == [
        ("shop", "START"),
        ("p.a", "START"),
        ("p.a", "ABORT"),
        ("shop", "ABORT"),
    ]
    abort = client.sent[2]
    assert abort["run"]["facets"]["parent"]["run"]["runId"] == run_uuid("run1")
    assert abort["run"]["runId"] == node_uuid(run_uuid("run1"), "p.a")


def test_a_python_step_leaves_column_lineage_out(project: Callable[..., Path]) -> None:
    client = FakeClient()
    obs, _ = observer(project, client)
    obs(RunStarted(result("running"), ("p.a", "p.b")))
    schema = [{"name": "id", "type": "BIGINT"}]
    for key in ("p.a", "p.b"):
        obs(NodeStarted(rec(key, "running")))
        obs(NodeFinished(rec(key, "success", schema=schema, rows_written=1)))
    obs(RunFinished(result("success")))
    done = {e["job"]["name"]: e for e in client.sent if e["eventType"] == "COMPLETE"}
    assert "columnLineage" in done["p.a"]["outputs"][0]["facets"]  # no steps: a copy
    assert "columnLineage" not in done["p.b"]["outputs"][0]["facets"]
    assert done["p.b"]["outputs"][0]["facets"]["schema"]["fields"][0]["name"] == "id"
    assert done["p.b"]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 1


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_after_a_failed_send_the_run_sends_nothing_more(project: Callable[..., Path]) -> None:
    client = FakeClient(fail=True)
    obs, _ = observer(project, client)
    logger, seen = logging.getLogger("lakestory.lineage"), Collect()
    level = logger.level
    logger.addHandler(seen)  # not caplog: a run before this test may stop propagation
    logger.setLevel(logging.WARNING)
    try:
        obs(RunStarted(result("running"), ("p.a",)))
        obs(NodeStarted(rec("p.a", "running")))
        obs(NodeFinished(rec("p.a", "success")))
        obs(RunFinished(result("success")))
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
    assert client.calls == 1
    assert len(seen.records) == 1 and "collector.example:5000" in seen.records[0].getMessage()


def test_a_slow_endpoint_costs_at_most_the_timeout(project: Callable[..., Path]) -> None:
    client = FakeClient(delay=0.6)  # 4 events × 0.6s, a budget of 1s
    obs, _ = observer(project, client)
    obs(RunStarted(result("running"), ("p.a",)))
    obs(NodeStarted(rec("p.a", "running")))
    obs(NodeFinished(rec("p.a", "success")))
    start = time.monotonic()
    obs(RunFinished(result("success")))
    assert time.monotonic() - start < 1.3
    time.sleep(0.8)
    assert client.calls < 4  # what was left when the budget ran out was dropped


def test_a_secret_in_an_event_is_sent_redacted(project: Callable[..., Path]) -> None:
    client = FakeClient()
    obs, _ = observer(project, client)
    before = current()
    set_current(Redactor(["p4ssw0rd-in-a-name"]))
    try:
        obs(RunStarted(result("running"), ("p.a",)))
        obs(NodeStarted(rec("p.a", "running")))
        bad = rec("p.a", "failed", error={"message": "login p4ssw0rd-in-a-name refused"})
        obs(NodeFinished(bad))
        obs(RunFinished(result("failed")))
    finally:
        set_current(before)
    text = repr(client.sent + client.raw)
    assert "p4ssw0rd" not in text and "[REDACTED]" in text
    assert threading.active_count() < 50


def test_a_node_started_but_never_finished_is_aborted_at_the_end(
    project: Callable[..., Path],
) -> None:
    client = FakeClient()
    obs, _ = observer(project, client)
    obs(RunStarted(result("running"), ("p.a",)))
    obs(NodeStarted(rec("p.a", "running")))
    obs(RunFinished(result("aborted")))
    assert kinds(client) == [
        ("shop", "START"),
        ("p.a", "START"),
        ("p.a", "ABORT"),
        ("shop", "ABORT"),
    ]
    obs.sender.thread.join(1)
    assert not obs.sender.thread.is_alive()  # the sender thread ends with the run


def test_contract_results_go_on_the_input_and_validation_results_on_the_output(
    project: Callable[..., Path],
) -> None:
    client = FakeClient()
    obs, _ = observer(project, client)
    checks = [
        {"name": "not_null(id)", "type": "not_null", "phase": "contract", "status": "failed"},
        {"name": "row_count", "type": "row_count", "phase": "validation", "status": "warned"},
    ]
    obs(RunStarted(result("running"), ("p.a",)))
    obs(NodeStarted(rec("p.a", "running")))
    obs(NodeFinished(rec("p.a", "failed", checks=checks, error={"message": "1 test failed"})))
    obs(RunFinished(result("failed")))
    fail = client.sent[2]
    assert fail["eventType"] == "FAIL"
    [source] = fail["inputs"]
    assert source["inputFacets"]["dataQualityAssertions"]["assertions"] == [
        {"assertion": "not_null", "success": False, "params": {}}
    ]
    [out] = fail["outputs"]
    assert out["facets"]["dataQualityAssertions"]["assertions"] == [
        {"assertion": "row_count", "success": True, "params": {}}
    ]
    assert "outputStatistics" not in out.get("outputFacets", {})
