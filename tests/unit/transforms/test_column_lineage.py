"""Column lineage: each output column of SQL steps maps to the input fields (table, column)
it derives from, with how (IDENTITY, TRANSFORMATION, AGGREGATION)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from lakestory.transforms.lineage import Columns, node_columns, step_columns

ID, TR, AGG = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
Tables = Mapping[str, Sequence[str] | None]


def lineage(sql: str, tables: Tables | None = None) -> dict[str, dict[tuple[str, str], str]]:
    got = step_columns(sql, tables or {"df": ["id", "name", "amount"]})
    assert got is not None
    return got.columns


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM df", {"id": {("df", "id"): ID}}),
        (
            "SELECT id AS key, Name FROM df",
            {"key": {("df", "id"): ID}, "name": {("df", "name"): ID}},
        ),
        (
            "SELECT upper(name) AS n, amount * 2 AS a2 FROM df",
            {"n": {("df", "name"): TR}, "a2": {("df", "amount"): TR}},
        ),
        (
            "SELECT id, sum(amount) AS total FROM df GROUP BY id",
            {"id": {("df", "id"): ID}, "total": {("df", "amount"): AGG}},
        ),
        ("SELECT count(*) AS n FROM df", {"n": {}}),
        ("SELECT 1 AS one FROM df", {"one": {}}),
        (
            "SELECT concat(id, name) AS k FROM df WHERE amount > 0",
            {"k": {("df", "id"): TR, ("df", "name"): TR}},
        ),
        (
            "SELECT row_number() OVER (PARTITION BY name ORDER BY id) AS r FROM df",
            {"r": {}},
        ),
        (
            "SELECT sum(amount) OVER (PARTITION BY name) AS s FROM df",
            {"s": {("df", "amount"): AGG}},
        ),
        (
            "WITH t AS (SELECT id AS k, lower(name) AS n FROM df) SELECT k, n FROM t",
            {"k": {("df", "id"): ID}, "n": {("df", "name"): TR}},
        ),
        (
            "SELECT x FROM (SELECT amount + 1 AS x FROM df) s",
            {"x": {("df", "amount"): TR}},
        ),
        (
            "SELECT *, 1 AS one FROM df",
            {
                "id": {("df", "id"): ID},
                "name": {("df", "name"): ID},
                "amount": {("df", "amount"): ID},
                "one": {},
            },
        ),
    ],
)
def test_each_output_column_maps_to_its_input_fields(
    sql: str, expected: dict[str, dict[tuple[str, str], str]]
) -> None:
    assert lineage(sql) == expected


def test_a_join_gives_columns_from_both_sides() -> None:
    tables: Tables = {"customers": ["id", "name"], "orders": ["order_id", "customer_id", "amount"]}
    sql = """
        SELECT c.id, name, o.order_id, sum(amount) AS total
        FROM customers c JOIN orders o ON c.id = o.customer_id
        GROUP BY c.id, name, o.order_id
    """
    assert lineage(sql, tables) == {
        "id": {("customers", "id"): ID},
        "name": {("customers", "name"): ID},
        "order_id": {("orders", "order_id"): ID},
        "total": {("orders", "amount"): AGG},
    }


def test_tables_whose_columns_are_unknown() -> None:
    # qualified columns go to their table; a * passes unknown columns through by name
    got = step_columns("SELECT o.amount, c.* FROM orders o JOIN customers c ON o.k = c.k", {})
    assert got is not None
    assert got.columns == {"amount": {("orders", "amount"): ID}}
    assert got.passthrough == ("customers",)
    assert got.origins("Name") == {("customers", "name"): ID}


def test_set_operations_match_columns_by_position() -> None:
    tables: Tables = {"df": ["a"], "other": ["b"]}
    assert lineage("SELECT a AS x FROM df UNION ALL SELECT upper(b) FROM other", tables) == {
        "x": {("df", "a"): ID, ("other", "b"): TR}
    }


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT e FROM df LATERAL VIEW explode(array(name)) t AS e",
        "SELECT * FROM VALUES (1, 2) AS t(a, b)",
        "SELECT nope FROM",
    ],
)
def test_what_is_not_followed_is_unknown(sql: str) -> None:
    assert step_columns(sql, {"df": ["name"]}) is None


def test_lineage_composes_through_steps() -> None:
    steps = [
        ("sql", "SELECT id, amount * 2 AS amount, name FROM df"),
        ("sql", "SELECT d.id, sum(d.amount) AS total, max(u.email) AS email "
                "FROM df d JOIN users u ON d.id = u.id GROUP BY d.id"),
    ]  # fmt: skip
    got = node_columns(steps, {"users": ["id", "email"]})
    assert got is not None
    assert got.columns == {
        "id": {("df", "id"): ID},
        "total": {("df", "amount"): AGG},
        "email": {("users", "email"): AGG},
    }


def test_no_steps_is_a_copy_of_df() -> None:
    got = node_columns([], {})
    assert got == Columns(passthrough=("df",))
    assert got.origins("id") == {("df", "id"): ID}


def test_a_python_step_makes_the_lineage_unknown() -> None:
    assert node_columns([("sql", "SELECT id FROM df"), ("function", "m.f")], {}) is None
