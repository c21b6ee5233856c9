"""Tables in databases: read a table or a query as Arrow, write Arrow in one transaction.

Engine-neutral: an engine hands over a ``pyarrow.RecordBatchReader`` and gets one back.

- ``postgres`` connections go through ADBC (``adbc_driver_postgresql``): reads stream
  Arrow batches straight from libpq's binary protocol; writes COPY the batch into a
  temporary staging table and then run one ``INSERT ... SELECT`` into the target (PostgreSQL
  casts the staged columns to the table's types, by name), all in one transaction.
- ``sql`` connections (any SQLAlchemy URL, :mod:`lakestory.io.sqltables`) read in batches of
  rows into Arrow and write with ``executemany`` in batches inside one transaction: correct
  everywhere, fast nowhere.

Write modes: ``overwrite`` (the table's rows replaced; the table kept when its columns are
the data's, so its indexes and grants survive), ``append``, ``upsert`` (``INSERT ... ON
CONFLICT (keys) DO UPDATE``, only rows that changed) and ``append_once`` (``ON CONFLICT
DO NOTHING``). A missing table is created from the Arrow schema, with a primary key on the
keys for the keyed modes. A write that fails leaves the table as it was.

Messages name the connection, host, port, user and database, never the password.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lakestory.core.errors import ConfigError, LakestoryError, TransientError, WriteError
from lakestory.io.specs import Location, Source, Target, WriteOutcome
from lakestory.secrets.redactor import current as current_redactor

if TYPE_CHECKING:
    import pyarrow as pa

    from lakestory.config.models.connections import PostgresConnection, SqlConnection

    DbConnection = PostgresConnection | SqlConnection

log = logging.getLogger(__name__)

DATABASE_KINDS = frozenset({"postgres", "sql"})
WRITE_MODES = frozenset({"overwrite", "append", "upsert", "append_once"})
STAGE = "_lakestory_stage"
# numeric without a declared precision reads as Spark's JDBC reader reads it
UNCONSTRAINED_NUMERIC = (38, 18)


class DatabaseError(LakestoryError):
    """A database refused a connection or a statement (permanent: wrong password, no such
    table, a constraint)."""

    kind = "database_error"


class DatabaseUnreachable(TransientError):
    """The database could not be reached in time (worth a retry)."""


def is_database(location: Location) -> bool:
    return location.kind in DATABASE_KINDS


def location(name: str, conn: DbConnection, path: str, *, query: bool = False) -> Location:
    """The location of table (or ``query``) ``path`` on connection ``name``, registered so
    that an engine holding only the location finds the connection's settings (as
    :mod:`lakestory.io.stores` does for object stores). Its ``uri`` names the server,
    database and user, never the password, and is no URL (``postgres:loader@db:5432/shop#
    public.orders``; a query is named by a digest of its text)."""
    root = _root(conn)
    with _registry_lock:
        _registry[(conn.type, root)] = conn
    if query or "://" in path:
        path_id = "query:" + hashlib.sha256(path.encode()).hexdigest()[:16]
    else:
        path_id = path
    return Location(connection=name, kind=conn.type, uri=f"{root}#{path_id}", path=path)


def connection(location: Location) -> DbConnection:
    """The settings of the database connection ``location`` is on."""
    root = location.uri.split("#", 1)[0]
    with _registry_lock:
        found = _registry.get((location.kind, root))
    if found is None:
        raise ConfigError(
            f"connection '{location.connection}' ({location.kind}): its settings were never "
            "registered",
            hint="a lakestory bug: the graph resolves database locations with "
            "lakestory.io.databases.location()",
        )
    return found


_registry: dict[tuple[str, str], DbConnection] = {}
_registry_lock = threading.Lock()


def _root(conn: DbConnection) -> str:
    """``postgres:user@host:port/database`` (``mysql:user@host:port/database`` ...)."""
    user: str | None
    host: str | None
    port: int | None
    db: str | None
    if conn.type == "postgres":
        user, host, port, db = conn.user, conn.host, conn.port, conn.database
        scheme = "postgres"
    else:
        try:
            from sqlalchemy.engine import make_url

            url = make_url(conn.url)
        except Exception:  # noqa: BLE001 - refused with a clear message when used
            return "sql:" + hashlib.sha256(conn.url.encode()).hexdigest()[:16]
        user, host, port, db = url.username, url.host, url.port, url.database
        scheme = url.get_backend_name()
    who = f"{quote(user, safe='')}@" if user else ""
    where = f"{host or ''}:{port}" if port else (host or "")
    return f"{scheme}:{who}{where}/{db or ''}"


# -- names and SQL --------------------------------------------------------------------------


@dataclass(frozen=True)
class TableName:
    schema: str | None
    name: str

    @classmethod
    def parse(cls, text: str, default_schema: str | None = None) -> TableName:
        """``orders``, ``public.orders`` or ``"My Schema"."Orders"`` (quoted parts keep
        their case; unquoted ones are folded to lower case, as PostgreSQL does)."""
        parts = _split_name(text.strip())
        if not parts or len(parts) > 2:
            raise ConfigError(
                f"'{text}' is not a table name",
                hint="write `table: name` or `table: schema.name`",
            )
        if len(parts) == 1:
            return cls(default_schema, parts[0])
        return cls(parts[0], parts[1])

    def sql(self) -> str:
        return f"{ident(self.schema)}.{ident(self.name)}" if self.schema else ident(self.name)

    def display(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


_NAME_PART = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^."\s]+))\s*(\.|$)')


def _split_name(text: str) -> list[str]:
    parts, pos = [], 0
    while pos < len(text):
        m = _NAME_PART.match(text, pos)
        if m is None:
            return []
        quoted, bare, dot = m.groups()
        parts.append(quoted.replace('""', '"') if quoted is not None else bare.lower())
        pos = m.end()
        if not dot:
            break
    return parts if pos >= len(text) else []


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def cols(names: Sequence[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + ident(n) for n in names)


def select_sql(source: Source, default_schema: str | None, dialect: str) -> str:
    """The query that reads ``source``: its table or query, with ``source.filter`` (Spark
    SQL, as the incremental planner writes it) translated to ``dialect`` as a WHERE."""
    if source.format == "query":
        base = source.location.path.strip().rstrip(";")
        frm = f"({base}) AS _lakestory_src"
    else:
        frm = TableName.parse(source.location.path, default_schema).sql()
    sql = f"SELECT * FROM {frm}"
    if source.filter:
        sql += f" WHERE {filter_sql(source.filter, dialect)}"
    return sql


def filter_sql(predicate: str, dialect: str) -> str:
    """A Spark SQL predicate in the database's dialect (sqlglot)."""
    import sqlglot

    return sqlglot.transpile(predicate, read="spark", write=dialect)[0]


def pg_type(t: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type (for tables lakestory creates)."""
    import pyarrow as pa

    simple = [
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "smallint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "integer"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_uint8, "smallint"),
        (pa.types.is_uint16, "integer"),
        (pa.types.is_uint32, "bigint"),
        (pa.types.is_uint64, "numeric(20,0)"),
        (pa.types.is_float16, "real"),
        (pa.types.is_float32, "real"),
        (pa.types.is_float64, "double precision"),
        (pa.types.is_date, "date"),
        (pa.types.is_time, "time"),
        (pa.types.is_duration, "interval"),
        (pa.types.is_binary, "bytea"),
        (pa.types.is_large_binary, "bytea"),
        (pa.types.is_string, "text"),
        (pa.types.is_large_string, "text"),
        (pa.types.is_null, "text"),
    ]
    if isinstance(t, pa.BaseExtensionType):
        return pg_type(t.storage_type)
    if pa.types.is_string_view(t):
        return "text"
    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    for test, name in simple:
        if test(t):
            return name
    raise WriteError(
        f"a column of type {t} cannot be written to a database table yet",
        hint="turn it into a plain column in a step (e.g. to_json(column) for a struct or list)",
    )


def create_table_sql(table: TableName, schema: pa.Schema, keys: Sequence[str]) -> str:
    columns = [f"{ident(f.name)} {pg_type(f.type)}" for f in schema]
    if keys:
        columns.append(f"PRIMARY KEY ({cols(keys)})")
    return f"CREATE TABLE {table.sql()} ({', '.join(columns)})"


def insert_sql(
    table: TableName, columns: Sequence[str], mode: str, keys: Sequence[str], stage: str = STAGE
) -> str:
    """One statement moving the staged rows into ``table``; its result is one row
    ``(inserted, updated)``."""
    insert = f"INSERT INTO {table.sql()} AS t ({cols(columns)}) SELECT {cols(columns)} FROM {stage}"
    if mode in ("upsert", "append_once"):
        others = [c for c in columns if c not in keys]
        if mode == "append_once" or not others:
            insert += f" ON CONFLICT ({cols(keys)}) DO NOTHING"
        else:
            sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in others)
            changed = f"({cols(others, 't')}) IS DISTINCT FROM ({cols(others, 'EXCLUDED')})"
            insert += f" ON CONFLICT ({cols(keys)}) DO UPDATE SET {sets} WHERE {changed}"
    # xmax is 0 on a row version this statement inserted, not 0 on one it updated
    return (
        f"WITH changed AS ({insert} RETURNING (t.xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
        "FROM changed"
    )


# -- connecting -----------------------------------------------------------------------------


def describe(name: str, conn: DbConnection) -> str:
    """``connection 'db' (postgres: user@host:port/database)``: no password, ever."""
    if conn.type == "postgres":
        who = f"{conn.user}@" if conn.user else ""
        db = f"/{conn.database}" if conn.database else ""
        return f"connection '{name}' (postgres: {who}{conn.host}:{conn.port}{db})"
    return f"connection '{name}' (sql: {_safe_url(conn.url)})"


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse: show only its scheme
        return url.split(":", 1)[0] + "://..."


def postgres_uri(conn: PostgresConnection) -> str:
    user = quote(conn.user or "", safe="")
    password = f":{quote(conn.password, safe='')}" if conn.password else ""
    auth = f"{user}{password}@" if (user or password) else ""
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    params: dict[str, Any] = {"connect_timeout": conn.connect_timeout}
    params["application_name"] = "lakestory"
    if conn.sslmode:
        params["sslmode"] = conn.sslmode
    params.update(conn.options)
    # timestamps in UTC, as every engine computes them (an incremental mark is UTC)
    params["options"] = f"-c TimeZone=UTC {params.get('options', '')}".strip()
    query = "&".join(f"{quote(str(k))}={quote(str(v), safe='')}" for k, v in params.items())
    return f"postgresql://{auth}{host}:{conn.port}/{quote(conn.database or '', safe='')}?{query}"


def _redact(text: str, conn: DbConnection) -> str:
    secret = getattr(conn, "password", None)
    if secret:
        text = text.replace(secret, "[REDACTED]").replace(quote(secret, safe=""), "[REDACTED]")
    if conn.type == "sql":
        text = text.replace(conn.url, _safe_url(conn.url))
    return current_redactor().redact_text(text)


_DRIVER_NOISE = re.compile(
    r"^(?:(?:IO|INVALID_DATA|INTEGRITY|NOT_FOUND|INVALID_ARGUMENT|INTERNAL|UNKNOWN): |\[libpq\] |"
    r"Failed to (?:execute query|prepare query|execute COPY statement): |"
    r"could not begin COPY: |PGRES_FATAL_ERROR |ERROR: +)+"
)


def first_line(exc: BaseException, conn: DbConnection) -> str:
    """The driver's message without its prefixes, the statement or the row it echoes, or the
    secret."""
    exc = getattr(exc, "orig", None) or exc  # SQLAlchemy's wrapper echoes the parameters
    text = str(exc).strip().split("\nQuery was:", 1)[0].strip()
    # a failing row's values may be personal data: the constraint's name says enough
    text = re.sub(r"\n\s*DETAIL: +Failing row contains .*", "", text)
    text = _DRIVER_NOISE.sub("", text)
    text = re.sub(r"\.? SQLSTATE: \w+$", "", text).strip()
    return _redact(text, conn)


def connect_error(name: str, conn: DbConnection, exc: BaseException) -> LakestoryError:
    """A clear error for a failed connection: what failed, for whom, and what to check."""
    text = first_line(exc, conn)
    low = text.lower()
    where = describe(name, conn)
    if "password authentication failed" in low or "authentication failed" in low:
        return DatabaseError(
            f"{where}: authentication failed for user '{getattr(conn, 'user', '') or ''}'",
            hint="check the user and the password the connection's `password: ${...}` resolves to",
        )
    if "does not exist" in low and "database" in low:
        return DatabaseError(f"{where}: {text.splitlines()[-1].strip()}", hint="check `database`")
    if any(s in low for s in ("timeout", "timed out", "refused", "could not translate", "unreach")):
        host = f"{conn.host}:{conn.port}" if conn.type == "postgres" else _safe_url(conn.url)
        why = (
            "the connection was refused"
            if "refused" in low
            else f"no answer within {conn.connect_timeout} s"
            if "time" in low
            else text.splitlines()[0]
        )
        return DatabaseUnreachable(
            f"{where}: cannot reach {host}: {why}",
            hint="check host and port, that the server runs and that a firewall lets this "
            "machine in; `connect_timeout` sets how long to wait",
        )
    return DatabaseError(f"{where}: cannot connect: {text}")


def _check_reachable(name: str, conn: PostgresConnection) -> None:
    """Fail within ``connect_timeout`` when nothing answers at host:port (libpq's own timeout
    does not bound every stage of connecting)."""
    if conn.host.startswith("/") or "," in conn.host:
        return  # a Unix socket's folder, or several hosts libpq tries in turn
    try:
        with socket.create_connection((conn.host, conn.port), timeout=conn.connect_timeout):
            pass
    except TimeoutError:
        raise connect_error(name, conn, TimeoutError("timed out")) from None
    except OSError as exc:
        raise connect_error(name, conn, OSError(f"unreachable: {exc.strerror or exc}")) from None


def require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"database connections of this type need {module.split('.')[0]}, which is not "
            "installed",
            hint=f'pip install "lakestory[{extra}]"',
        ) from None


class _Postgres:
    """One ADBC connection (autocommit off: everything until commit is one transaction)."""

    def __init__(self, name: str, conn: PostgresConnection) -> None:
        dbapi = require("adbc_driver_postgresql.dbapi", "postgres")
        self.name, self.conn = name, conn
        _check_reachable(name, conn)
        try:
            self.db = dbapi.connect(postgres_uri(conn))
        except Exception as exc:  # noqa: BLE001 - the driver's errors have no common base
            raise connect_error(name, conn, exc) from None

    def close(self) -> None:
        self.db.close()


# -- reading --------------------------------------------------------------------------------


def read(source: Source, conn: DbConnection) -> pa.RecordBatchReader:
    """Stream the rows of ``source`` (its table, or its query) as Arrow batches."""
    name = source.location.connection
    if conn.type == "postgres":
        return _read_postgres(source, name, conn)
    from lakestory.io import sqltables

    return sqltables.read(source, name, conn)


def _read_postgres(source: Source, name: str, conn: PostgresConnection) -> pa.RecordBatchReader:
    import pyarrow as pa

    pg = _Postgres(name, conn)
    sql = select_sql(source, conn.db_schema, "postgres")
    try:
        cur = pg.db.cursor()
        cur.execute(sql)
        reader = cur.fetch_record_batch()
    except Exception as exc:  # noqa: BLE001
        pg.close()
        raise statement_error(name, conn, source, exc) from None
    schema = plain_schema(reader.schema)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield to_plain(batch, schema)
        finally:
            cur.close()
            pg.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """The driver's schema with PostgreSQL ``numeric`` (an opaque string extension type) as
    a decimal of its declared precision, and no driver metadata."""
    import pyarrow as pa

    fields = []
    for f in schema:
        t = f.type
        meta = f.metadata or {}
        if isinstance(t, pa.BaseExtensionType) and meta.get(b"POSTGRESQL:type") == b"numeric":
            typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
            if typmod >= 4:
                p, s = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
            else:
                p, s = UNCONSTRAINED_NUMERIC
            t = pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)
        elif isinstance(t, pa.BaseExtensionType):
            t = t.storage_type
        fields.append(pa.field(f.name, t, f.nullable))
    return pa.schema(fields)


def to_plain(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        if isinstance(column.type, pa.BaseExtensionType):
            column = column.storage
        if column.type != field.type:
            column = column.cast(field.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def statement_error(
    name: str, conn: DbConnection, source: Source, exc: BaseException
) -> LakestoryError:
    what = "the query" if source.format == "query" else f"table {source.location.path}"
    return DatabaseError(
        f"{describe(name, conn)}: cannot read {what}: {first_line(exc, conn)}",
        hint="check the table name (schema.table) or the query"
        + ("; the incremental filter was " + source.filter if source.filter else ""),
    )


# -- writing --------------------------------------------------------------------------------


def write(
    reader: pa.RecordBatchReader, target: Target, conn: DbConnection, mode: str | None = None
) -> WriteOutcome:
    """Write ``reader``'s rows to ``target``'s table in one transaction. ``mode``: one of
    :data:`WRITE_MODES` (default ``target.mode``); keyed modes use ``target.keys``."""
    mode = mode or target.mode
    if mode not in WRITE_MODES:
        raise WriteError(
            f"write mode '{mode}' cannot write to a database table",
            hint=f"use one of: {', '.join(sorted(WRITE_MODES))}",
        )
    if mode in ("upsert", "append_once") and not target.keys:
        raise WriteError(f"write mode '{mode}' needs `keys`")
    name = target.location.connection
    if conn.type == "postgres":
        return _write_postgres(reader, target, name, conn, mode)
    from lakestory.io import sqltables

    return sqltables.write(reader, target, name, conn, mode)


def _write_postgres(
    reader: pa.RecordBatchReader, target: Target, name: str, conn: PostgresConnection, mode: str
) -> WriteOutcome:
    table = TableName.parse(target.location.path, conn.db_schema)
    pg = _Postgres(name, conn)
    try:
        cur = pg.db.cursor()
        try:
            outcome = _write_transaction(cur, reader, table, target.keys, mode)
            pg.db.commit()
            return outcome
        except Exception as exc:
            pg.db.rollback()
            if isinstance(exc, LakestoryError):
                raise
            raise write_error(name, conn, table, mode, target.keys, exc) from None
        finally:
            cur.close()
    finally:
        pg.close()


def _write_transaction(
    cur: Any, reader: pa.RecordBatchReader, table: TableName, keys: Sequence[str], mode: str
) -> WriteOutcome:
    columns = [f.name for f in reader.schema]
    existing = _columns(cur, table)
    names = [name for name, _ in existing or []]
    if existing is None or (mode == "overwrite" and sorted(names) != sorted(columns)):
        if existing is not None:
            cur.execute(f"DROP TABLE {table.sql()}")
        cur.execute(create_table_sql(table, reader.schema, keys if mode != "append" else ()))
        existing = [(f.name, _catalog_type(pg_type(f.type))) for f in reader.schema]
    missing = [c for c in columns if c not in {name for name, _ in existing}]
    if missing:
        raise WriteError(
            f"table {table.display()} has no column {', '.join(missing)}",
            hint="add the column to the table (ALTER TABLE ... ADD COLUMN), or select only "
            "the table's columns in a step",
        )
    if mode == "overwrite":
        cur.execute(f"DELETE FROM {table.sql()}")
    if mode in ("overwrite", "append") and _copies_directly(reader.schema, existing):
        # the table's columns are the data's, in order and type: COPY straight into it
        written = cur.adbc_ingest(table.name, reader, mode="append", db_schema_name=table.schema)
        return WriteOutcome(rows_written=int(written))
    staged = cur.adbc_ingest(STAGE, reader, mode="create", temporary=True)
    cur.execute(insert_sql(table, columns, mode, keys))
    inserted, updated = cur.fetchone()
    cur.execute(f"DROP TABLE {STAGE}")
    log.debug("staged %s rows for %s %s", staged, mode, table.display())
    return WriteOutcome(rows_written=int(inserted), rows_updated=int(updated))


# Arrow types whose binary COPY PostgreSQL takes into the column type lakestory creates for
# them; any other type, or a table whose columns differ, goes through the staging table
# (PostgreSQL then casts by column name).
_DIRECT = {
    "bigint",
    "integer",
    "smallint",
    "double precision",
    "real",
    "boolean",
    "text",
    "bytea",
    "date",
    "timestamp without time zone",
    "timestamp with time zone",
}


def _catalog_type(type_sql: str) -> str:
    """A type as ``format_type`` in the catalog spells it."""
    return {
        "timestamp": "timestamp without time zone",
        "timestamptz": "timestamp with time zone",
    }.get(type_sql, type_sql)


def _copies_directly(schema: pa.Schema, existing: Sequence[tuple[str, str]]) -> bool:
    import pyarrow as pa

    if [f.name for f in schema] != [name for name, _ in existing]:
        return False
    for f, (_, have) in zip(schema, existing, strict=True):
        if pa.types.is_unsigned_integer(f.type) or pa.types.is_int8(f.type):
            return False
        try:
            want = _catalog_type(pg_type(f.type))
        except WriteError:
            return False
        same = want == have or (want.startswith("numeric") and have.startswith("numeric"))
        if not same or not (want in _DIRECT or want.startswith("numeric(")):
            return False
    return True


def _columns(cur: Any, table: TableName) -> list[tuple[str, str]] | None:
    """The table's columns and their types, or None when there is no such table."""
    schema = "current_schema()" if table.schema is None else _lit(table.schema)
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = {schema} AND c.relname = {_lit(table.name)} "
        "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
    )
    rows = cur.fetchall()
    if rows:
        return [(str(r[0]), str(r[1])) for r in rows]
    cur.execute(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
        f"ON n.oid = c.relnamespace WHERE n.nspname = {schema} AND c.relname = {_lit(table.name)}"
    )
    return [] if cur.fetchall() else None


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_error(
    name: str, conn: DbConnection, table: TableName, mode: str, keys: Sequence[str], exc: Exception
) -> LakestoryError:
    text = first_line(exc, conn)
    hint = None
    if "no unique or exclusion constraint" in text:
        hint = (
            f"{mode} needs a primary key or unique index on ({', '.join(keys)}): "
            f"CREATE UNIQUE INDEX ON {table.display()} ({', '.join(keys)})"
        )
    return WriteError(
        f"{describe(name, conn)}: the {mode} of table {table.display()} failed, nothing was "
        f"written: {text}",
        hint=hint,
    )
