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
    nested = _NESTED.match(text)
    if nested and text.count("<") == text.count(">"):
        return _nested(nested.group(1), text[len(nested.group(1)) + 1 : -1])
    return None


def _nested(kind: str, inner: str) -> str | None:
    """array<T>, map<K,V>, struct<name:T,...> with each inner type normalized."""
    parts = _split_top(inner)
    if kind == "struct":
        fields = []
        for part in parts:
            name, sep, typ = part.partition(":")
            name = name.strip("`")
            inner_type = normalize_type(typ) if sep and name else None
            if inner_type is None:
                return None
            fields.append(f"{name}:{inner_type}")
        return f"struct<{','.join(fields)}>"
    types = [normalize_type(p) for p in parts]
    if any(t is None for t in types) or len(types) != (1 if kind == "array" else 2):
        return None
    return f"{kind}<{','.join(t for t in types if t)}>"


def _split_top(text: str) -> list[str]:
    """Split at the commas that are not inside <...> or (...)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def check_type_name(name: str, what: str) -> str:
    normalized = normalize_type(name)
    if normalized is None:
        raise ValueError(
            f"{what}: '{name}' is not a Spark type name (e.g. string, int, bigint, double, "
            "decimal(10,2), boolean, date, timestamp, array<string>)"
        )
    return normalized
