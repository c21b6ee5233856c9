"""Resolve a project's nodes into one DAG across all pipelines.

Edges come from explicit ``depends_on``, ``inputs`` aliases, node names referenced in SQL
steps, and a node reading a table that another node writes (the same resolved path, or
files inside it).
A bare name resolves in the node's own pipeline first, then across pipelines when
unambiguous; ``pipeline.node`` always works.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lakestory.config.loader import LoadedConfig, node_where
from lakestory.config.models import (
    AzureConnection,
    LocalConnection,
    NodeConfig,
    PatternConfig,
    PostgresConnection,
    ProjectConfig,
    S3Connection,
    SqlConnection,
    StepConfig,
    WriteConfig,
)
from lakestory.config.yamlpos import SourceMap
from lakestory.core.dag import DAG, CycleError
from lakestory.core.errors import (
    ConfigError,
    ErrorList,
    GraphError,
    InvalidSql,
    SqlError,
    Where,
)
from lakestory.core.text import suggestion
from lakestory.io import databases, formats, local, stores
from lakestory.io.specs import Location, Source, Target
from lakestory.quality import Check, Suite
from lakestory.runtime.suites import node_suites
from lakestory.transforms import patterns as pt
from lakestory.transforms import python as pysteps
from lakestory.transforms import transformers as tf
from lakestory.transforms.sensitivity import Sensitive, names, through_steps
from lakestory.transforms.sqlcache import SqlCache


@dataclass
class Step:
    index: int
    kind: str  # "sql" | "function" | "transformer" (SQL built from df's columns at run time)
    text: str  # the SQL as written, the function's dotted name, or what the transformer is
    where: Where
    refs: dict[tuple[str | None, str], str] = field(default_factory=dict)  # -> node key/alias
    params: dict[str, Any] = field(default_factory=dict)
    # a "transformer" step's builder: df's column names -> its Spark SQL over df
    build: Callable[[list[str]], str] | None = None


@dataclass
class ResolvedPattern:
    """A node's ``pattern:``, checked: its spec, validated params and the tables it looks
    up (alias -> the looked-up node's key, its table, and that node's own pattern)."""

    spec: pt.Pattern
    params: Any  # the spec's params model, validated
    where: Where
    lookups: dict[str, tuple[str, Source, PatternConfig | None]] = field(default_factory=dict)
    # the depends_on node whose output is the pattern's data, when that node reads
    # incrementally (its output in a run is its new rows only)
    batch_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.spec.name,
            "params": self.params.model_dump(mode="json", exclude_defaults=True),
            "lookups": {a: key for a, (key, _, _) in self.lookups.items()},
        }


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
    depends_on: set[str] = field(default_factory=set)  # the resolved `depends_on:` entries
    write_where: Where | None = None  # the node's `write:` section
    contracts: Suite | None = None  # data-quality tests on the input, before the steps
    validation: Suite | None = None  # data-quality tests on the output, before the write
    # sensitive columns (lower case) of `df` before the steps and of the output after them,
    # see lakestory.transforms.lineage; None: every column (`sensitive: true`, or unknown)
    sensitive_in: Sensitive = frozenset()
    sensitive_out: Sensitive = frozenset()
    pattern: ResolvedPattern | None = None

    @property
    def config_hash(self) -> str:
        """A digest of the node's config and the SQL it runs: a rerun is due when it changes.
        How it is run (retry, timeout, log level) does not change what it writes."""
        config = self.config.model_dump(mode="json", by_alias=True, exclude=_OPERATIONAL)
        text = json.dumps(
            [config, [s.text for s in self.steps]],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_OPERATIONAL = {"retry", "timeout", "log_level"}


@dataclass
class Graph:
    nodes: dict[str, ResolvedNode]
    dag: DAG[str]


_NO_DATA_HINT = "add a `read:`, or a `depends_on:` whose output becomes df"


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
        return node_where(self.smap, node, *sub, pipeline=pipeline or None, step=step or None)

    def resolve(
        self, ref: str, pipeline: str, where: Where, what: str, also: tuple[str, ...] = ()
    ) -> str | None:
        """A node key for ``ref``; ``also`` are other names valid here (for did-you-mean)."""
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
                self.errors.add(
                    GraphError(
                        f"{what} '{ref}' is ambiguous: {', '.join(found)}",
                        where=where,
                        hint="qualify it with its pipeline: " + " or ".join(found),
                    )
                )
                return None
        self.errors.add(
            GraphError(
                f"unknown {what} '{ref}'",
                where=where,
                hint=suggestion(ref, [*also, *self.by_name, *self.by_key]),
            )
        )
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
            order = dag.order()
        except CycleError as exc:
            cycle = [str(k) for k in exc.cycle]
            why = [
                f"{down} {_edge_reason(nodes[down], up)}" for up, down in itertools.pairwise(cycle)
            ]
            raise GraphError(
                f"the nodes form a cycle: {exc}",
                where=nodes[cycle[0]].where,
                detail="\n".join(why),
                hint="remove one of these dependencies",
            ) from None
        _sensitivity(nodes, order, self.sql)
        return Graph(nodes, dag)

    def node(self, key: str, pipeline: str, node: NodeConfig) -> ResolvedNode:
        w = self.where(node, pipeline=pipeline)
        spec, params = self.pattern_spec(node, pipeline) if node.pattern else (None, None)
        if spec is not None and spec.write is not None:
            node = self.pattern_write(node, pipeline, spec, params)
        source = self.source(node, pipeline) if node.read else None
        target = self.target(node, pipeline) if node.write else None
        inputs: dict[str, str] = {}
        for alias, ref in node.inputs.items():
            got = self.resolve(
                ref, pipeline, self.where(node, "inputs", alias, pipeline=pipeline), "input node"
            )
            if got:
                inputs[alias] = got
        resolved = [
            self.resolve(
                ref, pipeline, self.where(node, "depends_on", i, pipeline=pipeline), "node"
            )
            for i, ref in enumerate(node.depends_on)
        ]
        deps = {k for k in resolved if k}
        df_from = resolved[0] if source is None and resolved else None
        makes_rows = spec is not None and self.pattern_input(node, pipeline, spec, source)
        if source is None and not node.depends_on and not node.steps and not makes_rows:
            raise ConfigError(
                "the node has nothing to do: no `read`, no `depends_on` and no transform steps",
                where=w,
            )
        # a depends_on that failed to resolve is already reported: do not add "no data" to it
        has_data = source is not None or bool(node.depends_on)
        steps = [
            self.step(node, pipeline, i, s, inputs, has_data or i > 0)
            for i, s in enumerate(node.steps)
        ]
        contracts, validation = node_suites(self, key, pipeline, node)
        resolved_pattern = None
        if spec is not None:
            resolved_pattern = self.pattern_lookups(node, key, pipeline, spec, params)
            up = self.by_key[df_from][1] if df_from else None
            if up is not None and up.read is not None and up.read.incremental is not None:
                resolved_pattern.batch_of = df_from
            deps |= {k for k, _, _ in resolved_pattern.lookups.values()}
            validation = self.pattern_tests(node, pipeline, resolved_pattern, validation)
        data_deps = set(inputs.values()) | {
            k for s in steps for k in s.refs.values() if k in self.by_key
        }
        for suite in (contracts, validation):
            data_deps |= suite.refs if suite else set()
        if df_from:
            data_deps.add(df_from)
        data_deps.discard(key)
        return ResolvedNode(
            key,
            pipeline,
            node.name,
            node,
            w,
            source,
            target,
            steps,
            inputs,
            df_from,
            data_deps,
            deps - data_deps,
            deps,
            self.where(node, "write", pipeline=pipeline) if node.write else None,
            contracts,
            validation,
            pattern=resolved_pattern,
        )

    def pattern_spec(self, node: NodeConfig, pipeline: str) -> tuple[pt.Pattern, Any]:
        """The node's pattern and its validated params."""
        cfg = node.pattern
        assert cfg is not None
        registry = pt.load_builtins()
        spec = registry.get(cfg.type)
        if spec is None:
            raise ConfigError(
                f"unknown pattern '{cfg.type}'",
                where=self.where(node, "pattern", "type", pipeline=pipeline),
                hint=suggestion(cfg.type, registry)
                or f"patterns: {', '.join(sorted(registry))} (see `lakestory list patterns`)",
            )
        try:
            return spec, spec.validate(cfg.params)
        except ValidationError as exc:
            what, key, hint = tf.describe_error(exc, spec.params)
            at = ("params", key) if key and key in cfg.params else ("params",)
            explain = f"see `lakestory explain {spec.name}` for its params and an example"
            raise ConfigError(
                f"pattern '{spec.name}': params.{what}",
                where=self.where(node, "pattern", *at, pipeline=pipeline),
                hint=f"{hint}; {explain}" if hint else explain,
            ) from None

    def pattern_input(
        self, node: NodeConfig, pipeline: str, spec: pt.Pattern, source: Source | None
    ) -> bool:
        """Whether the pattern makes its own rows; either way the node's input must fit."""
        has_input = source is not None or bool(node.depends_on)
        if spec.needs_input and not has_input:
            raise ConfigError(
                f"the {spec.name} pattern needs data, but this node has none",
                where=self.where(node, "pattern", pipeline=pipeline),
                hint=_NO_DATA_HINT,
            )
        if not spec.needs_input and (has_input or node.steps):
            raise ConfigError(
                f"the {spec.name} pattern makes its own rows: it takes no `read`, "
                "`depends_on` or transform steps",
                where=self.where(node, "pattern", pipeline=pipeline),
                hint="remove them, or put the steps in a node that reads this one",
            )
        return not spec.needs_input

    def pattern_write(
        self, node: NodeConfig, pipeline: str, spec: pt.Pattern, params: Any
    ) -> NodeConfig:
        """The node with the write settings its pattern needs (mode, keys ...). A setting
        the user wrote differently is an error rather than silently replaced."""
        assert spec.write is not None
        if node.write is None:
            raise ConfigError(
                f"the {spec.name} pattern keeps a table: the node needs a `write:`",
                where=self.where(node, "pattern", pipeline=pipeline),
                hint="add `write: {connection: ..., path: ...}` (a Delta table)",
            )
        fields = spec.write(params)
        given = node.write.model_dump(exclude_unset=True)
        for name, value in fields.items():
            if name in given and given[name] != value:
                raise ConfigError(
                    f"the {spec.name} pattern writes with {name}: {value!r}, not {given[name]!r}",
                    where=self.where(node, "write", name, pipeline=pipeline),
                    hint=f"remove `write.{name}`: the pattern sets it",
                )
        try:
            write = WriteConfig.model_validate({**given, **fields})
        except ValidationError as exc:
            raise ConfigError(
                f"the {spec.name} pattern cannot write this table: "
                + exc.errors()[0]["msg"].removeprefix("Value error, "),
                where=self.where(node, "write", pipeline=pipeline),
                hint="patterns keep Delta tables (format: delta)",
            ) from None
        if write.table or write.format != "delta":
            raise ConfigError(
                f"the {spec.name} pattern keeps a Delta table, not "
                + (f"the database table '{write.table}'" if write.table else f"{write.format}"),
                where=self.where(node, "write", pipeline=pipeline),
                hint="write it to a `path` with format: delta; a later node can copy it to a "
                "database",
            )
        copy = node.model_copy(update={"write": write})
        copy._key_path = node._key_path
        return copy

    def pattern_lookups(
        self, node: NodeConfig, key: str, pipeline: str, spec: pt.Pattern, params: Any
    ) -> ResolvedPattern:
        where = self.where(node, "pattern", pipeline=pipeline)
        found = ResolvedPattern(spec, params, where)
        for alias, ref in (spec.lookups(params) if spec.lookups else {}).items():
            got = self.resolve(ref, pipeline, where, f"node looked up by the {spec.name} pattern")
            if got is None:
                continue
            other_pipeline, other = self.by_key[got]
            if got == key or other.write is None:
                raise ConfigError(
                    f"the {spec.name} pattern looks up '{ref}', which "
                    + ("is this node" if got == key else "writes no table"),
                    where=where,
                    hint="name a node that writes the table to look up (e.g. a dimension)",
                )
            target = self.target(other, other_pipeline)
            assert target is not None
            source = Source(target.location, target.format)
            found.lookups[alias] = (got, source, other.pattern)
        return found

    def pattern_tests(
        self,
        node: NodeConfig,
        pipeline: str,
        resolved: ResolvedPattern,
        validation: Suite | None,
    ) -> Suite | None:
        """The node's validation suite with the tests its pattern adds (e.g. a fact's
        grain), located at the pattern."""
        from pydantic import TypeAdapter

        from lakestory.config.models.quality import TestConfig

        spec, where = resolved.spec, resolved.where
        looked_up = {
            alias: (cfg.type, dict(cfg.params)) if cfg is not None else None
            for alias, (_, _, cfg) in resolved.lookups.items()
        }
        try:
            tests = spec.tests(resolved.params, looked_up) if spec.tests else []
        except ValueError as exc:
            raise ConfigError(f"pattern '{spec.name}': {exc}", where=where) from None
        if not tests:
            return validation
        adapter: TypeAdapter[Any] = TypeAdapter(TestConfig)
        checks = tuple(
            Check(t.label, t, where) for t in (adapter.validate_python(d) for d in tests)
        )
        if validation is None:
            validation = Suite("validation", (), where)
        if any(c.test.on_fail == "quarantine" for c in checks) and validation.quarantine is None:
            raise ConfigError(
                f"the {spec.name} pattern quarantines rows, but `validation.quarantine` is not set",
                where=where,
                hint="add `validation: {quarantine: {connection: ..., path: ...}}` to the node",
            )
        return replace(validation, checks=validation.checks + checks)

    def step_path(self, node: NodeConfig, i: int) -> tuple[str | int, ...]:
        """The YAML path of step ``i``: ``transform.steps[i]``, or ``transform[i]`` when the
        file lists the steps directly under ``transform:``."""
        if (*node._key_path, "transform", i) in self.smap.positions:
            return ("transform", i)
        return ("transform", "steps", i)

    def step(
        self,
        node: NodeConfig,
        pipeline: str,
        i: int,
        cfg: StepConfig,
        inputs: dict[str, str],
        has_data: bool = True,
    ) -> Step:
        """``has_data``: whether the step gets a ``df`` (a read, a depends_on or a step)."""
        sub = self.step_path(node, i)
        label = f"{'.'.join(map(str, sub[:-1]))}[{i}] ({cfg.kind})"
        w = self.where(node, *sub, pipeline=pipeline, step=label)
        if cfg.function:
            if not has_data:
                raise ConfigError(
                    "a function step needs data, but this node has none before it",
                    where=w,
                    hint=_NO_DATA_HINT,
                )
            pysteps.locate_function(cfg.function, cfg.params, w, self.root)
            return Step(i, "function", cfg.function, w, params=dict(cfg.params))
        if cfg.transformer and not has_data:
            raise ConfigError(
                "a transformer step needs data, but this node has none before it",
                where=w,
                hint=_NO_DATA_HINT,
            )
        if cfg.transformer:
            built = self.transformer_sql(node, sub, cfg, pipeline, label)
            if not isinstance(built, str):  # it needs df's columns: built when the node runs
                about = json.dumps(cfg.params, sort_keys=True, default=str)
                text = f"-- transformer {cfg.transformer} {about}: built from df's columns"
                return Step(i, "transformer", text, w, refs={(None, "df"): "df"}, build=built)
            text = built
        else:
            text = cfg.sql or self.sql_file(cfg.sql_file or "", w)
        try:
            table_refs = self.sql.refs(text)
        except SqlError as exc:  # found before anything runs: a config error (exit 2)
            if cfg.transformer:
                raise ConfigError(
                    f"transformer '{cfg.transformer}' built invalid Spark SQL: {exc.what}",
                    where=self.where(node, *sub, "params", pipeline=pipeline, step=label),
                    hint="check the SQL expressions and conditions in its params",
                    detail=text,
                ) from None
            line, column = exc.where.line or 1, exc.where.column or 1
            raise InvalidSql(
                exc.what,
                where=self.sql_where(node, sub, cfg, w, line, column),
                hint=exc.hint,
                detail=exc.detail,
            ) from None
        refs: dict[tuple[str | None, str], str] = {}
        for ref in table_refs:
            if ref.qualifier is None and ref.name.lower() == "df" and not has_data:
                raise ConfigError(
                    "the SQL reads `df`, but this node has no data yet",
                    where=self.sql_where(node, sub, cfg, w, ref.line, ref.column),
                    hint=_NO_DATA_HINT,
                )
            if ref.qualifier is None and (ref.name.lower() == "df" or ref.name in inputs):
                refs[(None, ref.name)] = "df" if ref.name.lower() == "df" else inputs[ref.name]
                continue
            dotted = f"{ref.qualifier}.{ref.name}" if ref.qualifier else ref.name
            where = self.sql_where(node, sub, cfg, w, ref.line, ref.column)
            got = self.resolve(dotted, pipeline, where, "table or node", ("df", *inputs))
            if got:
                refs[(ref.qualifier, ref.name)] = got
        return Step(i, "sql", text, w, refs=refs)

    def transformer_sql(
        self,
        node: NodeConfig,
        sub: tuple[str | int, ...],
        cfg: StepConfig,
        pipeline: str,
        label: str,
    ) -> str | Callable[[list[str]], str]:
        """The Spark SQL a transformer step builds from its params (validated here), or,
        when it needs df's columns, the function that builds it from them."""
        name = cfg.transformer or ""
        w = self.where(node, *sub, "transformer", pipeline=pipeline, step=label)
        spec = tf.REGISTRY.get(name)
        if spec is None and "." in name:
            spec = tf.spec_of(pysteps.resolve_function(name, w, self.root))
            if spec is None:
                raise ConfigError(
                    f"'{name}' is not a transformer",
                    where=w,
                    hint="decorate it with @transformer from lakestory.transforms.transformers",
                )
        if spec is None:
            raise ConfigError(
                f"unknown transformer '{name}'",
                where=w,
                hint=suggestion(name, tf.REGISTRY)
                or "see `lakestory list transformers`; your own are named module.function",
            )
        try:
            params = spec.validate(dict(cfg.params))
            if spec.columns is not None:  # built from df's columns when the node runs
                return partial(spec.build_for, params)
            return spec.build_for(params)
        except ValidationError as exc:
            what, key, hint = tf.describe_error(exc, spec.params)
            at = ("params", key) if key and key in cfg.params else ("params",)
            explain = (
                f"see `lakestory explain {name}` for its params and an example"
                if name in tf.REGISTRY
                else f"its params are checked by {spec.params.__name__} in {name}'s module"
            )
            raise ConfigError(
                f"transformer '{name}': params.{what}",
                where=self.where(node, *sub, *at, pipeline=pipeline, step=label),
                hint=f"{hint}; {explain}" if hint else explain,
            ) from None

    def sql_where(
        self,
        node: NodeConfig,
        sub: tuple[str | int, ...],
        cfg: StepConfig,
        w: Where,
        line: int,
        column: int,
    ) -> Where:
        """Point at ``line``:``column`` of a step's SQL: in the .sql file, or in the project
        file where the YAML keeps the SQL's lines as written (a ``|`` block, one line)."""
        fields = {**w.to_dict(), "step": f"{w.step}, SQL line {line}"}
        if cfg.sql_file:
            base = Path(self.smap.file).parent if w.file else self.root
            fields.update(file=str(base / cfg.sql_file), line=line, column=column)
        elif node._key_path:
            pos = self.smap.text_position((*node._key_path, *sub, "sql"), line, column)
            if pos is not None:
                fields.update(line=pos[0], column=pos[1])
        return Where(**fields)

    def sql_file(self, path: str, where: Where) -> str:
        full = self.root / path
        try:
            return full.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read sql_file '{path}': {exc.strerror}", where=where
            ) from None

    def location(
        self,
        node: NodeConfig,
        pipeline: str,
        section: str | tuple[str, ...],
        conn: str,
        path: str,
        query: bool = False,
    ) -> Location:
        connections = self.cfg.connections
        if conn not in connections:
            sub = (section,) if isinstance(section, str) else section
            raise ConfigError(
                f"unknown connection '{conn}'",
                where=self.where(node, *sub, "connection", pipeline=pipeline),
                hint=suggestion(conn, connections)
                or (f"defined connections: {', '.join(connections) or 'none'}"),
            )
        c = connections[conn]
        if isinstance(c, LocalConnection):
            return local.location(conn, c.base_path, self.root, path)
        if isinstance(c, S3Connection | AzureConnection):
            sub = (section,) if isinstance(section, str) else section
            where = self.where(node, *sub, "path", pipeline=pipeline)
            return stores.location(conn, c, path, where)
        if isinstance(c, PostgresConnection | SqlConnection):
            return databases.location(conn, c, path, query=query)
        return Location(connection=conn, kind=c.type, uri=path, path=path)

    def source(self, node: NodeConfig, pipeline: str) -> Source | None:
        r = node.read
        assert r is not None
        path = r.path or r.table or r.query or ""
        loc = self.location(node, pipeline, "read", r.connection, path, query=bool(r.query))
        opts = formats.normalize_options(
            str(r.format),
            r.options,
            write=False,
            where=self.where(node, "read", "options", pipeline=pipeline),
        )
        fmt = r.format or ("query" if r.query else "table")
        return Source(loc, fmt, opts, r.column_types, r.version)

    def target(self, node: NodeConfig, pipeline: str) -> Target | None:
        wc = node.write
        assert wc is not None
        loc = self.location(node, pipeline, "write", wc.connection, wc.path or wc.table or "")
        opts = formats.normalize_options(
            str(wc.format),
            wc.options,
            write=True,
            where=self.where(node, "write", "options", pipeline=pipeline),
        )
        fmt = wc.format or "table"
        return Target(loc, fmt, wc.mode, tuple(wc.partition_by), tuple(wc.keys), opts)

    def table_edges(self, nodes: dict[str, ResolvedNode]) -> None:
        """A node that reads a table another node writes (or files inside it) runs after it."""
        writers = [(key, rn.target.location.key) for key, rn in nodes.items() if rn.target]
        self.shared_targets(nodes)
        for key, rn in nodes.items():
            if rn.source is None:
                continue
            for writer, target in writers:
                if writer != key and _reads_within(rn.source.location.key, target):
                    rn.order_deps.add(writer)

    def shared_targets(self, nodes: dict[str, ResolvedNode]) -> None:
        """Several nodes may append to one table (one after another, in file order);
        a node that overwrites a table must be its only writer, or rows would be lost."""
        by_table: dict[tuple[str, str], list[tuple[str, Target]]] = {}
        for key, rn in nodes.items():
            if rn.target is not None:
                by_table.setdefault(rn.target.location.key, []).append((key, rn.target))
        for table, writers in by_table.items():
            # appenders that also read the table go last: they run after its other writers
            writers.sort(key=lambda kt: _reads_table(nodes[kt[0]], table))
            replacing = [(k, t) for k, t in writers if t.mode != "append"]
            if len(writers) > 1 and replacing:
                key, target = replacing[0]
                others = ", ".join(k for k, _ in writers if k != key)
                raise GraphError(
                    f"{key} writes {target.location.display()} with mode {target.mode}, which "
                    f"{others} also writes: one would replace the other's rows",
                    where=nodes[key].where,
                    hint="give each node its own table, or have all of them use mode: append",
                )
            for (before, _), (after, _) in itertools.pairwise(writers):
                nodes[after].order_deps.add(before)  # appends commit one at a time


def _reads_table(node: ResolvedNode, table: tuple[str, str]) -> bool:
    return node.source is not None and _reads_within(node.source.location.key, table)


def _reads_within(source: tuple[str, str], target: tuple[str, str]) -> bool:
    """Whether reading ``source`` reads (part of) the table at ``target``: the same path, a
    file or folder inside it, or a glob such as ``out/sales/*.parquet`` within it."""
    (kind, path), (target_kind, table) = source, target
    if kind != target_kind:
        return False
    path, table = path.replace(os.sep, "/"), table.replace(os.sep, "/")
    parts = path.split("/")
    wild = next((i for i, p in enumerate(parts) if any(ch in p for ch in "*?[")), len(parts))
    base = "/".join(parts[:wild])
    return base == table or base.startswith(table + "/")


def _sensitivity(nodes: dict[str, ResolvedNode], order: list[str], sql: SqlCache) -> None:
    """Which columns of each node's input and output are sensitive: its own ``sensitive:``
    columns, those of the node whose output is its ``df``, and the columns its SQL steps
    derive from them or from sensitive columns of other nodes they read (column lineage)."""
    for key in order:
        rn = nodes[key]
        own = names(rn.config.sensitive)
        up = nodes[rn.df_from].sensitive_out if rn.df_from in nodes else frozenset()
        rn.sensitive_in = None if own is None or up is None else own | up
        tables: dict[str, Sensitive] = {}
        for step in rn.steps:
            for (qualifier, name), target in step.refs.items():
                if target in nodes and target != key:
                    dotted = f"{qualifier}.{name}" if qualifier else name
                    tables[dotted.lower()] = nodes[target].sensitive_out
        out = rn.sensitive_in
        for s in rn.steps:
            if s.build is not None:  # SQL built when the node runs: not traced, so anything
                out = out if out is not None and not out else None  # sensitive taints all
            else:
                out = through_steps([(s.kind, s.text)], out, tables, sql.sensitive_outputs)
        if rn.pattern is not None and rn.pattern.spec.lineage is not None:
            # a pattern's computed columns (an aggregate's or a fact's measures)
            derived = rn.pattern.spec.lineage(rn.pattern.params)
            out = through_steps([("sql", derived)], out, {}, sql.sensitive_outputs)
        # columns that keep a sensitive name stay sensitive
        rn.sensitive_out = None if out is None or own is None else out | own


def _edge_reason(node: ResolvedNode, up: str) -> str:
    """Why ``node`` depends on ``up``, for cycle messages."""
    if any(up in step.refs.values() for step in node.steps):
        return f"reads {up} in its SQL"
    if up in node.inputs.values():
        return f"takes {up} as an input"
    if up == node.df_from or up in node.depends_on:
        return f"depends_on {up}"
    return f"reads the table {up} writes"


def build_graph(loaded: LoadedConfig, sql: SqlCache | None = None) -> Graph:
    return _Builder(loaded, sql or SqlCache(None)).build()
