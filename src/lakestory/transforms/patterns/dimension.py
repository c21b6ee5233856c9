"""A dimension table keyed by a stable surrogate key (SCD type 0, 1 or 2), with an optional
unknown member and audit columns.

The pattern compares the node's data with the dimension as it is (its own Delta table) and
hands the write only what changes: new members, and members whose tracked columns changed.
Unchanged members are not written at all, so re-running the same input commits nothing.

- ``scd_type: 0``: new members are inserted; existing members never change
  (write ``append_once`` by the natural key).
- ``scd_type: 1``: new members are inserted and changed members overwritten in place; a
  member keeps its surrogate key (write ``upsert`` by the natural key).
- ``scd_type: 2``: each new or changed member opens a version with a new surrogate key; the
  ``scd2`` write closes the member's current version in the same commit.

Surrogate keys are BIGINT: an existing member keeps its key; new keys are the table's
largest key plus ``row_number()`` over the natural key, so every engine numbers alike. The
unknown member has key 0.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakestory.core.text import suggestion
from lakestory.engines.base import Frame
from lakestory.transforms.patterns import PatternContext, pattern
from lakestory.transforms.transformers import ident, literal

LOAD_TIMESTAMP, SOURCE_SYSTEM = "load_timestamp", "source_system"
UNKNOWN_FROM = "1900-01-01 00:00:00"  # valid_from of an SCD2 dimension's unknown member
_NEW = "`__lakestory_new`"
_SAMPLE = 5


class Audit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    load_timestamp: bool = Field(
        default=True,
        description="add `load_timestamp`: the start (UTC) of the run that wrote the row",
    )
    source_system: str | None = Field(
        default=None, description="add `source_system` holding this text"
    )


class DimensionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    natural_key: list[str] = Field(
        min_length=1, description="the column(s) that identify a member in the source"
    )
    surrogate_key: str = Field(description="the BIGINT key column the pattern adds")
    scd_type: Literal[0, 1, 2] = Field(
        default=1, description="0: insert only; 1: overwrite changes; 2: a new version per change"
    )
    track_columns: list[str] | None = Field(
        default=None, description="columns whose change counts (default: all but the natural key)"
    )
    unknown_member: bool = Field(
        default=False, description="add a member with surrogate key 0, once"
    )
    audit: Audit = Field(
        default_factory=Audit, description="{load_timestamp: bool, source_system: text}"
    )
    valid_from: str = Field(default="valid_from", description="scd_type 2: when a version starts")
    valid_to: str = Field(
        default="valid_to", description="scd_type 2: when it ends (NULL: current)"
    )
    is_current: str = Field(
        default="is_current", description="scd_type 2: true on current versions"
    )
    effective_from: str | None = Field(
        default=None,
        description="scd_type 2: a column holding each version's start (default: run start)",
    )

    @field_validator("natural_key", "track_columns", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> DimensionParams:
        scd2_only = {"valid_from", "valid_to", "is_current", "effective_from"}
        given = sorted(scd2_only & self.model_fields_set)
        if given and self.scd_type != 2:
            raise ValueError(f"{', '.join(given)} go(es) with scd_type: 2")
        if self.surrogate_key in self.natural_key:
            raise ValueError(
                f"surrogate_key '{self.surrogate_key}' is also in natural_key: name a new column"
            )
        keys = [*self.natural_key, self.surrogate_key]
        both = [c for c in self.track_columns or [] if c in keys]
        if both:
            raise ValueError(f"track_columns names key columns: {', '.join(both)}")
        if self.track_columns == []:
            raise ValueError("track_columns is empty: leave it out to track every column")
        made = self.made_columns()
        clash = sorted({c for c in made if made.count(c) > 1 or c in self.natural_key})
        if clash:
            raise ValueError(f"column names used twice: {', '.join(clash)}")
        if self.scd_type == 2 and self.unknown_member and self.effective_column() is None:
            # the scd2 write would open the unknown member at the run's start, not in 1900
            raise ValueError(
                "unknown_member with scd_type 2 takes the unknown member's valid_from "
                "(1900-01-01) from a column: keep audit.load_timestamp (the default) or name "
                "an effective_from column"
            )
        return self

    def made_columns(self) -> list[str]:
        """The columns the pattern (and the scd2 write) add to the data."""
        made = [self.surrogate_key, *self.audit_columns()]
        if self.scd_type == 2:
            made += [self.valid_from, self.valid_to, self.is_current]
        return made

    def audit_columns(self) -> list[str]:
        return [LOAD_TIMESTAMP] * self.audit.load_timestamp + [SOURCE_SYSTEM] * bool(
            self.audit.source_system is not None
        )

    def effective_column(self) -> str | None:
        """The column the scd2 write takes each version's valid_from from: the user's
        ``effective_from``, else ``load_timestamp`` (the run's start, as the scd2 default;
        a column, so the unknown member can start in 1900)."""
        if self.effective_from:
            return self.effective_from
        return LOAD_TIMESTAMP if self.audit.load_timestamp else None


def _write(p: DimensionParams) -> dict[str, Any]:
    # one row per member is checked (and explained) by the pattern, before the keys are
    # numbered: a write-side `dedupe: latest` would come too late
    keyed = {"keys": p.natural_key, "dedupe": "none"}
    if p.scd_type == 0:
        return {"mode": "append_once", **keyed}
    if p.scd_type == 1:
        return {"mode": "upsert", **keyed}
    out: dict[str, Any] = {
        "mode": "scd2",
        **keyed,
        # the pattern decides which members changed (on track_columns) and gives each a
        # new surrogate key: the write closes a member's current version when it differs
        "track_columns": [p.surrogate_key],
        "valid_from": p.valid_from,
        "valid_to": p.valid_to,
        "is_current": p.is_current,
        # the pattern passes only changed members: a snapshot's missing keys mean nothing
        "deletes": "ignore",
    }
    if p.effective_column():
        out["effective_from"] = p.effective_column()
    return out


EXAMPLE = {
    "natural_key": "customer_id",
    "surrogate_key": "customer_sk",
    "scd_type": 2,
    "track_columns": ["city", "segment"],
    "unknown_member": True,
    "audit": {"source_system": "crm"},
}


@pattern(DimensionParams, EXAMPLE, write=_write)
def dimension(ctx: PatternContext, p: DimensionParams, df: Frame | None) -> Frame:
    """A dimension with stable surrogate keys: SCD type 0 (insert only), 1 (overwrite) or
    2 (history), an optional unknown member (key 0) and audit columns.

    Only new and changed members (on ``track_columns``) are written, so a re-run of the
    same data commits nothing.
    """
    assert df is not None  # needs_input: the graph gives the pattern data
    data = ctx.columns(df)
    _check_columns(ctx, p, data)
    _check_keys(ctx, p, df)
    track = p.track_columns or [c for c in data if c not in p.natural_key and c != p.effective_from]
    target = ctx.target()
    if target is not None:
        _check_target(ctx, p, target, data)
    changes = _changes(ctx, p, df, data, track, target)
    counts = ctx.rows(
        ctx.sql(
            f"SELECT count(CASE WHEN {_NEW} THEN 1 END) AS new, "
            f"count(CASE WHEN NOT {_NEW} THEN 1 END) AS changed FROM {ident(changes.name)}",
            "counts",
        ),
        1,
    )[0]
    out = [p.surrogate_key, *p.natural_key, *(c for c in data if c not in p.natural_key)]
    body = f"SELECT {', '.join([_cols(out), *_audit(ctx, p)])} FROM {ident(changes.name)}"
    unknown = p.unknown_member and (target is None or not _has_unknown(ctx, p, target))
    if unknown and target is not None:
        _check_unknown_key_free(ctx, p, df, target)
    if unknown:
        body += f" UNION ALL {_unknown(ctx, p, df, data)}"
    result = ctx.sql(body, "members")
    ctx.note(_note(p, int(counts["new"] or 0), int(counts["changed"] or 0), unknown))
    return result


# -- checks ---------------------------------------------------------------------------------


def _check_columns(ctx: PatternContext, p: DimensionParams, data: list[str]) -> None:
    wanted = [("natural_key", c) for c in p.natural_key]
    wanted += [("track_columns", c) for c in p.track_columns or []]
    if p.effective_from:
        wanted.append(("effective_from", p.effective_from))
    for param, col in wanted:
        if col not in data:
            near = suggestion(col, data)
            ctx.fail(
                f"the dimension's {param} names column '{col}', which is not in the data",
                hint=(f"{near}; " if near else "") + f"columns: {', '.join(data)}",
            )
    for col in p.made_columns():
        if col in data:
            ctx.fail(
                f"the data already has a column '{col}', which the dimension pattern makes",
                hint="drop or rename it in a step"
                + (", or name another surrogate_key" if col == p.surrogate_key else ""),
            )


def _check_keys(ctx: PatternContext, p: DimensionParams, df: Frame) -> None:
    """Each member once, and no null natural key (such a member could never be found
    again: each run would add it anew), nor the unknown member's."""
    keys = _cols(p.natural_key)
    null = " OR ".join(f"{ident(k)} IS NULL" for k in p.natural_key)
    reserved = _unknown_keys(ctx, p, df) if p.unknown_member else {}
    is_unknown = " AND ".join(f"{ident(k)} = {v}" for k, v in reserved.items()) or "false"
    undated = f"{ident(p.effective_from)} IS NULL" if p.effective_from else "false"
    found = ctx.rows(
        ctx.sql(
            f"SELECT count(CASE WHEN {null} THEN 1 END) AS n, "
            f"count(CASE WHEN {is_unknown} THEN 1 END) AS reserved, "
            f"count(CASE WHEN {undated} THEN 1 END) AS undated FROM {ident(df.name)}",
            "nullkeys",
        ),
        1,
    )[0]
    if found["n"]:
        ctx.fail(
            f"{found['n']} row(s) have a null natural key ({', '.join(p.natural_key)})",
            hint="filter them out or fill the key in a step (a `filter` or `fill_nulls` "
            "transformer); facts with no member get the unknown member (unknown_member: true)",
        )
    if found.get("undated"):
        # a version with a NULL valid_from is never found by date, and no later change of
        # its member is ever newer than it: the member's history would stop there
        ctx.fail(
            f"{found['undated']} row(s) have a null effective_from ({p.effective_from})",
            hint="fill it in a step (e.g. `coalesce(...)` with the load date), or leave "
            "effective_from out to start versions at the run's start",
        )
    if found.get("reserved"):
        shown = ", ".join(f"{k}={v}" for k, v in reserved.items())
        ctx.fail(
            f"{found['reserved']} row(s) have the unknown member's natural key ({shown})",
            hint="the unknown member (key 0) owns that natural key: map these rows to "
            "another key in a step, or leave unknown_member out",
        )
    dup = ctx.sql(
        f"SELECT {keys}, count(*) AS `__n` FROM {ident(df.name)} GROUP BY {keys} "
        f"HAVING count(*) > 1 ORDER BY `__n` DESC, {keys} LIMIT {_SAMPLE + 1}",
        "duplicates",
    )
    twice = ctx.rows(dup, _SAMPLE + 1)
    if twice:
        shown = "\n".join(
            ", ".join(f"{k}={ctx.shown(k, repr(r[k]))}" for k in p.natural_key)
            + f"  ({r['__n']} rows)"
            for r in twice[:_SAMPLE]
        )
        ctx.fail(
            f"the data has several rows for one member (natural_key {', '.join(p.natural_key)})"
            + (" (and more)" if len(twice) > _SAMPLE else ""),
            detail=shown,
            hint="keep one row per member in a step, e.g. the `deduplicate` transformer "
            "(keys and the column that says which row is newest)",
        )


def _check_target(ctx: PatternContext, p: DimensionParams, target: Frame, data: list[str]) -> None:
    have = ctx.columns(target)
    needed = [p.surrogate_key, *p.natural_key]
    if p.scd_type == 2:
        needed += [p.valid_from, p.is_current]
    history = [p.valid_from, p.valid_to, p.is_current]
    if p.scd_type != 2 and all(c in have and c not in data for c in history):
        ctx.fail(
            f"the dimension's table keeps history ({', '.join(history)}): it was written "
            f"with scd_type: 2, and scd_type: {p.scd_type} would match several versions of "
            "a member",
            hint="keep scd_type: 2, or rebuild the table with `lakestory run "
            "--full-refresh` (surrogate keys are then numbered anew)",
        )
    missing = [c for c in needed if c not in have]
    if missing:
        ctx.fail(
            f"the dimension's table has no column {', '.join(missing)}: it was written "
            "with other keys or another scd_type",
            hint="name the table's columns in the params, or rebuild the table with "
            "`lakestory run --full-refresh` (surrogate keys are then numbered anew)",
        )


# -- SQL --------------------------------------------------------------------------------------


def _cols(names: list[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{ident(c)}" for c in names)


def _on(keys: list[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{ident(k)} = {right}.{ident(k)}" for k in keys)


def _order(keys: list[str], alias: str) -> str:
    return ", ".join(f"{alias}.{ident(k)}" for k in keys)


def _changes(
    ctx: PatternContext,
    p: DimensionParams,
    df: Frame,
    data: list[str],
    track: list[str],
    target: Frame | None,
) -> Frame:
    """The incoming members to write, each with its surrogate key and ``__lakestory_new``."""
    sk, src = ident(p.surrogate_key), ident(df.name)
    rank = f"row_number() OVER (ORDER BY {_order(p.natural_key, 's')})"
    if target is None:
        return ctx.sql(
            f"SELECT CAST({rank} AS BIGINT) AS {sk}, s.*, true AS {_NEW} FROM {src} AS s",
            "changes",
        )
    tgt, have = ident(target.name), set(ctx.columns(target))
    top = f"(SELECT coalesce(max({sk}), 0) AS `__max` FROM {tgt}) AS m"
    first = ident(p.natural_key[0])
    if p.scd_type == 0:  # new members only
        return ctx.sql(
            f"SELECT CAST(m.`__max` + {rank} AS BIGINT) AS {sk}, s.*, true AS {_NEW} "
            f"FROM {src} AS s LEFT ANTI JOIN {tgt} AS t ON {_on(p.natural_key, 's', 't')} "
            f"CROSS JOIN {top}",
            "changes",
        )
    differs = " OR ".join(
        f"NOT (s.{ident(c)} <=> {'t.' + ident(c) if c in have else 'NULL'})" for c in track
    )
    if p.scd_type == 2:
        current = f"(SELECT * FROM {tgt} WHERE {ident(p.is_current)} = true)"
        newer = ""
        if p.effective_from:  # as the scd2 write: history is never rewritten
            newer = f" AND s.{ident(p.effective_from)} >= t.{ident(p.valid_from)}"
        return ctx.sql(
            f"SELECT CAST(m.`__max` + {rank} AS BIGINT) AS {sk}, s.*, "
            f"t.{first} IS NULL AS {_NEW} "
            f"FROM {src} AS s LEFT JOIN {current} AS t ON {_on(p.natural_key, 's', 't')} "
            f"CROSS JOIN {top} WHERE t.{first} IS NULL OR (({differs}){newer})",
            "changes",
        )
    # scd 1: existing members keep their key; new ones are numbered after the largest
    new_first = f"CASE WHEN t.{first} IS NULL THEN 0 ELSE 1 END"
    renk = f"row_number() OVER (ORDER BY {new_first}, {_order(p.natural_key, 's')})"
    return ctx.sql(
        f"SELECT CAST(CASE WHEN t.{first} IS NULL THEN m.`__max` + {renk} "
        f"ELSE t.{sk} END AS BIGINT) AS {sk}, s.*, t.{first} IS NULL AS {_NEW} "
        f"FROM {src} AS s LEFT JOIN {tgt} AS t ON {_on(p.natural_key, 's', 't')} "
        f"CROSS JOIN {top} WHERE t.{first} IS NULL OR ({differs})",
        "changes",
    )


def _started(ctx: PatternContext) -> str:
    """The run's start as a TIMESTAMP_NTZ literal of its UTC wall time."""
    started = ctx.started.astimezone(UTC).replace(tzinfo=None)
    return f"CAST({literal(started.isoformat(sep=' '))} AS TIMESTAMP_NTZ)"


def _audit(ctx: PatternContext, p: DimensionParams, unknown: bool = False) -> list[str]:
    out = []
    if p.audit.load_timestamp:
        at = _started(ctx)
        if unknown and p.scd_type == 2 and p.effective_column() == LOAD_TIMESTAMP:
            at = f"CAST({literal(UNKNOWN_FROM)} AS TIMESTAMP_NTZ)"
        out.append(f"{at} AS {ident(LOAD_TIMESTAMP)}")
    if p.audit.source_system is not None:
        out.append(f"{literal(p.audit.source_system)} AS {ident(SOURCE_SYSTEM)}")
    return out


def _has_unknown(ctx: PatternContext, p: DimensionParams, target: Frame) -> bool:
    found = ctx.sql(
        f"SELECT 1 AS one FROM {ident(target.name)} WHERE {ident(p.surrogate_key)} = 0 LIMIT 1",
        "unknown",
    )
    return bool(ctx.rows(found, 1))


def _check_unknown_key_free(
    ctx: PatternContext, p: DimensionParams, df: Frame, target: Frame
) -> None:
    """The table (written before unknown_member was on) must not hold a member with the
    unknown member's natural key: the write would turn that member into the unknown one."""
    reserved = _unknown_keys(ctx, p, df)
    match = " AND ".join(f"{ident(k)} = {v}" for k, v in reserved.items())
    found = ctx.sql(
        f"SELECT {_cols([p.surrogate_key])} FROM {ident(target.name)} WHERE {match} LIMIT 1",
        "unknown key",
    )
    rows = ctx.rows(found, 1)
    if rows:
        shown = ", ".join(f"{k}={v}" for k, v in reserved.items())
        ctx.fail(
            f"the dimension's table has a member with the unknown member's natural key "
            f"({shown}, {p.surrogate_key}={rows[0][p.surrogate_key]}): adding the unknown "
            "member (key 0) would overwrite it",
            hint="give that member another natural key (a step, then --full-refresh), or "
            "leave unknown_member out",
        )


def _unknown(ctx: PatternContext, p: DimensionParams, df: Frame, data: list[str]) -> str:
    """The unknown member as a SELECT: key 0, natural key -1 (or '-1'), string attributes
    'Unknown', others NULL. Its columns come from a join that never matches, so each keeps
    the data's type and the union widens nothing."""
    kinds = ctx.types(df)
    values = [f"CAST(0 AS BIGINT) AS {ident(p.surrogate_key)}"]
    for key, value in _unknown_keys(ctx, p, df).items():
        values.append(f"coalesce(s.{ident(key)}, {value}) AS {ident(key)}")
    for col in data:
        if col in p.natural_key:
            continue
        if col == p.effective_from:
            value = _unknown_from(ctx, col, kinds.get(col, "other"))
        elif kinds.get(col) == "string":
            value = "'Unknown'"
        else:
            values.append(f"s.{ident(col)}")
            continue
        values.append(f"coalesce(s.{ident(col)}, {value}) AS {ident(col)}")
    values += _audit(ctx, p, unknown=True)
    return (
        f"SELECT {', '.join(values)} "
        f"FROM (SELECT 1 AS `__one`) AS u LEFT JOIN {ident(df.name)} AS s ON 1 = 0"
    )


def _unknown_keys(ctx: PatternContext, p: DimensionParams, df: Frame) -> dict[str, str]:
    """The unknown member's natural key: -1, or '-1' for a string column."""
    kinds, out = ctx.types(df), {}
    for key in p.natural_key:
        kind = kinds.get(key, "other")
        if kind not in ("int", "float", "decimal", "string"):
            ctx.fail(
                f"unknown_member needs a numeric or string natural key; {key} is {kind}",
                hint="cast the key in a step, or leave unknown_member out",
            )
        out[key] = "'-1'" if kind == "string" else "-1"
    return out


def _unknown_from(ctx: PatternContext, col: str, kind: str) -> str:
    if kind == "date":
        return "DATE '1900-01-01'"
    if kind in ("timestamp", "timestamp_ntz"):
        return f"CAST({literal(UNKNOWN_FROM)} AS {kind.upper()})"
    if kind == "string":
        return literal(UNKNOWN_FROM)
    ctx.fail(
        f"effective_from column {col} is {kind}: the unknown member cannot start in 1900",
        hint="cast it to a date or timestamp in a step",
    )


def _note(p: DimensionParams, new: int, changed: int, unknown: bool) -> str:
    verb = {0: "", 1: " (overwritten)", 2: " (new versions)"}[p.scd_type]
    text = f"{new} new member(s), {changed} changed{verb}" if p.scd_type else f"{new} new member(s)"
    return text + ("; the unknown member (key 0) added" if unknown else "")
