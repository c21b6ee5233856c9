"""The ``aggregation`` pattern: one row per grain, with measures and an optional HAVING,
refreshed in full or, after an incremental read, for the affected grain keys only.

Incremental refresh (``incremental:``) keeps the table equal to a full recompute:

- ``merge_strategy: recompute`` (the default): the grain keys present in the new rows are
  recomputed from the node's whole source (its ``read`` without the incremental filter,
  less the rows its contracts drop or quarantine, through its steps), so every measure is
  right (avg, count distinct, any expression) and a key that stops satisfying ``having``
  leaves the table. Costs a read of the whole source.
- ``merge_strategy: sum``: the new rows are aggregated alone and merged into the table's
  row of each key (sum + sum, count + count, least min, greatest max). Reads only the new
  rows, so it needs measures that merge (a single ``sum``, ``count``, ``min`` or ``max``
  each, not DISTINCT) and a read that gives each source row exactly once (incremental
  ``mode: column`` without ``lag``, or ``mode: files``); ``having`` is refused (a key
  filtered out earlier has no row left to merge into).

Writes: a full aggregate overwrites the table; an incremental one upserts by the grain,
except with ``having``, where it rewrites the table in one commit (the rows of unaffected
keys, plus the recomputed ones that pass ``having``), so that a key that fails ``having``
is removed.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlglot import exp
from sqlglot.errors import ParseError

from lakestory.engines.base import Frame
from lakestory.transforms.patterns import PatternContext, pattern
from lakestory.transforms.transformers import ident


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key must not be ignored

    name: str = Field(description="the output column")
    expr: str = Field(description="a Spark SQL aggregate expression, e.g. `sum(amount)`")

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        _parse(value, "expr")
        return value


class Incremental(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merge_strategy: Literal["recompute", "sum"] = Field(
        "recompute",
        description="recompute: affected keys from the whole source; sum: merge the new "
        "rows' aggregates into the table's rows (sum/count/min/max measures only)",
    )


class AggregationParams(BaseModel):
    grain: list[str] = Field(min_length=1, description="the columns of one output row")
    measures: list[Measure] = Field(min_length=1)
    having: str | None = Field(None, description="a Spark SQL condition on the groups")
    incremental: Incremental | None = Field(
        None,
        description="refresh only the grain keys of the new rows (true, or {merge_strategy})",
    )

    @field_validator("grain", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("incremental", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        return None if value is False else value

    @field_validator("having")
    @classmethod
    def _having_parses(cls, value: str | None) -> str | None:
        if value is not None:
            _parse(value, "having")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AggregationParams:
        names = [m.name.lower() for m in self.measures]
        clash = sorted({n for n in names if names.count(n) > 1} & set(names))
        clash += sorted({g.lower() for g in self.grain} & set(names))
        if clash:
            raise ValueError(f"measure name(s) {', '.join(clash)} repeat a grain or measure")
        if self.incremental is not None and self.incremental.merge_strategy == "sum":
            if self.having is not None:
                raise ValueError(
                    "`having` cannot go with incremental merge_strategy: sum (a key filtered "
                    "out earlier has no row to merge into); use merge_strategy: recompute"
                )
            for m in self.measures:
                why = unmergeable(m.expr)
                if why:
                    raise ValueError(
                        f"measure '{m.name}' ({m.expr}) cannot be merged: {why}; use "
                        "merge_strategy: recompute, or sum and count measures and divide "
                        "downstream"
                    )
        return self


def _parse(text: str, what: str) -> exp.Expression:
    try:
        tree = cast(exp.Expression, sqlglot.parse_one(text, read="spark"))
    except ParseError as exc:
        why = exc.errors[0]["description"] if exc.errors else str(exc)
        raise ValueError(f"{what} is not valid Spark SQL: {text!r} ({why})") from None
    return tree


_MERGEABLE: dict[type[exp.Expression], str] = {
    exp.Sum: "sum",
    exp.Count: "count",
    exp.Min: "min",
    exp.Max: "max",
}


def unmergeable(expr: str) -> str | None:
    """Why a measure cannot be merged from partial aggregates, or None when it can: it must
    be one ``sum``, ``count``, ``min`` or ``max`` call, not DISTINCT."""
    tree = _parse(expr, "expr")
    kind = _MERGEABLE.get(type(tree))
    if kind is None:
        name = type(tree).__name__.lower() if isinstance(tree, exp.AggFunc) else None
        return (
            f"{name} of two batches is not computed from their two results"
            if name
            else "it is not a single sum, count, min or max"
        )
    if isinstance(tree.this, exp.Distinct):
        return "a distinct count of two batches is not the sum of their counts"
    return None


def _merged(name: str, expr: str) -> str:
    """The SQL merging the table's value ``t.name`` with the new rows' ``n.name``."""
    kind = _MERGEABLE[type(_parse(expr, "expr"))]
    t, n = f"t.{ident(name)}", f"n.{ident(name)}"
    if kind == "count":
        return f"coalesce({t}, 0) + {n}"
    if kind == "sum":
        return f"CASE WHEN {t} IS NULL THEN {n} WHEN {n} IS NULL THEN {t} ELSE {t} + {n} END"
    op = "<" if kind == "min" else ">"
    return f"CASE WHEN {t} IS NULL OR {n} {op} {t} THEN {n} ELSE {t} END"


def _write(p: AggregationParams) -> dict[str, Any]:
    if p.incremental is None or p.having is not None:
        return {"mode": "overwrite"}
    return {"mode": "upsert", "keys": list(p.grain)}


def _group(p: AggregationParams, source: str, having: bool = True) -> str:
    grain = ", ".join(ident(g) for g in p.grain)
    measures = ", ".join(f"{m.expr} AS {ident(m.name)}" for m in p.measures)
    sql = f"SELECT {grain}, {measures} FROM {source} GROUP BY {grain}"
    return f"{sql} HAVING {p.having}" if having and p.having else sql


def _lineage(p: AggregationParams) -> str:
    return _group(p, "df", having=False)


def _same_keys(p: AggregationParams, a: str, b: str) -> str:
    return " AND ".join(f"{a}.{ident(g)} <=> {b}.{ident(g)}" for g in p.grain)


@pattern(
    AggregationParams,
    {
        "grain": ["customer_id", "order_month"],
        "measures": [
            {"name": "orders", "expr": "count(*)"},
            {"name": "revenue", "expr": "sum(amount)"},
        ],
        "having": "sum(amount) > 0",
        "incremental": {"merge_strategy": "recompute"},
    },
    write=_write,
    lineage=_lineage,
)
def aggregation(ctx: PatternContext, p: AggregationParams, df: Frame | None) -> Frame:
    """One row per grain with measures (`{name, expr}`) and an optional `having`; with
    `incremental`, only the grain keys of the new rows are refreshed (recomputed from the
    whole source, or summed into the table's rows)."""
    assert df is not None  # needs_input: the graph gives the node data
    if p.incremental is None and ctx.batch_of is not None:
        ctx.fail(
            f"a full aggregate replaces its table, but this node's data is the output of "
            f"{ctx.batch_of}, which reads incrementally: the table would hold the aggregate "
            "of its new rows only",
            hint=f"give this node a `read` of {ctx.batch_of}'s table (in full, or with "
            "`incremental:` and the pattern's `incremental: true`)",
        )
    target = ctx.target() if p.incremental is not None else None
    if target is None:  # a full aggregate (or the first incremental run)
        return ctx.sql(_group(p, ident(df.name)), "aggregate")
    inc = ctx.incremental
    if inc is None:
        ctx.fail(
            "the aggregation pattern's `incremental` refresh needs an incremental read: this "
            "run reads all the source, and keys gone from it would stay in the table",
            hint="add `read.incremental` to the node, or remove `incremental` from the "
            "pattern's params (a full aggregate each run)",
        )
    assert p.incremental is not None
    _check_target(ctx, p, target)
    if p.incremental.merge_strategy == "sum":
        return _merge_sum(ctx, p, df, target, inc.mode, inc.lag is not None)
    if p.having is not None and inc.mode == "window":
        ctx.fail(
            "an incremental aggregation with `having` rewrites its table, which a "
            "`mode: window` read would limit to the window's rows",
            hint="read with `incremental: {mode: column, column: ..., lag: ...}` instead",
        )
    return _recompute(ctx, p, df, target)


def _check_target(ctx: PatternContext, p: AggregationParams, target: Frame) -> None:
    """The table must have every grain and measure column: one the params gained since it
    was built would be filled for the refreshed keys only (or not merge at all)."""
    have = {c.lower() for c in ctx.columns(target)}
    missing = [c for c in [*p.grain, *(m.name for m in p.measures)] if c.lower() not in have]
    if missing:
        ctx.fail(
            f"the aggregate's table has no column {', '.join(missing)}: it was built with "
            "other grain or measures, and an incremental refresh would fill "
            + ("it" if len(missing) == 1 else "them")
            + " for the refreshed keys only",
            hint="rebuild the table once with `lakestory run --full-refresh` (a full "
            "aggregate), then incremental runs refresh it",
        )


def _recompute(ctx: PatternContext, p: AggregationParams, df: Frame, target: Frame) -> Frame:
    grain = ", ".join(ident(g) for g in p.grain)
    keys = ctx.sql(f"SELECT DISTINCT {grain} FROM {ident(df.name)}", "affected keys")
    source = ctx.source()
    assert source is not None  # an incremental read: the node has a read
    rows = ctx.sql(
        f"SELECT s.* FROM {ident(source.name)} AS s LEFT SEMI JOIN {ident(keys.name)} AS k "
        f"ON {_same_keys(p, 's', 'k')}",
        "affected rows",
    )
    fresh = ctx.sql(_group(p, ident(rows.name)), "recomputed")
    ctx.note(f"{ctx.count(keys)} grain key(s) recomputed")
    if p.having is None:
        return fresh
    columns = ", ".join(ident(c) for c in [*p.grain, *(m.name for m in p.measures)])
    table = ctx.sql(
        f"SELECT {columns} FROM {ident(target.name)} AS t LEFT ANTI JOIN {ident(keys.name)} "
        f"AS k ON {_same_keys(p, 't', 'k')} UNION ALL SELECT {columns} FROM {ident(fresh.name)}",
        "table",
    )
    return table


def _merge_sum(
    ctx: PatternContext, p: AggregationParams, df: Frame, target: Frame, mode: str | None, lag: bool
) -> Frame:
    if mode == "window" or lag:
        ctx.fail(
            "incremental merge_strategy: sum adds the new rows' measures to the table's, but "
            + ("a `mode: window` read" if mode == "window" else "a read with `lag`")
            + " reads some rows again, which would count them twice",
            hint="use merge_strategy: recompute, or read with `mode: column` without `lag`"
            " (or `mode: files`)",
        )
    part = ctx.sql(_group(p, ident(df.name)), "new rows' aggregate")
    grain = ", ".join(f"n.{ident(g)}" for g in p.grain)
    merged = ", ".join(f"{_merged(m.name, m.expr)} AS {ident(m.name)}" for m in p.measures)
    out = ctx.sql(
        f"SELECT {grain}, {merged} FROM {ident(part.name)} AS n LEFT JOIN "
        f"{ident(target.name)} AS t ON {_same_keys(p, 'n', 't')}",
        "merged",
    )
    ctx.note(f"{ctx.count(part)} grain key(s) merged")
    return out
