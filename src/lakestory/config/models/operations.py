"""Project-level operational settings: story, system catalog, retry, alerts, logging, lineage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lakestory.config.models.base import Strict


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
    enabled: bool = True
    max_attempts: int = Field(default=3, ge=1)
    backoff: Literal["exponential", "linear", "constant"] = "exponential"
    initial_delay: float = Field(default=1.0, ge=0)
    max_delay: float = Field(default=60.0, ge=0)
    jitter: bool = True


AlertEvent = Literal["on_start", "on_success", "on_failure", "on_quarantine", "on_gate_block"]


class AlertConfig(Strict):
    type: Literal["slack", "teams", "webhook"]
    url: str
    on_events: list[AlertEvent] = Field(default_factory=lambda: list[AlertEvent](["on_failure"]))
    throttle: str | None = None


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    structured: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class LineageConfig(Strict):
    url: str
    namespace: str = "lakestory"
    api_key: str | None = None
