"""Each built-in transformer's Spark SQL, its param errors, the registry and the CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from lakestory.cli.app import app
from lakestory.transforms.sql import parse_spark_sql
from lakestory.transforms.transformers import (
    REGISTRY,
    describe_error,
    ident,
    literal,
    spec_of,
    transformer,
)

SQL = {
    "rename": (
        {"columns": {"a": "b"}},
        "SELECT * EXCEPT (`a`), `a` AS `b` FROM df",
    ),
    "select": ({"columns": ["a", "b c"]}, "SELECT `a`, `b c` FROM df"),
    "drop": ({"columns": ["a"]}, "SELECT * EXCEPT (`a`) FROM df"),
    "cast": (
        {"columns": {"a": "decimal(10,2)"}},
        "SELECT * EXCEPT (`a`), CAST(`a` AS decimal(10,2)) AS `a` FROM df",
    ),
    "fill_nulls": (
        {"values": {"a": "it's", "n": 0}},
        "SELECT * EXCEPT (`a`, `n`), coalesce(`a`, 'it\\'s') AS `a`, coalesce(`n`, 0) AS `n` "
        "FROM df",
    ),
    "filter": ({"condition": "a > 1"}, "SELECT * FROM df WHERE a > 1"),
    "deduplicate": (
        {"keys": ["id"], "order_by": "v"},
        "SELECT * EXCEPT (`__lakestory_rn`) FROM (SELECT *, row_number() OVER (PARTITION BY "
        "`id` ORDER BY `v` DESC) AS `__lakestory_rn` FROM df) AS d WHERE `__lakestory_rn` = 1",
    ),
    "derive": ({"columns": {"t": "a * b"}}, "SELECT *, a * b AS `t` FROM df"),
    "case_when": (
        {"column": "s", "cases": [{"when": "a > 1", "then": "big"}]},
        "SELECT *, CASE WHEN a > 1 THEN 'big' ELSE NULL END AS `s` FROM df",
    ),
    "trim": (
        {"columns": ["a"], "case": "lower", "empty_as_null": True},
        "SELECT * EXCEPT (`a`), nullif(lower(trim(`a`)), '') AS `a` FROM df",
    ),
    "coalesce": (
        {"column": "c", "columns": ["a", "b"]},
        "SELECT *, coalesce(`a`, `b`) AS `c` FROM df",
    ),
    "concat": (
        {"column": "c", "columns": ["a", "b"], "separator": " "},
        "SELECT *, concat_ws(' ', CAST(`a` AS string), CAST(`b` AS string)) AS `c` FROM df",
    ),
    "hash_columns": (
        {"columns": ["e"]},
        "SELECT * EXCEPT (`e`), sha2(CAST(`e` AS string), 256) AS `e` FROM df",
    ),
    "surrogate_key": (
        {"column": "k", "columns": ["a", "b"]},
        "SELECT *, sha2(concat_ws('||', coalesce(CAST(`a` AS string), ''), "
        "coalesce(CAST(`b` AS string), '')), 256) AS `k` FROM df",
    ),
    "regex_replace": (
        {"column": "p", "pattern": "\\d+"},
        "SELECT * EXCEPT (`p`), regexp_replace(`p`, '\\\\d+', '') AS `p` FROM df",
    ),
    "date_parts": (
        {"column": "d", "parts": ["year", "dayofweek"]},
        "SELECT *, year(`d`) AS `d_year`, dayofweek(`d`) AS `d_dayofweek` FROM df",
    ),
    "date_trunc": (
        {"column": "t", "unit": "month"},
        "SELECT * EXCEPT (`t`), date_trunc('month', `t`) AS `t` FROM df",
    ),
    "date_add": (
        {"column": "d", "days": -3, "to": "e"},
        "SELECT *, date_add(`d`, -3) AS `e` FROM df",
    ),
    "date_diff": (
        {"end": "b", "start": "a", "to": "n"},
        "SELECT *, datediff(`b`, `a`) AS `n` FROM df",
    ),
    "union": (
        {"nodes": ["x", "p.y"], "distinct": True},
        "SELECT * FROM df UNION SELECT * FROM `x` UNION SELECT * FROM `p`.`y`",
    ),
    "join": (
        {"node": "c", "keys": ["k"]},
        "SELECT coalesce(l.`k`, r.`k`) AS `k`, l.* EXCEPT (`k`), r.* EXCEPT (`k`) "
        "FROM df AS l INNER JOIN `c` AS r ON l.`k` = r.`k`",
    ),
    "split": (
        {"column": "p", "delimiter": "."},
        "SELECT * EXCEPT (`p`), split(`p`, '\\\\.') AS `p` FROM df",
    ),
    "convert_time_zone": (
        {"column": "t", "from_tz": "Europe/Paris", "to_tz": "UTC"},
        "SELECT * EXCEPT (`t`), to_utc_timestamp(CAST(`t` AS timestamp), 'Europe/Paris') AS `t` "
        "FROM df",
    ),
    "pivot": (
        {"column": "m", "values": ["a", 1], "aggregate": "count"},
        "SELECT * EXCEPT (`m`), count(CASE WHEN `m` = 'a' THEN 1 END) AS `a`, "
        "count(CASE WHEN `m` = 1 THEN 1 END) AS `1` FROM df GROUP BY ALL",
    ),
    "explode": (
        {"column": "a", "outer": True},
        "SELECT * EXCEPT (`a`), explode(CASE WHEN coalesce(size(`a`), 0) > 0 THEN `a` "
        "ELSE array(NULL) END) AS `a` FROM df",
    ),
    "flatten_struct": ({"column": "s"}, "SELECT * EXCEPT (`s`), `s`.* FROM df"),
    "parse_json": (
        {
            "column": "j",
            "fields": {"n": "int", "s": "string"},
            "paths": {"s": "$.a[0]"},
            "keep": True,
        },
        "SELECT *, CAST(get_json_object(`j`, '$.n') AS int) AS `n`, "
        "get_json_object(`j`, '$.a[0]') AS `s` FROM df",
    ),
    "window": (
        {
            "columns": {"r": "rank()", "m": "avg(x)", "p": " LAG (x, 2)"},
            "partition_by": ["g"],
            "order_by": ["t desc", "id"],
            "frame": "rows between 1 preceding and current row",
        },
        "SELECT *, rank() OVER (PARTITION BY `g` ORDER BY `t` DESC, `id`) AS `r`, avg(x) OVER "
        "(PARTITION BY `g` ORDER BY `t` DESC, `id` rows between 1 preceding and current row) "
        "AS `m`,  LAG (x, 2) OVER (PARTITION BY `g` ORDER BY `t` DESC, `id`) AS `p` FROM df",
    ),
    "sessionize": (
        {"keys": ["u"], "timestamp": "t", "gap_minutes": 0.5, "column": "s"},
        "SELECT * EXCEPT (`__lakestory_new`), CAST(sum(`__lakestory_new`) OVER (PARTITION BY "
        "`u` ORDER BY `t` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS bigint) AS `s` "
        "FROM (SELECT *, CASE WHEN lag(`t`) OVER (PARTITION BY `u` ORDER BY `t`) IS NULL OR "
        "unix_micros(CAST(`t` AS timestamp)) - unix_micros(CAST(lag(`t`) OVER (PARTITION BY "
        "`u` ORDER BY `t`) AS timestamp)) > 30000000 THEN 1 ELSE 0 END AS `__lakestory_new` "
        "FROM df) AS s",
    ),
}

# builders that need df's columns: (params, input columns, SQL)
WITH_COLUMNS = {
    "normalize_column_names": (
        {},
        ["Customer ID", "aB", "a_b", "A b", "9x", "x"],
        "SELECT `Customer ID` AS `customer_id`, `aB` AS `a_b_2`, `a_b`, `A b` AS `a_b_3`, "
        "`9x` AS `_9x`, `x` FROM df",
    ),
    "unpivot": (
        {"ids": ["k"]},
        ["k", "a", "b"],
        "SELECT * FROM (SELECT `k`, `a`, `b` FROM df) AS u UNPIVOT (`value` FOR `name` IN "
        "(`a`, `b`))",
    ),
}


def test_every_built_in_is_covered_here() -> None:
    assert set(SQL) | set(WITH_COLUMNS) == set(REGISTRY)
    assert {n for n, s in REGISTRY.items() if s.columns is not None} == set(WITH_COLUMNS)


@pytest.mark.parametrize("name", sorted(WITH_COLUMNS))
def test_a_transformer_builds_its_sql_from_the_columns_of_df(name: str) -> None:
    params, columns, sql = WITH_COLUMNS[name]
    assert REGISTRY[name].sql(params, columns) == sql
    parse_spark_sql(sql)


@pytest.mark.parametrize(
    ("params", "columns", "sql"),
    [
        (
            {"case": "upper", "separator": ""},
            ["orderID", "e-mail"],
            "`orderID` AS `ORDERID`, `e-mail` AS `EMAIL`",
        ),
        (
            {"case": "keep", "split_camel_case": False},
            ["Order ID", "HTTPServer"],
            "`Order ID` AS `Order_ID`, `HTTPServer`",
        ),
        (
            {},
            ["HTTPServer", "  lead  ", "a__b"],
            "`HTTPServer` AS `http_server`, `  lead  ` AS `lead`, `a__b` AS `a_b`",
        ),
    ],
)
def test_normalized_names(params: dict[str, Any], columns: list[str], sql: str) -> None:
    assert REGISTRY["normalize_column_names"].sql(params, columns) == f"SELECT {sql} FROM df"


def test_unpivot_of_listed_columns_keeps_every_other_column() -> None:
    sql = REGISTRY["unpivot"].sql({"columns": ["a"], "include_nulls": True}, ["k", "a", "b"])
    assert sql == "SELECT * FROM df AS u UNPIVOT INCLUDE NULLS (`value` FOR `name` IN (`a`))"


def test_split_into_columns_and_a_regex() -> None:
    sql = REGISTRY["split"].sql(
        {"column": "p", "delimiter": "[;,]", "regex": True, "into": ["a", "b"]}
    )
    assert sql == "SELECT *, split(`p`, '[;,]')[0] AS `a`, split(`p`, '[;,]')[1] AS `b` FROM df"


def test_pivot_by_listed_groups_and_convert_from_utc() -> None:
    sql = REGISTRY["pivot"].sql(
        {"group_by": ["s"], "column": "m", "values": ["x"], "value": "v", "prefix": "p_"}
    )
    assert sql == "SELECT `s`, sum(CASE WHEN `m` = 'x' THEN `v` END) AS `p_x` FROM df GROUP BY `s`"
    sql = REGISTRY["convert_time_zone"].sql({"column": "t", "to_tz": "Asia/Tokyo", "to": "u"})
    assert (
        sql == "SELECT *, from_utc_timestamp(CAST(`t` AS timestamp), 'Asia/Tokyo') AS `u` FROM df"
    )


@pytest.mark.parametrize("name", sorted(SQL))
def test_a_transformer_builds_this_spark_sql(name: str) -> None:
    params, sql = SQL[name]
    assert REGISTRY[name].sql(params) == sql
    parse_spark_sql(sql)  # what it builds is Spark SQL lakestory can transpile


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_example_is_valid_and_parses(name: str) -> None:
    spec = REGISTRY[name]
    assert spec.summary
    parse_spark_sql(spec.sql(spec.example))


@pytest.mark.parametrize(
    ("name", "params", "message", "hint"),
    [
        ("select", {"colums": ["a"]}, "colums: unknown param", "did you mean 'columns'?"),
        ("select", {}, "columns: missing param", ""),
        ("select", {"columns": []}, "columns: List should have at least 1 item", ""),
        ("cast", {"columns": {"a": "varchar"}}, "columns: 'varchar' (column 'a') is not a", ""),
        ("join", {"node": "c", "keys": ["k"], "how": "cross"}, "how: Input should be", ""),
        ("date_parts", {"column": "d", "parts": ["week"]}, "parts.0: Input should be", ""),
        (
            "convert_time_zone",
            {"column": "t", "to_tz": "Mars/Olympus"},
            "to_tz: 'Mars/Olympus' is not an IANA time zone",
            "",
        ),
        ("pivot", {"column": "m", "values": ["a"]}, "`value` is needed to sum", ""),
        ("pivot", {"column": "m", "values": [], "value": "v"}, "values: List should have", ""),
        ("unpivot", {"name": "k"}, "give `columns` (to unpivot) or `ids`", ""),
        ("split", {"column": "p", "delimiter": ",", "into": ["a"], "to": "b"}, "not both", ""),
        ("parse_json", {"column": "j", "fields": {"a": "map"}}, "fields: 'map' (column 'a')", ""),
        ("parse_json", {"column": "j", "fields": {"a b": "int"}}, "give the JSON path of", ""),
        (
            "parse_json",
            {"column": "j", "fields": {"a": "int"}, "paths": {"a": "a.b"}},
            "is not a path like",
            "",
        ),
        ("window", {"columns": {"r": "rank()"}, "frame": "last 3"}, "frame: a frame reads", ""),
        (
            "sessionize",
            {"keys": ["u"], "timestamp": "t", "gap_minutes": 0},
            "gap_minutes: Input should be greater than 0",
            "",
        ),
        ("normalize_column_names", {"separator": "-"}, "separator: String should match", ""),
    ],
)
def test_bad_params_say_which_param_and_why(
    name: str, params: dict[str, Any], message: str, hint: str
) -> None:
    spec = REGISTRY[name]
    with pytest.raises(ValidationError) as info:
        spec.sql(params)
    what, key, got_hint = describe_error(info.value, spec.params)
    assert message in what
    # a problem of one param names it; one of several params together names none
    assert key == (message.split(".")[0].split(":")[0] if ":" in message else None)
    assert got_hint == hint


def test_identifiers_and_literals_are_quoted() -> None:
    assert ident("we`ird") == "`we``ird`"
    assert literal("a'b\\c") == "'a\\'b\\\\c'"
    assert [literal(v) for v in (None, True, 3, 1.5)] == ["NULL", "TRUE", "3", "1.5"]


def test_a_user_transformer_is_marked_but_not_a_built_in() -> None:
    class Col(BaseModel):
        column: str

    @transformer(Col, {"column": "a"})
    def double(p: Col) -> str:
        """Double a column."""
        return f"SELECT *, {ident(p.column)} * 2 AS x FROM df"

    spec = spec_of(double)
    assert spec is not None and spec.name == "double" and spec.summary == "Double a column."
    assert spec.sql({"column": "a"}) == "SELECT *, `a` * 2 AS x FROM df"
    assert "double" not in REGISTRY
    assert spec_of(len) is None


def test_list_transformers_shows_every_built_in() -> None:
    result = CliRunner().invoke(app, ["list", "transformers"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()[: len(REGISTRY)]]
    assert names == list(REGISTRY)
    as_json = json.loads(CliRunner().invoke(app, ["list", "transformers", "-f", "json"]).stdout)
    assert [t["name"] for t in as_json] == list(REGISTRY)


def test_explain_shows_params_an_example_and_the_sql() -> None:
    result = CliRunner().invoke(app, ["explain", "deduplicate"])
    assert result.exit_code == 0
    out = result.stdout
    assert "keys (list[str], required): columns that identify a row" in out
    assert "- transformer: deduplicate" in out and "order_by: updated_at" in out
    assert "row_number() OVER (PARTITION BY `id` ORDER BY `updated_at` DESC)" in out
    data = json.loads(CliRunner().invoke(app, ["explain", "join", "--format", "json"]).stdout)
    assert data["example"] == {"transformer": "join", "params": REGISTRY["join"].example}


def test_explain_an_unknown_name_suggests_one() -> None:
    result = CliRunner().invoke(app, ["explain", "dedupe"])
    assert result.exit_code == 2
    assert "unknown transformer or pattern 'dedupe'" in result.stderr
    assert "did you mean 'deduplicate'?" in result.stderr
