"""The Engine protocol: the only surface the runtime uses to move and change data.

A *frame* is an engine's handle on a dataset (for DuckDB, a named relation); it never leaves
the engine as Python rows. What an engine can do is declared as data in
:class:`Capabilities`, so the planner can reject unsupported configs before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from lakestory.io.delta import Commit, MergeSpec
from lakestory.io.specs import Source, Target, WriteOutcome

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    name: str
    sql_dialect: str
    read_formats: frozenset[str]
    write_formats: frozenset[str]
    write_modes: frozenset[str]
    connection_kinds: frozenset[str]
    python_step_input: str  # what a Python step receives, for docs and messages
    # read options ("format.option") this engine cannot honour: the planner rejects them
    unsupported_read_options: frozenset[str] = frozenset()
    # spreads a node's work over a cluster's executors (else: one machine, one process)
    distributed: bool = False


@dataclass(frozen=True)
class Column:
    name: str
    type: str


class Frame(Protocol):
    """An engine's handle on a dataset; ``name`` is how SQL refers to it."""

    @property
    def name(self) -> str: ...


class Engine(Protocol):
    capabilities: ClassVar[Capabilities]

    # ``name`` arguments are chosen by the runtime: unique in the run and stable across
    # runs (``silver.orders:step0``), so translated SQL that refers to them can be cached.

    def read(self, source: Source, name: str) -> tuple[Frame, int | None]:
        """Open a source; returns the frame and its row count when cheaply known."""
        ...

    def sql(self, query: str, name: str) -> Frame:
        """Run a query (in the engine's dialect) that refers to frames by name."""
        ...

    def call(
        self, fn: Callable[..., Any], frame: Frame, kwargs: Mapping[str, Any], name: str
    ) -> Frame:
        """Run a Python step: ``fn(data, **kwargs)``; its result becomes a frame."""
        ...

    def native(self, frame: Frame) -> Any:
        """The engine's own object for a frame (what Python steps receive)."""
        ...

    def persist(self, frame: Frame, name: str) -> Frame:
        """Materialise a frame so other nodes (on other threads) can read it."""
        ...

    def release(self, frame: Frame) -> None: ...

    def count(self, frame: Frame) -> int: ...

    def schema(self, frame: Frame) -> list[Column]: ...

    def rows(self, frame: Frame, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rows as Python values: for messages, marks and samples only."""
        ...

    def arrow_schema(self, frame: Frame) -> pa.Schema:
        """The schema the frame would be written with."""
        ...

    def write(self, frame: Frame, target: Target, commit: Commit | None = None) -> WriteOutcome:
        """Overwrite or append (``target.mode``) in one commit."""
        ...

    def merge(
        self, frame: Frame, target: Target, spec: MergeSpec, commit: Commit | None = None
    ) -> WriteOutcome:
        """MERGE the frame (as ``source``) into the Delta table at ``target`` (``target``)."""
        ...

    def interrupt(self, thread_id: int) -> None:
        """Stop the query the worker thread ``thread_id`` is running, if any (a node that
        timed out or a run that was interrupted); the query raises in that thread."""
        ...

    def close(self) -> None: ...
