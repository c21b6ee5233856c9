"""Folders for lakestory's own files (the system catalog, stories): beside the project
file, under a ``local`` connection's base path, or in a cloud connection's store (a URL)."""

from __future__ import annotations

import os

from lakestory.config.loader import LoadedConfig
from lakestory.config.models import AzureConnection, LocalConnection, S3Connection
from lakestory.core.errors import ConfigError
from lakestory.core.text import suggestion
from lakestory.io import local, stores


def own_folder(
    loaded: LoadedConfig, section: str, connection: str | None, path: str, what: str
) -> str:
    """Without ``connection``: ``path`` relative to the project folder. With one: ``path``
    under its ``base_path`` (``section`` is the config key, for messages; ``what`` names the
    files, e.g. "the system catalog")."""
    if connection is None:
        return os.path.normpath(os.path.join(loaded.root_dir, os.path.expanduser(path)))
    where = loaded.source.where((section, "connection"))
    connections = loaded.config.connections
    conn = connections.get(connection)
    if conn is None:
        raise ConfigError(
            f"unknown connection '{connection}'",
            where=where,
            hint=suggestion(connection, connections)
            or f"defined connections: {', '.join(connections) or 'none'}",
        )
    if isinstance(conn, S3Connection | AzureConnection):
        return stores.location(connection, conn, path, where).uri.rstrip("/")
    if not isinstance(conn, LocalConnection):
        raise ConfigError(
            f"{what} cannot be kept on a '{conn.type}' connection",
            where=where,
            hint=f"use a local, s3, azure_adls or azure_blob connection, or leave "
            f"{section}.connection out to keep {what} in .lakestory/ beside the project file",
        )
    return local.location(connection, conn.base_path, loaded.root_dir, path).uri.rstrip("/")
