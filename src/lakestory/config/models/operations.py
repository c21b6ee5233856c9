"""Project-level operational settings: story, system catalog, retry, alerts, logging,
lineage, metrics and tracing."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lakestory.config.models.base import Strict
from lakestory.config.models.tables import Duration


class StoryConfig(Strict):
    enabled: bool = True  # every run writes its story unless this is false
    connection: str | None = None
    path: str = "stories/"
    retention_days: int | None = Field(default=None, ge=1)
    retention_count: int | None = Field(default=None, ge=1)
    max_sample_rows: int = Field(default=10, ge=0)


class SystemConfig(Strict):
    """The system catalog: Delta tables of runs, node runs, state and schema history.

    Without a connection it lives in ``.lakestory/system`` beside the project file; with one,
    at ``path`` (default ``_lakestory_system``) under that connection.
    """

    enabled: bool = True
    connection: str | None = None
    path: str | None = None


class RetryConfig(Strict):
    """Retries of transient failures (I/O and network errors, throttling, commit conflicts).

    ``max_attempts`` counts every attempt, the first included. Delays are durations (``2s``,
    ``1m``) or numbers of seconds; ``jitter`` spreads each delay over 50–100 % of itself.
    """

    enabled: bool = True
    max_attempts: int = Field(default=3, ge=1)
    backoff: Literal["exponential", "linear", "constant"] = "exponential"
    initial_delay: Duration = timedelta(seconds=1)
    max_delay: Duration = timedelta(seconds=60)
    jitter: bool = True


AlertEvent = Literal["on_start", "on_success", "on_failure", "on_quarantine", "on_gate_block"]


class AlertConfig(Strict):
    """One alert destination. ``throttle`` sends at most one alert per event, pipeline and
    destination in that window (across runs); the rest are counted and logged."""

    type: Literal["slack", "teams", "webhook"]
    url: str
    on_events: list[AlertEvent] = Field(default_factory=lambda: list[AlertEvent](["on_failure"]))
    throttle: Duration | None = None
    timeout: Duration = timedelta(seconds=5)  # per request; one retry after a failed send
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. an Authorization header


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingConfig(Strict):
    # None: INFO for JSON lines (a line per run and node event), WARNING for text (the
    # terminal's progress display already shows every node)
    level: LogLevel | None = None
    structured: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class LineageConfig(Strict):
    """OpenLineage run events for each node, sent to ``url`` (Marquez, DataHub, ...)."""

    url: str
    namespace: str = "lakestory"
    api_key: str | None = None
    endpoint: str = "api/v1/lineage"
    timeout: Duration = timedelta(seconds=5)  # the most an unreachable endpoint costs a run


class PrometheusConfig(Strict):
    """Exactly one of: a node-exporter textfile, a Pushgateway, or an HTTP endpoint."""

    textfile: str | None = None
    pushgateway: str | None = None
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = "127.0.0.1"  # where the `port` endpoint listens
    job: str = "lakestory"  # the Pushgateway job name
    timeout: Duration = timedelta(seconds=5)  # the most the Pushgateway costs a run, in all

    @model_validator(mode="after")
    def _one_target(self) -> PrometheusConfig:
        given = [k for k in ("textfile", "pushgateway", "port") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("`prometheus` takes exactly one of `textfile`, `pushgateway`, `port`")
        return self


class MetricsConfig(Strict):
    prometheus: PrometheusConfig


class TracingConfig(Strict):
    """OpenTelemetry spans (one per run, one per node) sent over OTLP/HTTP."""

    otlp_endpoint: str
    service_name: str = "lakestory"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = timedelta(seconds=5)  # the most a collector costs a run, in all
