"""How nodes treat their tables over many runs: incremental reads, schema policy on write,
maintenance. Used by :mod:`lakestory.config.models.nodes`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from lakestory.config.models.base import Strict

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``7d``, ``2w`` (or a number of seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(
            f"'{value}' is not a duration: write a number and a unit, e.g. 30m, 1h, 7d "
            "(units: s, m, h, d, w)"
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def format_duration(value: timedelta) -> str:
    total = value.total_seconds()
    if total != int(total):
        return f"{total:g}s"
    seconds = int(total)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?[smhdw]$"}),
]

_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_BYTE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.I)


def parse_bytes(value: Any) -> int:
    """``500MB``, ``2GiB``, ``1.5GB`` (or a number of bytes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _BYTES.match(str(value))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _BYTE_UNITS:
        raise ValueError(
            f"'{value}' is not a size: write a number and a unit, e.g. 64MB, 1GB, 512MiB "
            "(units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        )
    return int(float(match.group(1)) * _BYTE_UNITS[unit])


Bytes = Annotated[
    int,
    BeforeValidator(parse_bytes),
    Field(gt=0),
    WithJsonSchema({"type": ["integer", "string"], "pattern": r"^\d+(\.\d+)?\s*[A-Za-z]*$"}),
]


class IncrementalConfig(Strict):
    """``read.incremental``: read only what is new since the node's last successful run.

    - ``column`` (the default mode when a column is given): rows whose ``column`` is past the
      high-water mark; ``lag`` re-reads that far behind the mark for late-arriving rows.
    - ``files``: files under the read path not yet ingested (a ledger of file names).
    - ``window``: rows whose ``column`` is within ``lookback`` of the run's start.

    ``max_files_per_batch`` and ``max_bytes_per_batch`` (files mode) bound each micro-batch
    of a continuous run (docs/continuous.md); an ordinary run reads every new file.
    """

    mode: Literal["column", "files", "window"] | None = None
    column: str | None = None
    lag: Duration | None = None  # a number is seconds, or the lag of a numeric column
    lookback: Duration | None = None
    max_files_per_batch: int | None = Field(default=None, gt=0)
    max_bytes_per_batch: Bytes | None = None

    @model_validator(mode="after")
    def _complete(self) -> IncrementalConfig:
        mode = self.mode or ("column" if self.column else "files")
        if mode in ("column", "window") and not self.column:
            raise ValueError(f"incremental mode '{mode}' needs `column`")
        if mode == "files" and self.column:
            raise ValueError("incremental mode 'files' tracks files, not a column: drop `column`")
        if mode == "window" and self.lookback is None:
            raise ValueError("incremental mode 'window' needs `lookback` (e.g. 7d)")
        if mode != "window" and self.lookback is not None:
            raise ValueError("`lookback` goes with mode: window (for late rows use `lag`)")
        if mode != "column" and self.lag is not None:
            raise ValueError("`lag` goes with the column mode")
        if mode != "files" and (self.max_files_per_batch or self.max_bytes_per_batch):
            raise ValueError("`max_files_per_batch` and `max_bytes_per_batch` go with mode: files")
        if self.mode is None:
            self.mode = mode
        return self


class SchemaPolicy(Strict):
    """``write.schema``: what a write does when the data's columns differ from the table's."""

    on_new_columns: Literal["evolve", "fail", "ignore"] = "fail"
    on_missing_columns: Literal["fail", "fill_null"] = "fail"


RETENTION_FLOOR_HOURS = 168


class VacuumConfig(Strict):
    """Delete files no version younger than ``retain_hours`` needs. The floor (7 days, as in
    Delta Lake) keeps time travel and running readers and writers safe."""

    retain_hours: float = RETENTION_FLOOR_HOURS
    dry_run: bool = False

    @field_validator("retain_hours")
    @classmethod
    def _floor(cls, value: float) -> float:
        if value < RETENTION_FLOOR_HOURS:
            raise ValueError(
                f"retain_hours {value:g} is below the retention floor of "
                f"{RETENTION_FLOOR_HOURS} hours (7 days): readers of older versions and "
                "writes still running need those files"
            )
        return value


class MaintenanceConfig(Strict):
    """``write.maintenance``: what ``lakestory maintain`` (and, with ``after_write``, every
    run) does to the table."""

    optimize: bool = False  # compact small files
    zorder_by: list[str] = Field(default_factory=list)
    target_file_size: int | None = Field(default=None, gt=0)
    vacuum: VacuumConfig | None = None  # `vacuum: true` means the defaults
    after_write: bool = False

    @field_validator("vacuum", mode="before")
    @classmethod
    def _vacuum_flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        return None if value is False else value

    @property
    def vacuum_config(self) -> VacuumConfig | None:
        return self.vacuum
