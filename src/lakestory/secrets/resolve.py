"""A project's secrets: the providers a load uses, and every reference fetched once.

The config loader finds every ``${SECRET:...}`` (a :class:`SecretUse`, with its file, line
and key), then :func:`resolve_uses` fetches the distinct references in parallel and says,
for each use, whether it resolved (:class:`SecretStatus`, never holding the value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lakestory.core.errors import Where
from lakestory.secrets.databricks import DatabricksProvider
from lakestory.secrets.keyvault import KeyVaultProvider
from lakestory.secrets.providers import (
    CallableProvider,
    DefaultProvider,
    EnvProvider,
    Lookup,
    SecretError,
    SecretFetchError,
    SecretProvider,
    SecretRef,
    default_timeout,
    fetch_all,
)


@dataclass(frozen=True)
class SecretUse:
    """One ``${SECRET:...}`` in a project: ``expr`` as written (without ``${}``), where it
    is, and what it names (``ref``) or why it names nothing (``error``)."""

    expr: str
    where: Where
    ref: SecretRef | None = None
    error: SecretFetchError | None = None


@dataclass(frozen=True)
class SecretStatus:
    """Whether one use resolved: ``reason`` is ``ok`` or why not. Holds no value."""

    use: SecretUse
    reason: str
    message: str | None = None
    hint: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reason == "ok"

    @property
    def provider(self) -> str:
        if self.use.ref is not None:
            return self.use.ref.provider_label
        parts = self.use.expr.split(":")  # as written: SECRET:provider:...
        return parts[1].strip() if len(parts) > 2 else "?"

    @property
    def reference(self) -> str:
        if self.use.ref is not None:
            return self.use.ref.reference
        parts = self.use.expr.split(":", 2)
        return parts[2].strip() if len(parts) > 2 else self.use.expr

    def error(self) -> SecretError:
        """The located error: the reference as written, then why."""
        return SecretError(
            f"${{{self.use.expr}}}: {self.message or 'did not resolve'}",
            reason=self.reason,
            where=self.use.where,
            hint=self.hint,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "secret": f"${{{self.use.expr}}}",
            "provider": self.provider,
            "reference": self.reference,
            "status": self.reason,
            **{k: v for k, v in self.use.where.to_dict().items() if k in ("file", "line", "key")},
            "seconds": round(self.seconds, 3),
        }
        if self.message:
            out["message"] = self.message
        if self.hint:
            out["hint"] = self.hint
        return out


class _NoCallable:
    name = "callable"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def fetch(self, reference: str) -> str:
        raise SecretFetchError(
            "unavailable",
            f"'${{SECRET:callable:{reference}}}' needs a secrets function, and none is registered",
            "load the project from Python with Project.load(path, secrets=fn)",
        )


@dataclass
class SecretSettings:
    """How a load resolves secrets: a lookup function (``Project.load(secrets=fn)``), a
    ``dbutils``, an Azure credential, the timeout (seconds; default
    ``LAKESTORY_SECRETS_TIMEOUT`` or 10), extra or replacement providers by name, and
    whether a secret that does not resolve fails the load (``strict``) or is only reported
    (``lakestory secrets check``)."""

    lookup: Lookup | None = None
    dbutils: Any = None
    azure_credential: Any = None
    timeout: float | None = None
    providers: Mapping[str, SecretProvider] = field(default_factory=dict)
    strict: bool = True

    def build(self, environ: Mapping[str, str]) -> dict[str, SecretProvider]:
        t = self.timeout if self.timeout is not None else default_timeout()
        env = EnvProvider(environ, timeout=t)
        call = CallableProvider(self.lookup, timeout=t) if self.lookup is not None else None
        built: dict[str, SecretProvider] = {
            "env": env,
            "keyvault": KeyVaultProvider(self.azure_credential, timeout=t),
            "databricks": DatabricksProvider(self.dbutils, timeout=t),
            "callable": call or _NoCallable(t),
            "": DefaultProvider(env, call, timeout=t),
        }
        built.update(self.providers)
        return built


def resolve_uses(
    uses: Iterable[SecretUse], providers: Mapping[str, SecretProvider]
) -> tuple[dict[str, str], list[SecretStatus]]:
    """Fetch every distinct reference once, in parallel: the values by ``expr`` and one
    status per use, in the order given."""
    uses = list(uses)
    outcomes = fetch_all([u.ref for u in uses if u.ref is not None], providers)
    values: dict[str, str] = {}
    statuses = []
    for use in uses:
        if use.ref is None:
            err = use.error or SecretFetchError("invalid", f"'${{{use.expr}}}' names no secret")
            statuses.append(SecretStatus(use, err.reason, err.message, err.hint))
            continue
        outcome = outcomes[use.ref]
        if outcome.error is not None:
            e = outcome.error
            statuses.append(SecretStatus(use, e.reason, e.message, e.hint, outcome.seconds))
            continue
        assert outcome.value is not None
        values[use.expr] = outcome.value
        statuses.append(SecretStatus(use, "ok", seconds=outcome.seconds))
    return values, statuses
