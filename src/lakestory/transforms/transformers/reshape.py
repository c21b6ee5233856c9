"""Reshaping: pivot, unpivot, explode, flatten_struct, parse_json."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lakestory.transforms.transformers import (
    Params,
    _except,
    _set,
    _spark_types,
    ident,
    literal,
    transformer,
)

# ---- reshaping ------------------------------------------------------------------------


class PivotParams(Params):
    column: str = Field(min_length=1, description="column whose values become columns")
    values: list[str | int | float | bool] = Field(
        min_length=1, description="the values that become columns (one column each)"
    )
    value: str | None = Field(None, description="column aggregated into the new columns")
    aggregate: Literal["sum", "count", "min", "max", "avg"] = Field(
        "sum", description="how the rows of a group and value combine"
    )
    group_by: list[str] | None = Field(
        None, description="the row of the result (default: every other column)"
    )
    prefix: str = Field("", description="put before each new column's name")

    @model_validator(mode="after")
    def _needs_value(self) -> PivotParams:
        if self.value is None and self.aggregate != "count":
            raise ValueError(f"`value` is needed to {self.aggregate}; only count goes without")
        return self


@transformer(
    PivotParams,
    {
        "group_by": ["store"],
        "column": "month",
        "values": ["jan", "feb"],
        "value": "sales",
        "aggregate": "sum",
    },
)
def pivot(p: PivotParams) -> str:
    """Turn the values of a column into columns, aggregating another column per group
    (rows to columns). The values are listed, so the result's columns are known."""
    col = ident(p.column)
    arg = ident(p.value) if p.value else "1"
    aggs = {
        f"{p.prefix}{v}": f"{p.aggregate}(CASE WHEN {col} = {literal(v)} THEN {arg} END)"
        for v in p.values
    }
    items = [f"{e} AS {ident(c)}" for c, e in aggs.items()]
    if p.group_by:
        keys = ", ".join(ident(c) for c in p.group_by)
        return f"SELECT {', '.join([keys, *items])} FROM df GROUP BY {keys}"
    rest = _except([p.column, *([p.value] if p.value else [])])
    return f"SELECT {', '.join([rest, *items])} FROM df GROUP BY ALL"


class UnpivotParams(Params):
    columns: list[str] | None = Field(
        None, min_length=1, description="columns turned into rows (default: all but `ids`)"
    )
    ids: list[str] | None = Field(
        None, min_length=1, description="columns kept on each row (default: all but `columns`)"
    )
    name: str = Field("name", min_length=1, description="new column: the unpivoted column's name")
    value: str = Field("value", min_length=1, description="new column: its value")
    include_nulls: bool = Field(False, description="keep rows whose value is null")

    @model_validator(mode="after")
    def _one_side(self) -> UnpivotParams:
        if not self.columns and not self.ids:
            raise ValueError("give `columns` (to unpivot) or `ids` (to keep), or both")
        return self


@transformer(
    UnpivotParams,
    {"ids": ["store"], "columns": ["jan", "feb"], "name": "month", "value": "sales"},
    columns=["store", "jan", "feb"],
)
def unpivot(p: UnpivotParams, columns: list[str]) -> str:
    """Turn columns into rows of (name, value), keeping the id columns (columns to rows).
    The unpivoted columns need one type: cast them first if not."""
    ids = p.ids if p.ids is not None else [c for c in columns if c not in (p.columns or [])]
    cols = p.columns if p.columns is not None else [c for c in columns if c not in ids]
    source = "df" if p.ids is None else f"(SELECT {', '.join(map(ident, ids + cols))} FROM df)"
    nulls = " INCLUDE NULLS" if p.include_nulls else ""
    unp = f"{ident(p.value)} FOR {ident(p.name)} IN ({', '.join(map(ident, cols))})"
    return f"SELECT * FROM {source} AS u UNPIVOT{nulls} ({unp})"


class ExplodeParams(Params):
    column: str = Field(min_length=1, description="an array column")
    to: str | None = Field(None, description="column to write each element to (default: same)")
    outer: bool = Field(False, description="keep rows whose array is null or empty (as null)")


@transformer(ExplodeParams, {"column": "tags", "to": "tag", "outer": True})
def explode(p: ExplodeParams) -> str:
    """One row per element of an array column (the row's other columns repeated)."""
    col = ident(p.column)
    arr = (
        f"CASE WHEN coalesce(size({col}), 0) > 0 THEN {col} ELSE array(NULL) END"
        if p.outer
        else col
    )
    return f"SELECT {_set(p.column, p.to, f'explode({arr})')} FROM df"


class FlattenStructParams(Params):
    column: str = Field(min_length=1, description="a struct column")


@transformer(FlattenStructParams, {"column": "address"})
def flatten_struct(p: FlattenStructParams) -> str:
    """Replace a struct column by one column per field (at the end of the row; one level:
    flatten again for nested structs)."""
    return f"SELECT {_except([p.column])}, {ident(p.column)}.* FROM df"


_JSON_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON_PATH = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])+")


class ParseJsonParams(Params):
    column: str = Field(min_length=1, description="a column of JSON text")
    fields: dict[str, str] = Field(
        min_length=1, description="new column → Spark type, read from the JSON key of its name"
    )
    paths: dict[str, str] = Field(
        default_factory=dict, description="new column → JSON path ($.a.b, $.items[0])"
    )
    keep: bool = Field(False, description="keep the JSON column")

    @field_validator("fields")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        return _spark_types(value)

    @model_validator(mode="after")
    def _paths(self) -> ParseJsonParams:
        for name, path in self.paths.items():
            if name not in self.fields:
                raise ValueError(f"'{name}' in `paths` is not one of `fields`")
            if not _JSON_PATH.fullmatch(path):
                raise ValueError(f"'{path}' in `paths` is not a path like $.a.b or $.items[0]")
        for name in self.fields:
            if name not in self.paths and not _JSON_KEY.fullmatch(name):
                raise ValueError(f"give the JSON path of '{name}' in `paths`")
        return self


@transformer(
    ParseJsonParams,
    {
        "column": "payload",
        "fields": {"id": "bigint", "amount": "decimal(10,2)", "city": "string"},
        "paths": {"city": "$.address.city"},
    },
)
def parse_json(p: ParseJsonParams) -> str:
    """Read typed columns out of a JSON text column (invalid JSON or a missing key gives
    null). Arrays and objects come out as JSON text."""
    exprs = {}
    for name, typ in p.fields.items():
        value = f"get_json_object({ident(p.column)}, {literal(p.paths.get(name, '$.' + name))})"
        exprs[name] = value if typ.strip().lower() == "string" else f"CAST({value} AS {typ})"
    keep = "*" if p.keep else _except([p.column])
    return f"SELECT {', '.join([keep, *(f'{e} AS {ident(c)}' for c, e in exprs.items())])} FROM df"
