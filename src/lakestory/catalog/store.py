"""Appending to and reading the catalog's Delta tables.

Every table is append-only, so concurrent runs never conflict on content. A commit can still
fail when another process commits the same version first, or creates the same table at the
same moment; it is retried with a small jittered backoff, and a writer that lost the race to
create a table appends to the winner's. Tables are compacted every so often, so that reading
one stays a handful of files however long the history grows.
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import TYPE_CHECKING

from lakestory.core.errors import TransientError
from lakestory.io import delta, stores

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

log = logging.getLogger(__name__)

ATTEMPTS = 10
COMPACT_AT = 10  # files in a table that trigger a compaction after an append
TABLE_CONFIG = {
    # A checkpoint every 10 commits: opening a table then replays at most 10 small JSON
    # commits (~5 ms) instead of up to 100 (~40 ms), for a checkpoint every 10th append.
    "delta.checkpointInterval": "10",
    # Files replaced by a compaction are deleted (and forgotten by the log) after an hour,
    # and log entries before the last checkpoint are removed after an hour, not a week and
    # a month: the catalog's readers hold a snapshot for milliseconds, and every commit
    # lists the log folder (~4 ms more per commit at 500 entries).
    "delta.deletedFileRetentionDuration": "interval 1 hours",
    "delta.logRetentionDuration": "interval 1 hours",
}


def open_table(uri: str) -> DeltaTable | None:
    """The table at ``uri``, or None when there is none (yet)."""
    from deltalake.exceptions import TableNotFoundError

    if not delta.exists(uri):
        return None
    try:
        return delta.table(uri)
    except TableNotFoundError:  # being created by another process right now
        return None


def refresh(uri: str, table: DeltaTable | None) -> DeltaTable | None:
    """``table`` brought up to date (reading only the commits since), or opened afresh."""
    from deltalake.exceptions import DeltaError

    if table is not None:
        try:
            table.update_incremental()
            return table
        except DeltaError:  # e.g. the catalog folder was removed meanwhile
            pass
    return open_table(uri)


def append(uri: str, data: pa.Table, table: DeltaTable | None = None) -> DeltaTable | None:
    """One commit appending ``data`` to the table at ``uri`` (created if missing).

    ``table``, when given, is the table already open (and up to date): opening it again
    would replay its log. Returns the table as of the commit, when still open.
    """
    from deltalake import write_deltalake
    from deltalake.exceptions import CommitFailedError, DeltaError

    failure: DeltaError | None = None
    for attempt in range(ATTEMPTS):
        if attempt or table is None:
            table = open_table(uri)
        try:
            if table is None:
                write_deltalake(
                    uri,
                    data,
                    mode="append",
                    configuration=TABLE_CONFIG,
                    storage_options=delta.storage_options(uri),
                )
            else:
                write_deltalake(table, data, mode="append")
        except CommitFailedError as exc:
            failure = exc
        except DeltaError as exc:
            if table is not None or open_table(uri) is None:
                raise  # not a lost race to create the table: a real failure
            failure = exc
        else:
            if table is not None and len(table.file_uris()) >= COMPACT_AT:
                compact(uri)
                return None
            return table
        log.debug("catalog commit to %s failed (attempt %d): %s", uri, attempt + 1, failure)
        time.sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + random.random()))
    raise TransientError(
        f"could not commit to the system catalog table {uri} after {ATTEMPTS} attempts",
        detail=str(failure),
        hint="another process kept committing to it; run again",
    )


def compact(uri: str) -> None:
    """Merge the table's small files into one and delete the files replaced over an hour ago.

    Under an exclusive lock, on a snapshot taken under it: deltalake 1.6 lets two concurrent
    compactions of the same files both commit, which would duplicate their rows. Best
    effort: when another process holds the lock, or there is no file locking on this
    platform, the files are left as they are (reads stay correct, only slower). Catalogs
    on a cloud connection are not compacted: an object store has no lock to take.
    """
    from deltalake.exceptions import DeltaError

    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    if stores.is_remote(uri):
        return
    with open(os.path.join(uri, "_lakestory_compact.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when closed
        except BlockingIOError:
            return
        try:
            table = delta.table(uri)
            if len(table.file_uris()) >= COMPACT_AT:  # not already done by another process
                table.optimize.compact()
                table.vacuum(dry_run=False)
        except DeltaError as exc:
            log.debug("catalog compaction of %s skipped: %s", uri, exc)


def scan(table: DeltaTable, schema: pa.Schema, project: str) -> pa.Table:
    """The rows of ``project`` in ``table``.

    The data files are read with pyarrow directly: faster than deltalake's own scan on many
    small files, and free of its abort at interpreter exit (deltalake 1.6: "terminate called
    without an active exception" after ``to_pyarrow_table``).
    """
    import pyarrow.dataset as ds

    files, filesystem = table.file_uris(), None
    store = stores.find(files[0]) if files else None
    if store is not None:
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        filesystem = PyFileSystem(FSSpecHandler(store.fs()))
        files = [store.fs_path(f) for f in files]
    dataset = ds.dataset(files, schema=schema, format="parquet", filesystem=filesystem)
    return dataset.to_table(filter=ds.field("project") == project)
