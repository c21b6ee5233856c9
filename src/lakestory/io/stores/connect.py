"""Building a connection's store from its settings and auth mode, and its locations."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from lakestory.config.models import AzureConnection, S3Connection
from lakestory.core.errors import ConfigError, StoreError, Where
from lakestory.io.specs import Location
from lakestory.io.stores.registry import (
    CONNECT_TIMEOUT_S,
    Store,
    generation,
    join_url,
    register,
    split_url,
)
from lakestory.secrets.redactor import remember

# --- building a store from a connection --------------------------------------------------


_EXTRAS = {"s3": "aws", "azure_adls": "azure", "azure_blob": "azure"}


def store_for(name: str, conn: AzureConnection | S3Connection) -> Store:
    """The store of a cloud connection (registered, so ``find`` answers for its URLs)."""
    store = _s3_store(name, conn) if isinstance(conn, S3Connection) else _azure_store(name, conn)
    settings = conn.model_dump()
    store.settings = _digest([name, settings, generation()])
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
    uri = _normalize_url(path, store, where) if "://" in path else join_url(store.root, path)
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
    root = join_url(f"s3://{conn.bucket}", prefix)
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
    auth = _AzureAuth(name, conn)
    assert conn.container, "location() names the container of a connection without one"
    prefix = (conn.path_prefix or "").strip("/")
    host = f"{auth.account}.dfs.core.windows.net"
    return Store(
        connection=name,
        kind=conn.type,
        auth_mode=auth.mode,
        root=join_url(f"abfss://{conn.container}@{host}", prefix),
        endpoint=auth.endpoint or f"{auth.account}.blob.core.windows.net",
        _fs_factory=auth.file_system,
        _delta_factory=auth.delta_options,
    )


class _AzureAuth:
    """How an Azure connection authenticates: its secret (an account key or a SAS), or an
    azure-identity credential (made once: it caches its tokens)."""

    def __init__(self, name: str, conn: AzureConnection) -> None:
        self.name, self.conn = name, conn
        self.parts = _connection_string(conn.connection_string) if conn.connection_string else {}
        account = conn.account or conn.account_name or self.parts.get("accountname")
        if not account:
            raise ConfigError(f"connection '{name}' ({conn.type}) needs `account`")
        self.account = account
        self.endpoint = conn.endpoint_url or self.parts.get("blobendpoint")
        self.mode = conn.auth_mode
        if conn.connection_string and self.mode == "default":
            self.mode = "connection_string"  # a connection string says how to authenticate
        self._credential: Any = None

    def _needs(self, value: str | None, key: str) -> str:
        return _needs(value, key, self.name, self.mode)

    def secrets(self) -> dict[str, str]:
        """{"key": ...} or {"sas": ...}; {} when a credential's token authenticates."""
        conn, mode = self.conn, self.mode
        if mode == "account_key":
            return {"key": self._needs(conn.account_key, "account_key")}
        if mode == "sas":
            return {"sas": self._needs(conn.sas_token, "sas_token").lstrip("?")}
        if mode == "connection_string":
            self._needs(conn.connection_string, "connection_string")
            if "accountkey" in self.parts:
                return {"key": self.parts["accountkey"]}
            if "sharedaccesssignature" in self.parts:
                return {"sas": self.parts["sharedaccesssignature"].lstrip("?")}
            raise ConfigError(
                f"connection '{self.name}' ({conn.type}, auth_mode connection_string): the "
                "connection string holds neither AccountKey nor SharedAccessSignature",
            )
        if mode == "key_vault":
            return {"key": self._from_key_vault()}
        return {}

    def _from_key_vault(self) -> str:
        from lakestory.secrets import keyvault
        from lakestory.secrets.providers import SecretFetchError

        vault = self._needs(self.conn.key_vault, "key_vault")
        try:
            return keyvault.get_secret(vault, self.conn.secret or f"{self.account}-key")
        except SecretFetchError as exc:
            raise StoreError(
                f"connection '{self.name}' ({self.conn.type}, auth_mode key_vault): {exc.what}",
                hint=exc.hint,
                detail=exc.detail,
            ) from None

    def credential(self) -> Any:
        if self._credential is None:
            identity = _require("azure.identity", self.conn.type)
            conn = self.conn
            if self.mode == "service_principal":
                self._credential = identity.ClientSecretCredential(
                    tenant_id=self._needs(conn.tenant_id, "tenant_id"),
                    client_id=self._needs(conn.client_id, "client_id"),
                    client_secret=self._needs(conn.client_secret, "client_secret"),
                )
            elif self.mode == "managed_identity":
                self._credential = identity.ManagedIdentityCredential(client_id=conn.client_id)
            else:
                self._credential = identity.DefaultAzureCredential()
        return self._credential

    def file_system(self) -> Any:
        adlfs = _require("adlfs", self.conn.type)
        found = self.secrets()
        endpoint = self.endpoint
        if endpoint and endpoint.startswith("http://"):
            # adlfs reaches a non-https endpoint (an emulator) only through a connection string
            text = (
                f"DefaultEndpointsProtocol=http;AccountName={self.account};BlobEndpoint={endpoint};"
            )
            if "key" in found:
                text += f"AccountKey={found['key']};"
            elif "sas" in found:
                text += f"SharedAccessSignature={found['sas']};"
            return adlfs.AzureBlobFileSystem(
                connection_string=text, skip_instance_cache=True, use_listings_cache=False
            )
        kwargs: dict[str, Any] = {
            "account_name": self.account,
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
            kwargs["credential"] = self.credential()
        return adlfs.AzureBlobFileSystem(**kwargs)

    def delta_options(self) -> dict[str, str]:
        found = self.secrets()
        opts = {
            "account_name": self.account,
            "connect_timeout": f"{CONNECT_TIMEOUT_S}s",
            "max_retries": "3",
        }
        if self.endpoint:
            opts["azure_storage_endpoint"] = self.endpoint.rstrip("/")
            if self.endpoint.startswith("http://"):
                opts["allow_http"] = "true"
        if "key" in found:
            opts["account_key"] = found["key"]
        elif "sas" in found:
            opts["sas_token"] = found["sas"]
        elif self.mode == "service_principal":
            opts["client_id"] = self.conn.client_id or ""
            opts["client_secret"] = self.conn.client_secret or ""
            opts["tenant_id"] = self.conn.tenant_id or ""
        else:
            token = self.credential().get_token("https://storage.azure.com/.default")
            remember([token.token])
            opts["bearer_token"] = token.token
        return opts


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
        if scheme not in ("s3", "s3a", "s3n") or parts.netloc != split_url(store.root)[1]:
            raise _foreign(url, store, where)
        return join_url(f"s3://{parts.netloc}", parts.path)
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
    if container != split_url(store.root)[1]:
        raise _foreign(url, store, where)
    return join_url(f"abfss://{container}@{account}.dfs.core.windows.net", path)


def _foreign(url: str, store: Store, where: Where | None) -> ConfigError:
    return ConfigError(
        f"the path {url} is not in {store.describe()} ({store.root})",
        where=where,
        hint="give a path relative to the connection, or a URL of its own bucket/account",
    )
