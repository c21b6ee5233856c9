"""The Spark SQL that data-quality checks run (``lakestory.quality.sql``): the text it builds,
and what that text answers once translated for DuckDB, on rows written here."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest

from lakestory.config.models.quality import (
    AcceptedValuesTest,
    CustomSqlTest,
    DistributionTest,
    ForeignKeyTest,
    FreshnessTest,
    NotNullTest,
    RangeTest,
    RegexMatchTest,
    RowCountTest,
    UniqueTest,
)
from lakestory.quality import sql as q
from lakestory.transforms.sql import parse_spark_sql, to_dialect

Rows = list[dict[str, Any]]


def duck(text: str, **tables: pa.Table) -> Rows:
    """Run Spark SQL ``text`` on DuckDB, with ``tables`` registered under their names."""
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con.sql(to_dialect(parse_spark_sql(text), {}, "duckdb")).to_arrow_table().to_pylist()


def checked(
    data: pa.Table, tests: list[Any], **refs: pa.Table
) -> tuple[list[str], dict[int, str], dict[str, pa.Table]]:
    """The joins, failing conditions and tables of ``tests`` on ``data``, made the way the
    checker makes them (a foreign key references the table ``ref``)."""
    tables: dict[str, pa.Table] = {"data": data, **refs}
    joins: list[str] = []
    failing: dict[int, str] = {}
    for i, test in enumerate(tests):
        if isinstance(test, UniqueTest):
            rows = duck(q.repeated_keys_query("data", test.columns), data=data)
            if not rows:
                failing[i] = "false"
                continue
            schema = data.select(test.columns).schema
            tables[f"rep{i}"] = pa.Table.from_pylist(rows, schema=schema)
            cond, join = q.unique_join(i, test, f"rep{i}")
        elif isinstance(test, ForeignKeyTest):
            values = duck(q.distinct_values_query("ref", test.references.column), **refs)
            tables[f"vals{i}"] = pa.Table.from_pylist(values)
            cond, join = q.foreign_key_join(i, test, f"vals{i}")
        else:
            cond, join = q.fail_condition(test), None
        failing[i] = cond
        if join:
            joins.append(join)
    return joins, failing, tables


def failing(data: pa.Table, test: Any, **refs: pa.Table) -> list[Any]:
    """The ids of the rows failing ``test``."""
    joins, conditions, tables = checked(data, [test], **refs)
    text = q.rows_where("data", joins, ["id"], conditions[0])
    return sorted(r["id"] for r in duck(text, **tables))


# -- the text ---------------------------------------------------------------------------------


def test_names_of_counts_and_statistics() -> None:
    assert (q.count(3), q.stat(3)) == ("__lq_f3", "__lq_s3")


def test_not_null_fails_a_row_with_any_of_its_columns_null() -> None:
    test = NotNullTest(type="not_null", columns=["a", "b c"])
    assert q.fail_condition(test) == "__lq_d.`a` IS NULL OR __lq_d.`b c` IS NULL"


def test_accepted_values_are_spark_literals_and_nulls_pass() -> None:
    test = AcceptedValuesTest(type="accepted_values", column="s", values=["x", "it's", 3, True])
    assert q.fail_condition(test) == (
        "__lq_d.`s` IS NOT NULL AND __lq_d.`s` NOT IN ('x', 'it\\'s', 3, true)"
    )


def test_range_with_one_or_both_bounds() -> None:
    low = RangeTest(type="range", column="v", min=1)
    both = RangeTest(type="range", column="v", min=1, max=3.5)
    assert q.fail_condition(low) == "__lq_d.`v` IS NOT NULL AND (__lq_d.`v` < 1)"
    assert q.fail_condition(both) == (
        "__lq_d.`v` IS NOT NULL AND (__lq_d.`v` < 1 OR __lq_d.`v` > 3.5)"
    )


def test_regex_matches_the_text_of_the_value() -> None:
    test = RegexMatchTest(type="regex_match", column="s", pattern=r"^\d+$")
    assert q.fail_condition(test) == (
        "__lq_d.`s` IS NOT NULL AND NOT (CAST(__lq_d.`s` AS STRING) RLIKE '^\\\\d+$')"
    )


def test_custom_sql_fails_when_false_or_null() -> None:
    test = CustomSqlTest(type="custom_sql", condition="a > 0")
    assert q.fail_condition(test) == "NOT coalesce((a > 0), false)"


def test_tests_that_need_a_join_are_refused_without_one() -> None:
    with pytest.raises(TypeError):
        q.fail_condition(UniqueTest(type="unique", columns=["id"]))
    with pytest.raises(TypeError):
        q.fail_condition(RowCountTest(type="row_count", min=1))


def test_repeated_keys_are_found_by_sorting() -> None:
    assert q.repeated_keys_query("data", ["k1", "k 2"]) == (
        "SELECT DISTINCT `k1`, `k 2` FROM (SELECT `k1`, `k 2`, lag(`k1`) OVER (ORDER BY `k1`, "
        "`k 2`) AS `__lq_p0`, lag(`k 2`) OVER (ORDER BY `k1`, `k 2`) AS `__lq_p1` FROM `data` "
        "WHERE `k1` IS NOT NULL AND `k 2` IS NOT NULL) WHERE `k1` = `__lq_p0` AND "
        "`k 2` = `__lq_p1`"
    )


def test_unique_joins_the_repeated_key_combinations() -> None:
    cond, join = q.unique_join(5, UniqueTest(type="unique", columns=["k1", "k 2"]), "rep")
    assert cond == "__lq_u5.`k1` IS NOT NULL"
    assert join == (
        "LEFT JOIN `rep` AS __lq_u5 ON __lq_d.`k1` = __lq_u5.`k1` AND __lq_d.`k 2` = __lq_u5.`k 2`"
    )


def test_foreign_key_joins_the_distinct_referenced_values() -> None:
    test = ForeignKeyTest(
        type="foreign_key", column="c", references={"node": "customers", "column": "id"}
    )
    assert q.distinct_values_query("p.customers:out", "id") == (
        "SELECT DISTINCT `id` AS `__lq_v` FROM `p.customers:out`"
    )
    cond, join = q.foreign_key_join(6, test, "vals")
    assert cond == "__lq_d.`c` IS NOT NULL AND __lq_r6.`__lq_v` IS NULL"
    assert join == "LEFT JOIN `vals` AS __lq_r6 ON __lq_d.`c` = __lq_r6.`__lq_v`"


def test_aggregate_query_counts_failures_and_computes_statistics() -> None:
    table_tests = [
        (1, DistributionTest(type="distribution", column="v", metric="mean", between=(1, 2))),
        (3, FreshnessTest(type="freshness", column="at", max_age="1d")),
        (4, RowCountTest(type="row_count", min=1)),  # counted by __lq_rows: no statistic
    ]
    text = q.aggregate_query("d", ["LEFT JOIN x"], {0: "a", 2: "b"}, {"x": "c"}, table_tests)
    assert text == (
        "SELECT count(*) AS __lq_rows, count_if(coalesce(a, false)) AS __lq_f0, "
        "count_if(coalesce(b, false)) AS __lq_f2, count_if(coalesce(c, false)) AS x, "
        "avg(__lq_d.`v`) AS __lq_s1, max(__lq_d.`at`) AS __lq_s3 FROM `d` AS __lq_d LEFT JOIN x"
    )


def test_rows_where_selects_the_data_columns_and_extras() -> None:
    assert q.rows_where("f", [], ["a", "b"], "c", ", 1 AS one") == (
        "SELECT __lq_d.`a`, __lq_d.`b`, 1 AS one FROM `f` AS __lq_d WHERE coalesce(c, false)"
    )


def test_any_of_treats_null_as_passing() -> None:
    assert q.any_of([]) == "false"
    assert q.any_of(["a", "b"]) == "coalesce(a, false) OR coalesce(b, false)"


# -- what the text answers on DuckDB ---------------------------------------------------------

DATA = pa.table(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "k": [1, 1, 2, None, None, 3],
        "s": ["bbb", "abc", "it's", "a\\b", None, "123"],
        "v": [1.0, 3.0, 0.5, 3.5, None, 2.0],
    }
)


def test_unique_fails_every_row_of_a_repeated_key_and_ignores_nulls() -> None:
    assert failing(DATA, UniqueTest(type="unique", columns=["k"])) == [1, 2]


def test_unique_on_two_columns() -> None:
    data = pa.table(
        {"id": [1, 2, 3, 4, 5], "a": [1, 1, 1, 1, None], "b": ["x", "x", "y", None, None]}
    )
    assert failing(data, UniqueTest(type="unique", columns=["a", "b"])) == [1, 2]


def test_accepted_values_with_quotes_and_backslashes() -> None:
    test = AcceptedValuesTest(type="accepted_values", column="s", values=["it's", "a\\b", "bbb"])
    assert failing(DATA, test) == [2, 6]  # abc and 123; the null passes


def test_range_bounds_are_inclusive() -> None:
    assert failing(DATA, RangeTest(type="range", column="v", min=1, max=3)) == [3, 4]


def test_regex_is_a_partial_match_unless_anchored() -> None:
    assert failing(DATA, RegexMatchTest(type="regex_match", column="s", pattern="b")) == [3, 6]
    assert failing(DATA, RegexMatchTest(type="regex_match", column="s", pattern="^b")) == [
        2,
        3,
        4,
        6,
    ]
    digits = RegexMatchTest(type="regex_match", column="s", pattern=r"^\d+$")
    assert failing(DATA, digits) == [1, 2, 3, 4]  # \d is a digit, not a "d"


def test_regex_on_a_number_matches_its_text() -> None:
    assert failing(DATA, RegexMatchTest(type="regex_match", column="id", pattern="^[1-3]$")) == [
        4,
        5,
        6,
    ]


def test_custom_sql_null_is_a_failure() -> None:
    assert failing(DATA, CustomSqlTest(type="custom_sql", condition="v >= 1 AND k > 0")) == [
        3,
        4,
        5,
    ]


def test_foreign_key_ignores_nulls_and_repeated_references() -> None:
    ref = pa.table({"key": [1, 1, 3]})
    test = ForeignKeyTest(type="foreign_key", column="k", references={"node": "r", "column": "key"})
    joins, _conditions, tables = checked(DATA, [test], ref=ref)
    rows = duck(q.rows_where("data", joins, ["id"], "true"), **tables)
    assert len(rows) == 6  # the repeated 1 does not double a row
    assert failing(DATA, test, ref=ref) == [3]


def test_unique_without_repeated_keys_needs_no_join() -> None:
    joins, conditions, _tables = checked(DATA, [UniqueTest(type="unique", columns=["id"])])
    assert (joins, conditions) == ([], {0: "false"})


def test_the_counts_and_the_failed_test_names() -> None:
    tests = [
        NotNullTest(type="not_null", columns=["k"]),
        UniqueTest(type="unique", columns=["k"]),
        RangeTest(type="range", column="v", max=3),
    ]
    joins, conditions, tables = checked(DATA, tests)
    names = dict(zip(["not_null(k)", "unique(k)", "range(v)"], conditions.values(), strict=True))
    anyf = q.any_of(list(conditions.values()))
    text = q.rows_where("data", joins, ["id"], anyf, f", {q.failed_tests_array(names)} AS t")
    assert sorted((r["id"], r["t"]) for r in duck(text, **tables)) == [
        (1, ["unique(k)"]),
        (2, ["unique(k)"]),
        (4, ["not_null(k)", "range(v)"]),
        (5, ["not_null(k)"]),
    ]
    stats = [
        (
            3,
            DistributionTest(
                type="distribution", column="v", metric="null_fraction", between=(0, 1)
            ),
        )
    ]
    text = q.aggregate_query("data", joins, conditions, {"__lq_any": anyf}, stats)
    [counts] = duck(text, **tables)
    assert counts == {
        "__lq_rows": 6,
        "__lq_f0": 2,
        "__lq_f1": 2,
        "__lq_f2": 1,
        "__lq_any": 4,
        "__lq_s3": pytest.approx(1 / 6),
    }


def test_counts_over_no_rows_are_zero() -> None:
    empty = DATA.slice(0, 0)
    test = NotNullTest(type="not_null", columns=["k"])
    [counts] = duck(q.aggregate_query("data", [], {0: q.fail_condition(test)}, {}, []), data=empty)
    assert counts == {"__lq_rows": 0, "__lq_f0": 0}


# of v: 1, 3, 0.5, 3.5, 2 and a null
@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("mean", 2.0),
        ("median", 2.0),
        ("min", 0.5),
        ("max", 3.5),
        ("sum", 10.0),
        ("stddev", (6.5 / 4) ** 0.5),  # sample: squares 1 + 1 + 2.25 + 2.25 + 0, over 4
        ("null_fraction", 1 / 6),
        ("distinct_count", 5),
    ],
)
def test_distribution_metrics(metric: str, value: float) -> None:
    test = DistributionTest(type="distribution", column="v", metric=metric, between=(0, 1))
    [row] = duck(q.aggregate_query("data", [], {}, {}, [(0, test)]), data=DATA)
    assert row["__lq_s0"] == pytest.approx(value)
