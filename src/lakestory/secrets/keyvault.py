"""Azure Key Vault: ``${SECRET:keyvault:...}`` and connections with ``auth_mode: key_vault``.

References (docs/secrets.md)::

    ${SECRET:keyvault:my-vault/db-password}             https://my-vault.vault.azure.net
    ${SECRET:keyvault:my-vault/db-password/0123abcd}    a given version
    ${SECRET:keyvault:my-vault.vault.azure.cn/db-password}          a host (sovereign cloud)
    ${SECRET:keyvault:https://127.0.0.1:8443/db-password}           a full URL (any port)
    ${SECRET:keyvault:https://my-vault.vault.azure.net/secrets/db-password/0123abcd}
                                                        a secret identifier, as the portal shows

Credentials: the one given to :func:`set_credential` (or ``Project.load(...,
azure_credential=cred)``), else ``azure.identity.DefaultAzureCredential`` (Azure CLI login on
a laptop, managed identity in Azure). The storage layer calls :func:`get_secret` for
connections with ``auth_mode: key_vault``. Every value is registered with the redactor
before it is returned. azure-keyvault-secrets and azure-identity are imported here only,
and only when a Key Vault secret is asked for.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lakestory.secrets.providers import (
    DEFAULT_TIMEOUT,
    SecretFetchError,
    call_with_timeout,
)
from lakestory.secrets.redactor import remember

INSTALL = 'pip install "lakestory[azure]"'
_VAULT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9-]{1,127}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

_lock = threading.Lock()
_credential: Any = None  # set_credential(), else a DefaultAzureCredential made once
_clients: dict[tuple[str, int], Any] = {}  # (vault URL, id(credential)) -> SecretClient
# set once a client's first request is answered: its token is then cached in the client, so
# the requests that wait for it do not each ask the credential (each `az` login a process)
_warm: dict[int, threading.Event] = {}
_cache: dict[tuple[str, str, str | None], str] = {}  # fetched once per load


@dataclass(frozen=True)
class VaultSecret:
    """A parsed Key Vault reference."""

    vault_url: str
    name: str
    version: str | None = None


def vault_url(vault: str) -> str:
    """``my-vault`` → ``https://my-vault.vault.azure.net``; a host or an https URL as is."""
    vault = vault.strip().rstrip("/")
    if "://" in vault:
        parts = urlsplit(vault)
        if parts.scheme != "https" or not parts.netloc:
            raise SecretFetchError(
                "invalid",
                f"Key Vault URL '{vault}' is not an https:// URL",
                "Key Vault is reached over HTTPS only: https://NAME.vault.azure.net",
            )
        return f"https://{parts.netloc}"
    if "." in vault:
        return f"https://{vault}"
    if not _VAULT_NAME.match(vault):
        raise SecretFetchError(
            "invalid",
            f"'{vault}' is not a Key Vault name (3-24 letters, digits and dashes, "
            "starting with a letter)",
            "give the vault's name, its host (NAME.vault.azure.cn) or its https:// URL",
        )
    return f"https://{vault}.vault.azure.net"


def parse(reference: str) -> VaultSecret:
    """``vault/secret[/version]``, or an https URL whose path is ``/secret[/version]`` or
    ``/secrets/secret[/version]``."""
    ref = reference.strip()
    if "://" in ref:
        parts = urlsplit(ref)
        base, segments = f"{parts.scheme}://{parts.netloc}", parts.path.strip("/").split("/")
        if len(segments) >= 2 and segments[0] == "secrets":
            segments = segments[1:]
    else:
        base, _, rest = ref.partition("/")
        segments = rest.strip("/").split("/") if rest else []
    if not segments or not segments[0] or len(segments) > 2:
        raise SecretFetchError(
            "invalid",
            f"Key Vault reference '{reference}' does not name one secret",
            "write vault-name/secret-name (or vault-name/secret-name/version, or "
            "https://host[:port]/secret-name)",
        )
    name = segments[0]
    if not _SECRET_NAME.match(name):
        raise SecretFetchError(
            "invalid",
            f"'{name}' is not a Key Vault secret name (letters, digits and dashes)",
            "Key Vault secret names hold only letters, digits and '-'",
        )
    version = segments[1] if len(segments) == 2 and segments[1] else None
    return VaultSecret(vault_url(base), name, version)


def set_credential(credential: Any) -> None:
    """Use this ``azure.core.credentials.TokenCredential`` for every Key Vault request of
    the process (None goes back to DefaultAzureCredential)."""
    global _credential
    with _lock:
        _credential = credential
        _clients.clear()
        _warm.clear()


def clear_cache() -> None:
    """Forget fetched values, so the next load asks the vault again (a rotated secret)."""
    with _lock:
        _cache.clear()


def get_secret(
    vault: str,
    name: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    version: str | None = None,
    credential: Any = None,
) -> str:
    """The value of secret ``name`` in ``vault`` (a name, host or https URL), registered with
    the redactor, within ``timeout`` seconds. Fetched once until :func:`clear_cache` (which
    each project load calls). Raises :class:`SecretFetchError` naming the vault and the
    secret, never the value."""
    target = VaultSecret(vault_url(vault), name.strip(), version)
    what = f"Key Vault {target.vault_url} (secret '{target.name}')"
    return call_with_timeout(lambda: _cached(target, timeout, credential), timeout, what)


@dataclass
class KeyVaultProvider:
    """``${SECRET:keyvault:...}``: as :func:`get_secret`, bounded by the caller
    (:func:`~lakestory.secrets.providers.fetch_all`)."""

    credential: Any = None
    name: str = "keyvault"
    timeout: float = DEFAULT_TIMEOUT

    def fetch(self, reference: str) -> str:
        return _cached(parse(reference), self.timeout, self.credential)


def _cached(target: VaultSecret, timeout: float, credential: Any) -> str:
    if not _SECRET_NAME.match(target.name):
        raise SecretFetchError(
            "invalid",
            f"'{target.name}' is not a Key Vault secret name (letters, digits and dashes)",
            "Key Vault secret names hold only letters, digits and '-'",
        )
    key = (target.vault_url, target.name, target.version)
    with _lock:
        if key in _cache:
            return _cache[key]
    value = _fetch(target, timeout, credential)
    remember([value])
    with _lock:
        _cache[key] = value
    return value


# ---------------------------------------------------------------------------- the SDK


def _client(url: str, credential: Any, timeout: float) -> Any:
    try:
        from azure.keyvault.secrets import SecretClient
    except ImportError:
        raise SecretFetchError(
            "unavailable",
            "reading Azure Key Vault needs azure-keyvault-secrets and azure-identity",
            f"run: {INSTALL}",
        ) from None
    cred = credential if credential is not None else _default_credential()
    with _lock:
        client = _clients.get((url, id(cred)))
        if client is None:
            host = urlsplit(url).hostname or ""
            client = SecretClient(
                url,
                cred,
                # A stand-in on this machine cannot answer for *.vault.azure.net; everywhere
                # else the challenge must name the vault's own domain.
                verify_challenge_resource=host not in _LOOPBACK,
                connection_timeout=timeout,
                read_timeout=timeout,
                retry_total=2,
                retry_backoff_factor=0.2,
            )
            _clients[(url, id(cred))] = client
    return client


def _default_credential() -> Any:
    global _credential
    with _lock:
        if _credential is not None:
            return _credential
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise SecretFetchError(
            "unavailable",
            "Azure credentials need azure-identity",
            f"run: {INSTALL}",
        ) from None
    made = DefaultAzureCredential()
    with _lock:
        if _credential is None:
            _credential = made
        return _credential


def _fetch(target: VaultSecret, timeout: float, credential: Any) -> str:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    where = f"Key Vault {target.vault_url}"
    try:
        secret = _first_alone(
            _client(target.vault_url, credential, timeout),
            lambda client: client.get_secret(target.name, target.version),
            min(timeout / 2, 5.0),
        )
    except ResourceNotFoundError:
        raise SecretFetchError(
            "not_found",
            f"secret '{target.name}' is not in {where}",
            "check the secret's name (and version) in the vault"
            + (
                f": `az keyvault secret list --vault-name {_short(target.vault_url)}`"
                if ".vault." in target.vault_url
                else ""
            ),
        ) from None
    except ClientAuthenticationError as exc:
        raise _auth_error(exc, where, target.name) from None
    except ServiceRequestError as exc:
        raise SecretFetchError(
            "unreachable",
            f"{where} is not reachable ({type(exc).__name__})",
            "check the vault's name or URL, the network and any proxy or firewall",
        ) from None
    except HttpResponseError as exc:
        status = getattr(exc, "status_code", None)
        raise SecretFetchError(
            "denied" if status == 403 else "error",
            f"{where} answered {status or type(exc).__name__} for secret '{target.name}'",
            "the identity needs the 'Key Vault Secrets User' role (or a get-secret access "
            "policy) on the vault"
            if status == 403
            else "retry later; run `lakestory secrets check` to see every secret's state",
        ) from None
    value = secret.value
    if value is None:
        raise SecretFetchError("not_found", f"secret '{target.name}' in {where} has no value", None)
    return str(value)


_SIGN_IN = (
    "sign in (`az login`), set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, use a "
    "managed identity, or pass Project.load(..., azure_credential=cred)"
)


def _auth_error(exc: Any, where: str, name: str) -> SecretFetchError:
    """The vault refused the token (401/403), or no token was had: no credential at all
    (``unavailable``) or one that was turned down (``denied``)."""
    if getattr(exc, "status_code", None) in (401, 403):
        return SecretFetchError(
            "denied",
            f"{where} refused the request for secret '{name}' ({_status(exc)})",
            "the identity needs the 'Key Vault Secrets User' role (or a get-secret access "
            "policy) on the vault; " + _SIGN_IN,
        )
    text = str(exc)
    none = type(exc).__name__ == "CredentialUnavailableError" or (
        "failed to retrieve a token from the included credentials" in text
    )
    return SecretFetchError(
        "unavailable" if none else "denied",
        f"no Azure token to read secret '{name}' from {where}: "
        + (
            "no credential is available here"
            if none
            else f"the credential was refused ({type(exc).__name__})"
        ),
        _SIGN_IN,
    )


def _first_alone(client: Any, call: Any, wait: float) -> Any:
    """``call(client)``; while the client's first call runs (getting the token), the others
    wait for it, at most ``wait`` seconds (a first call that hangs holds no one up long)."""
    with _lock:
        ready = _warm.get(id(client))
        first = ready is None
        if ready is None:
            ready = _warm[id(client)] = threading.Event()
    if not first:
        ready.wait(wait)
    try:
        return call(client)
    finally:
        if first:
            ready.set()


def _status(exc: Any) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status else ""


def _short(url: str) -> str:
    host = urlsplit(url).hostname or url
    return host.split(".", 1)[0]
