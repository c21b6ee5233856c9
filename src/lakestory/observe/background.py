"""Run an observer on a thread of its own, so that making it (importing a heavy client
library) and handling events overlap the run instead of adding to it.

Events are queued and handled in order. On ``RunFinished`` the run waits for the observer
to catch up, at most ``budget`` seconds; what is left then is dropped with a warning.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from lakestory.runtime.events import Event, RunFinished, Subscriber

log = logging.getLogger(__name__)


class InBackground:
    def __init__(self, make: Callable[[], Subscriber | None], budget: float, name: str) -> None:
        self.budget = budget
        self.name = name
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(make,), name=name, daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        self._queue.put(event)
        if isinstance(event, RunFinished) and not self._done.wait(self.budget):
            log.warning(
                "%s: not done %.1fs after the run ended; the rest is dropped",
                self.name,
                self.budget,
            )

    def _work(self, make: Callable[[], Subscriber | None]) -> None:
        try:
            observer: Subscriber | None = make()
        except Exception:  # an observer never fails the run
            log.exception("%s: could not start", self.name)
            observer = None
        while True:
            event = self._queue.get()
            if observer is not None:
                try:
                    observer(event)
                except Exception:  # an observer never fails the run
                    log.exception("%s failed on %s", self.name, type(event).__name__)
            if isinstance(event, RunFinished):
                self._done.set()
                return
