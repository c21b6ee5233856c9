"""Default test names (what gate thresholds, results and ``_failed_tests`` use) and which
tests judge rows and which the whole dataset."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from lakestory.config.models.quality import TEST_TYPES, TestConfig, ValidationConfig

_ADAPTER: TypeAdapter[Any] = TypeAdapter(TestConfig)


def make(config: dict[str, Any]) -> Any:
    return _ADAPTER.validate_python(config)


CASES = [
    ({"type": "not_null", "columns": ["a", "b"]}, "not_null(a, b)", True),
    ({"type": "not_null", "column": "a"}, "not_null(a)", True),
    ({"type": "not_null", "columns": "a"}, "not_null(a)", True),
    ({"type": "unique", "columns": ["order_id"]}, "unique(order_id)", True),
    (
        {"type": "accepted_values", "column": "status", "values": ["x"]},
        "accepted_values(status)",
        True,
    ),
    ({"type": "range", "column": "age", "min": 18}, "range(age)", True),
    ({"type": "regex_match", "column": "email", "pattern": "@"}, "regex_match(email)", True),
    ({"type": "custom_sql", "condition": "amount > 0"}, "custom_sql(amount > 0)", True),
    (
        {"type": "foreign_key", "column": "c", "references": {"node": "n", "column": "id"}},
        "foreign_key(c)",
        True,
    ),
    ({"type": "row_count", "min": 1}, "row_count", False),
    (
        {"type": "freshness", "column": "updated_at", "max_age": "24h"},
        "freshness(updated_at)",
        False,
    ),
    ({"type": "schema", "columns": {"id": "bigint"}}, "schema", False),
    ({"type": "volume_drop", "threshold": 0.5}, "volume_drop", False),
    (
        {"type": "distribution", "column": "amount", "metric": "mean", "between": [1, None]},
        "distribution(amount, mean)",
        False,
    ),
]


@pytest.mark.parametrize(("config", "name", "row_level"), CASES, ids=[c[1] for c in CASES])
def test_default_names(config: dict[str, Any], name: str, row_level: bool) -> None:
    test = make(config)
    assert test.label == name
    assert test.row_level is row_level
    assert test.on_fail == "fail"
    assert make({**config, "name": "mine"}).label == "mine"


def test_every_type_has_a_case() -> None:
    assert {c[0]["type"] for c in CASES} == set(TEST_TYPES)


def test_a_long_custom_sql_condition_is_shortened_in_its_name() -> None:
    condition = "amount   > 0\n AND quantity > 0 AND status IN ('open', 'closed')"
    name = make({"type": "custom_sql", "condition": condition}).label
    assert name == "custom_sql(amount > 0 AND quantity > 0 AND status …)"  # 39 + …
    assert len(name) == len("custom_sql()") + 40
    exactly = "a" * 40
    assert make({"type": "custom_sql", "condition": exactly}).label == f"custom_sql({exactly})"


def test_names_are_unique_within_a_validation() -> None:
    tests = [{"type": "not_null", "columns": ["a"]}, {"type": "not_null", "column": "a"}]
    with pytest.raises(ValidationError, match="two tests are named 'not_null\\(a\\)'"):
        ValidationConfig.model_validate({"tests": tests})
    tests[1]["name"] = "a is set"
    assert [t.label for t in ValidationConfig.model_validate({"tests": tests}).tests] == [
        "not_null(a)",
        "a is set",
    ]
