"""``environments:`` overlays, applied with ``--env`` (or ``env=`` in Python)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakestory.config.loader import load_project_file
from lakestory.config.models import LocalConnection
from lakestory.core.errors import ConfigError

YAML = """
project: shop
on_error: fail_fast
max_workers: 2
vars: {min_age: 18, region: eu}
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
environments:
  dev:
    on_error: fail_later
  prod:
    max_workers: 8
    vars: {min_age: 21}
    connections:
      lake: {base_path: "${PROD_LAKE}"}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        description: "adults from ${vars.min_age} in ${vars.region}"
        read: {connection: raw, path: a.csv}
        write: {connection: lake, path: out}
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    (tmp_path / "lakestory.yaml").write_text(YAML)
    return tmp_path / "lakestory.yaml"


def test_without_env_the_file_is_used_as_written(path: Path) -> None:
    cfg = load_project_file(path, environ={}).config
    assert (cfg.on_error, cfg.max_workers) == ("fail_fast", 2)
    # the prod overlay needs PROD_LAKE; without --env prod it is not asked for
    assert cfg.connections["lake"] == LocalConnection(type="local", base_path="lake")


def test_an_overlay_replaces_only_what_it_names(path: Path) -> None:
    cfg = load_project_file(path, "dev", environ={}).config
    assert (cfg.on_error, cfg.max_workers) == ("fail_later", 2)


def test_overlays_merge_deeply_and_may_use_variables(path: Path) -> None:
    loaded = load_project_file(path, "prod", environ={"PROD_LAKE": "/mnt/lake"})
    cfg = loaded.config
    assert cfg.max_workers == 8
    assert cfg.connections["lake"] == LocalConnection(type="local", base_path="/mnt/lake")
    assert cfg.connections["raw"] == LocalConnection(type="local", base_path="data")
    # vars are overlaid before they are used
    assert cfg.vars == {"min_age": 21, "region": "eu"}
    assert cfg.pipelines[0].nodes[0].description == "adults from 21 in eu"
    assert loaded.env_name == "prod"


def test_an_overlay_variable_that_is_missing_points_into_the_overlay(path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_project_file(path, "prod", environ={})
    assert err.value.what == "environment variable PROD_LAKE is not set"
    # the line in environments.prod, where it is written
    assert (
        err.value.where.line
        == YAML.splitlines().index('      lake: {base_path: "${PROD_LAKE}"}') + 1
    )


def test_an_unknown_environment_suggests_a_close_one(path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_project_file(path, "prd", environ={})
    assert err.value.what == "environment 'prd' is not defined"
    assert err.value.hint == "did you mean 'prod'?"


def test_an_unknown_environment_lists_the_defined_ones(path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_project_file(path, "staging", environ={})
    assert err.value.hint == "defined environments: dev, prod"


def test_env_on_a_project_without_environments(tmp_path: Path) -> None:
    (tmp_path / "lakestory.yaml").write_text(
        YAML.split("environments:")[0]
        + """pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: a.csv}
"""
    )
    with pytest.raises(ConfigError) as err:
        load_project_file(tmp_path / "lakestory.yaml", "dev", environ={})
    assert "environments:" in (err.value.hint or "")


def test_plan_shows_the_overlay(path: Path, cli: Callable[..., Any]) -> None:
    result = cli(
        "plan",
        path,
        "--env",
        "prod",
        "--format",
        "json",
        env={"PROD_LAKE": str(path.parent / "prod-lake")},
    )
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["env"] == "prod"
    assert plan["nodes"][0]["write"]["uri"] == str(path.parent / "prod-lake" / "out")
