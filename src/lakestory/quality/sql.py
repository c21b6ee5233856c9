"""The Spark SQL that checks run. Each row-level test is a condition on a row of the data
(aliased ``__lq_d``) that is true when the row fails it; one aggregate evaluates them all in
one pass, and the rows that go on (or to quarantine) are selected with the same conditions.

``unique`` and ``foreign_key`` compare a row with other rows: they join a small table made
first. For ``unique`` it holds the repeated key combinations, found by sorting the keys (a
sort of the key columns is several times faster than grouping by them when nearly every key
is distinct); when there are none, the test needs no join at all. For ``foreign_key`` it
holds the distinct referenced values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lakestory.config.models.quality import (
    AcceptedValuesTest,
    CustomSqlTest,
    DistributionTest,
    ForeignKeyTest,
    FreshnessTest,
    NotNullTest,
    RangeTest,
    RegexMatchTest,
    UniqueTest,
)
from lakestory.writes.spark import ident, literal

DATA = "__lq_d"  # the alias of the checked data in the flags query


def _c(column: str) -> str:
    return f"{DATA}.{ident(column)}"


def fail_condition(test: Any) -> str:
    """The condition under which a row fails a row-level test that needs no other rows."""
    if isinstance(test, NotNullTest):
        return " OR ".join(f"{_c(c)} IS NULL" for c in test.columns)
    if isinstance(test, AcceptedValuesTest):
        values = ", ".join(literal(v) for v in test.values)
        return f"{_c(test.column)} IS NOT NULL AND {_c(test.column)} NOT IN ({values})"
    if isinstance(test, RangeTest):
        outside = []
        if test.min is not None:
            outside.append(f"{_c(test.column)} < {literal(test.min)}")
        if test.max is not None:
            outside.append(f"{_c(test.column)} > {literal(test.max)}")
        return f"{_c(test.column)} IS NOT NULL AND ({' OR '.join(outside)})"
    if isinstance(test, RegexMatchTest):
        value = f"CAST({_c(test.column)} AS STRING)"
        return f"{_c(test.column)} IS NOT NULL AND NOT ({value} RLIKE {literal(test.pattern)})"
    if isinstance(test, CustomSqlTest):
        return f"NOT coalesce(({test.condition}), false)"
    raise TypeError(f"{type(test).__name__} compares rows: it needs a join")


def repeated_keys_query(data: str, columns: Sequence[str]) -> str:
    """The key combinations that occur more than once (rows with a null key left out):
    sorted, a key equal to the one before it is repeated."""
    keys = ", ".join(ident(c) for c in columns)
    before = ", ".join(
        f"lag({ident(c)}) OVER (ORDER BY {keys}) AS {ident(f'__lq_p{j}')}"
        for j, c in enumerate(columns)
    )
    not_null = " AND ".join(f"{ident(c)} IS NOT NULL" for c in columns)
    same = " AND ".join(f"{ident(c)} = {ident(f'__lq_p{j}')}" for j, c in enumerate(columns))
    return (
        f"SELECT DISTINCT {keys} FROM (SELECT {keys}, {before} FROM {ident(data)} "
        f"WHERE {not_null}) WHERE {same}"
    )


def unique_join(i: int, test: UniqueTest, repeated: str) -> tuple[str, str]:
    """Join the repeated keys (``repeated``: the table of :func:`repeated_keys_query`)."""
    alias = f"__lq_u{i}"
    join = f"LEFT JOIN {ident(repeated)} AS {alias} ON " + " AND ".join(
        f"{_c(c)} = {alias}.{ident(c)}" for c in test.columns
    )
    return f"{alias}.{ident(test.columns[0])} IS NOT NULL", join


def distinct_values_query(referenced: str, column: str) -> str:
    return f"SELECT DISTINCT {ident(column)} AS `__lq_v` FROM {ident(referenced)}"


def foreign_key_join(i: int, test: ForeignKeyTest, values: str) -> tuple[str, str]:
    """Join the referenced values (``values``: the table of :func:`distinct_values_query`)."""
    alias = f"__lq_r{i}"
    join = f"LEFT JOIN {ident(values)} AS {alias} ON {_c(test.column)} = {alias}.`__lq_v`"
    return f"{_c(test.column)} IS NOT NULL AND {alias}.`__lq_v` IS NULL", join


def source(data: str, joins: Sequence[str], scan: int | None = None) -> str:
    """The FROM clause every check query shares (``scan``: only the first rows)."""
    table = ident(data) if scan is None else f"(SELECT * FROM {ident(data)} LIMIT {scan})"
    return " ".join([f"FROM {table} AS {DATA}", *joins])


_METRICS = {
    "mean": "avg({c})",
    "median": "median({c})",
    "min": "min({c})",
    "max": "max({c})",
    "sum": "sum({c})",
    "stddev": "stddev_samp({c})",
    "null_fraction": "CAST(count_if({c} IS NULL) AS DOUBLE) / nullif(count(*), 0)",
    "distinct_count": "count(DISTINCT {c})",
}


def stat(i: int) -> str:
    return f"__lq_s{i}"


def count(i: int) -> str:
    return f"__lq_f{i}"


def example(i: int) -> str:
    return f"__lq_e{i}"


def aggregate_query(
    data: str,
    joins: Sequence[str],
    failing: Mapping[int, str],
    counts: Mapping[str, str],
    table_tests: Sequence[tuple[int, Any]],
    columns: Sequence[str] = (),
) -> str:
    """One pass over the data: the row count, each row-level test's failing rows
    (``failing``: test index -> condition) and one failing row of each (as a struct of
    ``columns``), the rows matching each of ``counts`` (alias -> condition), and the
    statistics table-level tests judge."""
    parts = ["count(*) AS __lq_rows"]
    parts += [f"count_if(coalesce({cond}, false)) AS {count(i)}" for i, cond in failing.items()]
    if columns:
        row = ", ".join(f"{literal(c)}, {_c(c)}" for c in columns)
        parts += [
            f"first(named_struct({row})) FILTER (WHERE coalesce({cond}, false)) AS {example(i)}"
            for i, cond in failing.items()
            if cond != "false"
        ]
    parts += [f"count_if(coalesce({cond}, false)) AS {alias}" for alias, cond in counts.items()]
    for i, test in table_tests:
        if isinstance(test, FreshnessTest):
            parts.append(f"max({_c(test.column)}) AS {stat(i)}")
        elif isinstance(test, DistributionTest):
            parts.append(f"{_METRICS[test.metric].format(c=_c(test.column))} AS {stat(i)}")
    return f"SELECT {', '.join(parts)} {source(data, joins)}"


def rows_where(
    data: str,
    joins: Sequence[str],
    columns: Sequence[str],
    condition: str,
    extra: str = "",
    scan: int | None = None,
) -> str:
    cols = ", ".join(_c(c) for c in columns)
    return f"SELECT {cols}{extra} {source(data, joins, scan)} WHERE coalesce({condition}, false)"


def failed_tests_array(failing: Mapping[str, str]) -> str:
    """An array of the names of the tests a row fails (``failing``: name -> condition)."""
    cases = ", ".join(
        f"CASE WHEN coalesce({cond}, false) THEN {literal(name)} END"
        for name, cond in failing.items()
    )
    return f"filter(array({cases}), x -> x IS NOT NULL)"


def any_of(conditions: Sequence[str]) -> str:
    return " OR ".join(f"coalesce({c}, false)" for c in conditions) or "false"
