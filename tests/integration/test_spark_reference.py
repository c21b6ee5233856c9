"""Real Spark as the oracle for the Spark answers pinned in tests/unit/test_sql_frontend.py.

Every case in that module's lists runs here on a Spark session with lakestory's semantics
(``SEMANTICS``: session time zone UTC, ANSI off), and Spark's answer must equal the pinned
one, value and type: values come through Arrow, so INT and BIGINT are both ``int``, DOUBLE is
``float``, DECIMAL ``Decimal``, DATE ``date`` and TIMESTAMP a UTC-aware ``datetime``. The
known differences pin Spark's answer here and DuckDB's there. Each case runs twice: as
written, and as the spark engine sends it (``to_dialect(..., dialect="spark")``, which is
sqlglot's Spark SQL). Then the result types of the translated SQL on DuckDB must be Spark's
Arrow types, so a table DuckDB writes is one Spark could have written. Last,
test_spark_semantics.py's project runs on Spark, its SQL on its CSV.

Single expressions run in one SELECT per way (when it fails, list by list, then one by one),
each query once per way; once Spark has started, the module takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from lakestory.transforms.sql import parse_spark_sql, to_dialect

TESTS = Path(__file__).parents[1]


def _test_module(path: Path) -> ModuleType:
    """A test module: the one pytest imported, else imported as pytest would (its folder
    is on ``sys.path``), else loaded from its file (for its data)."""
    for name in (path.stem, f"_{path.stem}_cases"):
        module = sys.modules.get(name)
        if module is not None and Path(module.__file__ or "") == path:
            return module
    if str(path.parent) in sys.path:
        return importlib.import_module(path.stem)
    spec = importlib.util.spec_from_file_location(f"_{path.stem}_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cases = _test_module(TESTS / "unit" / "test_sql_frontend.py")
semantics = _test_module(TESTS / "integration" / "test_spark_semantics.py")
LISTS = ("CASTS", "DATES", "ARITHMETIC", "STRINGS", "CONDITIONALS")
EXPRESSIONS = [(name, e, v) for name in LISTS for e, v in getattr(cases, name)]
DIFFERENCES = [(e, spark) for e, spark, _ in cases.DIFFERENCES]
QUERIES = {name: (query, expected) for name, query, expected in cases.QUERIES}

# DuckDB's result type is not Spark's: the rows match, the Arrow type does not.
TYPE_DIFFERENCES = {
    # DuckDB keeps the dividend's precision: DECIMAL(11,1) against Spark's DECIMAL(2,1).
    "-7.5 % 2": "decimal % int keeps DuckDB's decimal precision",
    # SUM of INT is DuckDB's HUGEINT (Arrow decimal128(38, 0)), Spark's BIGINT.
    "group_by_having_alias": "SUM(int) is HUGEINT on DuckDB",
}


@pytest.fixture(scope="module")
def spark(spark_session: Any) -> Any:
    """A session of the shared one with what lakestory's SQL means set, as the engine does."""
    from lakestory.engines.spark.session import SEMANTICS

    session = spark_session.newSession()
    for key, value in SEMANTICS.items():
        session.conf.set(key, value)
    session.conf.set("spark.sql.shuffle.partitions", "1")  # tiny data: fewer tasks, same answers
    return session


# The SQL as the user wrote it, and as the spark engine sends it (sqlglot's Spark SQL).
WRITTEN, ENGINE = "as written", "via to_dialect"
VIAS = [WRITTEN, ENGINE]


def spark_sql(query: str, via: str) -> str:
    return query if via == WRITTEN else to_dialect(parse_spark_sql(query), {}, dialect="spark")


@pytest.fixture(scope="module")
def spark_answers(spark: Any) -> dict[str, dict[str, tuple[Any, pa.DataType] | Exception]]:
    """Spark's answer to every single expression, by way (``VIAS``): (value, Arrow type),
    or its error."""
    from pyspark.errors import PySparkException

    by_via: dict[str, dict[str, tuple[Any, pa.DataType] | Exception]] = {}
    lists = [[e for n, e, _ in EXPRESSIONS if n == name] for name in LISTS]
    lists.append([e for e, _ in DIFFERENCES])
    for via in VIAS:
        answers = by_via.setdefault(via, {})

        def ask(groups: list[list[str]], via: str = via, answers: dict[str, Any] = answers) -> None:
            for group in groups:
                try:
                    answers.update(_select(spark, group, via))
                except PySparkException as error:  # one of them fails: find out which
                    if len(group) == 1:
                        answers[group[0]] = error
                    else:
                        ask([[e] for e in group] if group in lists else lists)

        refused = [e for e, expected in DIFFERENCES if isinstance(expected, cases.Refused)]
        ask([[e for _, e, _ in EXPRESSIONS] + [e for e, _ in DIFFERENCES if e not in refused]])
        ask([[e] for e in refused])
    return by_via


@pytest.fixture(scope="module")
def spark_results(spark: Any) -> dict[str, dict[str, tuple[list[tuple[Any, ...]], pa.Schema]]]:
    """Spark's rows and their Arrow schema for every query, by way (``VIAS``); the queries
    run side by side (each is tiny, most of its time is Spark planning it)."""

    def run(via: str, query: str) -> tuple[list[tuple[Any, ...]], pa.Schema]:
        table = spark.sql(spark_sql(query, via)).toArrow()
        return list(zip(*(c.to_pylist() for c in table.columns), strict=True)), table.schema

    with ThreadPoolExecutor(4) as pool:
        futures = {
            (via, name): pool.submit(run, via, query)
            for via in VIAS
            for name, (query, _) in QUERIES.items()
        }
        results: dict[str, dict[str, tuple[list[tuple[Any, ...]], pa.Schema]]] = {}
        for (via, name), future in futures.items():
            results.setdefault(via, {})[name] = future.result()
    return results


def _select(spark: Any, expressions: list[str], via: str) -> dict[str, tuple[Any, pa.DataType]]:
    columns = ", ".join(f"{e} AS c{i}" for i, e in enumerate(expressions))
    table = spark.sql(spark_sql(f"SELECT {columns}", via)).toArrow()
    return {
        e: (table.column(i).to_pylist()[0], table.schema.field(i).type)
        for i, e in enumerate(expressions)
    }


def typed(value: Any) -> Any:
    """The value with its type, all the way down: 1 and 1.0 and True differ, a naive
    datetime differs from an aware one."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, datetime):
        return ("datetime", value.utcoffset(), value)
    return (type(value).__name__, value)


def answer(answers: dict[str, Any], expression: str) -> tuple[Any, pa.DataType]:
    got = answers[expression]
    if isinstance(got, Exception):
        pytest.fail(f"Spark refused {expression}: {str(got).strip().splitlines()[0]}")
    return got


# ------------------------------------------------------------- Spark's answers


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(("expression", "expected"), [c[1:] for c in EXPRESSIONS])
def test_spark_gives_the_pinned_answer(
    spark_answers: dict[str, Any], via: str, expression: str, expected: Any
) -> None:
    value, _ = answer(spark_answers[via], expression)
    assert typed(value) == typed(expected), expression


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(("expression", "expected"), DIFFERENCES)
def test_spark_answer_to_a_known_difference(
    spark_answers: dict[str, Any], via: str, expression: str, expected: Any
) -> None:
    if isinstance(expected, cases.Refused):
        got = spark_answers[via][expression]
        assert isinstance(got, Exception), f"Spark answers {expression}: {got}"
        assert expected.error_class in str(got)
        return
    value, _ = answer(spark_answers[via], expression)
    assert typed(value) == typed(expected), expression


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("name", list(QUERIES))
def test_spark_gives_the_pinned_rows(spark_results: dict[str, Any], via: str, name: str) -> None:
    got, _ = spark_results[via][name]
    assert typed(got) == typed(QUERIES[name][1])


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(("query", "message"), cases.FAILURES)
def test_spark_fails_the_pinned_failures(spark: Any, via: str, query: str, message: str) -> None:
    with pytest.raises(Exception, match=message):
        spark.sql(spark_sql(query, via)).collect()


# ---------------------------------------------------- DuckDB's types are Spark's


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    connection.execute("SET default_null_order='nulls_first_on_asc_last_on_desc'")
    yield connection
    connection.close()


def duckdb_schema(con: duckdb.DuckDBPyConnection, query: str) -> pa.Schema:
    return con.sql(to_dialect(parse_spark_sql(query), {})).to_arrow_table().schema


def comparable(kind: pa.DataType) -> pa.DataType:
    """Arrow types as far as a table's schema cares: a list's item field name and
    nullability are each engine's own."""
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(comparable(kind.value_type))
    return kind


def _type_cases() -> Iterator[Any]:
    for expression in [e for _, e, _ in EXPRESSIONS] + list(QUERIES):
        reason = TYPE_DIFFERENCES.get(expression)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(expression, marks=marks, id=expression)


@pytest.mark.parametrize("case", list(_type_cases()))
def test_duckdb_types_are_sparks(
    spark_answers: dict[str, Any],
    spark_results: dict[str, Any],
    con: duckdb.DuckDBPyConnection,
    case: str,
) -> None:
    if case in QUERIES:
        query = QUERIES[case][0]
        spark_types = list(spark_results[WRITTEN][case][1].types)
    else:
        query = f"SELECT {case}"
        value, spark_type = answer(spark_answers[WRITTEN], case)
        spark_types = [spark_type]
    duck_types = list(duckdb_schema(con, query).types)
    if case not in QUERIES and value is None and duck_types == [pa.null()]:
        return  # DuckDB folds a constant NULL (concat('a', NULL)) to an untyped NULL
    assert [comparable(t) for t in duck_types] == [comparable(t) for t in spark_types]


# ------------------------------------ test_spark_semantics.py's project, on Spark

# The types lakestory infers for the columns of people.csv that read.schema leaves out.
PEOPLE_TYPES = {"id": "INT", "left_on": "DATE", "ratio": "DOUBLE"}


@pytest.fixture(scope="module")
def semantics_tables(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    """The tables of test_spark_semantics.py's project, its SQL run by Spark on its CSV."""
    import yaml
    from pyspark.sql.types import StringType, StructField, StructType

    csv = tmp_path_factory.mktemp("people") / "people.csv"
    csv.write_text(semantics.PEOPLE, encoding="utf-8")
    names = semantics.PEOPLE.splitlines()[0].split(",")
    raw = spark.read.schema(StructType([StructField(n, StringType()) for n in names]))
    people = raw.option("header", True).csv(str(csv))
    people.selectExpr(
        *(f"CAST({n} AS {PEOPLE_TYPES[n]}) AS {n}" if n in PEOPLE_TYPES else n for n in names)
    ).createOrReplaceTempView("df")
    nodes = yaml.safe_load(semantics.PROJECT)["pipelines"][0]["nodes"]
    tables = {}
    for node in nodes:  # facts reads df, totals reads facts
        frame = spark.sql(node["transform"]["steps"][0]["sql"])
        frame.createOrReplaceTempView(node["name"])
        tables[node["name"]] = frame.toArrow()
    return tables


SEMANTIC_CHECKS = [
    name
    for name in vars(semantics)
    if name.startswith("test_") and name != "test_result_types_match_spark"
]


@pytest.mark.parametrize("check", SEMANTIC_CHECKS)
def test_semantics_project_on_spark(semantics_tables: dict[str, pa.Table], check: str) -> None:
    """Its expectations hold on Spark, including those DuckDB fails (marked xfail there)."""
    getattr(semantics, check)(semantics_tables)


@pytest.mark.parametrize(
    "case", [getattr(c, "values", c) for c in semantics.SPARK_TYPES], ids=lambda c: c[1]
)
def test_semantics_project_types_on_spark(
    semantics_tables: dict[str, pa.Table], case: tuple[str, str, pa.DataType]
) -> None:
    table, column, spark_type = case
    assert semantics_tables[table].schema.field(column).type == spark_type
