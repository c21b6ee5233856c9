"""Data values in error messages: a key shown to say which rows are at fault is masked
when its column is sensitive (``sensitive:`` on the node, or derived from such a column)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lakestory.secrets.redact import REDACTED
from lakestory.transforms.sensitivity import Sensitive


def masked(value: Any, columns: Iterable[str], *sensitive: Sensitive) -> str:
    """``value`` as text, or the redaction mark when any of ``columns`` is sensitive."""
    names = [c.lower() for c in columns]
    for hidden in sensitive:
        if hidden is None or any(n in hidden for n in names):
            return REDACTED
    return str(value)
