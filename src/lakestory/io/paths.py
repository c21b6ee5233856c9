"""Paths on any connection: local disk or an object store (:mod:`lakestory.io.stores`).

Engines and the runtime call these with a location's ``uri``; a URL goes to its store, a
path to the local disk."""

from __future__ import annotations

import contextlib
import os
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass

from lakestory.io import local, stores


def list_files(uri: str, fmt: str) -> list[str]:
    """Input files for a file, a folder (recursively, by extension) or a glob; sorted."""
    if stores.is_remote(uri):
        return stores.list_files(uri, fmt)
    return local.list_files(uri, fmt)


def exists(uri: str) -> bool:
    if stores.is_remote(uri):
        return stores.exists(uri)
    return os.path.exists(uri)


def is_delta_table(uri: str) -> bool:
    if stores.is_remote(uri):
        return stores.exists(join(uri, "_delta_log"))
    return local.is_delta_table(uri)


def is_single_file(uri: str, fmt: str) -> bool:
    return local.is_single_file(uri, fmt)


def join(uri: str, *names: str) -> str:
    if stores.is_remote(uri):
        return "/".join([uri.rstrip("/"), *names])
    return os.path.join(uri, *names)


def staged_replace(uri: str) -> AbstractContextManager[str]:
    """A path to write to; on success it replaces ``uri`` (see ``local.staged_replace`` and
    ``stores.staged_replace``)."""
    if stores.is_remote(uri):
        return stores.staged_replace(uri)
    return local.staged_replace(uri)


def staged_append(uri: str) -> AbstractContextManager[str]:
    """A folder to write to; on success its files join the ``uri`` folder."""
    if stores.is_remote(uri):
        return stores.staged_append(uri)
    return local.staged_append(uri)


def local_files(files: list[str]) -> list[str]:
    """Local paths for input files (remote ones are downloaded first)."""
    return stores.localize(files)


def local_root(uri: str) -> str:
    """Where :func:`local_files` puts the files found under ``uri`` (``uri`` when local)."""
    return stores.local_root(uri)


def remove(uri: str) -> None:
    """Delete a file or a folder tree (nothing when absent)."""
    if stores.is_remote(uri):
        stores.remove(uri)
    else:
        local.remove(uri)


@dataclass(frozen=True)
class InputFile:
    name: str  # relative to the folder read (or the file's own name)
    path: str  # the full path or URL
    size: int
    mtime: float


def input_files(root: str, fmt: str) -> list[InputFile]:
    """The input files under ``root`` with their size and modification time."""
    found = []
    if stores.is_remote(root):
        folder = stores.is_dir(root)
        base = root.rstrip("/") + "/"
        for url, size, mtime in stores.describe_files(stores.list_files(root, fmt)):
            name = url[len(base) :] if folder else url.rsplit("/", 1)[-1]
            found.append(InputFile(name, url, size, mtime))
        return found
    folder = os.path.isdir(root)
    for path in local.list_files(root, fmt):
        st = os.stat(path)
        name = os.path.relpath(path, root) if folder else os.path.basename(path)
        found.append(InputFile(name, path, st.st_size, st.st_mtime))
    return found


def is_dir(uri: str) -> bool:
    if stores.is_remote(uri):
        return stores.is_dir(uri)
    return os.path.isdir(uri)


def listdir(uri: str) -> list[str]:
    """Names directly under the folder ``uri``, sorted (empty when it does not exist)."""
    if stores.is_remote(uri):
        return stores.children(uri)
    return sorted(os.listdir(uri)) if os.path.isdir(uri) else []


def read_text(uri: str) -> str:
    if stores.is_remote(uri):
        return stores.read_bytes(uri).decode("utf-8")
    with open(uri, encoding="utf-8") as f:
        return f.read()


def write_text(uri: str, text: str) -> None:
    """Write a whole file atomically: readers see the old content or the new, never half
    (a temporary file renamed into place on disk; one PUT on an object store)."""
    if stores.is_remote(uri):
        stores.write_bytes(uri, text.encode("utf-8"))
        return
    folder = os.path.dirname(uri)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(uri)[1])
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, uri)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def files_under(uri: str) -> list[tuple[str, float]]:
    """Every file below the folder ``uri`` with its modification time, in one listing on a
    store (one request per thousand objects, not one per file)."""
    if stores.is_remote(uri):
        return stores.files_under(uri)
    found = []
    for dirpath, _dirs, files in os.walk(uri):
        for name in files:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                found.append((path, os.stat(path).st_mtime))
    return sorted(found)
