"""The same YAML on every engine gives the same tables.

Each engine runs the bundled example and a project that covers joins, aggregates, window
functions, dates and time zones, decimals, nulls, string functions, keyed writes over two
loads (upsert, append_once, scd2) and checks; every table written is compared with the
duckdb engine's, row for row (sorted; floating sums within a tolerance).

Spark runs in the local session the whole test process shares (the ``spark_session``
fixture); the engine works in a session of its own inside it, as on a cluster.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

ENGINES = ["duckdb", "pandas", "polars", "spark"]
OTHERS = [e for e in ENGINES if e != "duckdb"]

PROJECT = """
project: parity
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: p
    nodes:
      - name: customers
        read: {connection: raw, path: LOAD/customers.csv}
        transform:
          - sql: |
              SELECT id, UPPER(TRIM(name)) AS name, NULLIF(email, '') AS email,
                     CAST(balance AS DECIMAL(10, 2)) AS balance, country
              FROM df
          - function: steps.add_initial
        validation:
          tests:
            - {type: not_null, columns: [id]}
            - {type: unique, columns: [id]}
            - {type: regex_match, column: email, pattern: '^[^@]+@[^@]+$', on_fail: warn}
        write: {connection: lake, path: customers, format: delta, mode: upsert, keys: [id]}
      - name: history
        depends_on: [customers]
        read: {connection: raw, path: LOAD/customers.csv}
        transform:
          - sql: >-
              SELECT id, TRIM(name) AS name, country,
                     CAST('DAY' AS TIMESTAMP) AS loaded_at FROM df
        write:
          connection: lake
          path: customer_history
          format: delta
          mode: scd2
          keys: [id]
          track_columns: [name, country]
          effective_from: loaded_at
      - name: orders
        read: {connection: raw, path: LOAD/orders.csv}
        transform:
          - sql: |
              SELECT order_id, customer_id, CAST(amount AS DECIMAL(12, 2)) AS amount,
                     CAST(ordered_at AS TIMESTAMP) AS ordered_at,
                     from_utc_timestamp(CAST(ordered_at AS TIMESTAMP), 'Europe/Paris')
                       AS ordered_paris,
                     to_utc_timestamp(CAST(ordered_at AS TIMESTAMP), 'America/New_York')
                       AS ordered_ny_as_utc,
                     CAST(ordered_at AS DATE) AS order_date,
                     date_format(CAST(ordered_at AS TIMESTAMP), 'yyyy-MM') AS month,
                     COALESCE(status, 'unknown') AS status
              FROM df
        validation:
          tests:
            - {type: accepted_values, column: status, values: [paid, refunded, unknown]}
            - {type: range, column: amount, min: 0.05, on_fail: quarantine}
            - {type: custom_sql, condition: "customer_id < 9", on_fail: drop}
            - {type: row_count, min: 1}
            - type: foreign_key
              column: customer_id
              references: {node: customers, column: id}
              on_fail: warn
            - {type: schema, columns: {order_id: int, amount: "decimal(12,2)"}}
            - {type: distribution, column: amount, metric: mean, between: [0, 1000]}
          quarantine: {connection: lake, path: orders_quarantine}
        write: {connection: lake, path: orders, format: delta, mode: append_once, keys: [order_id]}
      - name: per_customer
        depends_on: [customers, orders]
        transform:
          - sql: |
              SELECT c.id, c.name, c.country,
                     COUNT(o.order_id) AS orders,
                     SUM(o.amount) AS total,
                     AVG(CAST(o.amount AS DOUBLE)) AS mean_amount,
                     MIN(o.order_date) AS first_order,
                     MAX(o.ordered_at) AS last_order,
                     concat_ws('/', c.country, c.name) AS label
              FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
              GROUP BY c.id, c.name, c.country
        write: {connection: lake, path: per_customer, format: parquet}
      - name: ranked
        depends_on: [orders]
        transform:
          - sql: |
              SELECT order_id, customer_id, amount,
                     ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY amount DESC,
                                        order_id) AS rank_in_customer,
                     SUM(amount) OVER (PARTITION BY customer_id ORDER BY order_id
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                       AS running_total,
                     LAG(amount) OVER (PARTITION BY customer_id ORDER BY order_id) AS previous,
                     datediff(CAST(ordered_at AS DATE), DATE '2026-01-01') AS days_in
              FROM orders
        write: {connection: lake, path: ranked, format: delta}
"""

STEPS = '''
import pyarrow as pa
import pyarrow.compute as pc


def add_initial(df):
    """Engine-neutral: every engine's Python-step input converts to Arrow. (Polars hands
    strings over as string_view, which some pyarrow kernels lack: cast first.)"""
    table = pa.table(df)
    name = pc.cast(table["name"], pa.string())
    initial = pc.utf8_slice_codeunits(pc.fill_null(name, ""), 0, 1)
    return table.append_column("initial", initial)
'''

LOADS = {
    "load1/customers.csv": (
        "id,name,email,balance,country\n"
        "1, alice ,alice@example.com,10.50,FR\n"
        "2,bob,,0,DE\n"
        "3,chloé,chloe@example,-3.25,FR\n"
        "4,,d@example.com,,\n"
    ),
    "load1/orders.csv": (
        "order_id,customer_id,amount,ordered_at,status\n"
        "10,1,19.99,2026-03-28T23:30:00,paid\n"
        "11,1,5.01,2026-03-29T01:30:00,\n"
        "12,2,100.00,2026-10-25T01:15:00,paid\n"
        "13,3,0.10,2026-12-31T23:59:59,refunded\n"
        "14,9,7.00,2026-01-01T00:00:00,paid\n"
    ),
    "load2/customers.csv": (
        "id,name,email,balance,country\n"
        "1,alice,alice@example.com,11.00,FR\n"
        "2,bob,bob@example.com,0,AT\n"
        "5,eve,eve@example.com,1.00,ES\n"
    ),
    "load2/orders.csv": (
        "order_id,customer_id,amount,ordered_at,status\n"
        "12,2,100.00,2026-10-25T01:15:00,paid\n"
        "15,5,42.42,2026-06-15T12:00:00,paid\n"
        "16,1,0.01,2026-06-15T12:00:00,\n"
    ),
}

TABLES = {
    "customers": "delta",
    "orders_quarantine": "delta",
    "customer_history": "delta",
    "orders": "delta",
    "per_customer": "parquet",
    "ranked": "delta",
}


VOLATILE = {"processed_at", "_run_id", "_rejected_at"}  # stamped with the run and its time
# Known differences, each pinned by a test below: (engine, table, column).
KNOWN = {("spark", "gold/customer_metrics", "avg_order_value")}  # AVG of a DECIMAL


def read_table(path: Path, fmt: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []  # e.g. a quarantine table before any row was quarantined
    table = DeltaTable(str(path)).to_pyarrow_table() if fmt == "delta" else pq.read_table(path)
    rows = [{k: v for k, v in r.items() if k not in VOLATILE} for r in table.to_pylist()]
    return sorted(rows, key=lambda r: [str(r[k]) for k in sorted(r)])


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def assert_same_tables(
    expected: dict[str, list[dict[str, Any]]], got: dict[str, Any], engine: str = ""
) -> None:
    for name, rows in expected.items():
        other = got[name]
        assert len(other) == len(rows), name
        for want, have in zip(rows, other, strict=True):
            assert want.keys() == have.keys(), name
            diff = {
                k: (want[k], have[k])
                for k in want
                if not same(want[k], have[k]) and (engine, name, k) not in KNOWN
            }
            assert not diff, f"{name}: {diff}"


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory,
    files: Callable[..., Path],
    request: pytest.FixtureRequest,
) -> dict[str, dict[str, Any]]:
    """Run the project on every engine, two loads each; the tables after each load."""
    from typer.testing import CliRunner

    from lakestory.cli.app import app

    runner, out = CliRunner(), {}
    for engine in ENGINES:
        if engine == "spark":
            request.getfixturevalue("spark_session")
        root = files(
            tmp_path_factory.mktemp(engine),
            {"steps.py": STEPS, **{f"data/{k}": v for k, v in LOADS.items()}},
        )
        tables: dict[str, Any] = {}
        for load in ("load1", "load2"):
            day = "2026-01-01" if load == "load1" else "2026-02-01"
            yaml = PROJECT.replace("ENGINE", engine).replace("LOAD", load).replace("DAY", day)
            (root / "lakestory.yaml").write_text(yaml, "utf-8")
            run = runner.invoke(app, ["run", str(root / "lakestory.yaml")])
            assert run.exit_code == 0, run.stdout + run.stderr
            tables[load] = {n: read_table(root / "lake" / n, f) for n, f in TABLES.items()}
        out[engine] = tables
    return out


@pytest.mark.parametrize("engine", OTHERS)
@pytest.mark.parametrize("load", ["load1", "load2"])
def test_every_table_matches_duckdb(
    results: dict[str, dict[str, Any]], engine: str, load: str
) -> None:
    assert_same_tables(results["duckdb"][load], results[engine][load])


def test_the_project_covers_what_it_says(results: dict[str, dict[str, Any]]) -> None:
    """Guard the suite itself: the second load upserted, closed versions and skipped a
    duplicate order; nulls, decimals and time zones made it through."""
    final = results["duckdb"]["load2"]
    assert len(final["customers"]) == 5
    assert sum(1 for r in final["customer_history"] if not r["is_current"]) == 1  # bob moved
    assert len(final["orders"]) == 5  # 12 arrived twice, kept once; 14 dropped; 16 quarantined
    assert [r["order_id"] for r in final["orders_quarantine"]] == [16]
    assert any(r["email"] is None for r in results["duckdb"]["load1"]["customers"])
    paris = {r["order_id"]: r["ordered_paris"] for r in final["orders"]}
    assert paris[10].hour == 0 and paris[11].hour == 3  # +1 h, then +2 h: summer time
    as_utc = {r["order_id"]: r["ordered_ny_as_utc"] for r in final["orders"]}
    assert as_utc[10].hour == 3 and as_utc[13].hour == 4  # +4 h in summer, +5 h in winter


@pytest.mark.parametrize("engine", OTHERS)
def test_the_bundled_example_matches_duckdb(
    tmp_path: Path, cli: Callable[..., Any], engine: str, request: pytest.FixtureRequest
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark_session")
    tables: dict[str, dict[str, Any]] = {}
    for name in ("duckdb", engine):
        root = tmp_path / name
        assert cli("init", root).exit_code == 0
        yaml = (root / "lakestory.yaml").read_text("utf-8")
        (root / "lakestory.yaml").write_text(
            yaml.replace("engine: duckdb", f"engine: {name}"), "utf-8"
        )
        result = cli("run", root / "lakestory.yaml")
        assert result.exit_code == 0, result.stdout + result.stderr
        lake = root / "data" / "lake"
        tables[name] = {
            str(p.relative_to(lake)): read_table(p, "delta" if (p / "_delta_log").exists() else "p")
            for p in sorted(lake.glob("*/*"))
        }
        shutil.rmtree(root / ".lakestory", ignore_errors=True)
    assert tables["duckdb"].keys() == tables[engine].keys() and tables["duckdb"]
    assert_same_tables(tables["duckdb"], tables[engine], engine)


def test_avg_of_a_decimal_is_a_decimal_on_spark_only(
    tmp_path: Path, cli: Callable[..., Any], request: pytest.FixtureRequest
) -> None:
    """KNOWN DIFFERENCE: Spark's AVG of DECIMAL(p, s) is DECIMAL(p + 4, s + 4); DuckDB's (so
    the duckdb, pandas and polars engines') is DOUBLE. Cast the average to say which."""
    request.getfixturevalue("spark_session")
    got = {}
    for engine in ("duckdb", "spark"):
        root = tmp_path / engine
        (root / "data").mkdir(parents=True)
        (root / "data" / "n.csv").write_text("n\n1.10\n2.25\n", "utf-8")
        (root / "lakestory.yaml").write_text(AVG_PROJECT.replace("ENGINE", engine), "utf-8")
        result = cli("run", root / "lakestory.yaml")
        assert result.exit_code == 0, result.stdout + result.stderr
        got[engine] = DeltaTable(str(root / "lake" / "avg")).to_pyarrow_table().to_pylist()[0]
    assert got["spark"] == {"avg": Decimal("1.675000"), "avg_double": 1.675}
    assert got["duckdb"] == {"avg": 1.675, "avg_double": 1.675}


AVG_PROJECT = """
project: avg
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: p
    nodes:
      - name: avg
        read: {connection: raw, path: n.csv, schema: {n: "decimal(10,2)"}}
        transform:
          - sql: SELECT AVG(n) AS avg, CAST(AVG(n) AS DOUBLE) AS avg_double FROM df
        write: {connection: lake, path: avg, format: delta}
"""
