"""Writing Spark frames: Delta through Spark's own Delta Lake when the session has it, else
through deltalake and Arrow (one commit either way); CSV/JSON/Parquet with Spark's own
writers into a staging folder that is swapped in whole."""

from __future__ import annotations

import glob
import os
import shutil
import uuid

import pyarrow as pa
from pyspark.sql import DataFrame, DataFrameWriter

from lakestory.core.errors import WriteError
from lakestory.engines import delta_target
from lakestory.engines.spark import errors, native_delta
from lakestory.engines.spark.reading import portable
from lakestory.io import delta, paths
from lakestory.io.specs import Target, WriteOutcome

BATCH_ROWS = 1 << 17


def arrow(df: DataFrame) -> pa.Table:
    """The frame's rows on the driver, as Arrow (Spark sends them in Arrow batches).

    The batches as Spark sent them: ``toArrow()`` casts them to a schema carrying Spark's
    nullability, which fails when a null struct holds a non-nullable field (pyspark 4.3)."""
    collect = getattr(df, "_collect_as_arrow", None)
    batches = collect(split_batches=True) if collect is not None else None
    table = pa.Table.from_batches(batches) if batches else df.limit(0).toArrow()
    return portable(nullable(table))


def nullable(table: pa.Table) -> pa.Table:
    """Every column nullable, as the DuckDB engine writes them: Spark marks literals and
    counts NOT NULL, and a Delta table created with that would refuse a later null."""
    schema = pa.schema([_nullable_field(f) for f in table.schema])
    return table if schema == table.schema else table.cast(schema)


def _nullable_field(field: pa.Field) -> pa.Field:
    kind = field.type
    if pa.types.is_struct(kind):
        kind = pa.struct([_nullable_field(kind.field(i)) for i in range(kind.num_fields)])
    return field.with_type(kind).with_nullable(True)


def is_cached(df: DataFrame) -> bool:
    """Whether Spark's cache holds the frame's plan (whoever cached it)."""
    level = df.storageLevel
    return bool(level.useMemory or level.useDisk)


def write(df: DataFrame, target: Target, commit: delta.Commit) -> WriteOutcome:
    if target.format == "delta" and native_delta.available(df.sparkSession):
        try:
            return native_delta.write(df, target, commit)
        except errors.SPARK_ERRORS as exc:
            raise errors.write_error(exc, target.location.display()) from None
    if target.format == "delta":
        table = _collect(df, target)
        try:
            return delta_target.write(_stream(table), table.column_names, target, commit)
        except (pa.ArrowException, OSError, _delta_error()) as exc:
            raise errors.write_error(exc, target.location.display()) from None
    return _write_files(df, target)


def merge(
    df: DataFrame, target: Target, spec: delta.MergeSpec, commit: delta.Commit
) -> WriteOutcome:
    if native_delta.available(df.sparkSession):
        view = f"lakestory_merge_{uuid.uuid4().hex[:12]}"
        try:
            return native_delta.merge(df, target, spec, commit, view)
        except errors.SPARK_ERRORS as exc:
            raise errors.write_error(exc, target.location.display()) from None
    table = _collect(df, target)
    try:
        return delta_target.merge(_stream(table), target, spec, commit)
    except (pa.ArrowException, OSError, _delta_error()) as exc:
        raise errors.write_error(exc, target.location.display()) from None


def _delta_error() -> type[Exception]:
    from deltalake.exceptions import DeltaError

    return DeltaError


def _collect(df: DataFrame, target: Target) -> pa.Table:
    try:
        return arrow(df)
    except errors.SPARK_ERRORS as exc:
        what = f"computing the data for {target.location.display()}"
        raise errors.compute_error(exc, what) from None


def _stream(table: pa.Table) -> delta.DataFactory:
    def factory() -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(BATCH_ROWS))

    return factory


def _write_files(df: DataFrame, target: Target) -> WriteOutcome:
    uri = target.location.uri
    single = paths.is_single_file(uri, target.format)
    if single and (target.mode == "append" or target.partition_by):
        raise WriteError(
            f"cannot {'append to' if target.mode == 'append' else 'partition'} a single "
            f"{target.format} file ({target.location.display()})",
            hint="write to a folder instead (a path without a file extension)",
        )
    if "://" in uri and not str(df.sparkSession.sparkContext.master).startswith("local"):
        raise WriteError(
            f"cannot write {target.format} files to {target.location.display()} from a Spark "
            "cluster yet: lakestory stages files on the driver, which only a local session "
            "shares with its executors",
            hint="write Delta (format: delta) to the store, which works on any session, or "
            "run with a local session",
        )
    stage = paths.staged_append if target.mode == "append" else paths.staged_replace
    mine = not is_cached(df)  # a node's shared output is cached already: leave it so
    if mine:
        df = df.persist()
    try:
        rows = df.count()
        with stage(uri) as staging:
            if single:
                _write_one_file(df, target, staging)
            else:
                _writer(df, target).save(staging)
                _tidy(staging)
    except WriteError:
        raise
    except errors.SPARK_ERRORS as exc:
        raise errors.write_error(exc, target.location.display()) from None
    finally:
        if mine:
            df.unpersist()
    return WriteOutcome(rows_written=rows)


def _write_one_file(df: DataFrame, target: Target, path: str) -> None:
    """Spark writes folders: write one part into a folder beside ``path`` and move it."""
    folder = path + ".parts"
    try:
        _writer(df.coalesce(1), target).save(folder)
        parts = [p for p in glob.glob(os.path.join(folder, "part-*")) if not p.endswith(".crc")]
        if len(parts) != 1:
            raise WriteError(f"Spark wrote {len(parts)} files for the single file {path}")
        os.replace(parts[0], path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _writer(df: DataFrame, target: Target) -> DataFrameWriter:
    writer = df.write.mode("overwrite").format(target.format)
    opts = target.options
    if target.format == "csv":
        writer = writer.option("header", bool(opts.get("header", True)))
        writer = writer.option("sep", str(opts.get("delimiter", ",")))
    if target.format == "json":
        writer = writer.option("ignoreNullFields", False)  # a null is written, as on DuckDB
    if target.format == "parquet" and "compression" in opts:
        writer = writer.option("compression", str(opts["compression"]))
    if target.partition_by:
        writer = writer.partitionBy(*target.partition_by)
    return writer


def _tidy(folder: str) -> None:
    """Drop Spark's bookkeeping files (``_SUCCESS``, ``.crc`` checksums) from a written folder."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if name.startswith("_") or name.endswith(".crc"):
                os.remove(os.path.join(dirpath, name))
