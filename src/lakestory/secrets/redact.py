"""Redaction of sample rows: a node's ``sensitive`` columns (or, with ``sensitive: true``,
every column) never leave the engine in clear text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

MASK = "***"
REDACTED = "[REDACTED: Sensitive Data]"  # the sample of a node marked `sensitive: true`


def redact_rows(
    rows: Iterable[Mapping[str, Any]], sensitive: bool | Iterable[str]
) -> list[dict[str, Any]]:
    """Copies of ``rows`` with sensitive values replaced by ``***`` (nulls stay null, so a
    sample still shows which values are missing). Column names match case-insensitively."""
    if sensitive is True:
        return [{k: None if v is None else MASK for k, v in row.items()} for row in rows]
    hidden = {c.lower() for c in sensitive} if sensitive else set()
    return [
        {k: MASK if k.lower() in hidden and v is not None else v for k, v in row.items()}
        for row in rows
    ]


def host_of(url: str) -> str:
    """What logs may say about an endpoint: its host (and port), never its user, password,
    path or query (a webhook's path holds its token)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    return f"{host}:{port}" if port else host
