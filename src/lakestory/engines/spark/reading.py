"""Reading sources into Spark: CSV, JSON and Parquet with Spark's own readers, Delta through
deltalake and Arrow.

CSV is read as the DuckDB engine reads it, so the same files give the same table: strictly
(a row with the wrong number of fields fails the read, naming its line), every column as
text first, then each column not declared in ``read.schema`` gets the first type of
:data:`lakestory.engines.files.CANDIDATES` that all its values match, scanned over every row.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Mapping

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakestory.core.errors import DataError, Where
from lakestory.engines.files import (
    PATTERNS,
    csv_layout,
    first_passing,
    infer_types,
    input_files,
)
from lakestory.engines.spark import errors, native_delta
from lakestory.io import delta, paths
from lakestory.io.specs import Source

# The CSV type rule's types as Spark names them. DuckDB's TIMESTAMP has no time zone.
_SPARK_TYPES = {
    "INTEGER": "int",
    "BIGINT": "bigint",
    "DECIMAL(38,0)": "decimal(38,0)",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp_ntz",
}


def read_csv(spark: SparkSession, source: Source) -> tuple[DataFrame, int, DataFrame]:
    """The typed frame, its row count, and the cached text frame it is computed from (the
    caller unpersists it when the frame is released)."""
    declared = {k: v.lower() for k, v in (source.column_types or {}).items()}
    layout = csv_layout(source, declared)
    files, dialect, header, names = layout.files, layout.dialect, layout.header, layout.names
    opts = source.options
    reader = (
        spark.read.schema(StructType([StructField(n, StringType()) for n in names]))
        .option("header", header)
        .option("sep", dialect.delimiter)
        .option("quote", dialect.quote)
        .option("escape", dialect.escape)
        .option("encoding", _java_charset(dialect.encoding))
        .option("mode", "FAILFAST")
        .option("multiLine", True)  # quoted fields may hold line breaks
        .option("enforceSchema", False)
    )
    for key, option in (("null_value", "nullValue"), ("comment", "comment")):
        if key in opts:
            reader = reader.option(option, str(opts[key]))
    raw = reader.csv(files).persist()
    try:
        infer = [n for n in names if n not in declared] if opts.get("infer_schema", True) else []
        rows, types, bad = _profile(raw, infer, declared)
    except errors.SPARK_ERRORS as exc:
        raw.unpersist()
        raise errors.csv_error(exc, files, dialect.encoding) from None
    if bad is not None:
        raw.unpersist()
        column, value = bad
        raise DataError(
            f"CSV column '{column}' holds {value!r}, which is not a {declared[column]}",
            where=Where(file=files[0] if len(files) == 1 else None),
            hint="fix the value, or declare the column as string in read.schema and convert "
            "it in a step",
        )
    typed = raw.select(*[_typed(n, types.get(n)) for n in names])
    return typed, rows, raw


def _java_charset(name: str) -> str:
    """A Python codec name as Java knows it (``latin-1`` is ``ISO-8859-1``)."""
    try:
        python = codecs.lookup(name).name
    except LookupError:
        return name
    return _CHARSETS.get(python, python)


_CHARSETS = {
    "iso8859-1": "ISO-8859-1",
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16LE",
    "utf-16-be": "UTF-16BE",
    "cp1252": "windows-1252",
    "ascii": "US-ASCII",
}


def _typed(name: str, spark_type: str | None) -> Column:
    col = F.col(f"`{name}`")
    if spark_type is None or spark_type == "string":
        return col
    return F.trim(col).try_cast(spark_type).alias(name)  # NULL, not a truncation, if not


def _profile(
    raw: DataFrame, infer: list[str], declared: dict[str, str]
) -> tuple[int, dict[str, str], tuple[str, str] | None]:
    """The row count, the inferred type of each column of ``infer``, and the first declared
    column holding a value that is not of its type (with that value)."""

    def evaluate(
        plans: Mapping[str, list[str]], limit: int | None
    ) -> dict[str, tuple[str | None, bool]]:
        aggs: list[Column] = []
        for n, plan in plans.items():
            col = F.trim(F.col(f"`{n}`"))
            for typ in plan:
                parsed = col.try_cast(_SPARK_TYPES[typ]).isNotNull()
                fits = col.rlike(f"^(?:{PATTERNS[typ]})$") & parsed
                aggs.append(F.bool_and(col.isNull() | fits))
            aggs.append(F.count(col) > 0)
        row = (raw if limit is None else raw.limit(limit)).agg(*aggs).first()
        assert row is not None
        return first_passing(plans, list(row))

    found = infer_types(infer, evaluate)
    types = {**declared, **{n: _SPARK_TYPES[t] for n, t in found.items() if t != "VARCHAR"}}
    aggs: list[Column] = [F.count(F.lit(1))]
    for n, typ in declared.items():
        col = F.col(f"`{n}`")
        wrong = col.isNotNull() & _typed(n, typ).isNull()
        aggs.append(F.first(F.when(wrong, col), ignorenulls=True))
    row = raw.agg(*aggs).first()
    assert row is not None
    values = list(row)
    bad = next(((n, v) for n, v in zip(declared, values[1:], strict=True) if v is not None), None)
    return int(values[0]), types, bad


def read_json(spark: SparkSession, source: Source) -> DataFrame:
    files = input_files(source)
    df = spark.read.option("mode", "FAILFAST").option("samplingRatio", 1.0).json(files)
    # Spark sorts the inferred columns by name; DuckDB keeps the order of the first object
    first = _first_keys(files[0])
    order = [c for c in first if c in df.columns] + [c for c in df.columns if c not in first]
    return df.select(*[F.col(f"`{c}`") for c in order])


def _first_keys(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    return []
                return list(obj) if isinstance(obj, dict) else []
    return []


def check_reachable(spark: SparkSession, source: Source) -> None:
    """Files on a cloud connection are downloaded to the driver first: only a local
    session's executors see them."""
    if "://" in source.location.uri and not str(spark.sparkContext.master).startswith("local"):
        raise DataError(
            f"cannot read {source.format} files from {source.location.display()} on a Spark "
            "cluster yet: lakestory downloads them to the driver, which only a local session "
            "shares with its executors",
            hint="keep the data as Delta on the store (read through deltalake on any "
            "session), or run with a local session",
        )


def read_parquet(spark: SparkSession, source: Source) -> DataFrame:
    files = input_files(source)
    reader = spark.read.option("mergeSchema", True)
    base = _folder(paths.local_root(source.location.uri), remote="://" in source.location.uri)
    if base is not None:  # key=value folders below it become columns, as on DuckDB
        reader = reader.option("basePath", base)
    return reader.parquet(*files)


def _folder(uri: str, remote: bool = False) -> str | None:
    """The folder a location reads from (before any wildcard), or None for a single file
    (``remote``: ``uri`` is where a store's files were downloaded, which may not exist yet
    when it names a single file)."""
    path = uri.rstrip("/")
    wild = min((path.find(c) for c in "*?[" if c in path), default=-1)
    if wild >= 0:
        return path[: path.rfind("/", 0, wild)] or "/"
    return None if os.path.isfile(path) or (remote and not os.path.isdir(path)) else path


def read_delta(spark: SparkSession, source: Source) -> tuple[DataFrame, int | None]:
    """The table through Spark's own Delta Lake when the session has it (rows counted by
    the caller), else through deltalake and Arrow."""
    if native_delta.available(spark):
        return native_delta.read(spark, source), None
    uri = source.location.uri.rstrip("/")
    table = delta.open_table(uri, source.location.display(), source.version, source.timestamp)
    data = table.to_pyarrow_table()
    return spark.createDataFrame(portable(data)), data.num_rows


def portable(table: pa.Table) -> pa.Table:
    """Arrow types Spark reads: view and large types become their plain forms."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
            t = pa.binary()
        fields.append(f.with_type(t))
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)
