"""Write modes as strategies, chosen in one place (:func:`strategy`).

A strategy decides *what* a write does to the target table, composing engine primitives:
Spark SQL queries (translated to the engine's dialect), one overwrite/append commit, or one
MERGE. Each write is a single Delta commit carrying the node's metadata, so a table is
either as it was or fully written, and state committed with it (a high-water mark) can
never run ahead of or behind the data.

- overwrite: replaces the table (or, with ``Commit.replace_where``, the matching rows)
- append: adds rows; with ``keys`` it adds only rows whose keys are new (re-runs are safe)
- upsert: updates rows whose keys match, inserts the rest
- append_once: inserts only rows whose keys are not in the table
- merge: upsert with conditions (update_condition, insert_condition, delete_condition)
- scd2: keeps history (see :mod:`lakestory.writes.scd2`)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from lakestory.config.models import WriteConfig
from lakestory.core.errors import WriteError
from lakestory.engines.base import Engine, Frame
from lakestory.io import databases, delta
from lakestory.io.specs import Source, Target, WriteOutcome
from lakestory.transforms.sensitivity import Sensitive
from lakestory.writes import spark
from lakestory.writes.schema import Reconciled, reconcile
from lakestory.writes.shown import masked

if TYPE_CHECKING:
    import pyarrow as pa

# A keyed write whose batch holds at least this share of the table's rows rewrites the
# table in one commit (new table = old rows whose keys are not in the batch + the batch)
# instead of a MERGE. Measured in bench/upsert.py (2M rows): delta-rs MERGE wins up to a
# batch of 75 % of the table; a rewrite wins from a batch as large as the table (0.70x).
REWRITE_SHARE = 1.0
_SAMPLE = 5


@dataclass
class WriteContext:
    """Everything a strategy needs besides the frame."""

    engine: Engine
    target: Target
    config: WriteConfig
    name: str  # the node key; frames are named f"{name}:write:<what>"
    run_started: datetime
    commit: delta.Commit = field(default_factory=delta.Commit)
    full_refresh: bool = False
    local: list[Frame] = field(default_factory=list)  # released by the caller
    sensitive: Sensitive = frozenset()  # columns whose values messages must not show

    @property
    def display(self) -> str:
        return self.target.location.display()

    def sql(self, text: str, what: str) -> Frame:
        """Run a Spark SQL query the strategy wrote (it names frames by their names)."""
        from lakestory.transforms.sql import parse_spark_sql, to_dialect

        query = to_dialect(parse_spark_sql(text), {}, self.engine.capabilities.sql_dialect)
        frame = self.engine.sql(query, f"{self.name}:write:{what}")
        self.local.append(frame)
        return frame

    def scalar(self, text: str, what: str) -> object:
        frame = self.sql(text, what)
        row = self.engine.rows(frame, 1)
        return next(iter(row[0].values())) if row else None

    @property
    def database(self) -> bool:
        """The target is a database table: keyed writes are one INSERT ... ON CONFLICT
        there (the engine's write with the target's mode), not a Delta merge."""
        return databases.is_database(self.target.location)

    def exists(self) -> bool:
        return self.target.format == "delta" and delta.exists(self.target.location.uri)

    def table(self) -> Frame:
        """The target table as it is now (the version this write starts from)."""
        source = Source(self.target.location, "delta")
        frame, _ = self.engine.read(source, f"{self.name}:write:table")
        self.local.append(frame)
        return frame

    def table_schema(self) -> pa.Schema | None:
        return delta.arrow_schema(self.target.location.uri)

    def with_commit(self, **changes: object) -> delta.Commit:
        return replace(self.commit, **changes)  # type: ignore[arg-type]


class WriteStrategy(Protocol):
    @property
    def mode(self) -> str: ...

    @property
    def summary(self) -> str:
        """What the plan says this write does."""
        ...

    def write(self, ctx: WriteContext, frame: Frame) -> WriteOutcome: ...


# -- shared steps -------------------------------------------------------------------------


def conform(ctx: WriteContext, frame: Frame, *, keep: set[str] | None = None) -> tuple[Frame, bool]:
    """Apply the schema policy against the existing table; returns the frame to write and
    whether the write adds columns to the table."""
    if keep is None:
        keep = set()
    table = ctx.table_schema()
    if table is None:
        return frame, False
    fixed: Reconciled = reconcile(
        ctx.engine.arrow_schema(frame), table, ctx.config.schema_policy, ctx.display, keep=keep
    )
    if not fixed.changes_data and not fixed.evolve:
        return frame, False
    out = ctx.sql(f"SELECT {', '.join(fixed.select)} FROM {spark.ident(frame.name)}", "conform")
    return out, fixed.evolve


def unique_keys(ctx: WriteContext, frame: Frame) -> Frame:
    """The batch with one row per key: duplicates are an error unless ``dedupe: latest``
    keeps the row that sorts last by ``order_by``. Null keys are always an error: such rows
    could never be matched again, so every re-run would add them anew."""
    keys, name = list(ctx.config.keys), spark.ident(frame.name)
    columns = [c.name for c in ctx.engine.schema(frame)]
    unknown = [k for k in keys + ctx.config.order_by if k not in columns]
    if unknown:
        raise WriteError(
            f"cannot write {ctx.display}: no column {', '.join(unknown)} in the data "
            f"(`write.keys`/`write.order_by`)",
            hint=f"columns: {', '.join(columns)}",
        )
    if ctx.config.dedupe == "latest":
        order = ", ".join(f"{spark.ident(c)} DESC" for c in ctx.config.order_by)
        frame = ctx.sql(
            f"SELECT {spark.cols(columns)} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "
            f"{spark.cols(keys)} ORDER BY {order}) AS `__lakestory_rn` FROM {name}) "
            "WHERE `__lakestory_rn` = 1",
            "dedupe",
        )
        name = spark.ident(frame.name)
    any_null = " OR ".join(f"{spark.ident(k)} IS NULL" for k in keys)
    bad = ctx.sql(
        f"SELECT {spark.cols(keys)}, count(*) AS `__n`, max(CASE WHEN {any_null} THEN 1 ELSE 0 "
        f"END) AS `__null` FROM {name} GROUP BY {spark.cols(keys)} "
        f"HAVING count(*) > 1 OR max(CASE WHEN {any_null} THEN 1 ELSE 0 END) = 1 "
        f"ORDER BY `__null` DESC, `__n` DESC LIMIT {_SAMPLE + 1}",
        "keycheck",
    )
    found = ctx.engine.rows(bad, _SAMPLE + 1)
    if not found:
        return frame
    key_text = ", ".join(keys)
    if found[0]["__null"]:
        nulls = ctx.scalar(f"SELECT count(*) FROM {name} WHERE {any_null}", "nullkeys")
        raise WriteError(
            f"cannot {ctx.config.mode} {ctx.display}: {nulls} row(s) have a null key ({key_text})",
            hint="filter them out or fill the key in a step: a row with a null key can never "
            "be matched, so every re-run would add it again",
        )
    shown = "\n".join(
        ", ".join(f"{k}={masked(repr(row[k]), [k], ctx.sensitive)}" for k in keys)
        + f"  ({row['__n']} rows)"
        for row in found[:_SAMPLE]
    )
    more = " (and more)" if len(found) > _SAMPLE else ""
    raise WriteError(
        f"cannot {ctx.config.mode} {ctx.display}: the data has duplicate keys ({key_text})" + more,
        detail=shown,
        hint="make the keys unique in a step, or keep the newest row per key with "
        "`dedupe: latest` and `order_by: <column>`",
    )


def _count(ctx: WriteContext, frame: Frame) -> int:
    return ctx.engine.count(frame)


def create(ctx: WriteContext, frame: Frame) -> WriteOutcome:
    """The first write of a keyed table: the batch becomes the table."""
    return ctx.engine.write(frame, replace(ctx.target, mode="overwrite"), ctx.commit)


# -- the strategies -----------------------------------------------------------------------


@dataclass(frozen=True)
class Overwrite:
    mode: str = "overwrite"
    summary: str = "replaces the table"

    def write(self, ctx: WriteContext, frame: Frame) -> WriteOutcome:
        if ctx.commit.replace_where and ctx.exists():  # a rolling window: keep the schema
            frame, evolve = conform(ctx, frame)
            return ctx.engine.write(frame, ctx.target, ctx.with_commit(evolve=evolve))
        return ctx.engine.write(frame, ctx.target, ctx.commit)


@dataclass(frozen=True)
class Append:
    mode: str = "append"
    summary: str = "adds rows to the table"

    def write(self, ctx: WriteContext, frame: Frame) -> WriteOutcome:
        if ctx.config.keys and (ctx.target.format == "delta" or ctx.database):
            return AppendOnce(summary="").write(ctx, frame)
        evolve = False
        if ctx.exists():
            frame, evolve = conform(ctx, frame)
        return ctx.engine.write(frame, ctx.target, ctx.with_commit(evolve=evolve))


@dataclass(frozen=True)
class AppendOnce:
    mode: str = "append_once"
    summary: str = "adds only rows whose keys are not in the table"

    def write(self, ctx: WriteContext, frame: Frame) -> WriteOutcome:
        frame = unique_keys(ctx, frame)
        if ctx.database and not ctx.full_refresh:
            return ctx.engine.write(frame, replace(ctx.target, mode="append_once"), ctx.commit)
        if not ctx.exists() or ctx.full_refresh:
            return create(ctx, frame)
        frame, evolve = conform(ctx, frame)
        table, keys = ctx.table(), ctx.config.keys
        new = ctx.sql(
            f"SELECT s.* FROM {spark.ident(frame.name)} AS s LEFT ANTI JOIN "
            f"{spark.ident(table.name)} AS t ON {spark.equal('s', 't', keys)}",
            "new",
        )
        if _count(ctx, new) == 0:
            return WriteOutcome(rows_written=0)
        append = replace(ctx.target, mode="append")
        return ctx.engine.write(new, append, ctx.with_commit(evolve=evolve))


@dataclass(frozen=True)
class Upsert:
    mode: str = "upsert"
    summary: str = "updates rows whose keys match, inserts the rest"

    def write(self, ctx: WriteContext, frame: Frame) -> WriteOutcome:
        frame = unique_keys(ctx, frame)
        if ctx.database and not ctx.full_refresh:
            return ctx.engine.write(frame, replace(ctx.target, mode="upsert"), ctx.commit)
        if not ctx.exists() or ctx.full_refresh:
            return create(ctx, frame)
        frame, evolve = conform(ctx, frame)
        keys = ctx.config.keys
        if not evolve and _rewrite(ctx, frame):
            return _rewrite_upsert(ctx, frame)
        others = [c.name for c in ctx.engine.schema(frame) if c.name not in keys]
        changed = _changed(ctx, others)
        spec = delta.MergeSpec(
            predicate=spark.equal("target", "source", keys),
            matched=[delta.Clause("update", changed)] if others else [],
            not_matched=[delta.Clause("insert")],
        )
        return ctx.engine.merge(frame, ctx.target, spec, ctx.with_commit(evolve=evolve))


def _changed(ctx: WriteContext, others: list[str]) -> str | None:
    """The MERGE condition under which a matched row is updated: a column differs from
    the table's, or is new to the table (the write evolves it) and has a value."""
    table = ctx.table_schema()
    known = set(table.names) if table is not None else set(others)
    old = [c for c in others if c in known]
    conditions = [f"NOT ({spark.null_safe_equal('target', 'source', old)})"] if old else []
    conditions += [f"source.{spark.ident(c)} IS NOT NULL" for c in others if c not in known]
    return " OR ".join(conditions) or None


def _rewrite(ctx: WriteContext, frame: Frame) -> bool:
    choice = ctx.config.strategy
    if choice != "auto":
        return choice == "rewrite"
    table_rows = delta.row_count(ctx.target.location.uri)
    return table_rows == 0 or _count(ctx, frame) >= REWRITE_SHARE * table_rows


def _rewrite_upsert(ctx: WriteContext, frame: Frame) -> WriteOutcome:
    """Upsert as one overwrite commit: the table's rows whose keys are not in the batch,
    plus the batch. Same result as the MERGE; history (time travel) is kept."""
    table, keys = ctx.table(), ctx.config.keys
    src, tgt = spark.ident(frame.name), spark.ident(table.name)
    columns = [c.name for c in ctx.engine.schema(table)]
    kept = ctx.sql(
        f"SELECT {spark.cols(columns, 't')} FROM {tgt} AS t LEFT ANTI JOIN {src} AS s "
        f"ON {spark.equal('t', 's', keys)}",
        "kept",
    )
    others = [c for c in columns if c not in keys]
    same = spark.null_safe_equal("s", "t", others) if others else "true"
    counts = ctx.sql(
        f"SELECT count(t.{spark.ident(keys[0])}) AS matched, "
        f"count(CASE WHEN t.{spark.ident(keys[0])} IS NOT NULL AND NOT ({same}) THEN 1 END) "
        f"AS changed, count(*) AS batch FROM {src} AS s LEFT JOIN {tgt} AS t "
        f"ON {spark.equal('s', 't', keys)}",
        "counts",
    )
    row = ctx.engine.rows(counts, 1)[0]
    inserted, changed = int(row["batch"]) - int(row["matched"]), int(row["changed"])
    if inserted == 0 and changed == 0:
        return WriteOutcome(rows_written=0)  # nothing would change: no commit
    result = ctx.sql(
        f"SELECT * FROM {spark.ident(kept.name)} UNION ALL SELECT {spark.cols(columns)} FROM {src}",
        "result",
    )
    done = ctx.engine.write(result, replace(ctx.target, mode="overwrite"), ctx.commit)
    return WriteOutcome(inserted, done.version, rows_updated=changed)


@dataclass(frozen=True)
class Merge:
    mode: str = "merge"
    summary: str = "merges rows by key (update, insert and delete conditions)"

    def write(self, ctx: WriteContext, frame: Frame) -> WriteOutcome:
        cfg = ctx.config
        frame = unique_keys(ctx, frame)
        if not ctx.exists() or ctx.full_refresh:
            if cfg.insert_condition:
                frame = ctx.sql(
                    f"SELECT * FROM {spark.ident(frame.name)} AS source "
                    f"WHERE {merge_condition(cfg.insert_condition)}",
                    "insertable",
                )
            return create(ctx, frame)
        frame, evolve = conform(ctx, frame)
        matched = []
        if cfg.delete_condition:
            matched.append(delta.Clause("delete", merge_condition(cfg.delete_condition)))
        update = merge_condition(cfg.update_condition) if cfg.update_condition else None
        matched.append(delta.Clause("update", update))
        insert = merge_condition(cfg.insert_condition) if cfg.insert_condition else None
        spec = delta.MergeSpec(
            predicate=spark.equal("target", "source", cfg.keys),
            matched=matched,
            not_matched=[delta.Clause("insert", insert)],
        )
        return ctx.engine.merge(frame, ctx.target, spec, ctx.with_commit(evolve=evolve))


_ALIASES = {"t": "target", "tgt": "target", "s": "source", "src": "source"}


def merge_condition(text: str) -> str:
    """A user's merge condition with ``t.``/``s.`` (or ``tgt.``/``src.``) spelled
    ``target.``/``source.``, the names the merge uses."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(text, read="spark")
    for column in tree.find_all(exp.Column):
        table = column.table.lower()
        if table in _ALIASES:
            column.set("table", exp.to_identifier(_ALIASES[table]))
    return tree.sql(dialect="spark")


def _strategies() -> dict[str, WriteStrategy]:
    from lakestory.writes.scd2 import Scd2

    found: list[WriteStrategy] = [Overwrite(), Append(), Upsert(), AppendOnce(), Merge(), Scd2()]
    return {s.mode: s for s in found}


STRATEGIES: dict[str, WriteStrategy] = {}


def strategy(mode: str) -> WriteStrategy | None:
    if not STRATEGIES:
        STRATEGIES.update(_strategies())
    return STRATEGIES.get(mode)
