"""Spark type names as users write them in config (``bigint``, ``decimal(10,2)``,
``array<string>``), checked and brought to one spelling so they can be compared."""

from __future__ import annotations

import re

_ALIASES = {
    "long": "bigint",
    "integer": "int",
    "short": "smallint",
    "byte": "tinyint",
    "real": "float",
    "bool": "boolean",
    "str": "string",
    "text": "string",
    "timestamp_ltz": "timestamp",
    "numeric": "decimal",
    "dec": "decimal",
}
_SIMPLE = frozenset(
    {
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "float",
        "double",
        "boolean",
        "string",
        "binary",
        "date",
        "timestamp",
        "timestamp_ntz",
    }
)
_NESTED = re.compile(r"^(array|map|struct)<.*>$")
_DECIMAL = re.compile(r"^decimal(?:\((\d+),(\d+)\))?$")
_CHARS = re.compile(r"^(?:var)?char\(\d+\)$")


def normalize_type(name: str) -> str | None:
    """One spelling for a Spark type name, or None when it is not one."""
    text = re.sub(r"\s+", "", name.strip().lower())
    text = re.sub(r"^(\w+)", lambda m: _ALIASES.get(m.group(1), m.group(1)), text)
    if text in _SIMPLE:
        return text
    if _CHARS.match(text):
        return "string"
    match = _DECIMAL.match(text)
    if match:
        precision, scale = match.groups()
        return f"decimal({precision or 10},{scale or 0})"
    if _NESTED.match(text) and text.count("<") == text.count(">"):
        return text
    return None


def check_type_name(name: str, what: str) -> str:
    normalized = normalize_type(name)
    if normalized is None:
        raise ValueError(
            f"{what}: '{name}' is not a Spark type name (e.g. string, int, bigint, double, "
            "decimal(10,2), boolean, date, timestamp, array<string>)"
        )
    return normalized
