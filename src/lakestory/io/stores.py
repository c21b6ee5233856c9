"""Object stores behind connections: Amazon S3 and Azure (ADLS Gen2 and Blob Storage).

A cloud connection becomes a :class:`Store`: the URL its paths start with, an fsspec file
system (s3fs or adlfs) and the storage options deltalake takes, built from the connection's
auth mode. Stores are registered by their URL root when a project's locations are resolved,
so code that holds only a ``uri`` (Delta reads and writes, file listings, staged writes)
finds the credentials with :func:`find`.

Every location's ``uri`` is a URL for a cloud connection:

- S3: ``s3://bucket/prefix/path``;
- Azure: ``abfss://container@account.dfs.core.windows.net/prefix/path``, for ADLS and Blob
  alike (delta-rs and adlfs both speak the Blob API behind it; ``endpoint_url`` points them
  at an emulator or a sovereign cloud).

Paths in the YAML may also be full URLs (``s3://``, ``s3a://``, ``abfss://``, ``abfs://``,
``wasbs://``, ``az://``, ``https://ACCOUNT.blob.core.windows.net/CONTAINER/...``); they
must lie in the connection's bucket or account and container.
"""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from lakestory.config.models import AzureConnection, S3Connection
from lakestory.core import cancel
from lakestory.core.errors import ConfigError, DataError, StoreError, Where, is_transient
from lakestory.io.specs import Location
from lakestory.secrets.redactor import current as current_redactor
from lakestory.secrets.redactor import remember

CONNECT_TIMEOUT_S = 10
"""How long a first connection to a store may take before the run fails with a message."""

_EXTRAS = {"s3": "aws", "azure_adls": "azure", "azure_blob": "azure"}


@dataclass
class Store:
    """One cloud connection: where its paths start, and how to reach them."""

    connection: str
    kind: str  # "s3", "azure_adls" or "azure_blob"
    auth_mode: str  # as configured, for messages ("account_key", "access_key", ...)
    root: str  # URL every path of the connection starts with, without a trailing "/"
    endpoint: str  # what the run talks to, for messages (never a secret)
    _fs_factory: Callable[[], Any] = field(repr=False)
    _delta_factory: Callable[[], dict[str, str]] = field(repr=False)
    settings: str = field(default="", repr=False)  # a digest of the connection's settings
    credentials: str = field(default="", repr=False)  # ... of all but its path prefix
    generation: int = field(default=0, repr=False)
    _fs: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fs(self) -> Any:
        """The fsspec file system (made once, on first use)."""
        with self._lock:
            if self._fs is None:
                self._fs = self._fs_factory()
            return self._fs

    def delta_options(self) -> dict[str, str]:
        """deltalake's ``storage_options`` (a fresh token when the auth mode uses one)."""
        return self._delta_factory()

    def fs_path(self, uri: str) -> str:
        """``uri`` as the file system names it: ``bucket/key`` or ``container/path``."""
        _, bucket, key = _split(uri)
        return f"{bucket}/{key}".rstrip("/")

    def url(self, fs_path: str) -> str:
        """The inverse of :meth:`fs_path`."""
        bucket, _, key = fs_path.partition("/")
        return _join(self._base(bucket), key)

    def _base(self, bucket: str) -> str:
        scheme, _, rest = self.root.partition("://")
        host = rest.split("/", 1)[0]
        if scheme == "s3":
            return f"s3://{bucket}"
        return f"{scheme}://{bucket}@{host.split('@', 1)[1]}"

    def describe(self) -> str:
        return f"connection '{self.connection}' ({self.kind}, auth_mode {self.auth_mode})"


# --- the registry ------------------------------------------------------------------------

_registry: dict[str, Store] = {}
_registry_lock = threading.Lock()


_generation = 0  # a new project load builds new stores (credentials may have rotated)


def new_generation() -> None:
    """Build stores afresh from now on (called when a project is loaded): a key fetched
    from a vault or a session token from the default chain may have changed since."""
    global _generation
    with _registry_lock:
        _generation += 1


def register(store: Store) -> Store:
    """Register ``store`` under its root. Two connections with different credentials may
    not share a root or nest one inside the other: which one's credentials a URL there
    gets would depend on the order they were named."""
    with _registry_lock:
        known = _registry.get(store.root)
        if known is not None and known.settings == store.settings:
            return known  # keep its file system (and its open sessions)
        for other in _registry.values():
            if (
                other.connection != store.connection
                and other.credentials != store.credentials
                and other.generation == _generation
                and _nested(other.root, store.root)
            ):
                raise ConfigError(
                    f"connections '{other.connection}' and '{store.connection}' reach the "
                    f"same place ({other.root} and {store.root}) with different credentials",
                    hint="give them separate path prefixes (or buckets/containers), or use "
                    "one connection for both",
                )
        store.generation = _generation
        _registry[store.root] = store
    return store


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def find(uri: str) -> Store | None:
    """The store of ``uri`` (the longest registered root it starts with), or None when
    ``uri`` is a local path."""
    if not is_remote(uri):
        return None
    with _registry_lock:
        roots = sorted(_registry, key=len, reverse=True)
        for root in roots:
            if uri == root or uri.startswith(root + "/"):
                return _registry[root]
        # the same bucket or container (and account) under another prefix
        top = _top(uri)
        for root in roots:
            if _top(root) == top:
                return _registry[root]
    raise DataError(
        f"no connection reaches {uri}",
        hint="name the place through a connection (`connection:` and `path:`), so lakestory "
        "knows its credentials",
    )


def _top(uri: str) -> str:
    """``scheme://netloc`` of a URL: its bucket, or its container and account."""
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


# --- building a store from a connection --------------------------------------------------


def store_for(name: str, conn: AzureConnection | S3Connection) -> Store:
    """The store of a cloud connection (registered, so ``find`` answers for its URLs)."""
    store = _s3_store(name, conn) if isinstance(conn, S3Connection) else _azure_store(name, conn)
    settings = conn.model_dump()
    store.settings = _digest([name, settings, _generation])
    settings.pop("path_prefix", None)
    store.credentials = _digest(settings)
    return register(store)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def location(
    name: str, conn: AzureConnection | S3Connection, path: str, where: Where | None = None
) -> Location:
    given = path
    if isinstance(conn, AzureConnection) and not conn.container:
        container, path = _container_of(name, path, where)
        conn = conn.model_copy(update={"container": container})
    store = store_for(name, conn)
    uri = _normalize_url(path, store, where) if "://" in path else _join(store.root, path)
    if given.endswith("/") and not uri.endswith("/"):
        uri += "/"
    return Location(connection=name, kind=conn.type, uri=uri, path=given)


_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def _container_of(name: str, path: str, where: Where | None) -> tuple[str, str]:
    """For an Azure connection without ``container``: the container is the path's first
    folder (``bronze/customers`` is ``customers`` in container ``bronze``)."""
    if "://" in path:
        parts = urlsplit(path)
        if parts.scheme.lower() in ("abfss", "abfs", "wasbs", "wasb", "az"):
            return parts.netloc.split("@", 1)[0], path
        segments = parts.path.strip("/").split("/")  # https://ACCOUNT.blob.../CONTAINER/...
        first = segments[0] if parts.hostname and "." in parts.hostname else ""
    else:
        first, _, path = path.strip("/").partition("/")
    if not _CONTAINER.match(first):
        raise ConfigError(
            f"connection '{name}' has no `container`, so a path starts with one; "
            f"'{first}' is not a container name",
            where=where,
            hint="set `container:` on the connection, or start the path with a container "
            "(3-63 lowercase letters, digits and single hyphens), e.g. bronze/customers",
        )
    return first, path


def _s3_store(name: str, conn: S3Connection) -> Store:
    prefix = (conn.path_prefix or "").strip("/")
    root = _join(f"s3://{conn.bucket}", prefix)
    auth = (
        "access_key"
        if conn.access_key_id
        else ("profile" if conn.profile else "default credential chain")
    )

    def credentials() -> dict[str, str]:
        if conn.access_key_id:
            found = {"key": conn.access_key_id, "secret": conn.secret_access_key or ""}
            if conn.session_token:
                found["token"] = conn.session_token
            return found
        boto3 = _require("boto3", "s3")
        session = boto3.Session(profile_name=conn.profile) if conn.profile else boto3.Session()
        creds = session.get_credentials()
        if creds is None:
            raise ConfigError(
                f"connection '{name}' (s3): no AWS credentials found",
                hint="set access_key_id/secret_access_key (from ${...} secrets), a `profile`, "
                "or the AWS_* environment variables / an instance role",
            )
        frozen = creds.get_frozen_credentials()
        found = {"key": frozen.access_key, "secret": frozen.secret_key}
        if frozen.token:
            found["token"] = frozen.token
        remember([v for k, v in found.items() if k != "key"])
        return found

    def make_fs() -> Any:
        s3fs = _require("s3fs", "s3")
        kwargs: dict[str, Any] = {
            "client_kwargs": {"region_name": conn.region or "us-east-1"},
            "config_kwargs": {
                "connect_timeout": CONNECT_TIMEOUT_S,
                "read_timeout": 60,
                "retries": {"max_attempts": 3, "mode": "standard"},
            },
            "skip_instance_cache": True,
            "use_listings_cache": False,  # a listing is always the store's answer now
        }
        if conn.endpoint_url:
            kwargs["client_kwargs"]["endpoint_url"] = conn.endpoint_url
        if conn.access_key_id:
            kwargs.update(credentials())
        elif conn.profile:
            kwargs["profile"] = conn.profile
        # else: botocore's default chain, which refreshes expiring session tokens itself
        return s3fs.S3FileSystem(**kwargs)

    def delta() -> dict[str, str]:
        creds = credentials()
        opts = {
            "AWS_ACCESS_KEY_ID": creds["key"],
            "AWS_SECRET_ACCESS_KEY": creds["secret"],
            "AWS_REGION": conn.region or "us-east-1",
            # commits use S3's conditional writes (If-None-Match), so concurrent writers
            # are safe without a DynamoDB lock table
            "conditional_put": "etag",
            "connect_timeout": f"{CONNECT_TIMEOUT_S}s",
            "max_retries": "3",
        }
        if "token" in creds:
            opts["AWS_SESSION_TOKEN"] = creds["token"]
        if conn.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = conn.endpoint_url
            if conn.endpoint_url.startswith("http://"):
                opts["AWS_ALLOW_HTTP"] = "true"
        return opts

    return Store(
        connection=name,
        kind="s3",
        auth_mode=auth,
        root=root,
        endpoint=conn.endpoint_url or f"s3.{conn.region or 'us-east-1'}.amazonaws.com",
        _fs_factory=make_fs,
        _delta_factory=delta,
    )


def _azure_store(name: str, conn: AzureConnection) -> Store:
    parts = _connection_string(conn.connection_string) if conn.connection_string else {}
    account = conn.account or conn.account_name or parts.get("accountname")
    if not account:
        raise ConfigError(f"connection '{name}' ({conn.type}) needs `account`")
    assert conn.container, "location() names the container of a connection without one"
    endpoint = conn.endpoint_url or parts.get("blobendpoint")
    prefix = (conn.path_prefix or "").strip("/")
    root = _join(f"abfss://{conn.container}@{account}.dfs.core.windows.net", prefix)
    mode = conn.auth_mode
    if conn.connection_string and mode == "default":
        mode = "connection_string"  # a connection string says how to authenticate

    def secrets() -> dict[str, str]:
        """What authenticates the connection: {"key": ...} / {"sas": ...} / {} (a token)."""
        if mode == "account_key":
            return {"key": _needs(conn.account_key, "account_key", name, mode)}
        if mode == "sas":
            return {"sas": _needs(conn.sas_token, "sas_token", name, mode).lstrip("?")}
        if mode == "connection_string":
            _needs(conn.connection_string, "connection_string", name, mode)
            if "accountkey" in parts:
                return {"key": parts["accountkey"]}
            if "sharedaccesssignature" in parts:
                return {"sas": parts["sharedaccesssignature"].lstrip("?")}
            raise ConfigError(
                f"connection '{name}' ({conn.type}, auth_mode connection_string): the "
                "connection string holds neither AccountKey nor SharedAccessSignature",
            )
        if mode == "key_vault":
            from lakestory.secrets import keyvault
            from lakestory.secrets.providers import SecretFetchError

            vault = _needs(conn.key_vault, "key_vault", name, mode)
            secret = conn.secret or f"{account}-key"
            try:
                return {"key": keyvault.get_secret(vault, secret)}
            except SecretFetchError as exc:
                raise StoreError(
                    f"connection '{name}' ({conn.type}, auth_mode key_vault): {exc.what}",
                    hint=exc.hint,
                    detail=exc.detail,
                ) from None
        return {}

    made: list[Any] = []  # the credential, made once: it caches its tokens

    def credential() -> Any:
        if not made:
            made.append(make_credential())
        return made[0]

    def make_credential() -> Any:
        identity = _require("azure.identity", conn.type)
        if mode == "service_principal":
            return identity.ClientSecretCredential(
                tenant_id=_needs(conn.tenant_id, "tenant_id", name, mode),
                client_id=_needs(conn.client_id, "client_id", name, mode),
                client_secret=_needs(conn.client_secret, "client_secret", name, mode),
            )
        if mode == "managed_identity":
            return identity.ManagedIdentityCredential(client_id=conn.client_id)
        return identity.DefaultAzureCredential()

    def make_fs() -> Any:
        adlfs = _require("adlfs", conn.type)
        found = secrets()
        if endpoint and endpoint.startswith("http://"):
            # adlfs reaches a non-https endpoint (an emulator) only through a connection string
            text = f"DefaultEndpointsProtocol=http;AccountName={account};BlobEndpoint={endpoint};"
            if "key" in found:
                text += f"AccountKey={found['key']};"
            elif "sas" in found:
                text += f"SharedAccessSignature={found['sas']};"
            return adlfs.AzureBlobFileSystem(
                connection_string=text, skip_instance_cache=True, use_listings_cache=False
            )
        kwargs: dict[str, Any] = {
            "account_name": account,
            "skip_instance_cache": True,
            "use_listings_cache": False,
        }
        if endpoint:
            kwargs["account_host"] = urlsplit(endpoint).netloc
        if "key" in found:
            kwargs["account_key"] = found["key"]
        elif "sas" in found:
            kwargs["sas_token"] = found["sas"]
        else:
            kwargs["credential"] = credential()
        return adlfs.AzureBlobFileSystem(**kwargs)

    def delta() -> dict[str, str]:
        found = secrets()
        opts = {
            "account_name": account,
            "connect_timeout": f"{CONNECT_TIMEOUT_S}s",
            "max_retries": "3",
        }
        if endpoint:
            opts["azure_storage_endpoint"] = endpoint.rstrip("/")
            if endpoint.startswith("http://"):
                opts["allow_http"] = "true"
        if "key" in found:
            opts["account_key"] = found["key"]
        elif "sas" in found:
            opts["sas_token"] = found["sas"]
        elif mode == "service_principal":
            opts["client_id"] = conn.client_id or ""
            opts["client_secret"] = conn.client_secret or ""
            opts["tenant_id"] = conn.tenant_id or ""
        else:
            token = credential().get_token("https://storage.azure.com/.default")
            remember([token.token])
            opts["bearer_token"] = token.token
        return opts

    return Store(
        connection=name,
        kind=conn.type,
        auth_mode=mode,
        root=root,
        endpoint=endpoint or f"{account}.blob.core.windows.net",
        _fs_factory=make_fs,
        _delta_factory=delta,
    )


def _needs(value: str | None, key: str, name: str, mode: str) -> str:
    if not value:
        raise ConfigError(
            f"connection '{name}' (auth_mode {mode}) needs `{key}`",
            hint=f"set {key}: ${{MY_SECRET}} (from the environment, .env or a key vault)",
        )
    return value


def _connection_string(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            found[key.strip().lower()] = value.strip()
    return found


def _require(module: str, kind: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRAS.get(kind, kind)
        raise ConfigError(
            f"a '{kind}' connection needs the {module.split('.')[0]} library",
            hint=f'pip install "lakestory[{extra}]"',
        ) from None


# --- URLs --------------------------------------------------------------------------------


def _split(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket or container, key) of a store URL."""
    scheme, _, rest = uri.partition("://")
    netloc, _, key = rest.partition("/")
    bucket = netloc.split("@", 1)[0]
    return scheme, bucket, key


def _join(base: str, path: str) -> str:
    path = path.strip("/")
    return f"{base.rstrip('/')}/{path}" if path else base.rstrip("/")


def _normalize_url(url: str, store: Store, where: Where | None) -> str:
    """A path given as a full URL, in the store's canonical form (in the connection's own
    bucket, or account and container)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if parts.query or parts.fragment:
        raise ConfigError(
            f"the path {url.split('?', 1)[0]} carries a query or a fragment (`?`, `#`)",
            where=where,
            hint="give the path alone; credentials such as a SAS token belong in the "
            "connection (`sas_token:`)",
        )
    parts = parts._replace(path=unquote(parts.path))
    if store.kind == "s3":
        if scheme not in ("s3", "s3a", "s3n") or parts.netloc != _split(store.root)[1]:
            raise _foreign(url, store, where)
        return _join(f"s3://{parts.netloc}", parts.path)
    account = store.root.split("@", 1)[1].split(".", 1)[0]
    if scheme in ("abfss", "abfs", "wasbs", "wasb"):
        container, _, host = parts.netloc.partition("@")
        if host and host.split(".", 1)[0] != account:
            raise _foreign(url, store, where)
        path = parts.path
    elif scheme == "az":
        container, path = parts.netloc, parts.path
    elif scheme in ("https", "http"):
        host = parts.hostname or ""
        endpoint = urlsplit(store.endpoint if "://" in store.endpoint else f"//{store.endpoint}")
        if host.split(".", 1)[0] != account and host != endpoint.hostname:
            raise _foreign(url, store, where)
        path = parts.path
        account_path = endpoint.path.rstrip("/")  # an emulator's: /devstoreaccount1
        if account_path and path.startswith(account_path + "/"):
            path = path[len(account_path) :]
        container, _, path = path.lstrip("/").partition("/")
    else:
        raise _foreign(url, store, where)
    if container != _split(store.root)[1]:
        raise _foreign(url, store, where)
    return _join(f"abfss://{container}@{account}.dfs.core.windows.net", path)


def _foreign(url: str, store: Store, where: Where | None) -> ConfigError:
    return ConfigError(
        f"the path {url} is not in {store.describe()} ({store.root})",
        where=where,
        hint="give a path relative to the connection, or a URL of its own bucket/account",
    )


# --- file operations ---------------------------------------------------------------------

_EXT = {
    "csv": (".csv", ".tsv", ".txt"),
    "json": (".json", ".jsonl", ".ndjson"),
    "parquet": (".parquet", ".pq"),
}


def list_files(uri: str, fmt: str) -> list[str]:
    """Input files (URLs) for a file, a folder (recursively, by extension) or a glob."""
    store = _store(uri)
    fs, path = store.fs(), store.fs_path(uri)
    with errors(store, uri):
        if any(ch in path for ch in "*?["):
            wild = min(path.find(c) for c in "*?[" if c in path)
            fixed = path[: path.rfind("/", 0, wild) + 1]  # the folder before the wildcard
            matches = fs.glob(path, detail=True)
            found = [
                p
                for p, info in matches.items()
                if info.get("type") != "directory" and not _hidden(p[len(fixed) :])
            ]
        elif fs.isfile(path):
            found = [path]
        elif fs.isdir(path):
            exts = _EXT.get(fmt, ())
            found = [
                p for p in fs.find(path) if p.lower().endswith(exts) and not _hidden(p[len(path) :])
            ]
        else:
            found = []
    return sorted(store.url(p) for p in found)


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.strip("/").split("/"))


def exists(uri: str) -> bool:
    store = _store(uri)
    with errors(store, uri):
        return bool(store.fs().exists(store.fs_path(uri)))


def is_dir(uri: str) -> bool:
    store = _store(uri)
    with errors(store, uri):
        return bool(store.fs().isdir(store.fs_path(uri)))


def children(uri: str) -> list[str]:
    """Names directly under the folder ``uri`` (empty when it does not exist)."""
    store = _store(uri)
    fs, path = store.fs(), store.fs_path(uri)
    with errors(store, uri):
        if not fs.isdir(path):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))


def glob_names(uri: str, pattern: str) -> list[str]:
    return [n for n in children(uri) if fnmatch.fnmatch(n, pattern)]


def remove(uri: str) -> None:
    """Delete the object or the whole folder at ``uri`` (nothing when absent)."""
    store = _store(uri)
    fs, path = store.fs(), store.fs_path(uri)
    with errors(store, uri):
        if fs.exists(path):
            fs.rm(path, recursive=True)


def read_bytes(uri: str) -> bytes:
    store = _store(uri)
    with errors(store, uri):
        return bytes(store.fs().cat_file(store.fs_path(uri)))


def write_bytes(uri: str, data: bytes) -> None:
    """Write one object (a single PUT: readers see the old or the new content, never half)."""
    store = _store(uri)
    with errors(store, uri):
        store.fs().pipe_file(store.fs_path(uri), data)


def describe_files(urls: list[str]) -> list[tuple[str, int, float]]:
    """(url, size, last-modified seconds) of each file."""
    found = []
    for url in urls:
        store = _store(url)
        with errors(store, url):
            info = store.fs().info(store.fs_path(url))
        found.append((url, int(info.get("size") or 0), _mtime(info)))
    return found


def _mtime(info: dict[str, Any]) -> float:
    value: Any = info.get("LastModified") or info.get("last_modified") or info.get("mtime")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0)


def modified(uri: str) -> float:
    """The object's last-modified time (seconds since the epoch)."""
    store = _store(uri)
    with errors(store, uri):
        return float(store.fs().modified(store.fs_path(uri)).timestamp())


def probe(store: Store) -> None:
    """One cheap call to the store (a listing of the connection's root): raises a
    StoreError when the credentials are refused or the endpoint cannot be reached."""
    # a listing, not `exists`: adlfs answers True for a container it cannot read; an
    # empty place (nothing written there yet) is fine
    with errors(store, store.root):
        fs = store.fs()
        with contextlib.suppress(FileNotFoundError):
            fs.ls(store.fs_path(store.root), detail=False)
        top = store.fs_path(store.root).split("/", 1)[0]
        if not fs.exists(top):
            what = "bucket" if store.kind == "s3" else "container"
            raise StoreError(
                f"{store.describe()}: the {what} '{top}' does not exist",
                hint=f"create it, or fix `{'bucket' if store.kind == 's3' else 'container'}:` "
                "in the connection",
            )


# --- local copies of inputs --------------------------------------------------------------

_cache_dir: str | None = None
_cache_lock = threading.Lock()
_cached: dict[str, tuple[str, Any]] = {}  # url -> (local path, version tag)


def localize(files: list[str]) -> list[str]:
    """Local copies of input files: remote ones are downloaded (in parallel, once per
    process while unchanged) into a cache that keeps their folder structure, so partition
    folders (``year=2024/``) still read as columns. Local paths pass through."""
    remote = [f for f in files if is_remote(f)]
    if not remote:
        return files
    done = dict(zip(remote, _download(remote), strict=True))
    return [done.get(f, f) for f in files]


def local_root(uri: str) -> str:
    """Where :func:`localize` puts the files under ``uri`` (for a reader's base path)."""
    return _cache_path(uri.rstrip("/")) if is_remote(uri) else uri


def _cache_path(url: str) -> str:
    """The local copy of ``url``: under a folder per store (its URL and endpoint), with the
    key's folders kept; a key that would climb out of its folder is refused."""
    global _cache_dir
    with _cache_lock:
        if _cache_dir is None:
            _cache_dir = tempfile.mkdtemp(prefix="lakestory-inputs-")
            atexit.register(shutil.rmtree, _cache_dir, True)
    store = find(url)
    scheme, rest = url.split("://", 1)
    netloc, _, key = rest.partition("/")
    where = f"{scheme}://{netloc} {store.endpoint if store else ''}"
    top = hashlib.sha256(where.encode()).hexdigest()[:16]
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise DataError(
            f"cannot read {url}: its name has an empty, '.' or '..' folder",
            hint="rename the object; lakestory keeps the folders of the files it reads",
        )
    return os.path.join(_cache_dir, top, quote(netloc.split("@", 1)[0], safe=""), *parts)


def _download(urls: list[str]) -> list[str]:
    def one(url: str) -> str:
        cancel.check()
        store = _store(url)
        fs, path = store.fs(), store.fs_path(url)
        local = _cache_path(url)
        with errors(store, url):
            info = fs.info(path)
            tag = (info.get("size"), info.get("ETag") or info.get("etag") or info.get("mtime"))
            with _cache_lock:
                known = _cached.get(url)
            if known and known[1] == tag and os.path.exists(local):
                return local
            os.makedirs(os.path.dirname(local), exist_ok=True)
            partial = f"{local}.part-{uuid.uuid4().hex[:8]}"
            fs.get_file(path, partial)
            os.replace(partial, local)
        with _cache_lock:
            _cached[url] = (local, tag)
        return local

    if len(urls) == 1:
        return [one(urls[0])]
    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        return list(pool.map(one, urls))


# --- staged writes -----------------------------------------------------------------------


@contextmanager
def staged_replace(uri: str) -> Iterator[str]:
    """Yield a local path to write to; on success put it in place of ``uri``.

    A single file is one PUT (atomic on object stores). A folder is uploaded beside the
    target first (the slow part, where most failures happen, and where a failure leaves
    the target as it was); then the target's objects are replaced by server-side copies
    and the old ones deleted. Object stores have no rename, so a failure inside that last
    step can leave a mix: Delta tables, whose commits are atomic, are the choice when that
    matters.
    """
    store = _store(uri)
    target = uri.rstrip("/")
    work = tempfile.mkdtemp(prefix="lakestory-out-")
    local = os.path.join(work, target.rsplit("/", 1)[-1])
    try:
        yield local
        cancel.check()  # a cancelled node swaps nothing in
        fs, dest = store.fs(), store.fs_path(target)
        with errors(store, target):
            if os.path.isfile(local):
                fs.put_file(local, dest)
                cancel.committed(target)
                return
            with _uploaded(fs, local, dest) as (staging, new):
                old = {p[len(dest) + 1 :] for p in fs.find(dest)} if fs.exists(dest) else set()
                cancel.committed(target)
                for rel in new:
                    fs.copy(f"{staging}/{rel}", f"{dest}/{rel}")
                stale = [f"{dest}/{rel}" for rel in sorted(old - set(new))]
                if stale:
                    fs.rm(stale)
                if fs.isfile(dest):  # the target was a single object before
                    fs.rm_file(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def staged_append(uri: str) -> Iterator[str]:
    """Yield a local folder; on success its files join the ``uri`` folder: uploaded
    beside it first, then copied in (on a failure while copying, the files already copied
    are deleted again: their names are new)."""
    store = _store(uri)
    target = uri.rstrip("/")
    work = tempfile.mkdtemp(prefix="lakestory-out-")
    try:
        yield work
        cancel.check()
        fs, dest = store.fs(), store.fs_path(target)
        with errors(store, target), _uploaded(fs, work, dest) as (staging, new):
            cancel.committed(target)
            done: list[str] = []
            try:
                for rel in new:
                    fs.copy(f"{staging}/{rel}", f"{dest}/{rel}")
                    done.append(f"{dest}/{rel}")
            except BaseException:
                with contextlib.suppress(Exception):
                    if done:
                        fs.rm(done)
                cancel.undone(target)
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def _uploaded(fs: Any, folder: str, dest: str) -> Iterator[tuple[str, list[str]]]:
    """Upload the files under the local ``folder`` to a hidden staging prefix beside
    ``dest``; yield (staging prefix, relative names); remove the staging prefix after,
    whatever happened."""
    parent, name = dest.rsplit("/", 1)
    staging = f"{parent}/.{name}.lakestory-tmp-{uuid.uuid4().hex[:12]}"
    names = []
    for dirpath, _dirs, files in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        names += [f if rel == "." else f"{rel.replace(os.sep, '/')}/{f}" for f in files]
    try:
        for rel in sorted(names):
            fs.put_file(os.path.join(folder, *rel.split("/")), f"{staging}/{rel}")
        yield staging, sorted(names)
    finally:
        with contextlib.suppress(Exception):
            if names:
                fs.rm([f"{staging}/{rel}" for rel in names])


# --- errors ------------------------------------------------------------------------------


def _store(uri: str) -> Store:
    store = find(uri)
    assert store is not None, f"not a remote location: {uri}"
    return store


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
