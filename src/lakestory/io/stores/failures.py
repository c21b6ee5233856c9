"""What a failed call to a store is reported as: the connection, its auth mode, and what to do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lakestory.core import cancel
from lakestory.core.errors import ConfigError, DataError, StoreError, is_transient
from lakestory.io.stores.registry import CONNECT_TIMEOUT_S, Store
from lakestory.secrets.redactor import current as current_redactor

# --- errors ------------------------------------------------------------------------------


@contextmanager
def errors(store: Store, uri: str) -> Iterator[None]:
    """Turn a store's exceptions into a message naming the connection and its auth mode
    (never a secret), and what to do."""
    try:
        yield
    except (ConfigError, DataError, StoreError, cancel.Cancelled):
        raise
    except Exception as exc:
        if type(exc).__name__ in _PASSTHROUGH:
            raise
        raise store_error(store, uri, exc) from None


# deltalake's own answers, which its callers handle
_PASSTHROUGH = frozenset({"TableNotFoundError", "CommitFailedError", "SchemaMismatchError"})

_REFUSED_CODES = frozenset(
    {
        "accessdenied",
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "expiredtoken",
        "invalidtoken",
        "authenticationfailed",
        "authorizationfailure",
        "authorizationpermissionmismatch",
        "insufficientaccountpermissions",
    }
)
_REFUSED_WORDS = (
    "forbidden",
    "access denied",
    "not authorized",
    "server failed to authenticate",
    "clientauthenticationerror",
    "invalid credentials",
    "lacked the necessary privileges",
    *_REFUSED_CODES,
)
_MISSING_CODES = frozenset({"nosuchbucket", "containernotfound", "filesystemnotfound"})


def store_error(store: Store, uri: str, exc: BaseException) -> DataError | StoreError:
    """The error to report for a failed call to ``store``: a StoreError when it refused
    the credentials (not retried) or could not be reached or was busy (retried under the
    project's `retry:`), else a DataError. Judged by the HTTP status and error code where
    the exception carries them, else by its words with the path taken out (a date such as
    ``dt=20240403`` in a path is no status code)."""
    text = current_redactor().redact_text(f"{type(exc).__name__}: {exc}")
    status, code = _status_and_code(exc)
    words = text.lower()
    for place in {uri, uri.rstrip("/"), store.fs_path(uri)}:
        words = words.replace(place.lower(), "<path>")
    if isinstance(exc, FileNotFoundError) and code not in _MISSING_CODES:
        return DataError(
            f"{store.describe()}: {uri} does not exist (any more)",
            hint="check the path; another process may have moved or deleted it",
        )
    if (
        isinstance(exc, PermissionError)
        or status in (401, 403)
        or code in _REFUSED_CODES
        or any(w in words for w in _REFUSED_WORDS)
    ):
        return StoreError(
            f"{store.describe()}: the store refused the credentials",
            detail=_first_line(text),
            hint=_credential_hint(store),
        )
    if code in _MISSING_CODES or "bucket does not exist" in words:
        return DataError(
            f"{store.describe()}: the bucket or container of {uri} does not exist",
            detail=_first_line(text),
            hint="create it, or fix `bucket:` / `container:` in the connection",
        )
    unreachable = isinstance(exc, ConnectionError | TimeoutError) or any(
        w in words
        for w in ("could not connect", "connection refused", "timed out", "timeout",
                  "name or service not known", "unreachable", "dns error", "connect error")
    )  # fmt: skip
    if unreachable or is_transient(exc) or (status or 0) >= 500 or status == 429:
        error = StoreError(
            f"{store.describe()}: cannot reach {store.endpoint}"
            if unreachable
            else f"{store.describe()}: the store is busy or failing (retried)",
            detail=_first_line(text),
            hint="check the endpoint (`endpoint_url`), the network and the firewall; the "
            f"connection attempt gives up after {CONNECT_TIMEOUT_S} s"
            if unreachable
            else "run again later; set `retry:` to retry such errors by themselves",
        )
        error.transient = True
        return error
    return DataError(f"{store.describe()}: {_first_line(text)}", detail=f"at {uri}")


def _status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    """The HTTP status and error code of ``exc`` or an exception it wraps (botocore's
    ClientError, azure-core's HttpResponseError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):  # botocore
            error = response.get("Error", {})
            meta = response.get("ResponseMetadata", {})
            return meta.get("HTTPStatusCode"), str(error.get("Code") or "").lower() or None
        status = getattr(current, "status_code", None)
        if isinstance(status, int):  # azure-core
            code = getattr(current, "error_code", None)
            return status, str(code).lower() if code else None
        current = current.__cause__ or current.__context__
    return None, None


def _credential_hint(store: Store) -> str:
    return {
        "account_key": "check the account key (`account_key`) and the account name",
        "sas": "check the SAS token: its permissions (read, write, list, delete) and expiry",
        "connection_string": "check the connection string's AccountKey or SharedAccessSignature",
        "key_vault": "check the key kept in the vault (`key_vault:`, `secret:`)",
        "service_principal": "check tenant_id, client_id, client_secret and the principal's "
        "role on the storage account (Storage Blob Data Contributor)",
        "access_key": "check access_key_id / secret_access_key and the key's IAM policy",
    }.get(store.auth_mode, "check the identity's role on the storage account or bucket")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:400]
    return text[:400]
