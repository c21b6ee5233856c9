"""Every built-in transformer gives the same table on every engine.

Each case is (transformer, params, input rows, expected rows): the input is a Spark SQL
``VALUES`` table made by a ``sql:`` step, the transformer the node's second step, and the
table written is compared with the expected rows (sorted, unless a case says the order
matters; timestamps as UTC wall-clock times, floats within a tolerance). All the cases of an
engine run as the nodes of one project in one ``lakestory run``: Spark starts once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from lakestory.transforms.transformers import REGISTRY

ENGINES = ["duckdb", "pandas", "polars", "spark"]
Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Case:
    id: str
    transformer: str
    params: dict[str, Any]
    input: str  # Spark SQL: `VALUES (...), (...) AS t(columns)`
    expected: list[dict[str, Any]]  # the rows written, columns in order
    others: dict[str, str] = field(default_factory=dict)  # more nodes: name -> VALUES


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


PEOPLE = "VALUES (1, ' Ann ', 'a@x.io'), (2, NULL, ''), (3, 'bob', NULL) AS t(id, name, email)"
ORDERS = (
    "VALUES (1, 'paid', 3, 2.5), (1, 'shipped', 4, 2.5), (2, 'void', 0, 9.0) "
    "AS t(id, status, qty, price)"
)
DAYS = (
    "VALUES (1, DATE '2026-01-31', TIMESTAMP '2026-05-17 13:45:10'), "
    "(2, DATE '2024-02-29', TIMESTAMP '2024-12-31 23:59:59') AS t(id, d, at)"
)
SALES = (
    "VALUES ('s1', 'jan', 10), ('s1', 'jan', 5), ('s1', 'feb', 7), ('s2', 'feb', 1), "
    "('s2', 'mar', 4) AS t(store, month, sales)"
)
WIDE = "VALUES ('s1', 10, 7), ('s2', NULL, 1) AS t(store, jan, feb)"
# Europe/Paris: clocks go forward at 02:00 on 2026-03-29 and back at 03:00 on 2026-10-25
PARIS = (
    "VALUES (1, TIMESTAMP '2026-03-29 01:30:00'), (2, TIMESTAMP '2026-03-29 03:30:00'), "
    "(3, TIMESTAMP '2026-10-25 02:30:00'), (4, TIMESTAMP '2026-10-25 03:30:00'), "
    "(5, TIMESTAMP '2026-03-29 02:30:00'), (6, CAST(NULL AS TIMESTAMP)) AS t(id, local)"
)
UTC_TIMES = (
    "VALUES (1, TIMESTAMP '2026-03-29 00:30:00'), (2, TIMESTAMP '2026-03-29 01:30:00'), "
    "(3, TIMESTAMP '2026-10-25 00:30:00'), (4, TIMESTAMP '2026-10-25 01:30:00') AS t(id, at)"
)
EVENTS = (
    "VALUES ('u1', TIMESTAMP '2026-01-01 10:00:00'), ('u1', TIMESTAMP '2026-01-01 10:20:00'), "
    "('u1', TIMESTAMP '2026-01-01 10:50:01'), ('u1', TIMESTAMP '2026-01-01 11:10:00'), "
    "('u2', TIMESTAMP '2026-01-01 10:05:00'), ('u2', TIMESTAMP '2026-01-02 10:05:00') "
    "AS t(user_id, at)"
)

CASES = [
    Case(
        "rename",
        "rename",
        {"columns": {"name": "full_name"}},
        PEOPLE,
        [
            {"id": 1, "email": "a@x.io", "full_name": " Ann "},
            {"id": 2, "email": "", "full_name": None},
            {"id": 3, "email": None, "full_name": "bob"},
        ],
    ),
    Case(
        "select",
        "select",
        {"columns": ["email", "id"]},
        PEOPLE,
        [{"email": "a@x.io", "id": 1}, {"email": "", "id": 2}, {"email": None, "id": 3}],
    ),
    Case(
        "drop",
        "drop",
        {"columns": ["name", "email"]},
        PEOPLE,
        [{"id": 1}, {"id": 2}, {"id": 3}],
    ),
    Case(
        "cast",
        "cast",
        {"columns": {"v": "int", "amount": "decimal(10,2)", "d": "date"}},
        "VALUES (1, '7.9', '2.345', '2026-02-03'), (2, 'x', NULL, 'no') AS t(id, v, amount, d)",
        [
            {"id": 1, "v": 7, "amount": Decimal("2.35"), "d": date(2026, 2, 3)},
            {"id": 2, "v": None, "amount": None, "d": None},
        ],
    ),
    Case(
        "fill_nulls",
        "fill_nulls",
        {"values": {"name": "?", "email": "none"}},
        PEOPLE,
        [
            {"id": 1, "name": " Ann ", "email": "a@x.io"},
            {"id": 2, "name": "?", "email": ""},
            {"id": 3, "name": "bob", "email": "none"},
        ],
    ),
    Case(
        "filter",
        "filter",
        {"condition": "qty > 0 AND status <> 'void'"},
        ORDERS,
        [
            {"id": 1, "status": "paid", "qty": 3, "price": Decimal("2.5")},
            {"id": 1, "status": "shipped", "qty": 4, "price": Decimal("2.5")},
        ],
    ),
    Case(
        "deduplicate",
        "deduplicate",
        {"keys": ["id"], "order_by": "qty"},
        ORDERS,
        [
            {"id": 1, "status": "shipped", "qty": 4, "price": Decimal("2.5")},
            {"id": 2, "status": "void", "qty": 0, "price": Decimal("9.0")},
        ],
    ),
    Case(
        "derive",
        "derive",
        {"columns": {"total": "qty * price", "big": "qty >= 4"}},
        ORDERS,
        [
            {
                "id": 1,
                "status": "paid",
                "qty": 3,
                "price": Decimal("2.5"),
                "total": 7.5,
                "big": False,
            },
            {
                "id": 1,
                "status": "shipped",
                "qty": 4,
                "price": Decimal("2.5"),
                "total": 10,
                "big": True,
            },
            {
                "id": 2,
                "status": "void",
                "qty": 0,
                "price": Decimal("9.0"),
                "total": 0,
                "big": False,
            },
        ],
    ),
    Case(
        "case_when",
        "case_when",
        {
            "column": "size",
            "cases": [{"when": "qty >= 4", "then": "large"}, {"when": "qty > 0", "then": "small"}],
            "default": "none",
        },
        ORDERS,
        [
            {"id": 1, "status": "paid", "qty": 3, "price": Decimal("2.5"), "size": "small"},
            {"id": 1, "status": "shipped", "qty": 4, "price": Decimal("2.5"), "size": "large"},
            {"id": 2, "status": "void", "qty": 0, "price": Decimal("9.0"), "size": "none"},
        ],
    ),
    Case(
        "trim",
        "trim",
        {"columns": ["name", "email"], "case": "upper", "empty_as_null": True},
        PEOPLE,
        [
            {"id": 1, "name": "ANN", "email": "A@X.IO"},
            {"id": 2, "name": None, "email": None},
            {"id": 3, "name": "BOB", "email": None},
        ],
    ),
    Case(
        "coalesce",
        "coalesce",
        {"column": "contact", "columns": ["email", "name"]},
        PEOPLE,
        [
            {"id": 1, "name": " Ann ", "email": "a@x.io", "contact": "a@x.io"},
            {"id": 2, "name": None, "email": "", "contact": ""},
            {"id": 3, "name": "bob", "email": None, "contact": "bob"},
        ],
    ),
    Case(
        "concat",
        "concat",
        {"column": "label", "columns": ["id", "name", "email"], "separator": "|"},
        PEOPLE,
        [
            {"id": 1, "name": " Ann ", "email": "a@x.io", "label": "1| Ann |a@x.io"},
            {"id": 2, "name": None, "email": "", "label": "2|"},
            {"id": 3, "name": "bob", "email": None, "label": "3|bob"},
        ],
    ),
    Case(
        "hash_columns",
        "hash_columns",
        {"columns": ["email"]},
        PEOPLE,
        [
            {"id": 1, "name": " Ann ", "email": sha("a@x.io")},
            {"id": 2, "name": None, "email": sha("")},
            {"id": 3, "name": "bob", "email": None},
        ],
    ),
    Case(
        "surrogate_key",
        "surrogate_key",
        {"column": "key", "columns": ["id", "email"]},
        PEOPLE,
        [
            {"id": 1, "name": " Ann ", "email": "a@x.io", "key": sha("1||a@x.io")},
            {"id": 2, "name": None, "email": "", "key": sha("2||")},
            {"id": 3, "name": "bob", "email": None, "key": sha("3||")},
        ],
    ),
    Case(
        "regex_replace",
        "regex_replace",
        {"column": "email", "pattern": "[.@]", "replacement": "_"},
        PEOPLE,
        [
            {"id": 1, "name": " Ann ", "email": "a_x_io"},
            {"id": 2, "name": None, "email": ""},
            {"id": 3, "name": "bob", "email": None},
        ],
    ),
    Case(
        "date_parts",
        "date_parts",
        {"column": "at", "parts": ["year", "quarter", "month", "day", "dayofweek", "hour"]},
        DAYS,
        [
            {
                "id": 1,
                "d": date(2026, 1, 31),
                "at": ts("2026-05-17 13:45:10"),
                "at_year": 2026,
                "at_quarter": 2,
                "at_month": 5,
                "at_day": 17,
                "at_dayofweek": 1,  # Sunday
                "at_hour": 13,
            },
            {
                "id": 2,
                "d": date(2024, 2, 29),
                "at": ts("2024-12-31 23:59:59"),
                "at_year": 2024,
                "at_quarter": 4,
                "at_month": 12,
                "at_day": 31,
                "at_dayofweek": 3,  # Tuesday
                "at_hour": 23,
            },
        ],
    ),
    Case(
        "date_trunc",
        "date_trunc",
        {"column": "at", "unit": "quarter", "to": "q"},
        DAYS,
        [
            {
                "id": 1,
                "d": date(2026, 1, 31),
                "at": ts("2026-05-17 13:45:10"),
                "q": ts("2026-04-01"),
            },
            {
                "id": 2,
                "d": date(2024, 2, 29),
                "at": ts("2024-12-31 23:59:59"),
                "q": ts("2024-10-01"),
            },
        ],
    ),
    Case(
        "date_add",
        "date_add",
        {"column": "d", "days": 30},
        DAYS,
        [
            {"id": 1, "at": ts("2026-05-17 13:45:10"), "d": date(2026, 3, 2)},
            {"id": 2, "at": ts("2024-12-31 23:59:59"), "d": date(2024, 3, 30)},
        ],
    ),
    Case(
        "date_diff",
        "date_diff",
        {"end": "at", "start": "d", "to": "days"},
        DAYS,
        [
            {"id": 1, "d": date(2026, 1, 31), "at": ts("2026-05-17 13:45:10"), "days": 106},
            {"id": 2, "d": date(2024, 2, 29), "at": ts("2024-12-31 23:59:59"), "days": 306},
        ],
    ),
    Case(
        "union",
        "union",
        {"nodes": ["union_more"], "distinct": True},
        "VALUES (1, 'a'), (2, 'b') AS t(id, v)",
        [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}],
        others={"union_more": "VALUES (2, 'b'), (3, 'c') AS t(id, v)"},
    ),
    Case(
        "join",
        "join",
        {"node": "join_right", "keys": ["id"], "how": "full"},
        "VALUES (1, 'a'), (2, 'b') AS t(id, v)",
        [
            {"id": 1, "v": "a", "w": None},
            {"id": 2, "v": "b", "w": "x"},
            {"id": 3, "v": None, "w": "y"},
        ],
        others={"join_right": "VALUES (2, 'x'), (3, 'y') AS t(id, w)"},
    ),
    # ---- added with issue 9's second slice ----
    Case(
        "normalize_column_names",
        "normalize_column_names",
        {},
        "VALUES (1, 'a', 'b', 'c', 'd') AS t(`Customer ID`, `E-mail`, `orderID`, `e mail`, `2nd`)",
        [{"customer_id": 1, "e_mail": "a", "order_id": "b", "e_mail_2": "c", "_2nd": "d"}],
    ),
    Case(
        "split_into",
        "split",
        {"column": "path", "delimiter": ".", "into": ["a", "b", "c"]},
        "VALUES (1, 'x.y.z'), (2, 'x'), (3, NULL), (4, 'p..q') AS t(id, path)",
        [
            {"id": 1, "path": "x.y.z", "a": "x", "b": "y", "c": "z"},
            {"id": 2, "path": "x", "a": "x", "b": None, "c": None},
            {"id": 3, "path": None, "a": None, "b": None, "c": None},
            {"id": 4, "path": "p..q", "a": "p", "b": "", "c": "q"},
        ],
    ),
    Case(
        "split_array",
        "split",
        {"column": "tags", "delimiter": "\\s*;\\s*", "regex": True},
        "VALUES (1, 'a ; b;c'), (2, 'd') AS t(id, tags)",
        [{"id": 1, "tags": ["a", "b", "c"]}, {"id": 2, "tags": ["d"]}],
    ),
    Case(
        "convert_time_zone_dst",
        "convert_time_zone",
        {"column": "local", "from_tz": "Europe/Paris", "to_tz": "America/New_York", "to": "ny"},
        PARIS,
        [
            # 01:30 CET = 00:30 UTC; New York is on summer time since 8 March: 20:30 EDT
            {"id": 1, "local": ts("2026-03-29 01:30"), "ny": ts("2026-03-28 20:30")},
            {"id": 2, "local": ts("2026-03-29 03:30"), "ny": ts("2026-03-28 21:30")},  # CEST
            {"id": 3, "local": ts("2026-10-25 02:30"), "ny": ts("2026-10-24 20:30")},  # first
            {"id": 4, "local": ts("2026-10-25 03:30"), "ny": ts("2026-10-24 22:30")},  # CET
            {"id": 5, "local": ts("2026-03-29 02:30"), "ny": ts("2026-03-28 21:30")},  # gap
            {"id": 6, "local": None, "ny": None},
        ],
    ),
    Case(
        "convert_time_zone_from_utc",
        "convert_time_zone",
        {"column": "at", "to_tz": "Europe/Paris"},
        UTC_TIMES,
        [
            {"id": 1, "at": ts("2026-03-29 01:30")},
            {"id": 2, "at": ts("2026-03-29 03:30")},
            {"id": 3, "at": ts("2026-10-25 02:30")},
            {"id": 4, "at": ts("2026-10-25 02:30")},
        ],
    ),
    Case(
        "convert_time_zone_to_utc",
        "convert_time_zone",
        {"column": "local", "from_tz": "Europe/Paris", "to_tz": "UTC", "to": "utc"},
        PARIS,
        [
            {"id": 1, "local": ts("2026-03-29 01:30"), "utc": ts("2026-03-29 00:30")},
            {"id": 2, "local": ts("2026-03-29 03:30"), "utc": ts("2026-03-29 01:30")},
            {"id": 3, "local": ts("2026-10-25 02:30"), "utc": ts("2026-10-25 00:30")},
            {"id": 4, "local": ts("2026-10-25 03:30"), "utc": ts("2026-10-25 02:30")},
            {"id": 5, "local": ts("2026-03-29 02:30"), "utc": ts("2026-03-29 01:30")},
            {"id": 6, "local": None, "utc": None},
        ],
    ),
    Case(
        "pivot",
        "pivot",
        {
            "group_by": ["store"],
            "column": "month",
            "values": ["jan", "feb"],
            "value": "sales",
            "prefix": "sales_",
        },
        SALES,
        [
            {"store": "s1", "sales_jan": 15, "sales_feb": 7},
            {"store": "s2", "sales_jan": None, "sales_feb": 1},
        ],
    ),
    Case(
        "pivot_count_other_columns",
        "pivot",
        {"column": "month", "values": ["jan", "feb", "mar"], "aggregate": "count"},
        "VALUES ('s1', 'jan', 1), ('s1', 'jan', 2), ('s2', 'mar', 3) AS t(store, month, n)",
        [
            {"store": "s1", "n": 1, "jan": 1, "feb": 0, "mar": 0},
            {"store": "s1", "n": 2, "jan": 1, "feb": 0, "mar": 0},
            {"store": "s2", "n": 3, "jan": 0, "feb": 0, "mar": 1},
        ],
    ),
    Case(
        "unpivot",
        "unpivot",
        {"columns": ["jan", "feb"], "name": "month", "value": "sales"},
        WIDE,
        [
            {"store": "s1", "month": "jan", "sales": 10},
            {"store": "s1", "month": "feb", "sales": 7},
            {"store": "s2", "month": "feb", "sales": 1},
        ],
    ),
    Case(
        "unpivot_all_but_ids",
        "unpivot",
        {"ids": ["store"], "include_nulls": True},
        WIDE,
        [
            {"store": "s1", "name": "jan", "value": 10},
            {"store": "s1", "name": "feb", "value": 7},
            {"store": "s2", "name": "jan", "value": None},
            {"store": "s2", "name": "feb", "value": 1},
        ],
    ),
    Case(
        "window",
        "window",
        {
            "columns": {"n": "row_number()", "running": "sum(sales)", "before": "lag(sales)"},
            "partition_by": ["store"],
            "order_by": ["sales desc"],
            "frame": "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
        },
        SALES,
        [
            {"store": "s1", "month": "jan", "sales": 10, "n": 1, "running": 10, "before": None},
            {"store": "s1", "month": "feb", "sales": 7, "n": 2, "running": 17, "before": 10},
            {"store": "s1", "month": "jan", "sales": 5, "n": 3, "running": 22, "before": 7},
            {"store": "s2", "month": "mar", "sales": 4, "n": 1, "running": 4, "before": None},
            {"store": "s2", "month": "feb", "sales": 1, "n": 2, "running": 5, "before": 4},
        ],
    ),
    Case(
        "explode",
        "explode",
        {"column": "tags", "to": "tag"},
        "VALUES (1, array('a', 'b')), (2, CAST(array() AS array<string>)), "
        "(3, CAST(NULL AS array<string>)) AS t(id, tags)",
        [{"id": 1, "tags": ["a", "b"], "tag": "a"}, {"id": 1, "tags": ["a", "b"], "tag": "b"}],
    ),
    Case(
        "explode_outer",
        "explode",
        {"column": "tags", "outer": True},
        "VALUES (1, array('a', 'b')), (2, CAST(array() AS array<string>)), "
        "(3, CAST(NULL AS array<string>)) AS t(id, tags)",
        [
            {"id": 1, "tags": "a"},
            {"id": 1, "tags": "b"},
            {"id": 2, "tags": None},
            {"id": 3, "tags": None},
        ],
    ),
    Case(
        "flatten_struct",
        "flatten_struct",
        {"column": "address"},
        "VALUES (1, named_struct('city', 'Paris', 'zip', 75001)), "
        "(2, named_struct('city', 'Lyon', 'zip', 69001)) AS t(id, address)",
        [{"id": 1, "city": "Paris", "zip": 75001}, {"id": 2, "city": "Lyon", "zip": 69001}],
    ),
    Case(
        "parse_json",
        "parse_json",
        {
            "column": "payload",
            "fields": {"n": "int", "amount": "decimal(10,2)", "ok": "boolean", "city": "string"},
            "paths": {"city": "$.address.city"},
        },
        'VALUES (1, \'{"n": 3, "amount": 2.5, "ok": true, "address": {"city": "Oslo"}}\'), '
        "(2, '{\"n\": \"x\"}'), (3, '[]') AS t(id, payload)",
        [
            {"id": 1, "n": 3, "amount": Decimal("2.50"), "ok": True, "city": "Oslo"},
            {"id": 2, "n": None, "amount": None, "ok": None, "city": None},
            {"id": 3, "n": None, "amount": None, "ok": None, "city": None},
        ],
    ),
    Case(
        "sessionize",
        "sessionize",
        {"keys": ["user_id"], "timestamp": "at", "gap_minutes": 30},
        EVENTS,
        [
            {"user_id": "u1", "at": ts("2026-01-01 10:00:00"), "session_id": 1},
            {"user_id": "u1", "at": ts("2026-01-01 10:20:00"), "session_id": 1},
            {"user_id": "u1", "at": ts("2026-01-01 10:50:01"), "session_id": 2},  # 30 min 1 s
            {"user_id": "u1", "at": ts("2026-01-01 11:10:00"), "session_id": 2},
            {"user_id": "u2", "at": ts("2026-01-01 10:05:00"), "session_id": 1},
            {"user_id": "u2", "at": ts("2026-01-02 10:05:00"), "session_id": 2},
        ],
    ),
]


def project_yaml(engine: str) -> str:
    nodes: list[dict[str, Any]] = []
    for case in CASES:
        nodes += [
            {"name": n, "transform": [{"sql": f"SELECT * FROM {v}"}]}
            for n, v in case.others.items()
        ]
        nodes.append(
            {
                "name": case.id,
                "transform": [
                    {"sql": f"SELECT * FROM {case.input}"},
                    {"transformer": case.transformer, "params": case.params},
                ],
                "write": {"connection": "out", "path": f"{case.id}.parquet", "format": "parquet"},
            }
        )
    config = {
        "project": "transformer parity",
        "engine": engine,
        "on_error": "fail_later",  # one failing case leaves the others to be compared
        "max_workers": 4,  # Spark spends most of a small node waiting on its driver
        "connections": {"out": {"type": "local", "base_path": "out"}},
        "pipelines": [{"pipeline": "p", "nodes": nodes}],
    }
    return yaml.safe_dump(config, sort_keys=False, width=1000)


def norm(value: Any) -> Any:
    """A value as every engine writes it alike: UTC wall-clock times, plain lists."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, list | tuple):
        return [norm(v) for v in value]
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    return value


def same(a: Any, b: Any) -> bool:
    """Equal values; numbers by value (an engine may write 7.5 as a decimal or a double)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return bool(a == b)


def key(row: dict[str, Any]) -> list[str]:
    """A sort key that orders expected and written rows alike."""
    plain = (int, float, Decimal)
    return [
        repr(float(v)) if isinstance(v, plain) and not isinstance(v, bool) else repr(v)
        for v in row.values()
    ]


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str], dict[str, Rows | str]]:
    """``written(engine)``: each case's table, from one run of the project on ``engine``
    (run on first use)."""
    from typer.testing import CliRunner

    from lakestory.cli.app import app

    tables: dict[str, dict[str, Rows | str]] = {}

    def run(engine: str) -> dict[str, Rows | str]:
        """Each case's rows, or the run's output when its node wrote nothing."""
        if engine not in tables:
            if engine == "spark":
                request.getfixturevalue("spark_session")
            root = tmp_path_factory.mktemp(engine)
            (root / "lakestory.yaml").write_text(project_yaml(engine), "utf-8")
            result = CliRunner().invoke(app, ["run", str(root / "lakestory.yaml")])
            report = f"exit code {result.exit_code}\n{result.stdout}{result.stderr}"
            out = root / "out"
            tables[engine] = {
                c.id: pq.read_table(out / f"{c.id}.parquet").to_pylist()
                if (out / f"{c.id}.parquet").exists()
                else report
                for c in CASES
            }
        return tables[engine]

    return run


def test_every_transformer_has_a_case() -> None:
    assert {c.transformer for c in CASES} == set(REGISTRY)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_transformer_gives_these_rows(
    written: Callable[[str], dict[str, Rows | str]], engine: str, case: Case
) -> None:
    rows = written(engine)[case.id]
    if isinstance(rows, str):
        pytest.fail(f"{case.id} wrote nothing: {rows}")
    got = [{k: norm(v) for k, v in row.items()} for row in rows]
    want = case.expected
    assert [list(r) for r in got] == [list(r) for r in want], "columns"
    got, want = sorted(got, key=key), sorted(want, key=key)
    diff = [(w, g) for w, g in zip(want, got, strict=True) if not all(same(w[k], g[k]) for k in w)]
    assert len(got) == len(want) and not diff, diff
