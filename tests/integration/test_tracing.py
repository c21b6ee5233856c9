"""OpenTelemetry traces of a run: a span per run and per node, in memory (an exporter
passed to the observer) and over OTLP/HTTP to a receiver that is up, down or hanging."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from lakestory.api import Project
from lakestory.config.models import TracingConfig
from lakestory.observe.tracing import FLUSH_TIMEOUT_S, TracingObserver

PROJECT = """
project: shop
on_error: fail_later
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
{tracing}
pipelines:
  - pipeline: sales
    nodes:
      - name: orders
        read: {{connection: raw, path: orders.csv}}
        write: {{connection: lake, path: orders, format: delta}}
      - name: totals
        transform: [{{sql: "SELECT count(*) AS n FROM orders"}}]
        write: {{connection: lake, path: totals, format: delta, mode: overwrite}}
      - name: broken                    # a malformed CSV row: fails
        read: {{connection: raw, path: bad.csv}}
        write: {{connection: lake, path: broken}}
      - name: after_broken
        transform: [{{sql: "SELECT * FROM broken"}}]
        write: {{connection: lake, path: after}}
"""
FILES = {
    "data/orders.csv": "id,amount\n1,10\n2,-5\n3,7\n",
    "data/bad.csv": "id,amount\n1,10\n2,20,5\n",
}


def shop(project: Callable[..., Path], tracing: str = "") -> Path:
    return project(PROJECT.format(tracing=tracing), FILES) / "lakestory.yaml"


def test_a_span_per_run_and_per_node(project: Callable[..., Path]) -> None:
    exporter = InMemorySpanExporter()
    observer = TracingObserver(TracingConfig(otlp_endpoint="http://unused"), "shop", None, exporter)
    result = Project.load(shop(project)).run(subscribers=[observer])
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {
        "run shop",
        "node sales.orders",
        "node sales.totals",
        "node sales.broken",
        "node sales.after_broken",
    }
    run = spans["run shop"]
    assert run.parent is None
    assert run.attributes is not None and run.attributes["lakestory.run_id"] == result.run_id
    assert run.attributes["lakestory.status"] == "failed"
    assert run.status.status_code is StatusCode.ERROR
    assert run.resource.attributes["service.name"] == "lakestory"
    assert run.resource.attributes["lakestory.project"] == "shop"
    assert run.context is not None
    for name, span in spans.items():
        assert span.context is not None and span.context.trace_id == run.context.trace_id
        if name != "run shop":
            assert span.parent is not None and span.parent.span_id == run.context.span_id
            assert span.start_time is not None and run.start_time is not None
            assert span.end_time is not None and run.end_time is not None
            assert run.start_time <= span.start_time <= span.end_time <= run.end_time
    orders = spans["node sales.orders"]
    assert orders.status.status_code is StatusCode.OK
    assert (
        dict(orders.attributes or {}).items()
        >= {
            "lakestory.node": "sales.orders",
            "lakestory.pipeline": "sales",
            "lakestory.rows_read": 3,
            "lakestory.rows_written": 3,
            "lakestory.write_mode": "overwrite",
            "lakestory.target": "lake:orders",
            "lakestory.attempts": 1,
            "lakestory.status": "success",
        }.items()
    )
    broken = spans["node sales.broken"]
    assert broken.status.status_code is StatusCode.ERROR
    [event] = [e for e in broken.events if e.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "data_error"
    assert "malformed CSV row" in str(event.attributes["exception.message"])
    skipped = spans["node sales.after_broken"]
    assert (skipped.attributes or {})["lakestory.status"] == "skipped"
    assert skipped.status.status_code is StatusCode.UNSET


def test_spans_reach_an_otlp_http_collector(
    project: Callable[..., Path], receiver: Callable[..., Any]
) -> None:
    collector = receiver("ok")
    tracing = f"tracing: {{otlp_endpoint: '{collector.url}', headers: {{x-token: t0k}}}}"
    Project.load(shop(project, tracing)).run()
    [request] = collector.requests(wait_for=1)
    assert (request["method"], request["path"]) == ("POST", "/v1/traces")
    assert request["headers"]["content-type"] == "application/x-protobuf"
    assert request["headers"]["x-token"] == "t0k"
    for name in ("run shop", "node sales.orders", "node sales.broken"):
        assert name in request["body"]  # protobuf strings are UTF-8 bytes


@pytest.mark.parametrize("mode", ["down", "hang"])
def test_an_unreachable_collector_costs_a_bounded_time_and_changes_nothing(
    project: Callable[..., Path], receiver: Callable[..., Any], mode: str
) -> None:
    collector = receiver(mode)
    path = shop(project, f"tracing: {{otlp_endpoint: '{collector.url}'}}")
    started = time.monotonic()
    result = Project.load(path).run()
    elapsed = time.monotonic() - started
    assert result.status == "failed"
    statuses = {r.key: r.status for r in result.nodes}
    assert statuses == {
        "sales.orders": "success",
        "sales.totals": "success",
        "sales.broken": "failed",
        "sales.after_broken": "skipped",
    }
    assert elapsed < FLUSH_TIMEOUT_S + 5  # the run itself takes about a second
