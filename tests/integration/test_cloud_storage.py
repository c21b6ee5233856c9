"""Cloud connections against real stand-ins started on 127.0.0.1: S3 through moto's server,
Azure Blob / ADLS through Azurite. The bundled example end to end on each (its system
catalog and stories in the store too), the Azure auth modes that work locally, every Delta
write mode, plain file formats, incremental file ledgers, and the messages for wrong
credentials and unreachable endpoints."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.core.errors import ConfigError
from lakestory.examples import create_example
from support.servers import AzuriteEndpoint, S3Endpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GOLD = ("gold/customer_metrics", "silver/orders", "silver/customers", "bronze/orders")


# ------------------------------------------------------------------------------ helpers


class Lake:
    """One bucket or container: the connection settings lakestory gets, and a way to
    upload, list and read that does not go through lakestory."""

    def __init__(self, kind: str, settings: dict[str, Any], fs: Any, root: str, delta: Any):
        self.kind = kind
        self.settings = settings  # the YAML connection, without path_prefix
        self.fs = fs  # fsspec file system, paths "bucket/key"
        self.root = root  # "bucket" or "container"
        self.delta_url: Callable[[str], str] = delta[0]
        self.delta_options: dict[str, str] = delta[1]

    def connection(self, prefix: str, **more: Any) -> dict[str, Any]:
        return {**self.settings, "path_prefix": prefix, **more}

    def upload(self, local: Path, key: str) -> None:
        self.fs.put_file(str(local), f"{self.root}/{key}")

    def put_text(self, key: str, text: str) -> None:
        self.fs.pipe_file(f"{self.root}/{key}", text.encode())

    def keys(self, prefix: str) -> list[str]:
        return sorted(p[len(self.root) + 1 :] for p in self.fs.find(f"{self.root}/{prefix}"))

    def table(self, key: str) -> DeltaTable:
        return DeltaTable(self.delta_url(key), storage_options=self.delta_options)

    def rows(self, key: str, *order: str) -> list[dict[str, Any]]:
        rows = self.table(key).to_pyarrow_table().to_pylist()
        return sorted(rows, key=lambda r: tuple(str(r[c]) for c in order or sorted(r)))


@pytest.fixture
def s3_lake(s3_server: S3Endpoint, s3_bucket: str) -> Lake:
    import s3fs

    fs = s3fs.S3FileSystem(
        key=s3_server.access_key,
        secret=s3_server.secret_key,
        client_kwargs={"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    settings = {
        "type": "s3",
        "bucket": s3_bucket,
        "region": s3_server.region,
        "endpoint_url": s3_server.endpoint_url,
        "access_key_id": "${TEST_AWS_KEY}",
        "secret_access_key": "${TEST_AWS_SECRET}",
    }
    options = {
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_REGION": s3_server.region,
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }
    return Lake("s3", settings, fs, s3_bucket, (lambda k: f"s3://{s3_bucket}/{k}", options))


@pytest.fixture
def azure_lake(
    azurite: AzuriteEndpoint, azure_container: str, monkeypatch: pytest.MonkeyPatch
) -> Lake:
    import adlfs

    monkeypatch.setenv("TEST_AZURE_KEY", azurite.account_key)
    fs = adlfs.AzureBlobFileSystem(
        connection_string=azurite.connection_string,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    settings = {
        "type": "azure_adls",
        "account": azurite.account_name,
        "container": azure_container,
        "auth_mode": "account_key",
        "account_key": "${TEST_AZURE_KEY}",
        "endpoint_url": azurite.blob_endpoint,
    }
    options = {
        "account_name": azurite.account_name,
        "account_key": azurite.account_key,
        "azure_storage_endpoint": azurite.blob_endpoint,
        "allow_http": "true",
    }
    host = f"{azurite.account_name}.dfs.core.windows.net"
    return Lake(
        "azure",
        settings,
        fs,
        azure_container,
        (lambda k: f"abfss://{azure_container}@{host}/{k}", options),
    )


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The secrets the projects name as ${...}, as a deployment would set them."""
    monkeypatch.setenv("TEST_AWS_KEY", "testing")
    monkeypatch.setenv("TEST_AWS_SECRET", "testing")
    if "azure_lake" in request.fixturenames:
        azurite = request.getfixturevalue("azurite")
        monkeypatch.setenv("TEST_AZURE_KEY", azurite.account_key)


def project_file(
    root: Path, connection: dict[str, Any], nodes: str, *, catalog: bool = False, engine: str = ""
) -> Path:
    """A one-pipeline project on connection ``lake`` (``nodes``: the YAML of its nodes,
    indented under ``nodes:``); the catalog in the store when ``catalog``, no stories."""
    root.mkdir(parents=True, exist_ok=True)
    system = "{connection: lake}" if catalog else "{enabled: false}"
    head = f"project: t\n{f'engine: {engine}' if engine else ''}\n"
    text = (
        f"{head}connections:\n  lake: {json.dumps(connection)}\n"
        f"system: {system}\nstory: {{enabled: false}}\n"
        f"pipelines:\n  - pipeline: p\n    nodes:\n{textwrap.indent(nodes.strip(), '      ')}\n"
    )
    (root / "lakestory.yaml").write_text(text)
    return root / "lakestory.yaml"


def demo_on(lake: Lake, root: Path) -> Path:
    """The bundled example with both its connections, the catalog and the stories on
    ``lake``; its raw CSVs uploaded under raw/."""
    create_example(root)
    raw = root / "data" / "raw"
    for path in sorted(raw.rglob("*")):
        if path.is_file():
            lake.upload(path, "raw/" + path.relative_to(raw).as_posix())
    cfg = yaml.safe_load((root / "lakestory.yaml").read_text())
    cfg["connections"] = {"raw": lake.connection("raw"), "lake": lake.connection("lake")}
    cfg["system"] = {"connection": "lake"}
    cfg["story"] = {"connection": "lake", "path": "_stories", "retention_count": 50}
    (root / "lakestory.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root / "lakestory.yaml"


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example run on local disk: the answers the cloud runs must equal."""
    root = tmp_path_factory.mktemp("local") / "demo"
    create_example(root)
    assert Project.load(root / "lakestory.yaml").run().ok
    return root / "data" / "lake"


def local_rows(lake: Path, key: str) -> list[dict[str, Any]]:
    rows = DeltaTable(str(lake / key)).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: tuple(str(r[c]) for c in sorted(r)))


def cloud_rows(lake: Lake, key: str) -> list[dict[str, Any]]:
    return lake.rows(f"lake/{key}")


VOLATILE = {"processed_at", "_ingested_at", "_loaded_at"}


def without_clock(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def check_demo(lake: Lake, tmp_path: Path, local_demo: Path, cli: Callable[..., Any]) -> None:
    project = demo_on(lake, tmp_path / "demo")
    first = cli("run", project, "--format", "json")
    assert first.exit_code == 0, first.stdout + first.stderr
    report = json.loads(first.stdout)
    assert [n["status"] for n in report["nodes"]] == ["success"] * 6
    for key in GOLD:
        assert without_clock(cloud_rows(lake, key)) == without_clock(local_rows(local_demo, key))
    second = cli("run", project, "--format", "json")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert lake.table("lake/gold/customer_metrics").version() == 1
    # the catalog and the stories live in the store, and lakestory reads them back
    keys = lake.keys("lake")
    assert any(k.startswith("lake/_lakestory_system/runs/_delta_log/") for k in keys)
    stories = [k for k in keys if k.startswith("lake/_stories/") and k.endswith(".html")]
    assert len(stories) == 2
    history = cli("history", project, "--format", "json")
    assert history.exit_code == 0
    assert len(json.loads(history.stdout)["runs"]) == 2
    listed = cli("story", "list", project, "--format", "json")
    assert listed.exit_code == 0
    assert {s["run_id"] for s in json.loads(listed.stdout)["stories"]} == {
        report["run_id"],
        json.loads(second.stdout)["run_id"],
    }


# ------------------------------------------------------------------ the example, end to end


def test_the_example_runs_on_s3(
    s3_lake: Lake, tmp_path: Path, local_demo: Path, cli: Callable[..., Any]
) -> None:
    check_demo(s3_lake, tmp_path, local_demo, cli)


def test_the_example_runs_on_adls(
    azure_lake: Lake, tmp_path: Path, local_demo: Path, cli: Callable[..., Any]
) -> None:
    check_demo(azure_lake, tmp_path, local_demo, cli)


# --------------------------------------------------------------------------- auth modes


def one_node(root: Path, connection: dict[str, Any], read: str = "in/people.csv") -> Path:
    return project_file(
        root,
        connection,
        f"""
- name: copy
  read: {{connection: lake, format: csv, path: {json.dumps(read)}}}
  write: {{connection: lake, format: delta, path: out/copy, mode: overwrite}}
""",
    )


@pytest.mark.parametrize("mode", ["sas", "connection_string", "account_key_in_url_form"])
def test_azure_auth_modes(
    mode: str,
    azure_lake: Lake,
    azurite: AzuriteEndpoint,
    azure_container: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    azure_lake.put_text("in/people.csv", "id,name\n1,Ann\n2,Bob\n")
    read = "in/people.csv"
    if mode == "sas":
        monkeypatch.setenv("TEST_SAS", azurite.container_sas(azure_container))
        conn = {
            **azure_lake.settings,
            "auth_mode": "sas",
            "sas_token": "${TEST_SAS}",
            "account_key": None,
        }
    elif mode == "connection_string":
        monkeypatch.setenv("TEST_CONN", azurite.connection_string)
        conn = {
            "type": "azure_blob",
            "container": azure_container,
            "auth_mode": "connection_string",
            "connection_string": "${TEST_CONN}",
        }
    else:  # a full URL as the path, in each form users copy from the portal
        conn = azure_lake.settings
        read = f"abfss://{azure_container}@{azurite.account_name}.dfs.core.windows.net/in/"
    conn = {k: v for k, v in conn.items() if v is not None}
    result = Project.load(one_node(tmp_path, conn, read)).run()
    assert result.ok, result.nodes[0].error
    assert azure_lake.rows("out/copy", "id") == [
        {"id": 1, "name": "Ann"},
        {"id": 2, "name": "Bob"},
    ]


def test_wrong_azure_key_names_the_connection_and_mode_never_the_key(
    azure_lake: Lake, tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3JvbmcxMjM0NTY3ODkw"
    monkeypatch.setenv("TEST_AZURE_KEY", wrong)
    azure_lake.put_text("in/people.csv", "id\n1\n")
    project = one_node(tmp_path, azure_lake.settings)
    started = time.monotonic()
    out = cli("run", project)
    assert out.exit_code == 1
    text = out.stdout + out.stderr
    assert "connection 'lake' (azure_adls, auth_mode account_key)" in text
    assert "refused the credentials" in text and "key connections.lake" in text
    assert "hint: check the account key" in text
    assert wrong not in text
    assert time.monotonic() - started < 30


def test_an_unreachable_endpoint_fails_fast_with_a_clear_message(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    conn = {
        "type": "s3",
        "bucket": "nowhere",
        "endpoint_url": "http://127.0.0.1:9",  # discard: nothing listens
        "access_key_id": "${TEST_AWS_KEY}",
        "secret_access_key": "${TEST_AWS_SECRET}",
    }
    started = time.monotonic()
    out = cli("run", one_node(tmp_path, conn))
    elapsed = time.monotonic() - started
    text = out.stdout + out.stderr
    assert out.exit_code == 1
    assert "connection 'lake' (s3, auth_mode access_key): cannot reach http://127.0.0.1:9" in text
    assert "hint: check the endpoint" in text
    assert elapsed < 30, elapsed


# ----------------------------------------------------------------------- Delta write modes


def modes_project(lake: Lake, root: Path, write: str) -> Path:
    nodes = f"""
- name: customers
  read: {{connection: lake, format: csv, path: in/customers.csv}}
  write: {{connection: lake, format: delta, path: out/customers, {write}}}
"""
    return project_file(root, lake.connection("m"), nodes, catalog=True)


def deliver(lake: Lake, text: str) -> None:
    lake.put_text("m/in/customers.csv", text.strip() + "\n")


def run_ok(project_file: Path) -> Any:
    result = Project.load(project_file).run()
    assert result.ok, result.nodes[0].error
    return result.nodes[0]


@pytest.fixture(params=["s3", "azure"])
def any_lake(request: pytest.FixtureRequest) -> Lake:
    lake: Lake = request.getfixturevalue(f"{request.param}_lake")
    return lake


def test_upsert_twice_leaves_no_duplicates(any_lake: Lake, tmp_path: Path) -> None:
    project = modes_project(any_lake, tmp_path, "mode: upsert, keys: [id]")
    deliver(any_lake, "id,tier\n1,Gold\n2,Silver")
    run_ok(project)
    deliver(any_lake, "id,tier\n2,Gold\n3,Bronze")
    node = run_ok(project)
    assert (node.rows_written, node.rows_updated) == (1, 1)
    run_ok(project)  # the same input again: nothing changes
    assert any_lake.rows("m/out/customers", "id") == [
        {"id": 1, "tier": "Gold"},
        {"id": 2, "tier": "Gold"},
        {"id": 3, "tier": "Bronze"},
    ]


def test_append_once_skips_keys_already_there(any_lake: Lake, tmp_path: Path) -> None:
    project = modes_project(any_lake, tmp_path, "mode: append_once, keys: [id]")
    deliver(any_lake, "id,tier\n1,Gold\n2,Silver")
    run_ok(project)
    deliver(any_lake, "id,tier\n2,Changed\n3,Bronze")
    node = run_ok(project)
    assert node.rows_written == 1
    assert any_lake.rows("m/out/customers", "id") == [
        {"id": 1, "tier": "Gold"},
        {"id": 2, "tier": "Silver"},
        {"id": 3, "tier": "Bronze"},
    ]


def test_scd2_over_two_loads(any_lake: Lake, tmp_path: Path) -> None:
    write = "mode: scd2, keys: [id], effective_from: changed_at"
    project = modes_project(any_lake, tmp_path, write)
    deliver(
        any_lake, "id,tier,changed_at\n1,Gold,2026-01-01 00:00:00\n2,Silver,2026-01-01 00:00:00"
    )
    run_ok(project)
    deliver(
        any_lake, "id,tier,changed_at\n1,Platinum,2026-03-01 00:00:00\n2,Silver,2026-03-01 00:00:00"
    )
    node = run_ok(project)
    assert (node.rows_written, node.rows_updated) == (1, 1)
    rows = any_lake.rows("m/out/customers", "id", "valid_from")
    assert [(r["id"], r["tier"], r["is_current"]) for r in rows] == [
        (1, "Gold", False),
        (1, "Platinum", True),
        (2, "Silver", True),
    ]


# ------------------------------------------------------------------------ plain file formats


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_file_formats_overwrite_and_append_in_a_store(
    fmt: str, s3_lake: Lake, tmp_path: Path
) -> None:
    lake = s3_lake
    lake.put_text("f/in/a.csv", "id,name\n1,Ann\n2,Bob\n")

    def run(mode: str, path: str) -> None:
        nodes = f"""
- name: out
  read: {{connection: lake, format: csv, path: in/}}
  write: {{connection: lake, format: {fmt}, path: {path}, mode: {mode}}}
"""
        run_ok(project_file(tmp_path, lake.connection("f"), nodes))

    run("overwrite", "out/folder")
    first = lake.keys("f/out/folder")
    run("overwrite", "out/folder")  # replaced: the old part files are gone
    second = lake.keys("f/out/folder")
    assert len(first) == len(second) == 1 and first != second
    run("append", "out/folder")
    assert len(lake.keys("f/out/folder")) == 2
    run("overwrite", f"out/single.{ {'json': 'jsonl'}.get(fmt, fmt) }")
    assert len([k for k in lake.keys("f/out") if k.startswith("f/out/single.")]) == 1
    assert not [k for k in lake.keys("f") if "lakestory-tmp" in k]
    if fmt == "parquet":
        with lake.fs.open(f"{lake.root}/{second[0]}", "rb") as fh:
            assert pq.read_table(fh).sort_by("id").to_pylist() == [
                {"id": 1, "name": "Ann"},
                {"id": 2, "name": "Bob"},
            ]


# ---------------------------------------------------------------- incremental file ledgers


def test_incremental_files_reads_only_new_files_from_a_store(
    azure_lake: Lake, tmp_path: Path
) -> None:
    lake = azure_lake
    nodes = """
- name: events
  read: {connection: lake, format: csv, path: landing/, incremental: {mode: files}}
  write: {connection: lake, format: delta, path: bronze/events, mode: append}
"""
    project_file(tmp_path, lake.connection("inc"), nodes, catalog=True)
    lake.put_text("inc/landing/day=1/a.csv", "id\n1\n2\n")
    assert run_ok(tmp_path / "lakestory.yaml").rows_read == 2
    lake.put_text("inc/landing/day=2/b.csv", "id\n3\n")
    assert run_ok(tmp_path / "lakestory.yaml").rows_read == 1
    third = Project.load(tmp_path / "lakestory.yaml").run()
    assert third.ok and third.nodes[0].rows_written == 0
    assert [r["id"] for r in lake.rows("inc/bronze/events", "id")] == [1, 2, 3]


# ------------------------------------------------------------------------------ storage API


@pytest.mark.parametrize("where", ["local", "s3", "azure"])
def test_the_storage_api_on_every_kind_of_connection(
    where: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lakestory

    if where == "local":
        conn: dict[str, Any] = {"type": "local", "base_path": "files"}
    else:
        lake: Lake = request.getfixturevalue(f"{where}_lake")
        conn = lake.connection("api")
    (tmp_path / "lakestory.yaml").write_text(
        f"project: api\nconnections:\n  data_lake: {json.dumps(conn)}\n"
        "pipelines:\n  - pipeline: p\n    nodes:\n      - name: n\n"
        "        transform: {steps: [{sql: 'SELECT 1 AS x'}]}\n"
    )
    monkeypatch.chdir(tmp_path)
    store = lakestory.storage("data_lake")
    table = pa.table({"id": [1, 2], "name": ["Ann", "Bob"]})
    store.write("gold/people", table)  # Delta
    store.write("gold/people", table.slice(0, 1), mode="append")
    store.write("exports/people.parquet", table)
    store.write("exports/people.csv", table)
    store.write_text("notes/readme.txt", "hello")
    assert store.read("gold/people").num_rows == 3
    assert store.read("exports/people.parquet").to_pylist() == table.to_pylist()
    assert store.read("exports/people.csv").to_pylist() == table.to_pylist()
    assert store.read_text("notes/readme.txt") == "hello"
    assert store.list("exports/") == ["exports/people.csv", "exports/people.parquet"]
    assert store.list("", pattern="*.csv") == ["exports/people.csv"]
    assert store.exists("exports/people.csv") and not store.exists("exports/nope.csv")
    store.delete("exports/")
    assert store.list("exports/") == [] and not store.exists("exports/people.csv")
    assert store.exists("gold/people/_delta_log")
    with pytest.raises(ConfigError, match="unknown connection 'data_lak'"):
        lakestory.storage("data_lak")


# ------------------------------------------------------------------------------ on Spark


def test_the_spark_engine_reads_and_writes_a_store(
    spark_session: Any, s3_lake: Lake, tmp_path: Path
) -> None:
    """A local Spark session: files through the driver, Delta through deltalake."""
    s3_lake.put_text("sp/in/a.csv", "id,name\n1,Ann\n2,Bob\n")
    nodes = """
- name: people
  read: {connection: lake, format: csv, path: in/}
  write: {connection: lake, format: delta, path: out/people, mode: upsert, keys: [id]}
- name: export
  depends_on: [people]
  read: {connection: lake, format: delta, path: out/people}
  write: {connection: lake, format: parquet, path: out/export, mode: overwrite}
"""
    project_file(tmp_path, s3_lake.connection("sp"), nodes, catalog=True, engine="spark")
    result = Project.load(tmp_path / "lakestory.yaml").run()
    assert result.ok, [n.error for n in result.nodes]
    s3_lake.put_text("sp/in/a.csv", "id,name\n2,Bo\n3,Cy\n")
    assert Project.load(tmp_path / "lakestory.yaml").run().ok
    assert s3_lake.rows("sp/out/people", "id") == [
        {"id": 1, "name": "Ann"},
        {"id": 2, "name": "Bo"},
        {"id": 3, "name": "Cy"},
    ]
    parts = [k for k in s3_lake.keys("sp/out/export") if k.endswith(".parquet")]
    assert len(parts) >= 1 and not [k for k in s3_lake.keys("sp") if "_SUCCESS" in k]


@pytest.mark.parametrize("kind", ["postgres", "sql"])
def test_the_storage_api_on_a_database(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lakestory

    if kind == "postgres":
        db = request.getfixturevalue("postgres_db")
        monkeypatch.setenv("TEST_PG_PASSWORD", db.password)
        conn: dict[str, Any] = {
            "type": "postgres",
            "host": db.host,
            "port": db.port,
            "database": db.database,
            "username": db.user,
            "password": "${TEST_PG_PASSWORD}",
        }
    else:
        conn = {"type": "sql", "url": f"sqlite:///{tmp_path / 'shop.db'}"}
    (tmp_path / "lakestory.yaml").write_text(
        f"project: api\nconnections:\n  db: {json.dumps(conn)}\n"
        "pipelines:\n  - pipeline: p\n    nodes:\n      - name: n\n"
        "        transform: {steps: [{sql: 'SELECT 1 AS x'}]}\n"
    )
    db_store = lakestory.storage("db", tmp_path / "lakestory.yaml")
    people = pa.table({"id": [1, 2], "name": ["Ann", "Bob"]})
    db_store.write("people", people, mode="upsert", keys=["id"])
    db_store.write("people", pa.table({"id": [2, 3], "name": ["Bo", "Cy"]}), "upsert", ["id"])
    rows = db_store.read("people").sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "name": "Ann"},
        {"id": 2, "name": "Bo"},
        {"id": 3, "name": "Cy"},
    ]
    counted = db_store.read(query="SELECT COUNT(*) AS n FROM people")
    assert counted.column(0).to_pylist() == [3]
    listed = db_store.list()
    assert [n.rsplit(".", 1)[-1] for n in listed] == ["people"]
    assert db_store.exists("people") and not db_store.exists("nobody")
    db_store.delete("people")
    assert not db_store.exists("people")


def test_story_retention_in_a_store(s3_lake: Lake, tmp_path: Path) -> None:
    s3_lake.put_text("ret/in/people.csv", "id\n1\n")
    project = one_node(tmp_path, s3_lake.connection("ret"))
    text = project.read_text().replace(
        "story: {enabled: false}", "story: {connection: lake, path: _stories, retention_count: 1}"
    )
    project.write_text(text)
    runs = [Project.load(project).run() for _ in range(3)]
    assert all(r.ok for r in runs)
    kept = [k for k in s3_lake.keys("ret/_stories") if not k.endswith("/")]
    assert len(kept) == 2  # the newest run's JSON and HTML
    assert all(runs[-1].run_id in k for k in kept)
