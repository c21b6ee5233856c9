"""`engine: polars`: Python steps receive a polars DataFrame and may return a DataFrame or a
LazyFrame; the rest is DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

PROJECT = """
project: pl
engine: polars
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: a.csv, schema: {id: int, qty: int, price: "decimal(10,2)"}}
        transform:
          - function: steps.lazily
          - sql: SELECT *, qty * 2 AS double_qty FROM df
          - function: steps.eagerly
          - function: steps.arrow_types
        write: {connection: raw, path: out, format: delta}
"""

STEPS = """
import polars as pl


def lazily(df):
    assert isinstance(df, pl.DataFrame), type(df)
    assert df.schema["qty"] == pl.Int32 and df.schema["price"] == pl.Decimal(10, 2)
    return df.lazy().filter(pl.col("id") != 3).with_columns(
        (pl.lit("item-") + pl.col("id").cast(pl.String)).alias("label")
    )


def eagerly(df):
    return df.with_columns(pl.col("double_qty").fill_null(0).alias("double_qty"))


def arrow_types(df):
    # pinned: polars hands strings to Arrow as string_view (pyarrow kernels such as
    # fill_null have no string_view version: cast to pa.string() first)
    import pyarrow as pa

    assert pa.table(df).schema.field("label").type == pa.string_view()
    return df
"""


def test_a_python_step_gets_a_polars_dataframe_and_may_return_a_lazyframe(
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
        (2, None, "item-2", 0),
    ]
