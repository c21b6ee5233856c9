"""The demo's whole medallion as a plain pandas script: what ``engine: pandas`` should beat.

The same work as ``lakestory run`` of the demo project, written the way a typical pandas user
writes it: ``pd.read_csv``, boolean masks, ``.str`` methods, ``merge`` and ``groupby``, each
layer written with ``deltalake.write_deltalake`` (gold's monthly revenue with
``DataFrame.to_parquet``) and read back with ``DeltaTable.to_pandas``. The only care taken is
what equal tables need: the Arrow schema of each output is given (32-bit integers, dates,
``DECIMAL(10,2)`` amounts rounded half away from zero like Spark's ``CAST``), and decimal sums
are computed in integer cents.

    python bench/naive_pandas.py --raw DIR/data/raw --out DIR/naive-pandas
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from measure import stopwatch

MIN_AGE = 18
BANDS = (30, 50)
EMAIL_PATTERN = r"^[^@ ]+@[^@ ]+\.[a-z]{2,}$"

BRONZE_CUSTOMERS = pa.schema(
    [
        ("customer_id", pa.int32()),
        ("name", pa.string()),
        ("email", pa.string()),
        ("age", pa.int32()),
        ("status", pa.string()),
        ("country", pa.string()),
    ]
)
BRONZE_ORDERS = pa.schema(
    [
        ("order_id", pa.int32()),
        ("customer_id", pa.int32()),
        ("amount", pa.float64()),
        ("quantity", pa.int32()),
        ("order_date", pa.date32()),
    ]
)
SILVER_CUSTOMERS = pa.schema(
    [
        *BRONZE_CUSTOMERS,
        ("processed_at", pa.timestamp("us", tz="UTC")),
        ("age_band", pa.string()),
    ]
)
SILVER_ORDERS = pa.schema(
    [
        ("order_id", pa.int32()),
        ("customer_id", pa.int32()),
        ("amount", pa.decimal128(10, 2)),
        ("quantity", pa.int32()),
        ("order_date", pa.date32()),
        ("order_year", pa.int32()),
        ("order_month", pa.int32()),
    ]
)
CUSTOMER_METRICS = pa.schema(
    [
        ("customer_id", pa.int32()),
        ("name", pa.string()),
        ("country", pa.string()),
        ("age_band", pa.string()),
        ("total_orders", pa.int64()),
        ("total_spent", pa.decimal128(38, 2)),
        ("avg_order_value", pa.float64()),
        ("first_order_date", pa.date32()),
        ("last_order_date", pa.date32()),
        ("customer_lifetime_days", pa.int32()),
    ]
)
MONTHLY_REVENUE = pa.schema(
    [
        ("order_year", pa.int32()),
        ("order_month", pa.int32()),
        ("orders", pa.int64()),
        ("revenue", pa.decimal128(38, 2)),
    ]
)


def to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(df[schema.names], preserve_index=False).cast(schema)


def write_delta(
    df: pd.DataFrame, schema: pa.Schema, out: Path, partition_by: list[str] | None = None
) -> None:
    write_deltalake(str(out), to_arrow(df, schema), mode="overwrite", partition_by=partition_by)


def read_delta(path: Path) -> pd.DataFrame:
    return DeltaTable(str(path)).to_pandas()


def cents(amount: pd.Series) -> pd.Series:
    """Amounts in whole cents, rounded half away from zero as Spark's CAST to DECIMAL(10,2)
    rounds a double: its decimal digits (264.025 -> 264.03), not its binary value."""
    scaled = np.round(np.abs(amount) * 100, 6)  # 26402.499999999996 -> 26402.5
    return (np.sign(amount) * np.floor(scaled + 0.5)).astype("int64")


def bronze(raw: Path, out: Path) -> None:
    customers = pd.read_csv(raw / "customers.csv")
    write_delta(customers, BRONZE_CUSTOMERS, out / "bronze" / "customers")
    orders = pd.concat(
        [pd.read_csv(f) for f in sorted((raw / "orders").glob("*.csv"))], ignore_index=True
    )
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    write_delta(orders, BRONZE_ORDERS, out / "bronze" / "orders")


def silver(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    c = read_delta(out / "bronze" / "customers")
    c = c[c["customer_id"].notna() & c["email"].notna() & (c["age"] >= MIN_AGE)].copy()
    c["name"] = c["name"].str.upper().str.strip()
    c["email"] = c["email"].str.strip().str.lower()
    c["status"] = c["status"].str.lower().fillna("inactive")
    c["processed_at"] = pd.Timestamp.now(tz="UTC")
    c["age_band"] = np.where(
        c["age"] < BANDS[0], "young", np.where(c["age"] < BANDS[1], "middle", "senior")
    )
    if c["customer_id"].duplicated().any():
        raise SystemExit("silver customers: duplicate customer_id")
    if not c["status"].isin(["active", "inactive"]).all():
        raise SystemExit("silver customers: unexpected status")
    good = c["email"].str.contains(EMAIL_PATTERN, regex=True)
    if not good.all():
        write_delta(c[~good], SILVER_CUSTOMERS, out / "quarantine" / "customers")
        c = c[good]
    write_delta(c, SILVER_CUSTOMERS, out / "silver" / "customers")

    o = read_delta(out / "bronze" / "orders")
    o = o[
        o["order_id"].notna() & o["customer_id"].notna() & (o["amount"] > 0) & (o["quantity"] > 0)
    ].copy()
    o["cents"] = cents(o["amount"])
    o["amount"] = o["cents"] / 100
    o["order_date"] = pd.to_datetime(o["order_date"])
    o["order_year"] = o["order_date"].dt.year
    o["order_month"] = o["order_date"].dt.month
    if o[["order_id", "customer_id", "order_date"]].isna().any().any():
        raise SystemExit("silver orders: null keys")
    if o["order_id"].duplicated().any():
        raise SystemExit("silver orders: duplicate order_id")
    unknown = (~o["customer_id"].isin(c["customer_id"])).sum()
    if unknown:
        print(
            f"warning: {unknown} silver orders of customers not in silver customers",
            file=sys.stderr,
        )
    write_delta(o, SILVER_ORDERS, out / "silver" / "orders", partition_by=["order_year"])
    return c, o


def gold(c: pd.DataFrame, o: pd.DataFrame, out: Path) -> None:
    keys = ["customer_id", "name", "country", "age_band"]
    joined = c[keys].merge(
        o[["customer_id", "order_id", "cents", "order_date"]], on="customer_id", how="left"
    )
    m = (
        joined.groupby(keys, dropna=False)
        .agg(
            total_orders=("order_id", "count"),
            total_cents=("cents", "sum"),
            avg_cents=("cents", "mean"),
            first_order_date=("order_date", "min"),
            last_order_date=("order_date", "max"),
        )
        .reset_index()
    )
    m["total_spent"] = m["total_cents"].where(m["total_orders"] > 0) / 100  # SUM of none: NULL
    m["avg_order_value"] = m["avg_cents"] / 100
    m["customer_lifetime_days"] = (m["last_order_date"] - m["first_order_date"]).dt.days
    write_delta(m, CUSTOMER_METRICS, out / "gold" / "customer_metrics")

    r = (
        o.groupby(["order_year", "order_month"])
        .agg(orders=("order_id", "size"), revenue_cents=("cents", "sum"))
        .reset_index()
    )
    r = r[r["revenue_cents"] > 0]
    r["revenue"] = [Decimal(int(x)).scaleb(-2) for x in r["revenue_cents"]]
    folder = out / "gold" / "monthly_revenue"
    folder.mkdir(parents=True)
    r[MONTHLY_REVENUE.names].to_parquet(
        folder / "part-0.parquet", schema=MONTHLY_REVENUE, index=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="customers.csv and orders/")
    parser.add_argument("--out", type=Path, required=True, help="folder for bronze/ silver/ gold/")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    phases: dict[str, float] = {}
    lap = stopwatch()
    bronze(args.raw, args.out)
    phases["bronze"] = lap()
    c, o = silver(args.out)
    phases["silver"] = lap()
    gold(c, o, args.out)
    phases["gold"] = lap()
    print(json.dumps({"phases": phases}))  # read by engines.py


if __name__ == "__main__":
    main()
