"""The aggregation pattern's params and SQL builders: what may be merged incrementally,
how a merged measure is computed, and the write each setting asks for."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
import sqlglot
from pydantic import ValidationError

from lakestory.transforms import patterns as pt
from lakestory.transforms.patterns import aggregation as agg


def params(**changes: Any) -> agg.AggregationParams:
    base: dict[str, Any] = {"grain": ["c"], "measures": [{"name": "m", "expr": "sum(x)"}]}
    spec = pt.load_builtins()["aggregation"]
    model = spec.validate({**base, **changes})
    assert isinstance(model, agg.AggregationParams)
    return model


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("sum(x * y)", None),
        ("count(*)", None),
        ("COUNT(x)", None),
        ("min(x)", None),
        ("max(x)", None),
        ("avg(x)", "avg of two batches is not computed from their two results"),
        ("count(DISTINCT x)", "a distinct count of two batches is not the sum of their counts"),
        ("sum(x) / count(x)", "it is not a single sum, count, min or max"),
        ("x", "it is not a single sum, count, min or max"),
    ],
)
def test_only_single_sum_count_min_max_measures_merge(expr: str, why: str | None) -> None:
    assert agg.unmergeable(expr) == why


@pytest.mark.parametrize(
    ("expr", "old", "new", "merged"),
    [
        ("sum(x)", 5, 3, 8),
        ("sum(x)", None, 3, 3),  # the key is new
        ("sum(x)", 5, None, 5),  # the new rows' values are all NULL
        ("count(x)", None, 2, 2),
        ("count(x)", 4, 0, 4),
        ("min(x)", 5, 3, 3),
        ("min(x)", 2, 3, 2),
        ("min(x)", 2, None, 2),
        ("max(x)", 5, 3, 5),
        ("max(x)", None, 3, 3),
    ],
)
def test_a_merged_measure_combines_the_table_and_the_new_rows(
    expr: str, old: int | None, new: int | None, merged: int | None
) -> None:
    sql = agg._merged("m", expr)
    query = sqlglot.transpile(
        f"SELECT {sql} AS r FROM (SELECT CAST({old if old is not None else 'NULL'} AS BIGINT) "
        f"AS m) AS t, (SELECT CAST({new if new is not None else 'NULL'} AS BIGINT) AS m) AS n",
        read="spark",
        write="duckdb",
    )[0]
    assert duckdb.sql(query).fetchall() == [(merged,)]


def test_the_write_follows_incremental_and_having() -> None:
    assert agg._write(params()) == {"mode": "overwrite"}
    assert agg._write(params(incremental=True)) == {"mode": "upsert", "keys": ["c"]}
    assert agg._write(params(incremental=True, having="sum(x) > 0")) == {"mode": "overwrite"}


def test_incremental_true_means_recompute_and_false_means_none() -> None:
    on = params(incremental=True).incremental
    assert on is not None and on.merge_strategy == "recompute"
    assert params(incremental=False).incremental is None
    assert params(grain="c").grain == ["c"]


def test_the_group_query_selects_grain_then_measures() -> None:
    p = params(grain=["a", "b"], having="count(*) > 1")
    assert agg._group(p, "`src`") == (
        "SELECT `a`, `b`, sum(x) AS `m` FROM `src` GROUP BY `a`, `b` HAVING count(*) > 1"
    )
    assert "HAVING" not in agg._group(p, "`src`", having=False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"incremental": {"merge_strategy": "sum"}, "having": "sum(x) > 0"}, "`having` cannot"),
        (
            {
                "incremental": {"merge_strategy": "sum"},
                "measures": [{"name": "m", "expr": "avg(x)"}],
            },
            "measure 'm' (avg(x)) cannot be merged",
        ),
        ({"measures": [{"name": "c", "expr": "sum(x)"}]}, "repeat a grain or measure"),
        (
            {"measures": [{"name": "m", "expr": "sum(x)"}, {"name": "M", "expr": "max(x)"}]},
            "measure name(s) m repeat",
        ),
        ({"having": "sum(x) >"}, "having is not valid Spark SQL"),
        ({"grain": []}, "at least 1 item"),
        ({"incremental": {"merge_strategy": "add"}}, "'recompute' or 'sum'"),
    ],
)
def test_params_that_cannot_work_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        params(**changes)


def test_the_pattern_is_registered_with_a_summary_and_a_valid_example() -> None:
    spec = pt.load_builtins()["aggregation"]
    assert spec.summary.startswith("One row per grain with measures")
    spec.validate(spec.example)
