"""``lakestory secrets check``: every secret a project needs and whether it resolves, never
its value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lakestory.cli.app import DEFAULT_PROJECT, EnvOpt, FormatOpt, ProjectArg, _guard, app

if TYPE_CHECKING:
    from lakestory.secrets.resolve import SecretStatus

secrets_app = typer.Typer(
    help="Check the secrets a project needs (${SECRET:...} and key_vault connections).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("check")
def check(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.1, help="Seconds to wait for each secret (default 10)."),
    ] = None,
) -> None:
    """List every secret reference with its provider and where it is, fetch each once (in
    parallel) and say ok or why not. Values are never printed. Exit 0 when all resolve,
    1 when one does not, 2 when the project itself is invalid."""
    from lakestory.api import check_secrets
    from lakestory.cli import output

    fmt = "json" if as_json else fmt

    def body() -> list[SecretStatus]:
        return check_secrets(project, env=env, secrets_timeout=timeout)

    statuses = _guard(fmt, body)
    failed = [s for s in statuses if not s.ok]
    if fmt == "json":
        output.emit_json(
            {"ok": not failed, "project": str(project), "secrets": [s.to_dict() for s in statuses]}
        )
    else:
        _print(statuses, str(project))
    if failed:
        raise typer.Exit(1)


def _print(statuses: list[SecretStatus], project: str) -> None:
    import os
    from dataclasses import replace

    from rich.markup import escape
    from rich.table import Table

    from lakestory.cli import output

    if not statuses:
        output.out.print(f"{escape(project)}: no secrets referenced")
        return
    table = Table(pad_edge=False)
    for col in ("provider", "reference", "where", "status"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        where = s.use.where
        if where.file and os.path.isabs(where.file):  # shorter: relative to the current folder
            rel = os.path.relpath(where.file)
            where = replace(where, file=where.file if rel.startswith("..") else rel)
        place = where.location() if where.line is not None else (where.file or "")
        place = " ".join(p for p in (place, where.key or "") if p)
        status = "[green]ok[/]" if s.ok else f"[red]{escape(s.reason)}[/]"
        table.add_row(escape(s.provider), escape(s.reference), escape(place), status)
    output.out.print(table)
    failed = [s for s in statuses if not s.ok]
    for s in failed:
        output.err.print(f"[red]{escape(s.reason)}:[/] {escape(s.use.where.describe())}")
        output.err.print(f"  {escape(s.message or '')}")
        if s.hint:
            output.err.print(f"  [yellow]hint: {escape(s.hint)}[/]")
    ok = len(statuses) - len(failed)
    summary = f"{len(statuses)} secret reference{'s' if len(statuses) != 1 else ''}: {ok} ok"
    if failed:
        summary += f", {len(failed)} not resolved"
    output.out.print(summary)
