"""The runtime's side of a node's ``pattern:``: the :class:`PatternContext` a pattern
composes its SQL through (see :mod:`lakestory.transforms.patterns`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from lakestory import quality
from lakestory.config.models import IncrementalConfig
from lakestory.config.models.quality import UniqueTest
from lakestory.core.errors import DataError, LakestoryError, SqlError
from lakestory.engines.base import Frame
from lakestory.io import delta
from lakestory.io.specs import Source
from lakestory.writes import spark
from lakestory.writes.shown import masked

if TYPE_CHECKING:
    from lakestory.runtime.execute import NodeRun
    from lakestory.runtime.graph import ResolvedPattern


class RunPattern:
    """A pattern's view of the node that runs it. Every frame it makes is the node's, and
    is released with the node's other frames."""

    def __init__(self, run: NodeRun, resolved: ResolvedPattern) -> None:
        self._run = run
        self._resolved = resolved
        self._count = 0

    @property
    def node(self) -> str:
        return self._run.planned.key

    @property
    def started(self) -> datetime:
        return self._run.ctx.started

    @property
    def run_id(self) -> str:
        return self._run.ctx.run_id

    def apply(self, df: Frame | None) -> Frame:
        spec = self._resolved.spec
        try:
            return spec.apply(self, self._resolved.params, df)
        except LakestoryError as exc:
            raise exc.located(**self._resolved.where.to_dict()) from None

    def sql(self, text: str, what: str) -> Frame:
        run = self._run
        self._count += 1
        run.record.sql.append(text)
        query = run.sql.translate(text, {}, run.engine.capabilities.sql_dialect)
        run.record.sql_run.append(query)
        try:
            frame = run.engine.sql(query, f"{self.node}:pattern{self._count}:{what}")
        except SqlError as exc:
            raise SqlError(
                f"the {self._resolved.spec.name} pattern's query ({what}) failed: {exc.what}",
                where=self._resolved.where,
                detail=text,
                hint="check the columns and expressions in the pattern's params",
            ) from None
        run.local.append(frame)
        return frame

    def _read(self, source: Source, what: str) -> Frame:
        frame, _ = self._run.engine.read(source, f"{self.node}:pattern:{what}")
        self._run.local.append(frame)
        return frame

    def target(self) -> Frame | None:
        node = self._run.planned.node
        if node.target is None:
            return None
        # a full refresh rebuilds the table, except an scd2 table, which keeps its history
        if node.key in self._run.ctx.full_refresh and node.target.mode != "scd2":
            return None
        if node.target.format != "delta" or not delta.exists(node.target.location.uri):
            return None
        return self._read(Source(node.target.location, "delta"), "target")

    @property
    def incremental(self) -> IncrementalConfig | None:
        node = self._run.planned.node
        if node.source is None or node.config.read is None:
            return None
        if node.key in self._run.ctx.full_refresh:
            return None
        return node.config.read.incremental

    @property
    def batch_of(self) -> str | None:
        up = self._resolved.batch_of
        if up is None or up in self._run.planned.from_tables or up in self._run.ctx.full_refresh:
            return None  # its whole table (read back, or rebuilt in this run)
        return up

    def source(self) -> Frame | None:
        run, node = self._run, self._run.planned.node
        if node.source is None:
            return None
        self._count += 1
        df = self._read(node.source, f"source{self._count}")
        inputs = {key: run._input(key) for key in node.data_deps}
        df = self._contracted(df, inputs)
        for step in node.steps:
            df = run._step(step, df, inputs, f"{self.node}:pattern{self._count}:step{step.index}")
            run.local.append(df)
        return df

    def _contracted(self, df: Frame, inputs: dict[str, Frame]) -> Frame:
        """The rows the node's contracts let through to its steps: those no ``drop`` or
        ``quarantine`` test takes out. Judged quietly (no results, no quarantine: each
        batch was judged and recorded when it was read). A ``unique`` test is left out:
        it judges the rows of one batch, not of the whole source."""
        suite = self._run.planned.node.contracts
        if suite is None:
            return df
        checks = tuple(
            replace(c, test=c.test.model_copy(update={"on_fail": "drop", "threshold": None}))
            for c in suite.checks
            if c.row_level
            and c.test.on_fail in ("drop", "quarantine")
            and not isinstance(c.test, UniqueTest)
        )
        if not checks:
            return df
        run = self._run
        dialect = run.engine.capabilities.sql_dialect
        checker = quality.Checker(
            run.engine,
            lambda text: run.sql.translate(text, {}, dialect),
            f"{self.node}:pattern{self._count}",
            run.ctx.clock,
            run.ctx.run_id,
            True,
            None,
            run.local,
        )
        quiet = replace(suite, checks=checks, quarantine=None, gate=None)
        return checker.evaluate(quiet, df, {k: inputs[k] for k in quiet.refs}).frame

    def lookup(self, alias: str) -> Frame:
        key, source, _ = self._resolved.lookups[alias]
        if source.format == "delta" and not delta.exists(source.location.uri):
            self.fail(
                f"the table of {key} ({source.location.display()}) does not exist yet",
                hint=f"run {key} first (it writes the table this pattern looks up)",
            )
        return self._read(source, f"lookup:{alias}")

    def lookup_pattern(self, alias: str) -> tuple[str, dict[str, Any]] | None:
        cfg = self._resolved.lookups[alias][2]
        return (cfg.type, dict(cfg.params)) if cfg is not None else None

    def columns(self, frame: Frame) -> list[str]:
        return [c.name for c in self._run.engine.schema(frame)]

    def types(self, frame: Frame) -> dict[str, str]:
        schema = self._run.engine.arrow_schema(frame)
        return {f.name: spark.kind_of(f.type) for f in schema}

    def rows(self, frame: Frame, limit: int) -> list[dict[str, Any]]:
        return self._run.engine.rows(frame, limit)

    def count(self, frame: Frame) -> int:
        return self._run.engine.count(frame)

    def shown(self, columns: str | list[str], value: Any) -> str:
        node = self._run.planned.node
        names = [columns] if isinstance(columns, str) else columns
        return masked(value, names, node.sensitive_in, node.sensitive_out)

    def note(self, text: str) -> None:
        rec = self._run.record
        rec.note = f"{rec.note}; {text}" if rec.note else text

    def fail(self, what: str, *, hint: str | None = None, detail: str | None = None) -> NoReturn:
        raise DataError(what, where=self._resolved.where, hint=hint, detail=detail)
