"""The demo's whole medallion written by hand on DuckDB: what ``engines.py`` measures against.

The same work as ``lakestory run`` of the demo project (bronze, silver and gold), the way a
careful DuckDB user would write it in one script:

- **bronze**: each raw CSV read with ``read_csv`` and the column types the data has (the
  types lakestory infers), streamed into a Delta table (``write_deltalake`` from
  ``to_arrow_reader``);
- **silver**: each bronze table read back from Delta (as the project's nodes do), cleaned
  in DuckDB SQL (``age_band`` as a ``CASE``, where the project calls the Python step
  ``add_age_band``), materialised, checked with one aggregate query per table (the
  project's tests: unique, accepted values, regex with quarantine; not null, unique,
  foreign key as a warning), written to Delta (orders partitioned by ``order_year``);
- **gold**: ``baseline_gold.py``'s two queries over the silver tables still in memory.

    python bench/baseline_medallion.py --raw DIR/data/raw --out DIR/baseline
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable, write_deltalake

from baseline_gold import write_customer_metrics, write_monthly_revenue
from measure import stopwatch

BATCH_ROWS = 1 << 17
MIN_AGE = 18
BANDS = (30, 50)
EMAIL_PATTERN = r"^[^@ ]+@[^@ ]+\.[a-z]{2,}$"

CUSTOMER_TYPES = {
    "customer_id": "INTEGER",
    "name": "VARCHAR",
    "email": "VARCHAR",
    "age": "INTEGER",
    "status": "VARCHAR",
    "country": "VARCHAR",
}
ORDER_TYPES = {
    "order_id": "INTEGER",
    "customer_id": "INTEGER",
    "amount": "DOUBLE",
    "quantity": "INTEGER",
    "order_date": "DATE",
}

SILVER_CUSTOMERS = f"""
SELECT customer_id,
       trim(upper(name)) AS name,
       lower(trim(email)) AS email,
       age,
       coalesce(lower(status), 'inactive') AS status,
       country,
       current_timestamp AS processed_at,
       CASE WHEN age < {BANDS[0]} THEN 'young'
            WHEN age < {BANDS[1]} THEN 'middle'
            ELSE 'senior' END AS age_band
FROM bronze_customers
WHERE customer_id IS NOT NULL AND email IS NOT NULL AND age >= {MIN_AGE}
"""

SILVER_ORDERS = """
SELECT order_id,
       customer_id,
       CAST(CAST(amount AS VARCHAR) AS DECIMAL(10, 2)) AS amount,  -- as Spark: 264.025 -> 264.03
       quantity,
       order_date,
       CAST(year(order_date) AS INTEGER) AS order_year,
       CAST(month(order_date) AS INTEGER) AS order_month
FROM bronze_orders
WHERE order_id IS NOT NULL AND customer_id IS NOT NULL AND amount > 0 AND quantity > 0
"""

CUSTOMER_CHECKS = f"""
SELECT count(*) - count(DISTINCT customer_id) AS duplicate_ids,
       count_if(status NOT IN ('active', 'inactive')) AS bad_status,
       count_if(NOT regexp_matches(email, '{EMAIL_PATTERN}')) AS bad_email
FROM silver_customers_checked
"""

ORDER_CHECKS = """
SELECT count_if(order_id IS NULL OR customer_id IS NULL OR order_date IS NULL) AS nulls,
       count(*) - count(DISTINCT order_id) AS duplicate_ids,
       count_if(c.customer_id IS NULL) AS unknown_customers
FROM silver_orders o
LEFT JOIN (SELECT DISTINCT customer_id FROM silver_customers) c USING (customer_id)
"""


def run(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    """Execute and consume the whole result (DuckDB 2 wants it done before the next one)."""
    return con.execute(sql).fetchall()


def read_csv(files: Path, types: dict[str, str]) -> str:
    """DuckDB's CSV reader with the columns' types given (no sniffing of types)."""
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
    return f"read_csv('{files}', header = true, columns = {columns})"


def write_delta(
    con: duckdb.DuckDBPyConnection, query: str, out: Path, partition_by: list[str] | None = None
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    reader = con.sql(query).to_arrow_reader(BATCH_ROWS)
    write_deltalake(str(out), reader, mode="overwrite", partition_by=partition_by)


def bronze(con: duckdb.DuckDBPyConnection, raw: Path, out: Path) -> None:
    customers = read_csv(raw / "customers.csv", CUSTOMER_TYPES)
    orders = read_csv(raw / "orders" / "*.csv", ORDER_TYPES)
    write_delta(con, f"SELECT * FROM {customers}", out / "bronze" / "customers")
    write_delta(con, f"SELECT * FROM {orders}", out / "bronze" / "orders")


def silver(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    con.register(
        "bronze_customers", DeltaTable(str(out / "bronze" / "customers")).to_pyarrow_dataset()
    )
    run(con, f"CREATE TABLE silver_customers_checked AS {SILVER_CUSTOMERS}")
    dupes, bad_status, bad_email = run(con, CUSTOMER_CHECKS)[0]
    if dupes or bad_status:
        raise SystemExit(f"silver customers: {dupes} duplicate ids, {bad_status} bad statuses")
    good = f"regexp_matches(email, '{EMAIL_PATTERN}')"
    run(
        con, f"CREATE TABLE silver_customers AS SELECT * FROM silver_customers_checked WHERE {good}"
    )
    if bad_email:
        write_delta(
            con,
            f"SELECT * FROM silver_customers_checked WHERE NOT {good}",
            out / "quarantine" / "customers",
        )
    run(con, "DROP TABLE silver_customers_checked")
    write_delta(con, "SELECT * FROM silver_customers", out / "silver" / "customers")

    con.register("bronze_orders", DeltaTable(str(out / "bronze" / "orders")).to_pyarrow_dataset())
    run(con, f"CREATE TABLE silver_orders AS {SILVER_ORDERS}")
    nulls, dupes, unknown = run(con, ORDER_CHECKS)[0]
    if nulls or dupes:
        raise SystemExit(f"silver orders: {nulls} null keys, {dupes} duplicate ids")
    if unknown:
        print(
            f"warning: {unknown} silver orders of customers not in silver customers",
            file=sys.stderr,
        )
    write_delta(con, "SELECT * FROM silver_orders", out / "silver" / "orders", ["order_year"])


def gold(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    run(con, "CREATE VIEW customers AS SELECT * FROM silver_customers")
    run(con, "CREATE VIEW orders AS SELECT * FROM silver_orders")
    write_customer_metrics(con, out / "gold" / "customer_metrics")
    write_monthly_revenue(con, out / "gold" / "monthly_revenue")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="customers.csv and orders/")
    parser.add_argument("--out", type=Path, required=True, help="folder for bronze/ silver/ gold/")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    phases: dict[str, float] = {}
    lap = stopwatch()
    con = duckdb.connect()
    run(con, "SET TimeZone = 'UTC'")
    bronze(con, args.raw, args.out)
    phases["bronze"] = lap()
    silver(con, args.out)
    phases["silver"] = lap()
    gold(con, args.out)
    phases["gold"] = lap()
    con.close()
    print(json.dumps({"phases": phases}))  # read by engines.py


if __name__ == "__main__":
    main()
