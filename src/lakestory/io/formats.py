"""Formats and the options each accepts, with their accepted spellings."""

from __future__ import annotations

from typing import Any

from lakestory.core.errors import ConfigError, Where
from lakestory.core.text import suggestion

# canonical name -> spellings users write (Spark's camelCase included)
_READ_OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "csv": {
        "header": ("header",),
        "delimiter": ("delimiter", "sep", "delim", "separator"),
        "quote": ("quote", "quotechar"),
        "escape": ("escape", "escapechar"),
        "null_value": ("null_value", "nullValue", "nullvalue", "na_values"),
        "encoding": ("encoding",),
        "skip_rows": ("skip_rows", "skiprows"),
        "date_format": ("date_format", "dateFormat"),
        "timestamp_format": ("timestamp_format", "timestampFormat"),
        "comment": ("comment",),
        "infer_schema": ("infer_schema", "inferSchema"),
    },
    "json": {
        "date_format": ("date_format", "dateFormat"),
        "timestamp_format": ("timestamp_format", "timestampFormat"),
    },
    "parquet": {},
    "delta": {},
}

_WRITE_OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "csv": {"header": ("header",), "delimiter": ("delimiter", "sep", "delim")},
    "json": {},
    "parquet": {"compression": ("compression",)},
    "delta": {"target_file_size": ("target_file_size",), "description": ("description",)},
}


def normalize_options(
    fmt: str, options: dict[str, Any], *, write: bool, where: Where
) -> dict[str, Any]:
    table = (_WRITE_OPTIONS if write else _READ_OPTIONS).get(fmt, {})
    spelling = {s: canon for canon, spellings in table.items() for s in spellings}
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in spelling:
            allowed = ", ".join(table) or "none"
            raise ConfigError(
                f"unknown {fmt} {'write' if write else 'read'} option '{key}'",
                where=where,
                hint=suggestion(key, spelling) or f"options for {fmt}: {allowed}",
            )
        out[spelling[key]] = value
    return out


def read_back_options(fmt: str, write_options: dict[str, Any]) -> dict[str, Any]:
    """Read options that read a table back as it was written (e.g. a CSV's delimiter)."""
    readable = _READ_OPTIONS.get(fmt, {})
    return {k: v for k, v in write_options.items() if k in readable}
