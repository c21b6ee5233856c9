"""Data-quality config mistakes are config errors at ``lakestory validate``: exit code 2, the
file, line and column, the key, and what to do (a did-you-mean where one fits)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HEAD = """\
project: shop
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: shop
    nodes:
      - name: customers
        read: {connection: raw, path: customers.csv}
      - name: orders
        read: {connection: raw, path: orders.csv}
"""
TESTS = "        validation:\n          tests:\n"
NODE = "pipelines[0].nodes[1]"
TEST = f"{NODE}.validation.tests[0]"

# name: (what follows HEAD, "line:column", key, message, hint or None)
CASES: dict[str, tuple[str, str, str, str, str | None]] = {
    "unknown_test_type": (
        TESTS + "            - {type: not_nul, columns: [id]}\n",
        "14:16",
        f"{TEST}.type",
        "unknown type 'not_nul'",
        "did you mean 'not_null'?",
    ),
    "missing_required_key": (
        TESTS + "            - {type: accepted_values, column: status}\n",
        "14:15",
        TEST,
        "missing required key 'values'",
        "add `values:` here",
    ),
    "missing_reference_column": (
        TESTS + "            - {type: foreign_key, column: c, references: {node: customers}}\n",
        "14:46",
        f"{TEST}.references",
        "missing required key 'column'",
        None,
    ),
    "unknown_key_in_a_test": (
        TESTS + "            - {type: not_null, colums: [id]}\n",
        "14:32",
        f"{TEST}.colums",
        "unknown key 'colums'",
        "did you mean 'columns'?",
    ),
    "drop_on_a_table_level_test": (
        TESTS + "            - {type: row_count, min: 1, on_fail: drop}\n",
        "14:15",
        TEST,
        "`on_fail: drop` needs a row-level test; row_count judges the whole dataset, so it "
        "can only `fail` or `warn`",
        None,
    ),
    "quarantine_on_a_table_level_test": (
        TESTS + "            - {type: freshness, column: at, max_age: 1d, on_fail: quarantine}\n",
        "14:15",
        TEST,
        "`on_fail: quarantine` needs a row-level test; freshness judges the whole dataset",
        None,
    ),
    "drop_on_a_table_level_contract": (
        "        contracts:\n          - {type: schema, columns: {id: int}, on_fail: drop}\n",
        "13:13",
        f"{NODE}.contracts[0]",
        "`on_fail: drop` needs a row-level test; schema judges the whole dataset",
        None,
    ),
    "quarantine_without_a_quarantine_table": (
        TESTS + "            - {type: not_null, columns: [id], on_fail: quarantine}\n",
        "12:9",
        f"{NODE}.validation",
        "test 'not_null(id)' quarantines failing rows, but `validation.quarantine` is not set",
        None,
    ),
    "quarantine_in_an_unknown_connection": (
        TESTS
        + "            - {type: not_null, columns: [id], on_fail: quarantine}\n"
        + "          quarantine: {connection: laek, path: q}\n",
        "15:24",
        f"{NODE}.validation.quarantine.connection",
        "unknown connection 'laek'",
        "did you mean 'lake'?",
    ),
    "contract_that_quarantines": (
        "        contracts:\n          - {type: not_null, columns: [id], on_fail: quarantine}\n",
        "12:9",
        f"{NODE}.contracts",
        "contract 'not_null(id)' cannot quarantine: use fail, warn or drop",
        None,
    ),
    "gate_threshold_for_an_unknown_test": (
        TESTS
        + "            - {type: not_null, columns: [email]}\n"
        + '          gate: {thresholds: {"not_null(emial)": 0.9}}\n',
        "12:9",
        f"{NODE}.validation",
        "gate threshold for unknown test 'not_null(emial)' (did you mean 'not_null(email)'?)",
        None,
    ),
    "gate_without_row_level_tests": (
        TESTS
        + "            - {type: row_count, min: 1}\n          gate: {require_pass_rate: 0.9}\n",
        "12:9",
        f"{NODE}.validation",
        "a gate judges the pass rates of row-level tests, and there are none",
        None,
    ),
    "gate_that_requires_nothing": (
        TESTS + "            - {type: not_null, columns: [id]}\n          gate: {on_fail: abort}\n",
        "15:11",
        f"{NODE}.validation.gate",
        "a gate needs `require_pass_rate`, `thresholds` or both",
        None,
    ),
    "invalid_regex": (
        TESTS + '            - {type: regex_match, column: email, pattern: "[a-z"}\n',
        "14:50",
        f"{TEST}.pattern",
        "`pattern` is not a regular expression: unterminated character set",
        None,
    ),
    "regex_with_a_look_around": (
        TESTS + '            - {type: regex_match, column: email, pattern: "a(?!b)"}\n',
        "14:50",
        f"{TEST}.pattern",
        "`pattern` uses a look-around or a back-reference, which the engines' regular "
        "expressions (RE2) do not support",
        None,
    ),
    "unknown_schema_type": (
        TESTS + "            - {type: schema, columns: {id: bigit}}\n",
        "14:30",
        f"{TEST}.columns",
        "column 'id': 'bigit' is not a Spark type name",
        None,
    ),
    "custom_sql_that_does_not_parse": (
        TESTS + '            - {type: custom_sql, condition: "amount >"}\n',
        "14:34",
        f"{TEST}.condition",
        "custom_sql condition: SQL syntax error",
        None,
    ),
    "custom_sql_reading_another_table": (
        TESTS + '            - {type: custom_sql, condition: "id IN (SELECT id FROM customers)"}\n',
        "14:34",
        f"{TEST}.condition",
        "a custom_sql condition judges one row at a time, but it holds a subquery",
        "compare the row's own columns (e.g. amount > 0)",
    ),
    "duplicate_test_names": (
        TESTS
        + "            - {type: not_null, columns: [id]}\n"
        + "            - {type: not_null, column: id, on_fail: warn}\n",
        "12:9",
        f"{NODE}.validation",
        "two tests are named 'not_null(id)': give one of them a `name`",
        None,
    ),
    "duplicate_contract_names": (
        "        contracts:\n"
        + "          - {type: unique, columns: [id], name: key}\n"
        + "          - {type: not_null, columns: [id], name: key}\n",
        "12:9",
        f"{NODE}.contracts",
        "two contracts are named 'key'",
        None,
    ),
    "foreign_key_to_an_unknown_node": (
        TESTS
        + "            - type: foreign_key\n"
        + "              column: c\n"
        + "              references: {node: custmers, column: id}\n",
        "16:28",
        f"{TEST}.references.node",
        "unknown node 'custmers'",
        "did you mean 'customers'?",
    ),
    "foreign_key_to_its_own_node": (
        TESTS
        + "            - {type: foreign_key, column: c, references: {node: orders, column: id}}\n",
        "14:59",
        f"{TEST}.references.node",
        "a foreign key cannot reference its own node",
        "use a `unique` test for keys within one dataset",
    ),
    "inverted_range": (
        TESTS + "            - {type: range, column: age, min: 120, max: 18}\n",
        "14:15",
        TEST,
        "`min` (120) is greater than `max` (18)",
        None,
    ),
    "range_without_bounds": (
        TESTS + "            - {type: range, column: age}\n",
        "14:15",
        TEST,
        "a range test needs `min`, `max` or both",
        None,
    ),
    "threshold_above_one": (
        TESTS + "            - {type: not_null, columns: [id], threshold: 1.5}\n",
        "14:47",
        f"{TEST}.threshold",
        "less than or equal to 1",
        None,
    ),
    "unknown_on_fail": (
        TESTS + "            - {type: not_null, columns: [id], on_fail: skip}\n",
        "14:47",
        f"{TEST}.on_fail",
        "'skip' is not one of: fail, warn, drop, quarantine",
        None,
    ),
    "duration_that_is_not_one": (
        TESTS + "            - {type: freshness, column: at, max_age: soon}\n",
        "14:45",
        f"{TEST}.max_age",
        "'soon' is not a duration",
        None,
    ),
    "unknown_metric": (
        TESTS + "            - {type: distribution, column: a, metric: avg, between: [1, 2]}\n",
        "14:47",
        f"{TEST}.metric",
        "'avg' is not one of: mean, median, min, max, sum, stddev, null_fraction, distinct_count",
        None,
    ),
}


def _validate(
    project: Callable[..., Path], cli: Callable[..., Any], yaml: str
) -> tuple[int, str, Path]:
    root = project(yaml)
    result = cli("validate", root / "lakestory.yaml")
    return result.exit_code, result.stderr, root


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_quality_config_mistake_is_reported_where_it_is(
    case: str, project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    body, position, key, message, hint = CASES[case]
    code, stderr, root = _validate(project, cli, HEAD + body)
    assert code == 2, stderr
    head = stderr.splitlines()[0]
    assert head.startswith(f"error: {root / 'lakestory.yaml'}:{position}, node shop."), head
    assert f", key {key}: " in head, head
    assert message in head, head
    if hint is not None:
        assert f"hint: {hint}" in stderr


def test_contracts_on_a_node_without_input(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    yaml = """\
project: shop
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: shop
    nodes:
      - name: constants
        transform: [{sql: "SELECT 1 AS id"}]
        contracts:
          - {type: not_null, columns: [id]}
"""
    code, stderr, _root = _validate(project, cli, yaml)
    assert code == 2
    assert "lakestory.yaml:9:9, node shop.constants, key pipelines[0].nodes[0].contracts: " in (
        stderr
    )
    assert "`contracts` judge a node's input, and this node has none" in stderr
    assert "hint: move the tests to `validation.tests`" in stderr


def test_a_valid_quality_config_passes(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    body = (
        "        contracts:\n"
        "          - {type: not_null, columns: [id], on_fail: drop}\n"
        "        validation:\n"
        "          tests:\n"
        "            - {type: not_null, columns: [customer_id, email]}\n"
        "            - {type: unique, columns: [order_id]}\n"
        "            - {type: accepted_values, column: status, values: [active, inactive]}\n"
        "            - {type: range, column: age, min: 18, max: 120}\n"
        "            - type: regex_match\n"
        "              column: email\n"
        '              pattern: "^[^@]+@[^@]+\\\\.[a-z]{2,}$"\n'
        "              on_fail: quarantine\n"
        "            - {type: row_count, min: 1}\n"
        '            - {type: custom_sql, condition: "amount > 0 AND quantity > 0", '
        "threshold: 0.01}\n"
        "            - {type: freshness, column: updated_at, max_age: 24h}\n"
        "            - type: foreign_key\n"
        "              column: customer_id\n"
        "              references: {node: customers, column: customer_id}\n"
        "            - {type: schema, columns: {id: bigint, email: string}, strict: false}\n"
        "            - {type: volume_drop, threshold: 0.5, lookback_runs: 7}\n"
        "            - {type: distribution, column: amount, metric: mean, between: [10, 500]}\n"
        "          quarantine: {connection: lake, path: quarantine/orders}\n"
        '          gate: {require_pass_rate: 0.95, thresholds: {"not_null(customer_id, email)": '
        "0.99}, on_fail: abort}\n"
    )
    code, stderr, _root = _validate(project, cli, HEAD + body)
    assert code == 0, stderr


# -- found by these tests ---------------------------------------------------------------------


def test_a_test_without_a_type_gets_a_hint_about_test_types(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    code, stderr, _root = _validate(project, cli, HEAD + TESTS + "            - {columns: [id]}\n")
    assert code == 2
    assert f"key {TEST}: missing required key 'type'" in stderr
    assert "type: local" not in stderr, stderr  # a connection type: no help for a test
    assert "not_null" in stderr, stderr


def test_a_custom_sql_condition_with_an_aggregate_is_refused(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """A condition judges one row: ``sum(amount) > 0`` cannot, and fails at run time with
    an engine error about GROUP BY that names neither the test nor the node's config."""
    code, stderr, _root = _validate(
        project,
        cli,
        HEAD + TESTS + '            - {type: custom_sql, condition: "sum(amount) > 0"}\n',
    )
    assert code == 2, stderr
    assert f"key {TEST}.condition: " in stderr, stderr
