"""Local disk: resolving paths, listing input files, and atomic replacement of outputs."""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakestory.core import cancel
from lakestory.io.specs import Location

EXTENSIONS = {  # the files a folder read takes, by format
    "csv": (".csv", ".tsv", ".txt"),
    "json": (".json", ".jsonl", ".ndjson"),
    "parquet": (".parquet", ".pq"),
}


def location(connection: str, base_path: str, root_dir: Path, path: str) -> Location:
    base = Path(base_path).expanduser()
    if not base.is_absolute():
        base = root_dir / base
    full = Path(path).expanduser()
    if not full.is_absolute():
        full = base / path
    uri = os.path.normpath(str(full)) + ("/" if path.endswith("/") else "")
    return Location(connection=connection, kind="local", uri=uri, path=path)


def list_files(uri: str, fmt: str) -> list[str]:
    """Input files for a file, a folder (recursively, by extension) or a glob; sorted."""
    if any(ch in uri for ch in "*?["):
        return sorted(p for p in glob.glob(uri, recursive=True) if os.path.isfile(p))
    if os.path.isfile(uri):
        return [uri]
    if os.path.isdir(uri):
        exts = EXTENSIONS.get(fmt, ())
        found = []
        for dirpath, dirnames, filenames in os.walk(uri):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
            found += [
                os.path.join(dirpath, f)
                for f in filenames
                if f.lower().endswith(exts) and not f.startswith((".", "_"))
            ]
        return sorted(found)
    return []


def is_delta_table(uri: str) -> bool:
    return os.path.isdir(os.path.join(uri, "_delta_log"))


def is_single_file(uri: str, fmt: str) -> bool:
    return uri.lower().endswith(EXTENSIONS.get(fmt, ()))


@contextmanager
def staged_replace(uri: str) -> Iterator[str]:
    """Yield a staging path beside ``uri``; on success swap it into place.

    The old content stays readable until the swap, and is restored if the swap fails,
    so a failed write leaves the target as it was.
    """
    target = uri.rstrip("/")
    parent, name = os.path.split(target)
    os.makedirs(parent or ".", exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    staging = os.path.join(parent, f".{name}.lakestory-tmp-{tag}")
    try:
        yield staging
    except BaseException:
        remove(staging)
        raise
    try:
        cancel.check()  # a cancelled node swaps nothing in
    except BaseException:
        remove(staging)
        raise
    backup = os.path.join(parent, f".{name}.lakestory-old-{tag}")
    had_old = os.path.lexists(target)
    if had_old:
        os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        if had_old:
            os.replace(backup, target)
        remove(staging)
        raise
    cancel.committed(target)
    if had_old:
        remove(backup)


@contextmanager
def staged_append(uri: str) -> Iterator[str]:
    """Yield a staging folder; on success move its files into the ``uri`` folder."""
    target = uri.rstrip("/")
    os.makedirs(target, exist_ok=True)
    staging = os.path.join(target, f".lakestory-tmp-{uuid.uuid4().hex[:12]}")
    try:
        yield staging
        cancel.check()  # a cancelled node moves nothing in
        cancel.committed(target)  # from the first file moved, the folder has changed
        for dirpath, _dirs, files in os.walk(staging):
            rel = os.path.relpath(dirpath, staging)
            dest_dir = os.path.normpath(os.path.join(target, rel))
            os.makedirs(dest_dir, exist_ok=True)
            for f in files:
                os.replace(os.path.join(dirpath, f), os.path.join(dest_dir, f))
    finally:
        remove(staging)


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)
