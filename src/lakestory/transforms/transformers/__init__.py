"""Built-in transformers: named, parametrised transform steps declared as small specs.

Each transformer is a pydantic params model and a builder that turns validated params into
one Spark SQL ``SELECT ... FROM df``. The runtime then handles that text exactly like a
``sql:`` step, so a transformer behaves the same on every engine. Users add their own with
the :func:`transformer` decorator and name them in a step as ``module.function``.

This module holds the framework and the SQL text helpers; the built-ins live in its
modules by concern (columns, rows, values, dates, reshape, windows).

A few builders need the names of ``df``'s columns (``normalize_column_names``, ``unpivot``):
they are declared with ``columns=`` (example input columns, shown by ``lakestory explain``)
and called as ``build(params, columns)``. Their params are still checked when the project
loads; their SQL is built when the node runs, from the columns ``df`` has then.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

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
        if fn.__module__.startswith(
            f"{__name__}."
        ):  # built-ins: bare names; others: module.function
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


def _set(column: str, to: str | None, expr: str) -> str:
    """Replace ``column`` by ``expr``, or add it as ``to``."""
    return _replace({column: expr}) if to in (None, column) else _add({to or column: expr})


# The built-ins register themselves on import, in this order (`lakestory list transformers`).
for _module in ("columns", "rows", "values", "dates", "reshape", "windows"):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "REGISTRY",
    "Params",
    "Transformer",
    "describe_error",
    "ident",
    "literal",
    "spec_of",
    "table",
    "transformer",
]
