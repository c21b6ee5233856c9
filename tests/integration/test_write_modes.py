"""Keyed writes over several runs, against tables computed by hand.

Each test rewrites the input CSV between runs (a new delivery) and checks the whole Delta
table after every run: upsert, append_once, append with keys, merge with conditions, SCD2,
schema policy and time travel.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.runtime.records import RunResult

PROJECT = """\
project: writes
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
pipelines:
  - pipeline: silver
    nodes:
      - name: customers
        read: {{connection: raw, path: customers.csv}}
        write:
          connection: lake
          path: customers
{write}
"""


def setup(tmp_path: Path, write: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    body = "\n".join("          " + line for line in write.strip().splitlines())
    (tmp_path / "lakestory.yaml").write_text(PROJECT.format(write=body))
    return tmp_path


def deliver(root: Path, csv: str) -> None:
    (root / "data" / "customers.csv").write_text(csv.strip() + "\n")


def run(root: Path, **options: Any) -> RunResult:
    result = Project.load(root / "lakestory.yaml").run(**options)
    if not result.ok:
        raise AssertionError(result.nodes[0].error["text"])  # type: ignore[index]
    return result


def table(root: Path, *order: str) -> list[dict[str, Any]]:
    rows = DeltaTable(str(root / "lake" / "customers")).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: tuple(str(r[c]) for c in (order or ("id",))))


def version(root: Path) -> int:
    return DeltaTable(str(root / "lake" / "customers")).version()


def error_of(root: Path) -> str:
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    return str(result.nodes[0].error["text"])  # type: ignore[index]


# -- upsert -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["merge", "rewrite"])
def test_upsert_updates_matches_and_inserts_the_rest(tmp_path: Path, strategy: str) -> None:
    root = setup(tmp_path, f"mode: upsert\nkeys: [id]\nstrategy: {strategy}")
    deliver(root, "id,name,tier\n1,Ann,Gold\n2,Bob,Silver")
    first = run(root)
    assert first.nodes[0].rows_written == 2
    assert table(root) == [
        {"id": 1, "name": "Ann", "tier": "Gold"},
        {"id": 2, "name": "Bob", "tier": "Silver"},
    ]
    deliver(root, "id,name,tier\n2,Bob,Gold\n3,Cy,Bronze")
    second = run(root)
    assert (second.nodes[0].rows_written, second.nodes[0].rows_updated) == (1, 1)
    assert table(root) == [
        {"id": 1, "name": "Ann", "tier": "Gold"},
        {"id": 2, "name": "Bob", "tier": "Gold"},
        {"id": 3, "name": "Cy", "tier": "Bronze"},
    ]
    before = table(root)
    third = run(root)  # the same delivery again
    assert table(root) == before
    assert third.nodes[0].rows_written == 0
    assert third.nodes[0].rows_updated == 0


def test_upsert_with_duplicate_keys_names_them(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: upsert\nkeys: [id]")
    deliver(root, "id,name\n1,Ann\n1,Annie\n2,Bob")
    text = error_of(root)
    assert "duplicate keys (id)" in text
    assert "id=1  (2 rows)" in text
    assert "dedupe: latest" in text
    assert not (root / "lake" / "customers").exists()


def test_upsert_dedupe_latest_keeps_the_newest_row(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: upsert\nkeys: [id]\ndedupe: latest\norder_by: seq")
    deliver(root, "id,name,seq\n1,Ann,1\n1,Annie,3\n1,A.,2\n2,Bob,1")
    run(root)
    assert table(root) == [
        {"id": 1, "name": "Annie", "seq": 3},
        {"id": 2, "name": "Bob", "seq": 1},
    ]


def test_null_keys_are_refused(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: upsert\nkeys: [id]")
    deliver(root, "id,name\n1,Ann\n,Nobody")
    assert "1 row(s) have a null key (id)" in error_of(root)


def test_composite_keys(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: upsert\nkeys: [id, region]")
    deliver(root, "id,region,n\n1,eu,1\n1,us,1")
    run(root)
    deliver(root, "id,region,n\n1,us,2\n2,eu,1")
    run(root)
    assert table(root, "id", "region") == [
        {"id": 1, "region": "eu", "n": 1},
        {"id": 1, "region": "us", "n": 2},
        {"id": 2, "region": "eu", "n": 1},
    ]


# -- append_once and append with keys -----------------------------------------------------


@pytest.mark.parametrize("mode", ["mode: append_once\nkeys: [id]", "mode: append\nkeys: [id]"])
def test_append_once_never_adds_a_key_twice(tmp_path: Path, mode: str) -> None:
    root = setup(tmp_path, mode)
    deliver(root, "id,name\n1,Ann\n2,Bob")
    run(root)
    deliver(root, "id,name\n2,Bobby\n3,Cy")
    second = run(root)
    assert second.nodes[0].rows_written == 1
    expected = [
        {"id": 1, "name": "Ann"},
        {"id": 2, "name": "Bob"},  # the first row of a key stays
        {"id": 3, "name": "Cy"},
    ]
    assert table(root) == expected
    for _ in range(3):  # re-running the same input any number of times changes nothing
        assert run(root).nodes[0].rows_written == 0
    assert table(root) == expected


# -- merge ---------------------------------------------------------------------------------


def test_merge_with_conditions(tmp_path: Path) -> None:
    root = setup(
        tmp_path,
        """
mode: merge
keys: [id]
update_condition: source.version > target.version
insert_condition: s.deleted = false
delete_condition: source.deleted = true
""",
    )
    deliver(root, "id,name,version,deleted\n1,Ann,1,false\n2,Bob,1,false\n3,Cy,1,true")
    run(root)
    assert [r["id"] for r in table(root)] == [1, 2]  # 3 was never inserted
    deliver(
        root,
        "id,name,version,deleted\n1,Annie,2,false\n2,Old Bob,0,false\n4,Di,1,false\n5,Ed,1,true",
    )
    run(root)
    assert table(root) == [
        {"id": 1, "name": "Annie", "version": 2, "deleted": False},  # newer: updated
        {"id": 2, "name": "Bob", "version": 1, "deleted": False},  # older: kept
        {"id": 4, "name": "Di", "version": 1, "deleted": False},
    ]
    deliver(root, "id,name,version,deleted\n2,Bob,2,true")
    run(root)
    assert [r["id"] for r in table(root)] == [1, 4]  # deleted on a match


# -- SCD2 ----------------------------------------------------------------------------------


def test_scd2_gold_to_platinum(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: scd2\nkeys: [customer_id]\neffective_from: changed_at")
    deliver(
        root,
        "customer_id,name,tier,changed_at\n"
        "1,Ann,Gold,2026-01-01 00:00:00\n2,Bob,Silver,2026-01-01 00:00:00",
    )
    run(root)
    deliver(
        root,
        "customer_id,name,tier,changed_at\n"
        "1,Ann,Platinum,2026-03-01 00:00:00\n2,Bob,Silver,2026-03-01 00:00:00",
    )
    second = run(root)
    assert (second.nodes[0].rows_written, second.nodes[0].rows_updated) == (1, 1)
    jan, mar = dt.datetime(2026, 1, 1), dt.datetime(2026, 3, 1)
    assert table(root, "customer_id", "valid_from") == [
        {"customer_id": 1, "name": "Ann", "tier": "Gold", "changed_at": jan,
         "valid_from": jan, "valid_to": mar, "is_current": False},
        {"customer_id": 1, "name": "Ann", "tier": "Platinum", "changed_at": mar,
         "valid_from": mar, "valid_to": None, "is_current": True},
        {"customer_id": 2, "name": "Bob", "tier": "Silver", "changed_at": jan,
         "valid_from": jan, "valid_to": None, "is_current": True},
    ]  # fmt: skip
    before, v = table(root, "customer_id", "valid_from"), version(root)
    third = run(root)  # the same input: nothing is written, not even a commit
    assert third.nodes[0].rows_written == 0
    assert (table(root, "customer_id", "valid_from"), version(root)) == (before, v)


def test_scd2_track_columns_soft_deletes_and_names(tmp_path: Path) -> None:
    root = setup(
        tmp_path,
        """
mode: scd2
keys: [id]
track_columns: [tier]
deletes: soft
valid_from: start_at
valid_to: end_at
is_current: current
""",
    )
    deliver(root, "id,tier,note\n1,Gold,a\n2,Silver,a")
    run(root)
    deliver(root, "id,tier,note\n1,Gold,changed note only")  # 2 is gone from the snapshot
    run(root)
    rows = table(root, "id", "start_at")
    assert [(r["id"], r["tier"], r["note"], r["current"]) for r in rows] == [
        (1, "Gold", "a", True),  # a change outside track_columns opens no version
        (2, "Silver", "a", False),  # closed by the soft delete
    ]
    assert rows[1]["end_at"] is not None and rows[0]["end_at"] is None


def test_scd2_history_is_never_rewritten(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: scd2\nkeys: [id]\neffective_from: at")
    deliver(root, "id,tier,at\n1,A,2026-01-01 00:00:00")
    run(root)
    deliver(root, "id,tier,at\n1,B,2026-02-01 00:00:00")
    run(root)
    deliver(root, "id,tier,at\n1,Z,2025-06-01 00:00:00")  # older than the current version
    run(root)
    assert [(r["tier"], r["is_current"]) for r in table(root, "id", "valid_from")] == [
        ("A", False),
        ("B", True),
    ]


# -- schema policy and time travel ---------------------------------------------------------


def test_new_columns_fail_by_default_and_evolve_when_asked(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: append")
    deliver(root, "id,name\n1,Ann")
    run(root)
    deliver(root, "id,name,email\n2,Bob,b@x")
    assert "the data has columns the table lacks: email" in error_of(root)
    setup(tmp_path, "mode: append\nschema: {on_new_columns: evolve}")
    run(root)
    assert table(root) == [
        {"id": 1, "name": "Ann", "email": None},
        {"id": 2, "name": "Bob", "email": "b@x"},
    ]


def test_duplicate_keys_of_a_sensitive_column_are_masked(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: upsert\nkeys: [email]")
    text = (root / "lakestory.yaml").read_text()
    (root / "lakestory.yaml").write_text(
        text.replace("        write:", "        sensitive: [email]\n        write:", 1)
    )
    deliver(root, "email,name\nann@x.org,Ann\nann@x.org,Annie")
    message = error_of(root)
    assert "email=[REDACTED: Sensitive Data]  (2 rows)" in message and "ann@x.org" not in message


def test_an_upsert_that_evolves_the_schema_updates_matched_rows(tmp_path: Path) -> None:
    """A MERGE that adds a column compares only the table's columns, and updates a matched
    row whose new column has a value (it used to name target.<new column> and fail)."""
    root = setup(tmp_path, "mode: upsert\nkeys: [id]\nschema: {on_new_columns: evolve}")
    deliver(root, "id,name\n1,Ann\n2,Bob\n3,Cy")
    run(root)
    deliver(root, "id,name,email\n1,Ann,a@x\n2,Bob,\n4,Di,d@x")  # 3 is not in this batch
    run(root)
    assert table(root) == [
        {"id": 1, "name": "Ann", "email": "a@x"},
        {"id": 2, "name": "Bob", "email": None},
        {"id": 3, "name": "Cy", "email": None},
        {"id": 4, "name": "Di", "email": "d@x"},
    ]


def test_missing_columns_fill_null_and_ignore_new(tmp_path: Path) -> None:
    root = setup(
        tmp_path,
        "mode: upsert\nkeys: [id]\nschema: {on_new_columns: ignore, on_missing_columns: fill_null}",
    )
    deliver(root, "id,name,tier\n1,Ann,Gold")
    run(root)
    deliver(root, "id,name,extra\n2,Bob,zzz")
    run(root)
    assert table(root) == [
        {"id": 1, "name": "Ann", "tier": "Gold"},
        {"id": 2, "name": "Bob", "tier": None},
    ]


def test_a_lossy_type_change_names_the_column_and_both_types(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: append")
    deliver(root, "id,amount\n1,10")
    run(root)
    deliver(root, "id,amount\n2,ten")
    text = error_of(root)
    assert "a type change would lose data" in text
    assert "column amount: the table has int, the data has string" in text
    assert table(root) == [{"id": 1, "amount": 10}]


def test_a_lossless_type_change_is_cast(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: append")
    deliver(root, "id,amount\n1,10.5")
    run(root)
    deliver(root, "id,amount\n2,3")  # INTEGER into DOUBLE
    run(root)
    assert table(root) == [{"id": 1, "amount": 10.5}, {"id": 2, "amount": 3.0}]


def test_time_travel_by_version_and_timestamp(tmp_path: Path) -> None:
    root = setup(tmp_path, "mode: overwrite")
    deliver(root, "id\n1")
    run(root)
    deliver(root, "id\n2")
    run(root)
    history = DeltaTable(str(root / "lake" / "customers")).history()
    first_commit = min(h["timestamp"] for h in history)
    at = dt.datetime.fromtimestamp(first_commit / 1000, dt.UTC).isoformat()
    for travel in ("version: 0", f"timestamp: '{at}'"):
        (root / "reader.yaml").write_text(
            "project: reader\nconnections:\n  lake: {type: local, base_path: lake}\n"
            "pipelines:\n  - pipeline: p\n    nodes:\n      - name: old\n"
            f"        read: {{connection: lake, path: customers, format: delta, {travel}}}\n"
            "        write: {connection: lake, path: old.parquet}\n"
        )
        result = Project.load(root / "reader.yaml").run()
        assert result.ok, result.nodes[0].error
        assert result.nodes[0].rows_read == 1
