"""``lakestory maintain``: optimize, z-order and vacuum Delta targets, and set their
properties, as each node's ``write.maintenance``/``write.properties`` say."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakestory.cli.app import (
    DEFAULT_PROJECT,
    EnvOpt,
    FormatOpt,
    NodeOpt,
    PipelineOpt,
    ProjectArg,
    TagOpt,
    _guard,
    _load,
    app,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lakestory.core.errors import LakestoryError
    from lakestory.io.maintenance import MaintenanceReport
    from lakestory.io.specs import Target
    from lakestory.runtime.plan import PlannedNode


class Outcome:
    """What became of one node's table. (A plain class: a dataclass costs start-up time.)"""

    def __init__(self, node: str, table: str, status: str = "maintained") -> None:
        self.node, self.table = node, table
        self.status = status  # maintained | not_written | skipped | failed
        self.report: MaintenanceReport | None = None
        self.error: LakestoryError | None = None
        self.reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "table": self.table,
            "status": self.status,
            "reason": self.reason,
            "report": self.report.to_dict() if self.report else None,
            "error": self.error.to_dict() if self.error else None,
        }


@app.command()
def maintain(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
    pipeline: PipelineOpt = None,
    node: NodeOpt = None,
    tag: TagOpt = None,
    optimize: Annotated[
        bool | None,
        typer.Option(
            "--optimize/--no-optimize",
            help="Compact small files (z-order with zorder_by), whatever the config says.",
        ),
    ] = None,
    vacuum: Annotated[
        bool | None,
        typer.Option(
            "--vacuum/--no-vacuum", help="Delete files older versions needed, whatever the config."
        ),
    ] = None,
    retain_hours: Annotated[
        float | None,
        typer.Option(
            "--retain-hours",
            help="Vacuum, keeping this many hours of history (at least 168).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing; show what would be done.")
    ] = False,
) -> None:
    """Maintain the Delta tables the project writes: set properties, compact or z-order, and
    vacuum. Exit 0 when every table was maintained, 1 when one failed."""
    from lakestory.cli import output

    def body() -> list[Outcome]:
        from lakestory.core.errors import ConfigError, UsageError
        from lakestory.io.maintenance import check_retention

        if retain_hours is not None:
            try:
                check_retention(retain_hours, key="--retain-hours")
            except ConfigError as exc:
                raise UsageError(exc.what, hint=exc.hint) from None
        plan = _load(project, env).plan(pipeline or (), node or (), tag or ())
        named = {spec.strip("+") for spec in node or ()}
        flags = {"optimize": optimize, "vacuum": vacuum, "retain_hours": retain_hours}
        return [_maintain_node(pn, named, flags, dry_run) for pn in plan.nodes if pn.node.target]

    outcomes = _guard(fmt, body)
    if fmt == "json":
        output.emit_json(
            {
                "ok": all(o.status != "failed" for o in outcomes),
                "dry_run": dry_run,
                "tables": [o.to_dict() for o in outcomes],
            }
        )
    else:
        _print(outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def _maintain_node(
    planned: PlannedNode, named: set[str], flags: dict[str, Any], dry_run: bool
) -> Outcome:
    from lakestory.core.errors import DataError, LakestoryError
    from lakestory.io.maintenance import maintain, table_status

    target, write = planned.node.target, planned.node.config.write
    assert target is not None and write is not None
    display = target.location.display()
    outcome = Outcome(planned.key, display)
    configured = write.maintenance is not None or bool(write.properties)
    try:
        why = _cannot_maintain(target)
        if why:
            if not (configured or planned.key in named or planned.node.name in named):
                outcome.status, outcome.reason = "skipped", why
                return outcome
            raise DataError(
                f"{display} {why}",
                hint="drop `maintenance`/`properties` from this write, or write format: delta"
                if target.format != "delta"
                else None,
            )
        status = table_status(target.location.uri)
        if status == "missing":
            outcome.status, outcome.reason = "not_written", "not written yet"
            return outcome
        outcome.report = maintain(
            target.location.uri,
            display,
            write.maintenance,
            write.properties,
            dry_run=dry_run,
            **flags,
        )
    except LakestoryError as exc:
        outcome.status = "failed"
        outcome.error = exc.located(pipeline=planned.node.pipeline, node=planned.node.name)
    return outcome


def _cannot_maintain(target: Target) -> str | None:
    if target.format != "delta":
        return f"writes {target.format}: maintenance applies to Delta tables"
    if target.location.kind != "local":
        return f"is on a {target.location.kind} connection: maintain handles local ones so far"
    return None


# -- text output -----------------------------------------------------------------------------


def _print(outcomes: Sequence[Outcome]) -> None:
    from rich.markup import escape

    from lakestory.cli import output

    if not outcomes:
        output.out.print("no selected node writes a table")
        return
    width = max(len(o.node) for o in outcomes)
    marks = {
        "maintained": "[green]✓[/]",
        "not_written": "[yellow]·[/]",
        "skipped": "[dim]-[/]",
        "failed": "[red]✗[/]",
    }
    for o in outcomes:
        what = describe(o.report) if o.report else (o.reason or "failed")
        output.out.print(
            f"{marks[o.status]} {escape(o.node.ljust(width))}  {escape(o.table)}  {escape(what)}"
        )
        for note in o.report.notes if o.report else ():
            output.out.print(f"  [dim]note: {escape(note)}[/]")
        if o.error is not None:
            output.error(o.error, "text")
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    words = {"not_written": "not written yet"}
    summary = ", ".join(f"{n} {words.get(s, s)}" for s, n in sorted(counts.items()))
    dry = any(o.report.dry_run for o in outcomes if o.report)
    output.out.print(summary + (" (dry run: nothing was changed)" if dry else ""))


def describe(report: MaintenanceReport) -> str:
    """One line: what was done to the table."""
    would = "would " if report.dry_run else ""
    parts = []
    if report.properties_set:
        parts.append(f"{would}set {', '.join(report.properties_set)}")
    for action in ("compact", "z_order"):
        if action not in report.actions:
            continue
        verb = action.replace("_", "-")
        if report.dry_run:
            parts.append(f"would {verb} {_files(report.files_before)}")
        elif report.files_removed:
            parts.append(f"{verb} {report.files_before} → {_files(report.files_after)}")
        else:
            parts.append(f"{verb}: nothing to rewrite ({_files(report.files_before)})")
    if "vacuum" in report.actions:
        n, hours = len(report.files_vacuumed), f"{report.retain_hours or 0:g} h"
        if report.vacuum_dry_run:
            parts.append(f"vacuum would delete {_files(n)} (retain {hours})")
        else:
            parts.append(f"vacuum deleted {_files(n)} (retain {hours})")
    if not parts:
        parts.append(f"nothing to do ({_files(report.files_before)})")
    before, after = report.version_before, report.version_after
    version = f"v{before}" if after == before else f"v{before} → v{after}"
    return " · ".join([*parts, version])


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"
