"""Generate the demo's raw CSVs at scale, fast, with DuckDB SQL.

Same columns and the same kinds of dirt as ``lakestory.examples.sample_data`` (names with
stray spaces and lower case, missing or upper-case emails, minors, missing statuses; orders
with non-positive amounts or zero quantity, one CSV per month), but every "random" value is
a deterministic integer hash of (row number, salt, seed), so a (scale, seed) always gives
the same bytes and 10M rows take seconds, not minutes.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from lakestory.examples.sample_data import COUNTRIES, FIRST, LAST, STATUSES

MONTHS = 12
MARKER = "generated.json"

# A 32-bit integer mix (the "lowbias32" shape: xorshift-multiply, twice) applied to an
# affine function of the row number: cheap, vectorised, and hash-function free, so the
# output does not depend on the DuckDB version.
_MACROS = """
SET enable_progress_bar = false;
CREATE OR REPLACE TEMP MACRO mix32(x) AS (xor(x, x >> 16) * 73244475) % 4294967296;
CREATE OR REPLACE TEMP MACRO rnd(i, salt, seed) AS
    mix32(mix32((i * 2654435761 + salt * 40503 + seed * 97) % 4294967296));
CREATE OR REPLACE TEMP MACRO u01(i, salt, seed) AS rnd(i, salt, seed) / 4294967296.0;
"""


@dataclass(frozen=True)
class Scale:
    """What to generate; also the cache key of the generated files."""

    customers: int
    orders: int
    seed: int
    months: int = MONTHS

    @property
    def slug(self) -> str:
        return f"c{self.customers}_o{self.orders}_s{self.seed}_m{self.months}"


def _sql_list(values: list[str | None]) -> str:
    return "[" + ", ".join("NULL" if v is None else f"'{v}'" for v in values) + "]"


def _customers_sql(scale: Scale) -> str:
    s = scale.seed
    return f"""
    WITH base AS (
        SELECT i AS customer_id,
               {_sql_list(list(FIRST))}[1 + rnd(i, 1, {s}) % {len(FIRST)}] AS first,
               {_sql_list(list(LAST))}[1 + rnd(i, 2, {s}) % {len(LAST)}] AS last,
               u01(i, 3, {s}) < 0.2 AS messy_name,
               u01(i, 4, {s}) AS email_roll,
               14 + rnd(i, 5, {s}) % 66 AS age,
               {_sql_list(STATUSES)}[1 + rnd(i, 6, {s}) % {len(STATUSES)}] AS status,
               {_sql_list(list(COUNTRIES))}[1 + rnd(i, 7, {s}) % {len(COUNTRIES)}] AS country
        FROM range(1, {scale.customers + 1}) t(i)
    ), named AS (
        SELECT *, lower(first) || '.' || lower(last) || customer_id || '@example.com' AS mail
        FROM base
    )
    SELECT customer_id,
           CASE WHEN messy_name THEN '  ' || lower(first || ' ' || last) || ' '
                ELSE first || ' ' || last END AS name,
           CASE WHEN email_roll < 0.05 THEN NULL
                WHEN email_roll < 0.2 THEN ' ' || upper(mail)
                ELSE mail END AS email,
           age, status, country
    FROM named ORDER BY customer_id
    """


def _orders_sql(scale: Scale) -> str:
    s, days = scale.seed, scale.months * 30
    return f"""
    WITH base AS (
        SELECT i AS order_id,
               1 + rnd(i, 16, {s}) % {scale.customers} AS customer_id,
               round(5 + u01(i, 12, {s}) * 495, 3) AS magnitude,
               u01(i, 13, {s}) < 0.03 AS negative,
               u01(i, 14, {s}) < 0.05 AS maybe_zero,
               rnd(i, 15, {s}) AS q,
               DATE '2024-01-01' + CAST(rnd(i, 11, {s}) % {days} AS INTEGER) AS day
        FROM range(1, {scale.orders + 1}) t(i)
    )
    SELECT order_id, customer_id,
           CASE WHEN negative THEN -magnitude ELSE magnitude END AS amount,
           CASE WHEN maybe_zero THEN q % 6 ELSE 1 + q % 5 END AS quantity,
           strftime(day, '%Y-%m-%d') AS order_date,
           least(month(day), {scale.months}) AS file_month
    FROM base
    """


def _copy_csv(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    con.execute(f"COPY ({query}) TO '{path}' (FORMAT csv, HEADER true)")


def generate(raw_dir: Path, scale: Scale) -> None:
    """Write ``customers.csv`` and ``orders/orders_2024_MM.csv`` into ``raw_dir``."""
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    (raw_dir / "orders").mkdir(parents=True)
    con = duckdb.connect()
    try:
        con.execute(_MACROS)
        _copy_csv(con, _customers_sql(scale), raw_dir / "customers.csv")
        con.execute(f"CREATE TABLE orders AS {_orders_sql(scale)}")
        for month in range(1, scale.months + 1):
            query = (
                "SELECT * EXCLUDE (file_month) FROM orders "
                f"WHERE file_month = {month} ORDER BY order_id"
            )
            _copy_csv(con, query, raw_dir / "orders" / f"orders_2024_{month:02d}.csv")
    finally:
        con.close()


def ensure(raw_dir: Path, scale: Scale) -> float | None:
    """Generate unless ``raw_dir`` already holds this scale; returns seconds, None if cached."""
    marker = raw_dir / MARKER
    if marker.exists() and json.loads(marker.read_text()) == asdict(scale):
        return None
    start = time.perf_counter()
    generate(raw_dir, scale)
    marker.write_text(json.dumps(asdict(scale)))
    return time.perf_counter() - start
