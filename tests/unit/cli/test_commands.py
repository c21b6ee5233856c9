"""Small commands and options: --version, schema, init, bad option values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import lakestory


def test_version(cli: Callable[..., Any]) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"lakestory {lakestory.__version__}\n"
    assert lakestory.__version__.count(".") == 2


def test_no_arguments_shows_help(cli: Callable[..., Any]) -> None:
    result = cli()
    assert "validate" in result.stdout + result.stderr
    assert "run" in result.stdout + result.stderr


# ---------------------------------------------------------------------------- schema


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a value may match: $ref followed, anyOf/oneOf flattened."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return _resolve(root["$defs"][name], root)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return [alt for option in options for alt in _resolve(option, root)]
    return [schema]


def _unknown_keys(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = ""
) -> list[str]:
    """Keys of ``value`` that no alternative of ``schema`` allows (a small validator)."""
    alternatives = _resolve(schema, root)
    if isinstance(value, dict):
        best: list[str] | None = None
        for alt in (a for a in alternatives if a.get("type") == "object"):
            props, extra = alt.get("properties", {}), alt.get("additionalProperties", True)
            found = []
            for key, item in value.items():
                if key in props:
                    found += _unknown_keys(item, props[key], root, f"{path}.{key}")
                elif isinstance(extra, dict):
                    found += _unknown_keys(item, extra, root, f"{path}.{key}")
                elif extra is False:
                    found.append(f"{path}.{key}")
            if best is None or len(found) < len(best):
                best = found
        return [f"{path} is not an object"] if best is None else best
    if isinstance(value, list):
        arrays = [a for a in alternatives if a.get("type") == "array"]
        if not arrays:
            return [f"{path} is not a list"]
        return [
            p
            for i, item in enumerate(value)
            for p in _unknown_keys(item, arrays[0].get("items", {}), root, f"{path}[{i}]")
        ]
    if isinstance(value, str) and not any(
        a.get("type") in (None, "string") or "enum" in a for a in alternatives
    ):
        return [f"{path} is not a string"]
    return []


def test_schema_is_json_schema_of_project_files(cli: Callable[..., Any]) -> None:
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"project", "pipelines"}
    assert schema["additionalProperties"] is False
    # every reference resolves
    refs = [
        r.removeprefix("#/$defs/")
        for r in json.dumps(schema).split('"$ref": "')[1:]
        for r in [r.split('"')[0]]
    ]
    assert refs and all(r in schema["$defs"] for r in refs)


def test_the_example_project_matches_the_schema(cli: Callable[..., Any], tmp_path: Path) -> None:
    schema = json.loads(cli("schema").stdout)
    assert cli("init", tmp_path / "demo").exit_code == 0
    example = yaml.safe_load((tmp_path / "demo" / "lakestory.yaml").read_text())
    assert _unknown_keys(example, schema, schema) == []
    # and the checker does catch a stray key
    example["pipelines"][0]["nodes"][0]["raed"] = {}
    assert _unknown_keys(example, schema, schema) == [".pipelines[0].nodes[0].raed"]


def test_the_short_forms_match_the_schema(cli: Callable[..., Any]) -> None:
    schema = json.loads(cli("schema").stdout)
    short = yaml.safe_load("""
project: p
connections: {raw: {type: local}}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        tags: daily
        depends_on: b
        transform: [{sql: SELECT 1}]
        write: {connection: raw, path: x, partitionBy: [y]}
""")
    assert _unknown_keys(short, schema, schema) == []


# ------------------------------------------------------------------------------ init


def test_init_refuses_a_non_empty_folder(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = cli("init", tmp_path / "busy")
    assert result.exit_code == 2
    assert "exists and is not empty (use --force)" in result.stderr
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]


def test_init_force_writes_beside_existing_files(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert cli("init", tmp_path / "busy", "--force").exit_code == 0
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "busy" / "lakestory.yaml").is_file()


def test_init_creates_sample_data(cli: Callable[..., Any], tmp_path: Path) -> None:
    result = cli("init", tmp_path / "demo")
    assert result.exit_code == 0
    raw = tmp_path / "demo" / "data" / "raw"
    assert sorted(p.name for p in (raw / "orders").iterdir()) == [
        "orders_2024_01.csv",
        "orders_2024_02.csv",
        "orders_2024_03.csv",
    ]
    assert (
        (raw / "customers.csv").read_text().startswith("customer_id,name,email,age,status,country")
    )
    assert "lakestory validate" in result.stdout


# ------------------------------------------------------------------ options and files


def test_a_missing_project_file(cli: Callable[..., Any], tmp_path: Path) -> None:
    result = cli("validate")  # the current folder (tmp_path) has no lakestory.yaml
    assert result.exit_code == 2
    assert "project file not found: lakestory.yaml" in result.stderr


def test_bad_format_option(cli: Callable[..., Any]) -> None:
    result = cli("validate", "--format", "yaml")
    assert result.exit_code == 2
    assert "--format must be text or json" in result.stderr


def test_bad_on_error_option(cli: Callable[..., Any], tmp_path: Path) -> None:
    assert cli("init", tmp_path / "demo").exit_code == 0
    result = cli("run", tmp_path / "demo" / "lakestory.yaml", "--on-error", "sometimes")
    assert result.exit_code == 2
    assert "--on-error must be fail_fast or fail_later" in result.stderr
    assert not (tmp_path / "demo" / "data" / "lake").exists()


def test_json_errors_are_json(cli: Callable[..., Any], project: Callable[..., Path]) -> None:
    root = project("project: p\npipelines: []\n")
    result = cli("validate", root / "lakestory.yaml", "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["error"]["kind"] == "config_error"
    assert report["error"]["key"] == "pipelines"
