"""Prometheus metrics of runs and nodes: a node-exporter textfile, a Pushgateway or an HTTP
endpoint (``metrics: {prometheus: {textfile: path} | {pushgateway: url} | {port: 9108}}``).

Every metric starts with ``lakestory_`` and carries ``project`` and ``env``; node metrics
add ``pipeline`` and ``node``. No label holds a run id or a value from the data, so the
number of series is bounded by the project's config. Durations are gauges of the last run
(a textfile or a push is one snapshot per run, where a histogram would hold one
observation); counts are counters. The metrics live in a registry of their own, never
prometheus_client's global one.

- ``textfile``: written at the end of every run, atomically (a temporary file, then a
  rename). The counters of the previous file are read back and added to, so they keep
  counting across runs as counters should, and the series of nodes this run did not run
  keep their last values.
- ``pushgateway``: pushed at the end of every run, one group per pipeline of the run
  (grouping key ``project``, ``env`` when set, ``pipeline``) and one group for the run
  metrics, so a run of one pipeline does not wipe another's. Counters there count the
  pushing run only (Pushgateway semantics). Pushes stop at the first failure and take at
  most ``prometheus.timeout`` (default 5 s) in all; a failure is logged and never fails the run.
- ``port``: one HTTP endpoint per (host, port) for the life of the process, shared by every
  run in it; counters count every run since the process started.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakestory.config.models import PrometheusConfig
from lakestory.observe.background import InBackground
from lakestory.runtime.continuous import Lag
from lakestory.runtime.events import Event, NodeFinished, NodeRetrying, RunFinished
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redactor import current as current_redactor

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

START_S = 2.0  # on top of the timeout, for a short run that ends before the import does
PUSH_TIMEOUT_S = 5.0  # the default `prometheus.timeout`: the most a Pushgateway costs a run

RUN = ("project", "env")
PIPELINE = (*RUN, "pipeline")
NODE = (*PIPELINE, "node")
# name (without the _total of counters): kind, labels, help
SPECS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "lakestory_runs": ("counter", (*RUN, "status"), "Runs by outcome."),
    "lakestory_run_duration_seconds": ("gauge", RUN, "Duration of the last run."),
    "lakestory_run_last_success_timestamp_seconds": (
        "gauge",
        RUN,
        "When the last successful run ended (Unix time).",
    ),
    "lakestory_pipeline_runs": (
        "counter",
        (*PIPELINE, "status"),
        "Runs of each pipeline by its outcome in the run (failed when a node failed).",
    ),
    "lakestory_pipeline_last_success_timestamp_seconds": (
        "gauge",
        PIPELINE,
        "When the last run in which none of the pipeline's nodes failed ended (Unix time).",
    ),
    "lakestory_node_runs": ("counter", (*NODE, "status"), "Node runs by outcome."),
    "lakestory_node_duration_seconds": ("gauge", NODE, "Duration of the node's last run."),
    "lakestory_node_last_success_timestamp_seconds": (
        "gauge",
        NODE,
        "When the node last succeeded (Unix time).",
    ),
    "lakestory_node_rows_read": ("counter", NODE, "Rows the node read."),
    "lakestory_node_rows_written": ("counter", NODE, "Rows the node wrote."),
    "lakestory_node_rows_dropped": ("counter", NODE, "Rows removed by `on_fail: drop`."),
    "lakestory_node_rows_quarantined": (
        "counter",
        NODE,
        "Rows written to the quarantine table.",
    ),
    "lakestory_check_failures": (
        "counter",
        (*NODE, "check", "check_type", "status"),
        "Data-quality tests that did not pass (status warned, dropped, quarantined, failed; "
        "a blocked gate is check and check_type `gate`, status blocked).",
    ),
    "lakestory_node_errors": ("counter", (*NODE, "kind"), "Node failures by error kind."),
    "lakestory_node_retries": ("counter", NODE, "Retried attempts of nodes."),
    # continuous runs (docs/continuous.md): the lag of each watched source, every poll
    "lakestory_source_pending_files": (
        "gauge",
        NODE,
        "Files of the node's `incremental: {mode: files}` source not yet ingested.",
    ),
    "lakestory_source_pending_bytes": ("gauge", NODE, "Bytes of those files."),
    "lakestory_source_oldest_pending_age_seconds": (
        "gauge",
        NODE,
        "Age of the oldest of those files (by modification time); 0 when none is pending.",
    ),
}


class Metrics:
    """The lakestory metrics in one registry; thread-safe (prometheus_client is)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        import prometheus_client as prom

        from lakestory._version import __version__

        self.registry = registry or prom.CollectorRegistry(auto_describe=True)
        kinds = {"counter": prom.Counter, "gauge": prom.Gauge}
        self.m: dict[str, Any] = {
            name: kinds[kind](name, doc, labels, registry=self.registry)
            for name, (kind, labels, doc) in SPECS.items()
        }
        info = prom.Info("lakestory", "The lakestory version.", registry=self.registry)
        info.info({"version": __version__})

    def seed(self, text: str) -> None:
        """Start from a previous textfile: counters add to its values, gauges keep them."""
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(text):
            spec = SPECS.get(family.name)
            if spec is None:
                continue
            kind, labels, _ = spec
            wanted = family.name + ("_total" if kind == "counter" else "")
            for s in family.samples:
                if s.name != wanted or set(s.labels) != set(labels):
                    continue  # _created samples, or a file of another lakestory version
                child = self.m[family.name].labels(**s.labels)
                child.inc(s.value) if kind == "counter" else child.set(s.value)

    def node_finished(self, base: dict[str, str], r: NodeRecord) -> None:
        node = {**base, "pipeline": r.pipeline, "node": r.node}
        self.m["lakestory_node_runs"].labels(**node, status=r.status).inc()
        if r.duration is not None:
            self.m["lakestory_node_duration_seconds"].labels(**node).set(r.duration)
        if r.status == "success" and r.ended_at is not None:
            ts = r.ended_at.timestamp()
            self.m["lakestory_node_last_success_timestamp_seconds"].labels(**node).set(ts)
        for name, value in (
            ("rows_read", r.rows_read),
            ("rows_written", r.rows_written),
            ("rows_dropped", r.rows_dropped),
            ("rows_quarantined", r.rows_quarantined),
        ):
            if value:
                self.m[f"lakestory_node_{name}"].labels(**node).inc(value)
        for c in r.checks:
            if c.get("status") not in (None, "passed"):
                check = {"check": str(c.get("name")), "check_type": str(c.get("type"))}
                self.m["lakestory_check_failures"].labels(
                    **node, **check, status=str(c["status"])
                ).inc()
        if r.gate and r.gate.get("status") == "blocked":
            gate = {"check": "gate", "check_type": "gate", "status": "blocked"}
            self.m["lakestory_check_failures"].labels(**node, **gate).inc()
        if r.status == "failed":
            kind = str((r.error or {}).get("kind") or "error")
            self.m["lakestory_node_errors"].labels(**node, kind=kind).inc()

    def lag(self, base: dict[str, str], lags: list[Lag]) -> None:
        for lag in lags:
            node = {**base, "pipeline": lag.source.pipeline, "node": lag.source.node}
            self.m["lakestory_source_pending_files"].labels(**node).set(lag.files)
            self.m["lakestory_source_pending_bytes"].labels(**node).set(lag.bytes)
            age = self.m["lakestory_source_oldest_pending_age_seconds"]
            age.labels(**node).set(lag.oldest_age_s)

    def run_finished(self, base: dict[str, str], res: RunResult) -> None:
        self.m["lakestory_runs"].labels(**base, status=res.status).inc()
        if res.duration is not None:
            self.m["lakestory_run_duration_seconds"].labels(**base).set(res.duration)
        ended = (res.ended_at.timestamp() if res.ended_at else None) or time.time()
        if res.status == "success":
            self.m["lakestory_run_last_success_timestamp_seconds"].labels(**base).set(ended)
        for pipeline, status in pipeline_statuses(res).items():
            labels = {**base, "pipeline": pipeline}
            self.m["lakestory_pipeline_runs"].labels(**labels, status=status).inc()
            if status == "success":
                self.m["lakestory_pipeline_last_success_timestamp_seconds"].labels(**labels).set(
                    ended
                )


def pipeline_statuses(res: RunResult) -> dict[str, str]:
    """Each pipeline's outcome in a run: failed when one of its nodes failed, aborted when
    one was aborted, else success."""
    seen: dict[str, set[str]] = {}
    for r in res.nodes:
        seen.setdefault(r.pipeline, set()).add(r.status)
    return {
        p: next((s for s in ("failed", "aborted") if s in statuses), "success")
        for p, statuses in seen.items()
    }


class MetricsObserver:
    """Updates :class:`Metrics` as events come; ``export`` runs after the run's end."""

    def __init__(
        self,
        metrics: Metrics,
        project: str,
        env: str | None,
        export: Callable[[RunResult], None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.base = {"project": project, "env": env or ""}
        self.export = export

    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeRetrying):
            r = event.record
            node = {**self.base, "pipeline": r.pipeline, "node": r.node}
            self.metrics.m["lakestory_node_retries"].labels(**node).inc()
        elif isinstance(event, NodeFinished):
            self.metrics.node_finished(self.base, event.record)
        elif isinstance(event, RunFinished):
            self.metrics.run_finished(self.base, event.result)
            if self.export is not None:
                self.export(event.result)


# --- textfile -------------------------------------------------------------------------


def textfile_metrics(path: Path) -> Metrics:
    """A registry that starts from the file's previous values (an unreadable file is
    logged and started afresh: the counters then restart, which Prometheus reads as a
    reset)."""
    metrics = Metrics()
    try:
        if path.exists():
            metrics.seed(path.read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        log.warning("the metrics file %s could not be read, starting afresh: %s", path, exc)
        metrics = Metrics()
    return metrics


def write_textfile(path: Path, metrics: Metrics) -> None:
    from prometheus_client import write_to_textfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        collector: Any = _Only(metrics.registry)
        write_to_textfile(str(path), collector)  # a temporary file, then a rename
    except OSError as exc:
        log.warning("the metrics file %s could not be written: %s", path, exc)


@dataclass
class _Only:
    """A snapshot collector: the registry without its ``_created`` series (a snapshot would
    restart them every run); with ``by_pipeline``, only the samples whose ``pipeline`` label
    is ``pipeline`` (None: those without one)."""

    registry: CollectorRegistry
    by_pipeline: bool = False
    pipeline: str | None = None

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            family.samples = [
                s
                for s in family.samples
                if not s.name.endswith("_created")
                and (not self.by_pipeline or s.labels.get("pipeline") == self.pipeline)
            ]
            if family.samples:
                yield family


# --- pushgateway ----------------------------------------------------------------------


def push(
    url: str,
    job: str,
    metrics: Metrics,
    res: RunResult,
    env: str | None,
    budget: float = PUSH_TIMEOUT_S,
) -> None:
    """One push per pipeline of the run, then one of the run metrics; stops at the first
    failure, all within ``budget`` seconds (``prometheus.timeout``)."""
    from prometheus_client import push_to_gateway

    deadline = time.monotonic() + budget
    key = {"project": res.project, **({"env": env} if env else {})}
    groups: list[str | None] = [*sorted(pipeline_statuses(res)), None]
    for pipeline in groups:
        grouping = {**key, "pipeline": pipeline} if pipeline else key
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError(f"{budget:g}s were spent")
            collector: Any = _Only(metrics.registry, by_pipeline=True, pipeline=pipeline)
            push_to_gateway(url, job, collector, grouping_key=grouping, timeout=left)
        except (OSError, HTTPException, ValueError) as exc:  # never fails the run
            redact = current_redactor().redact_text
            log.warning("the metrics could not be pushed to %s: %s", redact(url), redact(str(exc)))
            return


# --- port -----------------------------------------------------------------------------


@dataclass
class _Server:
    metrics: Metrics
    port: int
    server: Any


_servers: dict[tuple[str, int], _Server] = {}
_servers_lock = threading.Lock()
_last_port: int | None = None


def serve(host: str, port: int) -> Metrics:
    """The metrics of the process's endpoint on host:port, started on first use."""
    global _last_port
    from prometheus_client import start_http_server

    with _servers_lock:
        found = _servers.get((host, port))
        if found is None:
            metrics = Metrics()
            server, _ = start_http_server(port, addr=host, registry=metrics.registry)
            found = _Server(metrics, int(server.server_address[1]), server)
            _servers[(host, port)] = found
            log.info("metrics served on http://%s:%d/metrics", host, found.port)
        _last_port = found.port
        return found.metrics


def metrics_server_port() -> int | None:
    """The port of the metrics endpoint this process started or reused last (the one bound
    for ``port: 0``); None when there is none."""
    return _last_port


# --- the factory ----------------------------------------------------------------------


def metrics_observer(loaded: Any, plan: Any) -> InBackground | None:
    """The run's metrics observer (on a thread of its own, so that importing
    prometheus-client and reading the last textfile overlap the run), or None when
    ``metrics`` is not configured."""
    cfg = loaded.config.metrics
    if cfg is None:
        return None
    try:
        missing = importlib.util.find_spec("prometheus_client") is None
    except (ImportError, ValueError):
        missing = True
    if missing:
        log.warning(
            "`metrics` is configured but prometheus-client is not installed: "
            "pip install 'lakestory[metrics]'. This run reports no metrics."
        )
        return None
    prom: PrometheusConfig = cfg.prometheus
    budget = prom.timeout.total_seconds() + START_S
    return InBackground(lambda: _observer(loaded, plan, prom), budget, "lakestory-metrics")


def _observer(loaded: Any, plan: Any, prom: PrometheusConfig) -> MetricsObserver | None:
    project, env = plan.project, plan.env
    if prom.textfile is not None:
        path = Path(prom.textfile)
        path = path if path.is_absolute() else Path(loaded.root_dir) / path
        metrics = textfile_metrics(path)
        return MetricsObserver(metrics, project, env, lambda _: write_textfile(path, metrics))
    if prom.pushgateway is not None:
        url, metrics = prom.pushgateway, Metrics()
        return MetricsObserver(
            metrics,
            project,
            env,
            lambda res: push(url, prom.job, metrics, res, env, prom.timeout.total_seconds()),
        )
    assert prom.port is not None  # PrometheusConfig takes exactly one
    try:
        metrics = serve(prom.host, prom.port)
    except OSError as exc:  # the port is taken: the run goes on without its endpoint
        log.warning("metrics endpoint %s:%s could not start: %s", prom.host, prom.port, exc)
        return None
    return MetricsObserver(metrics, project, env)


def lag_reporter(loaded: Any, plan: Any) -> Callable[[list[Lag]], None]:
    """What a continuous run calls at every poll with the lag of its sources: the gauges
    of the endpoint (``port``) or the textfile; nothing for a Pushgateway (a push per poll
    would be a push per second) or without ``metrics``."""
    cfg = loaded.config.metrics
    prom: PrometheusConfig | None = cfg.prometheus if cfg is not None else None
    if prom is None or prom.pushgateway is not None:
        return _no_lag
    try:
        if importlib.util.find_spec("prometheus_client") is None:
            return _no_lag  # metrics_observer says so once per run
    except (ImportError, ValueError):
        return _no_lag
    base = {"project": plan.project, "env": plan.env or ""}
    if prom.textfile is not None:
        path = Path(prom.textfile)
        path = path if path.is_absolute() else Path(loaded.root_dir) / path

        def to_file(lags: list[Lag]) -> None:
            metrics = textfile_metrics(path)
            metrics.lag(base, lags)
            write_textfile(path, metrics)

        return to_file
    assert prom.port is not None
    try:
        served = serve(prom.host, prom.port)
    except OSError as exc:  # the port is taken: the run goes on without its endpoint
        log.warning("metrics endpoint %s:%s could not start: %s", prom.host, prom.port, exc)
        return _no_lag
    return lambda lags: served.lag(base, lags)


def _no_lag(lags: list[Lag]) -> None:
    return None
