"""Spark SQL text for the queries write strategies run: quoting, literals, Arrow types.

Strategies write Spark SQL (the project's lingua franca) and the engine's dialect is reached
through the same translation as users' SQL, so the queries mean the same on every engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def col(alias: str, name: str) -> str:
    return f"{alias}.{ident(name)}"


def cols(names: Iterable[str], alias: str | None = None) -> str:
    return ", ".join(col(alias, n) if alias else ident(n) for n in names)


def null_safe_equal(left: str, right: str, names: Iterable[str]) -> str:
    return " AND ".join(f"{col(left, n)} <=> {col(right, n)}" for n in names)


def equal(left: str, right: str, names: Iterable[str]) -> str:
    return " AND ".join(f"{col(left, n)} = {col(right, n)}" for n in names)


def literal(value: Any, kind: str | None = None) -> str:
    """A Spark SQL literal for a Python value (``kind``: a type name from :func:`kind_of`)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal) and kind not in ("date", "timestamp"):
        return str(value)
    if isinstance(value, dt.datetime) or kind in ("timestamp", "timestamp_ntz"):
        text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
        return f"CAST({_quoted(text)} AS {'TIMESTAMP_NTZ' if kind != 'timestamp' else 'TIMESTAMP'})"
    if isinstance(value, dt.date) or kind == "date":
        return f"DATE {_quoted(str(value))}"
    return _quoted(str(value))


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def kind_of(typ: pa.DataType) -> str:
    """A coarse type name, enough to write a literal back: int, float, decimal, date,
    timestamp (with a time zone), timestamp_ntz, string, bool, other."""
    import pyarrow as pa

    if pa.types.is_integer(typ):
        return "int"
    if pa.types.is_floating(typ):
        return "float"
    if pa.types.is_decimal(typ):
        return "decimal"
    if pa.types.is_date(typ):
        return "date"
    if pa.types.is_timestamp(typ):
        return "timestamp" if typ.tz else "timestamp_ntz"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return "string"
    if pa.types.is_boolean(typ):
        return "bool"
    return "other"


def type_name(typ: pa.DataType) -> str:
    """Spark's name for an Arrow type (what a CAST in a strategy's query targets)."""
    import pyarrow as pa

    simple = {
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
        pa.binary(): "BINARY",
        pa.large_binary(): "BINARY",
    }
    if typ in simple:
        return simple[typ]
    if pa.types.is_decimal(typ):
        return f"DECIMAL({typ.precision},{typ.scale})"
    if pa.types.is_timestamp(typ):
        return "TIMESTAMP" if typ.tz else "TIMESTAMP_NTZ"
    if kind_of(typ) == "string":
        return "STRING"
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return f"ARRAY<{type_name(typ.value_type)}>"
    if pa.types.is_struct(typ):
        fields = ", ".join(f"{ident(f.name)}: {type_name(f.type)}" for f in typ)
        return f"STRUCT<{fields}>"
    if pa.types.is_map(typ):
        return f"MAP<{type_name(typ.key_type)}, {type_name(typ.item_type)}>"
    return "STRING"


def describe(typ: pa.DataType) -> str:
    """A type as users read it in messages (Spark's spelling, lower case)."""
    return type_name(typ).lower()
