"""``lakestory history`` and ``lakestory state``: reading the system catalog.

PROJECT is always the last positional argument (default ``lakestory.yaml``). A node is a
positional argument where a command needs one (``state reset NODE``) and ``--node`` where
it narrows what is shown (``history --node``, ``state show --node``), as in ``run --node``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakestory.cli.app import DEFAULT_PROJECT, EnvOpt, FormatOpt, ProjectArg, _guard, _load, app

if TYPE_CHECKING:
    from rich.table import Table

    from lakestory.api import Project
    from lakestory.catalog import Catalog, NodeState
    from lakestory.config.models import NodeConfig

state_app = typer.Typer(
    help="Show or reset the state (high-water marks, file ledgers) of incremental nodes.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(state_app, name="state")

NodeFilter = Annotated[
    str | None, typer.Option("--node", "-n", help="Only this node (pipeline.node or its name).")
]
RUN_STATUSES = ("success", "failed", "aborted", "incomplete", "crashed")
NODE_STATUSES = ("success", "failed", "skipped", "aborted")
CHECK_STATUSES = ("passed", "warned", "dropped", "quarantined", "failed", "error", "blocked")


@app.command()
def history(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-p", help="Only runs of this pipeline.")
    ] = None,
    node: NodeFilter = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            "-s",
            help="Only runs with this status: success, failed, aborted, incomplete, crashed "
            "(with --node: success, failed, skipped, aborted; with --checks: passed, warned, "
            "dropped, "
            "quarantined, failed, error, blocked).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="At most this many.")] = 20,
    run: Annotated[str | None, typer.Option("--run", "-r", help="Show the nodes of a run.")] = None,
    checks: Annotated[
        bool,
        typer.Option(
            "--checks",
            help="Show data-quality check results instead (of a run with --run, of a node "
            "with --node).",
        ),
    ] = False,
) -> None:
    """Past runs, newest first; a node's runs with --node; one run's nodes with --run;
    data-quality check results with --checks."""

    def body() -> None:
        proj, catalog = _open(project, env)
        if checks:
            _check_status(status, CHECK_STATUSES)
            run_id = _find_run(catalog, run)["run_id"] if run is not None else None
            key = None if node is None else _node_key(proj, catalog, node, pipeline)
            rows = catalog.checks(
                run_id,
                key,
                None if run_id else limit,  # a run's checks: all of them, as its nodes
                pipeline=pipeline,
                status=status,
            )
            _show_checks(catalog, rows, fmt, filtered=bool(run or node or pipeline or status))
        elif run is not None:
            _show_run(catalog, run, fmt)
        elif node is not None:
            key = _node_key(proj, catalog, node, pipeline)
            _check_status(status, NODE_STATUSES)
            rows = catalog.node_runs(node=key, pipeline=pipeline, status=status, limit=limit)
            _show_node_runs(key, rows, fmt)
        else:
            _check_status(status, RUN_STATUSES)
            rows = catalog.runs(pipeline=pipeline, status=status, limit=limit)
            _show_runs(catalog, rows, fmt, filtered=bool(pipeline or status))

    _guard(fmt, body)


@state_app.command("show")
def state_show(
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
    node: NodeFilter = None,
) -> None:
    """The current state of each incremental node: its high-water mark or file ledger."""
    from rich.markup import escape

    from lakestory.cli import output

    def body() -> None:
        proj, catalog = _open(project, env)
        states = catalog.states()
        ledgers = catalog.ledgers()
        if node is not None:
            key = _resolve_node(node, _node_keys(proj) | set(states))
            states = {key: states[key]} if key in states else {}
            if not states and fmt == "text":
                output.out.print(f"{key} has no state: its next run reads everything")
                return
        pairs = [(s, len(ledgers.get(k, ()))) for k, s in sorted(states.items())]
        if fmt == "json":
            output.emit_json({"states": _jsonable([_state_dict(s, n) for s, n in pairs])})
        elif not pairs:
            output.out.print(f"no state recorded yet in {escape(catalog.uri)}")
        else:
            output.out.print(_state_table(pairs))

    _guard(fmt, body)


@state_app.command("reset")
def state_reset(
    node: Annotated[str, typer.Argument(help="The node: pipeline.node, or its unique name.")],
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    fmt: FormatOpt = "text",
) -> None:
    """Forget a node's state: its next run reads its whole source again.

    The node's target table is NOT cleared; to rebuild it from scratch instead, run
    `lakestory run --full-refresh --node NODE`.
    """
    from rich.markup import escape

    from lakestory.cli import output
    from lakestory.core.errors import UsageError

    def body() -> None:
        proj, catalog = _open(project, env)
        states = catalog.states()
        key = _resolve_node(node, _node_keys(proj) | set(states))
        before = states.get(key)
        config = _node_config(proj, key)
        if before is None and config is not None and not (config.read and config.read.incremental):
            raise UsageError(
                f"{key} does not read incrementally: it has no state to reset",
                hint=f"to rebuild its table, run `lakestory run --full-refresh --node {key}`",
            )
        files = len(catalog.ledger(key))
        catalog.reset_state(key)
        target = _target(config)
        warning = (
            f"the target table {target or '(none)'} is NOT cleared; rows read again may be "
            f"written twice. To rebuild it from scratch instead: "
            f"lakestory run --full-refresh --node {key}"
        )
        if fmt == "json":
            previous = _state_dict(before, files) if before else None
            output.emit_json(
                {
                    "ok": True,
                    "key": key,
                    "previous": _jsonable([previous])[0],
                    "target": target,
                    "warning": warning,
                }
            )
            return
        was = f" (was: {_state_text(before, files)})" if before else ""
        output.out.print(
            f"[green]✓[/] reset the state of {escape(key)}{escape(was)}: "
            "its next run reads its whole source again"
        )
        output.err.print(f"[yellow]warning:[/] {escape(warning)}")

    _guard(fmt, body)


# ------------------------------------------------------------------------------- helpers


def _open(project: Any, env: str | None) -> tuple[Project, Catalog]:
    from lakestory.catalog import Catalog
    from lakestory.core.errors import UsageError

    proj = _load(project, env)
    catalog = Catalog.for_project(proj.loaded)
    if catalog is None:
        raise UsageError(
            "the system catalog is disabled (system.enabled: false): no history or state",
            hint="remove `enabled: false` from the project's `system:` section",
        )
    return proj, catalog


def _node_keys(proj: Project) -> set[str]:
    return {f"{p.pipeline}.{n.name}" for p in proj.config.pipelines for n in p.nodes}


def _catalog_keys(catalog: Catalog) -> set[str]:
    return {r["key"] for r in catalog.node_runs(limit=None)}


def _node_key(proj: Project, catalog: Catalog, node: str, pipeline: str | None) -> str:
    """The key of ``--node``, among the project's nodes and those in the catalog."""
    keys = _node_keys(proj) | _catalog_keys(catalog)
    if pipeline is not None:  # it also tells apart nodes of the same name
        keys = {k for k in keys if k.partition(".")[0] == pipeline}
    return _resolve_node(node, keys)


def _resolve_node(name: str, keys: set[str]) -> str:
    """``pipeline.node`` as given, or the key of a unique bare node name."""
    from lakestory.core.errors import UsageError
    from lakestory.core.text import suggestion

    if name in keys:
        return name
    bare = sorted(k for k in keys if k.partition(".")[2] == name)
    if len(bare) == 1:
        return bare[0]
    if bare:
        raise UsageError(
            f"node '{name}' is in several pipelines: {', '.join(bare)}",
            hint=f"name one of them, e.g. {bare[0]}",
        )
    names = keys | {k.partition(".")[2] for k in keys}
    raise UsageError(
        f"unknown node '{name}'",
        hint=suggestion(name, names) or f"nodes: {', '.join(sorted(keys)) or 'none'}",
    )


def _check_status(status: str | None, allowed: tuple[str, ...]) -> None:
    from lakestory.core.errors import UsageError
    from lakestory.core.text import suggestion

    if status is not None and status not in allowed:
        raise UsageError(
            f"--status must be one of {', '.join(allowed)}, not '{status}'",
            hint=suggestion(status, allowed),
        )


def _node_config(proj: Project, key: str) -> NodeConfig | None:
    for p in proj.config.pipelines:
        for n in p.nodes:
            if f"{p.pipeline}.{n.name}" == key:
                return n
    return None


def _target(node: NodeConfig | None) -> str | None:
    if node is None or node.write is None:
        return None
    return f"{node.write.connection}:{node.write.path or node.write.table}"


def _shown_as_json_or_none(
    catalog: Catalog, key: str, rows: list[dict[str, Any]], fmt: str, filtered: bool, noun: str
) -> bool:
    """Print ``rows`` as JSON, or say there are none; False when a table is still due."""
    from rich.markup import escape

    from lakestory.cli import output

    if fmt == "json":
        output.emit_json({key: _jsonable(rows)})
        return True
    if not rows:
        what = f"no {noun} match" if filtered else f"no {noun} recorded yet"
        output.out.print(f"{what} in {escape(catalog.uri)}")
        return True
    return False


def _show_runs(catalog: Catalog, rows: list[dict[str, Any]], fmt: str, filtered: bool) -> None:
    from rich.markup import escape

    from lakestory.cli import output

    if _shown_as_json_or_none(catalog, "runs", rows, fmt, filtered, "runs"):
        return
    table = _table(
        "run id", "started", "duration", "status", "ok", "failed", "skipped", "pipelines"
    )
    for r in rows:
        table.add_row(
            r["run_id"],
            _when(r["started_at"]),
            _seconds(r["duration_s"]),
            _status(r["status"]),
            _count(r["nodes_succeeded"]),
            _count(r["nodes_failed"]),
            _count(r["nodes_skipped"]),
            escape(", ".join(r["pipelines"] or ())),
        )
    output.out.print(table)


def _show_node_runs(key: str, rows: list[dict[str, Any]], fmt: str) -> None:
    from lakestory.cli import output

    if fmt == "json":
        output.emit_json({"node": key, "runs": _jsonable(rows)})
        return
    if not rows:
        output.out.print(f"no runs of {key} recorded yet")
        return
    output.out.print(f"[bold]{key}[/]")
    output.out.print(_node_table(rows, "run id"))


def _find_run(catalog: Catalog, run: str) -> dict[str, Any]:
    """The run ``run`` names: its id, or a unique prefix of it."""
    from lakestory.core.errors import UsageError

    runs = catalog.runs(limit=None)
    found = [r for r in runs if r["run_id"] == run] or [
        r for r in runs if r["run_id"].startswith(run)
    ]
    if len(found) != 1:
        what = f"several runs start with '{run}'" if found else f"no run '{run}' in the catalog"
        raise UsageError(what, hint="see the run ids with `lakestory history`")
    return found[0]


def _show_run(catalog: Catalog, run: str, fmt: str) -> None:
    from rich.markup import escape

    from lakestory.cli import output

    info = _find_run(catalog, run)
    nodes = catalog.node_runs(info["run_id"], limit=None)
    if fmt == "json":
        output.emit_json({"run": _jsonable([info])[0], "nodes": _jsonable(nodes)})
        return
    output.out.print(
        f"[bold]run {info['run_id']}[/] {_status(info['status'])} · started "
        f"{_when(info['started_at'])} · {_seconds(info['duration_s'])} · "
        f"{escape(', '.join(info['pipelines'] or ()))}"
    )
    if nodes:
        output.out.print(_node_table(nodes, "node"))
    else:
        output.out.print("no node results recorded (the run did not finish)")


def _node_table(rows: list[dict[str, Any]], first: str) -> Table:
    from rich.markup import escape

    table = _table(first, "started", "duration", "status", "rows", "version", "error / note")
    for r in rows:
        error = (r["error"] or {}).get("message") if isinstance(r["error"], dict) else r["error"]
        text = str(error or r["skipped_because"] or r["note"] or "").strip()
        table.add_row(
            escape(r["run_id"] if first == "run id" else r["key"]),
            _when(r["started_at"]),
            _seconds(r["duration_s"]),
            _status(r["status"]),
            _rows(r),
            _count(r["table_version"]),
            escape(text.splitlines()[0] if text else ""),
        )
    return table


def _show_checks(catalog: Catalog, rows: list[dict[str, Any]], fmt: str, filtered: bool) -> None:
    from rich.markup import escape

    from lakestory.cli import output

    if _shown_as_json_or_none(catalog, "checks", rows, fmt, filtered, "check results"):
        return
    table = _table(
        "run id", "node", "phase", "test", "status", "failing / rows", "pass rate", "message"
    )
    for r in rows:
        text = str(r["message"] or "").strip()
        table.add_row(
            escape(r["run_id"]),
            escape(r["key"]),
            escape(r["phase"] or ""),
            escape(r["test"] or ""),
            _status(r["status"] or "-"),
            _failing(r),
            _rate(r["pass_rate"]),
            escape(text.splitlines()[0] if text else ""),
        )
    output.out.print(table)


def _failing(r: dict[str, Any]) -> str:
    if r["failing"] is None and r["rows"] is None:
        return "-"
    return f"{_count(r['failing'])} / {_count(r['rows'])}"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    shown = f"{value:.2%}"
    return "<100.00%" if value < 1 and shown == "100.00%" else shown


def _state_dict(state: NodeState, files: int) -> dict[str, Any]:
    return {
        "key": state.key,
        "kind": state.kind,
        "value": state.value,
        "files": files if state.kind == "files" else None,
        "table_uri": state.table_uri,
        "table_version": state.table_version,
        "run_id": state.run_id,
        "updated_at": state.updated_at,
    }


def _state_text(state: NodeState, files: int) -> str:
    import json

    value = state.value
    if state.kind == "files":
        return f"{files} file" + ("" if files == 1 else "s")
    if state.kind == "column" and "column" in value:
        mark = value.get("value")
        return f"{value['column']} = {mark}" if mark is not None else f"{value['column']}: no rows"
    rest = {k: v for k, v in value.items() if k != "kind"}
    return json.dumps(rest, default=str) if rest else state.kind


def _state_table(pairs: list[tuple[NodeState, int]]) -> Table:
    from rich.markup import escape

    table = _table("node", "kind", "state", "version", "run", "updated")
    for state, files in pairs:
        table.add_row(
            escape(state.key),
            escape(state.kind),
            escape(_state_text(state, files)),
            _count(state.table_version),
            escape(state.run_id),
            _when(state.updated_at),
        )
    return table


def _table(*columns: str) -> Table:
    from rich.table import Table

    table = Table(pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _seconds(value: float | None) -> str:
    return f"{value:.2f}s" if value is not None else "-"


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _rows(r: dict[str, Any]) -> str:
    read, written = r["rows_read"], r["rows_written"]
    if read is None and written is None:
        return "-"
    return f"{_count(read)} → {_count(written)}"


_STYLES = {
    "success": "green",
    "failed": "red",
    "crashed": "red",
    "incomplete": "yellow",
    # check results
    "passed": "green",
    "warned": "yellow",
    "dropped": "yellow",
    "quarantined": "yellow",
    "error": "red",
    "blocked": "red",
}


def _status(status: str) -> str:
    style = _STYLES.get(status)
    return f"[{style}]{status}[/]" if style else status


def _jsonable(rows: list[Any]) -> list[Any]:
    """Rows with their times as ISO 8601 text."""
    return [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
        if isinstance(row, dict)
        else row
        for row in rows
    ]
