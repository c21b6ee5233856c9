"""Tables in any database SQLAlchemy reaches (the ``sql`` connection type).

Reads fetch rows in batches of :data:`BATCH_ROWS` into Arrow; writes run ``executemany`` in
batches, all inside one transaction (an overwrite deletes the rows, and drops and re-creates
the table only when its columns differ: some databases, e.g. MySQL, commit DDL on their
own). Correct everywhere and fast nowhere: PostgreSQL has its own fast path
(:mod:`lakestory.io.databases`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from lakestory.core.errors import ConfigError, LakestoryError
from lakestory.io.databases import (
    DatabaseError,
    TableName,
    connect_error,
    describe,
    first_line,
    pg_type,
    require,
    select_sql,
    statement_error,
    write_error,
)
from lakestory.io.specs import Source, Target, WriteOutcome

if TYPE_CHECKING:
    import pyarrow as pa

    from lakestory.config.models.connections import SqlConnection

BATCH_ROWS = 50_000


def _engine(name: str, conn: SqlConnection) -> Any:
    sqlalchemy = require("sqlalchemy", "sql")
    try:
        url = sqlalchemy.engine.make_url(conn.url)
    except Exception:  # noqa: BLE001
        raise ConfigError(
            f"{describe(name, conn)}: `url` is not a SQLAlchemy URL",
            hint="e.g. mysql+pymysql://user:${DB_PASSWORD}@host/db",
        ) from None
    args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend in ("postgresql", "mysql", "mariadb"):
        args["connect_timeout"] = conn.connect_timeout
    elif backend == "sqlite":
        args["timeout"] = conn.connect_timeout
    try:
        return sqlalchemy.create_engine(url, connect_args=args, poolclass=sqlalchemy.pool.NullPool)
    except Exception as exc:  # noqa: BLE001 - e.g. the dialect's driver is not installed
        raise DatabaseError(f"{describe(name, conn)}: {first_line(exc, conn)}") from None


def _sqlglot_dialect(engine: Any) -> str:
    name = str(engine.dialect.name)
    return {"postgresql": "postgres", "mssql": "tsql", "mariadb": "mysql"}.get(name, name)


def read(source: Source, name: str, conn: SqlConnection) -> pa.RecordBatchReader:
    import pyarrow as pa
    import sqlalchemy

    engine = _engine(name, conn)
    sql = select_sql(source, None, _sqlglot_dialect(engine))
    try:
        db = engine.connect()
    except Exception as exc:  # noqa: BLE001
        raise connect_error(name, conn, exc) from None
    try:
        result = db.execution_options(stream_results=True).execute(sqlalchemy.text(sql))
        names = list(result.keys())
        first = result.fetchmany(BATCH_ROWS)
    except Exception as exc:  # noqa: BLE001
        db.close()
        raise statement_error(name, conn, source, exc) from None
    head = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in first])
    schema = head.schema if head.num_columns else pa.schema([(n, pa.null()) for n in names])

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            rows = first
            while rows:
                yield pa.RecordBatch.from_pylist(
                    [dict(zip(names, r, strict=True)) for r in rows], schema=schema
                )
                rows = result.fetchmany(BATCH_ROWS)
        finally:
            db.close()
            engine.dispose()

    return pa.RecordBatchReader.from_batches(schema, batches())


def write(
    reader: pa.RecordBatchReader, target: Target, name: str, conn: SqlConnection, mode: str
) -> WriteOutcome:
    import sqlalchemy as sa

    engine = _engine(name, conn)
    table = TableName.parse(target.location.path)
    try:
        with engine.begin() as db:
            meta = sa.MetaData(schema=table.schema)
            exists = sa.inspect(db).has_table(table.name, schema=table.schema)
            if mode == "overwrite" and exists:
                # rows out (DML: transactional everywhere); the table itself only when its
                # columns differ (DDL commits on its own in some databases, e.g. MySQL)
                old = sa.Table(table.name, meta, autoload_with=db)
                if sorted(old.c.keys()) == sorted(reader.schema.names):
                    db.execute(sa.delete(old))
                else:
                    old.drop(db)
                    exists = False
            if not exists:
                keys = target.keys if mode != "append" else ()
                _sa_table(table.name, meta, reader.schema, keys).create(db)
            tbl = sa.Table(table.name, sa.MetaData(schema=table.schema), autoload_with=db)
            return _sa_insert(db, tbl, reader, mode, target.keys)
    except LakestoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, sa.exc.OperationalError) and "connect" in str(exc).lower():
            raise connect_error(name, conn, exc) from None
        raise write_error(name, conn, table, mode, target.keys, exc) from None
    finally:
        engine.dispose()


def _sa_table(name: str, meta: Any, schema: pa.Schema, keys: Sequence[str]) -> Any:
    import pyarrow as pa
    import sqlalchemy as sa

    def sa_type(t: pa.DataType) -> Any:
        if pa.types.is_boolean(t):
            return sa.Boolean()
        if pa.types.is_integer(t):
            return sa.BigInteger()
        if pa.types.is_floating(t):
            return sa.Float()
        if pa.types.is_decimal(t):
            return sa.Numeric(t.precision, t.scale)
        if pa.types.is_timestamp(t):
            return sa.DateTime(timezone=bool(t.tz))
        if pa.types.is_date(t):
            return sa.Date()
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return sa.LargeBinary()
        pg_type(t)  # raises for nested types
        return sa.Text() if not keys else sa.String(255)

    columns = [sa.Column(f.name, sa_type(f.type), primary_key=f.name in keys) for f in schema]
    return sa.Table(name, meta, *columns)


def _sa_insert(
    db: Any, tbl: Any, reader: pa.RecordBatchReader, mode: str, keys: Sequence[str]
) -> WriteOutcome:
    import sqlalchemy as sa

    inserted = updated = 0
    for batch in reader:
        rows = batch.to_pylist()
        if not rows:
            continue
        if mode in ("upsert", "append_once"):
            key_of = {tuple(r[k] for k in keys): r for r in rows}
            cond = sa.tuple_(*(tbl.c[k] for k in keys)).in_(list(key_of))
            found = {tuple(r) for r in db.execute(sa.select(*(tbl.c[k] for k in keys)).where(cond))}
            new = [r for k, r in key_of.items() if k not in found]
            if mode == "upsert" and found:
                others = [c for c in batch.schema.names if c not in keys]
                if others:
                    stmt = (
                        sa.update(tbl)
                        .where(*(tbl.c[k] == sa.bindparam(f"_k_{k}") for k in keys))
                        .values({c: sa.bindparam(f"_v_{c}") for c in others})
                    )
                    params = [
                        {**{f"_k_{k}": r[k] for k in keys}, **{f"_v_{c}": r[c] for c in others}}
                        for k, r in key_of.items()
                        if k in found
                    ]
                    db.execute(stmt, params)
                    updated += len(params)
            rows = new
        if rows:
            db.execute(sa.insert(tbl), rows)
            inserted += len(rows)
    return WriteOutcome(rows_written=inserted, rows_updated=updated)
