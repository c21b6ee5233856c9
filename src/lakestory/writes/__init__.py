"""Write modes as strategies, chosen in one place (:func:`strategy`).

A strategy decides *what* a write does to the target table; the engine does the I/O. The
two modes of this version map straight onto the engine's own write; keyed modes (upsert,
append_once, scd2) will add strategies here that compose engine primitives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lakestory.engines.base import Engine, Frame
from lakestory.io.specs import Target, WriteOutcome


class WriteStrategy(Protocol):
    @property
    def mode(self) -> str: ...

    @property
    def summary(self) -> str:
        """What the plan says this write does."""
        ...

    def write(self, engine: Engine, frame: Frame, target: Target) -> WriteOutcome: ...


@dataclass(frozen=True)
class EngineWrite:
    """A mode the engine writes natively (``target.mode`` tells it which)."""

    mode: str
    summary: str

    def write(self, engine: Engine, frame: Frame, target: Target) -> WriteOutcome:
        return engine.write(frame, target)


STRATEGIES: dict[str, WriteStrategy] = {
    s.mode: s
    for s in (
        EngineWrite("overwrite", "replaces the table"),
        EngineWrite("append", "adds rows to the table"),
    )
}


def strategy(mode: str) -> WriteStrategy | None:
    return STRATEGIES.get(mode)
