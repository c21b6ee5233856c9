"""Edge cases found in review: each once lost rows, hid the real error, or crashed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

Run = Callable[..., tuple[int, dict[str, Any]]]

HEAD = """\
project: edges
connections:
  d: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
"""


def _error(report: dict[str, Any], node: str) -> dict[str, Any]:
    record = next(n for n in report["nodes"] if n["key"] == node)
    assert record["status"] == "failed", record
    error: dict[str, Any] = record["error"]
    return error


def test_nineteen_digit_ids_stay_exact(project: Callable[..., Path], run_json: Run) -> None:
    root = project(
        HEAD
        + """\
      - name: ids
        read: {connection: d, path: ids.csv}
        write: {connection: d, path: out}
""",
        {"data/ids.csv": "id\n1234567890123456789\n1234567890123456788\n"},
    )
    code, _ = run_json(root / "lakestory.yaml")
    assert code == 0
    table = DeltaTable(str(root / "data" / "out")).to_pyarrow_table()
    assert table.schema.field("id").type == pa.int64()
    assert sorted(table.column("id").to_pylist()) == [1234567890123456788, 1234567890123456789]


def test_selected_node_reads_an_upstream_csv_with_its_write_options(
    project: Callable[..., Path], cli: Callable[..., Any], read_delta: Callable[..., Any]
) -> None:
    root = project(
        HEAD
        + """\
      - name: a
        read: {connection: d, path: in.csv}
        write: {connection: d, path: mid.csv, options: {delimiter: "|", header: false}}
      - name: b
        depends_on: [a]
        write: {connection: d, path: out_b}
""",
        {"data/in.csv": "id,name\n1,a\n2,b\n"},
    )
    assert cli("run", root / "lakestory.yaml").exit_code == 0
    assert cli("run", root / "lakestory.yaml", "--node", "b").exit_code == 0
    assert read_delta(root / "data" / "out_b") == [
        {"_c0": 1, "_c1": "a"},  # no header: Spark's column names
        {"_c0": 2, "_c1": "b"},
    ]


def test_delta_write_onto_a_file_is_a_write_error(
    project: Callable[..., Path], run_json: Run
) -> None:
    root = project(
        HEAD
        + """\
      - name: a
        read: {connection: d, path: in.csv}
        write: {connection: d, path: in.csv, format: delta}
""",
        {"data/in.csv": "id\n1\n"},
    )
    code, report = run_json(root / "lakestory.yaml")
    assert code == 1
    error = _error(report, "p.a")
    assert error["kind"] == "write_error"
    assert not error["message"].startswith("internal error")
    assert (root / "data" / "in.csv").read_text() == "id\n1\n"


def test_a_sql_error_while_writing_delta_is_reported_as_sql(
    project: Callable[..., Path], run_json: Run
) -> None:
    root = project(
        HEAD
        + """\
      - name: a
        read: {connection: d, path: in.csv}
        transform:
          - sql: "SELECT id, CASE WHEN id > 1 THEN raise_error('boom') END AS x FROM df"
        write: {connection: d, path: out}
""",
        {"data/in.csv": "id\n1\n2\n"},
    )
    code, report = run_json(root / "lakestory.yaml")
    assert code == 1
    error = _error(report, "p.a")
    assert "boom" in error["message"]
    assert "Python exception" not in error["message"] + error.get("detail", "")
    assert not (root / "data" / "out").exists()


FUNCTIONS = """\
import sys

import duckdb


def elsewhere(df):
    return duckdb.connect().sql("SELECT 42 AS answer")


def leaves(df):
    sys.exit(3)
"""


def test_function_steps_that_escape_the_usual_paths(
    project: Callable[..., Path], run_json: Run, read_delta: Callable[..., Any]
) -> None:
    root = project(
        HEAD
        + """\
      - name: other_connection
        read: {connection: d, path: in.csv}
        transform: [{function: steps.elsewhere}]
        write: {connection: d, path: out}
      - name: exits
        read: {connection: d, path: in.csv}
        transform: [{function: steps.leaves}]
        write: {connection: d, path: never}
""",
        {"data/in.csv": "id\n1\n", "steps.py": FUNCTIONS},
    )
    code, report = run_json(root / "lakestory.yaml", "--on-error", "fail_later")
    assert code == 1
    assert read_delta(root / "data" / "out") == [{"answer": 42}]
    error = _error(report, "p.exits")
    assert error["kind"] == "step_error"
    assert "SystemExit" in error["message"]


def test_unreadable_project_files_are_config_errors(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"project: \xff\n")
    result = cli("validate", bad)
    assert result.exit_code == 2
    assert "not UTF-8 text" in result.stderr
    folder = tmp_path / "folder"
    folder.mkdir()
    result = cli("validate", folder)
    assert result.exit_code == 2
    assert "is a folder, not a project file" in result.stderr


def test_dotenv_keeps_non_ascii_and_reads_escapes(tmp_path: Path) -> None:
    from lakestory.secrets.dotenv import read_dotenv

    env = tmp_path / ".env"
    env.write_text('PW="pässwörd\\t!\\q"\nPLAIN=naïve # comment\n', encoding="utf-8")
    assert read_dotenv(env) == {"PW": "pässwörd\t!\\q", "PLAIN": "naïve"}
