"""Delta through Spark's own Delta Lake, when the session has it (a Databricks or Delta
cluster): the data stays on the executors instead of passing through the driver as Arrow.

Used only when the session can load ``io.delta.tables.DeltaTable``; otherwise the spark
engine reads and writes Delta through deltalake (``writing.py``). The semantics are the
same: one commit per write, the same merge clauses (written in Spark SQL against
``target`` and ``source`` already), and lakestory's commit metadata carried in the
commit's ``userMetadata`` as ``{"lakestory": {...}}``, which ``io.delta.lakestory_commits``
reads back like deltalake's own.

Delta Lake for Spark cannot be installed on the machines lakestory is built on (its jars
come from Maven only), so the SQL built here is tested, and the session calls are not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakestory.io import delta
from lakestory.io.specs import Source, Target, WriteOutcome

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_KNOWN: dict[int, bool] = {}  # id of a SparkContext -> whether it has Delta Lake


def available(spark: SparkSession) -> bool:
    """Whether the session can use Spark's own Delta Lake (asked once per context)."""
    try:
        context = spark.sparkContext
    except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext
        return False
    key = id(context)
    if key not in _KNOWN:
        try:
            jvm: Any = context._jvm
            jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")
            _KNOWN[key] = True
        except Exception:  # noqa: BLE001 - py4j raises its own kinds for a missing class
            _KNOWN[key] = False
    return _KNOWN[key]


def path_of(uri: str) -> str:
    """The path Spark's file systems take: ``s3a://`` for S3 (Hadoop's connector)."""
    uri = uri.rstrip("/")
    return "s3a://" + uri[len("s3://") :] if uri.startswith("s3://") else uri


def user_metadata(commit: delta.Commit) -> str | None:
    return json.dumps({delta.COMMIT_KEY: dict(commit.metadata)}) if commit.metadata else None


def read(spark: SparkSession, source: Source) -> DataFrame:
    reader = spark.read.format("delta")
    if source.version is not None:
        reader = reader.option("versionAsOf", source.version)
    elif source.timestamp is not None:
        reader = reader.option("timestampAsOf", source.timestamp)
    return reader.load(path_of(source.location.uri))


def write(df: DataFrame, target: Target, commit: delta.Commit) -> WriteOutcome:
    mode = "overwrite" if target.mode == "overwrite" else "append"
    writer = df.write.format("delta").mode(mode)
    if target.partition_by:
        writer = writer.partitionBy(*target.partition_by)
    if commit.replace_where:
        writer = writer.option("replaceWhere", commit.replace_where)
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if commit.evolve:
        writer = writer.option("mergeSchema", "true")
    meta = user_metadata(commit)
    if meta:
        writer = writer.option("userMetadata", meta)
    path = path_of(target.location.uri)
    writer.save(path)
    version, metrics = _last_commit(df.sparkSession, path)
    return WriteOutcome(int(metrics.get("numOutputRows", 0)), version)


def merge(
    df: DataFrame, target: Target, spec: delta.MergeSpec, commit: delta.Commit, view: str
) -> WriteOutcome:
    """MERGE INTO the table from ``df`` (registered as the temp view ``view``)."""
    spark = df.sparkSession
    path = path_of(target.location.uri)
    df.createOrReplaceTempView(view)
    meta = user_metadata(commit)
    key = "spark.databricks.delta.commitInfo.userMetadata"
    try:
        if meta:
            spark.conf.set(key, meta)
        if commit.evolve:
            spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
        spark.sql(merge_sql(f"delta.`{path}`", f"`{view}`", spec))
    finally:
        spark.conf.unset(key)
        spark.conf.unset("spark.databricks.delta.schema.autoMerge.enabled")
        spark.catalog.dropTempView(view)
    version, metrics = _last_commit(spark, path)
    return WriteOutcome(
        int(metrics.get("numTargetRowsInserted", 0)),
        version,
        int(metrics.get("numTargetRowsUpdated", 0)),
        int(metrics.get("numTargetRowsDeleted", 0)),
    )


def merge_sql(table: str, source: str, spec: delta.MergeSpec) -> str:
    """The Spark SQL MERGE statement of ``spec`` (its conditions are Spark SQL against
    ``target`` and ``source`` already)."""
    lines = [f"MERGE INTO {table} AS target", f"USING {source} AS source", f"ON {spec.predicate}"]
    for clause in spec.matched:
        when = _when("WHEN MATCHED", clause.condition)
        if clause.action == "delete":
            lines.append(f"{when} THEN DELETE")
        elif clause.values:
            lines.append(f"{when} THEN UPDATE SET {_assignments(clause.values)}")
        else:
            lines.append(f"{when} THEN UPDATE SET *")
    for clause in spec.not_matched:
        when = _when("WHEN NOT MATCHED", clause.condition)
        if clause.values:
            cols, exprs = _columns(clause.values.keys()), ", ".join(clause.values.values())
            lines.append(f"{when} THEN INSERT ({cols}) VALUES ({exprs})")
        else:
            lines.append(f"{when} THEN INSERT *")
    return "\n".join(lines)


def _when(head: str, condition: str | None) -> str:
    return f"{head} AND ({condition})" if condition else head


def _assignments(values: Any) -> str:
    return ", ".join(f"target.{_ident(col)} = {expr}" for col, expr in values.items())


def _columns(names: Sequence[str] | Any) -> str:
    return ", ".join(_ident(n) for n in names)


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _last_commit(spark: SparkSession, path: str) -> tuple[int | None, dict[str, Any]]:
    row = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()
    if not row:
        return None, {}
    entry = row[0].asDict()
    return int(entry["version"]), dict(entry.get("operationMetrics") or {})
