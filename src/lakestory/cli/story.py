"""``lakestory story``: list, show and open the stories runs wrote (``story:`` section).

PROJECT is always the last positional argument (default ``lakestory.yaml``), as in
``lakestory history``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakestory.cli.app import DEFAULT_PROJECT, EnvOpt, FormatOpt, ProjectArg, _guard, _load, app

if TYPE_CHECKING:
    from pathlib import Path

    from lakestory.story import StoryFile

story_app = typer.Typer(
    help="List, show or open the HTML and JSON stories of past runs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(story_app, name="story")


def _stories(project: Any, env: str | None) -> tuple[str, list[StoryFile]]:
    from lakestory.core.errors import UsageError
    from lakestory.story import list_stories, story_root

    root = story_root(_load(project, env).loaded)
    if root is None:
        raise UsageError(
            "this project writes no stories: `story.enabled` is false",
            hint="remove `enabled: false` from `story:` to write one per run "
            "(in .lakestory/stories beside the project file, unless `story.path` says else)",
        )
    return root, list_stories(root)


@story_app.command("list")
def list_(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="At most this many.")] = 20,
) -> None:
    """The stories written, newest first: run id, status, start, duration and path."""
    from rich.markup import escape
    from rich.table import Table

    from lakestory.cli import output

    def body() -> None:
        root, stories = _stories(project, env)
        stories = stories[:limit]
        if fmt == "json":
            output.emit_json({"root": root, "stories": [s.to_dict() for s in stories]})
            return
        if not stories:
            output.out.print(f"no stories yet in {escape(root)}")
            return
        table = Table("run id", "folder", "status", "started", "duration", "html", box=None)
        for s in stories:
            colour = "green" if s.status == "success" else "red"
            table.add_row(
                escape(s.run_id),
                escape(s.folder),
                f"[{colour}]{escape(str(s.status))}[/]",
                s.started_at.strftime("%Y-%m-%d %H:%M:%S") if s.started_at else "?",
                f"{s.duration_s:.2f}s" if s.duration_s is not None else "",
                escape(s.to_dict()["html"] or ""),
            )
        output.out.print(table)

    _guard(fmt, body)


@story_app.command()
def show(
    run: Annotated[str, typer.Argument(help="A run id, or a unique prefix of one.")],
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
) -> None:
    """A run's story in the terminal: the run, then one line per node."""
    from lakestory.cli import output

    def body() -> None:
        story = _find(project, env, run).load()
        if fmt == "json":
            output.emit_json(story)
        else:
            _print_story(story)

    _guard(fmt, body)


@story_app.command()
def last(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    open_: Annotated[bool, typer.Option("--open", help="Open it in the web browser.")] = False,
) -> None:
    """The path of the newest story's HTML page (--open: open it in the browser)."""
    from lakestory.cli import output

    def body() -> None:
        from lakestory.core.errors import UsageError

        root, stories = _stories(project, env)
        if not stories:
            raise UsageError(f"no stories yet in {root}", hint="run the project first")
        path = stories[0].html_path
        output.out.print(path, markup=False)
        if open_:
            import webbrowser

            webbrowser.open(_local_copy(path).as_uri())

    _guard("text", body)


def _local_copy(path: str) -> Path:
    """A story's HTML on local disk: itself, or a copy of one kept on a cloud connection
    (a story is one self-contained file)."""
    import tempfile
    from pathlib import Path

    from lakestory.io import paths

    if "://" not in path:
        return Path(path).resolve()
    folder = Path(tempfile.mkdtemp(prefix="lakestory-story-"))  # private to this user (0700)
    copy = folder / path.rsplit("/", 1)[-1]
    copy.write_text(paths.read_text(path), encoding="utf-8")
    return copy


def _find(project: Any, env: str | None, run: str) -> StoryFile:
    from lakestory.core.errors import UsageError

    _, stories = _stories(project, env)
    found = [s for s in stories if s.run_id == run] or [
        s for s in stories if s.run_id.startswith(run)
    ]
    if len(found) != 1:
        what = f"several stories start with '{run}'" if found else f"no story of run '{run}'"
        raise UsageError(what, hint="see the run ids with `lakestory story list`")
    return found[0]


def _print_story(story: dict[str, Any]) -> None:
    from rich.markup import escape

    from lakestory.cli import output

    run, totals = story["run"], story["totals"]
    colour = "green" if run["status"] == "success" else "red"
    output.out.print(
        f"[bold]{escape(run['project'])}[/] run {escape(run['run_id'])}: "
        f"[{colour}]{escape(run['status'])}[/] in {run['duration_s'] or 0:.2f}s "
        f"({escape(', '.join(run['pipelines']))}; started {escape(run['started_at'])})"
    )
    output.out.print(
        f"  {totals['succeeded']} succeeded, {totals['failed']} failed, {totals['skipped']} "
        f"skipped; rows read {totals['rows_read']}, written {totals['rows_written']}, "
        f"dropped {totals['rows_dropped']}, quarantined {totals['rows_quarantined']}"
    )
    marks = {"success": "[green]✓[/]", "failed": "[red]✗[/]"}
    for n in story["nodes"]:
        mark = marks.get(n["status"], "[dim]-[/]")
        facts = [f"{n[k]} {k.split('_')[1]}" for k in ("rows_read", "rows_written") if n.get(k)]
        if n.get("target"):
            version = n.get("table_version")
            facts.append(f"→ {n['target']}" + (f" (v{version})" if version is not None else ""))
        if n.get("duration_s") is not None:
            facts.append(f"{n['duration_s']:.2f}s")
        output.out.print(f"{mark} {escape(n['key'])}  {escape(', '.join(facts))}")
        failing = [c for c in n.get("checks") or [] if c.get("status") != "passed"]
        for c in failing:
            output.out.print(
                f"    check {escape(str(c.get('name')))}: {escape(str(c.get('status')))}"
            )
        if n.get("schema_change"):
            output.out.print(f"    [yellow]schema: {escape(n['schema_change'])}[/]")
        if n.get("error"):
            first = (n["error"].get("message") or n["error"].get("text") or "").splitlines()
            output.out.print(f"    [red]{escape(first[0] if first else 'failed')}[/]")


@story_app.command()
def serve(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free).")] = 8000,
) -> None:
    """Serve the stories on http://127.0.0.1:PORT/ with an index page (Ctrl-C stops)."""
    from lakestory.cli import output

    def body() -> None:
        from lakestory.story.serve import make_server

        root, _ = _stories(project, env)
        if "://" in root:
            from lakestory.core.errors import UsageError

            raise UsageError(
                f"the stories are kept in a store ({root}); `story serve` serves a local folder",
                hint="`lakestory story last --open` downloads and opens the newest, "
                "`lakestory story list` lists them",
            )
        server = make_server(root, port)
        output.out.print(f"serving {root} on http://127.0.0.1:{server.server_port}/", markup=False)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    _guard("text", body)
