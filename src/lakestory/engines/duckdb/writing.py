"""Writing DuckDB frames: Delta through deltalake (one commit), files through staging + swap."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import duckdb
import pyarrow as pa

from lakestory.core.errors import WriteError
from lakestory.engines.duckdb import errors
from lakestory.engines.duckdb.reading import lit, q, run
from lakestory.io import local
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


def write(cur: duckdb.DuckDBPyConnection, name: str, target: Target) -> WriteOutcome:
    from deltalake.exceptions import DeltaError

    query = portable_select(cur.table(q(name)), name)
    try:
        if target.format == "delta":
            return _write_delta(cur, query, target)
        return _write_files(cur, query, target)
    except (duckdb.Error, pa.ArrowException, DeltaError, OSError) as exc:
        # Nothing was committed or swapped in: say so, and show the user's traceback when
        # it was their data (a Python step's stream) that failed.
        raise errors.write_error(exc, target.location.display()) from None


def _write_delta(cur: duckdb.DuckDBPyConnection, query: str, target: Target) -> WriteOutcome:
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import SchemaMismatchError

    uri = target.location.uri.rstrip("/")
    created = not os.path.exists(uri)
    os.makedirs(uri, exist_ok=True)
    extra = {k: v for k, v in target.options.items() if k in ("target_file_size", "description")}
    counter = [0]
    failure: list[duckdb.Error] = []  # a query error met while streaming, reported as itself
    reader: pa.RecordBatchReader | None = None
    try:
        reader = opened = cur.sql(query).to_arrow_reader(BATCH_ROWS)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in opened:
                    counter[0] += batch.num_rows
                    yield batch
            except duckdb.Error as exc:
                failure.append(exc)
                raise

        stream = pa.RecordBatchReader.from_batches(opened.schema, batches())
        write_deltalake(
            uri,
            stream,
            mode="overwrite" if target.mode == "overwrite" else "append",
            partition_by=list(target.partition_by) or None,
            schema_mode="overwrite" if target.mode == "overwrite" else None,
            **extra,
        )
    except SchemaMismatchError as exc:
        table = [f.name for f in DeltaTable(uri).schema().fields]
        raise WriteError(
            f"cannot {target.mode} to {target.location.display()}: the columns differ from the "
            f"table's ({exc})",
            detail=f"data:  {', '.join(stream.schema.names)}\ntable: {', '.join(table)}",
            hint="select the table's columns in a step, or write with mode: overwrite to "
            "replace the table and its schema",
        ) from None
    except BaseException:
        if created and not local.is_delta_table(uri):  # a first write that failed: no table
            shutil.rmtree(uri, ignore_errors=True)
        if failure and "Python exception" not in str(failure[0]):
            raise errors.compute_error(failure[0], "computing the data to write") from None
        raise
    finally:
        if reader is not None:
            reader.close()  # an undrained result would block the cursor for the next statement
    return WriteOutcome(rows_written=counter[0], version=DeltaTable(uri).version())


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
    single = local.is_single_file(uri, target.format)
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
    stage = local.staged_append if target.mode == "append" else local.staged_replace
    with stage(uri) as staging:
        dest = staging
        if not single and not target.partition_by:
            os.makedirs(staging, exist_ok=True)
            dest = os.path.join(staging, f"part-{uuid.uuid4().hex}.{_ext(target.format)}")
        row = run(cur, f"COPY ({query}) TO {lit(dest)} ({', '.join(opts)})")[0]
    return WriteOutcome(rows_written=int(row[0]) if row else 0)


def _ext(fmt: str) -> str:
    return {"json": "jsonl"}.get(fmt, fmt)
