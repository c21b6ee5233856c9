"""The retry policy of a node: the project's ``retry:`` with the node's own fields on top."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from lakestory.config.models import RetryConfig


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1  # every attempt, the first included: 1 means no retry
    backoff: str = "exponential"  # exponential | linear | constant
    initial_delay: float = 1.0  # seconds
    max_delay: float = 60.0
    jitter: bool = True

    def delay(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number ``failed_attempt`` (1 for the first)."""
        n = max(failed_attempt, 1)
        if self.backoff == "exponential":
            base = self.initial_delay * 2 ** (n - 1)
        elif self.backoff == "linear":
            base = self.initial_delay * n
        else:
            base = self.initial_delay
        delay = min(base, self.max_delay)
        if self.jitter:  # spread retries of many nodes over [50 %, 100 %] of the delay
            delay *= (rng or random).uniform(0.5, 1.0)
        return round(delay, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "backoff": self.backoff,
            "initial_delay_s": self.initial_delay,
            "max_delay_s": self.max_delay,
            "jitter": self.jitter,
        }


NO_RETRY = RetryPolicy()


def policy_for(project: RetryConfig | None, node: RetryConfig | None) -> RetryPolicy:
    """No ``retry:`` anywhere: one attempt. A node's ``retry:`` overrides only the fields
    it gives (``retry: {max_attempts: 5}`` keeps the project's backoff)."""
    if project is None and node is None:
        return NO_RETRY
    if project is None or node is None:
        cfg = project or node
    else:
        cfg = project.model_copy(update={k: getattr(node, k) for k in node.model_fields_set})
    assert cfg is not None
    if not cfg.enabled:
        return NO_RETRY
    return RetryPolicy(
        max_attempts=cfg.max_attempts,
        backoff=cfg.backoff,
        initial_delay=cfg.initial_delay.total_seconds(),
        max_delay=cfg.max_delay.total_seconds(),
        jitter=cfg.jitter,
    )
