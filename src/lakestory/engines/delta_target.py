"""Writing an engine's Arrow stream to a Delta table through deltalake: what every engine
without its own Delta writer shares (one commit, and no table left behind by a first
write that failed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from lakestory.core.errors import WriteError
from lakestory.io import delta, paths
from lakestory.io.specs import Target, WriteOutcome


def write(
    data: delta.DataFactory, columns: Sequence[str], target: Target, commit: delta.Commit
) -> WriteOutcome:
    """Overwrite or append ``data`` (a factory of streams with ``columns``) in one commit."""
    from deltalake.exceptions import SchemaMismatchError

    uri = target.location.uri.rstrip("/")
    created = not paths.exists(uri)
    mode: Literal["append", "overwrite"] = "overwrite" if target.mode == "overwrite" else "append"
    try:
        done = delta.write(
            uri,
            data,
            mode=mode,
            partition_by=target.partition_by,
            commit=commit,
            options=target.options,
        )
    except SchemaMismatchError as exc:
        table = [f.name for f in delta.table(uri).schema().fields]
        raise WriteError(
            f"cannot {target.mode} to {target.location.display()}: the columns differ from the "
            f"table's ({exc})",
            detail=f"data:  {', '.join(columns)}\ntable: {', '.join(table)}",
            hint="select the table's columns in a step, set `write.schema` (on_new_columns: "
            "evolve, on_missing_columns: fill_null), or write with mode: overwrite to replace "
            "the table and its schema",
        ) from None
    except BaseException:
        if created and not paths.is_delta_table(uri):  # a first write that failed: no table
            paths.remove(uri)
        raise
    return WriteOutcome(rows_written=done.rows_inserted, version=done.version)


def merge(
    data: delta.DataFactory, target: Target, spec: delta.MergeSpec, commit: delta.Commit
) -> WriteOutcome:
    done = delta.merge(target.location.uri, data, spec, commit)
    return WriteOutcome(done.rows_inserted, done.version, done.rows_updated, done.rows_deleted)
