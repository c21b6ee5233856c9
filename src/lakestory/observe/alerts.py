"""(being written)"""

from __future__ import annotations

from typing import Any


def alert_observer(loaded: Any, plan: Any) -> Any:
    return None
