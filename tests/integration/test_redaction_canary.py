"""Canaries: secrets put into a project never leave a run in clear text.

``DB_PASSWORD`` (from ``.env``, used through ``${...}``) reaches a Python step that logs it
and one that raises with it; an AWS-key-looking literal sits in a SQL step that fails. Neither
may appear in stdout, stderr or any text file the run writes under the project folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lakestory.secrets.redactor import MASK, current, set_current
from support.canary import STEPS, TEXT_SUFFIXES

DB_CANARY = "canary-Pw-7f3a9c1e"
AWS_CANARY = "AKIAZ7CANARY2EXAMPLE"

HEAD = """
project: canary
vars:
  db_password: "${DB_PASSWORD}"
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: ok
        read: {connection: raw, path: a.csv}
        transform: [{function: steps.announce, params: {password: "${vars.db_password}"}}]
        write: {connection: raw, path: out/ok.parquet}
"""
FAILING = f"""
      - name: bad_sql
        read: {{connection: raw, path: a.csv}}
        transform:
          steps:
            - sql: SELECT id, '{AWS_CANARY}' AS key_id, no_such_column FROM df
      - name: bad_py
        read: {{connection: raw, path: a.csv}}
        transform: [{{function: steps.fail, params: {{password: "${{DB_PASSWORD}}"}}}}]
"""


@pytest.fixture(autouse=True)
def _restore_redactor() -> Iterator[None]:
    before = current()
    yield
    set_current(before)


def _snapshot(root: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _written_text(root: Path, before: dict[Path, float]) -> dict[str, str]:
    """The text files the run created or changed under ``root``."""
    out = {}
    for path, stamp in _snapshot(root).items():
        if path.suffix in TEXT_SUFFIXES and before.get(path) != stamp:
            out[str(path.relative_to(root))] = path.read_text(encoding="utf-8", errors="replace")
    return out


def _run(
    project: Callable[..., Path], cli: Callable[..., Any], failing: bool, fmt: str
) -> tuple[Any, dict[str, str]]:
    root = project(
        HEAD + (FAILING if failing else ""),
        {
            ".env": f"DB_PASSWORD={DB_CANARY}\n",
            "data/a.csv": "id,amount\n1,10\n",
            "steps.py": STEPS,
        },
    )
    before = _snapshot(root)
    result = cli(
        "run",
        root / "lakestory.yaml",
        "--format",
        fmt,
        "--on-error",
        "fail_later",
        env={"LAKESTORY_LOG_FORMAT": "json" if fmt == "json" else "text"},
    )
    return result, _written_text(root, before)


def _assert_nowhere(canary: str, result: Any, files: dict[str, str]) -> None:
    assert canary not in result.stdout
    assert canary not in result.stderr
    leaked = [name for name, text in files.items() if canary in text]
    assert leaked == []


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_successful_run_shows_no_secret(
    project: Callable[..., Path], cli: Callable[..., Any], fmt: str
) -> None:
    result, files = _run(project, cli, failing=False, fmt=fmt)
    assert result.exit_code == 0, result.stderr
    assert f"connecting with password {MASK}" in result.stderr  # the step's log line, hidden
    _assert_nowhere(DB_CANARY, result, files)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_failing_run_shows_no_secret(
    project: Callable[..., Path], cli: Callable[..., Any], fmt: str
) -> None:
    result, files = _run(project, cli, failing=True, fmt=fmt)
    assert result.exit_code == 1, result.stderr
    shown = result.stdout + result.stderr
    assert "no_such_column" in shown  # the SQL failure is reported ...
    assert "AS key_id" in shown  # ... with its SQL text, the literal hidden
    assert "login refused for" in shown  # the step's exception is reported too
    assert f"login refused for {MASK}" in shown
    _assert_nowhere(DB_CANARY, result, files)
    # the SQL cache does not keep the translation of SQL holding something secret-looking
    _assert_nowhere(AWS_CANARY, result, files)


def test_a_validation_error_quoting_a_secret_hides_it(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(
        'project: canary\non_error: "${DB_PASSWORD}"\npipelines: []\n',
        {".env": f"DB_PASSWORD={DB_CANARY}\n"},
    )
    for fmt in ("text", "json"):
        result = cli("validate", root / "lakestory.yaml", "--format", fmt)
        assert result.exit_code == 2
        assert "is not one of: fail_fast, fail_later" in result.stdout + result.stderr
        assert DB_CANARY not in result.stdout + result.stderr
        assert f"'{MASK}'" in result.stdout + result.stderr


def test_settings_from_the_environment_stay_visible(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """Locations and short plain words resolved from ``${...}`` are settings, not secrets."""
    root = project(
        """
        project: visible
        connections:
          raw: {type: local, base_path: "${RAW_DIR}"}
          lake: {type: local, base_path: "${LAKE_DIR}"}
        pipelines:
          - pipeline: p
            nodes:
              - name: a
                read: {connection: raw, path: a.csv}
                write: {connection: lake, path: out}
        """,
        {".env": "RAW_DIR=data\nLAKE_DIR=./lake-folder\n", "data/a.csv": "id\n1\n"},
    )
    result = cli("plan", root / "lakestory.yaml", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert MASK not in result.stdout
    assert "lake-folder" in result.stdout
    assert '"project": "visible"' in result.stdout
