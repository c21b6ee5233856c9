"""The event bus: named subscriptions, priorities, and hooks that fail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from lakestory.runtime.events import EVENT_NAMES, EventBus, NodeFinished, NodeStarted, RunStarted
from lakestory.runtime.records import NodeRecord, RunResult


def record(status: str) -> NodeRecord:
    return NodeRecord("p.a", "p", "a", status=status)


def test_a_named_subscription_sees_only_its_events() -> None:
    bus, seen = EventBus(), []
    bus.subscribe("node_failed", lambda e: seen.append(("failed", e.record.status)))
    bus.subscribe("node_succeeded", lambda e: seen.append(("ok", e.record.status)))
    bus.subscribe("node_started", lambda e: seen.append(("started", e.record.status)))
    bus.publish(NodeStarted(record("running")))
    bus.publish(NodeFinished(record("failed")))
    bus.publish(NodeFinished(record("success")))
    bus.publish(RunStarted(RunResult("r", "p", None, datetime.now(UTC)), ()))
    assert seen == [("started", "running"), ("failed", "failed"), ("ok", "success")]


def test_lower_priority_runs_first_and_ties_keep_their_order() -> None:
    bus, order = EventBus(), []
    bus.subscribe(lambda e: order.append("default-1"))
    bus.subscribe(lambda e: order.append("late"), priority=10)
    bus.subscribe(lambda e: order.append("early"), priority=-5)
    bus.subscribe("node_started", lambda e: order.append("default-2"))
    bus.publish(NodeStarted(record("running")))
    assert order == ["early", "default-1", "default-2", "late"]


def test_a_hook_that_raises_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, seen = EventBus(), []

    def broken(event: object) -> None:
        raise RuntimeError("the pager is down")

    bus.subscribe("node_failed", broken, priority=-1)
    bus.subscribe("node_failed", lambda e: seen.append(e.record.key))
    bus.publish(NodeFinished(record("failed")))
    assert seen == ["p.a"]
    assert "the pager is down" in caplog.text


def test_unknown_event_names_are_refused_with_the_list() -> None:
    with pytest.raises(ValueError, match="node_failed"):
        EventBus().subscribe("node_fialed", print)


def test_extend_copies_names_and_priorities() -> None:
    hooks, bus, order = EventBus(), EventBus(), []
    hooks.subscribe("node_started", lambda e: order.append("hook"), priority=5)
    bus.subscribe(lambda e: order.append("built-in"), priority=-5)
    bus.extend(hooks)
    bus.publish(NodeStarted(record("running")))
    bus.publish(NodeFinished(record("success")))
    assert order == ["built-in", "hook", "built-in"]


def test_every_public_name_matches_some_event() -> None:
    assert {"run_started", "node_failed", "node_retrying", "run_finished"} <= set(EVENT_NAMES)


def test_senders_finish_a_run_side_by_side_after_everyone_else() -> None:
    import threading
    import time

    from lakestory.runtime.events import Priority, RunFinished

    bus, order, lock = EventBus(), [], threading.Lock()

    def sender(name: str) -> Callable[[object], None]:
        def flush(event: object) -> None:
            time.sleep(0.4)
            with lock:
                order.append(name)

        return flush

    bus.subscribe(sender("alerts"), priority=Priority.SENDERS)
    bus.subscribe(sender("lineage"), priority=Priority.SENDERS)
    bus.subscribe(lambda e: order.append("story"), priority=Priority.STORY)
    started = time.monotonic()
    bus.publish(RunFinished(RunResult("r", "p", None, datetime.now(UTC))))
    assert time.monotonic() - started < 0.75  # not 0.8: the two waited at the same time
    assert order[0] == "story" and sorted(order[1:]) == ["alerts", "lineage"]
