"""The event bus: the runner publishes, observers subscribe.

An observer that raises is logged and dropped from that event; it never fails the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lakestory.runtime.records import NodeRecord, RunResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStarted:
    result: RunResult
    node_keys: tuple[str, ...]


@dataclass(frozen=True)
class NodeStarted:
    record: NodeRecord


@dataclass(frozen=True)
class NodeFinished:
    """A node ended: success, failed or skipped (see ``record.status``)."""

    record: NodeRecord


@dataclass(frozen=True)
class RunFinished:
    result: RunResult


@dataclass(frozen=True)
class RowsQuarantined:
    """``on_quarantine``: a node wrote rows that failed its tests to its quarantine table."""

    record: NodeRecord
    rows: int
    target: str


@dataclass(frozen=True)
class GateBlocked:
    """``on_gate_block``: a node's quality gate found pass rates below what it requires;
    ``gate["action"]`` says what happened (abort, warn_and_write, write_valid_only)."""

    record: NodeRecord
    gate: dict[str, Any]


Event = RunStarted | NodeStarted | NodeFinished | RunFinished | RowsQuarantined | GateBlocked
Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        for sub in self._subscribers:
            try:
                sub(event)
            except Exception:  # an observer must never fail the run
                log.exception("observer %r failed on %s", sub, type(event).__name__)
