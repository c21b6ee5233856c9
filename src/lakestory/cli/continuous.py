"""``lakestory run --continuous``: micro-batches until stopped, a line per batch
(docs/continuous.md). The options are the ``run`` command's."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from lakestory.cli import output
from lakestory.cli.render import print_failures

if TYPE_CHECKING:
    from lakestory.api import Project
    from lakestory.runtime import continuous as cont
    from lakestory.runtime.plan import Plan


def run_continuously(
    proj: Project,
    plan: Plan,
    trigger: str,
    fmt: str,
    workers: int | None,
    max_files: int | None,
    max_bytes: str | None,
) -> NoReturn:
    """Run ``plan`` continuously, then exit with the outcome's code."""
    from lakestory.config.models.tables import parse_bytes
    from lakestory.runtime import continuous as cont

    try:
        bounds = cont.Bounds(max_files, parse_bytes(max_bytes) if max_bytes else None)
    except ValueError as exc:
        output.err.print(f"error: --max-bytes-per-batch: {exc}")
        raise typer.Exit(2) from None
    show = _Batches(fmt)
    outcome = proj.run_continuous(plan, trigger, bounds, workers, (), show.batch, show.stopping)
    show.ended(outcome)
    raise typer.Exit(outcome.exit_code)


class _Batches:
    """What the console shows of a continuous run: a line per batch (JSON with --format
    json), failures in full, and the end."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt

    def json_line(self, data: dict[str, Any]) -> None:
        from lakestory.secrets.redactor import current

        line = json.dumps(current().redact(data), default=str)
        output.out.print(line, markup=False, highlight=False, soft_wrap=True)

    def batch(self, batch: cont.Batch) -> None:
        if self.fmt == "json":
            self.json_line(batch.to_dict())
            return
        data, res = batch.to_dict(), batch.result
        files = f"{batch.file_count} files ({batch.bytes:,} bytes)"
        colour = {"success": "green", "failed": "red"}.get(res.status, "yellow")
        output.out.print(
            f"batch {batch.number}: {files if batch.file_count else 'no file pending'} → "
            f"[{colour}]{res.status}[/] in {res.duration or 0:.2f}s, "
            f"{data['rows_ingested']:,} rows in, {data['rows_written']:,} written, "
            f"{batch.pending} pending (run id {res.run_id})",
            highlight=False,
        )
        if res.status == "failed":
            print_failures(res, output.out, output.err)

    def stopping(self, reason: str) -> None:
        if self.fmt == "text":
            output.err.print(f"{reason}: stopping after the current batch (again to abandon it)")

    def ended(self, outcome: cont.Outcome) -> None:
        if self.fmt == "json":
            self.json_line(outcome.to_dict())
        else:
            why = f"stopped by {outcome.stopped_by}" if outcome.stopped_by else "done"
            output.out.print(
                f"continuous run {why} after {outcome.batches} batches "
                f"({outcome.failed_batches} failed)"
            )
