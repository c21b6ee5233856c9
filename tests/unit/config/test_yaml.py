"""Reading project files: positions for messages, duplicate keys, unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakestory.config.loader import load_project_file, load_project_text
from lakestory.config.yamlpos import load_yaml_text
from lakestory.core.errors import ConfigError, ConfigErrors

VALID = """\
project: p
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: a.csv}
"""


def load(text: str, tmp_path: Path) -> None:
    load_project_text(text, tmp_path, environ={}, file="lakestory.yaml")


def test_positions_of_keys_and_values() -> None:
    data, smap = load_yaml_text(VALID, "f.yaml")
    assert data["pipelines"][0]["nodes"][0]["name"] == "a"
    assert smap.positions[("pipelines", 0, "nodes", 0, "read")] == (8, 9)
    where = smap.where(("pipelines", 0, "nodes", 0, "read", "nope"))  # falls back to parent
    assert (where.file, where.line, where.column) == ("f.yaml", 8, 9)
    assert where.key == "pipelines[0].nodes[0].read.nope"


def test_text_position_inside_a_literal_block() -> None:
    text = "sql: |\n  SELECT a,\n         b\n  FROM t\n"
    _, smap = load_yaml_text(text, "f.yaml")
    assert smap.text_position(("sql",), 1, 1) == (2, 3)
    assert smap.text_position(("sql",), 3, 6) == (4, 8)


def test_text_position_in_a_one_line_value() -> None:
    _, smap = load_yaml_text('a: SELECT 1\nb: "SELECT 2"\n', "f.yaml")
    assert smap.text_position(("a",), 1, 8) == (1, 11)
    assert smap.text_position(("b",), 1, 8) == (2, 12)  # after the opening quote
    assert smap.text_position(("b",), 2, 1) is None


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(VALID + "        read: {connection: raw, path: b.csv}\n", tmp_path)
    assert err.value.what == "duplicate key 'read' (first at line 8)"
    assert (err.value.where.line, err.value.where.column) == (9, 9)


def test_duplicate_top_level_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"duplicate key 'project' \(first at line 1\)"):
        load(VALID + "project: q\n", tmp_path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(
            VALID.replace(
                "  raw: {type: local, base_path: data}", "  raw: {type: local, base_path: data"
            ),
            tmp_path,
        )
    assert err.value.what.startswith("invalid YAML")
    assert err.value.where.line is not None


def test_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    text = VALID.replace(
        "connections:\n  raw: {type: local, base_path: data}",
        "defaults: &local {type: local}\nconnections:\n  raw: {<<: *local, base_path: data}",
    )
    with pytest.raises(ConfigError, match="unknown key 'defaults'"):
        load(text, tmp_path)  # anchors are fine, but a stray top-level key is not


def test_unknown_keys_suggest_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(VALID.replace("read:", "raed:"), tmp_path)
    assert err.value.what == "unknown key 'raed'"
    assert err.value.hint == "did you mean 'read'?"
    assert (err.value.where.line, err.value.where.column) == (8, 9)


def test_a_key_of_another_section_says_where_it_goes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="`continuous` does not go here") as err:
        load(VALID + "        continuous: true\n", tmp_path)  # on a node
    assert err.value.hint is not None and "goes on a pipeline" in err.value.hint


def test_several_model_errors_are_reported_together(tmp_path: Path) -> None:
    text = VALID.replace("project: p", "project: p\non_error: sometimes").replace("read:", "raed:")
    with pytest.raises(ConfigErrors) as err:
        load(text, tmp_path)
    assert len(err.value.errors) == 2


def test_a_folder_path_without_format_asks_for_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(VALID.replace("path: a.csv", "path: orders/"), tmp_path)
    assert err.value.what == (
        "cannot tell the format of 'orders/': add `format:` (csv, parquet, json or delta)"
    )


def test_project_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="project file not found") as err:
        load_project_file(tmp_path / "nope.yaml")
    assert "lakestory init" in (err.value.hint or "")


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load("- just\n- a list\n", tmp_path)
