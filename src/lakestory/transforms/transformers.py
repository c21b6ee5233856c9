"""Built-in transformers: named, parametrised transform steps declared as small specs.

Each transformer is a pydantic params model and a builder that turns validated params into
one Spark SQL ``SELECT ... FROM df``. The runtime then handles that text exactly like a
``sql:`` step, so a transformer behaves the same on every engine. Users add their own with
the :func:`transformer` decorator and name them in a step as ``module.function``.

A few builders need the names of ``df``'s columns (``normalize_column_names``, ``unpivot``):
they are declared with ``columns=`` (example input columns, shown by ``lakestory explain``)
and called as ``build(params, columns)``. Their params are still checked when the project
loads; their SQL is built when the node runs, from the columns ``df`` has then.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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
    build: Callable[..., str]
    summary: str
    example: dict[str, Any]
    # builders that need df's column names: example input columns (None: params only)
    columns: tuple[str, ...] | None = None

    def validate(self, params: dict[str, Any]) -> BaseModel:
        """Validated params; raises pydantic's ValidationError."""
        return self.params.model_validate(params)

    def sql(self, params: dict[str, Any], columns: Sequence[str] | None = None) -> str:
        """The Spark SQL for ``params`` (over ``columns``, or the example columns, when the
        builder needs them); raises pydantic's ValidationError when invalid."""
        return self.build_for(self.validate(params), columns)

    def build_for(self, params: BaseModel, columns: Sequence[str] | None = None) -> str:
        """The Spark SQL for validated ``params`` over ``df``'s ``columns``."""
        if self.columns is None:
            return self.build(params)
        return self.build(params, list(self.columns if columns is None else columns))


REGISTRY: dict[str, Transformer] = {}
ATTR = "__lakestory_transformer__"


def transformer(
    params: type[BaseModel],
    example: dict[str, Any],
    name: str | None = None,
    *,
    columns: Sequence[str] | None = None,
) -> Callable[[F], F]:
    """Register ``fn(params) -> Spark SQL over df`` as a transformer.

    ``params`` is the pydantic model its params are validated with and ``example`` a valid
    params mapping shown by ``lakestory explain``. With ``columns`` (example input column
    names), the builder needs ``df``'s columns: it is called as ``fn(params, columns)`` when
    the node runs. The function is returned unchanged.
    """

    def register(fn: F) -> F:
        doc = (fn.__doc__ or "").strip().split("\n\n")[0]
        strict = _forbid_extra(params)
        cols = None if columns is None else tuple(columns)
        summary = " ".join(doc.split())
        spec = Transformer(name or fn.__name__, strict, fn, summary, example, cols)
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
        return _spark_types(value)


def _spark_types(value: dict[str, str]) -> dict[str, str]:
    """``value`` (column → type) when every type is a scalar Spark type."""
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


# ---- time zones -----------------------------------------------------------------------


def _zone(value: str) -> str:
    if value != "UTC" and value not in zoneinfo.available_timezones():
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris, UTC)")
    return value


class ConvertTimeZoneParams(Params):
    column: str = Field(min_length=1, description="a timestamp column (wall-clock time)")
    from_tz: str = Field("UTC", description="the IANA time zone the column's times are in")
    to_tz: str = Field(description="the IANA time zone to express them in")
    to: str | None = Field(None, description="column to write (default: the same column)")

    _zones = field_validator("from_tz", "to_tz")(_zone)


@transformer(
    ConvertTimeZoneParams,
    {"column": "ordered_at", "from_tz": "UTC", "to_tz": "Europe/Paris", "to": "ordered_local"},
)
def convert_time_zone(p: ConvertTimeZoneParams) -> str:
    """Convert wall-clock timestamps from one time zone to another, following daylight
    saving time. A time that occurs twice (clocks going back) is read as the first of the
    two; one that never occurs (clocks going forward) is moved forward by the gap."""
    col = f"CAST({ident(p.column)} AS timestamp)"
    utc = col
    if p.from_tz != "UTC":
        tz = literal(p.from_tz)
        once = f"to_utc_timestamp({col}, {tz})"
        earlier = f"{once} - INTERVAL 1 HOUR"
        # engines read an ambiguous local time as either instant: take the earlier one
        utc = (
            f"CASE WHEN from_utc_timestamp({earlier}, {tz}) = {col} THEN {earlier} ELSE {once} END"
        )
    expr = utc if p.to_tz == "UTC" else f"from_utc_timestamp({utc}, {literal(p.to_tz)})"
    return f"SELECT {_set(p.column, p.to, expr)} FROM df"


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


# ---- windows --------------------------------------------------------------------------

_FRAME = re.compile(r"(ROWS|RANGE)\s+BETWEEN\s+\S.*\s+AND\s+\S.*", re.IGNORECASE)


def _order(items: list[str]) -> str:
    """``ORDER BY`` items from column names, each maybe followed by ``asc`` or ``desc``."""
    out = []
    for item in items:
        col, _, way = item.rpartition(" ")
        if col.strip() and way.lower() in ("asc", "desc"):
            out.append(f"{ident(col.strip())} {way.upper()}")
        else:
            out.append(ident(item))
    return ", ".join(out)


class WindowParams(Params):
    columns: dict[str, str] = Field(
        min_length=1,
        description="new column → window function (row_number(), sum(amount), lag(x, 1) ...)",
    )
    partition_by: list[str] = Field(default_factory=list, description="the groups")
    order_by: list[str] = Field(
        default_factory=list, description="columns ordering each group ('col desc' reverses)"
    )
    frame: str | None = Field(
        None,
        description="e.g. ROWS BETWEEN 2 PRECEDING AND CURRENT ROW, for aggregates (ranking "
        "functions and lag/lead take none)",
    )

    @field_validator("frame")
    @classmethod
    def _frame(cls, value: str | None) -> str | None:
        if value is not None and not _FRAME.fullmatch(value.strip()):
            raise ValueError("a frame reads ROWS|RANGE BETWEEN <start> AND <end>")
        return value


@transformer(
    WindowParams,
    {
        "columns": {"rank": "row_number()", "running_total": "sum(amount)"},
        "partition_by": ["customer_id"],
        "order_by": ["ordered_at"],
    },
)
def window(p: WindowParams) -> str:
    """Add columns computed by window functions over groups of rows (ranks, running
    totals, previous values ...)."""
    spec = []
    if p.partition_by:
        spec.append("PARTITION BY " + ", ".join(ident(c) for c in p.partition_by))
    if p.order_by:
        spec.append("ORDER BY " + _order(p.order_by))
    framed = [*spec, " ".join(p.frame.split())] if p.frame else spec
    exprs = {}
    for col, expr in p.columns.items():
        parts = spec if _function(expr) in _FRAMELESS else framed
        exprs[col] = f"{expr} OVER ({' '.join(parts)})"
    return f"SELECT {_add(exprs)} FROM df"


# ranking and offset functions take no frame (Spark refuses one; the SQL standard ignores it)
_FRAMELESS = {
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "ntile",
    "cume_dist",
    "lag",
    "lead",
}


def _function(expr: str) -> str:
    """The name of the function ``expr`` calls (lower case), or ''."""
    found = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", expr)
    return found.group(1).lower() if found else ""


class SessionizeParams(Params):
    keys: list[str] = Field(min_length=1, description="columns that identify a user")
    timestamp: str = Field(min_length=1, description="the event time column")
    gap_minutes: float = Field(30, gt=0, description="inactivity that starts a new session")
    column: str = Field("session_id", min_length=1, description="the session column to add")


@transformer(SessionizeParams, {"keys": ["user_id"], "timestamp": "event_at", "gap_minutes": 30})
def sessionize(p: SessionizeParams) -> str:
    """Number each user's sessions (1, 2, ...): a session ends after a gap without events
    longer than gap_minutes."""
    keys = ", ".join(ident(k) for k in p.keys)
    ts = ident(p.timestamp)
    w = f"OVER (PARTITION BY {keys} ORDER BY {ts})"
    gap = round(p.gap_minutes * 60_000_000)
    since = f"unix_micros(CAST({ts} AS timestamp)) - unix_micros(CAST(lag({ts}) {w} AS timestamp))"
    new, flag = (
        "__lakestory_new",
        f"CASE WHEN lag({ts}) {w} IS NULL OR {since} > {gap} THEN 1 ELSE 0 END",
    )
    inner = f"SELECT *, {flag} AS {ident(new)} FROM df"
    running = (
        f"OVER (PARTITION BY {keys} ORDER BY {ts} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    session = f"CAST(sum({ident(new)}) {running} AS bigint)"
    return f"SELECT {_except([new])}, {session} AS {ident(p.column)} FROM ({inner}) AS s"
