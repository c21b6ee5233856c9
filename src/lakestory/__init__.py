"""lakestory: declarative lakehouse pipelines from YAML, with a story of every run.

The public Python API is :class:`lakestory.Project`, and the config models under short
names for building projects in Python (``Node``, ``Pipeline``, ``Read``, ``Write``,
``Step``). Everything is imported lazily so ``lakestory --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from lakestory._version import __version__

if TYPE_CHECKING:
    from lakestory.api import Project, RunResult
    from lakestory.config.models import LocalConnection as Local
    from lakestory.config.models import NodeConfig as Node
    from lakestory.config.models import PipelineConfig as Pipeline
    from lakestory.config.models import ProjectConfig
    from lakestory.config.models import ReadConfig as Read
    from lakestory.config.models import StepConfig as Step
    from lakestory.config.models import WriteConfig as Write
    from lakestory.io.storage import DatabaseStorage, Storage

_LAZY = {
    "Project": ("lakestory.api", "Project"),
    "RunResult": ("lakestory.api", "RunResult"),
    "ProjectConfig": ("lakestory.config.models", "ProjectConfig"),
    "Pipeline": ("lakestory.config.models", "PipelineConfig"),
    "Node": ("lakestory.config.models", "NodeConfig"),
    "Read": ("lakestory.config.models", "ReadConfig"),
    "Write": ("lakestory.config.models", "WriteConfig"),
    "Step": ("lakestory.config.models", "StepConfig"),
    "Local": ("lakestory.config.models", "LocalConnection"),
    "Storage": ("lakestory.io.storage", "Storage"),
}

__all__ = [
    "Local",
    "Node",
    "Pipeline",
    "Project",
    "ProjectConfig",
    "Read",
    "RunResult",
    "Step",
    "Storage",
    "Write",
    "__version__",
    "storage",
]


def storage(
    connection: str, project: str | os.PathLike[str] = "lakestory.yaml"
) -> Storage | DatabaseStorage:
    """Direct access to a connection's files (``list``, ``read``, ``write``, ``exists``,
    ``delete``), with the credentials of ``project``'s connection (``lakestory.yaml`` in
    the current folder by default): ``lakestory.storage("data_lake").list("bronze/")``."""
    from lakestory.api import Project

    return Project.load(os.fspath(project)).storage(connection)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'lakestory' has no attribute {name!r}")
