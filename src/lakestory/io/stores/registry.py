"""A store per cloud connection, registered by the URL its paths start with, so code that
holds only a location's ``uri`` finds its credentials."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakestory.core.errors import ConfigError, DataError

CONNECT_TIMEOUT_S = 10
"""How long a first connection to a store may take before the run fails with a message."""


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
        _, bucket, key = split_url(uri)
        return f"{bucket}/{key}".rstrip("/")

    def url(self, fs_path: str) -> str:
        """The inverse of :meth:`fs_path`."""
        bucket, _, key = fs_path.partition("/")
        return join_url(self._base(bucket), key)

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


def generation() -> int:
    """The current generation of stores (see :func:`new_generation`)."""
    return _generation


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


# --- URLs --------------------------------------------------------------------------------


def split_url(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket or container, key) of a store URL."""
    scheme, _, rest = uri.partition("://")
    netloc, _, key = rest.partition("/")
    bucket = netloc.split("@", 1)[0]
    return scheme, bucket, key


def join_url(base: str, path: str) -> str:
    path = path.strip("/")
    return f"{base.rstrip('/')}/{path}" if path else base.rstrip("/")


def store_of(uri: str) -> Store:
    """The store of a URL that must have one."""
    store = find(uri)
    assert store is not None, f"not a remote location: {uri}"
    return store
