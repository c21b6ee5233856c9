"""The example config from DESIGN.md, which the config format must accept verbatim.

Everything in it that this version cannot do yet is reported as "not supported yet": as
notes by `validate`, as errors by `plan` (and `run`), never silently ignored.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "design_example.yaml"
SECRETS = {"DB_PASSWORD": "s3cret-pw", "SLACK_WEBHOOK_URL": "https://hooks.example/x"}
PROJECT_LEVEL = ["story"]  # stories on a cloud connection (issue 8)


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


def test_validate_accepts_it_with_notes(fixed: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", fixed, env=SECRETS)
    assert result.exit_code == 0, result.stderr
    notes = re.findall(
        r"^note: .*key (\w+): `\w+` \(.*\) is not supported yet", result.stderr, re.M
    )
    assert sorted(notes) == sorted(PROJECT_LEVEL)
    assert result.stderr.count("note:") == len(PROJECT_LEVEL) + 1  # + the azure connection
    # secrets never show up in what is printed
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr


def test_validate_json_lists_what_is_not_supported(fixed: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", fixed, "--format", "json", env=SECRETS)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["nodes"] == 1
    keys = sorted(n["key"] for n in report["not_supported_yet"])
    node = "pipelines[0].nodes[0].write"
    assert keys == sorted([*PROJECT_LEVEL, f"{node}.connection"])


def test_validate_notes_node_level_features(fixed: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", fixed, env=SECRETS)
    assert "write mode 'upsert'" not in result.stderr  # upsert is supported
    assert "connection type 'azure_adls' is not supported yet" in result.stderr


def test_plan_refuses_it_naming_every_unsupported_feature(
    fixed: Path, cli: Callable[..., Any]
) -> None:
    result = cli("plan", fixed, env=SECRETS)
    assert result.exit_code == 2
    assert "2 problems in the configuration" in result.stderr
    for key in PROJECT_LEVEL:
        assert f"`{key}` (" in result.stderr
    assert "write: connection type 'azure_adls' is not supported yet" in result.stderr
    assert result.stdout == ""


def test_run_refuses_it_before_doing_anything(fixed: Path, cli: Callable[..., Any]) -> None:
    result = cli("run", fixed, env=SECRETS)
    assert result.exit_code == 2
    assert "not supported yet" in result.stderr
    assert sorted(p.name for p in fixed.parent.iterdir()) == ["lakestory.yaml", "my_project"]
