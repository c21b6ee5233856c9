"""``lakestory history`` and ``lakestory state``: reading the system catalog."""

from __future__ import annotations
