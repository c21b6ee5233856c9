"""The Python API; the CLI is a thin shell over it.

    project = Project.load("lakestory.yaml", env="dev")   # secrets=fn, dbutils=, azure_credential=
    plan = project.plan(pipelines=["gold"])
    result = project.run()
    result.record("customer_metrics").rows_written

Projects can also be built from the config models directly::

    Project(ProjectConfig(project="p", connections={...}, pipelines=[PipelineConfig(...)]))
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakestory.catalog import Catalog
from lakestory.config.loader import LoadedConfig, load_project_file
from lakestory.config.models import ProjectConfig
from lakestory.config.yamlpos import SourceMap
from lakestory.core.errors import ConfigError, ErrorList, NotSupportedYet
from lakestory.engines import create_engine
from lakestory.io import stores
from lakestory.observe import alerts, lineage, metrics, tracing
from lakestory.observe.catalog import CatalogObserver
from lakestory.observe.logs import LogObserver, configure, node_levels, wants_event_logs
from lakestory.runtime import continuous
from lakestory.runtime.events import EventBus, Priority, Subscriber
from lakestory.runtime.graph import Graph, build_graph
from lakestory.runtime.incremental import RunContext, load_states
from lakestory.runtime.plan import Plan, build_plan, check_supported, select
from lakestory.runtime.preflight import check_stores
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.runtime.resume import resume_selection
from lakestory.runtime.runner import Runner
from lakestory.secrets import keyvault
from lakestory.secrets.providers import Lookup, SecretProvider
from lakestory.secrets.redactor import Redactor, set_current
from lakestory.secrets.resolve import SecretSettings, SecretStatus
from lakestory.story import StoryObserver, StorySettings
from lakestory.story.files import story_root
from lakestory.transforms.sqlcache import SqlCache

if TYPE_CHECKING:
    from lakestory.io.storage import DatabaseStorage, Storage

__all__ = ["NodeRecord", "Plan", "Project", "RunResult", "SecretStatus", "check_secrets"]


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
        set_current(Redactor.for_loaded(config))  # also for projects built in Python
        stores.new_generation()  # cloud credentials are taken afresh for this project
        # hooks: project.events.subscribe("node_failed", fn, priority=0), added to every run
        self.events = EventBus()
        self._graph: Graph | None = None
        self._catalog: Catalog | Literal[False] | None = False  # False: not opened yet
        self.sql_cache = SqlCache(self.loaded.root_dir / ".lakestory" / "cache" / "sql.json")

    @classmethod
    def load(
        cls,
        path: str | Path = "lakestory.yaml",
        env: str | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        secrets: Lookup | None = None,
        dbutils: Any = None,
        azure_credential: Any = None,
        secrets_timeout: float | None = None,
        secret_providers: Mapping[str, SecretProvider] | None = None,
    ) -> Project:
        """Load a project file. Its ``${SECRET:...}`` references are fetched once, in
        parallel, each within ``secrets_timeout`` seconds (default
        ``LAKESTORY_SECRETS_TIMEOUT`` or 10), see docs/secrets.md:

        - ``secrets``: ``fn(reference) -> str | None`` answers ``${SECRET:name}`` (before
          the environment) and ``${SECRET:callable:name}``;
        - ``dbutils``: answers ``${SECRET:databricks:scope/key}`` (found by itself in a
          Databricks notebook);
        - ``azure_credential``: a TokenCredential for Key Vault, for this load and for the
          process's connections with ``auth_mode: key_vault`` (default:
          DefaultAzureCredential);
        - ``secret_providers``: more providers by name (``${SECRET:name:reference}``).
        """
        settings = _secret_settings(
            secrets, dbutils, azure_credential, secrets_timeout, secret_providers
        )
        return cls(load_project_file(path, env, environ, settings))

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
        found = check_supported(self.loaded, everything).errors
        ErrorList([e for e in found if not isinstance(e, NotSupportedYet)]).raise_if_any()
        streaming = [p.pipeline for p in self.config.pipelines if p.continuous]
        if streaming:  # what a continuous run of them would refuse
            plan = build_plan(self.loaded, self.graph, select(self.graph, streaming), check=False)
            continuous.check_plan(plan, continuous.watched_sources(plan))
        return found

    def storage(self, connection: str) -> Storage | DatabaseStorage:
        """Direct access to a connection's files, or a database's tables (``list``,
        ``read``, ``write``, ``exists``, ``delete``), with its credentials: see
        docs/connections.md."""
        from lakestory.io.storage import storage_for

        return storage_for(connection, dict(self.config.connections), self.loaded.root_dir)

    @property
    def catalog(self) -> Catalog | None:
        """The system catalog (None when ``system.enabled`` is false)."""
        if self._catalog is False:
            self._catalog = Catalog.for_project(self.loaded)
        return self._catalog or None

    def plan(
        self,
        pipelines: Sequence[str] = (),
        nodes: Sequence[str] = (),
        tags: Sequence[str] = (),
        on_error: str | None = None,
        *,
        full_refresh: bool = False,
        resume: bool = False,
    ) -> Plan:
        """What a run will do. ``full_refresh`` rebuilds the selected accumulating tables
        from scratch; ``resume`` selects what the last run left undone."""
        chosen = select(self.graph, pipelines, nodes, tags)
        resumed, note = None, None
        if resume:
            touched = {self.graph.nodes[k].pipeline for k in chosen}
            chosen, resumed, note = resume_selection(self.graph, self.catalog, touched)
        plan = build_plan(self.loaded, self.graph, chosen, on_error, full_refresh=full_refresh)
        plan.resume_of, plan.note = resumed, note
        return plan

    def run(
        self,
        pipelines: Sequence[str] = (),
        nodes: Sequence[str] = (),
        tags: Sequence[str] = (),
        on_error: str | None = None,
        max_workers: int | None = None,
        subscribers: Iterable[Subscriber] = (),
        *,
        full_refresh: bool = False,
        resume: bool = False,
        as_of: datetime | None = None,
        **engine_options: Any,
    ) -> RunResult:
        plan = self.plan(pipelines, nodes, tags, on_error, full_refresh=full_refresh, resume=resume)
        return self.run_plan(plan, max_workers, subscribers, as_of=as_of, **engine_options)

    def _bus(
        self, plan: Plan, catalog: Catalog | None, subscribers: Iterable[Subscriber]
    ) -> EventBus:
        """The run's observers, in the order they see each event (see Priority)."""
        bus = EventBus()
        if catalog is not None:
            bus.subscribe(CatalogObserver(catalog), priority=Priority.CATALOG)
        story = StorySettings.for_project(self.loaded)
        if story is not None:  # writes the story; its path goes in result.options["story"]
            bus.subscribe(StoryObserver(story, plan, catalog), priority=Priority.STORY)
        if wants_event_logs(self.config.logging, plan):
            bus.subscribe(LogObserver(), priority=Priority.LOGS)
        bus.extend(self.events)
        for sub in subscribers:
            bus.subscribe(sub)
        for factory in (
            alerts.alert_observer,
            lineage.lineage_observer,
            metrics.metrics_observer,
            tracing.tracing_observer,
        ):
            observer = factory(self.loaded, plan)
            if observer is not None:
                bus.subscribe(observer, priority=Priority.SENDERS)
        return bus

    def _store_uris(self, plan: Plan, catalog: Catalog | None) -> list[str | None]:
        """Every place the run reads or writes, and the catalog's and the stories' folders."""
        uris: list[str | None] = [catalog.uri if catalog else None, story_root(self.loaded)]
        for p in plan.nodes:
            for spec in (p.node.source, p.node.target):
                uris.append(spec.location.uri if spec else None)
        return uris

    def run_plan(
        self,
        plan: Plan,
        max_workers: int | None = None,
        subscribers: Iterable[Subscriber] = (),
        *,
        as_of: datetime | None = None,
        files: Mapping[str, Collection[str]] | None = None,
        **engine_options: Any,
    ) -> RunResult:
        """Run a plan made by :meth:`plan`. ``as_of`` pins the clock data-quality checks
        judge against (freshness); it defaults to the run's start. ``files`` limits
        file-incremental nodes (by key) to these pending files: one micro-batch of
        :meth:`run_continuous`."""
        configure(self.config.logging, node_levels(plan))
        catalog = self.catalog
        # wrong credentials and unreachable stores fail here, in seconds
        check_stores(
            self._store_uris(plan, catalog),
            lambda name: self.loaded.source.where(("connections", name)),
        )
        ctx = RunContext(uuid.uuid4().hex[:16], plan.project, datetime.now(UTC))
        ctx.max_sample_rows = self.config.story.max_sample_rows if self.config.story else 10
        ctx.full_refresh = plan.full_refresh
        if as_of is not None:
            ctx.as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        if catalog is not None:
            ctx.history = catalog.volume_history
        watched = {
            p.key: (
                p.node.target.location.uri if p.node.target else None,
                str(p.node.config.read.incremental.mode),
            )
            for p in plan.nodes
            if p.node.config.read and p.node.config.read.incremental
        }
        ctx.states, ctx.ledgers = load_states(catalog, plan.project, watched)
        if files is not None:
            continuous.limit_ledgers(ctx.ledgers, files)
        engine = create_engine(
            self.config.engine, spark_config=self.config.spark_config, **engine_options
        )
        try:
            bus = self._bus(plan, catalog, subscribers)  # starts observers' threads: last
            workers = max_workers or self.config.max_workers
            runner = Runner(plan, engine, bus, workers, self.sql_cache, self.loaded.root_dir, ctx)
            return runner.run()
        finally:
            engine.close()
            self.sql_cache.save()

    def run_continuous(
        self,
        plan: Plan,
        trigger: str = continuous.DEFAULT_TRIGGER,
        bounds: continuous.Bounds | None = None,
        max_workers: int | None = None,
        subscribers: Iterable[Subscriber] = (),
        on_batch: Callable[[continuous.Batch], None] | None = None,
        on_stopping: Callable[[str], None] | None = None,
    ) -> continuous.Outcome:
        """Run ``plan`` in micro-batches of its ``incremental: {mode: files}`` sources
        (docs/continuous.md): ``trigger`` is ``available-now`` or ``interval=30s``;
        ``bounds`` replace the sources' ``max_files_per_batch``/``max_bytes_per_batch``.
        In the main thread, SIGTERM and Ctrl-C stop it after the current batch."""
        watched = continuous.watched_sources(plan, bounds)
        continuous.check_plan(plan, watched)
        subs = list(subscribers)
        driver = continuous.Driver(
            plan,
            watched,
            lambda files: self.run_plan(plan, max_workers, subs, files=files),
            self.catalog,
            continuous.interval_of(trigger),
            on_lag=metrics.lag_reporter(self.loaded, plan),
        )
        driver.on_batch = on_batch or driver.on_batch
        driver.on_stopping = on_stopping or driver.on_stopping
        # an engine held open for the whole run keeps what engines share (Spark's session)
        # alive between batches, whose own engines come and go
        keeper = create_engine(self.config.engine, spark_config=self.config.spark_config)
        try:
            with continuous.stop_on_signals(driver):
                return driver.run()
        except KeyboardInterrupt:  # a second signal between batches: nothing is running
            driver.outcome.stopped_by = driver.stopping or "SIGINT"
            return driver.outcome
        finally:
            keeper.close()


def _secret_settings(
    lookup: Lookup | None,
    dbutils: Any,
    azure_credential: Any,
    timeout: float | None,
    providers: Mapping[str, SecretProvider] | None,
    *,
    strict: bool = True,
) -> SecretSettings:
    if azure_credential is not None:  # connections' key_vault auth uses it too
        keyvault.set_credential(azure_credential)
    return SecretSettings(
        lookup=lookup,
        dbutils=dbutils,
        azure_credential=azure_credential,
        timeout=timeout,
        providers=dict(providers or {}),
        strict=strict,
    )


def check_secrets(
    path: str | Path = "lakestory.yaml",
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    secrets: Lookup | None = None,
    dbutils: Any = None,
    azure_credential: Any = None,
    secrets_timeout: float | None = None,
    secret_providers: Mapping[str, SecretProvider] | None = None,
) -> list[SecretStatus]:
    """Every secret the project needs (its ``${SECRET:...}`` references and its connections'
    ``auth_mode: key_vault`` secrets), each fetched once, and whether it resolved. Never
    holds a value; other configuration errors still raise."""
    settings = _secret_settings(
        secrets, dbutils, azure_credential, secrets_timeout, secret_providers, strict=False
    )
    return load_project_file(path, env, environ, settings).secret_statuses
