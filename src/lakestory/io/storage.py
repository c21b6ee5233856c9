"""Direct access to a connection's files for scripts and notebooks::

    import lakestory

    lake = lakestory.storage("data_lake")            # from ./lakestory.yaml
    lake = project.storage("data_lake")              # from a loaded Project
    lake.list("bronze/", pattern="*.parquet")
    table = lake.read("gold/customer_metrics")       # a Delta table, as pyarrow.Table
    lake.write("exports/metrics.csv", table)
    lake.exists("exports/metrics.csv"); lake.delete("exports/")

Paths are relative to the connection (its ``base_path`` or ``path_prefix``); credentials
come from the connection's auth mode, as in a run, and errors name the connection and the
auth mode, never a secret.
"""

from __future__ import annotations

import builtins
import fnmatch
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakestory.config.models import AzureConnection, LocalConnection, S3Connection
from lakestory.core.errors import ConfigError, DataError
from lakestory.io import delta, local, stores

FORMATS = ("delta", "parquet", "csv", "json")
_BY_EXTENSION = {ext: fmt for fmt, exts in local.EXTENSIONS.items() for ext in exts}


class Storage:
    """Files on one connection (local disk, S3, or Azure Data Lake / Blob Storage)."""

    def __init__(
        self,
        name: str,
        conn: LocalConnection | S3Connection | AzureConnection,
        root_dir: str | os.PathLike[str],
    ) -> None:
        self.name = name
        self._conn = conn
        self._root_dir = root_dir
        if isinstance(conn, LocalConnection):
            self.root = local.location(name, conn.base_path, Path(root_dir), "").uri
            self._store: stores.Store | None = None
        elif isinstance(conn, AzureConnection) and not conn.container:
            raise ConfigError(
                f"connection '{name}' has no `container`: the storage API needs one",
                hint="add `container:` to the connection (or a second connection with it)",
            )
        else:
            self._store = stores.store_for(name, conn)
            self.root = self._store.root

    def __repr__(self) -> str:
        return f"Storage({self.name!r}, {self.root!r})"

    # --- places --------------------------------------------------------------------------

    def uri(self, path: str = "") -> str:
        """The full path or URL of ``path`` on this connection."""
        if self._store is None:
            assert isinstance(self._conn, LocalConnection)
            return local.location(self.name, self._conn.base_path, Path(self._root_dir), path).uri
        assert not isinstance(self._conn, LocalConnection)
        return stores.location(self.name, self._conn, path).uri

    def _fs(self, path: str) -> tuple[Any, str]:
        """(fsspec file system, its name for ``path``)."""
        if self._store is None:
            import fsspec

            return fsspec.filesystem("file"), self.uri(path).rstrip("/")
        return self._store.fs(), self._store.fs_path(self.uri(path))

    def _relative(self, fs_path: str) -> str:
        base = self._fs("")[1].rstrip("/")
        return fs_path[len(base) + 1 :] if fs_path.startswith(base + "/") else fs_path

    def _call(self, path: str, fn: Any, *args: Any) -> Any:
        if self._store is None:
            return fn(*args)
        with stores.errors(self._store, self.uri(path)):
            return fn(*args)

    # --- listing -------------------------------------------------------------------------

    def list(self, prefix: str = "", pattern: str | None = None) -> builtins.list[str]:
        """Files under ``prefix`` (recursively), as paths relative to the connection,
        sorted; ``pattern`` (``*.parquet``, ``year=2024/*``) filters them by a glob on the
        path below ``prefix`` or on the file name."""
        fs, base = self._fs(prefix)
        if not self._call(prefix, fs.exists, base):
            return []
        found = self._call(prefix, fs.find, base)
        paths = [self._relative(p) for p in found]
        if pattern:
            below = prefix.strip("/")
            paths = [
                p
                for p in paths
                if fnmatch.fnmatch(p.rsplit("/", 1)[-1], pattern)
                or fnmatch.fnmatch(p[len(below) :].lstrip("/") if below else p, pattern)
            ]
        return sorted(paths)

    def exists(self, path: str) -> bool:
        fs, name = self._fs(path)
        return bool(self._call(path, fs.exists, name))

    def delete(self, path: str) -> None:
        """Delete a file, or a folder with everything under it (nothing when absent). The
        connection's root itself is never deleted."""
        if not path.strip("/ ."):
            raise ConfigError(
                f"refusing to delete the root of connection '{self.name}'",
                hint="name a file or a folder under it",
            )
        fs, name = self._fs(path)
        if self._call(path, fs.exists, name):
            self._call(path, fs.rm, name, True)

    # --- reading -------------------------------------------------------------------------

    def read_bytes(self, path: str) -> bytes:
        fs, name = self._fs(path)
        return bytes(self._call(path, fs.cat_file, name))

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(path).decode(encoding)

    def read(self, path: str, format: str | None = None) -> pa.Table:
        """A table: a Delta table (a folder with ``_delta_log``), or a Parquet, CSV or
        JSON-lines file or folder of them (the format from ``format`` or the extension)."""
        fmt = format or self._format(path)
        if fmt == "delta":
            return delta.open_table(self.uri(path), f"{self.name}:{path}").to_pyarrow_table()
        files = [path] if self._is_file(path) else self.list(path)
        files = [f for f in files if not f.rsplit("/", 1)[-1].startswith((".", "_"))]
        if not files:
            raise DataError(f"nothing to read at {self.name}:{path}", hint="check the path")
        return pa.concat_tables(
            [self._read_file(f, fmt) for f in files], promote_options="permissive"
        )

    def _read_file(self, path: str, fmt: str) -> pa.Table:
        data = io.BytesIO(self.read_bytes(path))
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(data)
        if fmt == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(data)
        if fmt == "json":
            import pyarrow.json as pjson

            return pjson.read_json(data)
        raise ConfigError(f"unknown format '{fmt}'", hint=f"one of: {', '.join(FORMATS)}")

    def _is_file(self, path: str) -> bool:
        fs, name = self._fs(path)
        return bool(self._call(path, fs.isfile, name))

    def _format(self, path: str) -> str:
        if self.exists(path.rstrip("/") + "/_delta_log"):
            return "delta"
        ext = os.path.splitext(path.rstrip("/"))[1].lower()
        if ext in _BY_EXTENSION:
            return _BY_EXTENSION[ext]
        for name in self.list(path)[:50]:
            found = _BY_EXTENSION.get(os.path.splitext(name)[1].lower())
            if found:
                return found
        raise DataError(
            f"cannot tell the format of {self.name}:{path}",
            hint=f"pass format= one of: {', '.join(FORMATS)}",
        )

    # --- writing -------------------------------------------------------------------------

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file (readers see the old content or the new, never half)."""
        uri = self.uri(path)
        if self._store is None:
            os.makedirs(os.path.dirname(uri), exist_ok=True)
        local_or_remote = stores.write_bytes if self._store else _write_local
        self._call(path, local_or_remote, uri, data)

    def write_text(self, path: str, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(path, text.encode(encoding))

    def write(
        self,
        path: str,
        data: Any,
        format: str | None = None,
        mode: str = "overwrite",
    ) -> None:
        """Write a table (pyarrow, pandas, polars, or anything with ``__arrow_c_stream__``)
        as Delta (``mode`` overwrite or append, one commit) or as one Parquet, CSV or
        JSON-lines file."""
        table = _as_arrow(data)
        ext = os.path.splitext(path.rstrip("/"))[1].lower()
        fmt = format or _BY_EXTENSION.get(ext, "delta")
        if fmt == "delta":
            if mode not in ("overwrite", "append"):
                raise ConfigError(f"mode must be overwrite or append, not '{mode}'")
            delta.write(
                self.uri(path),
                lambda: pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
                mode="overwrite" if mode == "overwrite" else "append",
            )
            return
        if mode != "overwrite":
            raise ConfigError(
                f"a single {fmt} file can only be overwritten",
                hint="write Delta (format='delta') to append",
            )
        buffer = io.BytesIO()
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, buffer)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, buffer)
        elif fmt == "json":
            import json

            for row in table.to_pylist():
                buffer.write(json.dumps(row, default=str).encode() + b"\n")
        else:
            raise ConfigError(f"unknown format '{fmt}'", hint=f"one of: {', '.join(FORMATS)}")
        self.write_bytes(path, buffer.getvalue())


def _write_local(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _as_arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if hasattr(data, "to_arrow"):
        return pa.table(data.to_arrow())
    raise TypeError(f"cannot write a {type(data).__name__}: give a pyarrow, pandas or polars table")


class DatabaseStorage:
    """Tables on a database connection (``postgres`` or ``sql``): ``list`` names its tables,
    ``read`` a table or a query, ``write`` overwrites, appends or upserts in one
    transaction (as in a pipeline), ``exists`` and ``delete`` (DROP TABLE)."""

    def __init__(self, name: str, conn: Any) -> None:
        self.name = name
        self._conn = conn

    def __repr__(self) -> str:
        return f"DatabaseStorage({self.name!r}, {self._conn.type!r})"

    def _location(self, what: str, query: bool = False) -> Any:
        from lakestory.io import databases

        return databases.location(self.name, self._conn, what, query=query)

    def read(self, table: str | None = None, *, query: str | None = None) -> pa.Table:
        """A table (``schema.name``) or the result of ``query``, as a pyarrow Table."""
        from lakestory.io import databases
        from lakestory.io.specs import Source

        if (table is None) == (query is None):
            raise ConfigError("read needs a table or a query (one of them)")
        if query is not None:
            source = Source(self._location(query, query=True), "query")
        else:
            source = Source(self._location(str(table)), "table")
        return databases.read(source, self._conn).read_all()

    def write(
        self, table: str, data: Any, mode: str = "overwrite", keys: Sequence[str] = ()
    ) -> None:
        """Write a table (pyarrow, pandas, polars ...) with ``mode`` overwrite, append,
        upsert or append_once (the last two by ``keys``), in one transaction."""
        from lakestory.io import databases
        from lakestory.io.specs import Target

        arrow = _as_arrow(data)
        reader = pa.RecordBatchReader.from_batches(arrow.schema, arrow.to_batches())
        target = Target(self._location(table), "table", mode, keys=tuple(keys))
        databases.write(reader, target, self._conn)

    def list(self, prefix: str = "", pattern: str | None = None) -> builtins.list[str]:
        """The tables, as ``schema.name``, sorted; ``prefix`` and ``pattern`` (a glob)
        filter them."""
        if self._conn.type == "postgres":
            rows = self.read(
                query="SELECT table_schema || '.' || table_name AS name "
                "FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
            names = [str(n) for n in rows.column("name").to_pylist()]
        else:
            import sqlalchemy

            from lakestory.io import sqltables

            engine = sqltables._engine(self.name, self._conn)
            try:
                found = sqlalchemy.inspect(engine)
                schema = found.default_schema_name
                names = [f"{schema}.{t}" if schema else t for t in found.get_table_names()]
            finally:
                engine.dispose()
        names = [n for n in names if n.startswith(prefix)]
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return sorted(names)

    def exists(self, table: str) -> bool:
        from lakestory.io import databases

        wanted = databases.TableName.parse(table, self._default_schema())
        if wanted.schema is None:  # the database's default schema, whatever its name
            return wanted.name in {n.rsplit(".", 1)[-1] for n in self.list()}
        return wanted.display() in self.list()

    def delete(self, table: str) -> None:
        """DROP TABLE (nothing when absent)."""
        from lakestory.io import databases

        name = databases.TableName.parse(table, self._default_schema()).sql()
        if self._conn.type == "postgres":
            db = databases._Postgres(self.name, self._conn)
            try:
                with db.db.cursor() as cur:
                    cur.execute(f"DROP TABLE IF EXISTS {name}")
                db.db.commit()
            finally:
                db.close()
            return
        import sqlalchemy

        from lakestory.io import sqltables

        engine = sqltables._engine(self.name, self._conn)
        try:
            with engine.begin() as connection:
                connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {name}"))
        finally:
            engine.dispose()

    def _default_schema(self) -> str | None:
        if self._conn.type == "postgres":
            return str(getattr(self._conn, "db_schema", None) or "public")
        return None


def storage_for(
    name: str,
    connections: dict[str, Any],
    root_dir: str | os.PathLike[str],
) -> Storage | DatabaseStorage:
    """The storage of connection ``name``: files on local disk or a store, or a database's
    tables (a clear error for an unknown name)."""
    from lakestory.core.text import suggestion

    conn = connections.get(name)
    if conn is None:
        raise ConfigError(
            f"unknown connection '{name}'",
            hint=suggestion(name, connections)
            or f"defined connections: {', '.join(connections) or 'none'}",
        )
    if not isinstance(conn, LocalConnection | S3Connection | AzureConnection):
        return DatabaseStorage(name, conn)
    return Storage(name, conn, root_dir)
