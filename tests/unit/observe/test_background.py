"""Observers on a thread of their own: order, failures, and the bound on the run's wait."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest

from lakestory.observe.background import InBackground
from lakestory.runtime.events import Event, NodeStarted, RunFinished
from lakestory.runtime.records import NodeRecord, RunResult

END = RunFinished(RunResult("r", "p", None, datetime.now(UTC)))


@pytest.fixture(autouse=True)
def _propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    """caplog listens at the root; a run in this process may have stopped propagation."""
    monkeypatch.setattr(logging.getLogger("lakestory"), "propagate", True)


def started(key: str) -> NodeStarted:
    return NodeStarted(NodeRecord(key, "p", key))


def test_events_are_handled_in_order_off_the_callers_thread() -> None:
    seen: list[tuple[str, bool]] = []
    caller = threading.get_ident()

    def make() -> object:
        time.sleep(0.2)  # a slow import: the run goes on meanwhile
        return lambda e: seen.append((type(e).__name__, threading.get_ident() != caller))

    observer = InBackground(make, budget=5, name="test")  # type: ignore[arg-type]
    began = time.monotonic()
    observer(started("a"))
    observer(started("b"))
    assert time.monotonic() - began < 0.1  # queued, not waited for
    observer(END)  # waits for the observer to catch up
    assert seen == [("NodeStarted", True), ("NodeStarted", True), ("RunFinished", True)]


def test_an_observer_that_cannot_start_is_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def make() -> object:
        raise RuntimeError("no collector library")

    observer = InBackground(make, budget=5, name="test")  # type: ignore[arg-type]
    observer(started("a"))
    observer(END)
    assert "could not start" in caplog.text


def test_the_run_waits_at_most_the_budget(caplog: pytest.LogCaptureFixture) -> None:
    def hangs(event: Event) -> None:
        time.sleep(5)

    observer = InBackground(lambda: hangs, budget=0.3, name="test")
    began = time.monotonic()
    observer(END)
    assert time.monotonic() - began < 1.5
    assert "the rest is dropped" in caplog.text
