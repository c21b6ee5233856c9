"""File operations on a store: listings, local copies of inputs, staged uploads of outputs."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

from lakestory.core import cancel
from lakestory.core.errors import DataError, StoreError
from lakestory.io.local import EXTENSIONS
from lakestory.io.stores.failures import errors
from lakestory.io.stores.registry import Store, find, is_remote, store_of

# --- file operations ---------------------------------------------------------------------


def list_files(uri: str, fmt: str) -> list[str]:
    """Input files (URLs) for a file, a folder (recursively, by extension) or a glob."""
    store = store_of(uri)
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
            exts = EXTENSIONS.get(fmt, ())
            found = [
                p for p in fs.find(path) if p.lower().endswith(exts) and not _hidden(p[len(path) :])
            ]
        else:
            found = []
    return sorted(store.url(p) for p in found)


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.strip("/").split("/"))


def exists(uri: str) -> bool:
    store = store_of(uri)
    with errors(store, uri):
        return bool(store.fs().exists(store.fs_path(uri)))


def is_dir(uri: str) -> bool:
    store = store_of(uri)
    with errors(store, uri):
        return bool(store.fs().isdir(store.fs_path(uri)))


def children(uri: str) -> list[str]:
    """Names directly under the folder ``uri`` (empty when it does not exist)."""
    store = store_of(uri)
    fs, path = store.fs(), store.fs_path(uri)
    with errors(store, uri):
        if not fs.isdir(path):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))


def remove(uri: str) -> None:
    """Delete the object or the whole folder at ``uri`` (nothing when absent)."""
    store = store_of(uri)
    fs, path = store.fs(), store.fs_path(uri)
    with errors(store, uri):
        if fs.exists(path):
            fs.rm(path, recursive=True)


def read_bytes(uri: str) -> bytes:
    store = store_of(uri)
    with errors(store, uri):
        return bytes(store.fs().cat_file(store.fs_path(uri)))


def write_bytes(uri: str, data: bytes) -> None:
    """Write one object (a single PUT: readers see the old or the new content, never half)."""
    store = store_of(uri)
    with errors(store, uri):
        store.fs().pipe_file(store.fs_path(uri), data)


def describe_files(urls: list[str]) -> list[tuple[str, int, float]]:
    """(url, size, last-modified seconds) of each file."""
    found = []
    for url in urls:
        store = store_of(url)
        with errors(store, url):
            info = store.fs().info(store.fs_path(url))
        found.append((url, int(info.get("size") or 0), _mtime(info)))
    return found


def _mtime(info: dict[str, Any]) -> float:
    value: Any = info.get("LastModified") or info.get("last_modified") or info.get("mtime")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0)


def files_under(uri: str) -> list[tuple[str, float]]:
    """(url, last-modified seconds) of every object below the folder ``uri``."""
    store = store_of(uri)
    fs, path = store.fs(), store.fs_path(uri)
    with errors(store, uri):
        if not fs.isdir(path):
            return []
        found = fs.find(path, detail=True)
    return sorted((store.url(p), _mtime(info)) for p, info in found.items())


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
        store = store_of(url)
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
    store = store_of(uri)
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
    store = store_of(uri)
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
