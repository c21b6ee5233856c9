"""Where a project's catalog lives (``system:`` in the project file)."""

from __future__ import annotations

import os

from lakestory.config.loader import LoadedConfig
from lakestory.config.models.operations import SystemConfig
from lakestory.io.folders import own_folder

DEFAULT_FOLDER = os.path.join(".lakestory", "system")  # beside the project file
DEFAULT_PATH = "_lakestory_system"  # under system.connection


def catalog_uri(loaded: LoadedConfig) -> str | None:
    """The catalog's root folder, or None when ``system.enabled`` is false.

    Without a connection: ``path`` (default ``.lakestory/system``) relative to the project
    folder. With one: ``path`` (default ``_lakestory_system``) under its ``base_path``.
    """
    cfg = loaded.config.system or SystemConfig()
    if not cfg.enabled:
        return None
    default = DEFAULT_FOLDER if cfg.connection is None else DEFAULT_PATH
    return own_folder(loaded, "system", cfg.connection, cfg.path or default, "the system catalog")
