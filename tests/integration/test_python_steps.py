"""Python function steps: what they receive and return, and how their failures read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakestory.api import Project

PROJECT = """
project: steps
connections:
  raw: {{type: local, base_path: data}}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {{connection: raw, path: a.csv}}
        transform: [{{function: {function}, params: {params}}}]
        write: {{connection: raw, path: out.parquet}}
"""

STEPS = """
import pyarrow as pa
import pyarrow.compute as pc

OFFSET = 0


def scale(df, factor):
    t = pa.table(df)
    return t.set_column(1, "amount", pc.multiply(t["amount"], factor + OFFSET))


def relation(df, factor):
    return df.filter(f"amount > {factor}")


def nothing(df, factor):
    return None
"""


def run(
    project: Callable[..., Path],
    cli: Callable[..., Any],
    function: str,
    params: str = "{factor: 2}",
    module: str = STEPS,
) -> tuple[Path, Any]:
    root = project(
        PROJECT.format(function=function, params=params),
        {"data/a.csv": "id,amount\n1,10\n2,20\n", "steps.py": module},
    )
    return root, cli("run", root / "lakestory.yaml")


def test_a_step_gets_params_and_may_return_arrow(
    project: Callable[..., Path], cli: Callable[..., Any], read_parquet: Callable[..., Any]
) -> None:
    root, result = run(project, cli, "steps.scale")
    assert result.exit_code == 0, result.stderr
    assert read_parquet(root / "data" / "out.parquet") == [
        {"id": 1, "amount": 20},
        {"id": 2, "amount": 40},
    ]


def test_a_step_may_return_a_duckdb_relation(
    project: Callable[..., Path], cli: Callable[..., Any], read_parquet: Callable[..., Any]
) -> None:
    root, result = run(project, cli, "steps.relation", "{factor: 15}")
    assert result.exit_code == 0, result.stderr
    assert read_parquet(root / "data" / "out.parquet") == [{"id": 2, "amount": 20}]


def test_returning_nothing_is_a_clear_error(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    _, result = run(project, cli, "steps.nothing")
    assert result.exit_code == 1
    assert "the function returned NoneType, not data" in result.stderr


@pytest.mark.parametrize(
    ("function", "params", "message", "hint"),
    [
        ("steps.scael", "{factor: 2}", "module 'steps' (", "did you mean 'scale'?"),
        (
            "steps.scale",
            "{factr: 2}",
            "steps.scale has no parameter 'factr'",
            "did you mean 'factor'?",
        ),
        (
            "stesp.scale",
            "{factor: 2}",
            "cannot find module 'stesp' for function 'stesp.scale'",
            "modules are found beside the project file",
        ),
    ],
)
def test_validate_checks_functions_without_running_them(
    project: Callable[..., Path],
    cli: Callable[..., Any],
    function: str,
    params: str,
    message: str,
    hint: str,
) -> None:
    root = project(
        PROJECT.format(function=function, params=params),
        {"data/a.csv": "id,amount\n1,10\n", "steps.py": STEPS},
    )
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code == 2
    assert message in result.stderr
    assert hint in result.stderr


def test_validate_does_not_import_the_module(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    module = STEPS + '\nopen(__file__ + ".imported", "w").close()\n'
    root = project(
        PROJECT.format(function="steps.scale", params="{factor: 2}"),
        {"data/a.csv": "id,amount\n1,10\n", "steps.py": module},
    )
    assert cli("validate", root / "lakestory.yaml").exit_code == 0
    assert not (root / "steps.py.imported").exists()


def test_a_module_with_a_syntax_error_is_named_at_validate(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    _, result = run(project, cli, "steps.scale", module="def scale(df, factor:\n    pass\n")
    assert result.exit_code == 2
    assert (
        "steps.py:1:10, node p.a, transform[0] (function): module 'steps' is not valid "
        "Python: '(' was never closed" in result.stderr
    )


def test_a_module_that_fails_to_import_shows_why(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    module = "import not_installed_anywhere_xyz\n\n\ndef scale(df, factor):\n    return df\n"
    _, result = run(project, cli, "steps.scale", module=module)
    assert result.exit_code == 1
    assert (
        "importing module 'steps' failed: ModuleNotFoundError: No module named "
        "'not_installed_anywhere_xyz'"
    ) in result.stderr
    assert 'steps.py", line 1, in <module>' in result.stderr
    assert "hint: it imports 'not_installed_anywhere_xyz', which is not installed" in (
        result.stderr
    )
    assert "importlib" not in result.stderr


def test_two_projects_in_one_process_use_their_own_modules(
    project: Callable[..., Path], read_parquet: Callable[..., Any]
) -> None:
    roots = {}
    for who in ("first", "second"):
        module = STEPS.replace("OFFSET = 0", f"OFFSET = {len(who)}")
        roots[who] = project(
            PROJECT.format(function="steps.scale", params="{factor: 0}"),
            {"data/a.csv": "id,amount\n1,10\n", "steps.py": module},
            root=who,
        )
    for who, root in roots.items():
        assert Project.load(root / "lakestory.yaml").run().ok
        # factor 0 + OFFSET: 10 * 5 for "first", 10 * 6 for "second"
        assert read_parquet(root / "data" / "out.parquet") == [
            {"id": 1, "amount": 10 * len(who)}
        ], who
