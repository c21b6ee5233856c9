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

from lakestory.io.stores.connect import location, store_for
from lakestory.io.stores.failures import errors, store_error
from lakestory.io.stores.files import (
    children,
    describe_files,
    exists,
    files_under,
    is_dir,
    list_files,
    local_root,
    localize,
    probe,
    read_bytes,
    remove,
    staged_append,
    staged_replace,
    write_bytes,
)
from lakestory.io.stores.registry import (
    CONNECT_TIMEOUT_S,
    Store,
    find,
    is_remote,
    new_generation,
    register,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "Store",
    "children",
    "describe_files",
    "errors",
    "exists",
    "files_under",
    "find",
    "is_dir",
    "is_remote",
    "list_files",
    "local_root",
    "localize",
    "location",
    "new_generation",
    "probe",
    "read_bytes",
    "register",
    "remove",
    "staged_append",
    "staged_replace",
    "store_error",
    "store_for",
    "write_bytes",
]
