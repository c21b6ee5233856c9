"""Resolve a project's nodes into one DAG across all pipelines.

Edges come from explicit ``depends_on``, ``inputs`` aliases, node names referenced in SQL
steps, and a node reading a table that another node writes (same connection and path).
A bare name resolves in the node's own pipeline first, then across pipelines when
unambiguous; ``pipeline.node`` always works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakestory.config.loader import LoadedConfig
from lakestory.config.models import LocalConnection, NodeConfig, ProjectConfig, StepConfig
from lakestory.config.yamlpos import SourceMap
from lakestory.core.dag import DAG, CycleError
from lakestory.core.errors import ConfigError, ErrorList, GraphError, LakestoryError, Where
from lakestory.core.text import suggestion
from lakestory.io import formats, local
from lakestory.io.specs import Location, Source, Target
from lakestory.transforms import python as pysteps
from lakestory.transforms.sqlcache import SqlCache


@dataclass
class Step:
    index: int
    kind: str  # "sql" | "function"
    text: str  # the SQL as written, or the function's dotted name
    where: Where
    refs: dict[tuple[str | None, str], str] = field(default_factory=dict)  # -> node key/alias
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResolvedNode:
    key: str
    pipeline: str
    name: str
    config: NodeConfig
    where: Where
    source: Source | None
    target: Target | None
    steps: list[Step]
    inputs: dict[str, str]  # alias -> node key
    df_from: str | None  # node key whose output is `df` when there is no read
    data_deps: set[str] = field(default_factory=set)  # nodes whose output this one consumes
    order_deps: set[str] = field(default_factory=set)  # depends_on / same-table edges


@dataclass
class Graph:
    nodes: dict[str, ResolvedNode]
    dag: DAG[str]


class _Builder:
    def __init__(self, loaded: LoadedConfig, sql: SqlCache) -> None:
        self.sql = sql
        self.cfg: ProjectConfig = loaded.config
        self.smap: SourceMap = loaded.source
        self.root: Path = loaded.root_dir
        self.errors = ErrorList()
        self.by_key: dict[str, tuple[str, NodeConfig]] = {}
        self.by_name: dict[str, list[str]] = {}
        for p in self.cfg.pipelines:
            for n in p.nodes:
                key = f"{p.pipeline}.{n.name}"
                self.by_key[key] = (p.pipeline, n)
                self.by_name.setdefault(n.name, []).append(key)

    def where(self, node: NodeConfig, *sub: str | int, pipeline: str = "", step: str = "") -> Where:
        base = self.smap.where((*node._key_path, *sub), pipeline=pipeline or None,
                               node=node.name, step=step or None)
        return base if node._key_path else Where(pipeline=pipeline, node=node.name,
                                                  key=".".join(map(str, sub)) or None)

    def resolve(self, ref: str, pipeline: str, where: Where, what: str) -> str | None:
        if ref in self.by_key:
            return ref
        if "." not in ref:
            own = f"{pipeline}.{ref}"
            if own in self.by_key:
                return own
            found = self.by_name.get(ref, [])
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                self.errors.add(GraphError(
                    f"{what} '{ref}' is ambiguous: {', '.join(found)}", where=where,
                    hint="qualify it with its pipeline: " + " or ".join(found)))
                return None
        self.errors.add(GraphError(
            f"unknown {what} '{ref}'", where=where,
            hint=suggestion(ref, [*self.by_name, *self.by_key])))
        return None

    def build(self) -> Graph:
        nodes: dict[str, ResolvedNode] = {}
        for key, (pipeline, node) in self.by_key.items():
            try:
                nodes[key] = self.node(key, pipeline, node)
            except ConfigError as exc:
                self.errors.add(exc)
        self.errors.raise_if_any()
        self.table_edges(nodes)
        dag: DAG[str] = DAG(nodes)
        for key, rn in nodes.items():
            for up in sorted(rn.data_deps | rn.order_deps, key=list(nodes).index):
                dag.connect(up, key)
        try:
            dag.order()
        except CycleError as exc:
            first = nodes[str(exc.cycle[0])]
            raise GraphError(f"the nodes form a cycle: {exc}", where=first.where,
                             hint="remove one of these dependencies") from None
        return Graph(nodes, dag)

    def node(self, key: str, pipeline: str, node: NodeConfig) -> ResolvedNode:
        w = self.where(node, pipeline=pipeline)
        source = self.source(node, pipeline) if node.read else None
        target = self.target(node, pipeline) if node.write else None
        inputs: dict[str, str] = {}
        for alias, ref in node.inputs.items():
            got = self.resolve(ref, pipeline, self.where(node, "inputs", alias,
                                                         pipeline=pipeline), "input node")
            if got:
                inputs[alias] = got
        deps = set()
        for i, ref in enumerate(node.depends_on):
            got = self.resolve(ref, pipeline, self.where(node, "depends_on", i,
                                                         pipeline=pipeline), "node")
            if got:
                deps.add(got)
        df_from = None
        if source is None and node.depends_on:
            df_from = self.resolve(node.depends_on[0], pipeline, w, "node")
        if source is None and df_from is None and not node.steps:
            raise ConfigError("the node has nothing to do: no `read`, no `depends_on` and "
                              "no transform steps", where=w)
        steps = [self.step(node, pipeline, i, s, inputs) for i, s in enumerate(node.steps)]
        data_deps = set(inputs.values()) | {k for s in steps for k in s.refs.values()
                                            if k in self.by_key}
        if df_from:
            data_deps.add(df_from)
        data_deps.discard(key)
        return ResolvedNode(key, pipeline, node.name, node, w, source, target, steps, inputs,
                            df_from, data_deps, deps - data_deps)

    def step(self, node: NodeConfig, pipeline: str, i: int, cfg: StepConfig,
             inputs: dict[str, str]) -> Step:
        label = f"transform.steps[{i}] ({cfg.kind})"
        w = self.where(node, "transform", "steps", i, pipeline=pipeline, step=label)
        if cfg.transformer:
            from lakestory.config.errors import not_supported

            raise not_supported("transformer", "built-in transformers", w)
        if cfg.function:
            pysteps.locate_function(cfg.function, cfg.params, w)
            return Step(i, "function", cfg.function, w, params=dict(cfg.params))
        text = cfg.sql or self.sql_file(cfg.sql_file or "", w)
        try:
            table_refs = self.sql.refs(text)
        except LakestoryError as exc:
            raise exc.located(**{k: v for k, v in w.to_dict().items()
                                 if k not in ("line", "column")}) from None
        refs: dict[tuple[str | None, str], str] = {}
        for ref in table_refs:
            if ref.qualifier is None and (ref.name.lower() == "df" or ref.name in inputs):
                refs[(None, ref.name)] = "df" if ref.name.lower() == "df" else inputs[ref.name]
                continue
            dotted = f"{ref.qualifier}.{ref.name}" if ref.qualifier else ref.name
            where = Where(**{**w.to_dict(), "step": f"{label}, SQL line {ref.line}"})
            got = self.resolve(dotted, pipeline, where, "table or node")
            if got:
                refs[(ref.qualifier, ref.name)] = got
        return Step(i, "sql", text, w, refs=refs)

    def sql_file(self, path: str, where: Where) -> str:
        full = self.root / path
        try:
            return full.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read sql_file '{path}': {exc.strerror}",
                              where=where) from None

    def location(self, node: NodeConfig, pipeline: str, section: str, conn: str,
                 path: str) -> Location:
        connections = self.cfg.connections
        if conn not in connections:
            raise ConfigError(f"unknown connection '{conn}'",
                              where=self.where(node, section, "connection", pipeline=pipeline),
                              hint=suggestion(conn, connections) or (
                                  f"defined connections: {', '.join(connections) or 'none'}"))
        c = connections[conn]
        if isinstance(c, LocalConnection):
            return local.location(conn, c.base_path, self.root, path)
        return Location(connection=conn, kind=c.type, uri=path, path=path)

    def source(self, node: NodeConfig, pipeline: str) -> Source | None:
        r = node.read
        assert r is not None
        w = self.where(node, "read", pipeline=pipeline)
        loc = self.location(node, pipeline, "read", r.connection, r.path or r.table or "")
        opts = formats.normalize_options(str(r.format), r.options, write=False,
                                         where=self.where(node, "read", "options",
                                                          pipeline=pipeline))
        del w
        return Source(loc, str(r.format or "table"), opts, r.column_types, r.version)

    def target(self, node: NodeConfig, pipeline: str) -> Target | None:
        wc = node.write
        assert wc is not None
        loc = self.location(node, pipeline, "write", wc.connection, wc.path or wc.table or "")
        opts = formats.normalize_options(str(wc.format), wc.options, write=True,
                                         where=self.where(node, "write", "options",
                                                          pipeline=pipeline))
        return Target(loc, str(wc.format), wc.mode, tuple(wc.partition_by), tuple(wc.keys), opts)

    def table_edges(self, nodes: dict[str, ResolvedNode]) -> None:
        writers: dict[tuple[str, str], str] = {}
        for key, rn in nodes.items():
            if rn.target:
                writers.setdefault(rn.target.location.key, key)
        for key, rn in nodes.items():
            if rn.source and rn.source.location.key in writers:
                writer = writers[rn.source.location.key]
                if writer != key:
                    rn.order_deps.add(writer)


def build_graph(loaded: LoadedConfig, sql: SqlCache | None = None) -> Graph:
    return _Builder(loaded, sql or SqlCache(None)).build()
