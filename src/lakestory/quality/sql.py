"""The Spark SQL that checks run: one query flags every row-level failure of a node's data,
one aggregate over the flags counts them (and computes the table-level statistics).

Each row-level test becomes a boolean column ``__lq_f<i>`` (true: the row fails test i).
``unique`` and ``foreign_key`` join a small derived table: the repeated key combinations,
or the distinct referenced values.
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


def flag(i: int) -> str:
    return f"__lq_f{i}"


def _c(column: str) -> str:
    return f"{DATA}.{ident(column)}"


def fail_condition(i: int, test: Any) -> tuple[str, str | None]:
    """The condition under which a row fails row-level test ``i``, and the join it needs."""
    if isinstance(test, NotNullTest):
        return " OR ".join(f"{_c(c)} IS NULL" for c in test.columns), None
    if isinstance(test, AcceptedValuesTest):
        values = ", ".join(literal(v) for v in test.values)
        return f"{_c(test.column)} IS NOT NULL AND {_c(test.column)} NOT IN ({values})", None
    if isinstance(test, RangeTest):
        outside = []
        if test.min is not None:
            outside.append(f"{_c(test.column)} < {literal(test.min)}")
        if test.max is not None:
            outside.append(f"{_c(test.column)} > {literal(test.max)}")
        return f"{_c(test.column)} IS NOT NULL AND ({' OR '.join(outside)})", None
    if isinstance(test, RegexMatchTest):
        value = f"CAST({_c(test.column)} AS STRING)"
        return (
            f"{_c(test.column)} IS NOT NULL AND NOT ({value} RLIKE {literal(test.pattern)})",
            None,
        )
    if isinstance(test, CustomSqlTest):
        return f"NOT coalesce(({test.condition}), false)", None
    raise TypeError(f"not a row-level test without a join: {type(test).__name__}")


def unique_join(i: int, test: UniqueTest, data: str) -> tuple[str, str]:
    alias = f"__lq_u{i}"
    keys = ", ".join(f"{ident(c)} AS {ident(f'{alias}_{j}')}" for j, c in enumerate(test.columns))
    group = ", ".join(ident(c) for c in test.columns)
    join = (
        f"LEFT JOIN (SELECT {keys} FROM {ident(data)} GROUP BY {group} HAVING count(*) > 1) "
        f"AS {alias} ON "
        + " AND ".join(
            f"{_c(c)} = {alias}.{ident(f'{alias}_{j}')}" for j, c in enumerate(test.columns)
        )
    )
    return f"{alias}.{ident(f'{alias}_0')} IS NOT NULL", join


def foreign_key_join(i: int, test: ForeignKeyTest, referenced: str) -> tuple[str, str]:
    alias = f"__lq_r{i}"
    value = ident(f"{alias}_v")
    join = (
        f"LEFT JOIN (SELECT DISTINCT {ident(test.references.column)} AS {value} "
        f"FROM {ident(referenced)}) AS {alias} ON {_c(test.column)} = {alias}.{value}"
    )
    return f"{_c(test.column)} IS NOT NULL AND {alias}.{value} IS NULL", join


def flags_query(
    data: str, columns: Sequence[str], row_tests: Sequence[tuple[int, Any]], refs: Mapping[int, str]
) -> str:
    """The data's columns plus one flag per row-level test (``refs``: test index -> the
    frame a foreign key references)."""
    selects = [_c(c) for c in columns]
    joins: list[str] = []
    for i, test in row_tests:
        join: str | None
        if isinstance(test, UniqueTest):
            cond, join = unique_join(i, test, data)
        elif isinstance(test, ForeignKeyTest):
            cond, join = foreign_key_join(i, test, refs[i])
        else:
            cond, join = fail_condition(i, test)
        if join:
            joins.append(join)
        selects.append(f"coalesce({cond}, false) AS {flag(i)}")
    return f"SELECT {', '.join(selects)} FROM {ident(data)} AS {DATA} " + " ".join(joins)


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


def aggregate_query(
    flagged: str,
    row_flags: Sequence[int],
    any_fail: str,
    table_tests: Sequence[tuple[int, Any]],
    counts: Mapping[str, str],
) -> str:
    """One pass over the flagged data: the row count, each test's failing count, the rows
    failing any test, the rows matching each of ``counts`` (alias -> condition), and the
    statistics table-level tests judge."""
    parts = ["count(*) AS __lq_rows"]
    parts += [f"count_if({flag(i)}) AS {flag(i)}" for i in row_flags]
    parts.append(f"count_if({any_fail}) AS __lq_any")
    parts += [f"count_if({cond}) AS {alias}" for alias, cond in counts.items()]
    for i, test in table_tests:
        if isinstance(test, FreshnessTest):
            parts.append(f"max({ident(test.column)}) AS {stat(i)}")
        elif isinstance(test, DistributionTest):
            parts.append(f"{_METRICS[test.metric].format(c=ident(test.column))} AS {stat(i)}")
    return f"SELECT {', '.join(parts)} FROM {ident(flagged)}"


def rows_where(flagged: str, columns: Sequence[str], condition: str, extra: str = "") -> str:
    cols = ", ".join(ident(c) for c in columns)
    return f"SELECT {cols}{extra} FROM {ident(flagged)} WHERE {condition}"


def failed_tests_array(names: Mapping[int, str]) -> str:
    """An array of the names of the tests a row fails."""
    cases = ", ".join(f"CASE WHEN {flag(i)} THEN {literal(n)} END" for i, n in names.items())
    return f"filter(array({cases}), x -> x IS NOT NULL)"
