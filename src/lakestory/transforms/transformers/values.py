"""New and cleaned values: derive, case_when, trim, coalesce, concat, hash_columns,
surrogate_key, regex_replace, split."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lakestory.transforms.transformers import (
    Params,
    _add,
    _replace,
    _set,
    ident,
    literal,
    transformer,
)

# ---- new columns ----------------------------------------------------------------------


class DeriveParams(Params):
    columns: dict[str, str] = Field(
        min_length=1, description="new column → Spark SQL expression over the row"
    )


@transformer(DeriveParams, {"columns": {"total": "qty * price"}})
def derive(p: DeriveParams) -> str:
    """Add new columns computed from Spark SQL expressions."""
    return f"SELECT {_add(p.columns)} FROM df"


class WhenParams(Params):
    when: str = Field(min_length=1, description="a Spark SQL condition")
    then: str | int | float | bool | None = Field(description="value when it holds")


class CaseWhenParams(Params):
    column: str = Field(min_length=1, description="the new column")
    cases: list[WhenParams] = Field(min_length=1, description="tried in order")
    default: str | int | float | bool | None = Field(None, description="value otherwise")


@transformer(
    CaseWhenParams,
    {
        "column": "size",
        "cases": [{"when": "qty >= 100", "then": "large"}, {"when": "qty >= 10", "then": "medium"}],
        "default": "small",
    },
)
def case_when(p: CaseWhenParams) -> str:
    """Add a column set from the first condition that holds (values are literals)."""
    arms = " ".join(f"WHEN {c.when} THEN {literal(c.then)}" for c in p.cases)
    return f"SELECT {_add({p.column: f'CASE {arms} ELSE {literal(p.default)} END'})} FROM df"


class TrimParams(Params):
    columns: list[str] = Field(min_length=1, description="text columns to clean")
    case: Literal["lower", "upper"] | None = Field(None, description="also change the case")
    empty_as_null: bool = Field(False, description="turn '' (after trimming) into null")


@transformer(TrimParams, {"columns": ["name", "email"], "case": "lower", "empty_as_null": True})
def trim(p: TrimParams) -> str:
    """Trim spaces from text columns, optionally changing case and nulling empty strings."""
    exprs = {}
    for c in p.columns:
        e = f"trim({ident(c)})"
        e = f"{p.case}({e})" if p.case else e
        exprs[c] = f"nullif({e}, '')" if p.empty_as_null else e
    return f"SELECT {_replace(exprs)} FROM df"


class CoalesceParams(Params):
    column: str = Field(min_length=1, description="the new column")
    columns: list[str] = Field(min_length=2, description="the first non-null of these")


@transformer(CoalesceParams, {"column": "phone", "columns": ["mobile", "landline"]})
def coalesce(p: CoalesceParams) -> str:
    """Add a column: the first non-null of several columns."""
    args = ", ".join(ident(c) for c in p.columns)
    return f"SELECT {_add({p.column: f'coalesce({args})'})} FROM df"


class ConcatParams(Params):
    column: str = Field(min_length=1, description="the new column")
    columns: list[str] = Field(min_length=1, description="columns joined in order")
    separator: str = Field("", description="text put between them; nulls are skipped")


@transformer(ConcatParams, {"column": "full_name", "columns": ["first", "last"], "separator": " "})
def concat(p: ConcatParams) -> str:
    """Add a text column joining columns (nulls are skipped)."""
    args = ", ".join(f"CAST({ident(c)} AS string)" for c in p.columns)
    return f"SELECT {_add({p.column: f'concat_ws({literal(p.separator)}, {args})'})} FROM df"


def _hash(columns: list[str]) -> str:
    parts = ", ".join(f"coalesce(CAST({ident(c)} AS string), '')" for c in columns)
    return f"sha2(concat_ws('||', {parts}), 256)"


class HashColumnsParams(Params):
    columns: list[str] = Field(min_length=1, description="columns replaced by their SHA-256")


@transformer(HashColumnsParams, {"columns": ["email"]})
def hash_columns(p: HashColumnsParams) -> str:
    """Replace columns by the hex SHA-256 of their text (nulls stay null)."""
    exprs = {c: f"sha2(CAST({ident(c)} AS string), 256)" for c in p.columns}
    return f"SELECT {_replace(exprs)} FROM df"


class SurrogateKeyParams(Params):
    column: str = Field(min_length=1, description="the key column to add")
    columns: list[str] = Field(min_length=1, description="the columns that identify a row")


@transformer(SurrogateKeyParams, {"column": "customer_key", "columns": ["source", "id"]})
def surrogate_key(p: SurrogateKeyParams) -> str:
    """Add a key column: the SHA-256 of key columns joined by '||' (null as '')."""
    return f"SELECT {_add({p.column: _hash(p.columns)})} FROM df"


class RegexReplaceParams(Params):
    column: str = Field(min_length=1, description="text column to change")
    pattern: str = Field(min_length=1, description="Java/RE2-compatible regular expression")
    replacement: str = Field("", description="text put in place of each match")


@transformer(RegexReplaceParams, {"column": "phone", "pattern": "[^0-9]", "replacement": ""})
def regex_replace(p: RegexReplaceParams) -> str:
    """Replace every match of a regular expression in a text column."""
    expr = f"regexp_replace({ident(p.column)}, {literal(p.pattern)}, {literal(p.replacement)})"
    return f"SELECT {_replace({p.column: expr})} FROM df"


# ---- text -----------------------------------------------------------------------------

_REGEX_SPECIAL = set(".^$|?*+()[]{}\\")


def _regex_quote(text: str) -> str:
    """``text`` as a regular expression matching it literally (in Java and RE2 alike)."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


class SplitParams(Params):
    column: str = Field(min_length=1, description="text column to split")
    delimiter: str = Field(min_length=1, description="text between the parts")
    regex: bool = Field(False, description="the delimiter is a regular expression")
    into: list[str] | None = Field(
        None, min_length=1, description="new columns for parts 1, 2, ... (missing parts: null)"
    )
    to: str | None = Field(None, description="without `into`: the array column to write")

    @model_validator(mode="after")
    def _one_output(self) -> SplitParams:
        if self.into and self.to:
            raise ValueError("give `into` (columns for the parts) or `to` (an array), not both")
        return self


@transformer(SplitParams, {"column": "full_name", "delimiter": " ", "into": ["first", "last"]})
def split(p: SplitParams) -> str:
    """Split a text column on a delimiter: into new columns, one per part, or into an array
    column (which `explode` turns into rows)."""
    pattern = p.delimiter if p.regex else _regex_quote(p.delimiter)
    parts = f"split({ident(p.column)}, {literal(pattern)})"
    if p.into:
        return f"SELECT {_add({c: f'{parts}[{i}]' for i, c in enumerate(p.into)})} FROM df"
    return f"SELECT {_set(p.column, p.to, parts)} FROM df"
