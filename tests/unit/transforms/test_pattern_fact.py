"""The ``fact`` and ``date_dimension`` patterns' params: what they accept, how they are
normalised, and the messages (located in the YAML) for what they refuse."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lakestory.api import Project
from lakestory.core.errors import ConfigError
from lakestory.transforms import patterns as pt
from lakestory.transforms.patterns.date_dimension import DateDimensionParams, calendar_sql
from lakestory.transforms.patterns.fact import FactParams


def fact(**params: Any) -> FactParams:
    spec = pt.load_builtins()["fact"]
    return spec.validate({"grain": ["order_id"], **params})  # type: ignore[return-value]


def test_measures_accept_a_name_a_mapping_or_name_and_expr() -> None:
    p = fact(measures=["qty", {"revenue": "qty * price"}, {"name": "tax", "expr": "vat"}])
    assert [(m.name, m.expr) for m in p.measures] == [
        ("qty", None),
        ("revenue", "qty * price"),
        ("tax", "vat"),
    ]
    assert [m.sql() for m in p.measures] == [
        "`qty` AS `qty`",
        "qty * price AS `revenue`",
        "vat AS `tax`",
    ]


def test_lookups_take_one_column_or_several_and_an_output_name() -> None:
    p = fact(
        dimensions=[
            {"source_column": "customer_id", "dimension": "dim_customer"},
            {
                "source_column": ["region", "store"],
                "dimension": "dim_store",
                "natural_key": ["region", "store_no"],
                "as": "store_sk",
            },
        ]
    )
    first, second = p.dimensions
    assert first.source_column == ["customer_id"] and first.output is None
    assert second.natural_key == ["region", "store_no"] and second.output == "store_sk"
    spec = pt.load_builtins()["fact"]
    assert spec.lookups is not None
    assert spec.lookups(p) == {"dimensions[0]": "dim_customer", "dimensions[1]": "dim_store"}
    assert p.grain == ["order_id"] and fact(grain="order_id").grain == ["order_id"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"grain": []}, "at least 1 item"),
        ({"on_duplicate_grain": "drop"}, "'fail' or 'quarantine'"),
        ({"orphan_handling": "ignore"}, "'unknown', 'reject' or 'quarantine'"),
        ({"measures": [{"revenue": "qty *"}]}, "measure 'revenue'"),
        ({"measures": ["order_id"]}, "'order_id' comes from both grain and measures"),
        (
            {"dimensions": [{"source_column": ["a", "b"], "dimension": "d", "natural_key": "a"}]},
            "source_column has 2 columns but natural_key has 1",
        ),
        (
            {
                "dimensions": [
                    {"source_column": "order_date", "dimension": "dim_date"},
                    {"source_column": "ship_date", "dimension": "dim_date"},
                ]
            },
            "dim_date is looked up twice",
        ),
        (
            {"dimensions": [{"source_column": "c", "dimension": "d", "as": "order_id"}]},
            "'order_id' comes from both grain and dimensions[0].as",
        ),
    ],
)
def test_params_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        fact(**params)


def test_tests_added_for_quarantine() -> None:
    spec = pt.load_builtins()["fact"]
    assert spec.tests is not None
    assert spec.tests(fact(), {}) == []
    p = fact(
        on_duplicate_grain="quarantine",
        orphan_handling="quarantine",
        dimensions=[
            {"source_column": "c", "dimension": "dim_customer", "as": "customer_sk"},
            {"source_column": "d", "dimension": "dim_date"},  # its key: the date dimension's
            {"source_column": "p", "dimension": "dim_product"},  # the dimension's own key
        ],
    )
    looked_up = {
        "dimensions[1]": ("date_dimension", {}),
        "dimensions[2]": ("dimension", {"natural_key": "id", "surrogate_key": "product_sk"}),
    }
    assert spec.tests(p, looked_up) == [
        {
            "type": "unique",
            "columns": ["order_id"],
            "on_fail": "quarantine",
            "name": "fact grain (order_id) is unique",
        },
        {
            "type": "not_null",
            "columns": ["customer_sk"],
            "on_fail": "quarantine",
            "name": "customer_sk: c found in dim_customer",
        },
        {
            "type": "not_null",
            "columns": ["date_key"],
            "on_fail": "quarantine",
            "name": "date_key: d found in dim_date",
        },
        {
            "type": "not_null",
            "columns": ["product_sk"],
            "on_fail": "quarantine",
            "name": "product_sk: p found in dim_product",
        },
    ]
    plain = fact(
        orphan_handling="quarantine", dimensions=[{"source_column": "c", "dimension": "x"}]
    )
    with pytest.raises(ValueError, match="give it `surrogate_key:` or `as:`"):
        spec.tests(plain, {"dimensions[0]": None})


def test_date_dimension_params() -> None:
    spec = pt.load_builtins()["date_dimension"]
    p = spec.validate({"start_date": "2024-01-01", "end_date": "2024-12-31"})
    assert isinstance(p, DateDimensionParams)
    assert (p.fiscal_year_start_month, p.unknown_member) == (1, False)
    assert "sequence(0, 365)" in calendar_sql(p)  # 366 days: 2024 is a leap year
    assert spec.needs_input is False
    assert spec.write is not None and spec.write(p) == {"mode": "overwrite"}
    with pytest.raises(ValidationError, match=r"end_date \(2023-12-31\) is before start_date"):
        spec.validate({"start_date": "2024-01-01", "end_date": "2023-12-31"})
    with pytest.raises(ValidationError, match="less than or equal to 12"):
        spec.validate(
            {"start_date": "2024-01-01", "end_date": "2024-01-02", "fiscal_year_start_month": 13}
        )
    with pytest.raises(ValidationError, match="more than 100000 days"):
        spec.validate({"start_date": "1000-01-01", "end_date": "2999-01-01"})


YAML = """
project: star
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim_date
        pattern:
          type: date_dimension
          params: {start_date: 2024-01-01, end_date: 2024-12-31}
        write: {connection: lake, path: dim_date}
      - name: fact_orders
        read: {connection: raw, path: orders.csv}
        pattern:
          type: fact
          params:
            grain: [order_id]
            dimensions:
              - {source_column: order_date, dimension: dim_date}
        write: {connection: lake, path: fact_orders}
"""
FILES = {"data/orders.csv": "order_id,order_date\n1,2024-01-01\n"}


def load_error(project: Callable[..., Path], text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _ = Project.load(project(text, FILES) / "lakestory.yaml").graph
    return info.value


def test_the_yaml_loads(project: Callable[..., Path]) -> None:
    graph = Project.load(project(YAML, FILES) / "lakestory.yaml").graph
    node = graph.nodes["gold.fact_orders"]
    assert "gold.dim_date" in node.order_deps
    assert graph.nodes["gold.dim_date"].target.mode == "overwrite"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new", "message", "line"),
    [
        (
            "{source_column: order_date, dimension: dim_date}",
            "{source_column: order_date, dimension: dim_date, surogate_key: k}",
            "params.dimensions.0.surogate_key: unknown param",
            19,
        ),
        (
            "{source_column: order_date, dimension: dim_date}",
            "{source_column: order_date, dimension: dim_dates}",
            "unknown node looked up by the fact pattern",
            15,
        ),
        (
            "grain: [order_id]",
            "grain: [order_id]\n            on_duplicate_grain: quarantine",
            "the fact pattern quarantines rows, but `validation.quarantine` is not set",
            15,
        ),
        (
            "params: {start_date: 2024-01-01, end_date: 2024-12-31}",
            "params: {start_date: 2024-01-01, end_date: 2023-12-31}",
            "end_date (2023-12-31) is before start_date (2024-01-01)",
            11,
        ),
        (
            "        write: {connection: lake, path: dim_date}",
            "        read: {connection: raw, path: orders.csv}\n"
            "        write: {connection: lake, path: dim_date}",
            "the date_dimension pattern makes its own rows",
            9,
        ),
    ],
)
def test_config_errors_are_located(
    project: Callable[..., Path], old: str, new: str, message: str, line: int
) -> None:
    err = load_error(project, YAML.replace(old, new))
    assert message in err.what + " " + (err.hint or "")
    assert err.where.line == line, err


def test_an_unknown_lookup_param_is_named_with_its_place(project: Callable[..., Path]) -> None:
    err = load_error(
        project,
        YAML.replace("dimension: dim_date}", "dimension: dim_date, date_colum: order_date}"),
    )
    assert err.what == "pattern 'fact': params.dimensions.0.date_colum: unknown param"
    assert err.where.line == 19 and err.where.node == "fact_orders"
