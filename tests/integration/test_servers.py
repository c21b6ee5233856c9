"""The real servers the cloud and database tests use answer a real client, and stop."""

from __future__ import annotations

import os
import sys

import pytest

from support.servers import (
    AzuriteEndpoint,
    MotoServer,
    PostgresEndpoint,
    PostgresServer,
    S3Endpoint,
    ServerError,
    require,
)

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


def test_azurite_upload_and_download_a_blob(azurite: AzuriteEndpoint, azure_container: str) -> None:
    blob = azurite.service().get_blob_client(azure_container, "a/b.csv")
    blob.upload_blob(b"id\n1\n")
    assert blob.download_blob().readall() == b"id\n1\n"
    assert azurite.blob_endpoint.endswith("/devstoreaccount1")


def test_azurite_container_sas_reads_and_writes(
    azurite: AzuriteEndpoint, azure_container: str
) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import ContainerClient

    sas = azurite.container_sas(azure_container)
    container = ContainerClient(azurite.blob_endpoint, azure_container, credential=sas)
    container.upload_blob("x.txt", b"hello")
    assert [b.name for b in container.list_blobs()] == ["x.txt"]
    read_only = ContainerClient(
        azurite.blob_endpoint,
        azure_container,
        credential=azurite.container_sas(azure_container, "r"),
    )
    assert read_only.download_blob("x.txt").readall() == b"hello"
    with pytest.raises(HttpResponseError, match="AuthorizationPermissionMismatch"):
        read_only.upload_blob("y.txt", b"no")


def test_azurite_account_sas_lists_containers(
    azurite: AzuriteEndpoint, azure_container: str
) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(azurite.blob_endpoint, credential=azurite.account_sas())
    assert azure_container in [c.name for c in service.list_containers()]


def test_a_missing_component_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        require("PostgreSQL is not installed: apt-get install postgresql")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install postgresql"):
        require("PostgreSQL is not installed: apt-get install postgresql")
    require(None)  # nothing missing: neither


def test_a_server_that_cannot_start_says_why_with_its_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require(MotoServer.missing())
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once
    with pytest.raises(ServerError, match=r"moto-s3 on 127\.0\.0\.1:\d+ exited with code 1"):
        MotoServer().start()
