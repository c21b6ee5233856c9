"""The metrics observer on events made by hand: retries, gates, error kinds, textfile
seeding, the outcome of each pipeline."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lakestory.config.models import MetricsConfig, PrometheusConfig
from lakestory.observe.metrics import (
    Metrics,
    MetricsObserver,
    metrics_observer,
    pipeline_statuses,
    textfile_metrics,
    write_textfile,
)
from lakestory.runtime.events import NodeFinished, NodeRetrying, RunFinished
from lakestory.runtime.records import NodeRecord, RunResult

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let caplog see lakestory's records (a run's log setup stops their propagation)."""
    monkeypatch.setattr(logging.getLogger("lakestory"), "propagate", True)


Found = dict[tuple[str, frozenset[tuple[str, str]]], float]


def found(text: str) -> Found:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def labels(node: str = "n", **more: str) -> frozenset[tuple[str, str]]:
    base = {"project": "shop", "env": "dev", "pipeline": "p", "node": node}
    return frozenset({**base, **more}.items())


def rec(node: str = "n", status: str = "success", **fields: object) -> NodeRecord:
    r = NodeRecord(f"p.{node}", "p", node, status, T0, T0 + timedelta(seconds=2.5))
    for k, v in fields.items():
        setattr(r, k, v)
    return r


def run(metrics: Metrics, *records: NodeRecord, retries: int = 0) -> Found:
    observer = MetricsObserver(metrics, "shop", "dev")
    for r in records:
        for attempt in range(1, retries + 1):
            observer(NodeRetrying(r, attempt, {"kind": "transient_error"}, 0.1))
        observer(NodeFinished(r))
    status = "failed" if any(r.status == "failed" for r in records) else "success"
    result = RunResult("r", "shop", "dev", T0, T0 + timedelta(seconds=3), status, list(records))
    observer(RunFinished(result))
    return found(generate_latest(metrics.registry).decode())


def test_retries_gates_and_error_kinds() -> None:
    gate = {"status": "blocked", "action": "abort", "pass_rate": 0.5, "required": 0.9}
    error = {"kind": "quality_error", "message": "gate"}
    got = run(Metrics(), rec(status="failed", gate=gate, error=error, attempts=3), retries=2)
    assert got[("lakestory_node_retries_total", labels())] == 2
    gate_labels = labels(check="gate", check_type="gate", status="blocked")
    assert got[("lakestory_check_failures_total", gate_labels)] == 1
    assert got[("lakestory_node_errors_total", labels(kind="quality_error"))] == 1
    assert got[("lakestory_node_duration_seconds", labels())] == 2.5
    assert ("lakestory_node_last_success_timestamp_seconds", labels()) not in got
    run_labels = frozenset({"project": "shop", "env": "dev"}.items())
    assert got[("lakestory_run_duration_seconds", run_labels)] == 3


def test_passed_checks_are_not_failures() -> None:
    checks = [
        {"name": "nn", "type": "not_null", "status": "passed"},
        {"name": "rng", "type": "range", "status": "quarantined"},
    ]
    got = run(Metrics(), rec(checks=checks, rows_quarantined=4, rows_written=6))
    failures = {k for k in got if k[0] == "lakestory_check_failures_total"}
    assert failures == {
        (
            "lakestory_check_failures_total",
            labels(check="rng", check_type="range", status="quarantined"),
        )
    }
    assert got[("lakestory_node_rows_quarantined_total", labels())] == 4
    assert got[("lakestory_node_rows_written_total", labels())] == 6


def test_textfile_carries_counters_and_gauges_to_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    first = textfile_metrics(path)
    run(first, rec("a", rows_written=5), rec("b", rows_written=1))
    write_textfile(path, first)
    assert "_created" not in path.read_text()
    second = textfile_metrics(path)
    got = run(second, rec("a", rows_written=2))
    assert got[("lakestory_node_rows_written_total", labels("a"))] == 7
    assert got[("lakestory_node_rows_written_total", labels("b"))] == 1
    assert ("lakestory_node_last_success_timestamp_seconds", labels("b")) in got


def test_a_textfile_that_is_not_metrics_starts_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.prom"
    path.write_text("this is { not metrics\n")
    got = run(textfile_metrics(path), rec(rows_written=2))
    assert got[("lakestory_node_rows_written_total", labels())] == 2
    assert "could not be read" in caplog.text


def test_a_textfile_of_other_labels_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    path.write_text('lakestory_node_rows_written_total{node="n"} 40\nother_total 3\n')
    got = run(textfile_metrics(path), rec(rows_written=2))
    assert got[("lakestory_node_rows_written_total", labels())] == 2
    assert not any(name.startswith("other") for name, _ in got)


def test_pipeline_statuses() -> None:
    result = RunResult("r", "shop", None, T0, status="failed")
    result.nodes = [
        NodeRecord("a.x", "a", "x", "success"),
        NodeRecord("a.y", "a", "y", "failed"),
        NodeRecord("b.x", "b", "x", "success"),
        NodeRecord("b.y", "b", "y", "skipped"),
        NodeRecord("c.x", "c", "x", "aborted"),
    ]
    assert pipeline_statuses(result) == {"a": "failed", "b": "success", "c": "aborted"}


def test_without_prometheus_client_a_run_goes_on_without_metrics(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    prom = PrometheusConfig(textfile="m.prom")
    loaded = SimpleNamespace(config=SimpleNamespace(metrics=MetricsConfig(prometheus=prom)))
    assert metrics_observer(loaded, SimpleNamespace(project="shop", env=None)) is None
    assert "pip install 'lakestory[metrics]'" in caplog.text
