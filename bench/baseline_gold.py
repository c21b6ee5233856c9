"""The demo's gold pipeline written by hand on DuckDB: what lakestory is measured against.

Reads the silver Delta tables that lakestory's bronze and silver pipelines wrote, runs the
two gold queries in DuckDB's own dialect, and writes the outputs the way a careful script
would: ``customer_metrics`` as a Delta table (overwrite, streamed from DuckDB through
Arrow), ``monthly_revenue`` as a Parquet folder.

    python bench/baseline_gold.py --lake DIR/data/lake --out DIR/baseline
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
from deltalake import DeltaTable, write_deltalake

CUSTOMER_METRICS = """
SELECT c.customer_id,
       c.name,
       c.country,
       c.age_band,
       count(o.order_id) AS total_orders,
       sum(o.amount) AS total_spent,
       avg(o.amount) AS avg_order_value,
       min(o.order_date) AS first_order_date,
       max(o.order_date) AS last_order_date,
       -- Spark's DATEDIFF is an INT (DuckDB's date_diff a BIGINT); lakestory answers as Spark
       CAST(date_diff('day', min(o.order_date), max(o.order_date)) AS INTEGER)
           AS customer_lifetime_days
FROM customers c
LEFT JOIN orders o ON c.customer_id = o.customer_id
GROUP BY c.customer_id, c.name, c.country, c.age_band
"""

MONTHLY_REVENUE = """
SELECT order_year, order_month, count(*) AS orders, sum(amount) AS revenue
FROM orders
GROUP BY order_year, order_month
HAVING sum(amount) > 0
"""


def open_delta(path: Path) -> ds.Dataset:
    return DeltaTable(str(path)).to_pyarrow_dataset()


def write_customer_metrics(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    reader = con.sql(CUSTOMER_METRICS).to_arrow_reader(1 << 17)
    write_deltalake(str(out), reader, mode="overwrite")


def write_monthly_revenue(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con.execute(f"COPY ({MONTHLY_REVENUE}) TO '{out / 'part-0.parquet'}' (FORMAT parquet)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="folder holding silver/")
    parser.add_argument("--out", type=Path, required=True, help="folder to write gold/ into")
    args = parser.parse_args()
    customers = open_delta(args.lake / "silver" / "customers")
    orders = open_delta(args.lake / "silver" / "orders")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("customers", customers)
    con.register("orders", orders)
    write_customer_metrics(con, args.out / "gold" / "customer_metrics")
    write_monthly_revenue(con, args.out / "gold" / "monthly_revenue")
    con.close()


if __name__ == "__main__":
    main()
