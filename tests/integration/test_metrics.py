"""Prometheus metrics of a run: a node-exporter textfile (through the CLI), a Pushgateway
and an HTTP endpoint (through the Python API), read back with prometheus_client's parser;
and a retried node, in the metrics and in its trace."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from lakestory.api import Project
from lakestory.config.models import TracingConfig
from lakestory.observe.metrics import PUSH_TIMEOUT_S, metrics_server_port
from lakestory.observe.tracing import TracingObserver

PROJECT = """
project: shop
on_error: fail_later
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
metrics: {{prometheus: {metrics}}}
pipelines:
  - pipeline: sales
    nodes:
      - name: orders
        read: {{connection: raw, path: orders.csv}}
        validation:
          tests:
            - {{type: range, column: amount, min: 0, on_fail: warn}}
        write: {{connection: lake, path: orders, format: delta}}
      - name: totals
        transform: [{{sql: "SELECT count(*) AS n, sum(amount) AS total FROM orders"}}]
        write: {{connection: lake, path: totals, format: delta}}
  - pipeline: refs
    nodes:
      - name: broken                    # a malformed CSV row: fails
        read: {{connection: raw, path: bad.csv}}
        write: {{connection: lake, path: broken}}
"""
FILES = {
    "data/orders.csv": "id,amount\n1,10\n2,-5\n3,7\n",
    "data/bad.csv": "id,amount\n1,10\n2,20,5\n",
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """``{(sample name, labels): value}`` of an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def node(name: str, pipeline: str = "sales") -> dict[str, str]:
    return {"project": "shop", "env": "", "pipeline": pipeline, "node": name}


def test_textfile_counts_runs_rows_and_check_failures(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(PROJECT.format(metrics="{textfile: metrics/lakestory.prom}"), FILES)
    result = cli("run", root / "lakestory.yaml")
    assert result.exit_code == 1  # refs.broken fails
    prom = root / "metrics" / "lakestory.prom"  # relative to the project folder
    found = samples(prom.read_text())
    assert value(found, "lakestory_runs_total", project="shop", env="", status="failed") == 1
    assert value(found, "lakestory_node_rows_written_total", **node("orders")) == 3
    assert value(found, "lakestory_node_rows_read_total", **node("orders")) == 3
    assert value(found, "lakestory_node_rows_written_total", **node("totals")) == 1
    failures = dict(check="range(amount)", check_type="range", status="warned")
    assert value(found, "lakestory_check_failures_total", **node("orders"), **failures) == 1
    broken = node("broken", "refs")
    assert value(found, "lakestory_node_runs_total", **broken, status="failed") == 1
    assert value(found, "lakestory_node_errors_total", **broken, kind="data_error") == 1
    assert value(found, "lakestory_node_last_success_timestamp_seconds", **broken) is None
    stamp = value(found, "lakestory_node_last_success_timestamp_seconds", **node("totals"))
    assert stamp is not None and abs(stamp - time.time()) < 120
    statuses = {"sales": "success", "refs": "failed"}
    for pipeline, status in statuses.items():
        labels = dict(project="shop", env="", pipeline=pipeline, status=status)
        assert value(found, "lakestory_pipeline_runs_total", **labels) == 1
    duration = value(found, "lakestory_node_duration_seconds", **node("orders"))
    assert duration is not None and duration > 0
    [info] = [k for k in found if k[0] == "lakestory_info"]
    assert dict(info[1])["version"]
    assert not any("run_id" in dict(labels) for _, labels in found)

    # the next run adds to the counters; only the metrics file of this run is left
    assert cli("run", root / "lakestory.yaml", "--pipeline", "sales").exit_code == 0
    found = samples(prom.read_text())
    assert value(found, "lakestory_node_rows_written_total", **node("orders")) == 6
    assert value(found, "lakestory_runs_total", project="shop", env="", status="failed") == 1
    assert value(found, "lakestory_runs_total", project="shop", env="", status="success") == 1
    broken_runs = value(found, "lakestory_node_runs_total", **broken, status="failed")
    assert broken_runs == 1  # not in this run: kept
    assert [p.name for p in prom.parent.iterdir()] == ["lakestory.prom"]


def test_pushgateway_gets_one_group_per_pipeline_and_one_for_the_run(
    project: Callable[..., Path], receiver: Callable[..., Any]
) -> None:
    gateway = receiver("ok")
    metrics = f"{{pushgateway: '{gateway.url}', job: nightly}}"
    Project.load(project(PROJECT.format(metrics=metrics), FILES) / "lakestory.yaml").run()
    got = {r["path"]: r for r in gateway.requests(wait_for=3)}
    assert set(got) == {
        "/metrics/job/nightly/pipeline/refs/project/shop",
        "/metrics/job/nightly/pipeline/sales/project/shop",
        "/metrics/job/nightly/project/shop",
    }
    assert {r["method"] for r in got.values()} == {"PUT"}
    sales = samples(got["/metrics/job/nightly/pipeline/sales/project/shop"]["body"])
    assert value(sales, "lakestory_node_rows_written_total", **node("orders")) == 3
    assert all(dict(labels)["pipeline"] == "sales" for _, labels in sales)
    run = samples(got["/metrics/job/nightly/project/shop"]["body"])
    assert value(run, "lakestory_runs_total", project="shop", env="", status="failed") == 1


@pytest.mark.parametrize("mode", ["down", "fail", "hang"])
def test_a_pushgateway_down_failing_or_hanging_costs_its_timeout_at_most(
    project: Callable[..., Path],
    receiver: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    gateway = receiver(mode)
    path = project(PROJECT.format(metrics=f"{{pushgateway: '{gateway.url}'}}"), FILES)
    started = time.monotonic()
    result = Project.load(path / "lakestory.yaml").run()
    elapsed = time.monotonic() - started
    assert result.status == "failed"  # refs.broken, as without metrics
    assert result.record("orders").status == "success"
    assert result.record("totals").rows_written == 1
    assert elapsed < PUSH_TIMEOUT_S + 5  # the run itself takes about a second
    assert "could not be pushed" in capsys.readouterr().err  # the run's log handler
    if mode != "down":  # one push tried, none after it
        assert len(gateway.requests(wait_for=1)) == 1


def test_http_endpoint_serves_the_metrics_of_every_run_of_the_process(
    project: Callable[..., Path],
) -> None:
    root = project(PROJECT.format(metrics="{port: 0}"), FILES) / "lakestory.yaml"
    Project.load(root).run(pipelines=["sales"])
    port = metrics_server_port()
    assert port
    Project.load(root).run(pipelines=["sales"])
    assert metrics_server_port() == port  # one endpoint for the process
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        found = samples(response.read().decode())
    assert value(found, "lakestory_runs_total", project="shop", env="", status="success") >= 2
    assert value(found, "lakestory_node_rows_written_total", **node("orders")) >= 6


FLAKY = """
project: ops
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
retry: {max_attempts: 3, initial_delay: 0.05s, jitter: false}
metrics: {prometheus: {textfile: ops.prom}}
pipelines:
  - pipeline: p
    nodes:
      - name: load
        read: {connection: raw, path: a.csv}
        transform: [{function: steps.flaky}]
        write: {connection: lake, path: out, format: delta}
"""
STEPS = """
from pathlib import Path

COUNTER = Path(__file__).parent / "calls.txt"


def flaky(df):
    n = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(n + 1))
    if n < 2:
        raise ConnectionResetError("the API dropped the connection")
    return df
"""


def test_retries_are_counted_and_traced(project: Callable[..., Path]) -> None:
    root = project(FLAKY, {"data/a.csv": "id\n1\n2\n", "steps.py": STEPS})
    exporter = InMemorySpanExporter()  # the tracing observer, beside the metrics
    observer = TracingObserver(TracingConfig(otlp_endpoint="http://unused"), "ops", None, exporter)
    result = Project.load(root / "lakestory.yaml").run(subscribers=[observer])
    assert result.status == "success"
    found = samples((root / "ops.prom").read_text())
    labels = {"project": "ops", "env": "", "pipeline": "p", "node": "load"}
    assert value(found, "lakestory_node_retries_total", **labels) == 2
    assert value(found, "lakestory_node_runs_total", **labels, status="success") == 1
    assert value(found, "lakestory_node_rows_written_total", **labels) == 2
    [node] = [s for s in exporter.get_finished_spans() if s.name == "node p.load"]
    retries = [(e.attributes or {}) for e in node.events if e.name == "retry"]
    assert [e["lakestory.attempt"] for e in retries] == [1, 2]
    assert "dropped the connection" in str(retries[0]["lakestory.error.message"])
    assert (node.attributes or {})["lakestory.attempts"] == 3
    assert node.status.status_code is StatusCode.OK
