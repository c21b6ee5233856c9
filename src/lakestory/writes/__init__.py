"""Write modes as strategies, chosen in one place (:func:`strategy`)."""

from __future__ import annotations

from typing import Protocol

from lakestory.engines.base import Engine, Frame
from lakestory.io.specs import Target, WriteOutcome


class WriteStrategy(Protocol):
    mode: str
    summary: str  # what the plan says this write does

    def write(self, engine: Engine, frame: Frame, target: Target) -> WriteOutcome: ...


class Overwrite:
    mode = "overwrite"
    summary = "replaces the table"

    def write(self, engine: Engine, frame: Frame, target: Target) -> WriteOutcome:
        return engine.write(frame, target)


class Append:
    mode = "append"
    summary = "adds rows to the table"

    def write(self, engine: Engine, frame: Frame, target: Target) -> WriteOutcome:
        return engine.write(frame, target)


STRATEGIES: dict[str, WriteStrategy] = {s.mode: s for s in (Overwrite(), Append())}


def strategy(mode: str) -> WriteStrategy | None:
    return STRATEGIES.get(mode)
