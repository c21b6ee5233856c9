"""Run one node: read → transform steps → write, filling in its record."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakestory.core.errors import LakestoryError, SqlError, Where
from lakestory.engines.base import Engine, Frame
from lakestory.runtime.graph import Step
from lakestory.runtime.plan import PlannedNode
from lakestory.runtime.records import NodeRecord
from lakestory.transforms import python as pysteps
from lakestory.transforms.sqlcache import SqlCache
from lakestory.writes import strategy

log = logging.getLogger(__name__)


@dataclass
class NodeRun:
    """The work of one node; ``local`` frames are released when it ends."""

    planned: PlannedNode
    engine: Engine
    upstream: Mapping[str, Frame]  # persisted outputs of upstream nodes in this run
    record: NodeRecord
    sql: SqlCache
    root: Path | None = None  # the project folder, where function steps' modules live
    local: list[Frame] = field(default_factory=list)

    def run(self) -> Frame | None:
        """Returns the persisted output when other nodes consume it."""
        try:
            return self._run()
        finally:
            self._release_local()

    def _release_local(self) -> None:
        """Release every node-local frame; a failure here must not hide the node's outcome."""
        for frame in reversed(self.local):
            try:
                self.engine.release(frame)
            except Exception as exc:  # noqa: BLE001 - cleanup only: log it and carry on
                log.warning("could not release %s: %s", frame.name, exc)

    def _run(self) -> Frame | None:
        node, engine, rec = self.planned.node, self.engine, self.record
        inputs = {key: self._input(key) for key in node.data_deps}
        df: Frame | None = None
        if node.source is not None:
            df, rec.rows_read = engine.read(node.source, f"{node.key}:read")
            self.local.append(df)
        elif node.df_from:
            df = inputs[node.df_from]
        for step in node.steps:
            df = self._step(step, df, inputs)
            self.local.append(df)
        assert df is not None
        rec.schema = [{"name": c.name, "type": c.type} for c in engine.schema(df)]
        output: Frame | None = None
        if self.planned.consumers:
            output = engine.persist(df, f"{node.key}:out")
            rec.rows_out = engine.count(output)
        if node.target is not None:
            st = strategy(node.target.mode)
            assert st is not None
            outcome = st.write(engine, output or df, node.target)
            rec.rows_written, rec.table_version = outcome.rows_written, outcome.version
            if rec.rows_out is None:
                rec.rows_out = outcome.rows_written
        if rec.rows_out is None:
            rec.rows_out = engine.count(df)
        return output

    def _name(self, step: Step) -> str:
        return f"{self.planned.key}:step{step.index}"

    def _input(self, key: str) -> Frame:
        if key in self.upstream:
            return self.upstream[key]
        frame, _ = self.engine.read(self.planned.from_tables[key], f"{self.planned.key}:in:{key}")
        self.local.append(frame)
        return frame

    def _step(self, step: Step, df: Frame | None, inputs: dict[str, Frame]) -> Frame:
        if step.kind == "function":
            assert df is not None
            fn = pysteps.resolve_function(step.text, step.where, self.root)
            pysteps.check_params(fn, step.params, step.where)
            try:
                return self.engine.call(fn, df, step.params, self._name(step))
            except LakestoryError as exc:
                raise exc.located(**step.where.to_dict()) from None
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - user code, even sys.exit(): report it
                raise pysteps.user_error(exc, step.text).located(**step.where.to_dict()) from None
        self.record.sql.append(step.text)
        tables = {ref: inputs[target].name for ref, target in step.refs.items() if target in inputs}
        if df is not None:  # a step reading `df` always has one: the graph checks it
            tables.update({ref: df.name for ref, target in step.refs.items() if target == "df"})
        query = self.sql.translate(step.text, tables, self.engine.capabilities.sql_dialect)
        try:
            return self.engine.sql(query, self._name(step))
        except SqlError as exc:
            raise _sql_located(exc, step) from None


def _sql_located(exc: SqlError, step: Step) -> SqlError:
    """Point a SQL error at the line of the user's SQL that names the culprit."""
    line = None
    for name in re.findall(r'"([^"]+)"', exc.what):
        for i, text in enumerate(step.text.splitlines(), 1):
            if re.search(rf"\b{re.escape(name)}\b", text, re.I):
                line = i
                break
        if line:
            break
    label = step.where.step or ""
    where = Where(
        **{**step.where.to_dict(), "step": f"{label}, SQL line {line}" if line else label}
    )
    numbered = "\n".join(f"  {i:>3} | {t}" for i, t in enumerate(step.text.splitlines(), 1))
    return SqlError(
        exc.what,
        where=where,
        detail=numbered,
        hint=exc.hint or "fix the SQL in this step; it is Spark SQL",
    )
