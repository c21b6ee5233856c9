"""The live progress display: an observer of run events."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from lakestory.runtime.events import (
    Event,
    NodeFinished,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
)
from lakestory.runtime.records import NodeRecord

_MARK = {
    "success": "[green]✓[/]",
    "failed": "[red]✗[/]",
    "skipped": "[yellow]-[/]",
    "aborted": "[red]![/]",
}


class ProgressDisplay:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()  # events arrive from several worker threads

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._show(event)

    def _show(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.console.print(
                f"[bold]{escape(event.result.project)}[/] run "
                f"{event.result.run_id}: {len(event.node_keys)} nodes"
            )
            self.progress.start()
        elif isinstance(event, NodeStarted):
            self.tasks[event.record.key] = self.progress.add_task(escape(event.record.key))
        elif isinstance(event, NodeRetrying):
            self.console.print(
                f"[yellow]↻ {escape(event.record.key)}  attempt {event.attempt} failed: "
                f"{escape(str(event.error.get('message', '')))}; retrying in "
                f"{event.delay_s:.2f}s[/]"
            )
        elif isinstance(event, NodeFinished):
            r = event.record
            task = self.tasks.pop(r.key, None)
            if task is not None:
                self.progress.remove_task(task)
            self.console.print(f"{_MARK.get(r.status, '?')} {escape(r.key)}  {_detail(r)}")
        elif isinstance(event, RunFinished):
            self.progress.stop()


def _detail(r: NodeRecord) -> str:
    if r.status == "skipped":
        return f"[yellow]skipped: {escape(r.skipped_because or '')}[/]"
    tries = f" ({r.attempts} attempts)" if r.attempts > 1 else ""
    if r.status in ("failed", "aborted"):
        return f"[red]{r.status} after {r.duration or 0:.2f}s{tries}[/]"
    bits = []
    if r.rows_read is not None:
        bits.append(f"{r.rows_read:,} read")
    if r.rows_written is not None and r.target:
        bits.append(
            f"{r.rows_written:,} written → {escape(r.target)}"
            + (f" (v{r.table_version})" if r.table_version is not None else "")
        )
    elif r.rows_out is not None:
        bits.append(f"{r.rows_out:,} rows")
    text = f"[dim]{', '.join(bits)}  {r.duration or 0:.2f}s{tries}[/]"
    checks = _checks(r)
    return f"{text}\n    {checks}" if checks else text


def _checks(r: NodeRecord) -> str:
    """One line on a node's data-quality checks, when it has any."""
    if not r.checks:
        return ""
    warned = [c["name"] for c in r.checks if c["status"] == "warned"]
    bits = [f"{len(r.checks)} checks"]
    if warned:
        bits.append(f"[yellow]{len(warned)} warned: {escape(', '.join(warned))}[/]")
    if r.rows_dropped:
        bits.append(f"[yellow]{r.rows_dropped:,} dropped[/]")
    if r.rows_quarantined:
        bits.append(
            f"[yellow]{r.rows_quarantined:,} quarantined → {escape(r.quarantine_target or '')}[/]"
        )
    if r.gate is not None and r.gate["status"] == "blocked":
        bits.append(f"[yellow]gate blocked ({r.gate['action']})[/]")
    return "[dim]" + ", ".join(bits) + "[/]"
