"""The DuckDB engine: an in-process database per run, one cursor per worker thread.

Frames are named DuckDB relations: node-local work lives in temporary views and tables of
the worker's cursor; a node's output that other nodes read is persisted as a table of the
shared in-memory database (spilling to a temp folder when memory runs short).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from lakestory.core.errors import StepError
from lakestory.engines import CAPABILITIES
from lakestory.engines.base import Capabilities, Column
from lakestory.engines.duckdb import errors, reading, writing
from lakestory.engines.duckdb.reading import q, run
from lakestory.io import databases, delta
from lakestory.io.specs import Source, Target, WriteOutcome


@dataclass(frozen=True)
class DuckFrame:
    name: str
    table: bool = False  # a real table (vs a temporary view)


class DuckDBEngine:
    capabilities: ClassVar[Capabilities] = CAPABILITIES["duckdb"]

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self._tmp = tempfile.mkdtemp(prefix="lakestory-duckdb-")
        self._db = duckdb.connect(":memory:")
        settings = {
            "TimeZone": "UTC",
            "default_null_order": "nulls_first_on_asc_last_on_desc",  # Spark's null order
            "temp_directory": self._tmp,
        }
        if threads:
            settings["threads"] = str(threads)
        if memory_limit:
            settings["memory_limit"] = memory_limit
        for key, value in settings.items():
            run(self._db, f"SET {key} = {reading.lit(value)}")
        self._local = threading.local()
        self._cursors: dict[int, duckdb.DuckDBPyConnection] = {}  # by worker thread id
        self._keep_alive: dict[str, Any] = {}
        self._parents: dict[str, DuckFrame] = {}  # a filtered read's unfiltered frame
        self._lock = threading.Lock()

    # -- the Engine protocol -------------------------------------------------------------

    def read(self, source: Source, name: str) -> tuple[DuckFrame, int | None]:
        if databases.is_database(source.location):  # the filter runs in the database
            return self._read_database(source, name)
        if source.filter is None:
            return self._read(source, name)
        raw, _ = self._read(source, f"{name}:unfiltered")
        with self._lock:
            self._parents[name] = raw
        try:
            run(
                self._cursor(),
                f"CREATE TEMP VIEW {q(name)} AS SELECT * FROM {q(raw.name)} WHERE {source.filter}",
            )
        except duckdb.Error as exc:
            raise errors.sql_error(exc) from None
        frame = DuckFrame(name)
        return frame, self.count(frame)

    def _read(self, source: Source, name: str) -> tuple[DuckFrame, int | None]:
        cur = self._cursor()
        fmt = source.format
        if fmt == "csv":
            declared = {k: _duck_type(v) for k, v in (source.column_types or {}).items()}
            return DuckFrame(name, table=True), reading.read_csv(cur, source, name, declared)
        if fmt == "json":
            return DuckFrame(name, table=True), reading.read_json(cur, source, name)
        if fmt == "parquet":
            return DuckFrame(name), reading.read_parquet(cur, source, name)
        dataset, rows = reading.read_delta(source)
        with self._lock:
            self._keep_alive[name] = dataset
        cur.register(name, dataset)
        return DuckFrame(name), rows

    def _read_database(self, source: Source, name: str) -> tuple[DuckFrame, int | None]:
        reader = databases.read(source, databases.connection(source.location))
        cur, stream = self._cursor(), f"{name}:stream"
        cur.register(stream, reader)
        try:
            created = run(cur, f"CREATE TABLE {q(name)} AS SELECT * FROM {q(stream)}")
        except duckdb.Error as exc:
            raise errors.compute_error(exc, f"reading {source.location.display()}") from None
        finally:
            cur.unregister(stream)
        return DuckFrame(name, table=True), int(created[0][0])

    def sql(self, query: str, name: str) -> DuckFrame:
        try:
            run(self._cursor(), f"CREATE TEMP VIEW {q(name)} AS {query}")
        except duckdb.Error as exc:
            raise errors.sql_error(exc) from None
        return DuckFrame(name)

    def native(self, frame: DuckFrame) -> duckdb.DuckDBPyRelation:
        return self._cursor().table(q(frame.name))

    def call(
        self, fn: Callable[..., Any], frame: DuckFrame, kwargs: Mapping[str, Any], name: str
    ) -> DuckFrame:
        result = fn(self.native(frame), **kwargs)
        cur = self._cursor()
        if isinstance(result, duckdb.DuckDBPyRelation):
            try:
                result.create_view(name, replace=True)
                cur.table(q(name))  # the view exists only if the relation is of this cursor
                return DuckFrame(name)
            except duckdb.Error:
                # a relation of another connection: bring its rows over through Arrow
                result = result.to_arrow_table()
        if result is None or not (hasattr(result, "__arrow_c_stream__") or _is_frame(result)):
            raise StepError(
                f"the function returned {type(result).__name__}, not data",
                hint="return a DuckDB relation, a pyarrow Table or RecordBatchReader, "
                "or a pandas/polars DataFrame",
            )
        with self._lock:
            self._keep_alive[name] = result
        cur.register(name, result)
        return DuckFrame(name)

    def persist(self, frame: DuckFrame, name: str) -> DuckFrame:
        try:
            run(
                self._cursor(),
                f"CREATE OR REPLACE TABLE {q(name)} AS SELECT * FROM {q(frame.name)}",
            )
        except duckdb.Error as exc:
            raise errors.compute_error(exc, f"computing {name}") from None
        return DuckFrame(name, table=True)

    def release(self, frame: DuckFrame) -> None:
        kind = "TABLE" if frame.table else "VIEW"
        cur = self._cursor()
        run(cur, f"DROP {kind} IF EXISTS {q(frame.name)}")
        with self._lock:
            if self._keep_alive.pop(frame.name, None) is not None:
                cur.unregister(frame.name)
            parent = self._parents.pop(frame.name, None)
        if parent is not None:
            self.release(parent)

    def rows(self, frame: DuckFrame, limit: int) -> list[dict[str, Any]]:
        rel = self._cursor().sql(f"SELECT * FROM {q(frame.name)} LIMIT {int(limit)}")
        columns = rel.columns
        return [dict(zip(columns, row, strict=True)) for row in rel.fetchall()]

    def arrow_schema(self, frame: DuckFrame) -> pa.Schema:
        cur = self._cursor()
        query = writing.portable_select(cur.table(q(frame.name)), frame.name)
        return cur.sql(f"{query} LIMIT 0").to_arrow_table().schema

    def count(self, frame: DuckFrame) -> int:
        row = run(self._cursor(), f"SELECT count(*) FROM {q(frame.name)}")[0]
        return int(row[0]) if row else 0

    def schema(self, frame: DuckFrame) -> list[Column]:
        rel = self._cursor().table(q(frame.name))
        return [Column(c, str(t)) for c, t in zip(rel.columns, rel.types, strict=True)]

    def write(
        self, frame: DuckFrame, target: Target, commit: delta.Commit | None = None
    ) -> WriteOutcome:
        if databases.is_database(target.location):
            return self._write_database(frame, target, target.mode)
        return writing.write(self._cursor(), frame.name, target, commit or delta.Commit())

    def merge(
        self,
        frame: DuckFrame,
        target: Target,
        spec: delta.MergeSpec,
        commit: delta.Commit | None = None,
    ) -> WriteOutcome:
        if databases.is_database(target.location):  # an upsert: INSERT ... ON CONFLICT
            return self._write_database(frame, target, "upsert")
        return writing.merge(self._cursor(), frame.name, target, spec, commit or delta.Commit())

    def _write_database(self, frame: DuckFrame, target: Target, mode: str) -> WriteOutcome:
        cur = self._cursor()
        query = writing.portable_select(cur.table(q(frame.name)), frame.name)
        try:
            reader = cur.sql(query).to_arrow_reader(writing.BATCH_ROWS)
        except duckdb.Error as exc:
            raise errors.compute_error(exc, f"computing {frame.name}") from None
        return databases.write(reader, target, databases.connection(target.location), mode)

    def interrupt(self, thread_id: int) -> None:
        with self._lock:
            cur = self._cursors.get(thread_id)
        if cur is not None:
            cur.interrupt()

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._db.cursor()
            with self._lock:  # forget the cursors of threads that have ended
                alive = {t.ident for t in threading.enumerate()}
                self._cursors = {k: c for k, c in self._cursors.items() if k in alive}
                self._cursors[threading.get_ident()] = cur
        return cur


def _duck_type(spark_type: str) -> str:
    from sqlglot import exp

    return exp.DataType.build(spark_type, dialect="spark").sql(dialect="duckdb")


def _is_frame(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("pandas", "polars")
