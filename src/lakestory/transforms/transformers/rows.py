"""Rows and other nodes: filter, deduplicate, union, join."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakestory.transforms.transformers import (
    Params,
    _except,
    ident,
    table,
    transformer,
)

# ---- rows -----------------------------------------------------------------------------


class FilterParams(Params):
    condition: str = Field(min_length=1, description="a Spark SQL boolean expression")


@transformer(FilterParams, {"condition": "amount > 0 AND status <> 'void'"})
def filter(p: FilterParams) -> str:
    """Keep the rows where a Spark SQL condition is true."""
    return f"SELECT * FROM df WHERE {p.condition}"


class DeduplicateParams(Params):
    keys: list[str] = Field(min_length=1, description="columns that identify a row")
    order_by: str = Field(min_length=1, description="the row with the greatest value is kept")


@transformer(DeduplicateParams, {"keys": ["id"], "order_by": "updated_at"})
def deduplicate(p: DeduplicateParams) -> str:
    """Keep one row per key: the latest by an order column."""
    keys = ", ".join(ident(k) for k in p.keys)
    rn = "__lakestory_rn"
    window = f"row_number() OVER (PARTITION BY {keys} ORDER BY {ident(p.order_by)} DESC)"
    inner = f"SELECT *, {window} AS {ident(rn)} FROM df"
    return f"SELECT {_except([rn])} FROM ({inner}) AS d WHERE {ident(rn)} = 1"


# ---- other nodes ----------------------------------------------------------------------


class UnionParams(Params):
    nodes: list[str] = Field(min_length=1, description="nodes whose rows are appended")
    distinct: bool = Field(False, description="drop duplicate rows")


@transformer(UnionParams, {"nodes": ["orders_archive"]})
def union(p: UnionParams) -> str:
    """Append the rows of other nodes (columns matched by position)."""
    op = " UNION " if p.distinct else " UNION ALL "
    return op.join(["SELECT * FROM df", *(f"SELECT * FROM {table(n)}" for n in p.nodes)])


class JoinParams(Params):
    node: str = Field(min_length=1, description="the node to join with")
    keys: list[str] = Field(min_length=1, description="key columns present on both sides")
    how: Literal["inner", "left", "right", "full"] = Field("inner", description="join type")


@transformer(JoinParams, {"node": "customers", "keys": ["customer_id"], "how": "left"})
def join(p: JoinParams) -> str:
    """Join another node on key columns of the same name. The keys come first, once; then
    this node's other columns, then the other node's."""
    how = {"inner": "INNER", "left": "LEFT OUTER", "right": "RIGHT OUTER", "full": "FULL OUTER"}
    keys = [f"coalesce(l.{ident(k)}, r.{ident(k)}) AS {ident(k)}" for k in p.keys]
    rest = f"l.{_except(p.keys)}, r.{_except(p.keys)}"
    on = " AND ".join(f"l.{ident(k)} = r.{ident(k)}" for k in p.keys)
    return (
        f"SELECT {', '.join(keys)}, {rest} FROM df AS l "
        f"{how[p.how]} JOIN {table(p.node)} AS r ON {on}"
    )
