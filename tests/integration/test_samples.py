"""Samples of each node's output in its record: sensitive columns (and the columns SQL
steps derive from them) masked, `sensitive: true` redacted whole, off with
`max_sample_rows: 0`; the data written is never changed."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

import lakestory.api
from lakestory.api import Project
from lakestory.runtime.incremental import RunContext
from lakestory.runtime.records import RunResult
from lakestory.secrets.redact import REDACTED

PROJECT = """\
project: samples
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: p
    nodes:
      - name: users
        read: {connection: raw, path: users.csv}
        sensitive: [email, ssn]
        transform:
          - sql: |
              SELECT id, name, email, upper(email) AS contact,
                     concat(name, '-', ssn) AS tag,
                     CASE WHEN ssn IS NULL THEN 'none' ELSE 'some' END AS has_ssn
              FROM df
        validation:
          tests:
            - {type: custom_sql, condition: "id < 3", on_fail: warn}
        write: {connection: lake, path: users}
      - name: report
        depends_on: [users]
        transform:
          - sql: "SELECT id, lower(contact) AS c2, name FROM df"
        write: {connection: lake, path: report}
      - name: vault
        read: {connection: raw, path: users.csv}
        sensitive: true
        write: {connection: lake, path: vault}
      - name: plain
        read: {connection: raw, path: users.csv}
        write: {connection: lake, path: plain}
"""

USERS = "id,name,email,ssn\n1,ann,ann@x.com,111\n2,bob,,222\n3,cy,cy@y.org,\n"


@pytest.fixture
def root(project: Callable[..., Path]) -> Path:
    return project(PROJECT, {"data/users.csv": USERS})


def run(root: Path) -> RunResult:
    result = Project.load(root / "lakestory.yaml").run()
    assert result.ok, [r.error for r in result.nodes]
    return result


def by_id(rows: Any) -> list[dict[str, Any]]:
    assert isinstance(rows, list)
    return sorted(rows, key=lambda r: r["id"])


def test_sensitive_and_derived_columns_are_masked(root: Path) -> None:
    users = run(root).record("users")
    assert users.sensitive_columns == ["email", "contact", "tag", "has_ssn"]
    assert by_id(users.sample) == [
        {"id": 1, "name": "ann", "email": "***", "contact": "***", "tag": "***", "has_ssn": "***"},
        {"id": 2, "name": "bob", "email": None, "contact": None, "tag": "***", "has_ssn": "***"},
        {"id": 3, "name": "cy", "email": "***", "contact": "***", "tag": None, "has_ssn": "***"},
    ]
    # failing-row samples of the validation tests mask the derived columns too
    (check,) = users.checks
    assert check["samples"] == [
        {"id": 3, "name": "cy", "email": "***", "contact": "***", "tag": None, "has_ssn": "***"}
    ]


def test_the_data_written_is_unchanged(root: Path) -> None:
    run(root)
    rows = by_id(DeltaTable(str(root / "lake" / "users")).to_pyarrow_table().to_pylist())
    assert [(r["email"], r["contact"], r["tag"]) for r in rows] == [
        ("ann@x.com", "ANN@X.COM", "ann-111"),
        (None, None, "bob-222"),
        ("cy@y.org", "CY@Y.ORG", None),
    ]
    vault = DeltaTable(str(root / "lake" / "vault")).to_pyarrow_table().to_pylist()
    assert sorted(r["ssn"] for r in vault if r["ssn"] is not None) == [111, 222]


def test_downstream_nodes_inherit_the_sensitivity_of_their_df(root: Path) -> None:
    report = run(root).record("report")
    assert report.sensitive_columns == ["c2"]
    assert by_id(report.sample) == [
        {"id": 1, "c2": "***", "name": "ann"},
        {"id": 2, "c2": None, "name": "bob"},
        {"id": 3, "c2": "***", "name": "cy"},
    ]


def test_sensitive_true_redacts_the_whole_sample(root: Path) -> None:
    result = run(root)
    vault = result.record("vault")
    assert vault.sample == REDACTED
    assert vault.sensitive_columns == ["id", "name", "email", "ssn"]
    plain = result.record("plain")
    assert plain.sensitive_columns == []
    assert by_id(plain.sample)[0] == {"id": 1, "name": "ann", "email": "ann@x.com", "ssn": 111}


def test_samples_in_the_json_report(root: Path, cli: Callable[..., Any]) -> None:
    out = cli("run", root / "lakestory.yaml", "--format", "json")
    assert out.exit_code == 0, out.stderr
    nodes = {n["node"]: n for n in json.loads(out.stdout)["nodes"]}
    assert {r["contact"] for r in nodes["users"]["sample"]} == {"***", None}
    assert nodes["vault"]["sample"] == REDACTED


def limited(root: Path, monkeypatch: pytest.MonkeyPatch, rows: int) -> RunResult:
    """Run with `story: {max_sample_rows: rows}` (the RunContext gets it from the config;
    the patch gives it the same value where the API does not pass it on)."""
    text = (root / "lakestory.yaml").read_text()
    text = text.replace("connections:", f"story: {{max_sample_rows: {rows}}}\nconnections:", 1)
    (root / "lakestory.yaml").write_text(text)
    monkeypatch.setattr(
        lakestory.api, "RunContext", functools.partial(RunContext, max_sample_rows=rows)
    )
    return run(root)


def test_samples_are_limited(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = limited(root, monkeypatch, 2).record("plain").sample
    assert isinstance(sample, list) and len(sample) == 2


def test_samples_can_be_turned_off(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = limited(root, monkeypatch, 0)
    assert all(r.sample is None for r in result.nodes)


STREAM = """\
project: streams
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: p
    nodes:
      - name: users
        read: {connection: raw, path: users.csv}
        transform: [{function: steps.stream}]
        write: {connection: lake, path: users}
"""

STEPS = """\
import pyarrow as pa


def stream(df):
    table = pa.table(df)
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1))
"""


def test_a_stream_is_read_by_the_write_not_by_the_sample(project: Callable[..., Path]) -> None:
    root = project(STREAM, {"data/users.csv": USERS, "steps.py": STEPS})
    users = run(root).record("users")
    written = DeltaTable(str(root / "lake" / "users")).to_pyarrow_table().to_pylist()
    assert sorted(r["id"] for r in written) == [1, 2, 3]
    assert users.rows_written == 3
    # the stream is gone once written: the sample is taken from the table written
    assert isinstance(users.sample, list)
    assert sorted(r["id"] for r in users.sample) == [1, 2, 3]
