"""Count, independently of lakestory, the rows of a silver orders table that fail each of
``quality.py``'s checks: the figures its check results and drop counts must match.

Written in DuckDB's own dialect over ``DeltaTable(path).to_pyarrow_dataset()``, not with
lakestory's check queries. Prints one JSON object. Run as a child process (it loads the
table into DuckDB, which would raise the measuring process's peak RSS).

    python bench/quality_expect.py DIR/data/lake/bench_quality/orders_A '<regex>' '<condition>'
"""

from __future__ import annotations

import json
import sys

import duckdb
from deltalake import DeltaTable


def expected(path: str, pattern: str, condition: str) -> dict[str, int]:
    con = duckdb.connect()
    con.register("orders", DeltaTable(path).to_pyarrow_dataset())
    regex_fail = (
        f"(order_date IS NOT NULL AND NOT regexp_matches(CAST(order_date AS VARCHAR), '{pattern}'))"
    )
    custom_fail = f"(NOT coalesce(({condition}), false))"
    row = con.execute(
        f"""
        WITH repeated AS (SELECT order_id FROM orders GROUP BY order_id HAVING count(*) > 1)
        SELECT count(*) AS rows,
               count_if(order_id IS NULL OR customer_id IS NULL) AS not_null,
               count_if(order_id IN (SELECT order_id FROM repeated)) AS "unique",
               count_if(quantity < 0 OR quantity > 1000) AS "range",
               count_if({regex_fail}) AS regex_match,
               count_if({custom_fail}) AS custom_sql,
               count_if({regex_fail} OR {custom_fail}) AS regex_or_custom
        FROM orders
        """
    ).fetchone()
    assert row is not None
    names = ["rows", "not_null", "unique", "range", "regex_match", "custom_sql", "regex_or_custom"]
    return {n: int(v) for n, v in zip(names, row, strict=True)}


if __name__ == "__main__":
    print(json.dumps(expected(sys.argv[1], sys.argv[2], sys.argv[3])))
