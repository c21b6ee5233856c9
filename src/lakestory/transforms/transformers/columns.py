"""Column shape and names: rename, select, drop, cast, fill_nulls, normalize_column_names."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from lakestory.transforms.transformers import (
    Params,
    _except,
    _replace,
    _spark_types,
    ident,
    literal,
    transformer,
)

# ---- column shape ---------------------------------------------------------------------


class RenameParams(Params):
    columns: dict[str, str] = Field(min_length=1, description="old name → new name")


@transformer(RenameParams, {"columns": {"cust_id": "customer_id"}})
def rename(p: RenameParams) -> str:
    """Rename columns. Renamed columns move to the end of the row."""
    items = [f"{ident(old)} AS {ident(new)}" for old, new in p.columns.items()]
    return f"SELECT {', '.join([_except(list(p.columns)), *items])} FROM df"


class SelectParams(Params):
    columns: list[str] = Field(min_length=1, description="columns to keep, in this order")


@transformer(SelectParams, {"columns": ["id", "name"]})
def select(p: SelectParams) -> str:
    """Keep only these columns, in this order."""
    return f"SELECT {', '.join(ident(c) for c in p.columns)} FROM df"


class DropParams(Params):
    columns: list[str] = Field(min_length=1, description="columns to remove")


@transformer(DropParams, {"columns": ["_ingested_at"]})
def drop(p: DropParams) -> str:
    """Remove these columns."""
    return f"SELECT {_except(p.columns)} FROM df"


class CastParams(Params):
    columns: dict[str, str] = Field(min_length=1, description="column → Spark type")

    @field_validator("columns")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        return _spark_types(value)


@transformer(CastParams, {"columns": {"amount": "decimal(10,2)", "day": "date"}})
def cast(p: CastParams) -> str:
    """Cast columns to Spark types (string, int, bigint, double, decimal(p,s), date, ...)."""
    return (
        f"SELECT {_replace({c: f'CAST({ident(c)} AS {t})' for c, t in p.columns.items()})} FROM df"
    )


class FillNullsParams(Params):
    values: dict[str, str | int | float | bool] = Field(
        min_length=1, description="column → value used where it is null"
    )


@transformer(FillNullsParams, {"values": {"country": "unknown", "qty": 0}})
def fill_nulls(p: FillNullsParams) -> str:
    """Replace nulls in columns with a value."""
    exprs = {c: f"coalesce({ident(c)}, {literal(v)})" for c, v in p.values.items()}
    return f"SELECT {_replace(exprs)} FROM df"


# ---- names ----------------------------------------------------------------------------


class NormalizeColumnNamesParams(Params):
    case: Literal["lower", "upper", "keep"] = Field("lower", description="case of the new names")
    split_camel_case: bool = Field(True, description="OrderID → order_id, not orderid")
    separator: str = Field(
        "_", pattern=r"^[A-Za-z0-9_]*$", description="put between words (letters, digits, _)"
    )


def normalized_name(name: str, p: NormalizeColumnNamesParams) -> str:
    """``name`` as a plain identifier: words of letters and digits joined by the separator
    (and a leading ``_`` when it would start with a digit or be empty)."""
    text = name.strip()
    if p.split_camel_case:
        text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w]
    out = p.separator.join(words)
    out = out.lower() if p.case == "lower" else out.upper() if p.case == "upper" else out
    return out if out and not out[0].isdigit() else "_" + out


@transformer(NormalizeColumnNamesParams, {"case": "lower"}, columns=["Customer ID", "E-mail"])
def normalize_column_names(p: NormalizeColumnNamesParams, columns: list[str]) -> str:
    """Rename every column to a plain snake_case name (Customer ID → customer_id); names
    that end up equal get _2, _3, ... Built from df's columns when the node runs."""
    names = [normalized_name(c, p) for c in columns]
    seen = {n.lower() for c, n in zip(columns, names, strict=True) if n == c}  # kept as they are
    items = []
    for col, base in zip(columns, names, strict=True):
        new, n = base, 1
        while new != col and new.lower() in seen:
            n += 1
            new = f"{base}{p.separator or '_'}{n}"
        seen.add(new.lower())
        items.append(ident(col) if new == col else f"{ident(col)} AS {ident(new)}")
    return f"SELECT {', '.join(items)} FROM df"
