"""``lakestory history`` and ``lakestory state``, on catalogs seeded through the API and on
catalogs written by real runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakestory.catalog import Catalog, NodeState
from lakestory.observe.catalog import CatalogObserver
from lakestory.runtime.events import RunFinished, RunStarted
from lakestory.runtime.records import NodeRecord, RunResult

SHOP = """
project: shop
connections:
  land: {type: local, base_path: land}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: silver
    nodes:
      - name: orders
        read: {connection: land, path: '*.csv', incremental: {column: seq}}
        write: {connection: lake, format: delta, path: silver/orders, mode: append}
      - name: files
        read: {connection: land, path: ., format: csv, incremental: {mode: files}}
        write: {connection: lake, format: delta, path: silver/files, mode: append}
      - name: customers
        read: {connection: land, path: a.csv}
        write: {connection: lake, format: delta, path: silver/customers, mode: overwrite}
  - pipeline: gold
    nodes:
      - name: orders
        read: {connection: lake, format: delta, path: silver/orders}
        write: {connection: lake, format: delta, path: gold/orders, mode: overwrite}
"""
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
Cli = Callable[..., Any]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def shop(project: Callable[..., Path]) -> Path:
    root = project(SHOP, {"land/a.csv": "id,seq\n1,1\n2,2\n"})
    return root / "lakestory.yaml"


@pytest.fixture
def catalog(shop: Path) -> Catalog:
    return Catalog(str(shop.parent / ".lakestory" / "system"), "shop")


def record(catalog: Catalog, run_id: str, start: float, *nodes: dict[str, Any]) -> None:
    """A whole run, as the observer writes it."""
    failed = sum(n["status"] == "failed" for n in nodes)
    run = {"run_id": run_id, "status": "running", "pipelines": ["silver"], "started_at": at(start)}
    catalog.run_started(run)
    end = {
        **run,
        "status": "failed" if failed else "success",
        "ended_at": at(start + 1.5),
        "duration_s": 1.5,
        "nodes_total": len(nodes),
        "nodes_succeeded": len(nodes) - failed,
        "nodes_failed": failed,
        "nodes_skipped": 0,
    }
    rows = [{"run_id": run_id, "pipeline": n["key"].split(".")[0], **n} for n in nodes]
    catalog.run_finished(end, rows, [], [], [])


def ok(key: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "node": key.split(".")[1], "status": "success", **fields}


def seed_runs(catalog: Catalog) -> None:
    record(
        catalog, "aaaa1111", 0, ok("silver.orders", rows_read=2, rows_written=2, table_version=0)
    )
    error = {"message": "column 'seq' not found\nsecond line", "kind": "sql_error"}
    record(catalog, "bbbb2222", 60, {**ok("silver.orders"), "status": "failed", "error": error})
    record(catalog, "cccc3333", 120, ok("silver.customers", rows_written=2, table_version=0))


def seed_states(catalog: Catalog) -> None:
    mark = {"kind": "column", "column": "seq", "value": 42, "type": "int"}
    states = [
        NodeState("silver.orders", "column", mark, "/lake/orders", 3, "cccc3333", at(120)),
        NodeState(
            "silver.files", "files", {"kind": "files"}, "/lake/files", 1, "cccc3333", at(120)
        ),
    ]
    files = [
        {"key": "silver.files", "file": f, "size": 1, "run_id": "cccc3333"} for f in ("a", "b")
    ]
    catalog.run_finished({"run_id": "cccc3333", "status": "success"}, [], states, files, [])


# ------------------------------------------------------------------------------- history


def test_history_of_an_empty_catalog(cli: Cli, shop: Path) -> None:
    result = cli("history", shop)
    assert result.exit_code == 0, result.stderr
    assert "no runs recorded yet" in result.stdout


def test_history_lists_runs_newest_first(cli: Cli, shop: Path, catalog: Catalog) -> None:
    seed_runs(catalog)
    result = cli("history", shop)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "333" in line or "222" in line]
    assert "cccc3333" in lines[0] and "success" in lines[0]
    assert "bbbb2222" in lines[1] and "failed" in lines[1]
    assert "1.50s" in result.stdout and "silver" in result.stdout

    data = json.loads(cli("history", shop, "--format", "json").stdout)
    assert [r["run_id"] for r in data["runs"]] == ["cccc3333", "bbbb2222", "aaaa1111"]
    assert data["runs"][0]["started_at"] == at(120).isoformat()


@pytest.mark.parametrize(
    ("options", "runs"),
    [
        (["--status", "failed"], ["bbbb2222"]),
        (["--limit", "2"], ["cccc3333", "bbbb2222"]),
        (["--pipeline", "gold"], []),
    ],
)
def test_history_filters(
    cli: Cli, shop: Path, catalog: Catalog, options: list[str], runs: list[str]
) -> None:
    seed_runs(catalog)
    data = json.loads(cli("history", shop, "-f", "json", *options).stdout)
    assert [r["run_id"] for r in data["runs"]] == runs


def test_history_of_a_node(cli: Cli, shop: Path, catalog: Catalog) -> None:
    seed_runs(catalog)
    result = cli("history", shop, "--node", "silver.orders")
    assert result.exit_code == 0, result.stderr
    assert "bbbb2222" in result.stdout and "aaaa1111" in result.stdout
    assert "cccc3333" not in result.stdout
    assert "column 'seq' not found" in result.stdout and "second line" not in result.stdout
    assert "2 → 2" in result.stdout

    data = json.loads(cli("history", shop, "-n", "customers", "-f", "json").stdout)
    assert data["node"] == "silver.customers"
    assert [r["run_id"] for r in data["runs"]] == ["cccc3333"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("orders", "node 'orders' is in several pipelines: gold.orders, silver.orders"),
        ("ordrs", "unknown node 'ordrs'\n  hint: did you mean 'orders'?"),
    ],
)
def test_history_of_an_unclear_node(cli: Cli, shop: Path, name: str, message: str) -> None:
    result = cli("history", shop, "--node", name)
    assert result.exit_code == 2
    assert message in result.stderr


def test_history_of_one_run(cli: Cli, shop: Path, catalog: Catalog) -> None:
    seed_runs(catalog)
    result = cli("history", shop, "--run", "bbbb")  # a unique prefix is enough
    assert result.exit_code == 0, result.stderr
    assert "run bbbb2222 failed" in result.stdout
    assert "silver.orders" in result.stdout and "column 'seq' not found" in result.stdout

    data = json.loads(cli("history", shop, "--run", "bbbb2222", "-f", "json").stdout)
    assert data["run"]["status"] == "failed"
    assert [n["error"]["kind"] for n in data["nodes"]] == ["sql_error"]

    missing = cli("history", shop, "--run", "zzzz")
    assert missing.exit_code == 2 and "no run 'zzzz' in the catalog" in missing.stderr


def test_history_of_a_run_that_never_finished(cli: Cli, shop: Path, catalog: Catalog) -> None:
    catalog.run_started({"run_id": "dddd4444", "started_at": at(0), "pid": 2**22 + 1})
    result = cli("history", shop, "--run", "dddd4444")
    assert result.exit_code == 0, result.stderr
    assert "crashed" in result.stdout and "the run did not finish" in result.stdout


def test_an_unknown_status_is_a_usage_error(cli: Cli, shop: Path) -> None:
    result = cli("history", shop, "--status", "sucess")
    assert result.exit_code == 2
    assert "--status must be one of success, failed, aborted, incomplete, crashed" in result.stderr
    assert "did you mean 'success'?" in result.stderr


def test_a_disabled_catalog_has_no_history(
    cli: Cli, project: Callable[..., Path], tmp_path: Path
) -> None:
    root = project(SHOP + "system: {enabled: false}\n", root="off")
    for args in (["history"], ["state", "show"], ["state", "reset", "silver.orders"]):
        result = cli(*args, root / "lakestory.yaml")
        assert result.exit_code == 2
        assert "the system catalog is disabled (system.enabled: false)" in result.stderr


# -------------------------------------------------------------------------------- checks


def checked_run(catalog: Catalog, run_id: str, *nodes: NodeRecord) -> None:
    """A run whose nodes carry check results, recorded through the catalog observer."""
    observer = CatalogObserver(catalog)
    res = RunResult(run_id, "shop", None, T0, pipelines=["silver"])
    observer(RunStarted(res, tuple(n.key for n in nodes)))
    res.nodes, res.ended_at = list(nodes), T0 + timedelta(seconds=2)
    res.status = "failed" if any(n.status == "failed" for n in nodes) else "success"
    observer(RunFinished(res))


def checked(key: str, status: str = "success", **fields: Any) -> NodeRecord:
    pipeline, _, name = key.partition(".")
    return NodeRecord(key, pipeline, name, status, started_at=T0, ended_at=T0, **fields)


def result(name: str, status: str, rows: int, failing: int | None, **fields: Any) -> dict:
    rate = None if failing is None else (rows - failing) / rows
    return {
        "name": name,
        "type": "not_null",
        "phase": "validation",
        "on_fail": "warn",
        "status": status,
        "rows": rows,
        "failing": failing,
        "pass_rate": rate,
        "threshold": None,
        "observed": None,
        "message": None,
        "samples": [{"id": 1, "seq": None}],
        **fields,
    }


def seed_checks(catalog: Catalog) -> None:
    checked_run(
        catalog,
        "aaaa1111",
        checked("silver.orders", checks=[result("seq_present", "passed", 2, 0)]),
    )
    gate = {"status": "blocked", "pass_rate": 0.5, "required": 0.9, "action": "abort"}
    checked_run(
        catalog,
        "bbbb2222",
        checked(
            "silver.orders",
            "failed",
            rows_checked=4,
            gate=gate,
            checks=[
                result("seq_present", "warned", 4, 2, message="2 rows where seq is null\n..."),
                result("volume", "passed", 4, None, type="volume_drop", observed=4),
            ],
        ),
        checked("silver.customers", checks=[result("id_present", "passed", 2, 0)]),
    )


def test_history_of_checks(cli: Cli, shop: Path, catalog: Catalog) -> None:
    empty = cli("history", shop, "--checks")
    assert empty.exit_code == 0, empty.stderr
    assert "no check results recorded yet" in empty.stdout
    seed_checks(catalog)

    result = cli("history", shop, "--checks", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["checks"]
    assert [(r["run_id"], r["key"], r["phase"], r["test"], r["status"]) for r in rows] == [
        ("bbbb2222", "silver.orders", "validation", "seq_present", "warned"),
        ("bbbb2222", "silver.orders", "validation", "volume", "passed"),
        ("bbbb2222", "silver.orders", "gate", "gate", "blocked"),
        ("bbbb2222", "silver.customers", "validation", "id_present", "passed"),
        ("aaaa1111", "silver.orders", "validation", "seq_present", "passed"),
    ]
    warned, volume, gate = rows[:3]
    assert (warned["failing"], warned["rows"], warned["pass_rate"]) == (2, 4, 0.5)
    assert warned["node_status"] == "failed" and "samples" not in warned
    assert volume["observed"] == 4 and volume["failing"] is None
    assert gate["threshold"] == 0.9 and gate["observed"]["action"] == "abort"
    assert gate["message"] == "pass rate 50.00% < 90.00%"
    assert datetime.fromisoformat(warned["recorded_at"])

    def tests(*options: str) -> list[tuple[str, str]]:
        out = cli("history", shop, "--checks", "-f", "json", *options)
        assert out.exit_code == 0, out.stderr
        return [(r["run_id"][:4], r["test"]) for r in json.loads(out.stdout)["checks"]]

    assert tests("--run", "aaaa") == [("aaaa", "seq_present")]
    assert tests("--node", "customers") == [("bbbb", "id_present")]
    assert tests("--node", "orders", "--pipeline", "silver", "--status", "passed") == [
        ("bbbb", "volume"),
        ("aaaa", "seq_present"),
    ]
    assert tests("--status", "blocked", "--limit", "1") == [("bbbb", "gate")]
    assert tests("--pipeline", "gold") == []


def test_history_of_checks_as_text(cli: Cli, shop: Path, catalog: Catalog) -> None:
    seed_checks(catalog)
    result = cli("history", shop, "--checks", "--run", "bbbb2222")
    assert result.exit_code == 0, result.stderr
    warned = next(line for line in result.stdout.splitlines() if "seq_present" in line)
    assert "warned" in warned and "2 / 4" in warned and "50.00%" in warned
    assert "2 rows where seq is null" in result.stdout and "..." not in result.stdout
    assert "blocked" in result.stdout and "- / 4" in result.stdout
    assert "aaaa1111" not in result.stdout

    none = cli("history", shop, "--checks", "--status", "error")
    assert none.exit_code == 0 and "no check results match" in none.stdout
    wrong = cli("history", shop, "--checks", "--status", "success")
    assert wrong.exit_code == 2
    assert "--status must be one of passed, warned, dropped" in wrong.stderr
    missing = cli("history", shop, "--checks", "--run", "zzzz")
    assert missing.exit_code == 2 and "no run 'zzzz' in the catalog" in missing.stderr


# --------------------------------------------------------------------------------- state


def test_state_show(cli: Cli, shop: Path, catalog: Catalog) -> None:
    assert "no state recorded yet" in cli("state", "show", shop).stdout
    seed_states(catalog)
    result = cli("state", "show", shop)
    assert result.exit_code == 0, result.stderr
    orders = next(line for line in result.stdout.splitlines() if "silver.orders" in line)
    assert "column" in orders and "seq = 42" in orders and "cccc3333" in orders
    assert "2 files" in result.stdout

    data = json.loads(cli("state", "show", shop, "--node", "files", "-f", "json").stdout)
    (files,) = data["states"]
    assert (files["key"], files["kind"], files["files"], files["table_version"]) == (
        "silver.files",
        "files",
        2,
        1,
    )


def test_state_reset(cli: Cli, shop: Path, catalog: Catalog) -> None:
    seed_states(catalog)
    result = cli("state", "reset", "silver.orders", shop)
    assert result.exit_code == 0, result.stderr
    assert "reset the state of silver.orders (was: seq = 42)" in result.stdout
    assert "next run reads its whole source again" in result.stdout
    assert "the target table lake:silver/orders is NOT cleared" in result.stderr
    assert "lakestory run --full-refresh --node silver.orders" in result.stderr
    assert set(catalog.states()) == {"silver.files"}
    shown = cli("state", "show", shop, "--node", "silver.orders")
    assert "silver.orders has no state: its next run reads everything" in shown.stdout

    data = json.loads(cli("state", "reset", "files", shop, "-f", "json").stdout)
    assert data["key"] == "silver.files" and data["previous"]["files"] == 2
    assert catalog.states() == {} and catalog.ledger("silver.files") == set()


def test_state_reset_of_a_node_without_state(cli: Cli, shop: Path) -> None:
    result = cli("state", "reset", "customers", shop)
    assert result.exit_code == 2
    assert "silver.customers does not read incrementally" in result.stderr
    unknown = cli("state", "reset", "silver.ordres", shop)
    assert unknown.exit_code == 2 and "did you mean 'silver.orders'?" in unknown.stderr


# ------------------------------------------------------------------------- with real runs


def test_runs_leave_history_and_state(cli: Cli, shop: Path, read_delta: Callable[..., Any]) -> None:
    land, lake = shop.parent / "land", shop.parent / "lake"
    assert cli("run", shop, "--node", "silver.orders").exit_code == 0
    (land / "b.csv").write_text("id,seq\n3,3\n")
    assert cli("run", shop, "--node", "silver.orders").exit_code == 0

    data = json.loads(cli("history", shop, "-f", "json").stdout)
    assert [r["status"] for r in data["runs"]] == ["success", "success"]
    assert data["runs"][0]["nodes_succeeded"] == 1
    runs = json.loads(cli("history", shop, "--node", "orders", "-p", "silver", "-f", "json").stdout)
    assert [r["rows_written"] for r in runs["runs"]] == [1, 2]
    shown = cli("state", "show", shop)
    assert "seq = 3" in shown.stdout

    assert cli("state", "reset", "silver.orders", shop).exit_code == 0
    assert cli("run", shop, "--node", "silver.orders").exit_code == 0
    # as the reset warned: the append target now holds the first rows twice
    assert sorted(r["seq"] for r in read_delta(lake / "silver" / "orders")) == [1, 1, 2, 2, 3, 3]
    assert len(json.loads(cli("history", shop, "-f", "json").stdout)["runs"]) == 3


def test_a_full_refresh_starts_a_new_file_ledger(cli: Cli, shop: Path) -> None:
    land = shop.parent / "land"
    assert cli("run", shop, "--node", "silver.files").exit_code == 0
    (land / "a.csv").unlink()
    (land / "b.csv").write_text("id,seq\n3,3\n")
    assert cli("run", shop, "--node", "silver.files", "--full-refresh").exit_code == 0
    data = json.loads(cli("state", "show", shop, "--node", "silver.files", "-f", "json").stdout)
    assert data["states"][0]["files"] == 1  # b.csv; a.csv went with the refresh
    assert "1 file " in cli("state", "show", shop).stdout
