"""The example config from DESIGN.md, which the config format must accept verbatim.

Everything in it is supported; what it leaves out (a `raw` connection, an Azure container)
is named before anything runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "design_example.yaml"
SECRETS = {"DB_PASSWORD": "s3cret-pw", "SLACK_WEBHOOK_URL": "https://hooks.example/x"}


@pytest.fixture
def example(tmp_path: Path, files: Callable[..., Path]) -> Path:
    """The example, with the function module it names and the secrets it reads."""
    root = files(
        tmp_path / "big",
        {
            "my_project/__init__.py": "",
            "my_project/transforms.py": "def enrich(df):\n    return df\n",
        },
    )
    shutil.copy(EXAMPLE, root / "lakestory.yaml")
    return root


@pytest.fixture
def fixed(example: Path) -> Path:
    """The example plus the one thing it lacks: a definition of its `raw` connection."""
    path = example / "lakestory.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("connections:\n", "connections:\n  raw: {type: local, base_path: data}\n", 1)
    )
    return path


def test_it_is_the_design_documents_example() -> None:
    text = EXAMPLE.read_text()
    for fragment in (
        "project: My Big Data Project",
        "auth_mode: key_vault",
        "retention_count: 100",
        "mode: upsert",
        'sensitive: ["email", "ssn"]',
    ):
        assert fragment in text


def test_verbatim_it_names_its_one_mistake(example: Path, cli: Callable[..., Any]) -> None:
    # DESIGN.md's example reads from a connection `raw` it never defines.
    result = cli("validate", example / "lakestory.yaml", env=SECRETS)
    assert result.exit_code == 2
    assert "unknown connection 'raw'" in result.stderr
    assert "defined connections: db, data_lake" in result.stderr


def test_unset_secrets_are_named(
    example: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    result = cli("validate", example / "lakestory.yaml")
    assert result.exit_code == 2
    assert "2 problems in the configuration" in result.stderr
    assert "connections.db.password: environment variable DB_PASSWORD is not set" in (result.stderr)
    assert "alerts[0].url: environment variable SLACK_WEBHOOK_URL is not set" in result.stderr


def test_validate_and_plan_accept_it(fixed: Path, cli: Callable[..., Any]) -> None:
    # everything in it is supported now, the Azure connection and stories on it included
    result = cli("validate", fixed, env=SECRETS)
    assert result.exit_code == 0, result.stderr
    assert "note:" not in result.stderr
    report = json.loads(cli("validate", fixed, "--format", "json", env=SECRETS).stdout)
    assert report["ok"] is True and report["nodes"] == 1
    assert report["not_supported_yet"] == []
    plan = cli("plan", fixed, env=SECRETS)
    assert plan.exit_code == 0, plan.stderr
    assert "data_lake:silver/users" in plan.stdout and "upsert" in plan.stdout
    # secrets never show up in what is printed
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr + plan.stdout + plan.stderr


def test_run_names_the_missing_container_before_doing_anything(
    fixed: Path, cli: Callable[..., Any]
) -> None:
    # the example's data_lake has no `container`, so a path starts with one, and its
    # system catalog's path `_lakestory_system` is not a container name
    result = cli("run", fixed, env=SECRETS)
    assert result.exit_code == 2
    assert "lakestory.yaml:16:3, key system.connection" in result.stderr
    assert "'_lakestory_system' is not a container name" in result.stderr
    assert "hint: set `container:` on the connection" in result.stderr
    assert sorted(p.name for p in fixed.parent.iterdir()) == ["lakestory.yaml", "my_project"]
