"""The root of a project file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lakestory.config.models.base import Strict
from lakestory.config.models.connections import Connection
from lakestory.config.models.nodes import PipelineConfig
from lakestory.config.models.operations import (
    AlertConfig,
    LineageConfig,
    LoggingConfig,
    MetricsConfig,
    RetryConfig,
    StoryConfig,
    SystemConfig,
    TracingConfig,
)

EngineName = Literal["duckdb", "polars", "pandas", "spark"]


class ProjectConfig(Strict):
    project: str
    description: str | None = None
    engine: EngineName = "duckdb"
    # Settings of the SparkSession the spark engine starts (values may hold secrets)
    spark_config: dict[str, str | int | float | bool] = Field(default_factory=dict)
    connections: dict[str, Connection] = Field(default_factory=dict)
    pipelines: list[PipelineConfig] = Field(min_length=1)
    vars: dict[str, Any] = Field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)
    on_error: Literal["fail_fast", "fail_later"] = "fail_fast"
    max_workers: int | None = Field(default=None, ge=1)
    story: StoryConfig | None = None
    system: SystemConfig | None = None
    retry: RetryConfig | None = None
    alerts: list[AlertConfig] = Field(default_factory=list)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    lineage: LineageConfig | None = None
    metrics: MetricsConfig | None = None
    tracing: TracingConfig | None = None

    @model_validator(mode="after")
    def _unique_pipelines(self) -> ProjectConfig:
        seen: set[str] = set()
        for p in self.pipelines:
            if p.pipeline in seen:
                raise ValueError(f"pipeline name '{p.pipeline}' is used twice")
            seen.add(p.pipeline)
        return self
