"""``lakestory maintain`` on a project that has run: compaction, vacuum, properties, the
retention floor, tables not written yet and targets that are not Delta tables."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

PROJECT = """
project: shop
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: sales
    nodes:
      - name: orders
        read: {connection: raw, path: orders.csv}
        write:
          connection: lake
          path: orders
          mode: append
          maintenance:
            optimize: true
            vacuum: {retain_hours: 200}
          properties:
            delta.logRetentionDuration: "interval 30 days"
            owner: sales
      - name: refunds
        read: {connection: raw, path: orders.csv}
        write: {connection: lake, path: refunds, mode: append}
      - name: later
        read: {connection: raw, path: orders.csv}
        write: {connection: lake, path: later}
      - name: flat
        read: {connection: raw, path: orders.csv}
        write: {connection: lake, path: flat.parquet}
"""


@pytest.fixture
def shop(project: Callable[..., Path], cli: Callable[..., Any]) -> Path:
    """The project after three runs of ``orders`` and ``refunds``: three files each."""
    root = project(PROJECT, {"data/orders.csv": "id,amount\n1,10\n2,20\n3,30\n"})
    for _ in range(3):
        result = cli("run", root / "lakestory.yaml", "-n", "orders", "-n", "refunds")
        assert result.exit_code == 0, result.stderr
    return root


def maintain_json(cli: Callable[..., Any], root: Path, *options: str) -> tuple[int, Any]:
    result = cli("maintain", root / "lakestory.yaml", "--format", "json", *options)
    return result.exit_code, json.loads(result.stdout)


def by_node(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["node"]: t for t in report["tables"]}


def test_maintain_applies_each_tables_config(
    shop: Path, cli: Callable[..., Any], read_delta: Callable[..., Any]
) -> None:
    orders = shop / "lake" / "orders"
    before = sorted(r["id"] for r in read_delta(orders))
    assert len(DeltaTable(str(orders)).file_uris()) == 3

    result = cli("maintain", shop / "lakestory.yaml")

    assert result.exit_code == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if "  " in line}
    assert "compact 3 → 1 file" in lines["sales.orders"]
    # the properties were already set by `lakestory run`, after its first write
    assert "vacuum deleted 0 files (retain 200 h)" in lines["sales.orders"]
    assert "nothing to do (3 files)" in lines["sales.refunds"]
    assert "not written yet" in lines["sales.later"]
    assert "maintenance applies to Delta tables" in lines["sales.flat"]
    table = DeltaTable(str(orders))
    assert len(table.file_uris()) == 1
    assert sorted(r["id"] for r in read_delta(orders)) == before == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert table.metadata().configuration == {
        "delta.logRetentionDuration": "interval 30 days",
        "owner": "sales",
    }
    assert len(DeltaTable(str(shop / "lake" / "refunds")).file_uris()) == 3


def test_maintain_again_commits_nothing(shop: Path, cli: Callable[..., Any]) -> None:
    code, first = maintain_json(cli, shop)
    assert code == 0 and first["ok"]
    version = by_node(first)["sales.orders"]["report"]["version_after"]

    code, again = maintain_json(cli, shop)

    orders = by_node(again)["sales.orders"]
    assert code == 0
    assert orders["report"]["properties_set"] == {}
    assert orders["report"]["version_before"] == orders["report"]["version_after"] == version
    assert DeltaTable(str(shop / "lake" / "orders")).version() == version


def test_dry_run_changes_nothing(shop: Path, cli: Callable[..., Any]) -> None:
    orders = shop / "lake" / "orders"
    version = DeltaTable(str(orders)).version()

    result = cli("maintain", shop / "lakestory.yaml", "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert "would compact 3 files" in result.stdout
    assert "dry run: nothing was changed" in result.stdout
    assert DeltaTable(str(orders)).version() == version
    assert len(DeltaTable(str(orders)).file_uris()) == 3


def test_flags_override_the_config(shop: Path, cli: Callable[..., Any]) -> None:
    refunds = shop / "lake" / "refunds"
    orphan = refunds / "part-00000-failed-write.snappy.parquet"
    shutil.copy(refunds / DeltaTable(str(refunds)).file_uris()[0].rsplit("/", 1)[-1], orphan)
    then = time.time() - 300 * 3600
    os.utime(orphan, (then, then))

    # refunds has no maintenance config: --vacuum uses the 168-hour default
    code, report = maintain_json(cli, shop, "-n", "refunds", "--optimize", "--vacuum")

    refunds_report = by_node(report)["sales.refunds"]["report"]
    assert code == 0
    assert refunds_report["actions"] == ["compact", "vacuum"]
    assert refunds_report["retain_hours"] == 168
    assert refunds_report["files_vacuumed"] == [orphan.name]
    assert not orphan.exists()
    assert (refunds_report["files_before"], refunds_report["files_after"]) == (3, 1)

    code, report = maintain_json(cli, shop, "-n", "orders", "--no-optimize", "--no-vacuum")
    assert by_node(report)["sales.orders"]["report"]["actions"] == []  # set by `run` already
    assert len(DeltaTable(str(shop / "lake" / "orders")).file_uris()) == 3


def test_the_retention_floor_is_refused_on_the_command_line(
    shop: Path, cli: Callable[..., Any]
) -> None:
    result = cli("maintain", shop / "lakestory.yaml", "--retain-hours", "24")

    assert result.exit_code == 2
    assert "--retain-hours 24 is below the retention floor of 168 hours" in result.stderr
    assert DeltaTable(str(shop / "lake" / "orders")).version() == 4  # 3 runs + properties


def test_the_retention_floor_is_refused_in_the_config(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(PROJECT.replace("retain_hours: 200", "retain_hours: 24"))

    result = cli("maintain", root / "lakestory.yaml")

    assert result.exit_code == 2
    assert (
        "lakestory.yaml:16:22, node sales.orders, key "
        "pipelines[0].nodes[0].write.maintenance.vacuum.retain_hours: "
        "retain_hours 24 is below the retention floor of 168 hours"
    ) in result.stderr


def test_a_named_parquet_target_fails(shop: Path, cli: Callable[..., Any]) -> None:
    result = cli("maintain", shop / "lakestory.yaml", "-n", "flat")

    assert result.exit_code == 1
    assert "lake:flat.parquet writes parquet: maintenance applies to Delta tables" in (
        result.stderr
    )


def test_a_failing_table_fails_the_command_and_the_others_are_maintained(
    shop: Path, cli: Callable[..., Any]
) -> None:
    yaml_file = shop / "lakestory.yaml"
    yaml_file.write_text(
        yaml_file.read_text().replace(
            "write: {connection: lake, path: refunds, mode: append}",
            "write: {connection: lake, path: refunds, mode: append, "
            "maintenance: {optimize: true, zorder_by: [nope]}}",
        )
    )

    code, report = maintain_json(cli, shop)

    tables = by_node(report)
    assert code == 1 and not report["ok"]
    assert tables["sales.refunds"]["status"] == "failed"
    assert "id, amount" in tables["sales.refunds"]["error"]["hint"]
    assert tables["sales.orders"]["status"] == "maintained"
    assert len(DeltaTable(str(shop / "lake" / "orders")).file_uris()) == 1
