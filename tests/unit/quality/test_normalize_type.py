"""Spark type names as users write them, brought to one spelling (``normalize_type``)."""

from __future__ import annotations

import pytest

from lakestory.config.models.types import check_type_name, normalize_type


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("bigint", "bigint"),
        ("BIGINT", "bigint"),
        ("  Long ", "bigint"),
        ("integer", "int"),
        ("short", "smallint"),
        ("byte", "tinyint"),
        ("real", "float"),
        ("double", "double"),
        ("bool", "boolean"),
        ("str", "string"),
        ("text", "string"),
        ("varchar(20)", "string"),
        ("char(3)", "string"),
        ("binary", "binary"),
        ("date", "date"),
        ("timestamp", "timestamp"),
        ("timestamp_ltz", "timestamp"),
        ("timestamp_ntz", "timestamp_ntz"),
        ("decimal", "decimal(10,0)"),
        ("numeric", "decimal(10,0)"),
        ("dec(12, 4)", "decimal(12,4)"),
        ("DECIMAL( 38 , 18 )", "decimal(38,18)"),
        ("array<string>", "array<string>"),
        ("ARRAY< STRING >", "array<string>"),
        ("map<string,int>", "map<string,int>"),
        ("struct<a:int,b:array<string>>", "struct<a:int,b:array<string>>"),
    ],
)
def test_one_spelling(name: str, normalized: str) -> None:
    assert normalize_type(name) == normalized


@pytest.mark.parametrize(
    "name",
    ["bigit", "", "decimal(10,", "decimal(a,b)", "varchar", "array<string", "list<int>", "int4"],
)
def test_not_a_type_name(name: str) -> None:
    assert normalize_type(name) is None


def test_check_type_name_says_what_and_gives_examples() -> None:
    assert check_type_name("Long", "column 'id'") == "bigint"
    with pytest.raises(ValueError, match=r"column 'id': 'bigit' is not a Spark type name \(e\.g\."):
        check_type_name("bigit", "column 'id'")


# -- found by these tests ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("array<long>", "array<bigint>"),
        ("array<integer>", "array<int>"),
        ("map<str,integer>", "map<string,int>"),
        ("struct<a:long,b:array<text>>", "struct<a:bigint,b:array<string>>"),
        ("array<decimal>", "array<decimal(10,0)>"),
    ],
)
def test_nested_types_normalize_their_element_types(name: str, normalized: str) -> None:
    """A schema test of ``tags: array<long>`` must accept an array<bigint> column."""
    assert normalize_type(name) == normalized
