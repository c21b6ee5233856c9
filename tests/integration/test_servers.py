"""The real servers the cloud and database tests use answer a real client, and stop."""

from __future__ import annotations

import os

import pytest

from support.servers import PostgresEndpoint, PostgresServer, S3Endpoint, require

pytestmark = pytest.mark.slow


def test_postgres_answers_a_query_with_the_password(postgres_server: PostgresEndpoint) -> None:
    import psycopg

    with psycopg.connect(postgres_server.uri, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == ("lakestory",)


def test_postgres_refuses_a_wrong_password(postgres_server: PostgresEndpoint) -> None:
    import psycopg

    wrong = postgres_server.uri.replace(postgres_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)


def test_postgres_db_is_a_fresh_database_dropped_after(
    postgres_db: PostgresEndpoint, postgres_server: PostgresEndpoint
) -> None:
    import psycopg

    assert postgres_db.database != postgres_server.database
    with psycopg.connect(postgres_db.uri, connect_timeout=10) as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.execute("INSERT INTO t VALUES (7)")
        assert conn.execute("SELECT id FROM t").fetchall() == [(7,)]
    # an open session does not stop the drop
    psycopg.connect(postgres_db.uri, connect_timeout=10)
    postgres_server.drop_database(postgres_db.database)
    with psycopg.connect(postgres_server.uri, connect_timeout=10) as conn:
        names = conn.execute("SELECT datname FROM pg_database").fetchall()
    assert (postgres_db.database,) not in names


def test_a_stopped_postgres_leaves_no_process() -> None:
    require(PostgresServer.missing())
    server = PostgresServer()
    facts = server.start()
    assert server.proc is not None
    pid = server.proc.pid
    server.stop()
    assert server.workdir is None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert facts.port > 0


def test_s3_put_and_get_an_object(s3_server: S3Endpoint, s3_bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="a/b.csv", Body=b"id\n1\n")
    assert client.get_object(Bucket=s3_bucket, Key="a/b.csv")["Body"].read() == b"id\n1\n"
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")


def test_s3_bucket_is_fresh_per_test(s3_server: S3Endpoint, s3_bucket: str) -> None:
    assert s3_server.client().list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
