"""The Spark engine: SQL steps run natively on Spark SQL, Python steps receive a
``pyspark.sql.DataFrame``, CSV/JSON/Parquet are read and written by Spark, and Delta tables
are read and written through deltalake and Arrow (a local Spark has no Delta of its own).

Frames are temporary views of the engine's own session (see :mod:`.session`), named as the
runtime names them (``silver.orders:step0``, quoted with backticks in SQL). A node's output
that other nodes read is cached (memory, then disk) until it is released.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from lakestory.core import cancel
from lakestory.core.errors import LakestoryError, StepError
from lakestory.engines import CAPABILITIES
from lakestory.engines.base import Capabilities, Column
from lakestory.engines.spark import errors, reading, session, writing
from lakestory.engines.spark.reading import portable
from lakestory.io import databases, delta
from lakestory.io.specs import Source, Target, WriteOutcome

INTERRUPT_WINDOW_S = 60.0  # how long an interrupted thread's new jobs are cancelled


@dataclass(frozen=True)
class SparkFrame:
    name: str


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class SparkEngine:
    capabilities: ClassVar[Capabilities] = CAPABILITIES["spark"]

    def __init__(self, spark_config: Mapping[str, Any] | None = None, **_: Any) -> None:
        settings = {k: _setting(v) for k, v in (spark_config or {}).items()}
        self._sessions = session.open_session(settings)
        self.spark = self._sessions.own
        self._frames: dict[str, DataFrame] = {}
        # what this engine cached, by the frame whose release uncaches it
        self._owned: dict[str, list[DataFrame]] = {}
        self._lock = threading.Lock()
        self._tag = f"lakestory-{uuid.uuid4().hex[:12]}"
        self._tagged = threading.local()

    # -- the Engine protocol -------------------------------------------------------------

    def read(self, source: Source, name: str) -> tuple[SparkFrame, int | None]:
        self._thread_tag()
        rows: int | None = None
        try:
            if databases.is_database(source.location):  # the filter runs in the database
                data = databases.read(source, databases.connection(source.location)).read_all()
                frame = self._register(self.spark.createDataFrame(portable(data)), name)
                return frame, data.num_rows
            if source.format != "delta":
                reading.check_reachable(self.spark, source)
            if source.format == "csv":
                df, rows, raw = reading.read_csv(self.spark, source)
                with self._lock:
                    self._owned[name] = [raw]
            elif source.format == "json":
                df = reading.read_json(self.spark, source)
            elif source.format == "parquet":
                df = reading.read_parquet(self.spark, source)
            else:
                df, rows = reading.read_delta(self.spark, source)
            if source.filter is not None:
                df, rows = df.where(source.filter), None
        except LakestoryError:
            raise
        except errors.SPARK_ERRORS as exc:
            what = f"cannot read {source.format} {source.location.display()}"
            raise errors.data_error(exc, what, [source.location.uri]) from None
        frame = self._register(df, name)
        return frame, rows if rows is not None else self.count(frame)

    def sql(self, query: str, name: str) -> SparkFrame:
        self._thread_tag()
        try:
            df = self.spark.sql(query)
        except errors.SPARK_ERRORS as exc:
            raise errors.sql_error(exc) from None
        return self._register(df, name)

    def native(self, frame: SparkFrame) -> DataFrame:
        return self._frames[frame.name]

    def call(
        self, fn: Callable[..., Any], frame: SparkFrame, kwargs: Mapping[str, Any], name: str
    ) -> SparkFrame:
        self._thread_tag()
        self._ship(fn)
        result = fn(self.native(frame), **kwargs)
        if isinstance(result, DataFrame):
            return self._register(result, name)
        table = _as_arrow(result)
        if table is None:
            raise StepError(
                f"the function returned {type(result).__name__}, not data",
                hint="return a Spark DataFrame, a pyarrow Table or RecordBatchReader, "
                "or a pandas/polars DataFrame",
            )
        return self._register(self.spark.createDataFrame(portable(table)), name)

    def persist(self, frame: SparkFrame, name: str) -> SparkFrame:
        df = self.native(frame)
        if writing.is_cached(df):  # e.g. another node's output, passed on as it is: share it
            return self._register(df, name)
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        with self._lock:
            self._owned.setdefault(name, []).append(df)
        return self._register(df, name)

    def release(self, frame: SparkFrame) -> None:
        with self._lock:
            self._frames.pop(frame.name, None)
            owned = self._owned.pop(frame.name, [])
        self._drop_view(frame.name)
        for df in owned:
            df.unpersist()

    def count(self, frame: SparkFrame) -> int:
        self._thread_tag()
        try:
            return int(self.native(frame).count())
        except errors.SPARK_ERRORS as exc:
            raise errors.compute_error(exc, f"computing {frame.name}") from None

    def schema(self, frame: SparkFrame) -> list[Column]:
        return [Column(f.name, f.dataType.simpleString()) for f in self.native(frame).schema]

    def rows(self, frame: SparkFrame, limit: int) -> list[dict[str, Any]]:
        self._thread_tag()
        rows: list[dict[str, Any]] = writing.arrow(self.native(frame).limit(limit)).to_pylist()
        return rows

    def arrow_schema(self, frame: SparkFrame) -> pa.Schema:
        return writing.arrow(self.native(frame).limit(0)).schema

    def write(
        self, frame: SparkFrame, target: Target, commit: delta.Commit | None = None
    ) -> WriteOutcome:
        self._thread_tag()
        if databases.is_database(target.location):
            return self._write_database(frame, target, target.mode)
        return writing.write(self.native(frame), target, commit or delta.Commit())

    def merge(
        self,
        frame: SparkFrame,
        target: Target,
        spec: delta.MergeSpec,
        commit: delta.Commit | None = None,
    ) -> WriteOutcome:
        self._thread_tag()
        if databases.is_database(target.location):  # an upsert: INSERT ... ON CONFLICT
            return self._write_database(frame, target, "upsert")
        return writing.merge(self.native(frame), target, spec, commit or delta.Commit())

    def _write_database(self, frame: SparkFrame, target: Target, mode: str) -> WriteOutcome:
        """Through the driver as Arrow (no JDBC driver jar needed), in one transaction."""
        try:
            table = writing.arrow(self.native(frame))
        except errors.SPARK_ERRORS as exc:
            what = f"computing the data for {target.location.display()}"
            raise errors.compute_error(exc, what) from None
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        return databases.write(reader, target, databases.connection(target.location), mode)

    def interrupt(self, thread_id: int) -> None:
        """Cancel the thread's Spark jobs, now and for as long as the thread goes on (a job
        it starts after this moment, e.g. still being planned now, is cancelled too)."""
        group, context = self._group(thread_id), self.spark.sparkContext
        worker = next((t for t in threading.enumerate() if t.ident == thread_id), None)
        if worker is None:
            return

        def keep_cancelling() -> None:
            deadline = time.monotonic() + INTERRUPT_WINDOW_S
            while time.monotonic() < deadline and worker.is_alive():
                try:
                    context.cancelJobGroup(group)
                except errors.SPARK_ERRORS:
                    return  # the context has stopped: nothing runs any more
                time.sleep(0.25)

        threading.Thread(target=keep_cancelling, name=f"{group}-cancel", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            names, self._frames = list(self._frames), {}
            owned, self._owned = [df for dfs in self._owned.values() for df in dfs], {}
        try:
            for name in names:
                self._drop_view(name)
            for df in owned:
                df.unpersist()
        finally:
            session.close_session(self._sessions)

    # -- helpers ---------------------------------------------------------------------------

    def _ship(self, fn: Callable[..., Any]) -> None:
        """Functions the step's module gives Spark (UDFs) travel by value, code included, so
        Spark's Python workers need not import the module: it lives beside the project, not
        on their path, and a reused worker may hold another project's module of that name."""
        from pyspark import cloudpickle

        module = sys.modules.get(getattr(fn, "__module__", "") or "")
        path = getattr(module, "__file__", None)
        if module is None or path is None or "site-packages" in path:
            return
        top = sys.modules.get(module.__name__.split(".")[0], module)
        cloudpickle.register_pickle_by_value(top)

    def _drop_view(self, name: str) -> None:
        """Forget a frame's view without uncaching its plan: ``Catalog.dropTempView`` would
        uncache it, and with it every cached frame computed from it (a node's output)."""
        self.spark._jsparkSession.sessionState().catalog().dropTempView(name)

    def _register(self, df: DataFrame, name: str) -> SparkFrame:
        df.createOrReplaceTempView(quote(name))
        with self._lock:
            self._frames[name] = df
        return SparkFrame(name)

    def _thread_tag(self) -> None:
        """Put the Spark jobs this worker thread starts in a job group of its own, so
        :meth:`interrupt` can cancel them (job groups are per thread); and stop here if
        the node was cancelled."""
        cancel.check()
        if getattr(self._tagged, "done", False):
            return
        group = self._group(threading.get_ident())
        self.spark.sparkContext.setJobGroup(group, "lakestory node", interruptOnCancel=True)
        self._tagged.done = True

    def _group(self, thread_id: int) -> str:
        return f"{self._tag}-{thread_id}"


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_arrow(result: Any) -> pa.Table | None:
    if isinstance(result, pa.Table):
        return result
    if isinstance(result, pa.RecordBatchReader):
        return result.read_all()
    module = type(result).__module__.split(".")[0]
    if module == "polars":
        frame = result.collect() if hasattr(result, "collect") else result
        table: pa.Table = frame.to_arrow()
        return table
    if module == "pandas":
        return pa.Table.from_pandas(result, preserve_index=False)
    if hasattr(result, "__arrow_c_stream__"):
        return pa.table(result)
    return None
