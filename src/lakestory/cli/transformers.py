"""``lakestory list transformers|patterns`` and ``lakestory explain NAME``: the built-in
transformers and modeling patterns, their params and an example."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakestory.cli.app import FormatOpt, app

if TYPE_CHECKING:
    from pydantic import BaseModel

    from lakestory.transforms.patterns import Pattern
    from lakestory.transforms.transformers import Transformer

list_app = typer.Typer(
    help="List what lakestory provides (transformers, patterns).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(list_app, name="list")


@list_app.command("transformers")
def list_transformers(fmt: FormatOpt = "text") -> None:
    """Every built-in transformer with a one-line summary."""
    from lakestory.transforms.transformers import REGISTRY

    _list(
        fmt,
        {n: s.summary for n, s in REGISTRY.items()},
        [_describe(s) for s in REGISTRY.values()],
        "use one as a step: `- transformer: NAME` with `params: {...}`; "
        "`lakestory explain NAME` shows its params",
    )


@list_app.command("patterns")
def list_patterns(fmt: FormatOpt = "text") -> None:
    """Every built-in modeling pattern with a one-line summary."""
    from lakestory.transforms.patterns import load_builtins

    registry = load_builtins()
    _list(
        fmt,
        {n: s.summary for n, s in registry.items()},
        [_describe_pattern(s) for s in registry.values()],
        "use one on a node: `pattern: {type: NAME, params: {...}}`; "
        "`lakestory explain NAME` shows its params",
    )


def _list(fmt: str, summaries: dict[str, str], described: list[dict[str, Any]], tip: str) -> None:
    from lakestory.cli import output

    _check_format(fmt)
    if fmt == "json":
        output.emit_json(described)
        return
    width = max((len(n) for n in summaries), default=0)
    for name, summary in summaries.items():
        output.out.print(f"{name:<{width}}  {summary}", markup=False, highlight=False)
    output.out.print(f"\n{tip}", markup=False, highlight=False)


@app.command()
def explain(
    name: Annotated[str, typer.Argument(help="A transformer's or a pattern's name.")],
    fmt: FormatOpt = "text",
) -> None:
    """A transformer's or a pattern's params and an example (for a transformer, also the
    Spark SQL it builds)."""
    from lakestory.cli import output
    from lakestory.core.text import suggestion
    from lakestory.transforms.patterns import load_builtins
    from lakestory.transforms.transformers import REGISTRY

    _check_format(fmt)
    patterns = load_builtins()
    spec, pattern = REGISTRY.get(name), patterns.get(name)
    if spec is None and pattern is None:
        hint = suggestion(name, [*REGISTRY, *patterns]) or (
            "see `lakestory list transformers` and `lakestory list patterns`"
        )
        output.err.print(
            f"error: unknown transformer or pattern '{name}'\n  hint: {hint}", markup=False
        )
        raise typer.Exit(2)
    described = [
        *([_describe(spec)] if spec else []),
        *([_describe_pattern(pattern)] if pattern else []),
    ]
    if fmt == "json":
        output.emit_json(described[0] if len(described) == 1 else described)
        return
    texts = [*([_text(spec)] if spec else []), *([_pattern_text(pattern)] if pattern else [])]
    if len(texts) > 1:
        texts.insert(
            0,
            f"'{name}' is both a transformer (a step) and a pattern (a node's "
            "`pattern:`); both follow.",
        )
    output.out.print("\n\n".join(texts), markup=False, highlight=False)


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        from lakestory.cli import output

        output.err.print(f"error: --format must be text or json, not '{fmt}'")
        raise typer.Exit(2)


def _params(model: type[BaseModel]) -> list[dict[str, Any]]:
    out = []
    for key, field in model.model_fields.items():
        ann = field.annotation
        type_text = getattr(ann, "__name__", None) if isinstance(ann, type) else None
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        out.append(
            {
                "name": key,
                "type": type_text or _short(str(ann)),
                "required": field.is_required(),
                "default": default,
                "description": field.description or "",
            }
        )
    return out


def _describe(spec: Transformer) -> dict[str, Any]:
    out = {
        "kind": "transformer",
        "name": spec.name,
        "summary": spec.summary,
        "params": _params(spec.params),
        "example": {"transformer": spec.name, "params": spec.example},
        "sql": spec.sql(spec.example),
    }
    if spec.columns is not None:  # the SQL depends on df's columns: say which were assumed
        out["example_columns"] = list(spec.columns)
    return out


def _describe_pattern(spec: Pattern) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "pattern",
        "name": spec.name,
        "summary": spec.summary,
        "params": _params(spec.params),
        "example": {"pattern": {"type": spec.name, "params": spec.example}},
    }
    params = spec.validate(spec.example)
    if spec.write is not None:
        out["write"] = spec.write(params)
    if spec.tests is not None:
        out["tests"] = spec.tests(params, {})  # the example's lookups are not resolved
    return out


def _param_lines(model: type[BaseModel]) -> list[str]:
    lines = ["params:"]
    for p in _params(model):
        need = "required" if p["required"] else f"default {p['default']!r}"
        lines.append(f"  {p['name']} ({p['type']}, {need}): {p['description']}")
    return lines


def _yaml(value: Any) -> list[str]:
    import yaml

    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=None)
    return ["  " + x for x in text.rstrip().splitlines()]


def _text(spec: Transformer) -> str:
    lines = [f"{spec.name}: {spec.summary}", "", *_param_lines(spec.params)]
    lines += ["", "example:", *_yaml([{"transformer": spec.name, "params": spec.example}])]
    if spec.columns is None:
        lines += ["", "builds (Spark SQL, run on every engine):"]
    else:
        cols = ", ".join(spec.columns)
        lines += ["", f"builds, from df's columns when the node runs (here: {cols}):"]
    lines.append("  " + spec.sql(spec.example))
    return "\n".join(lines)


def _pattern_text(spec: Pattern) -> str:
    described = _describe_pattern(spec)
    lines = [f"{spec.name} (pattern): {spec.summary}", "", *_param_lines(spec.params)]
    lines += ["", "example (on a node):", *_yaml(described["example"])]
    if described.get("write"):
        lines += ["", "sets on the node's write:", *_yaml(described["write"])]
    if described.get("tests"):
        lines += ["", "adds validation tests:", *_yaml(described["tests"])]
    return "\n".join(lines)


def _short(type_text: str) -> str:
    """A type's text without module paths: ``list[DimensionLookup]``."""
    import re

    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", type_text)
