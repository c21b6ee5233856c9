"""Spark's own Delta Lake (used when a cluster's session has it): the MERGE statements built
from lakestory's merge specs, and lakestory's commit metadata read back from a commit's
``userMetadata``. The session calls need Delta Lake's jars, which these machines cannot
install; the spark engine's tests check that a local session takes the deltalake path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from deltalake import CommitProperties, write_deltalake

from lakestory.engines.spark import native_delta
from lakestory.io import delta


def test_an_upsert_merge_statement() -> None:
    spec = delta.MergeSpec(
        predicate="target.`id` <=> source.`id`",
        matched=[delta.Clause("update", condition="NOT (target.`tier` <=> source.`tier`)")],
        not_matched=[delta.Clause("insert")],
    )
    assert native_delta.merge_sql("delta.`s3a://b/t`", "`v`", spec) == (
        "MERGE INTO delta.`s3a://b/t` AS target\n"
        "USING `v` AS source\n"
        "ON target.`id` <=> source.`id`\n"
        "WHEN MATCHED AND (NOT (target.`tier` <=> source.`tier`)) THEN UPDATE SET *\n"
        "WHEN NOT MATCHED THEN INSERT *"
    )


def test_named_assignments_inserts_and_deletes() -> None:
    spec = delta.MergeSpec(
        predicate="target.id = source.id",
        matched=[
            delta.Clause("delete", condition="source.deleted"),
            delta.Clause("update", values={"valid_to": "source.changed_at", "a`b": "1"}),
        ],
        not_matched=[delta.Clause("insert", values={"id": "source.id", "v": "true"})],
    )
    assert native_delta.merge_sql("t", "s", spec).splitlines()[3:] == [
        "WHEN MATCHED AND (source.deleted) THEN DELETE",
        "WHEN MATCHED THEN UPDATE SET target.`valid_to` = source.changed_at, target.`a``b` = 1",
        "WHEN NOT MATCHED THEN INSERT (`id`, `v`) VALUES (source.id, true)",
    ]


def test_paths_and_metadata() -> None:
    assert native_delta.path_of("s3://bucket/lake/t/") == "s3a://bucket/lake/t"
    assert native_delta.path_of("abfss://c@a.dfs.core.windows.net/t") == (
        "abfss://c@a.dfs.core.windows.net/t"
    )
    commit = delta.Commit(metadata={"mark": 5})
    assert json.loads(native_delta.user_metadata(commit) or "") == {"lakestory": {"mark": 5}}
    assert native_delta.user_metadata(delta.Commit()) is None


def test_lakestory_metadata_in_a_commits_user_metadata_is_read_back(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    write_deltalake(uri, pa.table({"x": [1]}))
    spark_style = json.dumps({"lakestory": {"files": ["a.csv"]}})
    write_deltalake(
        uri,
        pa.table({"x": [2]}),
        mode="append",
        commit_properties=CommitProperties(custom_metadata={"userMetadata": spark_style}),
    )
    assert delta.lakestory_commits(uri) == [(1, {"files": ["a.csv"]})]
