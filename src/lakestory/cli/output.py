"""The one reporter for user output: rich text in a terminal, JSON for machines."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from lakestory.core.errors import LakestoryError


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console.width = max(console.width, 140)
    return console


out = _console(stderr=False)
err = _console(stderr=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


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
