"""``${...}`` in project files: the environment, defaults, ``vars``, literals, ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lakestory.config.loader import LoadedConfig, load_project_file
from lakestory.core.errors import ConfigError, ConfigErrors

BASE = """
project: {project}
description: {description}
{extra}
connections:
  raw: {{type: local, base_path: data}}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {{connection: raw, path: a.csv}}
"""


def load(
    tmp_path: Path,
    project: str = "p",
    description: str = "d",
    extra: str = "",
    environ: dict[str, str] | None = None,
    dotenv: str | None = None,
) -> LoadedConfig:
    (tmp_path / "lakestory.yaml").write_text(
        BASE.format(project=project, description=description, extra=extra)
    )
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    return load_project_file(tmp_path / "lakestory.yaml", environ=environ or {})


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("${NAME}", {"NAME": "shop"}, "shop"),
        ("${env:NAME}", {"NAME": "shop"}, "shop"),
        ("${ENV:NAME}", {"NAME": "shop"}, "shop"),
        ("${ NAME }", {"NAME": "shop"}, "shop"),
        ("pre-${NAME}-post", {"NAME": "shop"}, "pre-shop-post"),
        ("${A}${B}", {"A": "x", "B": "y"}, "xy"),
        ("${NAME:-fallback}", {}, "fallback"),
        ("${NAME:-fallback}", {"NAME": ""}, "fallback"),  # empty counts as unset for defaults
        ("${NAME:-fallback}", {"NAME": "set"}, "set"),
        ("${NAME:-}", {}, ""),
        ("${NAME:-a:-b}", {}, "a:-b"),
        ("$${NAME}", {"NAME": "shop"}, "${NAME}"),  # $${ is a literal ${
        ("cost: $5", {}, "cost: $5"),
    ],
)
def test_environment_references(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    loaded = load(tmp_path, description=f'"{text}"', environ=environ)
    assert loaded.config.description == expected


def test_an_empty_variable_without_default_is_used_as_empty(tmp_path: Path) -> None:
    assert load(tmp_path, description='"x${E}x"', environ={"E": ""}).config.description == "xx"


def test_vars_keep_their_type(tmp_path: Path) -> None:
    extra = """
vars:
  workers: 3
  nested: {level: {name: deep}}
  flag: true
max_workers: ${vars.workers}
"""
    loaded = load(
        tmp_path, description='"n=${vars.workers} ${vars.nested.level.name}"', extra=extra
    )
    assert loaded.config.max_workers == 3
    assert loaded.config.description == "n=3 deep"
    assert loaded.config.vars == {"workers": 3, "nested": {"level": {"name": "deep"}}, "flag": True}


def test_vars_may_use_the_environment(tmp_path: Path) -> None:
    extra = 'vars:\n  root: "${ROOT:-/data}/lake"\n'
    loaded = load(tmp_path, description="${vars.root}", extra=extra, environ={"ROOT": "/mnt"})
    assert loaded.config.description == "/mnt/lake"


def test_comments_are_never_substituted(tmp_path: Path) -> None:
    extra = "# base_path: ${NOT_SET_ANYWHERE}\n"
    loaded = load(tmp_path, description="plain  # and ${ALSO_NOT_SET} here", extra=extra)
    assert loaded.config.description == "plain"


def test_a_missing_variable_names_itself_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, description='"${WAREHOUSE_URL}"')
    assert err.value.what == "environment variable WAREHOUSE_URL is not set"
    assert err.value.where.key == "description"
    assert (err.value.where.line, err.value.where.column) == (3, 15)  # at the `$`
    assert "export WAREHOUSE_URL=" in (err.value.hint or "")


def test_every_missing_variable_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as err:
        load(tmp_path, project="${P1}", description="${P2}")
    assert [e.what for e in err.value.errors] == [
        "environment variable P1 is not set",
        "environment variable P2 is not set",
    ]


def test_an_undefined_var_suggests_a_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, description="${vars.workes}", extra="vars: {workers: 3}")
    assert err.value.what == "variable vars.workes is not defined"
    assert err.value.hint == "did you mean 'workers'?"


@pytest.mark.parametrize("text", ["${1BAD}", "${}", "${A B}"])
def test_malformed_references_are_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="is not a valid variable reference"):
        load(tmp_path, description=f'"{text}"')


def test_a_provider_without_secret_says_how_to_write_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no source 'keyvault'") as info:
        load(tmp_path, description='"${keyvault:db-password}"')
    assert "${SECRET:keyvault:db-password}" in (info.value.hint or "")


def test_values_taken_from_the_environment_are_remembered_as_secrets(tmp_path: Path) -> None:
    loaded = load(tmp_path, description='"${PW}"', environ={"PW": "hunter2"})
    assert loaded.secret_values == {"hunter2"}


# ---------------------------------------------------------------------------- .env


def test_dotenv_beside_the_project_fills_unset_variables(tmp_path: Path) -> None:
    dotenv = '# comment\nexport A=from-dotenv\nB="quoted value"\nC=x # trailing comment\n'
    loaded = load(tmp_path, description='"${A}|${B}|${C}"', dotenv=dotenv)
    assert loaded.config.description == "from-dotenv|quoted value|x"


def test_dotenv_never_overrides_a_set_variable(tmp_path: Path) -> None:
    loaded = load(
        tmp_path, description="${A}", dotenv="A=from-dotenv\n", environ={"A": "from-shell"}
    )
    assert loaded.config.description == "from-shell"


def test_dotenv_of_the_current_folder_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (tmp_path / ".env").write_text("A=wrong-folder\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="A is not set"):
        load(project_dir, description="${A}")


def test_the_process_environment_is_used_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LS_TEST_NAME", "from-os")
    (tmp_path / "lakestory.yaml").write_text(
        BASE.format(project="p", description="${LS_TEST_NAME}", extra="")
    )
    assert load_project_file(tmp_path / "lakestory.yaml").config.description == "from-os"


def _value(loaded: LoadedConfig) -> Any:
    return loaded.config.description


def test_a_var_may_use_the_vars_above_it(tmp_path: Path) -> None:
    extra = 'vars:\n  base: /data\n  raw: "${vars.base}/raw"\n  n: 2\n  again: ${vars.n}\n'
    loaded = load(tmp_path, description="${vars.raw}", extra=extra)
    assert loaded.config.vars == {"base": "/data", "raw": "/data/raw", "n": 2, "again": 2}
    assert loaded.config.description == "/data/raw"


def test_a_var_may_not_use_the_vars_below_it(tmp_path: Path) -> None:
    extra = 'vars:\n  raw: "${vars.base}/raw"\n  base: /data\n'
    with pytest.raises(ConfigError, match=r"variable vars\.base is not defined") as err:
        load(tmp_path, extra=extra)
    assert err.value.hint == (
        "vars.base is defined further down; a var may only use those above it"
    )
