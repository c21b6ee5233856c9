"""Load YAML into plain Python values while remembering where every key and value stood.

``load_yaml`` returns the data and a :class:`SourceMap` that maps a key path such as
``("pipelines", 0, "nodes", 2, "write")`` to its line and column, so that any later error
(pydantic validation, a missing variable, an unknown node) can point into the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakestory.core.errors import ConfigError, Where

Path_ = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class SourceMap:
    """Positions (1-based line, column) of keys and values, by key path."""

    file: str
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # where each scalar value's text starts: (line, column, style) with the YAML style
    # ("|", ">", "'", '"' or "" for plain), and the file's lines to find block indentation
    scalars: dict[Path_, tuple[int, int, str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list, repr=False)

    def where(self, path: Path_, **extra: Any) -> Where:
        """The closest known position for ``path`` (walking up to a parent if needed)."""
        probe = tuple(path)
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, col = self.positions.get(probe, (None, None))
        return Where(file=self.file, line=line, column=col, key=format_path(path), **extra)

    def move(self, old: Path_, new: Path_) -> None:
        """Copy the positions under ``old`` to ``new`` (used for environment overlays)."""
        n = len(old)
        for path, pos in list(self.positions.items()):
            if path[:n] == old:
                self.positions[new + path[n:]] = pos
        for path, scalar in list(self.scalars.items()):
            if path[:n] == old:
                self.scalars[new + path[n:]] = scalar

    def text_position(self, path: Path_, line: int, column: int) -> tuple[int, int] | None:
        """Where (line, column) of the string value at ``path`` stands in the file.

        Exact for literal blocks (``|``) and for the first line of a one-line value; None
        where YAML folds lines (``>`` blocks, multi-line plain or quoted values).
        """
        found = self.scalars.get(path)
        if found is None:
            return None
        start_line, start_col, style = found
        if style == "|":
            body = self.lines[start_line : start_line + line]  # the block's first `line` lines
            indent = next((len(t) - len(t.lstrip(" ")) for t in body if t.strip()), 0)
            return start_line + line, indent + column
        if line == 1 and style in ("", "'", '"'):
            opening_quote = 1 if style else 0
            return start_line, start_col + opening_quote + column - 1
        return None


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(path: Path) -> tuple[Any, SourceMap]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"project file not found: {path}",
            hint="run `lakestory init NAME` to create a project, or pass the path of "
            "your project file (default: lakestory.yaml in the current folder)",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path} is a folder, not a project file",
            hint=f"pass the project file inside it, e.g. {path / 'lakestory.yaml'}",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read {path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="save the project file as UTF-8",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, file: str) -> tuple[Any, SourceMap]:
    smap = SourceMap(file, lines=text.splitlines())
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise ConfigError(
            f"invalid YAML: {exc.problem or exc.context}",
            where=where,
            hint="check the indentation and quoting near this line",
        ) from None
    if root is None:
        return {}, smap
    return _Builder(smap).build(root, ()), smap


class _Builder:
    def __init__(self, smap: SourceMap) -> None:
        self.smap = smap
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.smap.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode):
            self.smap.scalars[path] = (
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                node.style or "",
            )
        return self.constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key in out:
                first = self.smap.positions.get(child, (None, None))[0]
                raise ConfigError(
                    f"duplicate key '{key}'" + (f" (first at line {first})" if first else ""),
                    where=Where(file=self.smap.file, line=line, column=col, key=format_path(child)),
                    hint="a key may appear once per block; remove or merge the copies",
                )
            self.smap.positions[child] = (line, col)
            out[key] = self.build(value_node, child)
            self.smap.positions[child] = (line, col)
        return out
