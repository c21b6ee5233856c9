"""The one exception root and its structured fields.

Every error lakestory raises is a :class:`LakestoryError`. It carries *where* (file, line,
column, key path, pipeline, node, step), *what* happened, and *what to do next*, so the CLI
can print one consistent message and the runner can record it against a node. Whether an
error is worth retrying is a property of the error (:attr:`LakestoryError.transient`).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field, replace
from typing import Any, Self


class LakestoryWarning(UserWarning):
    """Warnings lakestory itself issues (tests turn them into errors)."""


@dataclass(frozen=True)
class Where:
    """Where an error happened; every field is optional."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None  # dotted key path, e.g. pipelines[0].nodes[2].write.mode
    pipeline: str | None = None
    node: str | None = None
    step: str | None = None  # e.g. "transform.steps[1] (sql)"

    def location(self) -> str:
        """``file:line:column`` as far as known, or an empty string."""
        if not self.file:
            return ""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def describe(self) -> str:
        bits = []
        loc = self.location()
        if loc:
            bits.append(loc)
        if self.pipeline and self.node:
            bits.append(f"node {self.pipeline}.{self.node}")
        elif self.node:
            bits.append(f"node {self.node}")
        elif self.pipeline:
            bits.append(f"pipeline {self.pipeline}")
        if self.step:
            bits.append(self.step)
        if self.key:
            bits.append(f"key {self.key}")
        return ", ".join(bits)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class LakestoryError(Exception):
    """Root of every lakestory error.

    ``what`` is the message, ``where`` locates it, ``hint`` says what to do next, and
    ``detail`` carries extra text shown below the message (a SQL excerpt, a traceback).
    """

    exit_code = 1
    transient = False
    kind = "error"

    def __init__(
        self,
        what: str,
        *,
        where: Where | None = None,
        hint: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.where = where or Where()
        self.hint = hint
        self.detail = detail

    def located(self, **fields: Any) -> Self:
        """Fill in location fields that are not known yet (existing ones win)."""
        current = {k: v for k, v in self.where.__dict__.items() if v is not None}
        self.where = replace(self.where, **{**fields, **current})
        return self

    def render(self) -> str:
        """The message as printed: ``where: what``, then detail and hint lines."""
        head = self.where.describe()
        lines = [f"{head}: {self.what}" if head else self.what]
        if self.detail:
            lines.append(self.detail.rstrip())
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "message": self.what, **self.where.to_dict()}
        if self.hint:
            out["hint"] = self.hint
        if self.detail:
            out["detail"] = self.detail
        return out


class ConfigError(LakestoryError):
    """The project configuration is invalid (exit code 2)."""

    exit_code = 2
    kind = "config_error"


class ConfigErrors(ConfigError):
    """Several configuration errors found in one pass, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.what, where=first.where, hint=first.hint, detail=first.detail)

    def render(self) -> str:
        if len(self.errors) == 1:
            return self.errors[0].render()
        body = "\n".join(e.render() for e in self.errors)
        return f"{len(self.errors)} problems in the configuration:\n{body}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "errors": [e.to_dict() for e in self.errors]}


class NotSupportedYet(ConfigError):
    """A documented key whose behaviour this version does not implement."""

    kind = "not_supported"


class GraphError(ConfigError):
    """The node graph is invalid: unknown reference, ambiguity or cycle."""

    kind = "graph_error"


class SqlError(LakestoryError):
    """A SQL step failed to parse or to run."""

    kind = "sql_error"


class InvalidSql(ConfigError):
    """A SQL step that does not parse, found before anything runs (exit code 2)."""

    kind = "sql_error"


class DataError(LakestoryError):
    """Input data is malformed (bad CSV row, unparsable value, missing file)."""

    kind = "data_error"


class StoreError(LakestoryError):
    """A connection's store or database refused the credentials or could not be reached."""

    kind = "connection_error"


class QualityError(LakestoryError):
    """Data failed a data-quality test or gate; nothing was written."""

    kind = "quality_error"
    results: list[Any]  # the check results, for the node record
    gate: dict[str, Any] | None = None  # the gate's result when the gate aborted


class StepError(LakestoryError):
    """A user's Python step raised; ``detail`` holds the user's traceback."""

    kind = "step_error"


class WriteError(LakestoryError):
    """Writing a target failed; the target was left as it was."""

    kind = "write_error"


class TransientError(LakestoryError):
    """An error worth retrying: I/O, network, throttling, commit conflicts."""

    transient = True
    kind = "transient_error"


class UsageError(LakestoryError):
    """The command line was used wrongly (exit code 2)."""

    exit_code = 2
    kind = "usage_error"


@dataclass
class ErrorList:
    """Collects configuration errors so one pass can report them all."""

    errors: list[ConfigError] = field(default_factory=list)

    def add(self, error: ConfigError) -> None:
        self.errors.append(error)

    def raise_if_any(self) -> None:
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ConfigErrors(self.errors)


# Errors worth another attempt, by what they are rather than where they came from.
_TRANSIENT_ERRNOS = {
    errno.EAGAIN,
    errno.EBUSY,
    errno.ECONNABORTED,
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.ENETRESET,
    errno.ENETUNREACH,
    errno.EPIPE,
    errno.ETIMEDOUT,
}
_TRANSIENT_NAMES = {
    "CommitFailedError",  # deltalake: another writer committed first
    "ThrottlingException",
    "Throttling",
    "SlowDown",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableError",
    "TooManyRequests",
    "RequestTimeout",
    "ConnectTimeout",
    "ReadTimeout",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "EndpointConnectionError",
    "ServerTimeoutError",
    "RemoteDisconnected",
    "IncompleteRead",
}
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def is_transient(exc: BaseException) -> bool:
    """Is ``exc`` worth retrying: an I/O or network error, throttling, a commit conflict?

    lakestory's own errors say so themselves (:attr:`LakestoryError.transient`); the
    deterministic ones (config, SQL, data, checks) are never retried. Errors that wrap
    another (a user's step, a write) are judged by the error they wrap.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, LakestoryError):
            if current.transient:
                return True
            if not isinstance(current, StepError | WriteError):
                return False
        elif _looks_transient(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _looks_transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    if any(c.__name__ in _TRANSIENT_NAMES for c in type(exc).__mro__):
        return True
    response = getattr(exc, "response", None)
    for status in (
        getattr(exc, "status_code", None),
        getattr(exc, "status", None),
        getattr(exc, "code", None),
        getattr(response, "status_code", None),
    ):
        if isinstance(status, int) and status in _TRANSIENT_STATUS:
            return True
    return False
