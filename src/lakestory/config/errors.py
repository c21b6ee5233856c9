"""Turn pydantic validation errors into lakestory ConfigErrors pointing into the YAML."""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from lakestory.config.yamlpos import Path_, SourceMap
from lakestory.core.errors import ConfigError
from lakestory.core.text import did_you_mean, suggestion

# Keys of one section that users put in another: the message says where they go.
PLACES: dict[str, str] = {
    "pattern": "`pattern:` goes on a node, beside `read:` and `write:`",
    "continuous": "`continuous:` goes on a pipeline (beside `pipeline:` and `nodes:`), or use "
    "`lakestory run --continuous`",
}


def convert(
    exc: ValidationError, data: Any, smap: SourceMap, root: type[BaseModel]
) -> list[ConfigError]:
    errors = exc.errors()
    meant = _meant_keys(errors, root)
    out: list[ConfigError] = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and (loc[:-1], loc[-1]) in meant:
            continue  # the misspelt key beside it already says "did you mean ..."
        path = _data_path(data, loc)
        error = _one(err, loc, path, smap, root)
        out.append(error.located(**_owner(data, path)))
    return out


def _meant_keys(errors: list[Any], root: type[BaseModel]) -> set[tuple[Path_, str]]:
    """(parent, key) pairs that an unknown key beside them was probably meant to be."""
    meant = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            best = did_you_mean(str(loc[-1]), _fields_at(root, loc[:-1]))
            if best:
                meant.add((loc[:-1], best))
    return meant


def _owner(data: Any, path: Path_) -> dict[str, str]:
    """The pipeline and node names an error path lies under, as far as the data says."""
    found: dict[str, str] = {}
    if len(path) >= 2 and path[0] == "pipelines" and isinstance(path[1], int):
        pipelines = data.get("pipelines") if isinstance(data, dict) else None
        pipe = pipelines[path[1]] if isinstance(pipelines, list) else None
        if isinstance(pipe, dict) and isinstance(pipe.get("pipeline"), str):
            found["pipeline"] = pipe["pipeline"]
        if len(path) >= 4 and path[2] == "nodes" and isinstance(path[3], int):
            nodes = pipe.get("nodes") if isinstance(pipe, dict) else None
            node = nodes[path[3]] if isinstance(nodes, list) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                found["node"] = node["name"]
    return found


def _one(err: Any, loc: Path_, path: Path_, smap: SourceMap, root: type[BaseModel]) -> ConfigError:
    etype, ctx = err["type"], err.get("ctx") or {}
    where = smap.where(path)
    if etype == "extra_forbidden":
        key = str(loc[-1])
        if key in PLACES and key not in _fields_at(root, loc[:-1]):
            return ConfigError(f"`{key}` does not go here", where=where, hint=PLACES[key])
        hint = suggestion(key, _fields_at(root, loc[:-1]))
        allowed = ", ".join(sorted(_fields_at(root, loc[:-1])))
        return ConfigError(
            f"unknown key '{key}'",
            where=where,
            hint=hint or (f"allowed keys here: {allowed}" if allowed else None),
        )
    if etype == "missing":
        return ConfigError(
            f"missing required key '{loc[-1]}'",
            where=smap.where(path[:-1]),
            hint=f"add `{loc[-1]}:` here",
        )
    if etype == "union_tag_invalid":
        tags = re.findall(r"'([^']+)'", str(ctx.get("expected_tags", "")))
        hint = suggestion(str(ctx.get("tag")), tags) or f"use one of: {', '.join(tags)}"
        return ConfigError(
            f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} '{ctx.get('tag')}'",
            where=smap.where((*path, "type")),
            hint=hint,
        )
    if etype == "union_tag_not_found":
        quality = any(part in ("tests", "contracts") for part in path)
        example = "not_null" if quality else "local"
        return ConfigError(
            "missing required key 'type'",
            where=where,
            hint=f"say what kind it is, e.g. `type: {example}`",
        )
    if etype in ("literal_error", "enum"):
        expected = re.findall(r"'([^']+)'", str(ctx.get("expected", "")))
        hint = suggestion(str(err.get("input")), expected)
        return ConfigError(
            f"'{err.get('input')}' is not one of: {', '.join(expected)}", where=where, hint=hint
        )
    if etype == "string_pattern_mismatch":
        return ConfigError(
            f"'{err.get('input')}' is not a valid name",
            where=where,
            hint="use letters, digits and _, starting with a letter or _",
        )
    msg = str(err["msg"]).removeprefix("Value error, ")
    return ConfigError(msg, where=where)


def _data_path(data: Any, loc: Path_) -> Path_:
    """Map a pydantic error location onto the YAML key path (dropping union tags)."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        # one branch per container type, so that mypy narrows each
        if isinstance(current, dict) and part in current:  # noqa: SIM114
            current = current[part]
            out.append(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
            out.append(part)
        elif isinstance(current, dict) and current.get("type") == part:
            continue  # a discriminated union's tag: the error is about the item itself
        elif i == len(loc) - 1:
            out.append(part)
    return tuple(out)


def _fields_at(root: type[BaseModel], loc: Path_) -> set[str]:
    """The allowed keys of the model found at ``loc`` (empty when unknown)."""
    candidates: list[Any] = [root]
    for part in loc:
        nxt: list[Any] = []
        for tp in candidates:
            for inner in _unwrap(tp):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    field = inner.model_fields.get(str(part))
                    if field is None:
                        field = next(
                            (f for f in inner.model_fields.values() if f.alias == part), None
                        )
                    if field is not None:
                        nxt.append(field.annotation)
                    elif part in _tags(inner):
                        nxt.append(inner)
                elif typing.get_origin(inner) in (list, dict):
                    nxt.append(typing.get_args(inner)[-1])
        candidates = nxt
    names: set[str] = set()
    for tp in candidates:
        for inner in _unwrap(tp):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names |= {f.alias or n for n, f in inner.model_fields.items()}
    return names


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [x for a in typing.get_args(tp) for x in _unwrap(a)]
    return [tp]


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("type")
    return typing.get_args(field.annotation) if field is not None else ()
