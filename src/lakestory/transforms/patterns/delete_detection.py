"""The ``delete_detection`` pattern: the node's data is a full snapshot of a source; rows
of the node's own table whose keys are no longer in it were deleted at the source.

- ``mode: soft`` (the default): the table keeps those rows with ``deleted_column`` set to
  true (and ``deleted_at_column``, when named, set to the run's start); a key that comes
  back is un-deleted (flag false, deleted_at NULL). Written as an upsert by ``keys``: the
  snapshot's rows plus the newly deleted ones.
- ``mode: hard``: the table becomes the snapshot (one overwrite commit): rows whose keys
  vanished are gone, the others are as the snapshot has them.

Before anything is written, ``max_delete_percent`` guards against a broken or partial
snapshot: when more than that share of the table's live rows would be deleted, the node
fails and the table stays as it was.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from lakestory.engines.base import Frame
from lakestory.transforms.patterns import PatternContext, pattern
from lakestory.transforms.transformers import ident, literal


class DeleteDetectionParams(BaseModel):
    keys: list[str] = Field(min_length=1, description="the columns that identify a row")
    mode: Literal["soft", "hard"] = Field("soft", description="flag deleted rows, or remove them")
    deleted_column: str = Field("is_deleted", description="soft: the BOOLEAN flag column")
    deleted_at_column: str | None = Field(
        None, description="soft: a TIMESTAMP column set to the run's start on deletion"
    )
    max_delete_percent: float | None = Field(
        50.0,
        ge=0,
        le=100,
        description="fail when more than this % of the table's live rows would be deleted "
        "(null: no limit)",
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _write(p: DeleteDetectionParams) -> dict[str, Any]:
    if p.mode == "hard":
        return {"mode": "overwrite"}
    return {"mode": "upsert", "keys": list(p.keys)}


def _tests(p: DeleteDetectionParams, _looked_up: object) -> list[dict[str, Any]]:
    return [{"type": "unique", "columns": list(p.keys), "name": "snapshot keys are unique"}]


def _on(p: DeleteDetectionParams, a: str, b: str) -> str:
    return " AND ".join(f"{a}.{ident(k)} <=> {b}.{ident(k)}" for k in p.keys)


@pattern(
    DeleteDetectionParams,
    {
        "keys": ["customer_id"],
        "mode": "soft",
        "deleted_column": "is_deleted",
        "deleted_at_column": "deleted_at",
        "max_delete_percent": 20,
    },
    write=_write,
    tests=_tests,
)
def delete_detection(ctx: PatternContext, p: DeleteDetectionParams, df: Frame | None) -> Frame:
    """Compares a full snapshot with the node's table by `keys`: rows whose keys vanished
    are flagged deleted (soft, the default; a key that comes back is un-deleted) or removed
    (hard), with a `max_delete_percent` safety stop."""
    assert df is not None  # needs_input: the graph gives the node data
    columns = ctx.columns(df)
    _check_columns(ctx, p, columns)
    if ctx.incremental is not None:
        ctx.fail(
            "delete detection compares a full snapshot with the table, but this node's read "
            "is incremental: every row not in this batch would look deleted",
            hint="remove `read.incremental` (the node must read the whole source each run)",
        )
    if ctx.batch_of is not None:
        ctx.fail(
            f"delete detection compares a full snapshot with the table, but this node's data "
            f"is the output of {ctx.batch_of}, which reads incrementally (only its new rows): "
            "every row not in that batch would look deleted",
            hint=f"read {ctx.batch_of}'s table in full instead: give this node a `read` of "
            "that table, or a source it reads whole",
        )
    target = ctx.target()
    if target is None:  # the first run: the snapshot is the table
        return df if p.mode == "hard" else ctx.sql(_snapshot(p, df, columns), "snapshot")
    live = _live(ctx, p, target)
    gone = ctx.sql(
        f"SELECT t.* FROM {ident(live.name)} AS t LEFT ANTI JOIN {ident(df.name)} AS s "
        f"ON {_on(p, 't', 's')}",
        "deleted rows",
    )
    deleted, total = ctx.count(gone), ctx.count(live)
    _guard(ctx, p, deleted, total)
    ctx.note(f"{deleted} row(s) deleted at the source ({p.mode} delete)")
    if p.mode == "hard":
        return df
    # a column the snapshot has and the table has not yet (the write's schema policy
    # decides whether it may be added) is NULL in the deleted rows
    old = {c.lower() for c in ctx.columns(target)}
    select = ", ".join(
        f"t.{ident(c)}" if c.lower() in old else f"NULL AS {ident(c)}" for c in columns
    )
    flags = f"TRUE AS {ident(p.deleted_column)}"
    if p.deleted_at_column:
        at = literal(ctx.started.isoformat(sep=" "))
        flags += f", CAST({at} AS TIMESTAMP) AS {ident(p.deleted_at_column)}"
    deleted_rows = f"SELECT {select}, {flags} FROM {ident(gone.name)} AS t"
    return ctx.sql(
        f"{_snapshot(p, df, columns)} UNION ALL {deleted_rows}",
        "snapshot and deleted rows",
    )


def _check_columns(ctx: PatternContext, p: DeleteDetectionParams, columns: list[str]) -> None:
    lower = {c.lower() for c in columns}
    missing = [k for k in p.keys if k.lower() not in lower]
    if missing:
        ctx.fail(
            f"the key column(s) {', '.join(missing)} are not in the node's data",
            hint=f"columns: {', '.join(columns)}",
        )
    flags = [p.deleted_column, p.deleted_at_column] if p.mode == "soft" else []
    taken = [c for c in flags if c and c.lower() in lower]
    if taken:
        ctx.fail(
            f"the data already has a column {', '.join(taken)}, which the pattern sets",
            hint="name another column with `deleted_column` / `deleted_at_column`",
        )


def _snapshot(p: DeleteDetectionParams, df: Frame, columns: list[str]) -> str:
    """The snapshot's rows, live: flag false, deleted_at NULL."""
    flags = f"FALSE AS {ident(p.deleted_column)}"
    if p.deleted_at_column:
        flags += f", CAST(NULL AS TIMESTAMP) AS {ident(p.deleted_at_column)}"
    select = ", ".join(ident(c) for c in columns)
    return f"SELECT {select}, {flags} FROM {ident(df.name)}"


def _live(ctx: PatternContext, p: DeleteDetectionParams, target: Frame) -> Frame:
    """The table's rows not already deleted (soft), or all of them (hard)."""
    if p.mode == "hard" or p.deleted_column not in ctx.columns(target):
        return target
    flag = ident(p.deleted_column)
    return ctx.sql(
        f"SELECT * FROM {ident(target.name)} WHERE {flag} IS NULL OR NOT {flag}", "live rows"
    )


def _guard(ctx: PatternContext, p: DeleteDetectionParams, deleted: int, total: int) -> None:
    if p.max_delete_percent is None or deleted == 0 or total == 0:
        return
    percent = 100.0 * deleted / total
    if percent > p.max_delete_percent:
        ctx.fail(
            f"{deleted} of the table's {total} live rows ({percent:.1f}%) would be deleted, "
            f"more than max_delete_percent ({p.max_delete_percent:g}%); the table is unchanged",
            hint="if the snapshot is incomplete, fix the source and run again; if the "
            "deletions are real, raise `max_delete_percent` in the pattern's params (or set "
            "it to null) for this run",
        )
