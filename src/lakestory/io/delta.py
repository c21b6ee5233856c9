"""Delta tables through deltalake (delta-rs): commits, merges, schemas and commit metadata.

Engine-neutral: data arrives as an Arrow stream from whichever engine computed it. Every
write is one commit, so a table is either as it was or fully written. A commit can carry
lakestory's metadata (the high-water mark of an incremental read, the files it ingested):
the state then advances in the very commit that writes the data it covers.

Conditions are written in Spark SQL against ``target`` and ``source``; they are translated
here for delta-rs (whose SQL is DataFusion's).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from lakestory.core import cancel, faults
from lakestory.core.errors import DataError
from lakestory.io import paths, stores

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable

log = logging.getLogger(__name__)
COMMIT_KEY = "lakestory"  # the commitInfo field that carries lakestory's metadata
COMMIT_ATTEMPTS = 8

DataFactory = Callable[[], "pa.RecordBatchReader"]  # a fresh stream per attempt


@dataclass(frozen=True)
class Commit:
    """What a write commits besides its rows."""

    metadata: Mapping[str, Any] = field(default_factory=dict)  # stored under COMMIT_KEY
    replace_where: str | None = None  # overwrite only the rows matching this (Spark SQL)
    evolve: bool = False  # add the data's new columns to the table

    def properties(self) -> CommitProperties | None:
        from deltalake import CommitProperties

        if not self.metadata:
            return None
        return CommitProperties(custom_metadata={COMMIT_KEY: json.dumps(dict(self.metadata))})


@dataclass(frozen=True)
class Clause:
    """One WHEN clause of a merge. ``values``: column → Spark SQL expression; empty with
    ``update``/``insert`` means every column from ``source``."""

    action: Literal["update", "insert", "delete"]
    condition: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MergeSpec:
    predicate: str  # Spark SQL joining `target` and `source`
    matched: Sequence[Clause] = ()
    not_matched: Sequence[Clause] = ()


@dataclass(frozen=True)
class Written:
    rows_inserted: int
    version: int | None  # None: committed, but the store did not say which version
    rows_updated: int = 0
    rows_deleted: int = 0


def exists(uri: str) -> bool:
    return paths.is_delta_table(uri.rstrip("/"))


def storage_options(uri: str) -> dict[str, str] | None:
    """deltalake's ``storage_options`` for ``uri``: the credentials of its connection's
    store, or None for a local path."""
    store = stores.find(uri)
    if store is None:
        return None
    with stores.errors(store, uri):  # a credential may be asked for a token here
        return store.delta_options()


def table(uri: str) -> DeltaTable:
    """The Delta table at ``uri`` (on any connection), at its newest version."""
    from deltalake import DeltaTable

    uri = uri.rstrip("/")
    store = stores.find(uri)
    if store is None:
        return DeltaTable(uri)
    with stores.errors(store, uri):
        return DeltaTable(uri, storage_options=store.delta_options())


def open_table(
    uri: str, display: str, version: int | None = None, timestamp: str | datetime | None = None
) -> DeltaTable:
    """The table, at a version or a point in time when asked."""
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        found = table(uri)
    except TableNotFoundError:
        held = any(not n.startswith(".") for n in _children(uri))
        hint = "check the path" + (
            "; it holds files but no _delta_log: is the format parquet?" if held else ""
        )
        raise DataError(
            f"input not found: no Delta table at {display} ({uri})", hint=hint
        ) from None
    try:
        if version is not None:
            found.load_as_version(version)
        elif timestamp is not None:
            found.load_as_version(_as_datetime(timestamp))
    except (DeltaError, ValueError) as exc:
        first = found.history(1)
        newest = first[0].get("version") if first else None
        when = f"version {version}" if version is not None else f"timestamp {timestamp}"
        raise DataError(
            f"cannot time-travel {display} to {when}: {_first_line(str(exc))}",
            hint=f"the table's newest version is {newest}; older versions may have been vacuumed"
            if newest is not None
            else None,
        ) from None
    return found


@contextmanager
def _store_errors(uri: str) -> Iterator[None]:
    """A store's failures named by its connection (deltalake's own answers pass)."""
    store = stores.find(uri)
    if store is None:
        yield
        return
    with stores.errors(store, uri):
        yield


def _children(uri: str) -> list[str]:
    if stores.is_remote(uri):
        return stores.children(uri)
    return os.listdir(uri) if os.path.isdir(uri) else []


def _as_datetime(value: str | datetime) -> datetime:
    from datetime import UTC

    if isinstance(value, datetime):
        stamp = value
    else:
        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise DataError(
                f"cannot read timestamp '{value}'",
                hint="write an ISO timestamp, e.g. 2026-01-31 or 2026-01-31T12:00:00Z",
            ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def arrow_schema(uri: str) -> pa.Schema | None:
    """The table's schema as Arrow, or None when there is no table."""
    if not exists(uri):
        return None
    import pyarrow as pa

    return pa.schema(table(uri).schema())


def row_count(uri: str) -> int:
    """Rows in the table, from the log's file statistics (no data is read)."""
    actions = table(uri).get_add_actions(flatten=True)
    column = actions.column("num_records") if actions.num_rows else None
    return int(sum(v or 0 for v in column.to_pylist())) if column is not None else 0


def write(
    uri: str,
    data: DataFactory,
    *,
    mode: Literal["append", "overwrite"],
    partition_by: Sequence[str] = (),
    commit: Commit = Commit(),
    options: Mapping[str, Any] | None = None,
) -> Written:
    """Append or overwrite in one commit; ``commit.replace_where`` overwrites only the rows
    it matches. Retries when another writer committed first (appends never conflict on
    content)."""
    from deltalake import write_deltalake

    uri = uri.rstrip("/")
    extra = {k: v for k, v in (options or {}).items() if k in ("target_file_size", "description")}
    rows = [0]

    schema_mode = "overwrite" if mode == "overwrite" and not commit.replace_where else None
    settings: dict[str, Any] = {
        "mode": mode,
        "partition_by": list(partition_by) or None,
        "schema_mode": "merge" if commit.evolve else schema_mode,
        "predicate": datafusion_sql(commit.replace_where) if commit.replace_where else None,
        "commit_properties": commit.properties(),
        **extra,
    }

    token = cancel.current()

    def attempt() -> None:
        rows[0] = 0
        with cancel.commit_window(token), _store_errors(uri):
            write_deltalake(
                uri, _counted(data(), rows), storage_options=storage_options(uri), **settings
            )

    _retrying(attempt)
    cancel.committed(uri)
    return Written(rows_inserted=rows[0], version=_version(uri))


def merge(uri: str, data: DataFactory, spec: MergeSpec, commit: Commit = Commit()) -> Written:
    """MERGE INTO the table in one commit."""
    uri = uri.rstrip("/")
    metrics: dict[str, Any] = {}
    token = cancel.current()

    def attempt() -> None:
        with _store_errors(uri):
            _merge(table(uri))

    def _merge(found: DeltaTable) -> None:
        merger = found.merge(
            _counted(data(), [0]),
            datafusion_sql(spec.predicate),
            source_alias="source",
            target_alias="target",
            merge_schema=commit.evolve,
            commit_properties=commit.properties(),
        )
        for clause in spec.matched:
            cond = datafusion_sql(clause.condition) if clause.condition else None
            if clause.action == "delete":
                merger = merger.when_matched_delete(cond)
            elif clause.values:
                merger = merger.when_matched_update(_values(clause.values), cond)
            else:
                merger = merger.when_matched_update_all(cond)
        for clause in spec.not_matched:
            cond = datafusion_sql(clause.condition) if clause.condition else None
            if clause.values:
                merger = merger.when_not_matched_insert(_values(clause.values), cond)
            else:
                merger = merger.when_not_matched_insert_all(cond)
        with cancel.commit_window(token):
            metrics.update(merger.execute())

    _retrying(attempt)
    cancel.committed(uri)
    return Written(
        rows_inserted=int(metrics.get("num_target_rows_inserted", 0)),
        rows_updated=int(metrics.get("num_target_rows_updated", 0)),
        rows_deleted=int(metrics.get("num_target_rows_deleted", 0)),
        version=_version(uri),
    )


def delete(uri: str, predicate: str, commit: Commit = Commit()) -> int:
    """Delete the rows matching ``predicate`` (Spark SQL) in one commit; returns how many."""
    deleted = [0]

    def attempt() -> None:
        with _store_errors(uri):
            found = table(uri)
            metrics = found.delete(datafusion_sql(predicate), commit_properties=commit.properties())
        deleted[0] = int(metrics.get("num_deleted_rows", 0) or 0)

    _retrying(attempt)
    return deleted[0]


def lakestory_commits(uri: str, after: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """``(version, metadata)`` of the commits lakestory made after version ``after``,
    oldest first. Reads only the log entries after ``after``."""
    if not exists(uri):
        return []
    log_of = table(uri)
    newest = log_of.version()
    limit = None if after is None else max(newest - after, 0)
    if limit == 0:
        return []
    found = []
    for entry in log_of.history(limit):
        raw = entry.get(COMMIT_KEY) or _from_user_metadata(entry.get("userMetadata"))
        version = entry.get("version")
        if raw is None or version is None or (after is not None and version <= after):
            continue
        try:
            found.append((int(version), json.loads(raw)))
        except (TypeError, ValueError):
            continue
    return sorted(found, key=lambda vm: vm[0])


def _from_user_metadata(text: Any) -> str | None:
    """lakestory's metadata in a commit Spark's own Delta Lake made: its ``userMetadata``
    holds ``{"lakestory": {...}}``."""
    if not isinstance(text, str):
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if isinstance(found, dict) and isinstance(found.get(COMMIT_KEY), dict):
        return json.dumps(found[COMMIT_KEY])
    return None


def _version(uri: str) -> int | None:
    """The version just committed, read back; None when the store does not answer (the
    commit happened: failing now would make a retry write the data again)."""
    try:
        return _read_version(uri)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("committed to %s, but could not read its new version: %s", uri, exc)
        return None


def _read_version(uri: str) -> int:
    return int(table(uri).version())


def _values(values: Mapping[str, str]) -> dict[str, str]:
    return {_ident(col): datafusion_sql(expr) for col, expr in values.items()}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _counted(reader: pa.RecordBatchReader, rows: list[int]) -> pa.RecordBatchReader:
    """The stream a commit writes, counting its rows and stopping (before the commit) when
    the node's work is cancelled. The token is taken here, in the node's thread: delta-rs
    may pull the batches from threads of its own."""
    import pyarrow as pa

    token = cancel.current()

    def batches() -> Iterator[pa.RecordBatch]:
        if token is not None:
            token.check()
        for batch in reader:
            if token is not None:
                token.check()
            rows[0] += batch.num_rows
            yield batch
        if token is not None:
            token.check()
            token.committing = True  # from here on the commit cannot be stopped
        faults.point("during_write")  # everything streamed, nothing committed yet

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _retrying(attempt: Callable[[], None]) -> None:
    """Run a commit, again when another writer committed first (optimistic concurrency)."""
    from deltalake.exceptions import CommitFailedError

    for n in range(COMMIT_ATTEMPTS):
        try:
            attempt()
            return
        except CommitFailedError:
            if n == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(min(0.05 * 2**n, 2.0) * (0.5 + random.random()))


_TIMESTAMPS = {"TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMPNTZ", "TIMESTAMPLTZ", "DATETIME"}


def datafusion_sql(spark_sql: str) -> str:
    """A Spark SQL expression in the SQL delta-rs understands. Every comparison is
    parenthesised: DataFusion binds ``IS [NOT] DISTINCT FROM`` looser than ``AND``."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(spark_sql, read="spark")

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DataType) and node.this.name in _TIMESTAMPS:
            # Delta stores microseconds; DataFusion's TIMESTAMP is nanoseconds and will not
            # compare the two
            return exp.DataType.build("TIMESTAMP(6)", dialect="postgres")
        if isinstance(node, exp.Predicate) and isinstance(node.parent, exp.Connector):
            return exp.Paren(this=node)
        return node

    return tree.transform(fix).sql(dialect="postgres")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
