"""`engine: pandas`: Python steps receive and return pandas DataFrames; the rest is DuckDB."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

PROJECT = """
project: pd
engine: pandas
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: a.csv, schema: {id: int, qty: int, price: "decimal(10,2)"}}
        transform:
          - function: steps.with_pandas
          - sql: SELECT *, qty * 2 AS double_qty FROM df
        write: {connection: raw, path: out, format: delta}
"""

STEPS = """
import pandas as pd


def with_pandas(df):
    assert isinstance(df, pd.DataFrame), type(df)
    assert str(df["qty"].dtype) == "int32[pyarrow]"  # nullable, still an integer
    out = df[df["id"] != 3].copy()
    out["label"] = "item-" + out["id"].astype("string[pyarrow]")
    return out
"""


def test_a_python_step_gets_and_returns_a_pandas_dataframe_with_types_kept(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(
        PROJECT,
        {"data/a.csv": "id,qty,price\n1,5,1.50\n2,,2.25\n3,1,9.99\n", "steps.py": STEPS},
    )
    result = cli("run", root / "lakestory.yaml")
    assert result.exit_code == 0, result.stdout + result.stderr
    table = DeltaTable(str(root / "data" / "out")).to_pyarrow_table()
    types = {f.name: str(f.type) for f in table.schema}
    assert types["qty"] == "int32" and types["price"] == "decimal128(10, 2)"
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["qty"], r["label"], r["double_qty"]) for r in rows] == [
        (1, 5, "item-1", 10),
        (2, None, "item-2", None),
    ]


def test_without_pandas_installed_the_config_error_names_the_extra(
    project: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pandas" else real(name, *a)
    )
    root = project(PROJECT, {"data/a.csv": "id,qty,price\n1,5,1.50\n", "steps.py": STEPS})
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code == 2
    assert "engine 'pandas' needs the pandas library" in result.stderr
    assert 'pip install "lakestory[pandas]"' in result.stderr
    assert "lakestory.yaml:2:1, key engine" in result.stderr
