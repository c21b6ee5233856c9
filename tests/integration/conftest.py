"""Fixtures for whole projects run through the CLI: the bundled example and table readers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

Rows = list[dict[str, Any]]


def delta_rows(path: Path, version: int | None = None) -> Rows:
    return DeltaTable(str(path), version=version).to_pyarrow_table().to_pylist()


def delta_version(path: Path) -> int:
    return DeltaTable(str(path)).version()


def parquet_rows(path: Path) -> Rows:
    return pq.read_table(str(path)).to_pylist()


@pytest.fixture
def read_delta() -> Callable[..., Rows]:
    return delta_rows


@pytest.fixture
def read_parquet() -> Callable[[Path], Rows]:
    return parquet_rows


@pytest.fixture
def table_version() -> Callable[[Path], int]:
    return delta_version


@pytest.fixture
def demo(tmp_path: Path, cli: Callable[..., Any]) -> Path:
    """The example project from ``lakestory init``, not yet run."""
    result = cli("init", tmp_path / "demo")
    assert result.exit_code == 0, result.stderr
    return tmp_path / "demo"


@pytest.fixture
def run_json(cli: Callable[..., Any]) -> Callable[..., tuple[int, dict[str, Any]]]:
    """``run_json(project_file, *options)``: run with ``--format json``; (exit code, report)."""

    def run(project_file: Path, *options: str) -> tuple[int, dict[str, Any]]:
        result = cli("run", project_file, "--format", "json", *options)
        return result.exit_code, json.loads(result.stdout)

    return run
