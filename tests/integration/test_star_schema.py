"""A star schema from YAML: customers, products and orders CSVs → an SCD2 customer
dimension, an SCD1 product dimension, a date dimension and an orders fact, over two loads,
on every engine. The expected tables are written out by hand below.

Load 1: two customers, two products, four orders (one for a product that does not exist →
product key 0; one dated before the calendar starts → date key 0; one dated before its
customer's first version → that first version). Load 2: Alice moves to Marseille on
2024-06-01 (a new version, key 3); orders dated from then on take it, earlier orders keep
version 1, an order from an unknown customer gets key 0.

Also the fact's other behaviours, on duckdb: orphans rejected or quarantined, a duplicate
grain refused or quarantined, date keys from DATE, TIMESTAMP, string and yyyymmdd columns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.api import Project

ENGINES = ["duckdb", "pandas", "polars", "spark"]

PROJECT = """
project: star
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim_customer
        read: {connection: raw, path: customers.csv}
        pattern:
          type: dimension
          params:
            natural_key: customer_id
            surrogate_key: customer_sk
            scd_type: 2
            track_columns: [name, city]
            effective_from: updated_at
            unknown_member: true
            audit: {load_timestamp: false}
        write: {connection: lake, path: dim_customer}
      - name: dim_product
        read: {connection: raw, path: products.csv}
        pattern:
          type: dimension
          params:
            natural_key: product_id
            surrogate_key: product_sk
            unknown_member: true
            audit: {load_timestamp: false}
        write: {connection: lake, path: dim_product}
      - name: dim_date
        pattern:
          type: date_dimension
          params:
            start_date: 2024-01-01
            end_date: 2025-12-31
            fiscal_year_start_month: 7
            unknown_member: true
        write: {connection: lake, path: dim_date}
      - name: fact_orders
        read: {connection: raw, path: orders.csv}
        pattern:
          type: fact
          params:
            grain: [order_id]
            dimensions:
              - {source_column: customer_id, dimension: dim_customer, date_column: order_date}
              - {source_column: product_id, dimension: dim_product}
              - {source_column: order_date, dimension: dim_date}
            measures:
              - quantity
              - {revenue: "CAST(quantity * unit_price AS DECIMAL(12, 2))"}
        write: {connection: lake, path: fact_orders, mode: upsert, keys: [order_id]}
"""

PRODUCTS = "product_id,name,category\nP1,Pen,Office\nP2,Book,Media\n"
LOAD1 = {
    "customers.csv": "customer_id,name,city,updated_at\n"
    "C1,Alice,Paris,2024-01-01\n"
    "C2,Bob,Lyon,2024-01-01\n",
    "products.csv": PRODUCTS,
    "orders.csv": "order_id,customer_id,product_id,order_date,quantity,unit_price\n"
    "1,C1,P1,2024-02-29,2,1.50\n"
    "2,C2,P2,2024-03-01,1,12.00\n"
    "3,C1,P9,2024-05-31,1,5.00\n"
    "4,C2,P1,2023-12-15,3,1.50\n",
}
LOAD2 = {
    "customers.csv": "customer_id,name,city,updated_at\n"
    "C1,Alice,Marseille,2024-06-01\n"
    "C2,Bob,Lyon,2024-01-01\n",
    "products.csv": PRODUCTS,
    "orders.csv": LOAD1["orders.csv"]
    + "5,C1,P2,2024-06-01,1,12.00\n"
    + "6,C9,P1,2024-12-30,4,1.50\n"
    + "7,C1,P1,2025-01-01,10,1.25\n",
}

FACT_COLUMNS = ["order_id", "customer_sk", "product_sk", "date_key", "quantity", "revenue"]
FACT1 = [
    (1, 1, 1, 20240229, 2, Decimal("3.00")),
    (2, 2, 2, 20240301, 1, Decimal("12.00")),
    (3, 1, 0, 20240531, 1, Decimal("5.00")),  # P9 is no product: key 0
    (4, 2, 1, 0, 3, Decimal("4.50")),  # before the calendar: date key 0; Bob's first version
]
FACT2 = [
    *FACT1,  # 1 and 3 are dated before Alice moved: they keep version 1
    (5, 3, 2, 20240601, 1, Decimal("12.00")),  # the day she moved: version 3
    (6, 0, 1, 20241230, 4, Decimal("6.00")),  # C9 is no customer: key 0
    (7, 3, 1, 20250101, 10, Decimal("12.50")),
]
CUSTOMER_COLUMNS = ["customer_sk", "customer_id", "name", "city", "valid_from", "valid_to"]
CUSTOMER1 = [
    (0, "-1", "Unknown", "Unknown", "1900-01-01", None),
    (1, "C1", "Alice", "Paris", "2024-01-01", None),
    (2, "C2", "Bob", "Lyon", "2024-01-01", None),
]
CUSTOMER2 = [
    (0, "-1", "Unknown", "Unknown", "1900-01-01", None),
    (1, "C1", "Alice", "Paris", "2024-01-01", "2024-06-01"),
    (2, "C2", "Bob", "Lyon", "2024-01-01", None),
    (3, "C1", "Alice", "Marseille", "2024-06-01", None),
]
PRODUCT = [(0, "-1", "Unknown", "Unknown"), (1, "P1", "Pen", "Office"), (2, "P2", "Book", "Media")]


def table(path: Path, columns: list[str]) -> list[tuple[Any, ...]]:
    rows = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    return sorted(tuple(_day(r[c]) for c in columns) for r in rows)


def _day(value: Any) -> Any:
    """Validity bounds as ISO days, whether the dimension keeps them as dates or timestamps."""
    return value.isoformat()[:10] if isinstance(value, date) else value


def calendar(start: date, end: date, fiscal_start: int) -> list[dict[str, Any]]:
    """The date dimension's rows as Python's calendar computes them."""
    rows = []
    day = start
    while day <= end:
        iso_year, iso_week, iso_day = day.isocalendar()
        fiscal_month = (day.month - fiscal_start) % 12 + 1
        rows.append(
            {
                "date_key": day.year * 10000 + day.month * 100 + day.day,
                "date": day,
                "day_of_week": iso_day,
                "day_name": day.strftime("%A"),
                "day_of_month": day.day,
                "day_of_year": day.timetuple().tm_yday,
                "week_of_year": iso_week,
                "iso_year": iso_year,
                "month": day.month,
                "month_name": day.strftime("%B"),
                "quarter": (day.month + 2) // 3,
                "quarter_name": f"Q{(day.month + 2) // 3}",
                "year": day.year,
                "year_month": f"{day.year}-{day.month:02d}",
                "fiscal_year": day.year
                + (1 if fiscal_start > 1 and day.month >= fiscal_start else 0),
                "fiscal_quarter": (fiscal_month + 2) // 3,
                "fiscal_month": fiscal_month,
                "is_weekend": iso_day >= 6,
                "is_month_start": day.day == 1,
                "is_month_end": (day + timedelta(days=1)).day == 1,
            }
        )
        day += timedelta(days=1)
    return rows


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / name).write_text(text, "utf-8")


def run(root: Path) -> Any:
    result = Project.load(root / "lakestory.yaml").run()
    failed = [(r.key, r.error) for r in result.nodes if r.status != "success"]
    assert result.ok, failed
    return result


@pytest.mark.parametrize("engine", ENGINES)
def test_star_schema_over_two_loads(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark_session")
    (tmp_path / "lakestory.yaml").write_text(PROJECT.replace("ENGINE", engine), "utf-8")
    lake = tmp_path / "lake"
    write(tmp_path, LOAD1)
    first = run(tmp_path)
    assert table(lake / "fact_orders", FACT_COLUMNS) == FACT1
    assert table(lake / "dim_customer", CUSTOMER_COLUMNS) == CUSTOMER1
    assert table(lake / "dim_product", ["product_sk", "product_id", "name", "category"]) == PRODUCT
    note = next(r.note for r in first.nodes if r.key == "gold.fact_orders")
    assert "1 row with no member in dim_product (product_id) → key 0" in (note or "")

    dates = DeltaTable(str(lake / "dim_date")).to_pyarrow_table().to_pylist()
    expected = calendar(date(2024, 1, 1), date(2025, 12, 31), fiscal_start=7)
    unknown = [r for r in dates if r["date_key"] == 0]
    assert sorted((r for r in dates if r["date_key"]), key=lambda r: r["date_key"]) == expected
    assert unknown == [
        {k: 0 if k == "date_key" else "Unknown" if isinstance(v, str) else None
         for k, v in expected[0].items()}
    ]  # fmt: skip

    write(tmp_path, LOAD2)
    run(tmp_path)
    assert table(lake / "dim_customer", CUSTOMER_COLUMNS) == CUSTOMER2
    assert table(lake / "fact_orders", FACT_COLUMNS) == FACT2


def test_the_calendar_oracle_knows_its_dates() -> None:
    """Guard the hand-written expectations: a leap day, ISO week 1 in December, the fiscal
    year (July start) and the month end."""
    rows = {r["date_key"]: r for r in calendar(date(2024, 1, 1), date(2025, 12, 31), 7)}
    assert rows[20240229]["day_name"] == "Thursday" and rows[20240229]["is_month_end"]
    assert (rows[20241230]["week_of_year"], rows[20241230]["iso_year"]) == (1, 2025)
    assert (rows[20240701]["fiscal_year"], rows[20240701]["fiscal_quarter"]) == (2025, 1)
    assert (rows[20240630]["fiscal_year"], rows[20240630]["fiscal_month"]) == (2024, 12)
    assert len(rows) == 731


# ---- the fact's other behaviours (duckdb) ------------------------------------------------

SMALL = """
project: facts
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim_product
        read: {connection: raw, path: products.csv}
        pattern:
          type: dimension
          params: {natural_key: product_id, surrogate_key: product_sk}
        write: {connection: lake, path: dim_product}
      - name: fact_orders
        read: {connection: raw, path: orders.csv}
        pattern:
          type: fact
          params:
            grain: [order_id]
            dimensions:
              - {source_column: product_id, dimension: dim_product}
            PARAMS
            measures: [quantity]
        VALIDATION
        write: {connection: lake, path: fact_orders}
"""
QUARANTINE = "validation: {quarantine: {connection: lake, path: quarantine}}"
SMALL_FILES = {
    "data/products.csv": PRODUCTS,
    "data/orders.csv": "order_id,product_id,quantity\n1,P1,2\n2,P9,1\n3,P2,5\n4,,1\n5,P9,3\n",
}


def small(
    project: Callable[..., Path], params: str = "", validation: str = "", orders: str = ""
) -> tuple[Any, Path]:
    """Run the small project; (the run's result, the lake folder)."""
    text = SMALL.replace("PARAMS", params).replace("VALIDATION", validation)
    files = dict(SMALL_FILES, **{"data/orders.csv": SMALL_FILES["data/orders.csv"] + orders})
    root = project(text, files)
    return Project.load(root / "lakestory.yaml").run(), root / "lake"


def node(result: Any, key: str = "gold.fact_orders") -> Any:
    return next(r for r in result.nodes if r.key == key)


def test_orphans_go_to_the_unknown_member_without_an_unknown_row(
    project: Callable[..., Path],
) -> None:
    result, lake = small(project)
    assert result.ok
    rows = table(lake / "fact_orders", ["order_id", "product_sk"])
    assert rows == [(1, 1), (2, 0), (3, 2), (4, 0), (5, 0)]  # a NULL product too


def test_orphan_keys_of_a_sensitive_column_are_masked(project: Callable[..., Path]) -> None:
    text = SMALL.replace("PARAMS", "orphan_handling: reject").replace("VALIDATION", "")
    fact = "      - name: fact_orders\n"
    text = text.replace(fact, fact + "        sensitive: [product_id]\n")
    result = Project.load(project(text, SMALL_FILES) / "lakestory.yaml").run()
    text = str(node(result).error)
    assert "e.g. [REDACTED: Sensitive Data] (1)" in text and "P9" not in text


def test_orphans_rejected_name_the_dimension_and_keys(project: Callable[..., Path]) -> None:
    result, lake = small(project, "orphan_handling: reject")
    assert not result.ok
    err = node(result).error
    text = str(err)
    assert "no dimension member (orphan_handling: reject)" in text
    assert "3 rows with no member in dim_product (product_id), e.g. NULL (1), P9 (2)" in text
    assert "orphan_handling: unknown" in text  # the hint
    assert not (lake / "fact_orders").exists()


def test_orphans_quarantined(project: Callable[..., Path]) -> None:
    result, lake = small(project, "orphan_handling: quarantine", QUARANTINE)
    assert result.ok
    assert table(lake / "fact_orders", ["order_id", "product_sk"]) == [(1, 1), (3, 2)]
    quarantined = DeltaTable(str(lake / "quarantine")).to_pyarrow_table().to_pylist()
    assert sorted(r["order_id"] for r in quarantined) == [2, 4, 5]
    assert all(r["product_sk"] is None for r in quarantined)


def test_a_duplicate_grain_fails_with_sample_keys(project: Callable[..., Path]) -> None:
    result, lake = small(project, orders="3,P1,1\n")
    err = str(node(result).error)
    assert "grain (order_id) is not unique: 1 repeated key, e.g. order_id=3 (2 rows)" in err
    assert "on_duplicate_grain: quarantine" in err
    assert not (lake / "fact_orders").exists()


def test_a_duplicate_grain_quarantined(project: Callable[..., Path]) -> None:
    result, lake = small(project, "on_duplicate_grain: quarantine", QUARANTINE, "3,P1,1\n")
    assert result.ok
    assert table(lake / "fact_orders", ["order_id"]) == [(1,), (2,), (4,), (5,)]
    quarantined = DeltaTable(str(lake / "quarantine")).to_pyarrow_table().to_pylist()
    assert sorted((r["order_id"], r["quantity"]) for r in quarantined) == [(3, 1), (3, 5)]


def test_an_scd2_lookup_needs_a_date_column(project: Callable[..., Path]) -> None:
    text = SMALL.replace("PARAMS", "").replace("VALIDATION", "")
    text = text.replace(
        "params: {natural_key: product_id, surrogate_key: product_sk}",
        "params: {natural_key: product_id, surrogate_key: product_sk, scd_type: 2}",
    )
    result = Project.load(project(text, SMALL_FILES) / "lakestory.yaml").run()
    err = node(result).error
    assert "dim_product keeps history (scd_type 2), so the lookup needs a `date_column`" in str(err)


DATES = """
project: dates
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim_date
        pattern:
          type: date_dimension
          params: {start_date: 2024-02-28, end_date: 2025-01-01}
        write: {connection: lake, path: dim_date}
      - name: fact_events
        read: {connection: raw, path: events.csv}
        transform:
          - sql: >-
              SELECT id, CAST(at AS DATE) AS as_date, CAST(at AS TIMESTAMP) AS as_ts,
                     CAST(at AS STRING) AS as_text,
                     CAST(date_format(CAST(at AS TIMESTAMP), 'yyyyMMdd') AS INT) AS as_int
              FROM df
        pattern:
          type: fact
          params:
            grain: [id]
            dimensions:
              - {source_column: as_date, dimension: dim_date, as: k_date}
              - {source_column: as_ts, dimension: dim_date, as: k_ts}
              - {source_column: as_text, dimension: dim_date, as: k_text}
              - {source_column: as_int, dimension: dim_date, as: k_int}
        write: {connection: lake, path: fact_events}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_date_keys_from_dates_timestamps_strings_and_integers(
    project: Callable[..., Path], engine: str, request: pytest.FixtureRequest
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark_session")
    events = "id,at\n1,2024-02-29 23:30:00\n2,2024-12-31 00:00:00\n3,2025-01-01 12:00:00\n"
    events += "4,2025-01-02 08:00:00\n"  # after the calendar: key 0
    root = project(DATES.replace("ENGINE", engine), {"data/events.csv": events})
    run(root)
    rows = table(root / "lake" / "fact_events", ["id", "k_date", "k_ts", "k_text", "k_int"])
    assert rows == [
        (1, 20240229, 20240229, 20240229, 20240229),
        (2, 20241231, 20241231, 20241231, 20241231),
        (3, 20250101, 20250101, 20250101, 20250101),
        (4, 0, 0, 0, 0),
    ]


HISTORY = """
project: history
engine: ENGINE
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim_customer
        read: {connection: raw, path: customers.csv}
        pattern:
          type: dimension
          params: {natural_key: customer_id, surrogate_key: customer_sk, scd_type: 2}
        write: {connection: lake, path: dim_customer}
      - name: fact_visits
        read: {connection: raw, path: visits.csv}
        transform:
          - sql: SELECT visit_id, customer_id, CAST(at AS STRING) AS at FROM df
        pattern:
          type: fact
          params:
            grain: visit_id
            dimensions:
              - {source_column: customer_id, dimension: dim_customer, date_column: at}
        write: {connection: lake, path: fact_visits}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_versions_dated_by_the_run_and_facts_dated_by_text(
    project: Callable[..., Path], engine: str, request: pytest.FixtureRequest
) -> None:
    """Without effective_from a version starts at its run (a TIMESTAMP): a fact dated long
    before takes the first version, a fact dated after the second run the second one, and a
    fact with no date the current one. The fact's dates are ISO strings."""
    if engine == "spark":
        request.getfixturevalue("spark_session")
    visits = "visit_id,customer_id,at\n1,C1,2020-01-01 10:00:00\n2,C1,2099-01-01T00:00:00\n3,C1,\n"
    files = {"data/customers.csv": "customer_id,tier\nC1,gold\n", "data/visits.csv": visits}
    root = project(HISTORY.replace("ENGINE", engine), files)
    run(root)
    assert table(root / "lake" / "fact_visits", ["visit_id", "customer_sk"]) == [
        (1, 1),
        (2, 1),
        (3, 1),
    ]
    (root / "data" / "customers.csv").write_text("customer_id,tier\nC1,silver\n", "utf-8")
    run(root)
    assert table(root / "lake" / "fact_visits", ["visit_id", "customer_sk"]) == [
        (1, 1),
        (2, 2),
        (3, 2),
    ]


PLAIN = """
        pattern:
          type: dimension
          params: {natural_key: product_id, surrogate_key: product_sk}
"""


@pytest.mark.parametrize(
    ("change", "products", "message", "hint"),
    [
        (
            [("source_column: product_id,", "source_column: product_idd,")],
            PRODUCTS,
            "dimensions[0].source_column: the fact's column 'product_idd' does not exist",
            "did you mean 'product_id'?",
        ),
        (
            [(PLAIN, "\n")],
            PRODUCTS,
            "dimensions[0]: dim_product is not a dimension or date_dimension pattern, so the "
            "lookup needs its natural_key and surrogate_key",
            "add `natural_key:` to this lookup",
        ),
        (
            [
                (PLAIN, "\n        transform: [sql: 'SELECT 7 AS product_sk, * FROM df']\n"),
                (
                    "dimension: dim_product}",
                    "dimension: dim_product, natural_key: product_id, surrogate_key: product_sk}",
                ),
            ],
            PRODUCTS + "P1,Pencil,Office\n",
            "dimensions[0]: dim_product holds the natural key product_id=P1 more than once",
            "one row per natural key",
        ),
    ],
)
def test_run_time_errors_name_the_lookup(
    project: Callable[..., Path],
    change: list[tuple[str, str]],
    products: str,
    message: str,
    hint: str,
) -> None:
    text = SMALL.replace("PARAMS", "").replace("VALIDATION", "")
    for old, new in change:
        text = text.replace(old, new)
    files = dict(SMALL_FILES, **{"data/products.csv": products})
    result = Project.load(project(text, files) / "lakestory.yaml").run()
    err = node(result).error
    assert message in str(err) and hint in str(err), err


def test_measures_renamed_computed_and_source_columns_kept(project: Callable[..., Path]) -> None:
    text = SMALL.replace("VALIDATION", "").replace(
        "PARAMS\n            measures: [quantity]",
        "keep_source_columns: true\n"
        "            measures: [{qty: quantity}, {name: double_qty, expr: quantity * 2}]",
    )
    root = project(text, SMALL_FILES)
    run(root)
    rows = DeltaTable(str(root / "lake" / "fact_orders")).to_pyarrow_table()
    assert rows.column_names == [
        "order_id",
        "product_sk",
        "qty",
        "double_qty",
        "product_id",
        "quantity",
    ]
    assert sorted(rows.to_pylist(), key=lambda r: r["order_id"])[0] == {
        "order_id": 1,
        "product_sk": 1,
        "qty": 2,
        "double_qty": 4,
        "product_id": "P1",
        "quantity": 2,
    }
