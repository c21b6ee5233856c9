"""The database layer without a server: table names, the SQL it sends, the messages it
gives, the types it reads, and the SQLAlchemy path end to end on SQLite."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from lakestory.config.models.connections import PostgresConnection, SqlConnection
from lakestory.core.errors import ConfigError, LakestoryError, WriteError
from lakestory.io import databases
from lakestory.io.databases import TableName
from lakestory.io.specs import Location, Source, Target

SECRET = "s3cr3t/p@ss word"


def pg(**extra: object) -> PostgresConnection:
    fields = {"type": "postgres", "host": "db.example", "port": 5433, "username": "ann"}
    return PostgresConnection.model_validate(
        {**fields, "password": SECRET, "database": "shop", **extra}
    )


def loc(path: str, kind: str = "postgres") -> Location:
    return Location("db", kind, path, path)


@pytest.mark.parametrize(
    ("text", "schema", "name", "sql"),
    [
        ("orders", None, "orders", '"orders"'),
        ("public.orders", "public", "orders", '"public"."orders"'),
        ("Sales.Orders", "sales", "orders", '"sales"."orders"'),  # folded, as PostgreSQL does
        ('"Sales"."Order Lines"', "Sales", "Order Lines", '"Sales"."Order Lines"'),
        ('a."b""c"', "a", 'b"c', '"a"."b""c"'),
    ],
)
def test_table_names(text: str, schema: str | None, name: str, sql: str) -> None:
    table = TableName.parse(text)
    assert (table.schema, table.name, table.sql()) == (schema, name, sql)


def test_an_unqualified_name_takes_the_connection_schema() -> None:
    assert TableName.parse("orders", "staging").sql() == '"staging"."orders"'


@pytest.mark.parametrize("text", ["", "a.b.c", "a b", 'a."b'])
def test_bad_table_names(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a table name"):
        TableName.parse(text)


def test_a_table_read_with_its_incremental_filter_in_postgres_sql() -> None:
    source = Source(
        loc("public.events"),
        "table",
        filter="`updated_at` > CAST('2026-01-02 10:00:00' AS TIMESTAMP_NTZ)",
    )
    assert databases.select_sql(source, None, "postgres") == (
        """SELECT * FROM "public"."events" """
        """WHERE "updated_at" > CAST('2026-01-02 10:00:00' AS TIMESTAMP)"""
    )


def test_a_query_read_is_filtered_as_a_subquery() -> None:
    source = Source(loc("SELECT id, at FROM t;"), "query", filter="`id` > 5")
    assert databases.select_sql(source, None, "postgres") == (
        'SELECT * FROM (SELECT id, at FROM t) AS _lakestory_src WHERE "id" > 5'
    )
    assert databases.select_sql(Source(loc("SELECT 1"), "query"), None, "postgres") == (
        "SELECT * FROM (SELECT 1) AS _lakestory_src"
    )


def test_tables_are_created_from_the_arrow_schema_with_the_keys_as_primary_key() -> None:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("amount", pa.decimal128(10, 2)),
            ("at", pa.timestamp("us", "UTC")),
            ("day", pa.date32()),
            ("ok", pa.bool_()),
            ("n", pa.int32()),
            ("x", pa.float64()),
        ]
    )
    assert databases.create_table_sql(TableName("s", "t"), schema, ["id"]) == (
        'CREATE TABLE "s"."t" ("id" bigint, "name" text, "amount" numeric(10,2), '
        '"at" timestamptz, "day" date, "ok" boolean, "n" integer, "x" double precision, '
        'PRIMARY KEY ("id"))'
    )


def test_nested_columns_are_refused_with_what_to_do() -> None:
    with pytest.raises(WriteError, match="to_json"):
        databases.pg_type(pa.struct([("a", pa.int32())]))


def test_upsert_updates_only_rows_that_changed_and_counts_both() -> None:
    text = databases.insert_sql(TableName(None, "t"), ["id", "a", "b"], "upsert", ["id"])
    assert 'ON CONFLICT ("id") DO UPDATE SET "a" = EXCLUDED."a", "b" = EXCLUDED."b"' in text
    assert 'WHERE (t."a", t."b") IS DISTINCT FROM (EXCLUDED."a", EXCLUDED."b")' in text
    assert "RETURNING (t.xmax = 0) AS inserted" in text


@pytest.mark.parametrize(
    ("mode", "columns", "conflict"),
    [
        ("append_once", ["id", "a"], 'ON CONFLICT ("id") DO NOTHING'),
        ("upsert", ["id"], 'ON CONFLICT ("id") DO NOTHING'),  # nothing but keys to update
        ("append", ["id", "a"], None),
        ("overwrite", ["id", "a"], None),
    ],
)
def test_insert_statements(mode: str, columns: list[str], conflict: str | None) -> None:
    text = databases.insert_sql(TableName(None, "t"), columns, mode, ["id"])
    assert text.startswith('WITH changed AS (INSERT INTO "t" AS t (')
    assert (conflict in text) if conflict else ("ON CONFLICT" not in text)


def test_the_uri_quotes_the_password_and_sets_the_timeout() -> None:
    uri = databases.postgres_uri(pg(connect_timeout=3, sslmode="require"))
    assert uri.startswith("postgresql://ann:s3cr3t%2Fp%40ss%20word@db.example:5433/shop?")
    assert "connect_timeout=3" in uri and "sslmode=require" in uri


def test_descriptions_never_show_the_password() -> None:
    assert databases.describe("db", pg()) == "connection 'db' (postgres: ann@db.example:5433/shop)"
    url = SqlConnection(type="sql", url="mysql+pymysql://ann:s3cr3t-pass@h/shop")
    text = databases.describe("db", url)
    assert "s3cr3t" not in text and "ann:***@h/shop" in text


def test_a_refused_login_names_the_connection_and_user_not_the_secret() -> None:
    raw = (
        'IO: [libpq] Failed to connect: connection to server at "db.example", port 5433 '
        f'failed: FATAL:  password authentication failed for user "ann" ({SECRET})'
    )
    err = databases.connect_error("db", pg(), RuntimeError(raw))
    assert err.what == (
        "connection 'db' (postgres: ann@db.example:5433/shop): authentication failed for user 'ann'"
    )
    assert not err.transient
    assert SECRET not in err.render()


def test_an_unreachable_server_is_transient_and_names_host_and_port() -> None:
    err = databases.connect_error("db", pg(connect_timeout=4), TimeoutError("timed out"))
    assert err.transient
    assert "cannot reach db.example:5433: no answer within 4 s" in err.what
    assert "connect_timeout" in (err.hint or "")


def test_numeric_columns_read_as_decimals_of_their_declared_precision() -> None:
    opaque = pa.opaque(pa.string(), "numeric", "PostgreSQL")
    meta = {"POSTGRESQL:type": "numeric"}
    schema = pa.schema(
        [
            pa.field("fixed", opaque, metadata={**meta, "POSTGRESQL:typmod": str((12 << 16) + 6)}),
            pa.field("free", opaque, metadata={**meta, "POSTGRESQL:typmod": "-1"}),
            pa.field("id", pa.int64(), metadata={"POSTGRESQL:type": "int8"}),
        ]
    )
    plain = databases.plain_schema(schema)
    assert plain.types == [pa.decimal128(12, 2), pa.decimal128(38, 18), pa.int64()]
    assert all(not f.metadata for f in plain)
    storage = pa.array(["1.25", None], pa.string())
    batch = pa.RecordBatch.from_arrays(
        [pa.ExtensionArray.from_storage(opaque, storage)] * 2 + [pa.array([1, 2])],
        schema=schema,
    )
    rows = databases.to_plain(batch, plain).to_pylist()
    assert rows[0] == {"fixed": Decimal("1.25"), "free": Decimal("1.25"), "id": 1}
    assert rows[1]["fixed"] is None


def test_modes_a_database_cannot_do_are_refused() -> None:
    reader = pa.RecordBatchReader.from_batches(pa.schema([("id", pa.int64())]), [])
    with pytest.raises(WriteError, match="cannot write to a database table"):
        databases.write(reader, Target(loc("t"), "table", "scd2", keys=("id",)), pg())


def test_a_location_finds_its_settings_and_its_uri_has_no_password() -> None:
    conn = pg()
    location = databases.location("db", conn, "public.orders")
    assert location.uri == "postgres:ann@db.example:5433/shop#public.orders"
    assert location.path == "public.orders" and location.kind == "postgres"
    assert databases.connection(location) is conn
    mysql = SqlConnection(type="sql", url="mysql+pymysql://ann:s3cr3t-pass@h:3306/shop")
    found = databases.location("wh", mysql, "SELECT 'https://x' AS u", query=True)
    assert found.uri.startswith("mysql:ann@h:3306/shop#query:")
    assert "://" not in found.uri  # never taken for an object store's URL
    assert databases.connection(found) is mysql
    assert found.path == "SELECT 'https://x' AS u"


def test_a_location_never_registered_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="its settings were never registered"):
        databases.connection(loc("t"))


# -- the SQLAlchemy path, on SQLite ----------------------------------------------------------


def _reader(rows: list[dict[str, object]]) -> pa.RecordBatchReader:
    table = pa.Table.from_pylist(rows)
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def test_sqlalchemy_writes_reads_and_upserts(tmp_path: Path) -> None:
    file = tmp_path / "shop.db"
    conn = SqlConnection(type="sql", url=f"sqlite:///{file}")
    target = Target(loc("customers", "sql"), "table", "upsert", keys=("id",))
    first = [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]
    assert databases.write(_reader(first), target, conn).rows_written == 2
    again = databases.write(
        _reader([{"id": 2, "name": "BOB"}, {"id": 3, "name": "cy"}]), target, conn
    )
    assert (again.rows_written, again.rows_updated) == (1, 1)
    with sqlite3.connect(file) as db:
        assert db.execute("SELECT * FROM customers ORDER BY id").fetchall() == [
            (1, "ann"),
            (2, "BOB"),
            (3, "cy"),
        ]
    source = Source(loc("customers", "sql"), "table", filter="`id` >= 2")
    assert databases.read(source, conn).read_all().to_pylist() == [
        {"id": 2, "name": "BOB"},
        {"id": 3, "name": "cy"},
    ]
    query = Source(loc("SELECT count(*) AS n FROM customers", "sql"), "query")
    assert databases.read(query, conn).read_all().to_pylist() == [{"n": 3}]


def test_sqlalchemy_overwrite_is_one_transaction(tmp_path: Path) -> None:
    file = tmp_path / "shop.db"
    conn = SqlConnection(type="sql", url=f"sqlite:///{file}")
    target = Target(loc("t", "sql"), "table", "overwrite", keys=("id",))
    databases.write(_reader([{"id": 1, "v": "a"}]), target, conn)
    broken = [{"id": 2, "v": "b"}, {"id": 2, "v": "c"}]  # the primary key refuses the second
    with pytest.raises(LakestoryError, match="nothing was written"):
        databases.write(_reader(broken), target, conn)
    with sqlite3.connect(file) as db:
        assert db.execute("SELECT * FROM t").fetchall() == [(1, "a")]
