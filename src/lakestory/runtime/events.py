"""The event bus: the runner publishes, observers subscribe.

Every event is a small frozen dataclass. Subscribers get either every event
(``bus.subscribe(fn)``) or the events of one public name (``bus.subscribe("node_failed",
fn)``, see :data:`EVENT_NAMES`). Lower ``priority`` numbers run first; the built-in
observers use the priorities in :class:`Priority`, user hooks default to 0. A subscriber
that raises is logged and the others still run: no observer ever fails or stops the run.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lakestory.runtime.records import NodeRecord, RunResult

log = logging.getLogger(__name__)
FLUSH_CAP_S = 60.0  # the senders' own timeouts bound them; this bounds a defect in one


@dataclass(frozen=True)
class RunStarted:
    result: RunResult
    node_keys: tuple[str, ...]


@dataclass(frozen=True)
class NodeStarted:
    record: NodeRecord


@dataclass(frozen=True)
class NodeRetrying:
    """A node's attempt failed with a transient error; the next starts after ``delay_s``.

    ``attempt`` is the number of the attempt that failed (1 for the first);
    ``record.attempt_log[-1]`` holds the same facts.
    """

    record: NodeRecord
    attempt: int
    error: dict[str, Any]
    delay_s: float


@dataclass(frozen=True)
class NodeFinished:
    """A node ended: success, failed, skipped or aborted (see ``record.status``)."""

    record: NodeRecord


@dataclass(frozen=True)
class RunFinished:
    """The run ended: ``result.status`` is success, failed or aborted (interrupted)."""

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


Event = (
    RunStarted
    | NodeStarted
    | NodeRetrying
    | NodeFinished
    | RunFinished
    | RowsQuarantined
    | GateBlocked
)
Subscriber = Callable[[Event], None]


def _node_status(status: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, NodeFinished) and e.record.status == status


def _of(kind: type) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, kind)


# The public event names, for hooks: project.events.subscribe("node_failed", fn)
EVENT_NAMES: dict[str, Callable[[Event], bool]] = {
    "run_started": _of(RunStarted),
    "node_started": _of(NodeStarted),
    "node_retrying": _of(NodeRetrying),
    "node_finished": _of(NodeFinished),  # any outcome
    "node_succeeded": _node_status("success"),
    "node_failed": _node_status("failed"),
    "node_skipped": _node_status("skipped"),
    "node_aborted": _node_status("aborted"),
    "rows_quarantined": _of(RowsQuarantined),
    "gate_blocked": _of(GateBlocked),
    "run_finished": _of(RunFinished),
}


class Priority:
    """Where the built-in observers sit: the catalog and the story first (alerts carry the
    story's location), user hooks at 0, the senders (alerts, lineage, metrics, traces)
    after. Subscribers at ``SENDERS`` or above get ``RunFinished`` at the same time, each in
    a thread of its own, once everything before them has handled it."""

    CATALOG = -30
    STORY = -20
    LOGS = -10
    USER = 0
    SENDERS = 10


@dataclass(frozen=True)
class _Subscription:
    priority: int
    order: int
    name: str | None
    fn: Subscriber


class EventBus:
    def __init__(self) -> None:
        self._subs: list[_Subscription] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def subscribe(
        self,
        event_or_fn: str | Subscriber,
        fn: Subscriber | None = None,
        *,
        priority: int = Priority.USER,
    ) -> None:
        """``subscribe(fn)`` for every event, or ``subscribe("node_failed", fn)`` for one
        kind (names: :data:`EVENT_NAMES`)."""
        if isinstance(event_or_fn, str):
            if event_or_fn not in EVENT_NAMES:
                raise ValueError(
                    f"unknown event '{event_or_fn}': one of {', '.join(sorted(EVENT_NAMES))}"
                )
            if fn is None:
                raise TypeError(f"subscribe('{event_or_fn}', fn) needs the function")
            name, sub = event_or_fn, fn
        else:
            name, sub = None, event_or_fn
        with self._lock:
            self._subs.append(_Subscription(priority, next(self._order), name, sub))
            self._subs.sort(key=lambda s: (s.priority, s.order))

    def extend(self, other: EventBus) -> None:
        """Add every subscription of ``other`` (a project's hooks, into a run's bus)."""
        with other._lock:
            subs = list(other._subs)
        for s in subs:
            self.subscribe(s.name or s.fn, s.fn if s.name else None, priority=s.priority)

    def __len__(self) -> int:
        return len(self._subs)

    def publish(self, event: Event) -> None:
        with self._lock:
            subs = [s for s in self._subs if s.name is None or EVENT_NAMES[s.name](event)]
        if not isinstance(event, RunFinished):
            for s in subs:
                _call(s.fn, event)
            return
        # The end of a run: the senders flush what they still hold, each bounded by its own
        # timeout. They do so side by side, so a run waits for the slowest, not the sum.
        for s in subs:
            if s.priority < Priority.SENDERS:
                _call(s.fn, event)
        senders = [
            threading.Thread(target=_call, args=(s.fn, event), name="lakestory-flush", daemon=True)
            for s in subs
            if s.priority >= Priority.SENDERS
        ]
        for t in senders:
            t.start()
        deadline = time.monotonic() + FLUSH_CAP_S
        for t in senders:
            t.join(max(deadline - time.monotonic(), 0.0))
        if any(t.is_alive() for t in senders):  # each has its own timeout: a defect
            log.warning(
                "observers still busy %.0fs after the run ended: not waited for", FLUSH_CAP_S
            )


def _call(fn: Subscriber, event: Event) -> None:
    try:
        fn(event)
    except Exception:  # an observer must never fail the run
        log.exception("observer %r failed on %s", fn, type(event).__name__)
