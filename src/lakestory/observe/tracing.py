"""OpenTelemetry traces of runs: ``tracing: {otlp_endpoint: http://collector:4318}``.

One span per run (the root) and one per node (its child), sent over OTLP/HTTP by a batch
processor of a tracer provider of the run's own (never the global one, so an application
that embeds lakestory keeps its tracing). Node events come from worker threads at the same
time, so node spans are started and ended explicitly with the run span as their parent,
never through the "current span" context. At the run's end the spans are flushed, waiting at
most ``tracing.timeout`` (default 5 s): a collector that is down or hangs never fails a run.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lakestory.config.models import TracingConfig
from lakestory.observe.background import InBackground
from lakestory.runtime.events import (
    Event,
    NodeFinished,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
)
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redactor import current as current_redactor

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

log = logging.getLogger(__name__)

START_S = 2.0  # on top of the timeout, for a short run that ends before the import does
FLUSH_TIMEOUT_S = 5.0  # the default `tracing.timeout`: the most a run waits for its spans


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: ``/v1/traces`` is added to an endpoint without a path."""
    if urlsplit(endpoint).path.strip("/"):
        return endpoint
    return endpoint.rstrip("/") + "/v1/traces"


def _ns(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1e9) if at is not None else None


class TracingObserver:
    """Spans of one run. ``exporter`` defaults to OTLP/HTTP to ``cfg.otlp_endpoint``; tests
    pass an ``InMemorySpanExporter``."""

    def __init__(
        self,
        cfg: TracingConfig,
        project: str,
        env: str | None = None,
        exporter: SpanExporter | None = None,
        flush_timeout_s: float = FLUSH_TIMEOUT_S,
    ) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from lakestory._version import __version__

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            url = traces_url(cfg.otlp_endpoint)
            exporter = OTLPSpanExporter(url, headers=cfg.headers, timeout=flush_timeout_s)
        attributes = {"service.name": cfg.service_name, "lakestory.project": project}
        if env:
            attributes["deployment.environment.name"] = env
        self.provider: TracerProvider = TracerProvider(
            resource=Resource.create(attributes), shutdown_on_exit=False
        )
        millis = int(flush_timeout_s * 1000)
        self.provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=millis))
        self.tracer = self.provider.get_tracer("lakestory", __version__)
        self.flush_timeout_s = flush_timeout_s
        self._trace = trace
        self._lock = threading.Lock()
        self._run: Span | None = None
        self._nodes: dict[str, Span] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._run_started(event.result)
        elif isinstance(event, NodeStarted):
            self._node_started(event.record)
        elif isinstance(event, NodeRetrying):
            self._node_retrying(event)
        elif isinstance(event, NodeFinished):
            self._node_finished(event.record)
        elif isinstance(event, RunFinished):
            self._run_finished(event.result)

    def _run_started(self, res: RunResult) -> None:
        attributes = {
            "lakestory.project": res.project,
            "lakestory.run_id": res.run_id,
            "lakestory.pipelines": list(res.pipelines),
        }
        if res.env:
            attributes["lakestory.env"] = res.env
        self._run = self.tracer.start_span(
            f"run {res.project}", attributes=attributes, start_time=_ns(res.started_at)
        )

    def _node_started(self, r: NodeRecord) -> None:
        context = self._trace.set_span_in_context(self._run) if self._run else None
        span = self.tracer.start_span(
            f"node {r.key}",
            context=context,
            attributes={"lakestory.node": r.key, "lakestory.pipeline": r.pipeline},
            start_time=_ns(r.started_at),
        )
        with self._lock:
            self._nodes[r.key] = span

    def _node_retrying(self, event: NodeRetrying) -> None:
        with self._lock:
            span = self._nodes.get(event.record.key)
        if span is not None:
            attributes: dict[str, Any] = {
                "lakestory.attempt": event.attempt,
                "lakestory.delay_s": event.delay_s,
                "lakestory.error.kind": str(event.error.get("kind") or "error"),
                "lakestory.error.message": _message(event.error),
            }
            span.add_event("retry", attributes=attributes)

    def _node_finished(self, r: NodeRecord) -> None:
        from opentelemetry.trace import Status, StatusCode

        with self._lock:
            span = self._nodes.pop(r.key, None)
        if span is None:  # skipped (or aborted) before it started: a span of no length
            self._node_started(r)
            with self._lock:
                span = self._nodes.pop(r.key)
        span.set_attributes(node_attributes(r))
        if r.status in ("failed", "aborted"):
            message = _message(r.error or {})
            kind = str((r.error or {}).get("kind") or "error")
            span.add_event(
                "exception", {"exception.type": kind, "exception.message": message}, _ns(r.ended_at)
            )
            span.set_status(Status(StatusCode.ERROR, message))
        elif r.status == "success":
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=_ns(r.ended_at or r.started_at))

    def _run_finished(self, res: RunResult) -> None:
        from opentelemetry.trace import Status, StatusCode

        with self._lock:
            left = list(self._nodes.values())
            self._nodes.clear()
        for span in left:  # nodes that never finished (an interrupted run)
            span.end(end_time=_ns(res.ended_at))
        if self._run is not None:
            self._run.set_attributes(
                {
                    "lakestory.status": res.status,
                    "lakestory.nodes": len(res.nodes),
                    "lakestory.nodes_failed": len(res.failed),
                }
            )
            ok = res.status == "success"
            self._run.set_status(Status(StatusCode.OK) if ok else Status(StatusCode.ERROR))
            self._run.end(end_time=_ns(res.ended_at))
            self._run = None
        self.close()

    def close(self) -> None:
        """Send the spans (waiting at most ``flush_timeout_s``) and stop the provider; the
        shutdown runs in a background thread so that a hung collector holds nothing."""
        if not self.provider.force_flush(int(self.flush_timeout_s * 1000)):
            log.warning("the traces of this run could not all be sent in %gs", self.flush_timeout_s)
        threading.Thread(
            target=self.provider.shutdown, name="tracing-shutdown", daemon=True
        ).start()


def node_attributes(r: NodeRecord) -> dict[str, Any]:
    """The span attributes of a finished node (OpenTelemetry takes no None values)."""
    values = {
        "lakestory.node": r.key,
        "lakestory.pipeline": r.pipeline,
        "lakestory.status": r.status,
        "lakestory.rows_read": r.rows_read,
        "lakestory.rows_written": r.rows_written,
        "lakestory.write_mode": r.write_mode,
        "lakestory.target": r.target,
        "lakestory.table_version": r.table_version,
        "lakestory.attempts": r.attempts,
        "lakestory.skipped_because": r.skipped_because,
    }
    return {k: v for k, v in values.items() if v is not None}


def _message(error: dict[str, Any]) -> str:
    return current_redactor().redact_text(str(error.get("message") or "error"))


def tracing_observer(
    loaded: Any, plan: Any, exporter: SpanExporter | None = None
) -> InBackground | None:
    """The run's tracing observer (on a thread of its own), or None when ``tracing`` is not
    configured."""
    cfg: TracingConfig | None = loaded.config.tracing
    if cfg is None:
        return None
    if not _installed("opentelemetry.sdk.resources", "opentelemetry.sdk.trace.export"):
        log.warning(
            "`tracing` is configured but OpenTelemetry is not installed: "
            "pip install 'lakestory[tracing]'. This run sends no traces."
        )
        return None
    timeout = cfg.timeout.total_seconds()
    plain = {"content-type", "accept", "user-agent"}  # the rest may hold tokens
    current_redactor().add(v for k, v in cfg.headers.items() if k.lower() not in plain)

    def make() -> TracingObserver:
        return TracingObserver(cfg, plan.project, plan.env, exporter, flush_timeout_s=timeout)

    # made on a thread of its own: importing OpenTelemetry (~0.5 s) overlaps the run
    return InBackground(make, timeout + START_S, "lakestory-tracing")


def _installed(*modules: str) -> bool:
    """Can these be imported? (without importing them: that is the slow part)"""
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False
