"""Secret providers behind one interface, and fetching a project's secrets once, in parallel.

A project names a secret as ``${SECRET:provider:reference}``:

=================  ==========================================  ==================================
provider           reference                                   answered by
=================  ==========================================  ==================================
``env``            ``DB_PASSWORD``                             the environment, then ``.env``
``keyvault``       ``vault-name/secret-name[/version]`` or     Azure Key Vault
                   ``https://host[:port]/secret-name``         (:mod:`lakestory.secrets.keyvault`)
``databricks``     ``scope/key``                               ``dbutils.secrets.get``
                                                               (:mod:`lakestory.secrets.databricks`)
``callable``       anything the function understands           ``Project.load(..., secrets=fn)``
(none)             ``${SECRET:name}``                          the callable, then the environment
=================  ==========================================  ==================================

A provider is anything with a ``name``, a ``timeout`` (seconds) and ``fetch(reference) ->
str`` (:class:`SecretProvider`). :func:`fetch_all` asks every distinct reference once, each
on its own thread, waits at most the provider's timeout, and registers every value with the
redactor before anyone else sees it. Failures are :class:`SecretFetchError` (a reason such
as ``not_found`` or ``timeout`` and what to do), never carrying a value.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from lakestory.core.errors import ConfigError, LakestoryError, Where
from lakestory.core.text import suggestion
from lakestory.secrets.redactor import remember

DEFAULT_TIMEOUT = 10.0
TIMEOUT_ENV = "LAKESTORY_SECRETS_TIMEOUT"

# Why a secret did not resolve (the ``secrets check`` column and SecretError.reason).
REASONS = ("not_found", "denied", "unavailable", "unreachable", "invalid", "timeout", "error")


@runtime_checkable
class SecretProvider(Protocol):
    """One source of secrets. ``fetch`` returns the value or raises :class:`SecretFetchError`
    (any other exception is reported as reason ``error``); it may block, the caller bounds
    it by ``timeout``."""

    name: str
    timeout: float

    def fetch(self, reference: str) -> str: ...


class SecretFetchError(LakestoryError):
    """A secret could not be fetched: ``reason`` (see :data:`REASONS`), a message that names
    the reference but never a value, and what to do. Callers that know where the secret is
    used (a project file, a connection) re-raise it located; a timeout or an unreachable
    provider is transient."""

    kind = "secret_error"

    def __init__(self, reason: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
        self.message = message
        self.transient = reason in ("timeout", "unreachable")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason}


class SecretError(ConfigError):
    """A ``${SECRET:...}`` reference that did not resolve, located in the project file."""

    kind = "secret_error"

    def __init__(
        self, what: str, *, reason: str, where: Where | None = None, hint: str | None = None
    ) -> None:
        super().__init__(what, where=where, hint=hint)
        self.reason = reason
        self.transient = reason in ("timeout", "unreachable")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason}


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference: ``provider`` is ``""`` for ``${SECRET:name}`` (the callable, then
    the environment)."""

    provider: str
    reference: str

    @property
    def text(self) -> str:
        """As written in a project file."""
        inner = f"{self.provider}:{self.reference}" if self.provider else self.reference
        return f"${{SECRET:{inner}}}"

    @property
    def provider_label(self) -> str:
        return self.provider or "callable, env"


# ---------------------------------------------------------------------------- parsing

BUILTIN_PROVIDERS = ("env", "keyvault", "databricks", "callable")


def parse_reference(body: str, known: Iterable[str] = BUILTIN_PROVIDERS) -> SecretRef:
    """``body`` is what follows ``SECRET:``: ``provider:reference`` or a bare ``name``.

    Only the first ``:`` separates the provider, so a Key Vault URL with a port fits:
    ``keyvault:https://127.0.0.1:8443/db-password``. Raises :class:`SecretFetchError`
    (reason ``invalid``) for an empty reference or an unknown provider.
    """
    body = body.strip()
    provider, sep, reference = body.partition(":")
    if not sep:
        if not body:
            raise SecretFetchError(
                "invalid",
                "'${SECRET:}' names no secret",
                "write ${SECRET:provider:reference}, e.g. ${SECRET:keyvault:my-vault/db-password}",
            )
        return SecretRef("", body)
    provider, reference = provider.strip().lower(), reference.strip()
    names = list(known)
    if provider not in names:
        hint = suggestion(provider, names)
        raise SecretFetchError(
            "invalid",
            f"unknown secret provider '{provider}' in '${{SECRET:{body}}}'",
            (f"{hint} " if hint else "") + f"providers: {', '.join(names)} (see docs/secrets.md)",
        )
    if not reference:
        raise SecretFetchError(
            "invalid",
            f"'${{SECRET:{provider}:}}' names no secret",
            f"write the {provider} reference after the colon (see docs/secrets.md)",
        )
    return SecretRef(provider, reference)


# ---------------------------------------------------------------------------- providers


@dataclass
class EnvProvider:
    """``${SECRET:env:NAME}``: like ``${NAME}``, but the value is always redacted."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    name: str = "env"
    timeout: float = DEFAULT_TIMEOUT

    def fetch(self, reference: str) -> str:
        value = self.environ.get(reference)
        if value is None:
            raise SecretFetchError(
                "not_found",
                f"environment variable {reference} is not set",
                f"export {reference}=... or add it to the .env file beside the project file",
            )
        return value


Lookup = Callable[[str], "str | None"]


@dataclass
class CallableProvider:
    """``Project.load(path, secrets=fn)``: ``fn(reference)`` returns the value, or None when
    it does not know the name."""

    lookup: Lookup
    name: str = "callable"
    timeout: float = DEFAULT_TIMEOUT

    def fetch(self, reference: str) -> str:
        return self.checked(reference, self.lookup(reference))

    def checked(self, reference: str, value: object) -> str:
        if value is None:
            raise SecretFetchError(
                "not_found",
                f"the secrets function {_describe(self.lookup)} has no secret '{reference}'",
                "make the function return a value for this name, or use another provider",
            )
        if not isinstance(value, str):
            raise SecretFetchError(
                "invalid",
                f"the secrets function {_describe(self.lookup)} returned a "
                f"{type(value).__name__} for '{reference}', not a string",
                "return a str (or None when the name is unknown)",
            )
        return value


@dataclass
class DefaultProvider:
    """``${SECRET:name}``: the registered callable first, then the environment (and
    ``.env``) when there is no callable or it returns None."""

    env: EnvProvider
    call: CallableProvider | None = None
    name: str = ""
    timeout: float = DEFAULT_TIMEOUT

    def fetch(self, reference: str) -> str:
        if self.call is not None:
            value = self.call.lookup(reference)
            if value is not None:
                return self.call.checked(reference, value)
        if reference in self.env.environ:
            return self.env.fetch(reference)
        if self.call is not None:
            raise SecretFetchError(
                "not_found",
                f"secret '{reference}' is known to neither the secrets function "
                f"{_describe(self.call.lookup)} nor the environment",
                f"make the function answer '{reference}', or export {reference}=...",
            )
        raise SecretFetchError(
            "not_found",
            f"secret '{reference}' is not in the environment (no secrets function is registered)",
            f"export {reference}=..., pass Project.load(..., secrets=fn), or name a provider: "
            "${SECRET:keyvault:vault/name}",
        )


def _describe(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else str(name)


# ---------------------------------------------------------------------------- fetching


@dataclass
class Outcome:
    """What fetching one reference gave: a value or an error, and how long it took."""

    ref: SecretRef
    value: str | None = None
    error: SecretFetchError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def default_timeout() -> float:
    """``LAKESTORY_SECRETS_TIMEOUT`` (seconds) or 10."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError(
            f"{TIMEOUT_ENV}={text!r} is not a number of seconds", hint=f"e.g. {TIMEOUT_ENV}=10"
        ) from None
    return value if value > 0 else DEFAULT_TIMEOUT


def call_with_timeout(fn: Callable[[], str], timeout: float, what: str) -> str:
    """``fn()`` on a daemon thread, waiting at most ``timeout`` seconds (a hung call is
    left behind; being a daemon, it never keeps the process alive)."""
    outcome = _start(SecretRef("", what), fn)
    return _finish(outcome, timeout, what)


class _Running:
    def __init__(self, ref: SecretRef) -> None:
        self.ref = ref
        self.done = threading.Event()
        self.value: str | None = None
        self.error: BaseException | None = None
        self.started = time.monotonic()


def _start(ref: SecretRef, fn: Callable[[], str]) -> _Running:
    running = _Running(ref)

    def work() -> None:
        try:
            running.value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            running.error = exc
        finally:
            running.done.set()

    threading.Thread(target=work, name=f"lakestory-secret-{ref.provider}", daemon=True).start()
    return running


def _finish(running: _Running, timeout: float, what: str) -> str:
    remaining = running.started + timeout - time.monotonic()
    if not running.done.wait(max(remaining, 0.0)):
        raise SecretFetchError(
            "timeout",
            f"{what} did not answer within {timeout:g} s",
            f"check that the provider is reachable from here, or raise the timeout "
            f"({TIMEOUT_ENV}=30, or Project.load(..., secrets_timeout=30))",
        )
    if running.error is not None:
        if isinstance(running.error, SecretFetchError):
            raise running.error
        if not isinstance(running.error, Exception):
            raise running.error
        raise SecretFetchError(
            "error",
            f"{what} failed: {type(running.error).__name__}",
            "see docs/secrets.md; run `lakestory secrets check` to list every secret's state",
        ) from None  # the provider's own text may quote what it read
    value = running.value
    if not isinstance(value, str):
        raise SecretFetchError("invalid", f"{what} returned a {type(value).__name__}, not a string")
    return value


def fetch_all(
    refs: Iterable[SecretRef],
    providers: Mapping[str, SecretProvider],
    timeout: float | None = None,
) -> dict[SecretRef, Outcome]:
    """Fetch each distinct reference once, all at the same time, each bounded by its
    provider's timeout (or ``timeout`` when given). Values are registered with the redactor
    as they arrive."""
    started: dict[SecretRef, _Running] = {}
    outcomes: dict[SecretRef, Outcome] = {}
    for ref in dict.fromkeys(refs):
        provider = providers.get(ref.provider)
        if provider is None:
            outcomes[ref] = Outcome(
                ref,
                error=SecretFetchError(
                    "invalid",
                    f"no secret provider '{ref.provider}' is registered",
                    f"providers: {', '.join(p or '(none)' for p in providers)}",
                ),
            )
            continue
        started[ref] = _start(ref, _remembering(provider, ref.reference))
    for ref, running in started.items():
        provider = providers[ref.provider]
        limit = timeout if timeout is not None else provider.timeout
        what = (
            f"the {ref.provider} provider"
            if ref.provider
            else "the secrets function or the environment"
        )
        try:
            value = _finish(running, limit, what)
        except SecretFetchError as exc:
            outcomes[ref] = Outcome(ref, error=exc, seconds=time.monotonic() - running.started)
        else:
            outcomes[ref] = Outcome(ref, value=value, seconds=time.monotonic() - running.started)
    return outcomes


def _remembering(provider: SecretProvider, reference: str) -> Callable[[], str]:
    def fetch() -> str:
        value = provider.fetch(reference)
        if isinstance(value, str):
            remember([value])  # hidden before anyone else sees it
        return value

    return fetch
