"""PostgreSQL connections end to end, against a real server the tests start
(``postgres_db``: a fresh database per test): reads of tables and queries, incremental
reads filtered in the database, overwrite / append / upsert / append_once in one
transaction, failures that leave the table as it was, and the messages for a wrong password
and a server that does not answer."""

from __future__ import annotations

import inspect
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lakestory.io.specs import Location
from lakestory.runtime import graph
from lakestory.writes import WriteContext
from support.servers import PostgresEndpoint

# The graph resolves database locations with `lakestory.io.databases.location()` (which
# registers the connection's settings for the engine), and the write strategies send keyed
# writes on database tables to the engine's write: until that wiring is in (see the report
# of the databases change), these cannot pass.
WIRED = hasattr(WriteContext, "database") and "databases.location" in inspect.getsource(graph)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xfail(
        not WIRED, reason="graph and write-strategy wiring for databases", run=False, strict=True
    ),
]

PASSWORD_VAR = "LAKESTORY_TEST_PG_PASSWORD"


# -- helpers ---------------------------------------------------------------------------------


def sql(pg: PostgresEndpoint, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the test's database (psycopg, independent of lakestory)."""
    import psycopg

    with psycopg.connect(pg.uri, autocommit=True) as conn:
        cur = conn.execute(statement, params or None)
        return list(cur.fetchall()) if cur.description else []


def connection_yaml(pg: PostgresEndpoint, **extra: Any) -> str:
    fields = {
        "type": "postgres",
        "host": pg.host,
        "port": pg.port,
        "username": pg.user,
        "password": "${" + PASSWORD_VAR + "}",
        "database": pg.database,
        **extra,
    }
    return json.dumps(fields)


def project(root: Path, pg: PostgresEndpoint, nodes: str, *, top: str = "", **db: Any) -> Path:
    """A project whose ``db`` connection is the test's database (the password comes from
    the environment, as it would in production) and ``lake`` a local folder."""
    root.mkdir(parents=True, exist_ok=True)
    text = (
        "project: pg\n"
        f"{top}"
        "connections:\n"
        f"  db: {connection_yaml(pg, **db)}\n"
        "  lake: {type: local, base_path: lake}\n"
        "  files: {type: local, base_path: files}\n"
        "pipelines:\n"
        "  - pipeline: p\n"
        "    nodes:\n" + nodes
    )
    path = root / "lakestory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def run(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, postgres_db: PostgresEndpoint
) -> Callable[..., tuple[int, dict[str, Any], str]]:
    """``lakestory run FILE --format json``: the exit code, the JSON report and all output."""
    monkeypatch.setenv(PASSWORD_VAR, postgres_db.password)

    def go(path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
        out = cli("run", path, "--format", "json", *args)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            report = {}
        return out.exit_code, report, out.stdout + out.stderr

    return go


def record(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(n for n in report["nodes"] if n["key"] == key)


def write_csv(root: Path, name: str, text: str) -> None:
    (root / "files").mkdir(parents=True, exist_ok=True)
    (root / "files" / name).write_text(text, encoding="utf-8")


def table_rows(pg: PostgresEndpoint, table: str, order: str = "1") -> list[tuple[Any, ...]]:
    return sql(pg, f"SELECT * FROM {table} ORDER BY {order}")


# -- reads -----------------------------------------------------------------------------------


def test_read_a_table_and_a_query(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any, read_delta: Any
) -> None:
    sql(postgres_db, "CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2), note text)")
    sql(postgres_db, "INSERT INTO orders VALUES (1, 9.99, 'a'), (2, 20.00, NULL), (3, 0.5, 'c')")
    path = project(
        tmp_path,
        postgres_db,
        "      - name: whole\n"
        "        read: {connection: db, table: public.orders}\n"
        "        write: {connection: lake, path: whole}\n"
        "      - name: big\n"
        "        read:\n"
        "          connection: db\n"
        "          query: SELECT id, amount * 2 AS doubled FROM orders WHERE amount > 1\n"
        "        write: {connection: lake, path: big}\n",
    )
    code, report, output = run(path)
    assert code == 0, output
    whole = sorted(read_delta(tmp_path / "lake" / "whole"), key=lambda r: r["id"])
    assert whole == [
        {"id": 1, "amount": Decimal("9.99"), "note": "a"},
        {"id": 2, "amount": Decimal("20.00"), "note": None},
        {"id": 3, "amount": Decimal("0.50"), "note": "c"},
    ]
    big = sorted(read_delta(tmp_path / "lake" / "big"), key=lambda r: r["id"])
    assert [(r["id"], r["doubled"]) for r in big] == [(1, Decimal("19.98")), (2, Decimal("40"))]
    assert record(report, "p.big")["rows_read"] == 2


@pytest.mark.parametrize(
    ("kind", "cast"), [("timestamp", "TIMESTAMP"), ("timestamptz", "TIMESTAMPTZ")]
)
def test_incremental_read_filters_in_the_database(
    tmp_path: Path,
    postgres_db: PostgresEndpoint,
    run: Any,
    read_delta: Any,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    cast: str,
) -> None:
    from lakestory.io import databases

    sent: list[str] = []
    original = databases.select_sql

    def spy(*args: Any) -> str:
        sent.append(original(*args))
        return sent[-1]

    monkeypatch.setattr(databases, "select_sql", spy)
    sql(postgres_db, "ALTER DATABASE " + postgres_db.database + " SET TimeZone = 'Asia/Tokyo'")
    sql(postgres_db, f"CREATE TABLE events (id int, updated_at {kind}, what text)")
    sql(
        postgres_db,
        "INSERT INTO events VALUES (1, '2026-01-01 10:00+00', 'a'), "
        "(2, '2026-01-02 10:00+00', 'b')",
    )
    path = project(
        tmp_path,
        postgres_db,
        "      - name: events\n"
        "        read:\n"
        "          connection: db\n"
        "          table: events\n"
        "          incremental: {column: updated_at}\n"
        "        write: {connection: lake, path: events, mode: append}\n",
    )
    code, report, output = run(path)
    assert code == 0, output
    assert record(report, "p.events")["rows_read"] == 2
    assert "WHERE" not in sent[-1]  # the first run reads everything

    sql(
        postgres_db,
        "INSERT INTO events VALUES (3, '2026-01-03 10:00+00', 'c'), "
        "(4, '2026-01-01 09:00+00', 'old')",
    )
    code, report, output = run(path)
    assert code == 0, output
    assert record(report, "p.events")["rows_read"] == 1  # only the row past the mark
    assert sent[-1].endswith(f"""WHERE "updated_at" > CAST('2026-01-02 10:00:00' AS {cast})"""), (
        sent[-1]
    )
    rows = read_delta(tmp_path / "lake" / "events")
    assert sorted(r["id"] for r in rows) == [1, 2, 3]

    code, report, output = run(path)  # nothing new: nothing read, nothing written
    assert code == 0, output
    assert record(report, "p.events")["rows_read"] == 0
    assert sorted(r["id"] for r in read_delta(tmp_path / "lake" / "events")) == [1, 2, 3]


# -- writes ----------------------------------------------------------------------------------

CUSTOMERS = "id,name,score\n1,ann,1.5\n2,bob,2.5\n3,cy,3.5\n"
CHANGED = "id,name,score\n3,cy,9.5\n4,dee,4.5\n"


def _writer(tmp_path: Path, pg: PostgresEndpoint, mode: str, csv: str, table: str) -> Path:
    write_csv(tmp_path, "customers.csv", csv)
    keys = ", keys: [id]" if mode in ("upsert", "append_once") else ""
    return project(
        tmp_path,
        pg,
        "      - name: load\n"
        "        read: {connection: files, path: customers.csv}\n"
        f"        write: {{connection: db, table: {table}, mode: {mode}{keys}}}\n",
    )


def test_overwrite_creates_then_replaces_the_rows(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any
) -> None:
    path = _writer(tmp_path, postgres_db, "overwrite", CUSTOMERS, "public.customers")
    code, report, output = run(path)
    assert code == 0, output
    assert record(report, "p.load")["rows_written"] == 3
    assert table_rows(postgres_db, "customers") == [
        (1, "ann", 1.5),
        (2, "bob", 2.5),
        (3, "cy", 3.5),
    ]
    sql(postgres_db, "GRANT SELECT ON customers TO PUBLIC")  # kept by an overwrite
    write_csv(tmp_path, "customers.csv", CHANGED)
    code, _, output = run(path)
    assert code == 0, output
    assert table_rows(postgres_db, "customers") == [(3, "cy", 9.5), (4, "dee", 4.5)]
    grants = sql(
        postgres_db,
        "SELECT count(*) FROM information_schema.role_table_grants "
        "WHERE table_name = 'customers' AND grantee = 'PUBLIC'",
    )
    assert grants == [(1,)]


def test_append_adds_rows(tmp_path: Path, postgres_db: PostgresEndpoint, run: Any) -> None:
    path = _writer(tmp_path, postgres_db, "append", CUSTOMERS, "customers")
    assert run(path)[0] == 0
    assert run(path)[0] == 0
    assert sql(postgres_db, "SELECT count(*), count(DISTINCT id) FROM customers") == [(6, 3)]


def test_upsert_run_twice_leaves_no_duplicates(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any
) -> None:
    path = _writer(tmp_path, postgres_db, "upsert", CUSTOMERS, "customers")
    code, report, output = run(path)
    assert code == 0, output
    assert record(report, "p.load")["rows_written"] == 3
    code, report, output = run(path)  # the same data again: nothing changes
    assert code == 0, output
    assert record(report, "p.load")["rows_written"] == 0
    write_csv(tmp_path, "customers.csv", CHANGED)
    for _ in range(2):  # new data, twice: one update, one insert, then nothing
        code, report, output = run(path)
        assert code == 0, output
    assert table_rows(postgres_db, "customers") == [
        (1, "ann", 1.5),
        (2, "bob", 2.5),
        (3, "cy", 9.5),
        (4, "dee", 4.5),
    ]
    keys = sql(
        postgres_db,
        "SELECT count(*) FROM information_schema.table_constraints "
        "WHERE table_name = 'customers' AND constraint_type = 'PRIMARY KEY'",
    )
    assert keys == [(1,)]  # the table lakestory created has the keys as its primary key


def test_upsert_into_an_existing_table_without_a_key_says_what_to_add(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any
) -> None:
    sql(postgres_db, "CREATE TABLE customers (id bigint, name text, score float8)")
    path = _writer(tmp_path, postgres_db, "upsert", CUSTOMERS, "customers")
    code, _, output = run(path)
    assert code != 0
    assert "CREATE UNIQUE INDEX ON customers (id)" in output
    assert table_rows(postgres_db, "customers") == []


def test_append_once_skips_rows_already_there(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any
) -> None:
    path = _writer(tmp_path, postgres_db, "append_once", CUSTOMERS, "customers")
    assert run(path)[0] == 0
    write_csv(tmp_path, "customers.csv", CHANGED)
    code, report, output = run(path)
    assert code == 0, output
    assert record(report, "p.load")["rows_written"] == 1
    assert table_rows(postgres_db, "customers") == [
        (1, "ann", 1.5),
        (2, "bob", 2.5),
        (3, "cy", 3.5),  # kept as it was
        (4, "dee", 4.5),
    ]


@pytest.mark.parametrize(
    ("table", "bad"),
    [
        # a constraint the last row breaks (the types are the data's: COPY straight in)
        (
            "CREATE TABLE customers (id bigint PRIMARY KEY, name text, "
            "score float8 CHECK (score < 4))",
            "id,name,score\n7,eve,1.0\n8,fay,5.0\n",
        ),
        # a value the table's column type cannot hold (through the staging table)
        (
            "CREATE TABLE customers (id int PRIMARY KEY, name text, score float8)",
            "id,name,score\n7,eve,1.0\n8,fay,lots\n",
        ),
    ],
    ids=["constraint", "type"],
)
@pytest.mark.parametrize("mode", ["overwrite", "append", "upsert"])
def test_a_failed_write_leaves_the_table_as_it_was(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any, table: str, bad: str, mode: str
) -> None:
    sql(postgres_db, table)
    sql(postgres_db, "INSERT INTO customers VALUES (1, 'ann', 1.5), (2, 'bob', 2.5)")
    path = _writer(tmp_path, postgres_db, mode, bad, "customers")
    code, _, output = run(path)
    assert code != 0
    assert "nothing was written" in output
    assert table_rows(postgres_db, "customers") == [(1, "ann", 1.5), (2, "bob", 2.5)]
    assert sql(postgres_db, "SELECT count(*) FROM pg_class WHERE relname = '_lakestory_stage'") == [
        (0,)
    ]


def test_database_tables_reject_delta_only_modes_before_anything_runs(
    tmp_path: Path, postgres_db: PostgresEndpoint, cli: Callable[..., Any], run: Any
) -> None:
    write_csv(tmp_path, "customers.csv", CUSTOMERS)
    path = project(
        tmp_path,
        postgres_db,
        "      - name: load\n"
        "        read: {connection: files, path: customers.csv}\n"
        "        write: {connection: db, table: customers, mode: scd2, keys: [id]}\n",
    )
    out = cli("plan", path)
    assert out.exit_code == 2
    text = out.stdout + out.stderr
    assert f"{path}:" in text and ":11" in text  # the file and the line of the `write:`
    assert "node p.load" in text or "p.load" in text
    assert "write mode 'scd2' cannot write to a postgres table (connection 'db')" in text
    assert "overwrite" in text and "upsert" in text  # what it can do instead
    code, _, output = run(path)  # nothing runs: no table is created
    assert code == 2, output
    assert sql(postgres_db, "SELECT count(*) FROM pg_class WHERE relname = 'customers'") == [(0,)]


# -- connection failures ----------------------------------------------------------------------


def test_a_wrong_password_names_the_connection_and_never_the_password(
    tmp_path: Path,
    postgres_db: PostgresEndpoint,
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "Wr0ng-pa55word-x9"
    monkeypatch.setenv(PASSWORD_VAR, wrong)
    sql(postgres_db, "CREATE TABLE orders (id int)")
    path = project(
        tmp_path,
        postgres_db,
        "      - name: whole\n"
        "        read: {connection: db, table: orders}\n"
        "        write: {connection: lake, path: whole}\n",
        top="retry: {enabled: false}\n",
    )
    out = cli("run", path)
    text = out.stdout + out.stderr
    assert out.exit_code != 0
    assert (
        f"connection 'db' (postgres: {postgres_db.user}@{postgres_db.host}:{postgres_db.port}/"
        f"{postgres_db.database}): authentication failed for user '{postgres_db.user}'"
    ) in text
    stories = list((tmp_path / ".lakestory").rglob("*.*"))
    for f in [*stories, *tmp_path.rglob("*.json")]:
        if f.is_file():
            assert wrong not in f.read_text(encoding="utf-8", errors="replace"), f
    assert wrong not in text


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a firewall that drops
    packets, or a hung server, looks like this to a client)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for s in held:
        s.close()
    server.close()


@pytest.mark.parametrize("where", ["silent", "closed"])
def test_an_unreachable_server_fails_fast_with_host_and_port(
    tmp_path: Path,
    postgres_db: PostgresEndpoint,
    run: Any,
    silent_port: int,
    where: str,
) -> None:
    if where == "closed":
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()  # nothing listens there now
    else:
        port = silent_port
    path = project(
        tmp_path,
        postgres_db,
        "      - name: whole\n"
        "        read: {connection: db, table: orders}\n"
        "        write: {connection: lake, path: whole}\n",
        top="retry: {enabled: false}\n",
        port=port,
        connect_timeout=2,
    )
    started = time.monotonic()
    code, _, output = run(path)
    took = time.monotonic() - started
    assert code != 0
    assert "connection 'db' (postgres: " in output
    assert f"cannot reach 127.0.0.1:{port}" in output
    expected = "no answer within 2 s" if where == "silent" else "the connection was refused"
    assert expected in output
    assert took < 15, took  # 2 s to connect, plus starting the run


# -- the bundled example, bronze read from PostgreSQL ---------------------------------------


def _load_into_postgres(pg: PostgresEndpoint, table: str, delta_path: Path) -> None:
    """Copy a Delta table into PostgreSQL (through lakestory's own database writer)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    from lakestory.config.models.connections import PostgresConnection
    from lakestory.io import databases
    from lakestory.io.specs import Target

    conn = PostgresConnection.model_validate(
        {
            "type": "postgres",
            "host": pg.host,
            "port": pg.port,
            "username": pg.user,
            "password": pg.password,
            "database": pg.database,
        }
    )
    data = DeltaTable(str(delta_path)).to_pyarrow_table()
    location = Location("db", "postgres", table, table)
    reader = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
    databases.write(reader, Target(location, "table", "overwrite"), conn)


def test_the_example_with_bronze_read_from_postgres(
    tmp_path: Path,
    postgres_db: PostgresEndpoint,
    run: Any,
    cli: Callable[..., Any],
    read_delta: Any,
    read_parquet: Any,
) -> None:
    """The example run as shipped, then again with its bronze nodes reading PostgreSQL
    tables holding the same rows (one a table, one a query): every silver and gold table
    comes out the same."""
    plain, from_pg = tmp_path / "plain", tmp_path / "pg"
    assert cli("init", plain).exit_code == 0
    code, _, output = run(plain / "lakestory.yaml")
    assert code == 0, output
    # the bronze tables as the CSV reads made them, loaded into PostgreSQL
    _load_into_postgres(postgres_db, "public.customers", plain / "data/lake/bronze/customers")
    _load_into_postgres(postgres_db, "orders", plain / "data/lake/bronze/orders")

    assert cli("init", from_pg).exit_code == 0
    shutil.rmtree(from_pg / "data" / "raw")
    config = from_pg / "lakestory.yaml"
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        "connections:\n", f"connections:\n  db: {connection_yaml(postgres_db)}\n", 1
    )
    text = text.replace(
        "read: {connection: raw, format: csv, path: customers.csv}",
        "read: {connection: db, table: public.customers}",
    )
    text = text.replace(
        "read: {connection: raw, format: csv, path: orders/}",
        'read: {connection: db, query: "SELECT * FROM orders"}',
    )
    assert text.count("connection: db") == 2
    config.write_text(text, encoding="utf-8")
    code, report, output = run(config)
    assert code == 0, output
    assert report["status"] == "success"
    assert (
        record(report, "bronze.raw_orders")["rows_read"]
        == sql(postgres_db, "SELECT count(*) FROM orders")[0][0]
    )

    def rows(path: Path, key: str) -> list[dict[str, Any]]:
        found = read_delta(path) if (path / "_delta_log").exists() else read_parquet(path)
        for r in found:
            r.pop("processed_at", None)  # the time of each run
        return sorted(found, key=lambda r: tuple(str(r[k]) for k in key.split(",")))

    for table, key in [
        ("silver/customers", "customer_id"),
        ("silver/orders", "order_id"),
        ("gold/customer_metrics", "customer_id"),
        ("gold/monthly_revenue", "order_year,order_month"),
    ]:
        got = rows(from_pg / "data/lake" / table, key)
        want = rows(plain / "data/lake" / table, key)
        assert len(got) > 0 and got == want, table


def test_spark_reads_a_query_and_upserts_into_postgres(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any, spark_session: Any
) -> None:
    sql(postgres_db, "CREATE TABLE src (id int, amount numeric(8,2), at timestamptz)")
    sql(
        postgres_db,
        "INSERT INTO src VALUES (1, 1.25, '2026-01-01 10:00+00'), (2, 2.50, NULL), "
        "(3, 3.75, '2026-01-03 10:00+00')",
    )
    path = project(
        tmp_path,
        postgres_db,
        "      - name: copy\n"
        "        read: {connection: db, query: SELECT * FROM src WHERE id > 1}\n"
        "        transform:\n"
        "          - sql: SELECT id, amount * 2 AS amount, at FROM df\n"
        "        write: {connection: db, table: dst, mode: upsert, keys: [id]}\n",
        top="engine: spark\n",
    )
    for _ in range(2):
        code, report, output = run(path)
        assert code == 0, output
    assert record(report, "p.copy")["rows_read"] == 2
    assert record(report, "p.copy")["rows_written"] == 0  # the second run changed nothing
    rows = table_rows(postgres_db, "dst")
    assert [(r[0], r[1]) for r in rows] == [(2, Decimal("5.00")), (3, Decimal("7.50"))]
    assert rows[0][2] is None and rows[1][2].year == 2026


def test_a_sql_connection_reads_and_upserts_through_sqlalchemy(
    tmp_path: Path, postgres_db: PostgresEndpoint, run: Any, read_delta: Any
) -> None:
    """`type: sql` (any SQLAlchemy URL), here to the same server through psycopg."""
    url = (
        f"postgresql+psycopg://{postgres_db.user}:${{{PASSWORD_VAR}}}@{postgres_db.host}:"
        f"{postgres_db.port}/{postgres_db.database}"
    )
    root = tmp_path / "p"
    root.mkdir()
    (root / "files").mkdir()
    (root / "files" / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    path = root / "lakestory.yaml"
    path.write_text(
        "project: sql\n"
        "connections:\n"
        f"  wh: {{type: sql, url: '{url}'}}\n"
        "  files: {type: local, base_path: files}\n"
        "  lake: {type: local, base_path: lake}\n"
        "pipelines:\n"
        "  - pipeline: p\n"
        "    nodes:\n"
        "      - name: load\n"
        "        read: {connection: files, path: customers.csv}\n"
        "        write: {connection: wh, table: customers, mode: upsert, keys: [id]}\n"
        "      - name: back\n"
        "        depends_on: [load]\n"
        "        read: {connection: wh, query: 'SELECT id, name FROM customers WHERE score > 2'}\n"
        "        write: {connection: lake, path: back}\n",
        encoding="utf-8",
    )
    for _ in range(2):
        code, report, output = run(path)
        assert code == 0, output
    assert record(report, "p.load")["rows_written"] == 0  # the second run inserted nothing
    assert table_rows(postgres_db, "customers") == [
        (1, "ann", 1.5),
        (2, "bob", 2.5),
        (3, "cy", 3.5),
    ]
    back = sorted(read_delta(root / "lake" / "back"), key=lambda r: r["id"])
    assert back == [{"id": 2, "name": "bob"}, {"id": 3, "name": "cy"}]
