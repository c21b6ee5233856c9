"""Retry policies: backoff shapes, jitter bounds, and node fields over the project's."""

from __future__ import annotations

import random

import pytest

from lakestory.config.models import RetryConfig
from lakestory.runtime.retry import NO_RETRY, RetryPolicy, policy_for


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ("exponential", [1, 2, 4, 8, 10, 10]),
        ("linear", [1, 2, 3, 4, 5, 6]),
        ("constant", [1, 1, 1, 1, 1, 1]),
    ],
)
def test_backoff_shapes_capped_at_max_delay(backoff: str, delays: list[float]) -> None:
    policy = RetryPolicy(7, backoff, initial_delay=1, max_delay=10, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == delays


def test_jitter_stays_between_half_and_all_of_the_delay() -> None:
    policy = RetryPolicy(3, "constant", initial_delay=2, max_delay=10, jitter=True)
    rng = random.Random(7)
    seen = [policy.delay(1, rng) for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in seen) and len(set(seen)) > 50


def test_no_retry_config_means_one_attempt() -> None:
    assert policy_for(None, None) == NO_RETRY and NO_RETRY.max_attempts == 1


def test_a_node_overrides_only_the_fields_it_sets() -> None:
    project = RetryConfig.model_validate({"backoff": "linear", "initial_delay": "2s"})
    node = RetryConfig.model_validate({"max_attempts": 5})
    policy = policy_for(project, node)
    assert (policy.max_attempts, policy.backoff, policy.initial_delay) == (5, "linear", 2.0)


def test_a_node_can_turn_retries_off() -> None:
    project = RetryConfig.model_validate({"max_attempts": 5})
    assert policy_for(project, RetryConfig.model_validate({"enabled": False})) == NO_RETRY


def test_fractional_durations_survive_a_round_trip() -> None:
    cfg = RetryConfig.model_validate({"initial_delay": "0.25s"})
    assert RetryConfig.model_validate(cfg.model_dump()).initial_delay.total_seconds() == 0.25
