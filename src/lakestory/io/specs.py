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
    version: int | None = None


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
    rows_written: int
    version: int | None = None
