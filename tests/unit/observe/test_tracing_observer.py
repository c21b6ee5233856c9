"""The tracing observer on events made by hand: parents under concurrency, retries as span
events, redacted failure messages, the OTLP URL."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from lakestory.config.models import TracingConfig
from lakestory.observe.tracing import TracingObserver, traces_url, tracing_observer
from lakestory.runtime.events import (
    NodeFinished,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
)
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redactor import MASK, Redactor, current, set_current

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let caplog see lakestory's records (a run's log setup stops their propagation)."""
    monkeypatch.setattr(logging.getLogger("lakestory"), "propagate", True)


CFG = TracingConfig(otlp_endpoint="http://collector:4318", service_name="etl")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def redactor() -> Iterator[None]:
    before = current()
    set_current(Redactor(["hunter2-secret"]))
    yield
    set_current(before)


def record(i: int, status: str = "success") -> NodeRecord:
    return NodeRecord(
        f"p.n{i}", "p", f"n{i}", status=status, started_at=T0, ended_at=T0 + timedelta(1)
    )


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://c:4318", "http://c:4318/v1/traces"),
        ("http://c:4318/", "http://c:4318/v1/traces"),
        ("https://c/otlp/v1/traces", "https://c/otlp/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_node_spans_from_many_threads_share_the_run_span(exporter: InMemorySpanExporter) -> None:
    observer = TracingObserver(CFG, "shop", "prod", exporter)
    result = RunResult("r1", "shop", "prod", T0, pipelines=["p"])
    observer(RunStarted(result, tuple(f"p.n{i}" for i in range(40))))
    records = [record(i) for i in range(40)]

    def node(r: NodeRecord) -> None:
        observer(NodeStarted(r))
        observer(NodeFinished(r))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(node, records))
    result.nodes, result.ended_at, result.status = records, T0 + timedelta(2), "success"
    observer(RunFinished(result))
    spans = exporter.get_finished_spans()
    [run] = [s for s in spans if s.parent is None]
    assert run.context is not None
    assert len(spans) == 41
    assert {s.parent.span_id for s in spans if s.parent} == {run.context.span_id}
    assert run.resource.attributes["service.name"] == "etl"
    assert run.resource.attributes["deployment.environment.name"] == "prod"
    assert run.status.status_code is StatusCode.OK


def test_retries_are_span_events_and_failures_are_redacted(
    exporter: InMemorySpanExporter, redactor: None
) -> None:
    observer = TracingObserver(CFG, "shop", None, exporter)
    result = RunResult("r1", "shop", None, T0)
    observer(RunStarted(result, ("p.n1",)))
    r = record(1, "running")
    observer(NodeStarted(r))
    error = {"kind": "transient_error", "message": "throttled"}
    observer(NodeRetrying(r, 1, error, 2.0))
    r.status, r.attempts = "failed", 2
    r.error = {"kind": "write_error", "message": "login refused for hunter2-secret"}
    observer(NodeFinished(r))
    result.nodes, result.ended_at, result.status = [r], T0 + timedelta(2), "failed"
    observer(RunFinished(result))
    [node] = [s for s in exporter.get_finished_spans() if s.parent is not None]
    retry, failure = node.events
    assert retry.name == "retry"
    assert dict(retry.attributes or {}) == {
        "lakestory.attempt": 1,
        "lakestory.delay_s": 2.0,
        "lakestory.error.kind": "transient_error",
        "lakestory.error.message": "throttled",
    }
    assert failure.name == "exception"
    assert failure.attributes is not None
    assert failure.attributes["exception.type"] == "write_error"
    assert failure.attributes["exception.message"] == f"login refused for {MASK}"
    assert node.status.status_code is StatusCode.ERROR
    assert node.status.description == f"login refused for {MASK}"
    assert (node.attributes or {})["lakestory.attempts"] == 2


def test_a_node_still_running_when_the_run_ends_is_ended_too(
    exporter: InMemorySpanExporter,
) -> None:
    observer = TracingObserver(CFG, "shop", None, exporter)
    result = RunResult("r1", "shop", None, T0)
    observer(RunStarted(result, ("p.n1",)))
    observer(NodeStarted(record(1, "running")))
    result.ended_at, result.status = T0 + timedelta(3), "aborted"
    observer(RunFinished(result))
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["node p.n1", "run shop"]


def test_without_opentelemetry_a_run_goes_on_without_traces(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.resources", None)  # import fails
    loaded = SimpleNamespace(config=SimpleNamespace(tracing=CFG))
    assert tracing_observer(loaded, SimpleNamespace(project="shop", env=None)) is None
    assert "pip install 'lakestory[tracing]'" in caplog.text
