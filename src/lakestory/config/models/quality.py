"""Data-quality tests: ``validation`` on a node's output and ``contracts`` on its input.

Every test has a ``type`` and an ``on_fail``. *Row-level* tests judge each row (a failing
row can be kept with a warning, dropped or quarantined); *table-level* tests judge the
whole dataset (they can only fail the node or warn). Used by
:mod:`lakestory.config.models.nodes`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from lakestory.config.models.base import Strict
from lakestory.config.models.tables import Duration

OnFail = Literal["fail", "warn", "drop", "quarantine"]
Metric = Literal["mean", "median", "min", "max", "sum", "stddev", "null_fraction", "distinct_count"]


def _columns_from_column(data: Any) -> Any:
    """``column: x`` is accepted where ``columns: [x]`` is meant."""
    if isinstance(data, dict) and "column" in data and "columns" not in data:
        data = {**data, "columns": data["column"]}
        del data["column"]
    return data


class _Test(Strict):
    """What every test has. ``name`` defaults to the type and its columns."""

    row_level: ClassVar[bool] = True

    type: str
    name: str | None = None
    description: str | None = None
    on_fail: OnFail = "fail"

    @property
    def label(self) -> str:
        return self.name or self.default_name()

    def default_name(self) -> str:
        return self.type

    @model_validator(mode="after")
    def _on_fail_fits(self) -> _Test:
        if not self.row_level and self.on_fail in ("drop", "quarantine"):
            kind = self.type
            raise ValueError(
                f"`on_fail: {self.on_fail}` needs a row-level test; {kind} judges the whole "
                "dataset, so it can only `fail` or `warn`"
            )
        return self


class _RowTest(_Test):
    # the largest share of failing rows tolerated; beyond it the node fails, whatever
    # `on_fail` says. Within it, `on_fail: fail` keeps the rows and warns.
    threshold: float | None = Field(default=None, ge=0, le=1)


class _OneColumn(_RowTest):
    column: str = Field(min_length=1)

    def default_name(self) -> str:
        return f"{self.type}({self.column})"


class _Columns(_RowTest):
    columns: list[str] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_column(cls, data: Any) -> Any:
        return _columns_from_column(data)

    @field_validator("columns", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def default_name(self) -> str:
        return f"{self.type}({', '.join(self.columns)})"


class NotNullTest(_Columns):
    type: Literal["not_null"]


class UniqueTest(_Columns):
    """The combination of ``columns`` identifies a row; every row of a repeated combination
    fails. A row with a null in one of the columns is not compared (not_null's job)."""

    type: Literal["unique"]


class AcceptedValuesTest(_OneColumn):
    type: Literal["accepted_values"]
    values: list[Any] = Field(min_length=1)


class RangeTest(_OneColumn):
    """``min <= column <= max``; either bound may be left out."""

    type: Literal["range"]
    min: Any = None
    max: Any = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeTest:
        if self.min is None and self.max is None:
            raise ValueError("a range test needs `min`, `max` or both")
        try:
            inverted = self.min is not None and self.max is not None and self.min > self.max
        except TypeError:
            raise ValueError("`min` and `max` must be of the same kind") from None
        if inverted:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self


class RegexMatchTest(_OneColumn):
    """The value contains a match of ``pattern`` (anchor it with ``^...$`` for a whole
    match). Engines use RE2-style regular expressions: no look-arounds, no back-references."""

    type: Literal["regex_match"]
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"`pattern` is not a regular expression: {exc}") from None
        if re.search(r"\(\?<?[=!]|\\[1-9]", value):
            raise ValueError(
                "`pattern` uses a look-around or a back-reference, which the engines' "
                "regular expressions (RE2) do not support"
            )
        return value


class CustomSqlTest(_RowTest):
    """A row passes when ``condition`` (a Spark SQL boolean expression over the row's
    columns) is true; false or null fails it."""

    type: Literal["custom_sql"]
    condition: str = Field(min_length=1)

    def default_name(self) -> str:
        text = " ".join(self.condition.split())
        return f"custom_sql({text if len(text) <= 40 else text[:39] + '…'})"


class Reference(Strict):
    node: str = Field(min_length=1)
    column: str = Field(min_length=1)


class ForeignKeyTest(_OneColumn):
    """Every non-null value of ``column`` exists in ``references.column`` of the node
    ``references.node`` (its output in this run, or its written table)."""

    type: Literal["foreign_key"]
    references: Reference


class RowCountTest(_Test):
    row_level: ClassVar[bool] = False
    type: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCountTest:
        if self.min is None and self.max is None:
            raise ValueError("a row_count test needs `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self


class FreshnessTest(_Test):
    """The newest value of ``column`` is at most ``max_age`` older than the run's clock
    (``lakestory run --as-of`` pins it). Timestamps without a time zone are read as UTC."""

    row_level: ClassVar[bool] = False
    type: Literal["freshness"]
    column: str = Field(min_length=1)
    max_age: Duration

    def default_name(self) -> str:
        return f"freshness({self.column})"


class SchemaTest(_Test):
    """The columns exist with these (Spark) types; ``strict`` allows no other columns."""

    row_level: ClassVar[bool] = False
    type: Literal["schema"]
    columns: dict[str, str] = Field(min_length=1)
    strict: bool = False

    @field_validator("columns")
    @classmethod
    def _known_types(cls, value: dict[str, str]) -> dict[str, str]:
        from lakestory.config.models.types import check_type_name

        for column, type_name in value.items():
            check_type_name(type_name, f"column '{column}'")
        return value


class VolumeDropTest(_Test):
    """The row count is not more than ``threshold`` (a share) below the average of the last
    ``lookback_runs`` successful runs of the node, as the system catalog recorded them."""

    row_level: ClassVar[bool] = False
    type: Literal["volume_drop"]
    threshold: float = Field(gt=0, le=1)
    lookback_runs: int = Field(default=7, ge=1, le=1000)


class DistributionTest(_Test):
    """A statistic of ``column`` lies within ``between`` (inclusive; null for no bound)."""

    row_level: ClassVar[bool] = False
    type: Literal["distribution"]
    column: str = Field(min_length=1)
    metric: Metric
    between: tuple[float | None, float | None]

    @model_validator(mode="after")
    def _bounds(self) -> DistributionTest:
        low, high = self.between
        if low is None and high is None:
            raise ValueError("`between` needs at least one bound, e.g. [10, 500] or [10, null]")
        if low is not None and high is not None and low > high:
            raise ValueError(f"`between` is inverted: {low} > {high}")
        return self

    def default_name(self) -> str:
        return f"distribution({self.column}, {self.metric})"


TestConfig = Annotated[
    NotNullTest
    | UniqueTest
    | AcceptedValuesTest
    | RangeTest
    | RegexMatchTest
    | CustomSqlTest
    | ForeignKeyTest
    | RowCountTest
    | FreshnessTest
    | SchemaTest
    | VolumeDropTest
    | DistributionTest,
    Field(discriminator="type"),
]
TEST_TYPES = (
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "regex_match",
    "custom_sql",
    "foreign_key",
    "row_count",
    "freshness",
    "schema",
    "volume_drop",
    "distribution",
)


class QuarantineConfig(Strict):
    """Where rejected rows go: a Delta table, appended to, with ``_run_id``, ``_node``,
    ``_failed_tests`` and ``_rejected_at`` beside the row's columns."""

    connection: str
    path: str | None = None
    table: str | None = None
    format: Literal["delta"] = "delta"

    @model_validator(mode="after")
    def _target(self) -> QuarantineConfig:
        if bool(self.path) == bool(self.table):
            raise ValueError("`quarantine` needs exactly one of `path` or `table`")
        return self


class GateConfig(Strict):
    """Judges pass rates (the share of rows passing): overall over every row-level test, and
    per test (``thresholds``, by test name)."""

    require_pass_rate: float | None = Field(default=None, ge=0, le=1)
    thresholds: dict[str, float] = Field(default_factory=dict)
    on_fail: Literal["abort", "warn_and_write", "write_valid_only"] = "abort"

    @field_validator("thresholds")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for name, rate in value.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"threshold for '{name}' must be a pass rate between 0 and 1")
        return value

    @model_validator(mode="after")
    def _something(self) -> GateConfig:
        if self.require_pass_rate is None and not self.thresholds:
            raise ValueError("a gate needs `require_pass_rate`, `thresholds` or both")
        return self


def check_names(tests: list[Any], what: str) -> None:
    seen: set[str] = set()
    for test in tests:
        if test.label in seen:
            raise ValueError(f"two {what} are named '{test.label}': give one of them a `name`")
        seen.add(test.label)


class ValidationConfig(Strict):
    tests: list[TestConfig] = Field(default_factory=list)
    quarantine: QuarantineConfig | None = None
    gate: GateConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ValidationConfig:
        check_names(self.tests, "tests")
        names = {t.label for t in self.tests}
        if self.quarantine is None:
            for t in self.tests:
                if t.on_fail == "quarantine":
                    raise ValueError(
                        f"test '{t.label}' quarantines failing rows, but `validation.quarantine`"
                        " is not set: add `quarantine: {connection: ..., path: ...}`"
                    )
        if self.gate is not None:
            if not any(t.row_level for t in self.tests):
                raise ValueError(
                    "a gate judges the pass rates of row-level tests, and there are none"
                )
            for name in self.gate.thresholds:
                if name not in names:
                    from lakestory.core.text import suggestion

                    hint = suggestion(name, sorted(names)) or f"tests: {', '.join(sorted(names))}"
                    raise ValueError(f"gate threshold for unknown test '{name}' ({hint})")
        return self


def check_contracts(tests: list[Any]) -> None:
    """Contracts judge a node's input: their failing rows can fail, warn or be dropped, but
    not quarantined (the quarantine table holds the node's output columns)."""
    check_names(tests, "contracts")
    for t in tests:
        if t.on_fail == "quarantine":
            raise ValueError(
                f"contract '{t.label}' cannot quarantine: use fail, warn or drop (or move the "
                "test to `validation.tests`, whose rows can be quarantined)"
            )
