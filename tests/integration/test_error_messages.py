"""Golden files for the messages users read when something is wrong.

Each case is a project under ``tests/golden/messages/<case>/`` (``lakestory.yaml`` and its
data), run with the command in ``CASES``; what the CLI prints on stderr is compared with
``expected.txt`` beside it, with the temporary folder shown as ``<tmp>``. After changing a
message on purpose, regenerate and review the diff::

    LAKESTORY_UPDATE_GOLDEN=1 python -m pytest tests/integration/test_error_messages.py
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "messages"
CONFIG_ERROR, NODE_FAILED = 2, 1
UPDATE = os.environ.get("LAKESTORY_UPDATE_GOLDEN") == "1"  # read before fixtures clear it


class Case(NamedTuple):
    args: tuple[str, ...]
    exit_code: int
    untouched: tuple[str, ...] = ()  # paths (relative to the project) that must not exist


CASES: dict[str, Case] = {
    "unknown_key": Case(("validate",), CONFIG_ERROR),
    "duplicate_key": Case(("validate",), CONFIG_ERROR),
    "missing_variable": Case(("validate",), CONFIG_ERROR),
    "unknown_connection": Case(("validate",), CONFIG_ERROR),
    "unknown_node_in_sql": Case(("validate",), CONFIG_ERROR),
    "cycle": Case(("validate",), CONFIG_ERROR),
    "sql_syntax_error": Case(("validate",), CONFIG_ERROR),
    "unknown_env": Case(("run", "--env", "prd"), CONFIG_ERROR),
    "upsert_duplicate_keys": Case(("run",), NODE_FAILED, ("data/out",)),
    "incremental_without_delta": Case(("validate",), CONFIG_ERROR),
    "missing_input_file": Case(("run",), NODE_FAILED, ("data/out",)),
    "csv_extra_field": Case(("run",), NODE_FAILED, ("data/out",)),
    "csv_unclosed_quote": Case(("run",), NODE_FAILED, ("data/out",)),
    "value_not_of_its_type": Case(("run",), NODE_FAILED, ("data/out",)),
    "python_step_raises": Case(("run",), NODE_FAILED),
    "sql_unknown_column": Case(("run",), NODE_FAILED),
    "quality_test_failed": Case(("run",), NODE_FAILED, ("data/out",)),
    "contract_failed": Case(("run",), NODE_FAILED, ("data/out",)),
    "quality_unknown_test_type": Case(("validate",), CONFIG_ERROR),
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# log lines ("2026-01-01 10:00:00,123 ERROR lakestory.run: ...") carry a timestamp
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ lakestory[\w.]*: .*\n?", re.M)


def normalise(text: str, tmp: Path) -> str:
    text = _ANSI.sub("", text)
    for spelling in {str(tmp.resolve()), str(tmp)}:
        text = text.replace(spelling, "<tmp>")
    text = _LOG_LINE.sub("", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def render(case: Case, stderr: str) -> str:
    return f"$ lakestory {' '.join(case.args)}\n# exit code {case.exit_code}\n{stderr}"


def test_every_golden_folder_has_a_case() -> None:
    folders = {p.name for p in GOLDEN.iterdir() if p.is_dir()}
    assert folders == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_message(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Any]
) -> None:
    case = CASES[name]
    root = tmp_path / "project"
    shutil.copytree(GOLDEN / name, root, ignore=shutil.ignore_patterns("expected.txt"))
    monkeypatch.chdir(root)
    monkeypatch.delenv("LAKE_ROOT", raising=False)

    result = cli(*case.args)

    actual = render(case, normalise(result.stderr, tmp_path))
    expected_file = GOLDEN / name / "expected.txt"
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
    assert actual == expected_file.read_text(encoding="utf-8")
    assert result.exit_code == case.exit_code
    for rel in case.untouched:
        assert not (root / rel).exists(), f"{rel} was written"
