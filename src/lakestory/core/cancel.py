"""Cooperative cancellation of a node's work: timeouts and interrupted runs.

The runner gives each node's worker thread a :class:`Token` (``with cancel.scope(token)``).
The node's code calls :func:`check` between steps, and the streams that feed a table
write check the token before every batch, so a cancelled node stops before its commit and
leaves its table as it was. Once a write's stream is exhausted the commit is under way and
cannot be stopped: :attr:`Token.committing` tells the runner to wait for it rather than
abandon the node.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lakestory.core.errors import LakestoryError


class Cancelled(LakestoryError):
    """The node's work was stopped: it ran past its timeout, or the run was interrupted."""

    kind = "cancelled"


class Token:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.committing = False  # a write's data is all streamed: its commit is under way
        # the tables and files this node's work has changed for good: a retry must not
        # write them again (the quarantine rows of a failed attempt are taken back out)
        self.committed: set[str] = set()

    def cancel(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason or "cancelled")

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or raise :class:`Cancelled` as soon as the token is cancelled."""
        if self._event.wait(max(seconds, 0.0)):
            self.check()


@contextmanager
def commit_window(token: Token | None) -> Iterator[None]:
    """Around the call that commits a write (after the data is streamed, the commit cannot
    be stopped): the runner waits for it rather than abandon the node."""
    try:
        yield
    finally:
        if token is not None:
            token.committing = False


def committed(uri: str) -> None:
    """This thread's work has changed ``uri`` for good (a commit, a file swap)."""
    token = current()
    if token is not None:
        token.committed.add(uri.rstrip("/"))


def undone(uri: str) -> None:
    """What was committed to ``uri`` has been taken back out."""
    token = current()
    if token is not None:
        token.committed.discard(uri.rstrip("/"))


_local = threading.local()


@contextmanager
def scope(token: Token) -> Iterator[Token]:
    """Make ``token`` this thread's current token inside the block."""
    previous = getattr(_local, "token", None)
    _local.token = token
    try:
        yield token
    finally:
        _local.token = previous


def current() -> Token | None:
    """This thread's token (None outside a node's work)."""
    return getattr(_local, "token", None)


def check() -> None:
    """Raise :class:`Cancelled` when this thread's work has been cancelled."""
    token = current()
    if token is not None:
        token.check()
