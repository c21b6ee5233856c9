"""Which errors are worth another attempt."""

from __future__ import annotations

import errno
import urllib.error

import pytest

from lakestory.core.errors import (
    ConfigError,
    DataError,
    QualityError,
    SqlError,
    StepError,
    TransientError,
    WriteError,
    is_transient,
)


class CommitFailedError(Exception):  # the name deltalake uses for a lost commit race
    pass


class ThrottlingException(Exception):
    pass


class ServiceError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(),
        TimeoutError(),
        OSError(errno.ETIMEDOUT, "timed out"),
        CommitFailedError(),
        ThrottlingException(),
        ServiceError(503),
        ServiceError(429),
        urllib.error.HTTPError("http://x", 502, "bad gateway", {}, None),  # type: ignore[arg-type]
        TransientError("the catalog is busy"),
    ],
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bug"),
        KeyError("x"),
        FileNotFoundError(errno.ENOENT, "missing"),
        PermissionError(errno.EACCES, "denied"),
        ServiceError(404),
        SqlError("no such column"),
        ConfigError("bad key"),
        DataError("bad value"),
        QualityError("checks failed"),
    ],
)
def test_deterministic(exc: BaseException) -> None:
    assert not is_transient(exc)


def _wrapped(inner: Exception, outer: type[Exception]) -> BaseException:
    """``outer`` raised while handling ``inner`` (``from None``, as lakestory wraps)."""
    wrapper = outer("wrapped")
    wrapper.__context__, wrapper.__suppress_context__ = inner, True
    return wrapper


def test_a_users_step_and_a_write_are_judged_by_what_they_wrap() -> None:
    assert is_transient(_wrapped(ConnectionResetError(), StepError))
    assert is_transient(_wrapped(ConnectionResetError(), WriteError))
    assert not is_transient(_wrapped(ValueError(), StepError))


def test_a_deterministic_error_is_never_retried_whatever_it_wraps() -> None:
    assert not is_transient(_wrapped(ConnectionResetError(), SqlError))
