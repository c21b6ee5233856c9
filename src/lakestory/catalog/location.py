"""Where a project's catalog lives (``system:`` in the project file)."""

from __future__ import annotations

import os

from lakestory.config.loader import LoadedConfig
from lakestory.config.models import LocalConnection
from lakestory.config.models.operations import SystemConfig
from lakestory.core.errors import ConfigError, NotSupportedYet
from lakestory.core.text import suggestion
from lakestory.io import local

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
    if cfg.connection is None:
        path = cfg.path or DEFAULT_FOLDER
        return os.path.normpath(os.path.join(loaded.root_dir, os.path.expanduser(path)))
    where = loaded.source.where(("system", "connection"))
    connections = loaded.config.connections
    conn = connections.get(cfg.connection)
    if conn is None:
        raise ConfigError(
            f"unknown connection '{cfg.connection}'",
            where=where,
            hint=suggestion(cfg.connection, connections)
            or f"defined connections: {', '.join(connections) or 'none'}",
        )
    if not isinstance(conn, LocalConnection):
        raise NotSupportedYet(
            f"the system catalog on a '{conn.type}' connection is not supported yet",
            where=where,
            hint="use a `type: local` connection, or leave system.connection out to keep the "
            "catalog in .lakestory/system beside the project file",
        )
    loc = local.location(cfg.connection, conn.base_path, loaded.root_dir, cfg.path or DEFAULT_PATH)
    return loc.uri.rstrip("/")
