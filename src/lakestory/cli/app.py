"""``lakestory`` commands. Heavy modules are imported inside commands to keep start-up fast."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from lakestory.api import Project

app = typer.Typer(
    name="lakestory",
    help="Declarative lakehouse pipelines from YAML, with a story of every run.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")
ProjectArg = Annotated[Path, typer.Argument(help="Project file.", show_default=True)]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment overlay to apply.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Output format: text or json.")]
PipelineOpt = Annotated[
    list[str] | None, typer.Option("--pipeline", "-p", help="Only nodes of this pipeline.")
]
NodeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--node", "-n", help="Only this node; NAME+ adds downstream, +NAME adds upstream."
    ),
]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only nodes with this tag.")]
FullRefreshOpt = Annotated[
    bool,
    typer.Option(
        "--full-refresh",
        help="Rebuild the selected nodes' incremental and accumulating tables from scratch.",
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Rerun only what the last run left undone (failed, skipped, or changed since).",
    ),
]
DEFAULT_PROJECT = Path("lakestory.yaml")
_startup = {"gc_paused": False}  # set by main() only, never when `app` runs in-process


def _guard(fmt: str, body: Callable[[], T]) -> T:
    """Run a command body, turning lakestory errors into a message and an exit code."""
    from lakestory.cli import output
    from lakestory.core.errors import LakestoryError

    if fmt not in ("text", "json"):
        output.err.print(f"error: --format must be text or json, not '{fmt}'")
        raise typer.Exit(2)
    try:
        return body()
    except LakestoryError as exc:
        output.error(exc, fmt)
        raise typer.Exit(exc.exit_code) from None


def _load(project: Path, env: str | None) -> Project:
    from lakestory.api import Project

    loaded = Project.load(project, env=env)
    if _startup["gc_paused"]:
        # Start-up allocated many long-lived objects (modules, config schemas) with the
        # cyclic GC paused (see main); freeze them so no later collection, nor the one at
        # exit, walks them again, then collect normally for the run. Engine libraries load
        # after this, so none of their objects are frozen.
        _startup["gc_paused"] = False
        gc.freeze()
        gc.enable()
    return loaded


@app.command()
def validate(
    project: ProjectArg = DEFAULT_PROJECT, env: EnvOpt = None, fmt: FormatOpt = "text"
) -> None:
    """Check the project: schema, references, SQL and functions. No side effects."""
    from lakestory.cli import output

    def body() -> None:
        proj = _load(project, env)
        notes = proj.validate()
        n = sum(len(p.nodes) for p in proj.config.pipelines)
        if fmt == "json":
            output.emit_json(
                {
                    "ok": True,
                    "project": proj.config.project,
                    "nodes": n,
                    "not_supported_yet": [e.to_dict() for e in notes],
                }
            )
            return
        for e in notes:
            output.note(e.render())
        output.out.print(
            f"[green]✓[/] {project}: {n} nodes in {len(proj.config.pipelines)} pipelines are valid"
        )

    _guard(fmt, body)


@app.command()
def plan(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
    pipeline: PipelineOpt = None,
    node: NodeOpt = None,
    tag: TagOpt = None,
    full_refresh: FullRefreshOpt = False,
    resume: ResumeOpt = False,
) -> None:
    """Show the DAG, the run order, and every read and write with its mode."""
    from lakestory.cli import output
    from lakestory.cli.render import print_plan

    def body() -> None:
        p = _load(project, env).plan(
            pipeline or (), node or (), tag or (), full_refresh=full_refresh, resume=resume
        )
        if fmt == "json":
            output.emit_json(p.to_dict())
        else:
            print_plan(p, output.out)

    _guard(fmt, body)


@app.command()
def run(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
    pipeline: PipelineOpt = None,
    node: NodeOpt = None,
    tag: TagOpt = None,
    on_error: Annotated[
        str | None,
        typer.Option("--on-error", help="fail_fast or fail_later (overrides the project)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, help="Nodes run at once.")
    ] = None,
    full_refresh: FullRefreshOpt = False,
    resume: ResumeOpt = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The clock data-quality checks judge against, e.g. 2025-01-31T00:00:00Z "
            "(default: now).",
        ),
    ] = None,
    continuous: Annotated[
        bool | None,
        typer.Option(
            "--continuous/--once",
            help="Watch the `incremental: {mode: files}` sources and run micro-batches "
            "(default: when the selected pipelines say `continuous:`); --once: one run.",
        ),
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option(
            "--trigger",
            help="Continuous runs: available-now (what is pending, then exit) or "
            "interval=30s (poll).",
        ),
    ] = None,
    max_files: Annotated[
        int | None,
        typer.Option(
            "--max-files-per-batch", min=1, help="Continuous runs: files per source and batch."
        ),
    ] = None,
    max_bytes: Annotated[
        str | None,
        typer.Option(
            "--max-bytes-per-batch", help="Continuous runs: bytes per source and batch (64MB)."
        ),
    ] = None,
) -> None:
    """Run the project (or a selection of it). Exit 0 ok, 1 a node failed, 2 config error,
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM). A continuous run (docs/continuous.md)
    exits 0 when stopped by SIGTERM or Ctrl-C, after its current batch."""
    from lakestory.cli import output
    from lakestory.cli.continuous import run_continuously
    from lakestory.cli.progress import ProgressDisplay
    from lakestory.cli.render import print_failures
    from lakestory.runtime import continuous as cont

    def body() -> Any:
        if on_error not in (None, "fail_fast", "fail_later"):
            output.err.print("error: --on-error must be fail_fast or fail_later")
            raise typer.Exit(2)
        clock = _as_of(as_of)
        proj = _load(project, env)
        subs = [] if fmt == "json" else [ProgressDisplay(output.out)]
        plan = proj.plan(
            pipeline or (),
            node or (),
            tag or (),
            on_error,
            full_refresh=full_refresh,
            resume=resume,
        )
        if plan.resume_of and not plan.nodes:  # nothing left to do: record no run
            if fmt == "json":
                output.emit_json({"status": "success", "note": plan.note, "nodes": []})
            else:
                output.out.print(plan.note or "nothing to resume")
            raise typer.Exit(0)
        streaming = cont.trigger_for(plan, proj.config.pipelines, continuous, trigger)
        if streaming is not None:
            if full_refresh or resume or as_of:
                output.err.print("error: --full-refresh, --resume and --as-of are for one run")
                raise typer.Exit(2)
            run_continuously(proj, plan, streaming, fmt, workers, max_files, max_bytes)
        if max_files or max_bytes:
            output.err.print("error: --max-files/bytes-per-batch are for a continuous run")
            raise typer.Exit(2)
        return proj.run_plan(plan, workers, subs, as_of=clock)

    with _SigtermAborts() as term:
        result = _guard(fmt, body)
    if fmt == "json":
        output.emit_json(result.to_dict())
    else:
        print_failures(result, output.out, output.err)
    if result.status == "aborted":  # the shell's codes for SIGTERM and Ctrl-C
        raise typer.Exit(143 if term.received else 130)
    if not result.ok:
        raise typer.Exit(1)


class _SigtermAborts:
    """While a run runs, SIGTERM (a scheduler, ``kill``, a container stopping) aborts it
    the way Ctrl-C does: running nodes cancelled, nothing half-written, the story kept."""

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None

    def __enter__(self) -> _SigtermAborts:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if not self.received:  # the first one aborts; the runner then waits for its nodes
            self.received = True
            raise KeyboardInterrupt


def _as_of(text: str | None) -> Any:
    """``--as-of``: an ISO 8601 date or timestamp; without a zone it is UTC."""
    from datetime import UTC, datetime

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        from lakestory.cli import output

        output.err.print(
            f"error: --as-of '{text}' is not a date or timestamp "
            "(e.g. 2025-01-31 or 2025-01-31T00:00:00Z)"
        )
        raise typer.Exit(2) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Folder to create.")] = "demo",
    force: Annotated[bool, typer.Option(help="Write into an existing folder.")] = False,
) -> None:
    """Create a runnable bronze → silver → gold example project with sample data."""
    from lakestory.cli import output
    from lakestory.examples import create_example

    target = Path(name)
    if target.exists() and any(target.iterdir()) and not force:
        output.err.print(f"error: {target} exists and is not empty (use --force)")
        raise typer.Exit(2)
    create_example(target)
    output.out.print(f"[green]✓[/] created {target}/ (lakestory.yaml, transforms.py, data/raw)")
    output.out.print(f"  next: cd {name} && lakestory validate && lakestory plan && lakestory run")


@app.command()
def schema() -> None:
    """Print the JSON Schema of project files (for editor autocompletion)."""
    from lakestory.cli import output
    from lakestory.config.models import ProjectConfig

    output.emit_json(ProjectConfig.model_json_schema(by_alias=True))


def _version(value: bool) -> None:
    if value:
        from lakestory._version import __version__

        typer.echo(f"lakestory {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Declarative lakehouse pipelines from YAML, with a story of every run."""


def main() -> None:
    """The console entry point: a fresh process, so start-up may pause the cyclic GC."""
    _startup["gc_paused"] = True
    gc.disable()  # re-enabled once the project is loaded (_load)
    app()


# Commands defined in their own modules register on `app` when imported (after it exists).
from lakestory.cli import export, history, maintain, secrets, story, transformers  # noqa: E402,F401
