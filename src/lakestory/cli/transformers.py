"""``lakestory list transformers`` and ``lakestory explain NAME``: the built-in transformers,
their params and an example step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakestory.cli.app import FormatOpt, app

if TYPE_CHECKING:
    from lakestory.transforms.transformers import Transformer

list_app = typer.Typer(
    help="List what lakestory provides (transformers).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(list_app, name="list")


@list_app.command("transformers")
def list_transformers(fmt: FormatOpt = "text") -> None:
    """Every built-in transformer with a one-line summary."""
    from lakestory.cli import output
    from lakestory.transforms.transformers import REGISTRY

    _check_format(fmt)
    if fmt == "json":
        output.emit_json([_describe(s) for s in REGISTRY.values()])
        return
    width = max(len(n) for n in REGISTRY)
    for spec in REGISTRY.values():
        output.out.print(f"{spec.name:<{width}}  {spec.summary}", markup=False, highlight=False)
    output.out.print(
        "\nuse one as a step: `- transformer: NAME` with `params: {...}`; "
        "`lakestory explain NAME` shows its params",
        markup=False,
        highlight=False,
    )


@app.command()
def explain(
    name: Annotated[str, typer.Argument(help="A transformer's name.")],
    fmt: FormatOpt = "text",
) -> None:
    """A transformer's params, an example step and the Spark SQL it builds."""
    from lakestory.cli import output
    from lakestory.core.text import suggestion
    from lakestory.transforms.transformers import REGISTRY

    _check_format(fmt)
    spec = REGISTRY.get(name)
    if spec is None:
        hint = suggestion(name, REGISTRY) or "see `lakestory list transformers`"
        output.err.print(f"error: unknown transformer '{name}'\n  hint: {hint}", markup=False)
        raise typer.Exit(2)
    if fmt == "json":
        output.emit_json(_describe(spec))
        return
    output.out.print(_text(spec), markup=False, highlight=False)


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        from lakestory.cli import output

        output.err.print(f"error: --format must be text or json, not '{fmt}'")
        raise typer.Exit(2)


def _params(spec: Transformer) -> list[dict[str, Any]]:
    out = []
    for key, field in spec.params.model_fields.items():
        ann = field.annotation
        type_text = getattr(ann, "__name__", None) if isinstance(ann, type) else None
        out.append(
            {
                "name": key,
                "type": type_text or _short(str(ann)),
                "required": field.is_required(),
                "default": None if field.is_required() else field.default,
                "description": field.description or "",
            }
        )
    return out


def _describe(spec: Transformer) -> dict[str, Any]:
    return {
        "name": spec.name,
        "summary": spec.summary,
        "params": _params(spec),
        "example": {"transformer": spec.name, "params": spec.example},
        "sql": spec.sql(spec.example),
    }


def _text(spec: Transformer) -> str:
    import yaml

    lines = [f"{spec.name}: {spec.summary}", "", "params:"]
    for p in _params(spec):
        need = "required" if p["required"] else f"default {p['default']!r}"
        lines.append(f"  {p['name']} ({p['type']}, {need}): {p['description']}")
    step = yaml.safe_dump(
        [{"transformer": spec.name, "params": spec.example}],
        sort_keys=False,
        default_flow_style=None,
    )
    lines += ["", "example:", *("  " + x for x in step.rstrip().splitlines())]
    lines += ["", "builds (Spark SQL, run on every engine):", "  " + spec.sql(spec.example)]
    return "\n".join(lines)


def _short(type_text: str) -> str:
    for prefix in ("typing.", "lakestory.transforms.transformers."):
        type_text = type_text.replace(prefix, "")
    return type_text
