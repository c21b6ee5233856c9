"""The plan: which nodes run, in what order, reading and writing what, with which mode.

Planning has no side effects and needs no connection to be reachable. It rejects, before
anything runs, configs that ask for behaviour this version or the chosen engine lacks.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakestory import engines
from lakestory.config.loader import LoadedConfig, node_where
from lakestory.config.yamlpos import SourceMap
from lakestory.core.errors import ConfigError, ErrorList, NotSupportedYet, UsageError, Where
from lakestory.core.text import suggestion
from lakestory.engines.base import Capabilities
from lakestory.io import databases, formats
from lakestory.io.specs import Source, Target
from lakestory.runtime.graph import Graph, ResolvedNode
from lakestory.runtime.retry import NO_RETRY, RetryPolicy, policy_for
from lakestory.writes import strategy


@dataclass
class PlannedNode:
    node: ResolvedNode
    reason: str  # why it runs
    from_tables: dict[str, Source] = field(default_factory=dict)  # upstream read from disk
    consumers: list[str] = field(default_factory=list)  # planned nodes reading its output
    full_refresh: bool = False  # rebuilds its table from scratch (ignores its state)
    retry: RetryPolicy = NO_RETRY  # the project's `retry:` with the node's on top

    @property
    def key(self) -> str:
        return self.node.key

    def to_dict(self) -> dict[str, Any]:
        n = self.node
        return {
            "node": n.key,
            "pipeline": n.pipeline,
            "reason": self.reason,
            "depends_on": sorted(n.data_deps | n.order_deps),
            "reads": [_source(n.source)] if n.source else [],
            "reads_tables_of": {k: _source(s) for k, s in self.from_tables.items()},
            "steps": [{"kind": s.kind, "text": s.text} for s in n.steps],
            "pattern": n.pattern.to_dict() if n.pattern else None,
            "incremental": _incremental(n),
            "write": _target(n.target, self.full_refresh) if n.target else None,
            "checks": _checks(n),
            "retry": self.retry.to_dict() if self.retry.max_attempts > 1 else None,
            "timeout_s": n.config.timeout.total_seconds() if n.config.timeout else None,
        }


def _checks(n: ResolvedNode) -> dict[str, Any] | None:
    """The node's data-quality tests: what runs, and what failing rows become."""
    if n.contracts is None and n.validation is None:
        return None
    out: dict[str, Any] = {}
    for suite in (n.contracts, n.validation):
        if suite is not None:
            out[suite.phase] = [
                {"name": c.name, "type": c.test.type, "on_fail": c.test.on_fail}
                for c in suite.checks
            ]
    v = n.validation
    out["quarantine"] = v.quarantine.location.display() if v and v.quarantine else None
    out["gate"] = v.gate.model_dump(mode="json") if v and v.gate else None
    return out


@dataclass
class Plan:
    project: str
    env: str | None
    engine: str
    on_error: str
    nodes: list[PlannedNode]
    resume_of: str | None = None  # the run this one resumes
    note: str | None = None  # e.g. why a resume has nothing to do

    def node(self, key: str) -> PlannedNode:
        return next(p for p in self.nodes if p.key == key)

    @property
    def full_refresh(self) -> frozenset[str]:
        return frozenset(p.key for p in self.nodes if p.full_refresh)

    def options(self) -> dict[str, Any]:
        """How this run was asked for, as the catalog records it (resume reads it back)."""
        return {
            "nodes": [p.key for p in self.nodes],
            "full_refresh": sorted(self.full_refresh),
            "resume_of": self.resume_of,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "env": self.env,
            "engine": self.engine,
            "on_error": self.on_error,
            "resume_of": self.resume_of,
            "note": self.note,
            "nodes": [p.to_dict() for p in self.nodes],
        }


def _source(s: Source) -> dict[str, Any]:
    return {
        "location": s.location.display(),
        "uri": s.location.uri,
        "format": s.format,
        **({"version": s.version} if s.version is not None else {}),
    }


def _target(t: Target, full_refresh: bool = False) -> dict[str, Any]:
    st = strategy(t.mode)
    effect = st.summary if st else ""
    if full_refresh:
        effect = (
            "re-reads everything and merges it; SCD2 history is kept (full refresh)"
            if t.mode == "scd2"
            else "replaces the table with a rebuild from scratch (full refresh)"
        )
    elif t.mode == "append" and t.keys and t.format == "delta":
        effect = "adds only rows whose keys are not in the table"
    return {
        "location": t.location.display(),
        "uri": t.location.uri,
        "format": t.format,
        "mode": t.mode,
        "keys": list(t.keys),
        "effect": effect,
        "partition_by": list(t.partition_by),
        "full_refresh": full_refresh,
    }


def _incremental(n: ResolvedNode) -> dict[str, Any] | None:
    inc = n.config.read.incremental if n.config.read else None
    return inc.model_dump(mode="json", exclude_none=True) if inc else None


ACCUMULATING = ("append", "append_once", "upsert", "merge", "scd2")


def rebuilds(n: ResolvedNode) -> bool:
    """Whether ``--full-refresh`` rebuilds this node: it reads incrementally, or its table
    accumulates rows across runs."""
    incremental = n.config.read is not None and n.config.read.incremental is not None
    return n.target is not None and (incremental or n.target.mode in ACCUMULATING)


def select(
    graph: Graph, pipelines: Sequence[str] = (), nodes: Sequence[str] = (), tags: Sequence[str] = ()
) -> dict[str, str]:
    """Selected node keys → reason. No selector selects everything."""
    keys = list(graph.nodes)
    known_pipelines = {n.pipeline for n in graph.nodes.values()}
    for p in pipelines:
        if p not in known_pipelines:
            raise UsageError(
                f"unknown pipeline '{p}'",
                hint=suggestion(p, known_pipelines)
                or f"pipelines: {', '.join(sorted(known_pipelines))}",
            )
    if pipelines:
        keys = [k for k in keys if graph.nodes[k].pipeline in pipelines]
    if not nodes and not tags:
        return {k: "selected" for k in keys}
    chosen: set[str] = set()
    for spec in nodes:
        up, down, name = spec.startswith("+"), spec.endswith("+"), spec.strip("+")
        key = _find(graph, name)
        chosen.add(key)
        if up:
            chosen |= graph.dag.closure([key], upstream=True)
        if down:
            chosen |= graph.dag.closure([key], upstream=False)
    for tag in tags:
        chosen |= {k for k in keys if tag in graph.nodes[k].config.tags}
    if pipelines:
        chosen &= set(keys)
    if not chosen:
        raise UsageError("the selection matches no node")
    return {k: "selected" for k in graph.dag.order() if k in chosen}


def _find(graph: Graph, name: str) -> str:
    if name in graph.nodes:
        return name
    found = [k for k, n in graph.nodes.items() if n.name == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"node '{name}' is ambiguous: {', '.join(found)}", hint="select it as pipeline.node"
        )
    keys = list(graph.nodes)
    listed = ", ".join(keys[:12]) + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")
    raise UsageError(
        f"unknown node '{name}'",
        hint=suggestion(name, [*keys, *(n.name for n in graph.nodes.values())])
        or f"nodes: {listed}",
    )


def build_plan(
    loaded: LoadedConfig,
    graph: Graph,
    selected: dict[str, str],
    on_error: str | None = None,
    *,
    check: bool = True,
    full_refresh: bool = False,
) -> Plan:
    """The plan for ``selected``; with ``check``, raise for anything not supported yet.
    ``full_refresh`` rebuilds the selected nodes' accumulating tables from scratch."""
    chosen = dict(selected)
    planned: dict[str, PlannedNode] = {}
    todo = list(chosen)
    while todo:  # pull in unpersisted upstream nodes the selection needs
        key = todo.pop(0)
        if key in planned:
            continue
        node = graph.nodes[key]
        retry = policy_for(loaded.config.retry, node.config.retry)
        pn = planned[key] = PlannedNode(node, chosen[key], retry=retry)
        for dep in sorted(pn.node.data_deps):
            if dep in chosen:
                continue
            up = graph.nodes[dep]
            if up.target is not None:
                t = up.target
                options = formats.read_back_options(t.format, t.options)
                pn.from_tables[dep] = Source(t.location, t.format, options)
            else:
                chosen[dep] = f"needed by {key} (its output is not written)"
                todo.append(dep)
    order = [k for k in graph.dag.order() if k in planned]
    for key in order:
        for dep in planned[key].node.data_deps:
            if dep in planned and dep not in planned[key].from_tables:
                planned[dep].consumers.append(key)
    cfg = loaded.config
    plan = Plan(
        cfg.project,
        loaded.env_name,
        cfg.engine,
        on_error or cfg.on_error,
        [planned[k] for k in order],
    )
    if full_refresh:
        for pn in plan.nodes:
            pn.full_refresh = pn.key in selected and rebuilds(pn.node)
    if check:
        check_supported(loaded, plan).raise_if_any()
    return plan


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


def check_supported(loaded: LoadedConfig, plan: Plan | None = None) -> ErrorList:
    """Everything the config asks for that this version or engine cannot do yet."""
    found = ErrorList()
    cfg, smap = loaded.config, loaded.source
    for key, module, extra in (
        ("lineage", "openlineage.client", "lineage"),
        ("metrics", "prometheus_client", "metrics"),
        ("tracing", "opentelemetry.sdk", "tracing"),
    ):
        if getattr(cfg, key) is not None and not _importable(module):
            found.add(
                ConfigError(
                    f"`{key}` needs the {module.split('.')[0]} library, which is not installed",
                    where=smap.where((key,)),
                    hint=f'pip install "lakestory[{extra}]"',
                )
            )
    story_name = cfg.story.connection if cfg.story else None
    story_conn = cfg.connections.get(story_name) if story_name else None
    if story_name and story_conn is None:
        found.add(
            ConfigError(
                f"unknown connection '{story_name}'",
                where=smap.where(("story", "connection")),
                hint=suggestion(story_name, cfg.connections)
                or f"defined connections: {', '.join(cfg.connections) or 'none'}",
            )
        )
    if story_conn is not None and story_conn.type not in (
        "local",
        "s3",
        "azure_adls",
        "azure_blob",
    ):
        found.add(
            ConfigError(
                f"stories cannot be kept on a '{story_conn.type}' connection",
                where=smap.where(("story", "connection")),
                hint="use a local, s3, azure_adls or azure_blob connection",
            )
        )
    try:
        caps = engines.capabilities(cfg.engine)
    except ConfigError as exc:  # no such engine yet, or its library is missing
        exc.located(**smap.where(("engine",)).to_dict())
        found.add(exc)
        return found
    if plan is not None:
        for pn in plan.nodes:
            _check_node(pn.node, caps, smap, found)
    return found


def _check_node(n: ResolvedNode, caps: Capabilities, smap: SourceMap, found: ErrorList) -> None:
    def at(*sub: str) -> Where:
        return node_where(smap, n.config, *sub, pipeline=n.pipeline)

    for spec, section in ((n.source, "read"), (n.target, "write")):
        if spec is None:
            continue
        if databases.is_database(spec.location):
            _check_database(n, spec, at, found)
            continue
        kind = spec.location.kind
        if kind not in caps.connection_kinds:
            found.add(
                NotSupportedYet(
                    f"{section}: connection type '{kind}' is not supported yet by the "
                    f"{caps.name} engine",
                    where=at(section, "connection"),
                    hint=f"supported here: {', '.join(sorted(caps.connection_kinds))}",
                )
            )
        if section == "read":
            for key in spec.options:
                if f"{spec.format}.{key}" in caps.unsupported_read_options:
                    found.add(
                        NotSupportedYet(
                            f"read: the {caps.name} engine cannot honour the {spec.format} "
                            f"option '{key}' yet",
                            where=at("read", "options"),
                            hint=f"remove `{key}` (e.g. take the rows out of the file), or "
                            "run this project on the duckdb engine",
                        )
                    )
        formats = caps.read_formats if section == "read" else caps.write_formats
        if spec.format not in formats:
            found.add(
                NotSupportedYet(
                    f"{section}: format '{spec.format}' is not supported yet",
                    where=at(section, "format"),
                )
            )
    if (
        n.target is not None
        and not databases.is_database(n.target.location)
        and (n.target.mode not in caps.write_modes or strategy(n.target.mode) is None)
    ):
        found.add(
            NotSupportedYet(
                f"write mode '{n.target.mode}' is not supported yet",
                where=at("write", "mode"),
                hint=f"supported modes: {', '.join(sorted(caps.write_modes))}",
            )
        )
    _check_incremental(n, at, found)


def _check_database(
    n: ResolvedNode, spec: Source | Target, at: Callable[..., Where], found: ErrorList
) -> None:
    """A database table is read whole (a table or a query, incremental reads filtered in the
    database) and written in one transaction by the modes :mod:`lakestory.io.databases`
    has: no files, formats, time travel or Delta-only modes."""
    section = "read" if isinstance(spec, Source) else "write"
    cfg = n.config.read if isinstance(spec, Source) else n.config.write
    kind, conn = spec.location.kind, spec.location.connection
    if cfg is not None and (cfg.path or cfg.format):
        key = "path" if cfg.path else "format"
        found.add(
            ConfigError(
                f"{section}: connection '{conn}' is a {kind} database; `{key}` does not apply",
                where=at(section, key),
                hint="name the table with `table: schema.name`"
                + (" or give `query:`" if section == "read" else ""),
            )
        )
    if isinstance(spec, Source) and (spec.version is not None or spec.timestamp is not None):
        found.add(
            ConfigError(
                f"read: a {kind} table has no versions to time-travel to",
                where=at("read", "version" if spec.version is not None else "timestamp"),
            )
        )
    if isinstance(spec, Target) and spec.mode not in databases.WRITE_MODES:
        found.add(
            ConfigError(
                f"write mode '{spec.mode}' cannot write to a {kind} table (connection '{conn}')",
                where=at("write", "mode"),
                hint="database tables take: "
                + ", ".join(sorted(databases.WRITE_MODES))
                + "; for merge or scd2 write a Delta table",
            )
        )
    if isinstance(spec, Target) and spec.partition_by:
        found.add(
            ConfigError(
                f"write: a {kind} table is not written in partitions",
                where=at("write", "partition_by"),
                hint="remove `partition_by` (partition the table in the database itself)",
            )
        )


def _check_incremental(n: ResolvedNode, at: Callable[..., Where], found: ErrorList) -> None:
    """An incremental read commits its state with its data: it needs a Delta target, and a
    write that cannot add the same row twice where rows are read again."""
    read = n.config.read
    inc = read.incremental if read else None
    if read is None or inc is None:
        return
    if inc.mode == "files" and not read.path:
        found.add(ConfigError("incremental mode 'files' needs `read.path`", where=at("read")))
    if inc.mode == "files" and read.format == "delta":
        found.add(
            ConfigError(
                "incremental mode 'files' reads files as they land; a Delta table is not a "
                "landing folder",
                where=at("read", "incremental", "mode"),
                hint="use mode: column with a column that grows (e.g. updated_at)",
            )
        )
    t = n.target
    if t is None or t.format != "delta":
        found.add(
            ConfigError(
                "an incremental read needs a Delta write target: the high-water mark is "
                "committed with the data, in the same commit",
                where=at("write") if t else at("read", "incremental"),
                hint="add `write: {connection: ..., path: ..., format: delta}`",
            )
        )
        return
    rereads = (inc.mode == "column" and bool(inc.lag)) or inc.mode == "window"
    if rereads and t.mode == "append" and not t.keys:
        why = (
            "`lag` re-reads rows behind the mark"
            if inc.mode == "column"
            else ("a window re-reads its rows every run")
        )
        found.add(
            ConfigError(
                f"{why}, and a plain append would add them twice",
                where=at("write", "mode"),
                hint="declare `write.keys` (an append then skips rows already in the table), "
                "or use mode: upsert"
                + (" or overwrite (replaces the window)" if inc.mode == "window" else ""),
            )
        )
