"""``lakestory export airflow|databricks``: the project as a scheduler's job, one task per
pipeline (or per node) in the project's DAG order, each task running ``lakestory run``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakestory.cli.app import DEFAULT_PROJECT, EnvOpt, FormatOpt, ProjectArg, _guard, app

if TYPE_CHECKING:
    from lakestory.api import Project
    from lakestory.cli._deploy import Job

export_app = typer.Typer(
    help="Write the project as an Airflow DAG or a Databricks asset bundle.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(export_app, name="export")

PerOpt = Annotated[
    str,
    typer.Option("--per", help="One task per pipeline (the default) or per node."),
]


def _job(project: Path, env: str | None, per: str) -> Job:
    from lakestory.cli._deploy import build_job
    from lakestory.core.errors import UsageError

    if per not in ("pipeline", "node"):
        raise UsageError(f"--per must be pipeline or node, not '{per}'")
    loaded = _load_without_secrets(project, env)
    loaded.validate()  # an export of a project that cannot run would only fail later
    return build_job(loaded, "node" if per == "node" else "pipeline")


class _Placeholder:
    """Answers every secret reference without fetching it: an export needs the project's
    shape, never its secrets (they are read where the tasks run)."""

    timeout = 1.0

    def __init__(self, name: str) -> None:
        self.name = name

    def fetch(self, reference: str) -> str:
        return "lakestory-export-placeholder"


def _load_without_secrets(project: Path, env: str | None) -> Project:
    """The project as ``lakestory run`` would load it, except that environment variables
    that are not set read as ``0`` and secrets are not fetched: an export runs where the
    production secrets are not (a laptop, CI)."""
    from lakestory.api import Project
    from lakestory.cli._deploy import env_var_names
    from lakestory.config.loader import load_project_file
    from lakestory.secrets.dotenv import environment
    from lakestory.secrets.providers import BUILTIN_PROVIDERS
    from lakestory.secrets.resolve import SecretSettings

    environ = environment(project.resolve().parent) if project.is_file() else {}
    for name in env_var_names(str(project), env):
        environ.setdefault(name, "0")
    names = [*BUILTIN_PROVIDERS, ""]
    settings = SecretSettings(providers={n: _Placeholder(n) for n in names})
    return Project(load_project_file(project, env, environ, settings))


def _command(kind: str, project: Path, out: Path, **options: Any) -> str:
    """The command that wrote a file, for its header: the options that were given."""
    words = ["lakestory", "export", kind, str(project), "--out", str(out)]
    for name, value in options.items():
        if value is not None:
            words += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(words)


def _report(fmt: str, out: Path, job: Job, what: str) -> None:
    from rich.markup import escape

    from lakestory.cli import output

    edges = sum(len(t.upstream) for t in job.tasks)
    if fmt == "json":
        output.emit_json(
            {
                "ok": True,
                "out": str(out),
                "tasks": [{"id": t.id, "upstream": t.upstream} for t in job.tasks],
            }
        )
        return
    output.out.print(
        f"[green]✓[/] wrote {escape(str(out))}: {what} with {len(job.tasks)} tasks "
        f"and {edges} dependencies"
    )


@export_app.command("airflow")
def airflow(
    out: Annotated[Path, typer.Option("--out", "-o", help="The DAG file to write (.py).")],
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    per: PerOpt = "pipeline",
    dag_id: Annotated[
        str | None, typer.Option("--dag-id", help="Default: lakestory_<project name>.")
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option("--schedule", help="A cron expression or preset (@daily); default none."),
    ] = None,
    project_path: Annotated[
        str | None,
        typer.Option(
            "--project-path",
            help="The project file where the tasks run (default: this file's absolute path).",
        ),
    ] = None,
    lakestory: Annotated[
        str,
        typer.Option("--lakestory", help="The command that runs lakestory on the workers."),
    ] = "lakestory",
    fmt: FormatOpt = "text",
) -> None:
    """An Airflow DAG: a BashOperator per pipeline (or node) running `lakestory run`, in
    dependency order, with retries from the project's `retry:`."""
    from lakestory.cli._airflow import dag_id_for, render_dag

    def body() -> None:
        job = _job(project, env, per)
        text = render_dag(
            job,
            dag_id=dag_id or dag_id_for(job.project),
            project_file=project_path or str(project.resolve()),
            lakestory=lakestory,
            schedule=schedule,
            per=per,
            command=_command(
                "airflow",
                project,
                out,
                per=per if per != "pipeline" else None,
                env=env,
                dag_id=dag_id,
                schedule=schedule,
                project_path=project_path,
                lakestory=lakestory if lakestory != "lakestory" else None,
            ),
        )
        _write(out, text)
        _report(fmt, out, job, "an Airflow DAG")

    _guard(fmt, body)


@export_app.command("databricks")
def databricks(
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle's folder.")],
    project: ProjectArg = DEFAULT_PROJECT,
    env: EnvOpt = None,
    per: PerOpt = "pipeline",
    spark_version: Annotated[
        str, typer.Option("--spark-version", help="The job cluster's Databricks Runtime.")
    ] = "17.3.x-scala2.13",
    node_type: Annotated[
        str, typer.Option("--node-type", help="The job cluster's node type.")
    ] = "Standard_D4ds_v5",
    workers: Annotated[int, typer.Option("--workers", min=0, help="The cluster's workers.")] = 2,
    extras: Annotated[
        str, typer.Option("--extras", help="lakestory's extras installed on the cluster.")
    ] = "spark,azure",
    secret_scope: Annotated[
        str | None,
        typer.Option(
            "--secret-scope",
            help="Fill the environment variables the project reads from this secret scope.",
        ),
    ] = None,
    fmt: FormatOpt = "text",
) -> None:
    """A Databricks asset bundle (databricks.yml): a job whose tasks run `lakestory run` on
    a job cluster, in dependency order; targets from the project's `environments:`."""
    from lakestory._version import __version__
    from lakestory.cli import output
    from lakestory.cli._databricks import ClusterSpec, render_bundle
    from lakestory.engines import capabilities

    def body() -> None:
        job = _job(project, env, per)
        cluster = ClusterSpec(spark_version, node_type, workers, extras, secret_scope)
        text = render_bundle(
            job,
            project_file=project,
            bundle_dir=out,
            cluster=cluster,
            version=__version__,
            command=_command(
                "databricks",
                project,
                out,
                per=per if per != "pipeline" else None,
                env=env,
                secret_scope=secret_scope,
            ),
        )
        _write(out / "databricks.yml", text)
        if not capabilities(job.engine).distributed:
            output.note(
                f"the project's engine is {job.engine}: its nodes run on the cluster's driver "
                "alone; `engine: spark` (in an environment, say) uses the whole cluster"
            )
        _report(fmt, out / "databricks.yml", job, "a Databricks asset bundle")

    _guard(fmt, body)


def _write(path: Path, text: Any) -> None:
    from lakestory.core.errors import UsageError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="choose another --out, or a folder you may write to",
        ) from None
