"""The Spark SQL front end: parsing, table references, and Spark answers on DuckDB.

Expected values are Spark's answers with ``spark.sql.ansi.enabled=false`` and the session time
zone UTC; tests/integration/test_spark_reference.py checks every case in the module-level
lists (CASTS ... QUERIES, DIFFERENCES) against a real Spark 4.3. Queries here run on DuckDB
with the engine's settings. DIFFERENCES pins the known gaps ("DIFFERS FROM SPARK") so a
change in one is noticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from lakestory.core.errors import SqlError
from lakestory.transforms.sql import ParsedSql, TableRef, parse_spark_sql, to_dialect


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    connection.execute("SET default_null_order='nulls_first_on_asc_last_on_desc'")
    yield connection
    connection.close()


def rows(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    tables: dict[tuple[str | None, str], str] | None = None,
) -> list[tuple[Any, ...]]:
    return con.execute(to_dialect(parse_spark_sql(sql), tables or {})).fetchall()


def value(con: duckdb.DuckDBPyConnection, expression: str) -> Any:
    return rows(con, f"SELECT {expression}")[0][0]


def check(con: duckdb.DuckDBPyConnection, expression: str, expected: Any) -> None:
    actual = value(con, expression)
    # The type matters too: DATE must not come back as TIMESTAMP, DECIMAL not as DOUBLE.
    assert (type(actual), actual) == (type(expected), expected), expression


# --------------------------------------------------------------------------- casts

CASTS = [
    # Spark rounds HALF_UP when narrowing a decimal string.
    ("CAST('12.345' AS DECIMAL(10,2))", Decimal("12.35")),
    ("CAST('-12.345' AS DECIMAL(10,2))", Decimal("-12.35")),
    # A DOUBLE goes through its shortest decimal text, half up (not the binary 1.00499...).
    ("CAST(1.005D AS DECIMAL(10,2))", Decimal("1.01")),
    ("CAST(264.025D AS DECIMAL(10,2))", Decimal("264.03")),
    ("CAST(CAST(-2.675 AS DOUBLE) AS DECIMAL(10,2))", Decimal("-2.68")),
    ("CAST(1e-7D AS DECIMAL(10,2))", Decimal("0.00")),
    ("CAST(1.5e20D AS DECIMAL(10,2))", None),
    ("CAST(CAST(2.5 AS FLOAT) AS DECIMAL(10,0))", Decimal("3")),
    ("CAST(7 AS DECIMAL(10,2))", Decimal("7.00")),
    # Non-ANSI: overflow and unparsable input are NULL, not errors.
    ("CAST('123456789012' AS DECIMAL(10,2))", None),
    ("CAST('abc' AS INT)", None),
    ("CAST('99999999999' AS INT)", None),
    # Spark truncates toward zero when casting to an integral type (DuckDB alone rounds).
    ("CAST('3.7' AS INT)", 3),
    ("CAST('-3.7' AS INT)", -3),
    ("CAST(3.7 AS INT)", 3),
    ("CAST(-3.7D AS BIGINT)", -3),
    ("CAST(CAST('2.9' AS DOUBLE) AS SMALLINT)", 2),
    ("CAST(' 12 ' AS INT)", 12),  # Spark trims whitespace
    ("CAST('9223372036854775807' AS BIGINT)", 9223372036854775807),
    ("CAST(true AS INT)", 1),
    ("CAST(7 AS BIGINT)", 7),
    ("CAST('2024-01-15' AS DATE)", date(2024, 1, 15)),
    ("CAST('2024-02-30' AS DATE)", None),
    ("CAST('yes' AS BOOLEAN)", True),
]


@pytest.mark.parametrize(("expression", "expected"), CASTS)
def test_casts(con: duckdb.DuckDBPyConnection, expression: str, expected: Any) -> None:
    check(con, expression, expected)


# ----------------------------------------------------------------- dates and times

DATES = [
    ("TO_DATE('2024-01-15')", date(2024, 1, 15)),
    ("TO_DATE('2024-01-15 10:11:12')", date(2024, 1, 15)),  # without a format: cast rules
    ("TO_DATE('garbage')", None),
    ("TO_DATE('2024-01-15', 'yyyy-MM-dd')", date(2024, 1, 15)),
    ("TO_DATE('15/01/2024', 'dd/MM/yyyy')", date(2024, 1, 15)),
    ("TO_DATE('20240115', 'yyyyMMdd')", date(2024, 1, 15)),
    ("TO_DATE('15.01.2024', 'dd.MM.yyyy')", date(2024, 1, 15)),
    ("TO_DATE('garbage', 'yyyy-MM-dd')", None),
    ("TO_DATE('2024-01-15', 'dd/MM/yyyy')", None),
    # With a pattern, Spark 4 (timeParserPolicy CORRECTED) wants the text exactly: MM and dd
    # are two digits, M and d one or two, nothing before or after; else NULL. (Spark 3.5
    # raised SparkUpgradeException for '2024-1-5' with 'yyyy-MM-dd'.)
    ("TO_DATE('2024-1-5', 'yyyy-MM-dd')", None),
    ("TO_DATE('2024-01-15 10:00:00', 'yyyy-MM-dd')", None),
    ("TO_DATE(' 2024-01-15', 'yyyy-MM-dd')", None),
    ("TO_DATE('2024-1-5 10:00:00', 'yyyy-MM-dd HH:mm:ss')", None),
    ("TO_DATE('2024-01-05 10:00:00', 'yyyy-MM-dd HH:mm:ss')", date(2024, 1, 5)),
    ("TO_DATE('5/1/2024', 'd/M/yyyy')", date(2024, 1, 5)),
    ("TO_DATE('05/01/2024', 'd/M/yyyy')", date(2024, 1, 5)),
    ("TO_DATE('2024-Jan-05', 'yyyy-MMM-dd')", date(2024, 1, 5)),
    ("TO_DATE('2024-01-05T10', 'yyyy-MM-dd''T''HH')", date(2024, 1, 5)),  # quoted text
    ("TO_DATE('2024-01-05 at 10', 'yyyy-MM-dd \\'at\\' HH')", date(2024, 1, 5)),
    # datediff(end, start) is end - start in days, after casting both to DATE.
    ("DATEDIFF('2024-01-10', '2024-01-01')", 9),
    ("DATEDIFF(DATE'2024-01-01', DATE'2024-01-10')", -9),
    ("DATEDIFF('2024-03-01 23:59:59', '2024-02-28 00:00:00')", 2),
    ("DATEDIFF('garbage', '2024-01-01')", None),
    ("YEAR('2024-03-05')", 2024),
    ("MONTH(DATE'2024-03-05')", 3),
    ("DAYOFMONTH('2024-03-05')", 5),
    ("YEAR('garbage')", None),
    ("HOUR('2024-01-05 10:11:12')", 10),
    ("MINUTE(TIMESTAMP'2024-01-05 10:11:12')", 11),
    ("SECOND('2024-01-05 10:11:12')", 12),
    ("HOUR('garbage')", None),
    # extract/date_part: INT, except SECOND, a DECIMAL(8, 6) with the fraction; DOW counts
    # from Sunday = 1 like dayofweek.
    ("EXTRACT(MONTH FROM DATE'2024-01-05')", 1),
    ("date_part('year', DATE'2024-01-05')", 2024),
    ("EXTRACT(SECOND FROM TIMESTAMP'2024-01-05 10:11:12.345')", Decimal("12.345000")),
    ("EXTRACT(DOW FROM DATE'2024-01-05')", 6),
    ("EXTRACT(DAYOFWEEK FROM DATE'2024-01-05')", 6),
    # dayofweek: 1 = Sunday .. 7 = Saturday; weekday: 0 = Monday .. 6 = Sunday.
    ("DAYOFWEEK('2024-03-03')", 1),
    ("DAYOFWEEK(DATE'2024-03-09')", 7),
    ("WEEKDAY('2024-03-03')", 6),
    ("WEEKDAY(DATE'2024-03-04')", 0),
    ("DATE_FORMAT(DATE'2024-03-05', 'yyyy-MM')", "2024-03"),
    ("DATE_FORMAT(TIMESTAMP'2024-03-05 13:04:05', 'yyyy-MM-dd HH:mm:ss')", "2024-03-05 13:04:05"),
    # date_add/date_sub/add_months/last_day return DATE and accept date strings.
    ("DATE_ADD('2024-03-05', 3)", date(2024, 3, 8)),
    ("DATE_ADD(DATE'2024-02-28', 1)", date(2024, 2, 29)),
    ("DATE_SUB(DATE'2024-03-05', 3)", date(2024, 3, 2)),
    ("ADD_MONTHS('2024-01-31', 1)", date(2024, 2, 29)),
    ("ADD_MONTHS(DATE'2024-02-29', 1)", date(2024, 3, 29)),  # Spark 3: no last-day snapping
    ("ADD_MONTHS(DATE'2024-03-31', -1)", date(2024, 2, 29)),
    ("LAST_DAY('2024-02-10')", date(2024, 2, 29)),
    # trunc(date, fmt) is a DATE, takes 'MM'/'YY' spellings, NULL for units it does not know.
    ("trunc(DATE'2024-03-15', 'MM')", date(2024, 3, 1)),
    ("trunc('2024-03-15', 'year')", date(2024, 1, 1)),
    ("trunc(DATE'2024-03-15', 'YY')", date(2024, 1, 1)),
    ("trunc(TIMESTAMP'2024-05-15 10:00:00', 'QUARTER')", date(2024, 4, 1)),
    ("trunc(DATE'2024-03-15', 'day')", None),
    # to_timestamp returns a TIMESTAMP (an instant); NULL when unparsable.
    (
        "DATE_FORMAT(TO_TIMESTAMP('2024-03-05 13:04:05'), 'yyyy-MM-dd HH:mm:ss')",
        "2024-03-05 13:04:05",
    ),
    (
        "DATE_FORMAT(TO_TIMESTAMP('05/03/2024 13:04', 'dd/MM/yyyy HH:mm'), 'yyyy-MM-dd HH:mm:ss')",
        "2024-03-05 13:04:00",
    ),
    ("TO_TIMESTAMP('2024-03-05 13:04:05')", datetime(2024, 3, 5, 13, 4, 5, tzinfo=UTC)),
    ("TO_TIMESTAMP('garbage') IS NULL", True),
    ("TO_TIMESTAMP('garbage', 'yyyy-MM-dd') IS NULL", True),
    ("TO_TIMESTAMP('2024-1-5 10:00', 'yyyy-MM-dd HH:mm') IS NULL", True),
    # SSS parses one to three digits of a fraction and prints three.
    (
        "DATE_FORMAT(TO_TIMESTAMP('2024-01-05 10:11:12.5', 'yyyy-MM-dd HH:mm:ss.SSS'), 'ss.SSS')",
        "12.500",
    ),
    ("TO_TIMESTAMP('2024-01-05 10:11:12.5000', 'yyyy-MM-dd HH:mm:ss.SSS') IS NULL", True),
    (
        "DATE_FORMAT(TIMESTAMP'2024-01-05 13:02:03.345', 'yyyy-MM-dd''T''HH:mm:ss.SSS')",
        "2024-01-05T13:02:03.345",
    ),
    (
        "DATE_FORMAT(TIMESTAMP'2024-01-05 13:02:03', 'h:mm a, EEE d MMM yy')",
        "1:02 PM, Fri 5 Jan 24",
    ),
    ("DATE_FORMAT(CAST('2024-01-15 10:11:12' AS TIMESTAMP), 'HH:mm')", "10:11"),
    # from_utc_timestamp(t, zone): the instant whose UTC reading is t's wall time in zone;
    # to_utc_timestamp the other way round. Daylight saving time counts.
    (
        "from_utc_timestamp(TIMESTAMP'2024-01-05 10:00:00', 'Europe/Paris')",
        datetime(2024, 1, 5, 11, 0, tzinfo=UTC),
    ),
    (
        "from_utc_timestamp('2024-07-01 10:00:00', 'Europe/Paris')",
        datetime(2024, 7, 1, 12, 0, tzinfo=UTC),
    ),
    (
        "to_utc_timestamp(TIMESTAMP'2024-01-05 10:00:00', 'America/New_York')",
        datetime(2024, 1, 5, 15, 0, tzinfo=UTC),
    ),
    (
        "to_utc_timestamp('2024-07-01 10:00:00', 'America/New_York')",
        datetime(2024, 7, 1, 14, 0, tzinfo=UTC),
    ),
    (
        "CAST(from_utc_timestamp(TIMESTAMP'2024-01-05 23:30:00', 'Europe/Paris') AS DATE)",
        date(2024, 1, 6),
    ),
    # Clocks going back: 02:30 happens twice in Paris on 2026-10-25; to_utc_timestamp takes
    # the first (summer time, +02:00). Both instants read 02:30 in Paris.
    (
        "to_utc_timestamp(TIMESTAMP'2026-10-25 02:30:00', 'Europe/Paris')",
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    ),
    (
        "to_utc_timestamp('2026-10-25 02:00:00', 'Europe/Paris')",
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
    ),
    (
        "to_utc_timestamp(TIMESTAMP'2026-10-25 03:00:00', 'Europe/Paris')",
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
    ),
    (
        "to_utc_timestamp(TIMESTAMP'2026-11-01 01:30:00', 'America/New_York')",
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    ),
    (  # Lord Howe Island's clocks go back 30 minutes
        "to_utc_timestamp(TIMESTAMP'2026-04-05 01:45:00', 'Australia/Lord_Howe')",
        datetime(2026, 4, 4, 14, 45, tzinfo=UTC),
    ),
    (
        "from_utc_timestamp(TIMESTAMP'2026-10-25 00:30:00', 'Europe/Paris')",
        datetime(2026, 10, 25, 2, 30, tzinfo=UTC),
    ),
    (
        "from_utc_timestamp(TIMESTAMP'2026-10-25 01:30:00', 'Europe/Paris')",
        datetime(2026, 10, 25, 2, 30, tzinfo=UTC),
    ),
    # Clocks going forward: 02:30 never happens in Paris on 2026-03-29; it is moved forward
    # by the gap (03:30, +02:00).
    (
        "to_utc_timestamp(TIMESTAMP'2026-03-29 02:30:00', 'Europe/Paris')",
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    ),
    (
        "to_utc_timestamp(TIMESTAMP'2026-03-08 02:30:00', 'America/New_York')",
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
    ),
    (
        "from_utc_timestamp(TIMESTAMP'2026-03-29 01:30:00', 'Europe/Paris')",
        datetime(2026, 3, 29, 3, 30, tzinfo=UTC),
    ),
    # A zone may be an offset.
    (
        "to_utc_timestamp(TIMESTAMP'2026-10-25 02:30:00', '+02:00')",
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    ),
    (
        "from_utc_timestamp(TIMESTAMP'2026-10-25 02:30:00', '-05:30')",
        datetime(2026, 10, 24, 21, 0, tzinfo=UTC),
    ),
    # unix_timestamp: whole seconds as BIGINT (session time zone UTC), NULL when unparsable.
    ("UNIX_TIMESTAMP('2024-03-05 13:04:05')", 1709643845),
    ("UNIX_TIMESTAMP('2024/03/05', 'yyyy/MM/dd')", 1709596800),
    ("UNIX_TIMESTAMP('garbage')", None),
    ("UNIX_TIMESTAMP('2024-1-5 10:00:00')", None),  # the default pattern is strict too
    ("TO_UNIX_TIMESTAMP('2024-01-01', 'yyyy-MM-dd')", 1704067200),
    # A TIMESTAMP or DATE is read as it is (a pattern is ignored). Whole seconds are
    # truncated toward zero, also before 1970. Columns: see QUERIES.
    ("UNIX_TIMESTAMP(TIMESTAMP'2024-03-05 13:04:05.999')", 1709643845),
    ("UNIX_TIMESTAMP(TIMESTAMP'2024-03-05 13:04:05', 'yyyy-MM-dd')", 1709643845),
    ("UNIX_TIMESTAMP(TIMESTAMP'1969-12-31 23:59:59.5')", 0),
    ("UNIX_TIMESTAMP('1969-12-31 23:59:58.5', 'yyyy-MM-dd HH:mm:ss.S')", -1),
    ("UNIX_TIMESTAMP(DATE'2024-03-05')", 1709596800),
    ("UNIX_TIMESTAMP(CAST('2024-03-05 13:04:05' AS TIMESTAMP_NTZ))", 1709643845),
    ("UNIX_TIMESTAMP(CAST(NULL AS TIMESTAMP))", None),
    ("TO_UNIX_TIMESTAMP(TIMESTAMP'2024-03-05 13:04:05')", 1709643845),
    ("TO_UNIX_TIMESTAMP(DATE'2024-03-05', 'yyyy')", 1709596800),
    ("UNIX_TIMESTAMP(CURRENT_TIMESTAMP()) = UNIX_TIMESTAMP()", True),
    # months_between: whole months plus the day difference over 31, rounded to 8 decimals
    # unless the third argument is false.
    ("months_between(DATE'2024-03-15', DATE'2024-01-01')", 2.4516129),
    ("months_between(DATE'2024-03-15', DATE'2024-01-01', false)", 2.4516129032258065),
    ("months_between(DATE'2024-03-31', DATE'2024-02-29')", 1.0),  # both last days
    ("UNIX_TIMESTAMP() > 1700000000", True),
    # current_timestamp() is an instant; under TimeZone='UTC' its date is current_date().
    ("CAST(CURRENT_TIMESTAMP() AS DATE) = CURRENT_DATE()", True),
    ("CAST(NOW() AS DATE) = CURRENT_DATE", True),
]


@pytest.mark.parametrize(("expression", "expected"), DATES)
def test_dates_and_times(con: duckdb.DuckDBPyConnection, expression: str, expected: Any) -> None:
    check(con, expression, expected)


# -------------------------------------------------------------------- arithmetic

ARITHMETIC = [
    # `/` is always fractional division in Spark; x / 0 is NULL when ANSI is off.
    ("7 / 2", 3.5),
    ("1 / 4", 0.25),
    ("7 / 0", None),
    # `div` truncates toward zero to a BIGINT; x div 0 is NULL.
    ("7 div 2", 3),
    ("-7 div 2", -3),
    ("7 div 0", None),
    ("-7.5 div 2", -3),
    ("0.3 div 0.1", 3),
    ("(1 + 6) div 2", 3),
    ("1 + 6 div 2", 4),
    # `%` keeps the dividend's sign; x % 0 is NULL.
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("7 % 0", None),
    ("-7.5 % 2", Decimal("-1.5")),
    # round is HALF_UP (away from zero) for decimals and doubles.
    ("round(2.5)", Decimal("3")),
    ("round(-2.5)", Decimal("-3")),
    ("round(2.345, 2)", Decimal("2.35")),
    ("round(2.5D)", 3.0),
    ("round(-2.5D)", -3.0),
    ("round(0.125D, 2)", 0.13),
    ("abs(-4)", 4),
    ("sign(-3)", -1.0),  # signum is a DOUBLE
    ("ceil(2.5)", Decimal("3")),
    ("floor(-2.5)", Decimal("-3")),
    ("greatest(1, NULL, 3)", 3),
]


@pytest.mark.parametrize(("expression", "expected"), ARITHMETIC)
def test_arithmetic(con: duckdb.DuckDBPyConnection, expression: str, expected: Any) -> None:
    check(con, expression, expected)


# ----------------------------------------------------------------------- strings

STRINGS = [
    # Any NULL argument makes `||` and concat() NULL; concat_ws skips NULLs.
    ("'a' || NULL", None),
    ("concat('a', NULL, 'b')", None),
    ("concat('a', 'b', 'c')", "abc"),
    ("concat(1, 'a')", "1a"),
    ("concat_ws('-', 'a', NULL, 'b')", "a-b"),
    # substring is 1-based; start 0 counts as 1, negative counts from the end, negative
    # length gives ''.
    ("substring('hello', 1, 2)", "he"),
    ("substring('hello', 0, 2)", "he"),
    ("substring('hello', -3)", "llo"),
    ("substring('hello', -3, 2)", "ll"),
    ("substring('hello', -7, 3)", "h"),
    ("substring('hello', 2, -1)", ""),
    ("substring('hello', 10)", ""),
    ("substr('hello', 2)", "ello"),
    ("instr('hello', 'l')", 3),
    ("instr('hello', 'z')", 0),
    ("lower('AbC')", "abc"),
    ("upper('abc')", "ABC"),
    ("trim('  x  ')", "x"),
    ("ltrim('  x ')", "x "),
    ("rtrim(' x  ')", " x"),
    ("lpad('7', 3, '0')", "007"),
    ("rpad('7', 3, '0')", "700"),
    ("lpad('12345', 3, '0')", "123"),
    ("length('hello')", 5),
    ("locate('l', 'hello')", 3),
    ("regexp_replace('a1b22c', '[0-9]+', 'X')", "aXbXc"),
    # format_string and printf take printf patterns.
    ("format_string('%05d', 7)", "00007"),
    ("printf('%s-%d', 'a', 1)", "a-1"),
    # split takes a regex and keeps trailing empty strings (limit -1); size(NULL) is -1.
    ("split('a,b,c', ',')", ["a", "b", "c"]),
    ("split('a,b,', ',')", ["a", "b", ""]),
    ("split('a1b22c', '[0-9]+')", ["a", "b", "c"]),
    ("size(split('a,b,c', ','))", 3),
    ("size(CAST(NULL AS ARRAY<STRING>))", -1),
    # Literals: a doubled quote is one quote (Spark 4; in 3.5 'it''s' was 'it' 's'), literals
    # with a space between them concatenate, backslash escapes, double quotes delimit strings.
    ("'it''s'", "it's"),
    ("'it' 's'", "its"),
    ("''''", "'"),
    ("'it\\'s'", "it's"),
    ("'a\\tb'", "a\tb"),
    ("'a\\\\b'", "a\\b"),
    ("'\\u0041'", "A"),
    ('"dq"', "dq"),
    ('"a""b"', 'a"b'),
    # get_json_object: a string without its quotes; numbers, booleans, objects and arrays
    # as compact JSON text (a double as Java prints it: 1.50 is 1.5, 1e2 is 100.0); NULL
    # for JSON null, a missing key or index, and for text that is not JSON.
    ("""get_json_object('{"a": {"b": [10, {"c": "x"}]}}', '$.a.b[1].c')""", "x"),
    (
        """get_json_object('{"a": {"b" : 1.50, "c": [1, 2e2, true, null, "x"]}}', '$.a')""",
        '{"b":1.5,"c":[1,200.0,true,null,"x"]}',
    ),
    ("""get_json_object('{"a": [10, 20]}', '$.a')""", "[10,20]"),
    ("""get_json_object('{"a": [10, 20]}', '$.a[1]')""", "20"),
    ("""get_json_object('[1, 2]', '$[0]')""", "1"),
    ("""get_json_object('{"a": 1}', '$')""", '{"a":1}'),
    ("""get_json_object('{"a b": 1}', '$[''a b'']')""", "1"),
    (r"""get_json_object('{"a": "x\\"y \\u00e9"}', '$.a')""", 'x"y é'),
    (r"""get_json_object('{"a": {"b": "x\\"y"}}', '$.a')""", '{"b":"x\\"y"}'),
    ("""get_json_object('{"a": 1.0}', '$.a')""", "1.0"),
    ("""get_json_object('{"a": 12345678901234567890}', '$.a')""", "12345678901234567890"),
    ("""get_json_object('{"a": true}', '$.a')""", "true"),
    ("""get_json_object('{"a": null}', '$.a')""", None),
    ("""get_json_object('{"a": "x"}', '$.b')""", None),
    ("""get_json_object('{"a": [10, 20]}', '$.a[5]')""", None),
    ("""get_json_object('{"a": [10, 20]}', '$.a[-1]')""", None),
    ("""get_json_object('{"a": 1, "a": 2}', '$.a')""", "1"),
    ("""get_json_object('{"A": 1}', '$.a')""", None),
    ("get_json_object('not json', '$.a')", None),
    ("""get_json_object('{"a": 1', '$.a')""", None),
    ("get_json_object('', '$.a')", None),
    ("""get_json_object('{"a": 1}', 'a')""", None),  # a path starts with $
]


@pytest.mark.parametrize(("expression", "expected"), STRINGS)
def test_strings(con: duckdb.DuckDBPyConnection, expression: str, expected: Any) -> None:
    check(con, expression, expected)


CONDITIONALS = [
    ("coalesce(NULL, 1)", 1),
    ("nvl(NULL, 2)", 2),
    ("ifnull(NULL, 3)", 3),
    ("nvl2(NULL, 1, 2)", 2),
    ("nullif(1, 1)", None),
    ("if(1 > 0, 'y', 'n')", "y"),
    ("CASE WHEN 1 > 2 THEN 'a' WHEN 2 > 1 THEN 'b' ELSE 'c' END", "b"),
    ("CASE WHEN CAST(NULL AS BOOLEAN) THEN 'a' END", None),  # a NULL condition is not true
    ("CASE WHEN NULL = 1 THEN 'a' ELSE 'b' END", "b"),
]


@pytest.mark.parametrize(("expression", "expected"), CONDITIONALS)
def test_conditionals(con: duckdb.DuckDBPyConnection, expression: str, expected: Any) -> None:
    check(con, expression, expected)


# An answer that is an error whose message holds this text.
@dataclass(frozen=True)
class Refused:
    error_class: str


# Known gaps, DIFFERS FROM SPARK: (expression, Spark's answer, DuckDB's answer). The DuckDB
# answer is pinned here, Spark's in tests/integration/test_spark_reference.py. Most come from
# types: a column's type is not known when the SQL is translated.
DIFFERENCES = [
    # A Spark TIMESTAMP is DuckDB's TIMESTAMPTZ, whose text carries the offset. Use
    # date_format for a fixed layout.
    (
        "CAST(CAST('2024-01-15 10:11:12' AS TIMESTAMP) AS STRING)",
        "2024-01-15 10:11:12",
        "2024-01-15 10:11:12+00",
    ),
    # Spark rounds a double through its shortest decimal text (BigDecimal("1.005")), DuckDB
    # the binary value 1.00499...; a column's type is not known when the SQL is translated.
    # (CAST to DECIMAL asks DuckDB for the type at planning time: see CASTS.)
    ("round(1.005D, 2)", 1.01, 1.0),
    # Spark 4 refuses an untyped NULL as a condition (Spark 3.5 read it as false); DuckDB
    # reads it as false.
    ("CASE WHEN NULL THEN 'a' END", Refused("DATATYPE_MISMATCH"), None),
    # ceil/floor of a DOUBLE are BIGINT in Spark, DOUBLE on DuckDB (of a DECIMAL both agree).
    ("ceil(2.5D)", 3, 3.0),
    ("floor(-2.5D)", -3, -3.0),
    # Dividing decimals gives a DECIMAL rounded to Spark's scale (6 here); DuckDB a DOUBLE.
    ("CAST(10 AS DECIMAL(10,2)) / 3", Decimal("3.333333"), 3.3333333333333335),
    ("7 / 2.0", Decimal("3.500000"), 3.5),
    # Java prints large and small doubles in scientific notation.
    ("CAST(1e10D AS STRING)", "1.0E10", "10000000000.0"),
    # Spark trims before casting to BOOLEAN, and reads no exponent when casting to INT.
    ("CAST('  true ' AS BOOLEAN)", True, None),
    ("CAST('1e3' AS INT)", None, 1000),
    # Non-ANSI Spark wraps INT overflow and saturates a DOUBLE cast to BIGINT; DuckDB raises
    # on the overflow and gives NULL for the cast.
    ("2147483647 + 1", -2147483648, Refused("Overflow in addition")),
    ("CAST(1e20 AS BIGINT)", 9223372036854775807, None),
    ("make_date(2024, 2, 30)", None, Refused("Date out of range")),
    # months_between counts the time of day too; DuckDB's counts whole days.
    (
        "months_between(TIMESTAMP'2024-03-15 12:00:00', TIMESTAMP'2024-01-01 00:00:00')",
        2.46774194,
        2.4516129,
    ),
    # DATE - DATE is a day-time INTERVAL in Spark; DuckDB counts days (datediff agrees).
    ("DATE'2024-01-05' - DATE'2024-01-01'", timedelta(days=4), 4),
    # array_distinct keeps the first occurrences in order; DuckDB's list_distinct does not.
    ("array_distinct(array(1, 1, 2))", [1, 2], [2, 1]),
    # get_json_object prints a double as Java does; DuckDB in plain notation.
    ("""get_json_object('{"a": 123456789.125}', '$.a')""", "1.23456789125E8", "123456789.125"),
    ("""get_json_object('{"a": 1.5e-7}', '$.a')""", "1.5E-7", "1.5e-7"),
    # A path with [*] gives JSON text in Spark (one match unwrapped); a list on DuckDB.
    ("""get_json_object('{"a": [{"b": 1}, {"b": 2}]}', '$.a[*].b')""", "[1,2]", ["1", "2"]),
    # Spark's JSON parser (Jackson) reads single quotes, stops after the value (text after
    # it is not read) and refuses trailing commas and NaN; DuckDB's the other way round.
    ("""get_json_object('{''a'': 1}', '$.a')""", "1", None),
    ("""get_json_object('{"a": 1} trailing', '$.a')""", "1", None),
    ("""get_json_object('{"a": 1,}', '$.a')""", None, "1"),
    ("""get_json_object('{"a": NaN}', '$.a')""", None, "NaN"),
]


@pytest.mark.parametrize(("expression", "spark", "duckdb_answer"), DIFFERENCES)
def test_differs_from_spark(
    con: duckdb.DuckDBPyConnection, expression: str, spark: Any, duckdb_answer: Any
) -> None:
    if isinstance(duckdb_answer, Refused):
        with pytest.raises(duckdb.Error, match=duckdb_answer.error_class):
            value(con, expression)
    else:
        check(con, expression, duckdb_answer)


# --------------------------------------------------------------- queries over rows

ORDERS = """
WITH orders AS (
  SELECT * FROM VALUES (1, 'a', 10), (2, 'a', NULL), (3, 'b', 5), (4, 'b', 5), (5, 'c', -2)
    AS t(id, cust, amount)
),
customers AS (SELECT * FROM VALUES ('a', 'Ann'), ('b', 'Bob') AS t(id, name))
"""


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


RAISE_NEGATIVE = "SELECT CASE WHEN x < 0 THEN raise_error(concat('negative: ', x)) ELSE x END"

# (name, query, Spark's rows)
QUERIES = [
    (
        "date_add_with_column_days",
        "SELECT date_add(d, n), date_add(CAST(d AS DATE), n)"
        " FROM VALUES ('2024-03-05', 3), ('2024-03-05', -1) AS t(d, n)",
        [(date(2024, 3, 8), date(2024, 3, 8)), (date(2024, 3, 4), date(2024, 3, 4))],
    ),
    # count_if is a BIGINT, 0 when no row matches or there are no rows (DuckDB's: NULL then).
    (
        "count_if_over_no_rows",
        "SELECT count_if(x > 1) FROM VALUES (1), (2) AS t(x) WHERE x > 5",
        [(0,)],
    ),
    ("count_if", "SELECT count_if(x > 1) FROM VALUES (1), (2), (3) AS t(x)", [(2,)]),
    # percentile interpolates; percentile_approx is a value of the column (exact on few rows).
    (
        "percentiles",
        "SELECT percentile(x, 0.5), percentile_approx(x, 0.5), median(x)"
        " FROM VALUES (1), (2), (10), (11) AS t(x)",
        [(6.0, 2, 6.0)],
    ),
    ("raise_error_not_reached", f"{RAISE_NEGATIVE} FROM VALUES (1), (2) AS t(x)", [(1,), (2,)]),
    # unix_timestamp of a TIMESTAMP or DATE column reads it as it is; of a text column it
    # parses (a column's type is not known when the SQL is translated).
    (
        "unix_timestamp_of_columns",
        "SELECT unix_timestamp(ts), to_unix_timestamp(ts), unix_timestamp(ts, 'yyyy'),"
        " unix_timestamp(d), unix_timestamp(s), unix_timestamp(s, 'dd/MM/yyyy HH:mm:ss')"
        " FROM VALUES (TIMESTAMP'2024-03-05 13:04:05.5', DATE'2024-03-05', '2024-03-05 13:04:05'),"
        " (TIMESTAMP'1969-12-31 23:59:59.5', DATE'1969-12-31', '05/03/2024 13:04:05'),"
        " (NULL, NULL, NULL) AS t(ts, d, s)",
        [
            (1709643845, 1709643845, 1709643845, 1709596800, 1709643845, None),
            (0, 0, 0, -86400, None, 1709643845),
            (None, None, None, None, None, None),
        ],
    ),
    # A wall time that occurs twice (01:30 in New York on 2026-11-01) is the first of the
    # two; one that never occurs (02:30 in Paris on 2026-03-29) is moved forward.
    (
        "to_utc_timestamp_of_columns_around_clock_changes",
        "SELECT id, to_utc_timestamp(wall, zone),"
        " from_utc_timestamp(to_utc_timestamp(wall, zone), zone)"
        " FROM VALUES (1, TIMESTAMP'2026-10-25 02:30:00', 'Europe/Paris'),"
        " (2, TIMESTAMP'2026-10-25 03:30:00', 'Europe/Paris'),"
        " (3, TIMESTAMP'2026-03-29 02:30:00', 'Europe/Paris'),"
        " (4, TIMESTAMP'2026-11-01 01:30:00', 'America/New_York'),"
        " (5, TIMESTAMP'2026-07-01 12:00:00', 'Asia/Kolkata'),"
        " (6, TIMESTAMP'2026-07-01 12:00:00', '+05:30') AS t(id, wall, zone) ORDER BY id",
        [
            (
                1,
                _utc(2026, 10, 25, 0, 30),
                _utc(2026, 10, 25, 2, 30),
            ),
            (
                2,
                _utc(2026, 10, 25, 2, 30),
                _utc(2026, 10, 25, 3, 30),
            ),
            (3, _utc(2026, 3, 29, 1, 30), _utc(2026, 3, 29, 3, 30)),
            (4, _utc(2026, 11, 1, 5, 30), _utc(2026, 11, 1, 1, 30)),
            (5, _utc(2026, 7, 1, 6, 30), _utc(2026, 7, 1, 12, 0)),
            (6, _utc(2026, 7, 1, 6, 30), _utc(2026, 7, 1, 12, 0)),
        ],
    ),
    # A row whose text is not JSON gives NULL; the query goes on.
    (
        "get_json_object_of_a_column_with_text_that_is_not_json",
        """SELECT id, get_json_object(j, '$.a.b'), get_json_object(j, '$.a.b[0]')"""
        """ FROM VALUES (1, '{"a": {"b": [1, 2]}}'), (2, 'not json'), (3, NULL),"""
        """ (4, '{"a": {"b": "x"}}'), (5, '{"a": ') AS t(id, j) ORDER BY id""",
        [(1, "[1,2]", "1"), (2, None, None), (3, None, None), (4, "x", None), (5, None, None)],
    ),
    ("backtick_identifiers", "SELECT `my col` + 1 AS `out` FROM (SELECT 1 AS `my col`)", [(2,)]),
    # COUNT(col) and the aggregates skip NULLs; HAVING may use a select-list alias.
    (
        "group_by_having_alias",
        f"""{ORDERS}
        SELECT cust, COUNT(*) AS n, COUNT(amount) AS n_amount, COUNT(DISTINCT amount) AS n_distinct,
               SUM(amount) AS total, AVG(amount) AS mean, MIN(amount) AS lo, MAX(amount) AS hi
        FROM orders GROUP BY cust HAVING total > 0 ORDER BY cust
        """,
        [("a", 2, 1, 1, 10, 10.0, 10, 10), ("b", 2, 2, 1, 10, 5.0, 5, 5)],
    ),
    (
        "left_join_keeps_unmatched_rows",
        f"{ORDERS} SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON o.cust = c.id"
        " ORDER BY o.id",
        [(1, "Ann"), (2, "Ann"), (3, "Bob"), (4, "Bob"), (5, None)],
    ),
    # NULLs come first ascending, last descending.
    (
        "null_ordering_asc",
        f"{ORDERS} SELECT amount FROM orders ORDER BY amount",
        [(None,), (-2,), (5,), (5,), (10,)],
    ),
    (
        "null_ordering_desc",
        f"{ORDERS} SELECT amount FROM orders ORDER BY amount DESC",
        [(10,), (5,), (5,), (-2,), (None,)],
    ),
    # The NULL amount (id 2) sorts last descending and first ascending.
    (
        "window_row_number",
        f"""{ORDERS}
        SELECT id,
               ROW_NUMBER() OVER (PARTITION BY cust ORDER BY amount DESC, id) AS rn_desc,
               ROW_NUMBER() OVER (PARTITION BY cust ORDER BY amount, id) AS rn_asc
        FROM orders ORDER BY id
        """,
        [(1, 1, 2), (2, 2, 1), (3, 1, 1), (4, 2, 2), (5, 1, 1)],
    ),
]

# (query, the message its error holds)
FAILURES = [(f"{RAISE_NEGATIVE} FROM VALUES (1), (-2) AS t(x)", "negative: -2")]


@pytest.mark.parametrize(
    ("query", "expected"), [case[1:] for case in QUERIES], ids=[case[0] for case in QUERIES]
)
def test_queries(
    con: duckdb.DuckDBPyConnection, query: str, expected: list[tuple[Any, ...]]
) -> None:
    got = rows(con, query)
    assert [[(type(v), v) for v in row] for row in got] == [
        [(type(v), v) for v in row] for row in expected
    ]


@pytest.mark.parametrize(("query", "message"), FAILURES)
def test_raise_error_fails_the_query(
    con: duckdb.DuckDBPyConnection, query: str, message: str
) -> None:
    with pytest.raises(duckdb.Error, match=message):
        rows(con, query)


# ------------------------------------------------------------------ parse errors


def test_syntax_error_reports_line_and_column() -> None:
    sql = "SELECT id,\n       amount\nFROM orders WHERE amount = = 1"
    with pytest.raises(SqlError) as caught:
        parse_spark_sql(sql)
    error = caught.value
    assert error.what.startswith("SQL syntax error: ")
    assert (error.where.line, error.where.column) == (3, 28)
    assert error.detail is not None
    *context, caret = error.detail.splitlines()
    assert context[-1].endswith("FROM orders WHERE amount = = 1")
    assert context[0].endswith("SELECT id,")
    # The caret sits under the second "=".
    line_text = context[-1]
    assert caret.index("^") == line_text.index("FROM") + 27


@pytest.mark.parametrize(
    ("sql", "line", "column", "what"),
    [
        ("SELECT a\nFROM t\nWHERE name = 'abc", 3, 14, "unterminated string"),
        ("SELECT a\nFROM t\nWHERE `my col = 1", 3, 7, "unterminated quoted identifier"),
        ("SELECT a /* note\nFROM t", 1, 10, "unterminated comment"),
        ("SELECT 'it\\'s' AS a,\n  'b", 2, 3, "unterminated string"),
        ("SELECT 'it''s\nFROM t", 1, 8, "unterminated string"),  # '' is a quote inside
        ("SELECT 'a''' AS x, 'b", 1, 20, "unterminated string"),
        ("SELECT a\nFROM t\nWHERE (x = 1", 3, 12, "SQL syntax error"),
        ("SELECT a FROM t WHER x = 1", 1, 22, "SQL syntax error"),
    ],
)
def test_syntax_error_positions(sql: str, line: int, column: int, what: str) -> None:
    with pytest.raises(SqlError) as caught:
        parse_spark_sql(sql)
    assert what in caught.value.what
    assert (caught.value.where.line, caught.value.where.column) == (line, column)


def test_misspelt_keyword_gets_a_hint() -> None:
    with pytest.raises(SqlError) as caught:
        parse_spark_sql("SELECT a FROM t WHER x = 1")
    assert caught.value.hint == "did you mean 'WHERE'?"
    with pytest.raises(SqlError) as caught:
        parse_spark_sql("SELEC a FROM t")
    assert caught.value.hint == "did you mean 'SELECT'?"


def test_several_statements_are_an_error() -> None:
    with pytest.raises(SqlError) as caught:
        parse_spark_sql("SELECT 1;\n  SELECT 2")
    assert "2 statements" in caught.value.what
    assert (caught.value.where.line, caught.value.where.column) == (2, 3)


def test_trailing_semicolons_are_fine() -> None:
    assert parse_spark_sql("SELECT 1 ; ;").expression.sql() == "SELECT 1"


@pytest.mark.parametrize("sql", ["", "   \n", " ; ", "-- nothing here\n"])
def test_empty_sql_is_an_error(sql: str) -> None:
    with pytest.raises(SqlError, match="empty"):
        parse_spark_sql(sql)


def test_only_queries_are_accepted() -> None:
    with pytest.raises(SqlError, match="SELECT query, not INSERT"):
        parse_spark_sql("INSERT INTO t SELECT 1")


# -------------------------------------------------------------------- table refs


def refs(sql: str) -> list[tuple[str | None, str]]:
    return [(ref.qualifier, ref.name) for ref in parse_spark_sql(sql).table_refs]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM orders", [(None, "orders")]),
        (
            "SELECT * FROM silver.orders o JOIN gold.customers c ON o.cid = c.id",
            [("silver", "orders"), ("gold", "customers")],
        ),
        ("SELECT * FROM spark_catalog.silver.orders", [("spark_catalog.silver", "orders")]),
        ("WITH recent AS (SELECT * FROM orders) SELECT * FROM recent", [(None, "orders")]),
        (
            "WITH a AS (SELECT * FROM t), b AS (SELECT * FROM a) SELECT * FROM b JOIN A ON 1 = 1",
            [(None, "t")],
        ),
        # A CTE body sees only earlier CTEs, so this reads the table orders.
        ("WITH orders AS (SELECT * FROM orders) SELECT * FROM orders", [(None, "orders")]),
        # A qualified name is never a CTE.
        ("WITH orders AS (SELECT 1) SELECT * FROM silver.orders", [("silver", "orders")]),
        (
            "SELECT * FROM orders WHERE cid IN (SELECT id FROM customers)"
            " AND EXISTS (SELECT 1 FROM (SELECT * FROM returns) r)",
            [(None, "orders"), (None, "customers"), (None, "returns")],
        ),
        (
            "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s JOIN x ON 1 = 1",
            [(None, "x")],
        ),
        # Deduplicated case-insensitively; the first spelling is kept.
        (
            "SELECT * FROM Orders a JOIN ORDERS b ON a.id = b.id JOIN silver.orders c"
            " ON 1 = 1 JOIN SILVER.Orders d ON 1 = 1",
            [(None, "Orders"), ("silver", "orders")],
        ),
        ("SELECT * FROM `my table`", [(None, "my table")]),
        ("SELECT * FROM VALUES (1) AS t(x)", []),
        ("SELECT * FROM range(3)", []),
        ("SELECT 1 + 1", []),
    ],
)
def test_table_refs(sql: str, expected: list[tuple[str | None, str]]) -> None:
    assert refs(sql) == expected


def test_table_ref_positions() -> None:
    parsed = parse_spark_sql("SELECT *\nFROM\n  silver.orders o\n  JOIN customers c ON 1 = 1")
    assert parsed.table_refs == (
        TableRef(name="orders", qualifier="silver", line=3, column=3),
        TableRef(name="customers", qualifier=None, line=4, column=8),
    )


def test_parsed_keeps_the_text() -> None:
    text = "SELECT id\nFROM orders"
    parsed = parse_spark_sql(text)
    assert isinstance(parsed, ParsedSql)
    assert parsed.text == text


# -------------------------------------------------------------------- to_dialect


@pytest.mark.parametrize(
    ("sql", "tables", "expected"),
    [
        ("SELECT o.id FROM orders o", {(None, "orders"): "ls_x"}, 'SELECT o.id FROM "ls_x" AS o'),
        (
            "SELECT orders.id FROM orders",
            {(None, "orders"): "ls_x"},
            'SELECT orders.id FROM "ls_x" AS orders',
        ),
        (
            "SELECT silver.orders.id FROM silver.orders",
            {("SILVER", "Orders"): "ls_x"},
            'SELECT orders.id FROM "ls_x" AS orders',
        ),
        (
            "SELECT * FROM `my table`",
            {(None, "MY TABLE"): "ls_x"},
            'SELECT * FROM "ls_x" AS "my table"',
        ),
        ("SELECT * FROM other", {(None, "orders"): "ls_x"}, "SELECT * FROM other"),
        # silver.orders and orders are different references.
        ("SELECT * FROM silver.orders", {(None, "orders"): "ls_x"}, "SELECT * FROM silver.orders"),
        (
            "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent",
            {(None, "orders"): "ls_x", (None, "recent"): "ls_y"},
            'WITH recent AS (SELECT * FROM "ls_x" AS orders) SELECT * FROM recent',
        ),
    ],
)
def test_to_dialect_replaces_tables(
    sql: str, tables: dict[tuple[str | None, str], str], expected: str
) -> None:
    assert to_dialect(parse_spark_sql(sql), tables) == expected


def test_to_dialect_runs_against_physical_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TABLE ls_orders_v1 AS SELECT * FROM range(1, 5) t(id)")
    con.execute("CREATE OR REPLACE TABLE ls_cust_v3 AS SELECT 2 AS id, 'Bob' AS name")
    tables = {("silver", "orders"): "ls_orders_v1", (None, "customers"): "ls_cust_v3"}
    sql = """
    WITH orders AS (SELECT * FROM silver.orders WHERE silver.orders.id > 1)
    SELECT orders.id, customers.name FROM orders
    LEFT JOIN customers ON orders.id = customers.id
    ORDER BY orders.id
    """
    assert rows(con, sql, tables) == [(2, "Bob"), (3, None), (4, None)]


def test_to_dialect_leaves_the_parsed_query_alone() -> None:
    parsed = parse_spark_sql("SELECT CAST(x AS INT) FROM orders")
    before = parsed.expression.sql(dialect="spark")
    first = to_dialect(parsed, {(None, "orders"): "ls_x"})
    assert to_dialect(parsed, {(None, "orders"): "ls_x"}) == first
    assert parsed.expression.sql(dialect="spark") == before


def test_to_dialect_spark_keeps_spark_sql() -> None:
    parsed = parse_spark_sql("SELECT o.id, o.id div 2 FROM silver.orders o")
    out = to_dialect(parsed, {("silver", "orders"): "ls_x"}, dialect="spark")
    assert out == "SELECT o.id, o.id DIV 2 FROM `ls_x` AS o"


@pytest.mark.parametrize("function", ["hash", "xxhash64", "HASH"])
def test_functions_with_spark_only_values_are_refused(function: str) -> None:
    with pytest.raises(SqlError, match=r"other engines cannot reproduce") as err:
        parse_spark_sql(f"SELECT id,\n  {function}(id) AS key FROM t")
    assert (err.value.where.line, err.value.where.column) == (2, 3)
    assert "md5" in (err.value.hint or "")
