"""Where the catalog lives: the project's ``system:`` section."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lakestory.catalog import Catalog
from lakestory.config.loader import load_project_text
from lakestory.core.errors import ConfigError

PIPELINES = """
pipelines:
  - pipeline: p
    nodes:
      - name: n
        read: {connection: lake, path: a.csv}
"""


def catalog_of(tmp_path: Path, extra: str) -> Catalog | None:
    text = "project: demo\n" + textwrap.dedent(extra) + PIPELINES
    return Catalog.for_project(load_project_text(text, tmp_path, file="lakestory.yaml"))


LAKE = """
connections:
  lake: {type: local, base_path: data/lake}
"""


@pytest.mark.parametrize(
    ("section", "folder"),
    [
        ("", ".lakestory/system"),
        ("system: {enabled: true}", ".lakestory/system"),
        ("system: {path: meta/catalog}", "meta/catalog"),
        ("system: {connection: lake}", "data/lake/_lakestory_system"),
        ("system: {connection: lake, path: sys}", "data/lake/sys"),
    ],
)
def test_the_catalog_folder(tmp_path: Path, section: str, folder: str) -> None:
    catalog = catalog_of(tmp_path, LAKE + section + "\n")
    assert catalog is not None
    assert catalog.uri == str(tmp_path / folder)
    assert catalog.project == "demo"


def test_a_disabled_catalog_is_none(tmp_path: Path) -> None:
    assert catalog_of(tmp_path, LAKE + "system: {enabled: false}\n") is None


def test_an_unknown_connection_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        catalog_of(tmp_path, LAKE + "system: {connection: laek}\n")
    assert "unknown connection 'laek'" in info.value.what
    assert info.value.hint == "did you mean 'lake'?"
    assert info.value.where.key == "system.connection" and info.value.where.line == 5


def test_a_cloud_connection_keeps_the_catalog_in_its_store(tmp_path: Path) -> None:
    section = """
    connections:
      lake: {type: s3, bucket: data, path_prefix: lake}
    system: {connection: lake}
    """
    catalog = catalog_of(tmp_path, section)
    assert catalog is not None and catalog.uri == "s3://data/lake/_lakestory_system"


def test_a_database_connection_cannot_hold_the_catalog(tmp_path: Path) -> None:
    section = """
    connections:
      db: {type: postgres, database: x}
    system: {connection: db}
    """
    with pytest.raises(ConfigError) as info:
        catalog_of(tmp_path, section)
    assert "cannot be kept on a 'postgres' connection" in info.value.what
    assert info.value.where.key == "system.connection"
