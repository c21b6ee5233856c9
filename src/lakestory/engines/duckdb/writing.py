"""Writing DuckDB frames: Delta through deltalake (one commit), files through staging + swap."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from lakestory.core.errors import WriteError
from lakestory.engines import delta_target
from lakestory.engines.duckdb import errors
from lakestory.engines.duckdb.reading import lit, q, run
from lakestory.io import delta, paths
from lakestory.io.specs import Target, WriteOutcome

# Types Delta and Spark do not have, and what to write instead.
_PORTABLE = {
    "HUGEINT": "BIGINT",
    "UHUGEINT": "DECIMAL(38,0)",
    "UBIGINT": "DECIMAL(20,0)",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INTEGER",
    "UTINYINT": "SMALLINT",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
    "UUID": "VARCHAR",
}
BATCH_ROWS = 1 << 17


def portable_select(rel: duckdb.DuckDBPyRelation, name: str) -> str:
    casts = []
    for col, typ in zip(rel.columns, rel.types, strict=True):
        new = _PORTABLE.get(str(typ))
        casts.append(f"CAST({q(col)} AS {new}) AS {q(col)}" if new else q(col))
    return f"SELECT {', '.join(casts)} FROM {q(name)}"


def write(
    cur: duckdb.DuckDBPyConnection, name: str, target: Target, commit: delta.Commit
) -> WriteOutcome:
    from deltalake.exceptions import DeltaError

    query = portable_select(cur.table(q(name)), name)
    try:
        if target.format == "delta":
            return _write_delta(cur, query, target, commit)
        return _write_files(cur, query, target)
    except (duckdb.Error, pa.ArrowException, DeltaError, OSError) as exc:
        # Nothing was committed or swapped in: say so, and show the user's traceback when
        # it was their data (a Python step's stream) that failed.
        raise errors.write_error(exc, target.location.display()) from None


def merge(
    cur: duckdb.DuckDBPyConnection,
    name: str,
    target: Target,
    spec: delta.MergeSpec,
    commit: delta.Commit,
) -> WriteOutcome:
    from deltalake.exceptions import DeltaError

    query = portable_select(cur.table(q(name)), name)
    try:
        with _streams(cur, query) as data:
            return delta_target.merge(data, target, spec, commit)
    except (duckdb.Error, pa.ArrowException, DeltaError, OSError) as exc:
        raise errors.write_error(exc, target.location.display()) from None


@contextmanager
def _streams(cur: duckdb.DuckDBPyConnection, query: str) -> Iterator[delta.DataFactory]:
    """A factory of Arrow streams of ``query`` (one per commit attempt). A query error met
    while streaming is re-raised as itself, not as the writer's wrapper of it."""
    failure: list[duckdb.Error] = []
    readers: list[pa.RecordBatchReader] = []

    def factory() -> pa.RecordBatchReader:
        for old in readers:
            old.close()
        opened = cur.sql(query).to_arrow_reader(BATCH_ROWS)
        readers.append(opened)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from opened
            except duckdb.Error as exc:
                failure.append(exc)
                raise

        return pa.RecordBatchReader.from_batches(opened.schema, batches())

    try:
        yield factory
    except BaseException:
        if failure and "Python exception" not in str(failure[0]):
            raise errors.compute_error(failure[0], "computing the data to write") from None
        raise
    finally:
        for reader in readers:
            reader.close()  # an undrained result would block the cursor for the next statement


def _write_delta(
    cur: duckdb.DuckDBPyConnection, query: str, target: Target, commit: delta.Commit
) -> WriteOutcome:
    with _streams(cur, query) as data:
        return delta_target.write(data, cur.sql(query).columns, target, commit)


def _write_files(cur: duckdb.DuckDBPyConnection, query: str, target: Target) -> WriteOutcome:
    uri = target.location.uri
    opts = [f"FORMAT {target.format}"]
    if target.format == "csv":
        opts += [
            f"HEADER {lit(bool(target.options.get('header', True)))}",
            f"DELIMITER {lit(str(target.options.get('delimiter', ',')))}",
        ]
    if target.format == "json":
        opts = ["FORMAT json", "ARRAY false"]
    if target.format == "parquet" and "compression" in target.options:
        opts.append(f"COMPRESSION {lit(target.options['compression'])}")
    single = paths.is_single_file(uri, target.format)
    if single and (target.mode == "append" or target.partition_by):
        raise WriteError(
            f"cannot {'append to' if target.mode == 'append' else 'partition'} a single "
            f"{target.format} file ({target.location.display()})",
            hint="write to a folder instead (a path without a file extension)",
        )
    if target.partition_by:
        opts += [
            f"PARTITION_BY ({', '.join(q(c) for c in target.partition_by)})",
            "FILENAME_PATTERN 'part-{uuid}'",
        ]
    stage = paths.staged_append if target.mode == "append" else paths.staged_replace
    with stage(uri) as staging:
        dest = staging
        if not single and not target.partition_by:
            os.makedirs(staging, exist_ok=True)
            dest = os.path.join(staging, f"part-{uuid.uuid4().hex}.{_ext(target.format)}")
        row = run(cur, f"COPY ({query}) TO {lit(dest)} ({', '.join(opts)})")[0]
    return WriteOutcome(rows_written=int(row[0]) if row else 0)


def _ext(fmt: str) -> str:
    return {"json": "jsonl"}.get(fmt, fmt)
