"""Typed, strict configuration models (pydantic v2, ``extra="forbid"``).

One module per concern; :class:`ProjectConfig` is the root. The same models build projects
from Python: ``Node(name="x", read=Read(...), transform=[Step(sql="...")])``.
"""

from lakestory.config.models.connections import (
    AzureConnection,
    Connection,
    LocalConnection,
    PostgresConnection,
    S3Connection,
    SqlConnection,
)
from lakestory.config.models.nodes import (
    ContinuousConfig,
    NodeConfig,
    PatternConfig,
    PipelineConfig,
    ReadConfig,
    StepConfig,
    TransformConfig,
    WriteConfig,
)
from lakestory.config.models.operations import (
    AlertConfig,
    LineageConfig,
    LoggingConfig,
    MetricsConfig,
    PrometheusConfig,
    RetryConfig,
    StoryConfig,
    SystemConfig,
    TracingConfig,
)
from lakestory.config.models.project import ProjectConfig
from lakestory.config.models.quality import (
    GateConfig,
    QuarantineConfig,
    TestConfig,
    ValidationConfig,
)
from lakestory.config.models.tables import (
    IncrementalConfig,
    MaintenanceConfig,
    SchemaPolicy,
    VacuumConfig,
)

__all__ = [
    "AlertConfig",
    "AzureConnection",
    "Connection",
    "ContinuousConfig",
    "GateConfig",
    "IncrementalConfig",
    "LineageConfig",
    "LocalConnection",
    "LoggingConfig",
    "MaintenanceConfig",
    "MetricsConfig",
    "NodeConfig",
    "PatternConfig",
    "PipelineConfig",
    "PostgresConnection",
    "ProjectConfig",
    "PrometheusConfig",
    "QuarantineConfig",
    "ReadConfig",
    "RetryConfig",
    "S3Connection",
    "SchemaPolicy",
    "SqlConnection",
    "StepConfig",
    "StoryConfig",
    "SystemConfig",
    "TestConfig",
    "TracingConfig",
    "TransformConfig",
    "VacuumConfig",
    "ValidationConfig",
    "WriteConfig",
]
