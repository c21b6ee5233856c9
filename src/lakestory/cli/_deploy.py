"""What an exported scheduler job runs: one task per pipeline (or per node), the edges between
them from the project's DAG, and each task's retry policy. ``lakestory export airflow`` and
``lakestory export databricks`` render this model; neither reads the project itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakestory.core.dag import DAG, CycleError
from lakestory.core.errors import UsageError
from lakestory.runtime.retry import NO_RETRY, RetryPolicy, policy_for

if TYPE_CHECKING:
    from lakestory.api import Project

Per = Literal["pipeline", "node"]


@dataclass
class Task:
    """One scheduler task: ``lakestory run PROJECT --pipeline P`` (or ``--node P.N``)."""

    pipeline: str
    node: str | None  # None: the whole pipeline
    upstream: list[str] = field(default_factory=list)  # ids of the tasks that run first
    retry: RetryPolicy = NO_RETRY

    @property
    def id(self) -> str:
        """``pipeline`` or ``pipeline.node`` (names are letters, digits and ``_``)."""
        return self.pipeline if self.node is None else f"{self.pipeline}.{self.node}"

    @property
    def selector(self) -> list[str]:
        return ["--pipeline", self.pipeline] if self.node is None else ["--node", self.id]


@dataclass
class Job:
    project: str  # the project's name (`project:`)
    env: str | None
    engine: str
    tasks: list[Task]  # in dependency order
    environments: list[str]  # the project's `environments:` names
    env_vars: list[str] = field(default_factory=list)  # ${VAR}s the project reads

    def task(self, task_id: str) -> Task:
        return next(t for t in self.tasks if t.id == task_id)


def _retry(project: Project, keys: list[str]) -> RetryPolicy:
    """The most patient policy among the nodes a task runs: a task retries as often as the
    node that may need it most (each node still retries in-process by its own policy)."""
    best = NO_RETRY
    for key in keys:
        policy = policy_for(project.config.retry, project.graph.nodes[key].config.retry)
        if policy.max_attempts > best.max_attempts:
            best = policy
    return best


def build_job(project: Project, per: Per) -> Job:
    """The tasks of ``project`` in run order, one per pipeline or per node."""
    graph = project.graph
    order = graph.dag.order()
    if per == "node":
        tasks = {
            k: Task(n.pipeline, n.name, retry=_retry(project, [k]))
            for k, n in ((k, graph.nodes[k]) for k in order)
        }
        for key in order:
            tasks[key].upstream = [tasks[u].id for u in graph.dag.upstream(key)]
        task_list = list(tasks.values())
    else:
        task_list = _pipeline_tasks(project, order)
    cfg = project.config
    env = project.loaded.env_name
    job = Job(cfg.project, env, cfg.engine, task_list, list(cfg.environments))
    job.env_vars = env_var_names(project.loaded.source.file, env)
    return job


_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_var_names(file: str | None, env: str | None) -> list[str]:
    """The environment variables the project file reads (``${NAME}``, ``${env:NAME}``,
    ``${NAME:-default}``; not ``${vars...}`` nor ``${SECRET:...}``), those of environments
    other than ``env`` left out: what the machine that runs it must provide."""
    from lakestory.config.yamlpos import load_yaml

    if not file or not Path(file).is_file():
        return []
    data, _ = load_yaml(Path(file))
    if isinstance(data, dict):
        envs = data.get("environments")
        selected = envs.get(env) if isinstance(envs, dict) and env else None
        data = {k: v for k, v in data.items() if k != "environments"}
        data["environments"] = selected
    names: list[str] = []
    for text in _strings(data):
        for m in _TOKEN.finditer(text):
            expr = (m.group(1) or "").strip().split(":-", 1)[0]
            prefix, _, rest = expr.partition(":")
            name = rest if rest and prefix.lower() == "env" else expr
            if _NAME.fullmatch(name) and name not in names:
                names.append(name)
    return names


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) and "${" in value else []


def _pipeline_tasks(project: Project, order: list[str]) -> list[Task]:
    graph = project.graph
    dag: DAG[str] = DAG(p.pipeline for p in project.config.pipelines)
    why: dict[tuple[str, str], str] = {}
    for key in order:
        node = graph.nodes[key]
        for up in graph.dag.upstream(key):
            upstream = graph.nodes[up].pipeline
            if upstream != node.pipeline:
                dag.connect(upstream, node.pipeline)
                why.setdefault((upstream, node.pipeline), f"{up} → {key}")
    try:
        pipelines = dag.order()
    except CycleError as exc:
        loop = [str(p) for p in exc.cycle]  # ends where it starts
        edges = ", ".join(why[(a, b)] for a, b in pairwise(loop))
        raise UsageError(
            "the pipelines depend on each other in a cycle: " + " → ".join(loop),
            hint=f"the nodes that make it: {edges}; export one task per node with "
            "`--per node`, or move those nodes into one pipeline",
        ) from None
    members: dict[str, list[str]] = {p: [] for p in pipelines}
    for key in order:
        members[graph.nodes[key].pipeline].append(key)
    return [
        Task(p, None, upstream=dag.upstream(p), retry=_retry(project, members[p]))
        for p in pipelines
    ]
