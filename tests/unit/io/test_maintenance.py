"""Delta maintenance: compaction and z-order keep the rows and the history, vacuum keeps the
retention floor, properties are set only when they differ."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pydantic import ValidationError

from lakestory.config.models.tables import MaintenanceConfig, VacuumConfig
from lakestory.core.errors import ConfigError, DataError, WriteError
from lakestory.io import maintenance
from lakestory.io.maintenance import (
    ensure_properties,
    maintain,
    maintain_after_write,
    table_status,
)

HOUR = 3600


def appended(path: Path, batches: int = 6, rows: int = 5) -> str:
    """A table written by ``batches`` appends: one small file each."""
    for b in range(batches):
        ids = list(range(b * rows, (b + 1) * rows))
        write_deltalake(
            str(path),
            pa.table({"id": ids, "x": [i % 7 for i in ids], "y": [i % 3 for i in ids]}),
            mode="append",
        )
    return str(path)


def rows(uri: str, version: int | None = None) -> list[dict[str, Any]]:
    table = DeltaTable(uri, version=version)
    return sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: r["id"])


def data_files(uri: str) -> set[str]:
    return {
        str(p.relative_to(uri)) for p in Path(uri).rglob("*.parquet") if "_delta_log" not in p.parts
    }


def live_files(uri: str) -> set[str]:
    return set(DeltaTable(uri).get_add_actions(flatten=True).column("path").to_pylist())


def age_removals(uri: str, hours: float) -> None:
    """Pretend the files earlier commits removed were removed ``hours`` ago: rewrite the
    ``deletionTimestamp`` of every remove action in the log (what vacuum compares with the
    retention) and set the files' modification time to match."""
    stamp = int((time.time() - hours * HOUR) * 1000)
    for commit in sorted((Path(uri) / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in commit.read_text().splitlines() if line]
        for action in actions:
            if "remove" in action:
                action["remove"]["deletionTimestamp"] = stamp
                os.utime(Path(uri) / action["remove"]["path"], (stamp / 1000, stamp / 1000))
        commit.write_text("".join(json.dumps(a) + "\n" for a in actions))


def set_old(path: Path, hours: float) -> None:
    then = time.time() - hours * HOUR
    os.utime(path, (then, then))


def config(**settings: Any) -> MaintenanceConfig:
    return MaintenanceConfig.model_validate(settings)


# -- optimize --------------------------------------------------------------------------------


def test_compaction_merges_small_files_keeping_rows_and_history(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t")
    before = rows(uri)

    report = maintain(uri, "lake:t", config(optimize=True), {})

    assert (report.files_before, report.files_after) == (6, 1)
    assert (report.files_removed, report.files_added) == (6, 1)
    assert report.actions == ["compact"]
    assert rows(uri) == before
    assert report.version_after == report.version_before + 1
    # time travel to the version before compaction still reads the same rows
    assert rows(uri, version=report.version_before) == before
    assert DeltaTable(uri).history(1)[0]["operation"] == "OPTIMIZE"


def test_compacting_a_compact_table_commits_nothing(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=1)

    report = maintain(uri, "lake:t", config(optimize=True), {})

    assert report.files_removed == 0
    assert report.version_after == report.version_before


def test_zorder_rewrites_instead_of_compacting(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=4)
    before = rows(uri)

    report = maintain(uri, "lake:t", config(optimize=True, zorder_by=["x", "y"]), {})

    assert report.actions == ["z_order"]
    assert (report.files_before, report.files_after) == (4, 1)
    assert rows(uri) == before
    newest = DeltaTable(uri).history(1)[0]
    assert newest["operationMetrics"]["plannerStrategy"] == "zOrder"


def test_zorder_needs_optimize_and_says_so(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=2)

    report = maintain(uri, "lake:t", config(zorder_by=["x"]), {})

    assert report.actions == []
    assert report.version_after == report.version_before
    assert "optimize is off" in report.notes[0]


def test_zorder_on_an_unknown_column_names_the_columns(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=2)

    with pytest.raises(WriteError) as caught:
        maintain(uri, "lake:t", config(optimize=True, zorder_by=["nope"]), {})

    assert "z-ordering lake:t failed" in caught.value.what
    assert caught.value.hint is not None and "id, x, y" in caught.value.hint
    assert DeltaTable(uri).version() == 1


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=3)

    report = maintain(
        uri,
        "lake:t",
        config(optimize=True, vacuum=True),
        {"delta.appendOnly": "true"},
        dry_run=True,
    )

    assert report.dry_run and report.vacuum_dry_run
    assert report.actions == ["properties", "compact", "vacuum"]
    assert report.properties_set == {"delta.appendOnly": "true"}
    assert DeltaTable(uri).version() == report.version_before == report.version_after == 2
    assert DeltaTable(uri).metadata().configuration == {}
    assert len(live_files(uri)) == 3


# -- vacuum ----------------------------------------------------------------------------------


def test_vacuum_lists_removed_files_only_once_past_the_retention(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=4)
    compacted = maintain(uri, "lake:t", config(optimize=True), {})
    removed = data_files(uri) - live_files(uri)
    assert len(removed) == 4
    dry = config(vacuum=VacuumConfig(dry_run=True))

    # just removed: kept, also when the files themselves are old (written long ago)
    for name in removed:
        set_old(Path(uri) / name, 500)
    assert maintain(uri, "lake:t", dry, {}).files_vacuumed == []
    # removed 100 hours ago: still inside the 168-hour floor
    age_removals(uri, 100)
    assert maintain(uri, "lake:t", dry, {}).files_vacuumed == []
    # removed 200 hours ago: listed, and a dry run deletes nothing
    age_removals(uri, 200)
    listed = maintain(uri, "lake:t", dry, {})
    assert set(listed.files_vacuumed) == removed
    assert listed.vacuum_dry_run and listed.retain_hours == 168
    assert data_files(uri) >= removed

    done = maintain(uri, "lake:t", config(vacuum=True), {})

    assert set(done.files_vacuumed) == removed
    assert data_files(uri) == live_files(uri)
    assert rows(uri) == rows(uri, version=compacted.version_after)


def test_vacuum_removes_old_orphans_and_keeps_new_ones(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=2)
    source = Path(uri) / sorted(live_files(uri))[0]
    # parquet files no commit references: what a write that failed before committing leaves
    old = Path(uri) / "part-00000-orphan-old.snappy.parquet"
    new = Path(uri) / "part-00000-orphan-new.snappy.parquet"
    shutil.copy(source, old)
    shutil.copy(source, new)
    set_old(old, 200)
    before = rows(uri)

    report = maintain(uri, "lake:t", config(vacuum=True), {})

    assert report.files_vacuumed == [old.name]
    assert not old.exists()
    assert new.exists()  # maybe a write still in progress
    assert rows(uri) == before


def test_orphans_are_left_alone_when_deltalake_cannot_spare_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "FULL_VACUUM_FROM", (99, 0, 0))
    uri = appended(tmp_path / "t", batches=1)
    old = Path(uri) / "part-00000-orphan-old.snappy.parquet"
    shutil.copy(Path(uri) / sorted(live_files(uri))[0], old)
    set_old(old, 200)

    report = maintain(uri, "lake:t", config(vacuum=True), {})

    assert report.files_vacuumed == []
    assert old.exists()
    assert "orphan files" in report.notes[0]


@pytest.mark.parametrize("hours", [24, 167.5, 0, -1, float("nan")])
def test_vacuum_below_the_floor_is_refused(tmp_path: Path, hours: float) -> None:
    uri = appended(tmp_path / "t", batches=1)

    with pytest.raises(ConfigError) as caught:
        maintain(uri, "lake:t", None, {}, vacuum=True, retain_hours=hours)

    assert "168" in caught.value.what
    assert DeltaTable(uri).version() == 0


def test_config_refuses_retention_below_the_floor() -> None:
    with pytest.raises(ValidationError, match="below the retention floor of 168 hours"):
        config(vacuum={"retain_hours": 24})
    assert config(vacuum=True).vacuum_config == VacuumConfig(retain_hours=168)


def test_retain_hours_alone_means_vacuum(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=1)

    assert maintain(uri, "lake:t", None, {}, retain_hours=200).retain_hours == 200
    assert maintain(uri, "lake:t", config(vacuum=True), {}, vacuum=False).actions == []


def test_a_longer_table_retention_wins(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=1)
    properties = {"delta.deletedFileRetentionDuration": "interval 30 days"}

    report = maintain(uri, "lake:t", config(vacuum=True), properties)

    assert report.retain_hours == 720
    assert "delta.deletedFileRetentionDuration" in report.notes[0]


# -- properties ------------------------------------------------------------------------------


def test_properties_are_set_only_when_they_differ(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=1)
    wanted = {"delta.logRetentionDuration": "interval 30 days", "delta.appendOnly": "true"}

    assert ensure_properties(uri, wanted) == wanted
    assert DeltaTable(uri).version() == 1
    assert ensure_properties(uri, wanted) == {}
    assert DeltaTable(uri).version() == 1  # nothing changed: no commit

    changed = {**wanted, "delta.appendOnly": "false", "owner": "sales"}
    assert ensure_properties(uri, changed) == {"delta.appendOnly": "false", "owner": "sales"}
    assert DeltaTable(uri).metadata().configuration == changed


def test_append_only_property_is_enforced(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=1)
    ensure_properties(uri, {"delta.appendOnly": "true"})

    with pytest.raises(Exception, match="append-only"):
        write_deltalake(uri, pa.table({"id": [1], "x": [1], "y": [1]}), mode="overwrite")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("delta.appendOnly", "yes", "true or false"),
        ("delta.logRetentionDuration", "30 days", "interval 30 days"),
        ("delta.deletedFileRetentionDuration", "INTERVAL 2 WEEKS", "interval"),
        ("delta.checkpointInterval", "ten", "positive whole number"),
        ("delta.apendOnly", "true", "not a Delta table property"),
    ],
)
def test_bad_properties_are_refused_before_anything_is_committed(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    uri = appended(tmp_path / "t", batches=1)

    with pytest.raises(ConfigError, match=message) as caught:
        ensure_properties(uri, {key: value}, display="lake:t")

    assert caught.value.where.key == f"write.properties.{key}"
    assert DeltaTable(uri).version() == 0
    assert DeltaTable(uri).metadata().configuration == {}


# -- after a write ---------------------------------------------------------------------------


def test_after_write_does_nothing_unless_asked(tmp_path: Path) -> None:
    # not even opening the table: this path holds none
    assert maintain_after_write(str(tmp_path / "nothing"), "lake:x", None, {}) is None
    assert (
        maintain_after_write(str(tmp_path / "nothing"), "lake:x", config(optimize=True), {}) is None
    )

    uri = appended(tmp_path / "t", batches=2)
    props = {"owner": "sales"}
    first = maintain_after_write(uri, "lake:t", None, props)
    assert first is not None and first.properties_set == props
    assert first.version_after == first.version_before + 1
    assert maintain_after_write(uri, "lake:t", None, props) is None
    assert DeltaTable(uri).version() == first.version_after


def test_after_write_runs_the_configured_maintenance(tmp_path: Path) -> None:
    uri = appended(tmp_path / "t", batches=3)

    report = maintain_after_write(uri, "lake:t", config(optimize=True, after_write=True), {})

    assert report is not None and (report.files_before, report.files_after) == (3, 1)


# -- not a Delta table -----------------------------------------------------------------------


def test_a_parquet_folder_is_not_maintained(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "part-0.parquet").write_bytes(b"PAR1")

    assert table_status(str(folder)) == "not_delta"
    assert table_status(str(tmp_path / "missing")) == "missing"
    assert table_status(appended(tmp_path / "t", batches=1)) == "delta"
    with pytest.raises(DataError, match="maintenance applies to Delta tables"):
        maintain(str(folder), "lake:flat", config(optimize=True), {})
