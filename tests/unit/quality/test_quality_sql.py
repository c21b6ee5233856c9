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


def flags(data: pa.Table, tests: list[Any], **refs: pa.Table) -> Rows:
    """Each row of ``data`` with its ``__lq_f<i>`` flags (a foreign key references ``ref``)."""
    row_tests = list(enumerate(tests))
    fk = {i: "ref" for i, t in row_tests if isinstance(t, ForeignKeyTest)}
    text = q.flags_query("data", data.column_names, row_tests, fk)
    return duck(text, data=data, **refs)


def failing(data: pa.Table, test: Any, **refs: pa.Table) -> list[Any]:
    """The ids of the rows failing ``test``."""
    return sorted(r["id"] for r in flags(data, [test], **refs) if r["__lq_f0"])


# -- the text ---------------------------------------------------------------------------------


def test_names_of_flags_and_statistics() -> None:
    assert (q.flag(3), q.stat(3)) == ("__lq_f3", "__lq_s3")


def test_not_null_fails_a_row_with_any_of_its_columns_null() -> None:
    test = NotNullTest(type="not_null", columns=["a", "b c"])
    assert q.fail_condition(0, test) == ("__lq_d.`a` IS NULL OR __lq_d.`b c` IS NULL", None)


def test_accepted_values_are_spark_literals_and_nulls_pass() -> None:
    test = AcceptedValuesTest(type="accepted_values", column="s", values=["x", "it's", 3, True])
    cond, join = q.fail_condition(0, test)
    assert cond == "__lq_d.`s` IS NOT NULL AND __lq_d.`s` NOT IN ('x', 'it\\'s', 3, true)"
    assert join is None


def test_range_with_one_or_both_bounds() -> None:
    low = RangeTest(type="range", column="v", min=1)
    both = RangeTest(type="range", column="v", min=1, max=3.5)
    assert q.fail_condition(0, low)[0] == "__lq_d.`v` IS NOT NULL AND (__lq_d.`v` < 1)"
    assert q.fail_condition(0, both)[0] == (
        "__lq_d.`v` IS NOT NULL AND (__lq_d.`v` < 1 OR __lq_d.`v` > 3.5)"
    )


def test_regex_matches_the_text_of_the_value() -> None:
    test = RegexMatchTest(type="regex_match", column="s", pattern=r"^\d+$")
    assert q.fail_condition(0, test)[0] == (
        "__lq_d.`s` IS NOT NULL AND NOT (CAST(__lq_d.`s` AS STRING) RLIKE '^\\\\d+$')"
    )


def test_custom_sql_fails_when_false_or_null() -> None:
    test = CustomSqlTest(type="custom_sql", condition="a > 0")
    assert q.fail_condition(0, test) == ("NOT coalesce((a > 0), false)", None)


def test_tests_that_need_a_join_are_refused_without_one() -> None:
    with pytest.raises(TypeError):
        q.fail_condition(0, UniqueTest(type="unique", columns=["id"]))
    with pytest.raises(TypeError):
        q.fail_condition(0, RowCountTest(type="row_count", min=1))


def test_unique_joins_the_repeated_key_combinations() -> None:
    cond, join = q.unique_join(5, UniqueTest(type="unique", columns=["k1", "k 2"]), "data")
    assert cond == "__lq_u5.`__lq_u5_0` IS NOT NULL"
    assert join == (
        "LEFT JOIN (SELECT `k1` AS `__lq_u5_0`, `k 2` AS `__lq_u5_1` FROM `data` GROUP BY `k1`, "
        "`k 2` HAVING count(*) > 1) AS __lq_u5 ON __lq_d.`k1` = __lq_u5.`__lq_u5_0` AND "
        "__lq_d.`k 2` = __lq_u5.`__lq_u5_1`"
    )


def test_foreign_key_joins_the_distinct_referenced_values() -> None:
    test = ForeignKeyTest(
        type="foreign_key", column="c", references={"node": "customers", "column": "id"}
    )
    cond, join = q.foreign_key_join(6, test, "p.customers:out")
    assert cond == "__lq_d.`c` IS NOT NULL AND __lq_r6.`__lq_r6_v` IS NULL"
    assert join == (
        "LEFT JOIN (SELECT DISTINCT `id` AS `__lq_r6_v` FROM `p.customers:out`) AS __lq_r6 "
        "ON __lq_d.`c` = __lq_r6.`__lq_r6_v`"
    )


def test_flags_query_keeps_the_columns_and_adds_one_flag_per_test() -> None:
    tests = [
        (0, NotNullTest(type="not_null", columns=["a"])),
        (2, UniqueTest(type="unique", columns=["a"])),
    ]
    text = q.flags_query("node:data", ["a", "we`ird"], tests, {})
    assert text.startswith(
        "SELECT __lq_d.`a`, __lq_d.`we``ird`, coalesce(__lq_d.`a` IS NULL, false) AS __lq_f0, "
        "coalesce(__lq_u2.`__lq_u2_0` IS NOT NULL, false) AS __lq_f2 FROM `node:data` AS __lq_d "
        "LEFT JOIN (SELECT `a` AS `__lq_u2_0` FROM `node:data` GROUP BY"
    )


def test_aggregate_query_counts_flags_and_computes_statistics() -> None:
    table_tests = [
        (1, DistributionTest(type="distribution", column="v", metric="mean", between=(1, 2))),
        (3, FreshnessTest(type="freshness", column="at", max_age="1d")),
        (4, RowCountTest(type="row_count", min=1)),  # counted by __lq_rows: no statistic
    ]
    text = q.aggregate_query("f", [0, 2], "__lq_f0 OR __lq_f2", table_tests, {"x": "__lq_f0"})
    assert text == (
        "SELECT count(*) AS __lq_rows, count_if(__lq_f0) AS __lq_f0, count_if(__lq_f2) AS "
        "__lq_f2, count_if(__lq_f0 OR __lq_f2) AS __lq_any, count_if(__lq_f0) AS x, "
        "avg(`v`) AS __lq_s1, max(`at`) AS __lq_s3 FROM `f`"
    )


def test_rows_where_selects_the_data_columns_and_extras() -> None:
    assert q.rows_where("f", ["a", "b"], "__lq_f0", ", 1 AS one") == (
        "SELECT `a`, `b`, 1 AS one FROM `f` WHERE __lq_f0"
    )


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
    rows = flags(DATA, [test], ref=ref)
    assert len(rows) == 6  # the repeated 1 does not double a row
    assert sorted(r["id"] for r in rows if r["__lq_f0"]) == [3]


def test_the_flags_count_and_the_failed_test_names() -> None:
    tests = [
        NotNullTest(type="not_null", columns=["k"]),
        UniqueTest(type="unique", columns=["k"]),
        RangeTest(type="range", column="v", max=3),
    ]
    flagged = pa.Table.from_pylist(flags(DATA, tests))
    names = {0: "not_null(k)", 1: "unique(k)", 2: "range(v)"}
    text = q.rows_where(
        "flagged", ["id"], "__lq_f0 OR __lq_f1 OR __lq_f2", f", {q.failed_tests_array(names)} AS t"
    )
    assert sorted((r["id"], r["t"]) for r in duck(text, flagged=flagged)) == [
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
    text = q.aggregate_query("flagged", [0, 1, 2], "__lq_f0 OR __lq_f1 OR __lq_f2", stats, {})
    [counts] = duck(text, flagged=flagged)
    assert counts == {
        "__lq_rows": 6,
        "__lq_f0": 2,
        "__lq_f1": 2,
        "__lq_f2": 1,
        "__lq_any": 4,
        "__lq_s3": pytest.approx(1 / 6),
    }


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
    [row] = duck(q.aggregate_query("data", [], "false", [(0, test)], {}), data=DATA)
    assert row["__lq_s0"] == pytest.approx(value)
