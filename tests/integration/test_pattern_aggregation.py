"""The aggregation pattern through whole projects: a full aggregate, and incremental
refreshes over three loads that must equal a full recompute of the same source (a second
node of the same project), with `having` dropping a key that stops satisfying it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.api import Project

PROJECT = """
project: agg
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: gold
    nodes:
      - name: inc
        read:
          connection: raw
          path: orders.csv
          incremental: {column: seq}
        transform:
          - sql: "SELECT * FROM df WHERE status <> 'void'"
        pattern:
          type: aggregation
          params:
            grain: [customer, month]
            measures: MEASURES
            HAVING
            incremental: {merge_strategy: STRATEGY}
        write: {connection: lake, path: inc}
      - name: full
        read: {connection: raw, path: orders.csv}
        transform:
          - sql: "SELECT * FROM df WHERE status <> 'void'"
        pattern:
          type: aggregation
          params:
            grain: [customer, month]
            measures: MEASURES
            HAVING
        write: {connection: lake, path: full}
"""

ALL = """
              - {name: orders, expr: "count(*)"}
              - {name: revenue, expr: "sum(amount)"}
              - {name: average, expr: "avg(amount)"}
              - {name: products, expr: "count(DISTINCT product)"}
              - {name: biggest, expr: "max(amount)"}"""
MERGEABLE = """
              - {name: orders, expr: "count(*)"}
              - {name: revenue, expr: "sum(amount)"}
              - {name: smallest, expr: "min(amount)"}
              - {name: biggest, expr: "max(amount)"}
              - {name: discounted, expr: "count(discount)"}"""

HEADER = "seq,customer,month,product,amount,discount,status\n"
LOADS = [
    # load 1: a/jan (2 orders), b/jan, c/feb
    "1,a,2026-01,p1,10,,ok\n2,a,2026-01,p2,5,1,ok\n3,b,2026-01,p1,7,,ok\n4,c,2026-02,p3,3,,ok\n",
    # load 2: a/jan again (same product), b/feb new, a void row ignored by the step
    "5,a,2026-01,p1,20,2,ok\n6,b,2026-02,p2,4,,ok\n7,c,2026-02,p3,99,,void\n",
    # load 3: a refund takes c/feb to 0 (fails having), a/jan and a new d/mar
    "8,c,2026-02,p3,-3,,ok\n9,a,2026-01,p3,1,,ok\n10,d,2026-03,p1,8,1,ok\n",
]


def make(project: Callable[..., Path], engine: str, strategy: str, having: bool) -> Path:
    yaml = (
        PROJECT.replace("ENGINE", engine)
        .replace("MEASURES", ALL if strategy == "recompute" else MERGEABLE)
        .replace("STRATEGY", strategy)
        .replace("HAVING", 'having: "sum(amount) > 0"' if having else "")
    )
    return project(yaml, {"data/orders.csv": HEADER}, root=f"{engine}-{strategy}")


def load(root: Path, n: int) -> None:
    (root / "data" / "orders.csv").write_text(HEADER + "".join(LOADS[:n]))


def run(root: Path) -> None:
    result = Project.load(root / "lakestory.yaml").run()
    assert result.ok, [n.error for n in result.nodes]


def table(root: Path, name: str) -> list[dict[str, Any]]:
    rows = DeltaTable(str(root / "lake" / name)).to_pyarrow_table().to_pylist()
    out = [{k: (float(v) if k == "average" else v) for k, v in r.items()} for r in rows]
    return sorted(out, key=lambda r: (r["customer"], r["month"]))


def three_loads(root: Path) -> list[list[dict[str, Any]]]:
    """The incremental table after each load, checked against the full recompute."""
    got = []
    for n in (1, 2, 3):
        load(root, n)
        run(root)
        inc, full = table(root, "inc"), table(root, "full")
        assert inc == full, f"load {n}"
        got.append(inc)
    return got


def test_incremental_recompute_equals_a_full_recompute_over_three_loads(
    project: Callable[..., Path],
) -> None:
    root = make(project, "duckdb", "recompute", having=True)
    first, second, third = three_loads(root)
    assert [(r["customer"], r["month"], r["orders"], r["revenue"]) for r in first] == [
        ("a", "2026-01", 2, 15),
        ("b", "2026-01", 1, 7),
        ("c", "2026-02", 1, 3),
    ]
    a_jan = next(r for r in second if r["customer"] == "a")
    assert (a_jan["orders"], a_jan["products"], a_jan["average"]) == (3, 2, 35 / 3)
    # c/feb fell to 0 (having drops it); a/jan gained a product; d/mar is new
    assert [(r["customer"], r["month"]) for r in third] == [
        ("a", "2026-01"),
        ("b", "2026-01"),
        ("b", "2026-02"),
        ("d", "2026-03"),
    ]
    assert third[0] | {"average": round(third[0]["average"], 6)} == {
        "customer": "a",
        "month": "2026-01",
        "orders": 4,
        "revenue": 36,
        "average": 9.0,
        "products": 3,
        "biggest": 20,
    }


def test_incremental_upserts_only_the_affected_keys(project: Callable[..., Path]) -> None:
    root = make(project, "duckdb", "recompute", having=False)
    load(root, 1)
    run(root)
    load(root, 2)
    result = Project.load(root / "lakestory.yaml").run()
    inc = next(n for n in result.nodes if n.key == "gold.inc")
    assert inc.rows_read == 3  # the new rows only
    assert "2 grain key(s) recomputed" in (inc.note or "")
    assert (inc.rows_written, inc.rows_updated) == (1, 1)  # b/feb inserted, a/jan updated
    assert table(root, "inc") == table(root, "full")


def test_merge_strategy_sum_equals_a_full_recompute(project: Callable[..., Path]) -> None:
    root = make(project, "duckdb", "sum", having=False)
    third = three_loads(root)[2]
    c_feb = next(r for r in third if r["customer"] == "c")
    assert c_feb == {
        "customer": "c",
        "month": "2026-02",
        "orders": 2,
        "revenue": 0,
        "smallest": -3,
        "biggest": 3,
        "discounted": 0,
    }


def test_a_full_refresh_rebuilds_the_incremental_table(project: Callable[..., Path]) -> None:
    root = make(project, "duckdb", "recompute", having=True)
    three_loads(root)
    result = Project.load(root / "lakestory.yaml").run(full_refresh=True)
    assert result.ok
    assert table(root, "inc") == table(root, "full")


def test_the_core_case_gives_the_same_tables_on_every_engine(
    project: Callable[..., Path], request: pytest.FixtureRequest
) -> None:
    """Incremental recompute with `having` over three loads, on each engine; the tables
    after each load equal duckdb's."""
    request.getfixturevalue("spark_session")
    results = {}
    for engine in ("duckdb", "pandas", "polars", "spark"):
        results[engine] = three_loads(make(project, engine, "recompute", having=True))
    for engine in ("pandas", "polars", "spark"):
        assert results[engine] == results["duckdb"], engine


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            "{grain: [customer], measures: [{name: m, expr: 'avg(amount)'}], "
            "incremental: {merge_strategy: sum}}",
            "measure 'm' (avg(amount)) cannot be merged",
        ),
        (
            "{grain: [customer], measures: [{name: m, expr: 'count(DISTINCT product)'}], "
            "incremental: {merge_strategy: sum}}",
            "a distinct count of two batches is not the sum of their counts",
        ),
        (
            "{grain: [customer], measures: [{name: m, expr: 'sum(amount)'}], "
            "having: 'sum(amount) > 1', incremental: {merge_strategy: sum}}",
            "`having` cannot go with incremental merge_strategy: sum",
        ),
        (
            "{grain: [customer], measures: [{name: customer, expr: 'sum(amount)'}]}",
            "measure name(s) customer repeat a grain or measure",
        ),
        (
            "{grain: [customer], measures: [{name: m, expr: 'sum(amount'}]}",
            "expr is not valid Spark SQL",
        ),
        (
            "{grain: [customer], measures: [{name: m, expr: 'sum(amount)'}], "
            "incremental: true, write: {mode: overwrite}}",
            "unknown param",
        ),
    ],
)
def test_params_that_cannot_work_are_config_errors(
    project: Callable[..., Path], cli: Callable[..., Any], params: str, message: str
) -> None:
    yaml = f"""
project: agg
connections:
  raw: {{type: local, base_path: data}}
pipelines:
  - pipeline: gold
    nodes:
      - name: agg
        read: {{connection: raw, path: orders.csv}}
        pattern: {{type: aggregation, params: {params}}}
        write: {{connection: raw, path: out}}
"""
    root = project(yaml, {"data/orders.csv": HEADER})
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code != 0
    text = result.stdout + result.stderr
    assert message in text, text
    assert "lakestory.yaml" in text and "pattern" in text


def test_incremental_without_an_incremental_read_is_refused(
    project: Callable[..., Path],
) -> None:
    yaml = """
project: agg
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: gold
    nodes:
      - name: agg
        read: {connection: raw, path: orders.csv}
        pattern:
          type: aggregation
          params:
            grain: [customer]
            measures: [{name: revenue, expr: "sum(amount)"}]
            incremental: true
        write: {connection: lake, path: agg}
"""
    root = project(yaml, {"data/orders.csv": HEADER + LOADS[0]})
    run(root)  # the first run builds the table
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    error = result.nodes[0].error
    assert error is not None
    assert "needs an incremental read" in error["text"]
    assert "read.incremental" in error["text"]


@pytest.mark.parametrize("strategy", ["recompute", "sum"])
def test_a_files_read_refreshes_from_the_new_files(
    project: Callable[..., Path], strategy: str
) -> None:
    """Each load is a new file in a folder; the incremental read takes only it."""
    root = make(project, "duckdb", strategy, having=False)
    yaml = (root / "lakestory.yaml").read_text()
    yaml = yaml.replace("path: orders.csv\n", "path: orders\n          format: csv\n")
    yaml = yaml.replace("incremental: {column: seq}", "incremental: {mode: files}")
    yaml = yaml.replace("path: orders.csv}", "path: orders, format: csv}")
    (root / "lakestory.yaml").write_text(yaml)
    for n, rows in enumerate(LOADS, 1):
        (root / "data" / "orders").mkdir(exist_ok=True)
        (root / "data" / "orders" / f"part{n}.csv").write_text(HEADER + rows)
        result = Project.load(root / "lakestory.yaml").run()
        assert result.ok, [r.error for r in result.nodes]
        inc = next(r for r in result.nodes if r.key == "gold.inc")
        assert inc.rows_read == rows.count("\n")
        assert table(root, "inc") == table(root, "full"), f"load {n}"


def test_recompute_is_right_when_a_lag_reads_rows_again(project: Callable[..., Path]) -> None:
    root = make(project, "duckdb", "recompute", having=True)
    yaml = (root / "lakestory.yaml").read_text()
    (root / "lakestory.yaml").write_text(yaml.replace("{column: seq}", "{column: seq, lag: 2}"))
    three_loads(root)


def test_sum_refuses_a_lag_that_would_count_rows_twice(project: Callable[..., Path]) -> None:
    root = make(project, "duckdb", "sum", having=False)
    yaml = (root / "lakestory.yaml").read_text()
    (root / "lakestory.yaml").write_text(yaml.replace("{column: seq}", "{column: seq, lag: 2}"))
    load(root, 1)
    run(root)
    before = table(root, "inc")
    load(root, 2)
    result = Project.load(root / "lakestory.yaml").run()
    inc = next(r for r in result.nodes if r.key == "gold.inc")
    assert inc.error is not None
    assert "a read with `lag` reads some rows again" in inc.error["text"]
    assert "merge_strategy: recompute" in inc.error["text"]
    assert table(root, "inc") == before
