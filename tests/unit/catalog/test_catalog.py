"""The catalog's reads and writes: runs, node runs, state, the file ledger, schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.catalog import Catalog, store
from lakestory.catalog.views import schema_change
from lakestory.core.errors import TransientError

# ---------------------------------------------------------------------------------- runs


def test_a_catalog_that_was_never_written_reads_as_empty(catalog: Catalog) -> None:
    assert catalog.runs() == []
    assert catalog.node_runs() == []
    assert catalog.states() == {}
    assert catalog.ledger("silver.orders") == set()
    assert catalog.last_run(["silver"]) is None
    assert catalog.last_schemas() == {}
    assert not os.path.exists(catalog.uri)  # reading creates nothing


def test_a_finished_run_reads_back_with_its_end_row(catalog: Catalog, rec: Any) -> None:
    rec.start("r1", options={"nodes": ["silver.orders"], "full_refresh": []})
    (started,) = catalog.runs()
    assert started["status"] == "incomplete"  # this very process is still alive
    catalog.run_finished(
        {
            "run_id": "r1",
            "status": "failed",
            "pipelines": ["silver"],
            "started_at": rec.at(0),
            "ended_at": rec.at(3),
            "duration_s": 3.0,
            "nodes_total": 2,
            "nodes_succeeded": 1,
            "nodes_failed": 1,
            "nodes_skipped": 0,
        },
        [
            rec.node("r1", rows_read=5, rows_written=4, table_version=0, attempts=1),
            rec.node("r1", "silver.customers", "failed", error={"message": "boom\nline 2"}),
        ],
        [],
        [],
        [],
    )
    (run,) = catalog.runs()
    assert (run["run_id"], run["status"], run["event"]) == ("r1", "failed", "end")
    assert (run["nodes_succeeded"], run["nodes_failed"], run["duration_s"]) == (1, 1, 3.0)
    assert run["project"] == "proj"
    assert run["host"] and run["pid"] == os.getpid() and run["lakestory_version"]
    nodes = catalog.node_runs("r1")
    assert [(n["key"], n["status"]) for n in nodes] == [
        ("silver.orders", "success"),
        ("silver.customers", "failed"),
    ]
    assert nodes[0]["rows_written"] == 4 and nodes[0]["table_version"] == 0
    assert nodes[1]["error"] == {"message": "boom\nline 2"}


def test_runs_are_newest_first_and_filtered(catalog: Catalog, rec: Any) -> None:
    rec.run("r1", start=0)
    rec.run("r2", start=10, status="failed", pipelines=["gold"])
    rec.run("r3", start=20, nodes=[rec.node("r3", "silver.customers")])
    assert [r["run_id"] for r in catalog.runs()] == ["r3", "r2", "r1"]
    assert [r["run_id"] for r in catalog.runs(limit=2)] == ["r3", "r2"]
    assert [r["run_id"] for r in catalog.runs(pipeline="gold")] == ["r2"]
    assert [r["run_id"] for r in catalog.runs(status="success")] == ["r3", "r1"]
    assert [r["run_id"] for r in catalog.runs(node="orders")] == ["r2", "r1"]
    assert [r["run_id"] for r in catalog.runs(node="silver.customers")] == ["r3"]
    assert catalog.runs(node="nope") == []


def test_node_runs_are_newest_run_first(catalog: Catalog, rec: Any) -> None:
    rec.run("r1", start=0)
    rec.run("r2", start=10, status="failed")
    assert [n["run_id"] for n in catalog.node_runs(node="silver.orders")] == ["r2", "r1"]
    assert [n["run_id"] for n in catalog.node_runs(status="success")] == ["r1"]
    assert [n["run_id"] for n in catalog.node_runs(pipeline="gold")] == []
    assert len(catalog.node_runs(limit=1)) == 1


def test_a_run_whose_process_died_shows_as_crashed(catalog: Catalog, rec: Any) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    rec.start("dead", pid=gone.pid)
    rec.start("elsewhere", start=5, pid=gone.pid, host="another-host")
    status = {r["run_id"]: r["status"] for r in catalog.runs()}
    assert status == {"dead": "crashed", "elsewhere": "incomplete"}
    assert [r["run_id"] for r in catalog.runs(status="crashed")] == ["dead"]


def test_last_run_is_the_newest_touching_a_pipeline(catalog: Catalog, rec: Any) -> None:
    rec.run("r1", start=0)
    rec.run("r2", start=10, pipelines=["gold"], nodes=[rec.node("r2", "gold.metrics")])
    rec.start("r3", start=20)  # still running or crashed: no node rows yet
    last = catalog.last_run(["gold"])
    assert last is not None and last["run_id"] == "r2"
    assert [n["key"] for n in last["nodes"]] == ["gold.metrics"]
    newest = catalog.last_run(["silver", "gold"])
    assert newest is not None and newest["run_id"] == "r3" and newest["nodes"] == []
    assert newest["options"] == {"nodes": ["silver.orders"]}
    assert catalog.last_run(["bronze"]) is None


# --------------------------------------------------------------------------------- state


def test_the_latest_state_row_of_a_key_wins(catalog: Catalog, rec: Any) -> None:
    rec.finished([rec.state("silver.orders", 5, at=10)])
    rec.finished([rec.state("silver.orders", 3, at=5), rec.state("silver.customers", 1, at=5)])
    states = catalog.states()
    assert states["silver.orders"].value["value"] == 5  # written earlier, but newer
    assert states["silver.orders"].updated_at == rec.at(10)
    assert states["silver.orders"].table_uri == "/lake/silver.orders"
    assert states["silver.customers"].value["value"] == 1
    # rows of one commit with equal times: the one written last wins
    rec.finished([rec.state("silver.tie", 1, at=20), rec.state("silver.tie", 2, at=20)])
    assert catalog.states()["silver.tie"].value["value"] == 2


def test_a_reset_forgets_the_state_and_the_ledger(catalog: Catalog, rec: Any) -> None:
    rec.finished([rec.state("bronze.files", None, 1, "files")], rec.files("bronze.files", "a", "b"))
    rec.finished([rec.state("bronze.other", 7, at=1)])
    catalog.reset_state("bronze.files")
    assert set(catalog.states()) == {"bronze.other"}
    assert catalog.ledger("bronze.files") == set()
    assert set(catalog.resets()) == {"bronze.files"}
    # the next run ingests c (and a again): the ledger starts over from the reset
    rec.finished([rec.state("bronze.files", 0, 1e9, "files")], rec.files("bronze.files", "a", "c"))
    assert catalog.ledger("bronze.files") == {"a", "c"}
    assert catalog.states()["bronze.files"].kind == "files"


def test_the_ledger_collects_files_across_runs(catalog: Catalog, rec: Any) -> None:
    rec.finished(files=rec.files("bronze.files", "a.csv"))
    rec.finished(files=rec.files("bronze.files", "b.csv", "c.csv"))
    rec.finished(files=rec.files("bronze.other", "z.csv"))
    assert catalog.ledger("bronze.files") == {"a.csv", "b.csv", "c.csv"}
    assert catalog.ledgers() == {
        "bronze.files": {"a.csv", "b.csv", "c.csv"},
        "bronze.other": {"z.csv"},
    }


def test_projects_and_pipelines_never_share_rows(tmp_path: Path, rec: Any) -> None:
    uri = str(tmp_path / "shared")
    one, two = Catalog(uri, "one"), Catalog(uri, "two")
    rec.finished(
        [rec.state("bronze.orders", 1, at=1), rec.state("silver.orders", 2, at=1)], catalog=one
    )
    rec.finished(
        [rec.state("bronze.orders", 9, 1)], rec.files("bronze.orders", "x.csv"), catalog=two
    )
    type(rec)(two).run("r2")
    assert {k: s.value["value"] for k, s in one.states().items()} == {
        "bronze.orders": 1,
        "silver.orders": 2,
    }
    assert two.states()["bronze.orders"].value["value"] == 9
    assert one.ledger("bronze.orders") == set() and two.ledger("bronze.orders") == {"x.csv"}
    assert [r["project"] for r in one.runs()] == ["one"]
    assert [r["run_id"] for r in two.runs()] == ["r2", "r"]
    assert [r["project"] for r in two.node_runs()] == ["two"]
    one.reset_state("bronze.orders")
    assert "bronze.orders" in two.states()


# ------------------------------------------------------------------------------- schemas


def test_the_last_schema_of_each_table(catalog: Catalog, rec: Any) -> None:
    cols = [{"name": "id", "type": "bigint"}]
    wider = [*cols, {"name": "amount", "type": "double"}]
    row = {"table_uri": "/lake/t", "table": "lake:t", "key": "s.t", "version": 0, "run_id": "r"}
    rec.finished(schemas=[{**row, "columns": cols, "change": schema_change(None, cols)}])
    rec.finished(schemas=[{**row, "version": 3, "columns": wider, "change": "added amount"}])
    assert catalog.last_schemas() == {"/lake/t": wider}
    history = catalog.schema_history("/lake/t")
    assert [(h["version"], h["change"]) for h in history] == [
        (3, "added amount"),
        (0, "created with 1 column"),
    ]


def test_schema_rows_are_kept_only_when_columns_change(catalog: Catalog, rec: Any) -> None:
    cols = [{"name": "id", "type": "int"}]
    row = {"table_uri": "/lake/t", "table": "lake:t", "key": "s.t", "run_id": "r"}
    for version, columns in enumerate([cols, cols, [{"name": "id", "type": "bigint"}], cols]):
        rec.finished(schemas=[{**row, "version": version, "columns": columns}])
    history = catalog.schema_history("/lake/t")
    assert [(h["version"], h["change"]) for h in history] == [
        (3, "id: bigint → int"),
        (2, "id: int → bigint"),
        (0, "created with 1 column"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "text"),
    [
        (None, ["a:int", "b:text"], "created with 2 columns"),
        (["a:int"], ["a:int"], ""),
        (["a:int"], ["a:int", "b:text"], "added b"),
        (["a:int", "note:text"], ["a:int"], "dropped note"),
        (["qty:int"], ["qty:bigint"], "qty: int → bigint"),
        (
            ["id:int", "qty:int", "note:text"],
            ["id:int", "qty:bigint", "amount_eur:double"],
            "added amount_eur; dropped note; qty: int → bigint",
        ),
        (["a:int", "b:int"], ["b:int", "a:int"], "reordered columns"),
    ],
)
def test_schema_change_text(old: list[str] | None, new: list[str], text: str) -> None:
    def cols(spec: list[str]) -> list[dict[str, str]]:
        return [dict(zip(("name", "type"), c.split(":"), strict=True)) for c in spec]

    assert schema_change(None if old is None else cols(old), cols(new)) == text


# ------------------------------------------------------------------------ commits on disk


def test_run_finished_makes_one_commit_per_table(catalog: Catalog, rec: Any) -> None:
    rec.start("r1")
    catalog.run_finished(
        {"run_id": "r1", "status": "success"},
        [rec.node("r1"), rec.node("r1", "silver.customers")],
        [rec.state("silver.orders", 1, at=1), rec.state("silver.customers", 1, at=1)],
        rec.files("silver.orders", "a", "b"),
        [{"table_uri": "/t", "columns": [], "change": "created with 0 columns"}],
    )
    versions = {t: DeltaTable(catalog.table_uri(t)).version() for t in os.listdir(catalog.uri)}
    assert versions == {"runs": 1, "node_runs": 0, "state": 0, "files": 0, "schema_history": 0}


def test_a_lost_commit_race_is_retried(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    import deltalake
    from deltalake.exceptions import CommitFailedError

    real, calls = deltalake.write_deltalake, []

    def flaky(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise CommitFailedError("Failed to commit transaction: Metadata changed")
        real(*args, **kwargs)

    monkeypatch.setattr(deltalake, "write_deltalake", flaky)
    catalog.reset_state("silver.orders")
    assert len(calls) == 3 and set(catalog.resets()) == {"silver.orders"}


def test_a_commit_that_keeps_failing_is_a_transient_error(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deltalake
    from deltalake.exceptions import CommitFailedError

    def always(*args: Any, **kwargs: Any) -> None:
        raise CommitFailedError("Failed to commit transaction: version exists")

    monkeypatch.setattr(deltalake, "write_deltalake", always)
    monkeypatch.setattr("time.sleep", lambda s: None)
    with pytest.raises(TransientError, match="after 10 attempts"):
        catalog.reset_state("silver.orders")


def test_tables_are_compacted_as_they_grow(
    catalog: Catalog, rec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "COMPACT_AT", 5)
    for i in range(12):
        rec.start(f"r{i:02}", start=i)
    runs = DeltaTable(catalog.table_uri("runs"))
    assert len(runs.file_uris()) < 5
    assert [r["run_id"] for r in catalog.runs(limit=None)] == [
        f"r{i:02}" for i in reversed(range(12))
    ]


def test_reads_reuse_a_table_until_its_version_changes(
    catalog: Catalog, rec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec.run("r1")
    scans: list[str] = []
    real = store.scan
    monkeypatch.setattr(store, "scan", lambda t, *a: scans.append(t.table_uri) or real(t, *a))
    catalog.runs()
    catalog.runs()
    assert len(scans) == 1
    rec.start("r2", start=5)
    assert [r["run_id"] for r in catalog.runs()] == ["r2", "r1"]
    assert len(scans) == 2
