"""Built-in and user transformers: a chain of them gives the same tables on every engine,
and their mistakes are config errors pointing at the step's params."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PROJECT = """
project: tf
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: customers
        read: {connection: raw, path: customers.csv}
        write: {connection: raw, path: out/customers.parquet}
      - name: orders
        read: {connection: raw, path: orders.csv}
        transform:
          - transformer: rename
            params: {columns: {cust: customer_id}}
          - transformer: trim
            params: {columns: [status], case: lower, empty_as_null: true}
          - transformer: fill_nulls
            params: {values: {status: unknown}}
          - transformer: cast
            params: {columns: {qty: int, price: "decimal(10,2)", day: date}}
          - transformer: deduplicate
            params: {keys: [id], order_by: version}
          - transformer: filter
            params: {condition: "qty > 0"}
          - transformer: derive
            params: {columns: {total: "qty * price"}}
          - transformer: case_when
            params:
              column: size
              cases: [{when: "qty >= 10", then: large}]
              default: small
          - transformer: date_add
            params: {column: day, days: 30, to: due}
          - transformer: date_diff
            params: {end: due, start: day, to: days}
          - transformer: date_parts
            params: {column: day, parts: [year, month]}
          - transformer: surrogate_key
            params: {column: key, columns: [id, customer_id]}
          - transformer: concat
            params: {column: label, columns: [id, status], separator: "-"}
          - transformer: regex_replace
            params: {column: status, pattern: "[aeiou]", replacement: "_"}
          - transformer: join
            params: {node: customers, keys: [customer_id], how: left}
          - transformer: drop
            params: {columns: [version]}
          - transformer: steps.double_qty
            params: {column: qty}
        write: {connection: raw, path: out/orders.parquet}
"""

STEPS = """
from pydantic import BaseModel

from lakestory.transforms.transformers import ident, transformer


class Column(BaseModel):
    column: str


@transformer(Column, {"column": "qty"})
def double_qty(p):
    col = ident(p.column)
    return f"SELECT * EXCEPT ({col}), {col} * 2 AS {col} FROM df"
"""

DATA = {
    "data/customers.csv": "customer_id,name\n1,Ann\n2,Bob\n",
    "data/orders.csv": (
        "id,cust,status,qty,price,day,version\n"
        "1,1, PAID ,3,2.50,2026-01-15,1\n"
        "1,1,Shipped,4,2.50,2026-01-15,2\n"
        "2,2,,12,1.25,2026-02-01,1\n"
        "3,3,void,0,9.99,2026-03-01,1\n"
    ),
    "steps.py": STEPS,
}

COLUMNS = [
    "customer_id",
    "id",
    "price",
    "day",
    "total",
    "size",
    "due",
    "days",
    "day_year",
    "day_month",
    "key",
    "label",
    "status",
    "name",
    "qty",
]
ENGINES = ["duckdb", "pandas", "polars", "spark"]


def run(project: Callable[..., Path], cli: Callable[..., Any], engine: str) -> Path:
    root = project(PROJECT.replace("ENGINE", engine), DATA, root=engine)
    result = cli("run", root / "lakestory.yaml")
    assert result.exit_code == 0, result.stdout + result.stderr
    return root


@pytest.mark.parametrize("engine", ENGINES)
def test_a_chain_of_transformers_gives_the_same_rows_on_every_engine(
    project: Callable[..., Path],
    cli: Callable[..., Any],
    read_parquet: Callable[..., Any],
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark_session")
    root = run(project, cli, engine)
    rows = sorted(read_parquet(root / "data/out/orders.parquet"), key=lambda r: r["id"])
    got = [
        {k: (str(v) if k in ("price", "total", "day", "due") else v) for k, v in r.items()}
        for r in rows
    ]
    assert list(rows[0]) == COLUMNS
    keys = [r.pop("key") for r in got]
    assert all(isinstance(k, str) and len(k) == 64 for k in keys) and len(set(keys)) == 2
    assert got == [
        {
            "id": 1,
            "customer_id": 1,
            "status": "sh_pp_d",
            "price": "2.50",
            "day": "2026-01-15",
            "total": "10.00",
            "size": "small",
            "due": "2026-02-14",
            "days": 30,
            "day_year": 2026,
            "day_month": 1,
            "label": "1-shipped",
            "qty": 8,
            "name": "Ann",
        },
        {
            "id": 2,
            "customer_id": 2,
            "status": "_nkn_wn",
            "price": "1.25",
            "day": "2026-02-01",
            "total": "15.00",
            "size": "large",
            "due": "2026-03-03",
            "days": 30,
            "day_year": 2026,
            "day_month": 2,
            "label": "2-unknown",
            "qty": 24,
            "name": "Bob",
        },
    ]


BAD = """
project: tf
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: customers.csv}
        transform:
          - transformer: STEP
            params: PARAMS
        write: {connection: raw, path: out/a.parquet}
"""


@pytest.mark.parametrize(
    ("step", "params", "message", "hint"),
    [
        ("renam", "{columns: {a: b}}", "unknown transformer 'renam'", "did you mean 'rename'?"),
        ("cast", "{columns: {a: varchar}}", "'varchar' (column 'a') is not a Spark type", ""),
        ("select", "{column: [a]}", "params.column: unknown param", "did you mean 'columns'?"),
        ("filter", "{condition: 'a >'}", "built invalid Spark SQL", ""),
        ("steps.nothing", "{}", "'steps.nothing' is not a transformer", "@transformer"),
    ],
)
def test_a_bad_transformer_step_is_a_config_error_at_its_params(
    project: Callable[..., Path],
    cli: Callable[..., Any],
    step: str,
    params: str,
    message: str,
    hint: str,
) -> None:
    yaml = BAD.replace("STEP", step).replace("PARAMS", params)
    root = project(yaml, {**DATA, "steps.py": "def nothing(df):\n    return df\n"})
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code == 2, result.stdout + result.stderr
    text = result.stdout + result.stderr
    assert message in text and hint in text
    assert re.search(r"lakestory\.yaml:1[012]:\d+, node p\.a, transform\[0\]", text), text


UNION = """
project: tf
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: old
        read: {connection: raw, path: customers.csv}
        transform: [{transformer: filter, params: {condition: "customer_id = 1"}}]
      - name: all
        read: {connection: raw, path: customers.csv}
        transform:
          - transformer: union
            params: {nodes: [old]}
          - transformer: steps.double_qty
            params: {column: customer_id}
        write: {connection: raw, path: out/all.parquet}
"""


def test_union_reads_another_node_and_runs_after_it(
    project: Callable[..., Path], cli: Callable[..., Any], read_parquet: Callable[..., Any]
) -> None:
    root = project(UNION, DATA)
    result = cli("run", root / "lakestory.yaml")
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = sorted(read_parquet(root / "data/out/all.parquet"), key=lambda r: r["customer_id"])
    assert [(r["customer_id"], r["name"]) for r in rows] == [(2, "Ann"), (2, "Ann"), (4, "Bob")]


def test_a_user_transformer_checks_its_params(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(UNION.replace("{column: customer_id}", "{col: customer_id}"), DATA)
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code == 2
    assert "transformer 'steps.double_qty': params.col: unknown param" in result.stderr
    assert "did you mean 'column'?" in result.stderr


def test_a_transformer_on_a_node_without_data_says_so(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    yaml = UNION.replace(
        "read: {connection: raw, path: customers.csv}\n        transform: [", "transform: ["
    )
    result = cli("validate", project(yaml, DATA) / "lakestory.yaml")
    assert result.exit_code == 2
    assert "node p.old, transform[0] (transformer)" in result.stderr
    assert "a transformer step needs data, but this node has none before it" in result.stderr


COLUMNS_PROJECT = """
project: tf
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: wide
        read: {connection: raw, path: wide.csv}
        transform:
          - transformer: normalize_column_names
          - transformer: unpivot
            params: UNPIVOT
        write: {connection: raw, path: out/long.parquet}
"""

WIDE = {"data/wide.csv": "Store ID,Jan Sales,febSales\ns1,10,7\ns2,,1\n"}


def test_a_transformer_built_from_the_columns_of_df_runs_on_the_columns_it_gets(
    project: Callable[..., Path],
    cli: Callable[..., Any],
    read_parquet: Callable[..., Any],
    run_json: Callable[..., Any],
) -> None:
    root = project(COLUMNS_PROJECT.replace("UNPIVOT", "{ids: [store_id], name: month}"), WIDE)
    plan = cli("plan", root / "lakestory.yaml", "--format", "json")
    assert plan.exit_code == 0, plan.stderr
    assert "built from df's columns" in plan.stdout
    code, report = run_json(root / "lakestory.yaml")
    assert code == 0, report
    rows = read_parquet(root / "data/out/long.parquet")
    assert sorted((r["store_id"], r["month"], r["value"]) for r in rows) == [
        ("s1", "feb_sales", 7),
        ("s1", "jan_sales", 10),
        ("s2", "feb_sales", 1),
    ]
    (story,) = (root / ".lakestory" / "stories").rglob("*.json")
    assert "`Store ID` AS `store_id`" in story.read_text("utf-8")  # the SQL the step built


def test_a_transformer_built_from_the_columns_checks_its_params_before_running(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(COLUMNS_PROJECT.replace("UNPIVOT", "{name: month}"), WIDE)
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code == 2
    assert "transformer 'unpivot': params.give `columns` (to unpivot) or `ids`" in result.stderr
    assert "node p.wide, transform[1]" in result.stderr


def test_a_sensitive_column_renamed_by_a_transformer_built_from_the_columns_stays_hidden(
    project: Callable[..., Path],
) -> None:
    """Which output columns come from a sensitive one is unknown before the node runs: every
    column is masked rather than showing `Jan Sales` under its new name."""
    from lakestory.api import Project

    yaml = COLUMNS_PROJECT.replace("read:", 'sensitive: ["Jan Sales"]\n        read:')
    root = project(yaml.replace("UNPIVOT", "{ids: [store_id]}"), WIDE)
    result = Project.load(root / "lakestory.yaml").run()
    assert result.ok, [r.error for r in result.nodes]
    record = result.record("wide")
    assert record.sensitive_columns == ["store_id", "name", "value"]
    assert record.sample == [{"store_id": "***", "name": "***", "value": "***"}] * 3
