"""``lakestory maintain``: optimize, z-order and vacuum Delta targets."""

from __future__ import annotations
