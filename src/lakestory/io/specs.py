"""Engine-neutral descriptions of what to read and where to write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Location:
    """A resolved place: ``uri`` is an absolute local path (or a URL for remote stores)."""

    connection: str
    kind: str
    uri: str
    path: str  # as written in the config, relative to the connection

    def display(self) -> str:
        return f"{self.connection}:{self.path}"

    @property
    def key(self) -> tuple[str, str]:
        """Identity of a table for dependency detection."""
        return (self.kind, self.uri.rstrip("/"))


@dataclass(frozen=True)
class Source:
    location: Location
    format: str
    options: dict[str, Any] = field(default_factory=dict)
    column_types: dict[str, str] | None = None
    version: int | None = None  # Delta time travel
    timestamp: str | None = None
    # set by the runtime for incremental reads:
    filter: str | None = None  # a predicate in the engine's SQL dialect, pushed into the scan
    files: tuple[str, ...] | None = None  # read exactly these files (absolute paths)


@dataclass(frozen=True)
class Target:
    location: Location
    format: str
    mode: str
    partition_by: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteOutcome:
    rows_written: int  # rows added (inserted or appended)
    version: int | None = None  # the Delta version committed; None when nothing was
    rows_updated: int = 0
    rows_deleted: int = 0
