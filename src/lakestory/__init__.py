"""lakestory: declarative lakehouse pipelines from YAML, with a story of every run.

The public Python API is :class:`lakestory.Project`; it is imported lazily so that
``lakestory --help`` and ``import lakestory`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakestory._version import __version__

if TYPE_CHECKING:
    from lakestory.api import Project, RunResult

__all__ = ["Project", "RunResult", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Project", "RunResult"):
        from lakestory import api

        return getattr(api, name)
    raise AttributeError(f"module 'lakestory' has no attribute {name!r}")
