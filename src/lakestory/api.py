"""The Python API; the CLI is a thin shell over it.

    project = Project.load("lakestory.yaml", env="dev")
    plan = project.plan(pipelines=["gold"])
    result = project.run()
    result.record("customer_metrics").rows_written

Projects can also be built from the config models directly::

    Project(ProjectConfig(project="p", connections={...}, pipelines=[PipelineConfig(...)]))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lakestory.config.loader import LoadedConfig, load_project_file
from lakestory.config.models import ProjectConfig
from lakestory.config.yamlpos import SourceMap
from lakestory.core.errors import ConfigError
from lakestory.engines import create_engine
from lakestory.observe.logs import LogObserver, configure, wants_event_logs
from lakestory.runtime.events import EventBus, Subscriber
from lakestory.runtime.graph import Graph, build_graph
from lakestory.runtime.plan import Plan, build_plan, check_supported, select
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.runtime.runner import Runner
from lakestory.transforms.sqlcache import SqlCache

__all__ = ["NodeRecord", "Plan", "Project", "RunResult"]


class Project:
    def __init__(
        self,
        config: ProjectConfig | LoadedConfig,
        root_dir: str | Path | None = None,
        env: str | None = None,
    ) -> None:
        if isinstance(config, ProjectConfig):
            root = Path(root_dir or Path.cwd()).resolve()
            config = LoadedConfig(config, root, SourceMap("<python>"), env)
        self.loaded = config
        self._graph: Graph | None = None
        self.sql_cache = SqlCache(self.loaded.root_dir / ".lakestory" / "cache" / "sql.json")

    @classmethod
    def load(
        cls,
        path: str | Path = "lakestory.yaml",
        env: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Project:
        return cls(load_project_file(path, env, environ))

    @classmethod
    def build(
        cls,
        project: str,
        pipelines: Sequence[Any],
        root_dir: str | Path | None = None,
        **settings: Any,
    ) -> Project:
        """A project from Python objects (or dicts): ``Project.build("p", [Pipeline(...)],
        connections={"raw": Local(type="local", base_path="data")})``."""
        config = ProjectConfig.model_validate(
            {"project": project, "pipelines": list(pipelines), **settings}
        )
        return cls(config, root_dir)

    @property
    def config(self) -> ProjectConfig:
        return self.loaded.config

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._graph = build_graph(self.loaded, self.sql_cache)
        return self._graph

    def validate(self) -> list[ConfigError]:
        """Check references, cycles, SQL and functions; returns not-yet-supported notes."""
        everything = build_plan(self.loaded, self.graph, select(self.graph), check=False)
        return check_supported(self.loaded, everything).errors

    def plan(
        self,
        pipelines: Sequence[str] = (),
        nodes: Sequence[str] = (),
        tags: Sequence[str] = (),
        on_error: str | None = None,
    ) -> Plan:
        chosen = select(self.graph, pipelines, nodes, tags)
        return build_plan(self.loaded, self.graph, chosen, on_error)

    def run(
        self,
        pipelines: Sequence[str] = (),
        nodes: Sequence[str] = (),
        tags: Sequence[str] = (),
        on_error: str | None = None,
        max_workers: int | None = None,
        subscribers: Iterable[Subscriber] = (),
        **engine_options: Any,
    ) -> RunResult:
        plan = self.plan(pipelines, nodes, tags, on_error)
        configure(self.config.logging)
        bus = EventBus()
        if wants_event_logs(self.config.logging):
            bus.subscribe(LogObserver())
        for sub in subscribers:
            bus.subscribe(sub)
        engine = create_engine(self.config.engine, **engine_options)
        try:
            workers = max_workers or self.config.max_workers
            return Runner(plan, engine, bus, workers, self.sql_cache, self.loaded.root_dir).run()
        finally:
            engine.close()
            self.sql_cache.save()
