"""The fields every log line of a run carries (run_id, project, pipeline, node), bound by
the runner for the run and for each node's thread, read by the log formatter.

Context variables do not cross into new threads: the runner binds them again in each
node's worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_FIELDS: ContextVar[dict[str, Any]] = ContextVar("lakestory_log_fields", default={})  # noqa: B039


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (in this thread)."""
    token = _FIELDS.set({**_FIELDS.get(), **fields})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def fields() -> dict[str, Any]:
    """The fields bound here, e.g. ``{"run_id": ..., "project": ..., "node": ...}``."""
    return _FIELDS.get()
