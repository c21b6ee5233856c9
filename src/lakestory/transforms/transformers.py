"""Built-in transformers: named, parametrised transform steps declared as small specs.

Each transformer is a pydantic params model and a builder that turns validated params into
one Spark SQL ``SELECT ... FROM df``. The runtime then handles that text exactly like a
``sql:`` step, so a transformer behaves the same on every engine. Users add their own with
the :func:`transformer` decorator and name them in a step as ``module.function``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lakestory.core.text import suggestion

P = TypeVar("P", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., str])


class Params(BaseModel):
    """Base for transformer params: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Transformer:
    name: str
    params: type[BaseModel]
    build: Callable[[Any], str]
    summary: str
    example: dict[str, Any]

    def sql(self, params: dict[str, Any]) -> str:
        """The Spark SQL for ``params``; raises pydantic's ValidationError when invalid."""
        return self.build(self.params.model_validate(params))


REGISTRY: dict[str, Transformer] = {}
ATTR = "__lakestory_transformer__"


def transformer(
    params: type[BaseModel], example: dict[str, Any], name: str | None = None
) -> Callable[[F], F]:
    """Register ``fn(params) -> Spark SQL over df`` as a transformer.

    ``params`` is the pydantic model its params are validated with and ``example`` a valid
    params mapping shown by ``lakestory explain``. The function is returned unchanged.
    """

    def register(fn: F) -> F:
        doc = (fn.__doc__ or "").strip().split("\n\n")[0]
        strict = _forbid_extra(params)
        spec = Transformer(name or fn.__name__, strict, fn, " ".join(doc.split()), example)
        if fn.__module__ == __name__:  # built-ins are named bare; others as module.function
            REGISTRY[spec.name] = spec
        setattr(fn, ATTR, spec)
        return fn

    return register


def _forbid_extra(model: type[BaseModel]) -> type[BaseModel]:
    """``model``, or a subclass of it that rejects unknown params (a misspelt param must
    never be silently ignored)."""
    if model.model_config.get("extra") == "forbid":
        return model
    config = ConfigDict(**{**model.model_config, "extra": "forbid"})
    return type(model.__name__, (model,), {"model_config": config, "__module__": model.__module__})


def spec_of(obj: object) -> Transformer | None:
    """The transformer a decorated function stands for, or None."""
    spec = getattr(obj, ATTR, None)
    return spec if isinstance(spec, Transformer) else None


def describe_error(exc: ValidationError, model: type[BaseModel]) -> tuple[str, str | None, str]:
    """The first problem of ``exc`` (unknown params first), the params key it is about and
    a hint."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg, hint = first["msg"].removeprefix("Value error, "), ""
    if first["type"] == "extra_forbidden":
        msg = "unknown param"
        hint = suggestion(str(first["loc"][-1]), model.model_fields) or ""
    elif first["type"] == "missing":
        msg = "missing param"
    key = str(first["loc"][0]) if first["loc"] else None
    return (f"{loc}: {msg}" if loc else msg), key, hint


# ---- SQL text helpers ---------------------------------------------------------------


def ident(name: str) -> str:
    """A column name as a backtick-quoted Spark identifier."""
    return "`" + name.replace("`", "``") + "`"


def table(name: str) -> str:
    """A node name (``node`` or ``pipeline.node``) as a quoted table reference."""
    return ".".join(ident(p) for p in name.split("."))


def literal(value: Any) -> str:
    """A Python value as a Spark SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _except(columns: list[str]) -> str:
    return f"* EXCEPT ({', '.join(ident(c) for c in columns)})"


def _add(exprs: dict[str, str]) -> str:
    """``SELECT`` list keeping every column and adding those of ``exprs`` (new names)."""
    return ", ".join(["*", *(f"{e} AS {ident(c)}" for c, e in exprs.items())])


def _replace(exprs: dict[str, str]) -> str:
    """``SELECT`` list replacing each column of ``exprs`` in place of the old one (at the
    end of the row) and keeping the others."""
    items = [f"{e} AS {ident(c)}" for c, e in exprs.items()]
    return ", ".join([_except(list(exprs)), *items])


SPARK_TYPES = (
    "string",
    "int",
    "integer",
    "bigint",
    "long",
    "smallint",
    "tinyint",
    "double",
    "float",
    "boolean",
    "date",
    "timestamp",
    "binary",
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
        for col, typ in value.items():
            base = typ.strip().lower()
            if base not in SPARK_TYPES and not base.replace(" ", "").startswith("decimal("):
                raise ValueError(
                    f"'{typ}' (column '{col}') is not a Spark type; use one of "
                    f"{', '.join(SPARK_TYPES)} or decimal(p,s)"
                )
        return value


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


def _set(column: str, to: str | None, expr: str) -> str:
    """Replace ``column`` by ``expr``, or add it as ``to``."""
    return _replace({column: expr}) if to in (None, column) else _add({to or column: expr})


# ---- dates ----------------------------------------------------------------------------

DatePart = Literal["year", "quarter", "month", "day", "dayofweek", "dayofyear", "hour", "minute"]


class DatePartsParams(Params):
    column: str = Field(min_length=1, description="a date or timestamp column")
    parts: list[DatePart] = Field(min_length=1, description="parts to add as <column>_<part>")


@transformer(DatePartsParams, {"column": "order_date", "parts": ["year", "month"]})
def date_parts(p: DatePartsParams) -> str:
    """Add columns with parts of a date (year, month, day, ...) named <column>_<part>."""
    exprs = {f"{p.column}_{part}": f"{part}({ident(p.column)})" for part in p.parts}
    return f"SELECT {_add(exprs)} FROM df"


class DateTruncParams(Params):
    column: str = Field(min_length=1, description="a date or timestamp column")
    unit: Literal["year", "quarter", "month", "week", "day", "hour"] = Field(
        description="truncate to the start of this unit"
    )
    to: str | None = Field(None, description="column to write (default: the same column)")


@transformer(DateTruncParams, {"column": "ordered_at", "unit": "month", "to": "order_month"})
def date_trunc(p: DateTruncParams) -> str:
    """Truncate a timestamp to the start of a unit (a timestamp)."""
    expr = f"date_trunc({literal(p.unit)}, {ident(p.column)})"
    return f"SELECT {_set(p.column, p.to, expr)} FROM df"


class DateAddParams(Params):
    column: str = Field(min_length=1, description="a date column")
    days: int = Field(description="days to add (negative to subtract)")
    to: str | None = Field(None, description="column to write (default: the same column)")


@transformer(DateAddParams, {"column": "order_date", "days": 30, "to": "due_date"})
def date_add(p: DateAddParams) -> str:
    """Add a number of days to a date."""
    expr = f"date_add({ident(p.column)}, {p.days})"
    return f"SELECT {_set(p.column, p.to, expr)} FROM df"


class DateDiffParams(Params):
    end: str = Field(min_length=1, description="the later date column")
    start: str = Field(min_length=1, description="the earlier date column")
    to: str = Field(min_length=1, description="column to write: days from start to end")


@transformer(DateDiffParams, {"end": "shipped_on", "start": "ordered_on", "to": "days_to_ship"})
def date_diff(p: DateDiffParams) -> str:
    """Add a column with the number of days between two dates."""
    expr = f"datediff({ident(p.end)}, {ident(p.start)})"
    return f"SELECT {_add({p.to: expr})} FROM df"


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
