"""Run one node: read → transform steps → write, filling in its record."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lakestory import quality
from lakestory.config.models import IncrementalConfig, SchemaPolicy, WriteConfig
from lakestory.core import cancel, faults
from lakestory.core.errors import DataError, LakestoryError, QualityError, SqlError, Where
from lakestory.core.text import suggestion
from lakestory.engines.base import Engine, Frame
from lakestory.io import delta, maintenance
from lakestory.io.specs import Source, Target, WriteOutcome
from lakestory.runtime import incremental
from lakestory.runtime.events import Event, GateBlocked, RowsQuarantined
from lakestory.runtime.graph import Step
from lakestory.runtime.incremental import RunContext
from lakestory.runtime.patterns import RunPattern
from lakestory.runtime.plan import PlannedNode
from lakestory.runtime.records import NodeRecord
from lakestory.secrets.redact import REDACTED, redact_rows
from lakestory.transforms import python as pysteps
from lakestory.transforms.sqlcache import SqlCache
from lakestory.writes import Append, WriteContext, spark, strategy

log = logging.getLogger(__name__)


@dataclass
class NodeRun:
    """The work of one node; ``local`` frames are released when it ends."""

    planned: PlannedNode
    engine: Engine
    upstream: Mapping[str, Frame]  # persisted outputs of upstream nodes in this run
    record: NodeRecord
    sql: SqlCache
    ctx: RunContext
    root: Path | None = None  # the project folder, where function steps' modules live
    publish: Callable[[Event], None] | None = None  # the run's event bus
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
        inc = node.config.read.incremental if node.config.read else None
        increment = None
        if node.source is not None:
            source = node.source
            if inc is not None:
                increment = incremental.plan_read(
                    source, inc, node.key, self.ctx, engine.capabilities.sql_dialect, node.where
                )
                rec.files = increment.files
                if increment.source is None:  # nothing new: the table stays as it is
                    rec.note, rec.rows_read, rec.rows_out, rec.rows_written = (
                        increment.note,
                        0,
                        0,
                        0,
                    )
                    rec.state = self.ctx.states.get(node.key)
                    if not self.planned.consumers:
                        return None
                    increment = None
                    source = replace(source, filter="1 = 0")  # empty, with the source's columns
                else:
                    source = increment.source
            df, rec.rows_read = engine.read(source, f"{node.key}:read")
            self.local.append(df)
            faults.point("after_read")
            if inc is not None and inc.mode == "column":
                rec.state = self._mark(df, inc)
            elif inc is not None and inc.mode == "files":
                rec.state = {"kind": "files", "files": len(self.ctx.ledgers.get(node.key, ()))}
                rec.state["files"] += len(rec.files)
            if inc is not None and rec.rows_read == 0 and not self.planned.consumers:
                rec.note, rec.rows_out, rec.rows_written = "no new rows since the last run", 0, 0
                return None
        elif node.df_from:
            df = inputs[node.df_from]
        if node.contracts is not None:
            assert df is not None  # the graph refuses contracts on a node without input
            df = self._check(node.contracts, df, inputs).frame
        for step in node.steps:
            cancel.check()
            df = self._step(step, df, inputs)
            self.local.append(df)
        if node.pattern is not None:
            cancel.check()
            df = RunPattern(self, node.pattern).apply(df)
        assert df is not None
        checked = self._check(node.validation, df, inputs) if node.validation else None
        if checked is not None:
            df, rec.rows_out = checked.frame, checked.kept
        rec.schema = [{"name": c.name, "type": c.type} for c in engine.schema(df)]
        output: Frame | None = None
        if self.planned.consumers:
            output = engine.persist(df, f"{node.key}:out")
            rec.rows_out = engine.count(output)
        quarantined = self._quarantine(checked) if checked and checked.quarantine else False
        if node.target is not None:
            try:
                outcome = self._write(output or df, increment)
            except BaseException:
                if quarantined:
                    self._unquarantine()
                raise
            rec.rows_written, rec.table_version = outcome.rows_written, outcome.version
            rec.rows_updated, rec.rows_deleted = outcome.rows_updated, outcome.rows_deleted
            if rec.rows_out is None:
                rec.rows_out = outcome.rows_written
        if rec.rows_out is None:
            rec.rows_out = engine.count(df)
        # after the write: a Python step's stream is read once, by the write, not by this
        sampled = output or self._written(df, lazy=checked is None)
        if sampled is not None:
            self._sample(sampled)
        return output

    def _written(self, df: Frame, lazy: bool) -> Frame | None:
        """Where a sample of the output is cheap to take: the output itself when it was
        computed into a table, else the table just written (a LIMIT over the output's
        query would compute it all again when the query aggregates or joins)."""
        target, version = self.planned.node.target, self.record.table_version
        if not lazy or target is None or target.format not in ("delta", "parquet"):
            return df
        if target.format == "delta" and version is None:
            return df  # nothing was committed (no new rows)
        source = Source(target.location, target.format, version=version)
        try:
            frame, _ = self.engine.read(source, f"{self.planned.key}:written")
        except Exception as exc:  # noqa: BLE001 - the data is committed: no sample, no failure
            log.warning("could not read back %s for a sample: %s", target.location.display(), exc)
            return None
        self.local.append(frame)
        return frame

    def _check(
        self, suite: quality.Suite, df: Frame, inputs: Mapping[str, Frame]
    ) -> quality.Outcome:
        """Run a suite of data-quality tests; the record gets the results either way."""
        rec, node = self.record, self.planned.node
        # failing-row samples: mask the sensitive columns of the data judged
        hidden = node.sensitive_in if suite.phase == "contract" else node.sensitive_out
        checker = quality.Checker(
            self.engine,
            lambda text: self.sql.translate(text, {}, self.engine.capabilities.sql_dialect),
            node.key,
            self.ctx.clock,
            self.ctx.run_id,
            True if hidden is None else sorted(hidden),
            self.ctx.history,
            self.local,
        )
        try:
            out = checker.evaluate(suite, df, {k: inputs[k] for k in suite.refs})
        except QualityError as exc:
            rec.checks += [r.to_dict() for r in exc.results]
            if exc.gate is not None:
                rec.gate = exc.gate
                self._publish(GateBlocked(rec, exc.gate))
            raise
        except LakestoryError as exc:  # the engine could not evaluate a test
            what = "contracts" if suite.phase == "contract" else "validation tests"
            exc.what = f"evaluating the {what}: {exc.what}"
            exc.hint = exc.hint or "check the columns, types and SQL the tests use"
            raise exc.located(**suite.where.to_dict()) from None
        rec.checks += [r.to_dict() for r in out.results]
        if out.dropped:
            rec.rows_dropped = (rec.rows_dropped or 0) + out.dropped
        if suite.phase == "validation":
            rec.rows_checked = out.rows
            if suite.quarantine is not None:
                rec.rows_quarantined = out.quarantined
                rec.quarantine_target = suite.quarantine.location.display()
        if out.gate is not None:
            rec.gate = out.gate.to_dict()
            if out.gate.status == "blocked":
                self._publish(GateBlocked(rec, rec.gate))
        return out

    def _sample(self, frame: Frame) -> None:
        """Keep a few rows of the output in the record (a LIMIT query), with the sensitive
        columns and those derived from them masked; the data itself is not changed."""
        node, rec, limit = self.planned.node, self.record, self.ctx.max_sample_rows
        if limit <= 0:
            return
        hidden = node.sensitive_out
        columns = [c["name"] for c in rec.schema]
        rec.sensitive_columns = [c for c in columns if hidden is None or c.lower() in hidden]
        if node.config.sensitive is True:
            rec.sample = REDACTED
            return
        try:
            rows = self.engine.rows(frame, limit)
        except Exception as exc:  # noqa: BLE001 - a sample is not worth failing the node for
            log.warning("could not take a sample of %s: %s", node.key, exc)
            return
        if not rows and rec.rows_out:
            return  # a stream the write has consumed: no sample rather than a wrong one
        jsonable = [{k: quality._jsonable(v) for k, v in row.items()} for row in rows]
        rec.sample = redact_rows(jsonable, rec.sensitive_columns)

    def _quarantine(self, checked: quality.Outcome) -> bool:
        """Append the rejected rows to the quarantine table (before the node's own write,
        which takes them back out if it fails)."""
        node, rec = self.planned.node, self.record
        suite = node.validation
        assert suite is not None and suite.quarantine is not None and checked.quarantine
        target = suite.quarantine
        cfg = WriteConfig(
            connection=target.location.connection,
            path=target.location.path or target.location.uri,
            mode="append",
            format="delta",
            schema_policy=SchemaPolicy(on_new_columns="evolve", on_missing_columns="fill_null"),
        )
        meta = self.ctx.commit_metadata(node.key, at=self.ctx.started.isoformat(), quarantine=True)
        ctx = WriteContext(
            self.engine, target, cfg, f"{node.key}:quarantine", self.ctx.started, delta.Commit(meta)
        )
        try:
            with _table_lock(target.location.uri):
                written = Append().write(ctx, checked.quarantine)
        except LakestoryError as exc:
            raise exc.located(**suite.where.to_dict()) from None
        finally:
            self.local.extend(ctx.local)
        rec.quarantine_version = written.version
        self._publish(RowsQuarantined(rec, checked.quarantined, target.location.display()))
        return True

    def _unquarantine(self) -> None:
        """The node's write failed: take this run's rows back out of the quarantine table."""
        suite = self.planned.node.validation
        assert suite is not None and suite.quarantine is not None
        predicate = (
            f"`_run_id` = {spark.literal(self.ctx.run_id)} AND "
            f"`_node` = {spark.literal(self.planned.node.key)}"
        )
        try:
            delta.delete(suite.quarantine.location.uri, predicate)
            cancel.undone(suite.quarantine.location.uri)  # a retry may quarantine again
            self.record.rows_quarantined, self.record.quarantine_version = 0, None
        except Exception as exc:  # noqa: BLE001 - the write's own error is the one to report
            log.warning(
                "could not remove run %s's rows from the quarantine table %s: %s",
                self.ctx.run_id,
                suite.quarantine.location.display(),
                exc,
            )

    def _publish(self, event: Event) -> None:
        if self.publish is not None:
            self.publish(event)

    def _write(self, frame: Frame, increment: incremental.Increment | None) -> WriteOutcome:
        node, rec = self.planned.node, self.record
        assert node.target is not None and node.config.write is not None
        rebuild = node.key in self.ctx.full_refresh
        target = node.target
        if rebuild and target.mode != "scd2":
            target = replace(target, mode="overwrite")  # a full refresh replaces the table
        extra: dict[str, Any] = {"at": self.ctx.started.isoformat()}
        if rec.state is not None:
            extra["state"] = rec.state
        if rec.files:
            extra["files"] = [f["file"] for f in rec.files]
        if rebuild:
            extra["full_refresh"] = True
        replace_where = None
        if increment is not None and increment.replace_where and target.mode == "overwrite":
            replace_where = None if rebuild else increment.replace_where
        ctx = WriteContext(
            self.engine,
            target,
            node.config.write,
            node.key,
            self.ctx.started,
            delta.Commit(self.ctx.commit_metadata(node.key, **extra), replace_where=replace_where),
            full_refresh=rebuild,
            sensitive=node.sensitive_out,
        )
        st = strategy(target.mode)
        assert st is not None
        faults.point("before_write")
        cancel.check()
        try:
            outcome = st.write(ctx, frame)
        except LakestoryError as exc:
            raise exc.located(**(node.write_where or node.where).to_dict()) from None
        finally:
            self.local.extend(ctx.local)
        faults.point("after_commit")
        if target.format == "delta":
            self._maintain(target)
        return outcome

    def _maintain(self, target: Target) -> None:
        """Housekeeping after a commit. The data is committed whatever happens here, so a
        failure is a warning in the node's note, never a failed node (a retry would write
        the data again)."""
        cfg, rec = self.planned.node.config.write, self.record
        assert cfg is not None
        try:
            report = maintenance.maintain_after_write(
                target.location.uri, target.location.display(), cfg.maintenance, cfg.properties
            )
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.warning(
                "maintenance of %s failed after the commit: %s", target.location.display(), exc
            )
            rec.note = f"maintenance failed after the commit (the data is written): {exc}"
            return
        if report is not None and report.actions:
            rec.note = f"maintenance: {', '.join(report.actions)}"

    def _mark(self, df: Frame, inc: IncrementalConfig) -> dict[str, Any]:
        """The high-water mark after reading ``df``: the greatest value of the column."""
        node = self.planned.node
        schema = self.engine.arrow_schema(df)
        column = inc.column or ""
        if column not in schema.names:
            raise DataError(
                f"read.incremental.column '{column}' is not a column of the source",
                where=node.where,
                hint=suggestion(column, schema.names) or f"columns: {', '.join(schema.names)}",
            )
        kind = spark.kind_of(schema.field(column).type)
        query = self.sql.translate(
            f"SELECT max({spark.ident(column)}) AS m FROM df",
            {(None, "df"): df.name},
            self.engine.capabilities.sql_dialect,
        )
        top = self.engine.sql(query, f"{node.key}:mark")
        self.local.append(top)
        rows = self.engine.rows(top, 1)
        old = self.ctx.states.get(node.key)
        return incremental.mark_state(inc, rows[0]["m"] if rows else None, kind, old)

    def _name(self, step: Step) -> str:
        return f"{self.planned.key}:step{step.index}"

    def _input(self, key: str) -> Frame:
        if key in self.upstream:
            return self.upstream[key]
        frame, _ = self.engine.read(self.planned.from_tables[key], f"{self.planned.key}:in:{key}")
        self.local.append(frame)
        return frame

    def _step(
        self, step: Step, df: Frame | None, inputs: Mapping[str, Frame], name: str = ""
    ) -> Frame:
        """Run one step; ``name`` names its frame (default: the node's step name)."""
        name = name or self._name(step)
        if step.kind == "function":
            assert df is not None
            fn = pysteps.resolve_function(step.text, step.where, self.root)
            pysteps.check_params(fn, step.params, step.where)
            try:
                return self.engine.call(fn, df, step.params, name)
            except LakestoryError as exc:
                raise exc.located(**step.where.to_dict()) from None
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - user code, even sys.exit(): report it
                raise pysteps.user_error(exc, step.text).located(**step.where.to_dict()) from None
        if step.build is not None:  # a transformer that needs df's columns: build it now
            assert df is not None
            step = replace(step, text=step.build([c.name for c in self.engine.schema(df)]))
        self.record.sql.append(step.text)
        tables = {ref: inputs[target].name for ref, target in step.refs.items() if target in inputs}
        if df is not None:  # a step reading `df` always has one: the graph checks it
            tables.update({ref: df.name for ref, target in step.refs.items() if target == "df"})
        query = self.sql.translate(step.text, tables, self.engine.capabilities.sql_dialect)
        self.record.sql_run.append(query)
        try:
            return self.engine.sql(query, name)
        except SqlError as exc:
            raise _sql_located(exc, step) from None


_TABLE_LOCKS: dict[str, threading.Lock] = {}
_TABLE_LOCKS_GUARD = threading.Lock()


def _table_lock(uri: str) -> threading.Lock:
    """One lock per table for writes that several nodes of a run share (a quarantine
    table): creating or evolving a table and committing to it must not interleave."""
    with _TABLE_LOCKS_GUARD:
        return _TABLE_LOCKS.setdefault(uri.rstrip("/"), threading.Lock())


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
