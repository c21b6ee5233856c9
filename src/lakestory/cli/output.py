"""The one reporter for user output: rich text in a terminal, JSON for machines.

Everything it prints passes the process-wide redactor (:mod:`lakestory.secrets.redactor`).
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, cast

from rich.console import Console
from rich.markup import escape

from lakestory.core.errors import LakestoryError
from lakestory.secrets.redactor import current as current_redactor


class _RedactingStream:
    """``sys.stdout`` or ``sys.stderr`` (looked up at each write, as rich does, so captured
    streams still work), with the redactor applied to everything written."""

    def __init__(self, stderr: bool) -> None:
        self.stderr = stderr

    @property
    def stream(self) -> IO[str]:
        return sys.stderr if self.stderr else sys.stdout

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        return self.stream.write(current_redactor().redact_text(text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


def _console(stderr: bool) -> Console:
    stream = cast(IO[str], _RedactingStream(stderr))
    console = Console(file=stream, highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console.width = max(console.width, 140)
    return console


out = _console(stderr=False)
err = _console(stderr=True)


def emit_json(data: Any) -> None:
    """``data`` as JSON on stdout, every string in it redacted (the values, not the JSON
    text, so that a pattern cannot eat an escaping backslash)."""
    redactor = current_redactor()
    text = json.dumps(
        redactor.redact(data), indent=2, default=lambda o: redactor.redact_text(str(o))
    )
    sys.stdout.write(text + "\n")


def error(exc: LakestoryError, fmt: str) -> None:
    if fmt == "json":
        emit_json({"ok": False, "error": exc.to_dict()})
        return
    lines = exc.render().splitlines()
    err.print(f"[bold red]error:[/] {escape(lines[0])}")
    for line in lines[1:]:
        style = "yellow" if line.startswith("hint:") else "dim"
        err.print(f"  [{style}]{escape(line)}[/]")


def note(text: str) -> None:
    first, *rest = text.splitlines() or [""]
    err.print(f"[yellow]note:[/] {escape(first)}")
    for line in rest:
        err.print(f"  [dim]{escape(line)}[/]")
