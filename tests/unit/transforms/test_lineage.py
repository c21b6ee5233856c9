"""Column lineage of sensitive columns through SQL and function steps."""

from __future__ import annotations

import pytest

from lakestory.transforms.lineage import Sensitive, names, step_outputs, through_steps

DF: dict[str, Sensitive] = {"df": frozenset({"email", "ssn"})}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT UPPER(email) AS contact, id FROM df", {"contact"}),
        ("SELECT email AS mail, id FROM df", {"mail"}),
        ("SELECT id, Email FROM df", {"email"}),
        ("SELECT concat(name, '<', email, '>') AS c, name FROM df", {"c"}),
        ("SELECT name || ssn AS c FROM df", {"c"}),
        ("SELECT CASE WHEN ssn IS NULL THEN 'none' ELSE ssn END AS k, id FROM df", {"k"}),
        ("SELECT CASE WHEN email LIKE '%@x' THEN 1 ELSE 0 END AS is_x FROM df", {"is_x"}),
        ("WITH a AS (SELECT email AS e, id FROM df) SELECT e AS f, id FROM a", {"f"}),
        (
            "WITH a AS (SELECT * FROM df), b AS (SELECT lower(ssn) AS s FROM a) SELECT s FROM b",
            {"s"},
        ),
        ("SELECT x, id FROM (SELECT lower(email) AS x, id FROM df) t", {"x"}),
        ("SELECT * FROM df", {"email", "ssn"}),
        ("SELECT d.*, 1 AS one FROM df d", {"email", "ssn"}),
        ("SELECT id, count(email) AS n FROM df GROUP BY id", {"n"}),
        ("SELECT id, count(*) AS n FROM df GROUP BY id", set()),
        ("SELECT id FROM df WHERE email IS NOT NULL ORDER BY ssn", set()),
        ("SELECT id, row_number() OVER (PARTITION BY email ORDER BY id) AS r FROM df", {"r"}),
        ("SELECT upper(email) AS e2, e2 AS e3 FROM df", {"e2", "e3"}),
        ("SELECT id, (SELECT max(email) FROM df) AS m FROM other", {"m"}),
        ("SELECT e FROM df LATERAL VIEW explode(array(email)) t AS e", {"e"}),
        ("SELECT name AS a FROM other UNION ALL SELECT email FROM df", {"a"}),
        ("SELECT email FROM df UNION SELECT name FROM other", {"email"}),
    ],
)
def test_derived_columns_are_sensitive(sql: str, expected: set[str]) -> None:
    assert step_outputs(sql, DF) == expected


def test_joins_follow_each_table() -> None:
    tables: dict[str, Sensitive] = {**DF, "orders": frozenset(), "users": frozenset({"phone"})}
    sql = """
        SELECT d.id, o.email AS order_email, d.email, u.phone AS p, o.amount
        FROM df d JOIN orders o ON d.email = o.email JOIN users u ON u.id = d.id
    """
    assert step_outputs(sql, tables) == {"email", "p"}
    # a join key used only in ON carries no value into the output
    assert step_outputs("SELECT d.id FROM df d JOIN orders o ON d.email = o.email", tables) == set()


def test_a_table_whose_every_column_is_sensitive() -> None:
    tables: dict[str, Sensitive] = {"df": frozenset(), "users": None}
    assert step_outputs("SELECT d.a FROM df d JOIN users u ON d.id = u.id", tables) == set()
    # unqualified: it may come from users, so it is masked
    assert step_outputs("SELECT a FROM df JOIN users u ON df.id = u.id", tables) == {"a"}
    assert step_outputs("SELECT u.a AS b FROM df JOIN users u ON df.id = u.id", tables) == {"b"}
    # `*` over it cannot be followed: every output column is sensitive
    assert step_outputs("SELECT * FROM users", tables) is None


def test_sql_that_cannot_be_analysed_masks_everything() -> None:
    assert step_outputs("SELECT FROM WHERE", DF) is None
    assert step_outputs("SELECT a FROM VALUES (1), (2) AS t(a)", DF) is None


def test_nothing_sensitive_in_gives_nothing_sensitive_out() -> None:
    plain: dict[str, Sensitive] = {"df": frozenset(), "other": frozenset()}
    assert step_outputs("SELECT a FROM VALUES (1), (2) AS t(a)", plain) == set()
    assert step_outputs("SELECT FROM WHERE", plain) == set()


def test_pivot_is_not_followed() -> None:
    sql = "SELECT * FROM df PIVOT (max(email) FOR kind IN ('home', 'work'))"
    assert step_outputs(sql, DF) is None


def test_through_steps() -> None:
    steps = [
        ("sql", "SELECT id, upper(email) AS contact FROM df"),
        ("function", "steps.clean"),  # names kept; new Python columns are not traced
        ("sql", "SELECT concat(contact, '!') AS shout, id FROM df"),
    ]
    assert through_steps(steps, names(["Email"])) == {"shout"}
    assert through_steps(steps, names(False)) == set()
    assert through_steps(steps, names(True)) is None
    assert through_steps([("sql", "oops (")], frozenset({"email"})) is None
    other = {"users": frozenset({"phone"})}
    joined = [("sql", "SELECT df.id, u.phone FROM df JOIN users u ON df.id = u.id")]
    assert through_steps(joined, frozenset(), other) == {"phone"}
