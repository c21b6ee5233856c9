"""Pipelines and their nodes: read → transform steps → validation → write."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from lakestory.config.models.base import NAME_PATTERN, Strict
from lakestory.config.models.operations import LogLevel, RetryConfig
from lakestory.config.models.quality import TestConfig, ValidationConfig, check_contracts
from lakestory.config.models.tables import (
    Duration,
    IncrementalConfig,
    MaintenanceConfig,
    SchemaPolicy,
    parse_duration,
)

Format = Literal["csv", "parquet", "json", "delta"]
WriteMode = Literal["overwrite", "append", "upsert", "append_once", "merge", "scd2"]

_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


def format_from_path(path: str | None) -> Format | None:
    if not path:
        return None
    lowered = path.lower().rstrip("/")
    for ext, fmt in _EXTENSIONS.items():
        if lowered.endswith(ext):
            return fmt
    return None


class ReadConfig(Strict):
    connection: str
    format: Format | None = None
    path: str | None = None
    table: str | None = None
    query: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    column_types: dict[str, str] | None = Field(default=None, alias="schema")
    version: int | None = Field(default=None, ge=0)
    timestamp: str | None = None
    incremental: IncrementalConfig | None = None

    @model_validator(mode="after")
    def _source(self) -> ReadConfig:
        given = [k for k in ("path", "table", "query") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("`read` needs exactly one of `path`, `table` or `query`")
        if self.version is not None and self.timestamp is not None:
            raise ValueError("time travel takes `version` or `timestamp`, not both")
        if self.incremental and (self.version is not None or self.timestamp is not None):
            raise ValueError("an incremental read cannot also time-travel (`version`/`timestamp`)")
        if self.path and self.format is None:
            # Check before assigning: with validate_assignment, assigning None would run
            # this validator again, forever.
            inferred = format_from_path(self.path)
            if inferred is None:
                raise ValueError(
                    f"cannot tell the format of '{self.path}': add `format:` "
                    "(csv, parquet, json or delta)"
                )
            self.format = inferred
        return self


class StepConfig(Strict):
    """One transform step: exactly one of ``sql``, ``sql_file``, ``function`` or
    ``transformer``."""

    sql: str | None = None
    sql_file: str | None = None
    function: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    transformer: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StepConfig:
        kinds = [k for k in ("sql", "sql_file", "function", "transformer") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(
                "a step needs exactly one of `sql`, `sql_file`, `function` or `transformer` "
                f"(found {', '.join(kinds) or 'none'})"
            )
        if self.params and not (self.function or self.transformer):
            raise ValueError("`params` goes with `function` and `transformer` steps")
        return self

    @property
    def kind(self) -> str:
        if self.function:
            return "function"
        return "sql" if (self.sql or self.sql_file) else "transformer"


class TransformConfig(Strict):
    steps: list[StepConfig] = Field(min_length=1)


class PatternConfig(Strict):
    """A modeling pattern applied after the transform steps: ``type`` names it (see
    ``lakestory list patterns``) and ``params`` are checked by the pattern itself."""

    type: str
    params: dict[str, Any] = Field(default_factory=dict)


def _spark_spelling(schema: dict[str, Any]) -> None:
    """JSON Schema: ``partitionBy`` (Spark's spelling) is accepted as well; the schema
    policy is spelled ``schema``."""
    props = schema["properties"]
    props["partitionBy"] = props["partition_by"]
    if "schema_policy" in props:
        props["schema"] = props.pop("schema_policy")


class WriteConfig(Strict):
    model_config = ConfigDict(json_schema_extra=_spark_spelling)

    connection: str
    format: Format | None = None
    path: str | None = None
    table: str | None = None
    mode: WriteMode = "overwrite"
    keys: list[str] = Field(default_factory=list)
    partition_by: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("partition_by", "partitionBy")
    )
    options: dict[str, Any] = Field(default_factory=dict)
    # keyed modes: duplicate keys in the data are an error unless `dedupe: latest` keeps the
    # row that sorts last by `order_by`
    dedupe: Literal["none", "latest"] = "none"
    order_by: list[str] = Field(default_factory=list)
    # merge: SQL conditions on `source.` (the data) and `target.` (the table) columns
    update_condition: str | None = None
    insert_condition: str | None = None
    delete_condition: str | None = None
    # scd2
    track_columns: list[str] | None = None
    effective_from: str | None = None  # a column of the data; default: the run's start
    valid_from: str = "valid_from"
    valid_to: str = "valid_to"
    is_current: str = "is_current"
    deletes: Literal["ignore", "soft"] = "ignore"
    # every mode that keeps the table's rows
    schema_policy: SchemaPolicy = Field(
        default_factory=SchemaPolicy, validation_alias=AliasChoices("schema", "schema_policy")
    )
    strategy: Literal["auto", "merge", "rewrite"] = "auto"
    maintenance: MaintenanceConfig | None = None
    properties: dict[str, str] = Field(default_factory=dict)

    @field_validator("keys", "order_by", "track_columns", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _target(self) -> WriteConfig:
        if bool(self.path) == bool(self.table):
            raise ValueError("`write` needs exactly one of `path` or `table`")
        if self.path and self.format is None:
            self.format = format_from_path(self.path) or "delta"
        if self.mode in KEYED_MODES and not self.keys:
            raise ValueError(
                f"write mode '{self.mode}' needs `keys` (the columns that identify a row)"
            )
        if self.mode in KEYED_MODES and self.path and self.format != "delta":
            raise ValueError(
                f"write mode '{self.mode}' needs a Delta table (format: delta), not {self.format}"
            )
        for key, modes in _MODE_KEYS.items():
            if key in self.model_fields_set and self.mode not in modes:
                raise ValueError(f"`{key}` goes with mode: {' or '.join(modes)}")
        for key in ("maintenance", "properties"):
            if key in self.model_fields_set and self.format != "delta":
                raise ValueError(f"`{key}` applies to Delta tables, not {self.format}")
        if self.dedupe == "latest" and not self.order_by:
            raise ValueError(
                "`dedupe: latest` needs `order_by` (the column that says which row is newest)"
            )
        if self.order_by and self.dedupe == "none":
            raise ValueError("`order_by` goes with `dedupe: latest`")
        return self


KEYED_MODES = ("upsert", "append_once", "merge", "scd2")
_MODE_KEYS: dict[str, tuple[str, ...]] = {
    "dedupe": KEYED_MODES,
    "update_condition": ("merge",),
    "insert_condition": ("merge",),
    "delete_condition": ("merge",),
    "track_columns": ("scd2",),
    "effective_from": ("scd2",),
    "valid_from": ("scd2",),
    "valid_to": ("scd2",),
    "is_current": ("scd2",),
    "deletes": ("scd2",),
    "strategy": ("upsert", "append_once"),
}


def _or_one_string(schema: dict[str, Any]) -> None:
    """JSON Schema: a list of names may also be written as one name."""
    schema["anyOf"] = [{"type": "string"}, {"type": "array", "items": schema.pop("items")}]
    schema.pop("type", None)


class NodeConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    tags: list[str] = Field(default_factory=list, json_schema_extra=_or_one_string)
    depends_on: list[str] = Field(default_factory=list, json_schema_extra=_or_one_string)
    inputs: dict[str, str] = Field(default_factory=dict)
    read: ReadConfig | None = None
    # a list is the steps themselves (made a TransformConfig before validation; the list type
    # is here so that the JSON Schema accepts the short form too)
    transform: TransformConfig | list[StepConfig] | None = None
    pattern: PatternConfig | None = None  # after the steps, before validation
    contracts: list[TestConfig] = Field(default_factory=list)  # on the input, before transforms
    validation: ValidationConfig | None = None
    write: WriteConfig | None = None
    sensitive: bool | list[str] = False
    # operations: fields given here override the project's `retry`; `timeout` bounds the
    # whole node (attempts and the delays between them); `log_level` for this node's lines
    retry: RetryConfig | None = None
    timeout: Duration | None = None
    log_level: LogLevel | None = None

    _key_path: tuple[str | int, ...] = PrivateAttr(default=())

    @field_validator("transform", mode="before")
    @classmethod
    def _steps_list(cls, value: Any) -> Any:
        return {"steps": value} if isinstance(value, list) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("depends_on", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("contracts")
    @classmethod
    def _contracts(cls, value: list[Any]) -> list[Any]:
        check_contracts(value)
        return value

    @property
    def steps(self) -> list[StepConfig]:
        if isinstance(self.transform, TransformConfig):
            return self.transform.steps
        return list(self.transform or [])


def parse_trigger(value: str) -> timedelta | None:
    """A continuous run's trigger: ``available-now`` (None: process what is pending, then
    stop) or ``interval=30s`` (poll every 30 seconds)."""
    text = value.strip().lower()
    if text in ("available-now", "available_now", "availablenow"):
        return None
    name, sep, every = text.partition("=")
    if sep and name.strip() == "interval":
        interval = parse_duration(every.strip())
        if interval.total_seconds() > 0:
            return interval
    raise ValueError(
        f"'{value}' is not a trigger: write available-now, or interval=<duration> "
        "(e.g. interval=30s, interval=5m)"
    )


class ContinuousConfig(Strict):
    """``continuous:`` on a pipeline: ``lakestory run`` watches its file-incremental sources
    and runs a micro-batch when files arrive (docs/continuous.md)."""

    trigger: str = "interval=30s"

    @field_validator("trigger")
    @classmethod
    def _trigger(cls, value: str) -> str:
        parse_trigger(value)
        return value


class PipelineConfig(Strict):
    pipeline: str = Field(pattern=NAME_PATTERN)
    layer: str | None = None
    description: str | None = None
    # true, or {trigger: ...}: `lakestory run` runs the pipeline continuously
    continuous: bool | ContinuousConfig = False
    nodes: list[NodeConfig] = Field(min_length=1)

    _key_path: tuple[str | int, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _unique_names(self) -> PipelineConfig:
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(
                    f"node name '{node.name}' is used twice in pipeline '{self.pipeline}'"
                )
            seen.add(node.name)
        return self
