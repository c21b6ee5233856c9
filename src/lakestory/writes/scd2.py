"""SCD2: a table that keeps every version of each row.

Each row carries ``valid_from``, ``valid_to`` and ``is_current`` (names configurable). For
each incoming row, by key:

- a new key opens a current version;
- a row whose tracked columns differ from the current version closes that version
  (``valid_to`` = the new row's effective time, ``is_current`` = false) and opens a new one;
- an unchanged row writes nothing, so re-running the same input writes nothing;
- with ``deletes: soft``, a current key missing from the batch (a full snapshot) is closed.

The effective time is the ``effective_from`` column of the data, or the run's start. A row
older than the current version of its key is ignored: history is never rewritten. All of it
is one MERGE: closes and inserts commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from lakestory.core.errors import WriteError
from lakestory.engines.base import Frame
from lakestory.io import delta
from lakestory.io.specs import WriteOutcome
from lakestory.writes import WriteContext, conform, create, spark, unique_keys

_EFF, _NEW = "`__lakestory_eff`", "`__lakestory_new`"


def _mk(i: int) -> str:
    return f"`__lakestory_key{i}`"


@dataclass(frozen=True)
class Scd2:
    mode: str = "scd2"
    summary: str = "keeps history: closes changed rows and opens new versions"

    def write(self, ctx: WriteContext, frame: Frame) -> WriteOutcome:
        cfg = ctx.config
        keys = list(cfg.keys)
        frame = unique_keys(ctx, frame)
        arrow = ctx.engine.arrow_schema(frame)
        track = _check(ctx, arrow.names)
        if cfg.effective_from:
            eff_type = spark.type_name(arrow.field(cfg.effective_from).type)
            eff = f"s.{spark.ident(cfg.effective_from)}"
        else:
            eff_type = "TIMESTAMP_NTZ"
            started = ctx.run_started.astimezone(UTC).replace(tzinfo=None)
            eff = spark.literal(started, "timestamp_ntz")
        validity = (cfg.valid_from, cfg.valid_to, cfg.is_current)
        vf, vt, cur = (spark.ident(c) for c in validity)
        src = spark.ident(frame.name)
        if not ctx.exists():
            opened = ctx.sql(
                f"SELECT s.*, {eff} AS {vf}, CAST(NULL AS {eff_type}) AS {vt}, true AS {cur} "
                f"FROM {src} AS s",
                "opened",
            )
            return create(ctx, opened)
        frame, evolve = conform(ctx, frame, keep=set(validity))
        src = spark.ident(frame.name)
        data_cols = [c.name for c in ctx.engine.schema(frame)]
        table = ctx.table()
        current = f"(SELECT * FROM {spark.ident(table.name)} WHERE {cur} = true)"
        differs = " OR ".join(f"NOT (s.{spark.ident(c)} <=> c.{spark.ident(c)})" for c in track)
        newer = f" AND {eff} >= c.{vf}" if cfg.effective_from else ""
        changes = ctx.sql(
            f"SELECT s.*, {eff} AS {_EFF}, c.{spark.ident(keys[0])} IS NULL AS {_NEW} "
            f"FROM {src} AS s LEFT JOIN {current} AS c ON {spark.equal('s', 'c', keys)} "
            f"WHERE c.{spark.ident(keys[0])} IS NULL"
            + (f" OR (({differs}){newer})" if differs else ""),
            "changes",
        )
        key_types = {k: spark.type_name(arrow.field(k).type) for k in keys}
        parts = [
            # closes: the current version of each changed key
            f"SELECT {_keys_as_markers(keys)}, {spark.cols(data_cols)}, {_EFF} "
            f"FROM {spark.ident(changes.name)} WHERE NOT {_NEW}",
            # opens: every changed or new row (no marker: never matches, always inserted)
            f"SELECT {_null_markers(keys, key_types)}, {spark.cols(data_cols)}, {_EFF} "
            f"FROM {spark.ident(changes.name)}",
        ]
        if cfg.deletes == "soft":
            started = ctx.run_started.astimezone(UTC).replace(tzinfo=None)
            now = f"CAST({spark.literal(started, 'timestamp_ntz')} AS {eff_type})"
            gone = ", ".join(
                f"c.{spark.ident(c)}" if c in keys else f"NULL AS {spark.ident(c)}"
                for c in data_cols
            )
            parts.append(
                f"SELECT {_keys_as_markers(keys, 'c')}, {gone}, {now} AS {_EFF} "
                f"FROM {current} AS c LEFT ANTI JOIN {src} AS s ON {spark.equal('c', 's', keys)}"
            )
        source = ctx.sql(" UNION ALL ".join(parts), "scd2")
        if ctx.engine.count(source) == 0:
            return WriteOutcome(rows_written=0)
        spec = _merge_spec(ctx, keys, data_cols, eff_type)
        return ctx.engine.merge(source, ctx.target, spec, ctx.with_commit(evolve=evolve))


def _merge_spec(
    ctx: WriteContext, keys: list[str], data_cols: list[str], eff_type: str
) -> delta.MergeSpec:
    """Close the current version of each marked key; insert every unmarked row as open."""
    cfg = ctx.config
    cur = spark.ident(cfg.is_current)
    marker = " AND ".join(f"target.{spark.ident(k)} = source.{_mk(i)}" for i, k in enumerate(keys))
    return delta.MergeSpec(
        predicate=f"{marker} AND target.{cur} = true",
        matched=[
            delta.Clause("update", values={cfg.valid_to: f"source.{_EFF}", cfg.is_current: "false"})
        ],
        not_matched=[
            delta.Clause(
                "insert",
                condition=f"source.{_mk(0)} IS NULL",
                values={
                    **{c: f"source.{spark.ident(c)}" for c in data_cols},
                    cfg.valid_from: f"source.{_EFF}",
                    cfg.valid_to: f"CAST(NULL AS {eff_type})",
                    cfg.is_current: "true",
                },
            )
        ],
    )


def _check(ctx: WriteContext, data_cols: list[str]) -> list[str]:
    """Refuse data scd2 cannot write; returns the tracked columns."""
    cfg, keys = ctx.config, list(ctx.config.keys)
    validity = (cfg.valid_from, cfg.valid_to, cfg.is_current)
    clash = [c for c in validity if c in data_cols]
    if clash:
        raise WriteError(
            f"cannot write {ctx.display} as scd2: the data already has {', '.join(clash)}, "
            "which scd2 maintains",
            hint="drop or rename the column in a step, or name the validity columns "
            "differently (write.valid_from / valid_to / is_current)",
        )
    if cfg.effective_from and cfg.effective_from not in data_cols:
        raise WriteError(
            f"cannot write {ctx.display}: no column {cfg.effective_from} in the data "
            "(write.effective_from)",
            hint=f"columns: {', '.join(data_cols)}",
        )
    track = cfg.track_columns or [c for c in data_cols if c not in keys and c != cfg.effective_from]
    unknown = [c for c in track if c not in data_cols]
    if unknown:
        raise WriteError(
            f"cannot write {ctx.display}: track_columns names columns not in the data: "
            f"{', '.join(unknown)}",
            hint=f"columns: {', '.join(data_cols)}",
        )
    return track


def _keys_as_markers(keys: list[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{spark.ident(k)} AS {_mk(i)}" for i, k in enumerate(keys))


def _null_markers(keys: list[str], types: dict[str, str]) -> str:
    return ", ".join(f"CAST(NULL AS {types[k]}) AS {_mk(i)}" for i, k in enumerate(keys))
