"""``lakestory list patterns`` and ``lakestory explain NAME`` for patterns (and for a name
that is both a pattern and a transformer)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from lakestory.cli.app import app
from lakestory.transforms import patterns
from lakestory.transforms.patterns import Pattern, load_builtins
from lakestory.transforms.transformers import REGISTRY


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_patterns_shows_every_built_in_with_its_summary() -> None:
    builtins = load_builtins()
    assert {"dimension", "fact", "date_dimension"} <= set(builtins)
    code, out, _ = invoke("list", "patterns")
    assert code == 0
    lines = out.splitlines()[: len(builtins)]
    assert [line.split()[0] for line in lines] == list(builtins)
    assert all(line.split(None, 1)[1] == builtins[line.split()[0]].summary for line in lines)
    assert "`pattern: {type: NAME, params: {...}}`" in out


def test_list_patterns_as_json() -> None:
    code, out, _ = invoke("list", "patterns", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [p["name"] for p in data] == list(load_builtins())
    dim = next(p for p in data if p["name"] == "dimension")
    assert dim["kind"] == "pattern"
    assert dim["example"] == {
        "pattern": {"type": "dimension", "params": load_builtins()["dimension"].example}
    }
    assert {"name", "type", "required", "default", "description"} <= set(dim["params"][0])


@pytest.mark.parametrize("name", sorted(load_builtins()))
def test_explain_a_pattern_shows_its_params_and_example(name: str) -> None:
    spec = load_builtins()[name]
    code, out, _ = invoke("explain", name)
    assert code == 0, out
    assert out.startswith(f"{name} (pattern): {spec.summary}")
    for param in spec.params.model_fields:
        assert f"\n  {param} (" in out
    assert f"example (on a node):\n  pattern:\n    type: {name}\n" in out
    assert "builds (Spark SQL" not in out  # a pattern's SQL depends on the tables it reads


def test_explain_a_pattern_shows_the_write_it_sets() -> None:
    spec = load_builtins()["dimension"]
    assert spec.write is not None
    write = spec.write(spec.validate(spec.example))
    code, out, _ = invoke("explain", "dimension", "-f", "json")
    assert code == 0
    assert json.loads(out)["write"] == write
    text = invoke("explain", "dimension")[1]
    assert "sets on the node's write:" in text and f"mode: {write['mode']}" in text


def test_explain_still_explains_transformers() -> None:
    code, out, _ = invoke("explain", "pivot")
    assert code == 0
    assert out.startswith("pivot: ") and "builds (Spark SQL, run on every engine):" in out
    data = json.loads(invoke("explain", "pivot", "-f", "json")[1])
    assert data["kind"] == "transformer" and data["sql"] == REGISTRY["pivot"].sql(
        REGISTRY["pivot"].example
    )


def test_explain_a_transformer_built_from_the_columns_says_so() -> None:
    code, out, _ = invoke("explain", "normalize_column_names")
    assert code == 0
    assert "builds, from df's columns when the node runs (here: Customer ID, E-mail):" in out
    assert "`Customer ID` AS `customer_id`" in out
    data = json.loads(invoke("explain", "unpivot", "-f", "json")[1])
    assert data["example_columns"] == ["store", "jan", "feb"]


class _Shape(BaseModel):
    grain: list[str]


@pytest.fixture
def both(monkeypatch: pytest.MonkeyPatch) -> str:
    """A pattern named like a built-in transformer."""
    load_builtins()
    spec = Pattern(
        "deduplicate", _Shape, lambda ctx, p, df: df, "Keep one row per grain.", {"grain": ["id"]}
    )
    monkeypatch.setitem(patterns.REGISTRY, "deduplicate", spec)
    return "deduplicate"


def test_a_name_that_is_both_is_explained_as_both(both: str) -> None:
    code, out, _ = invoke("explain", both)
    assert code == 0
    assert out.startswith(f"'{both}' is both a transformer (a step) and a pattern")
    assert f"\n{both}: Keep one row per key" in out
    assert f"\n{both} (pattern): Keep one row per grain." in out
    data = json.loads(invoke("explain", both, "--format", "json")[1])
    assert [(d["kind"], d["name"]) for d in data] == [("transformer", both), ("pattern", both)]


@pytest.mark.parametrize(
    ("name", "hint"),
    [("dimensoin", "did you mean 'dimension'?"), ("dedupe", "did you mean 'deduplicate'?")],
)
def test_explain_an_unknown_name_suggests_a_pattern_or_a_transformer(name: str, hint: str) -> None:
    code, _, err = invoke("explain", name)
    assert code == 2
    assert f"unknown transformer or pattern '{name}'" in err and hint in err


def test_list_needs_a_known_kind_and_format() -> None:
    assert invoke("list", "patterns", "-f", "xml")[0] == 2
    assert invoke("list", "checks")[0] == 2
