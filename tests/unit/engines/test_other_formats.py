"""Reading JSON lines, Parquet and Delta on DuckDB, and what their errors say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from lakestory.core.errors import DataError
from lakestory.engines.duckdb.engine import DuckDBEngine
from lakestory.io import local
from lakestory.io.specs import Source


@pytest.fixture
def engine() -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine()
    yield eng
    eng.close()


def read(
    engine: DuckDBEngine, root: Path, path: str, fmt: str, version: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    loc = local.location("raw", ".", root, path)
    frame, rows = engine.read(Source(loc, fmt, {}, None, version), "t")
    return pa.table(engine.native(frame)).to_pylist(), rows


def test_json_lines(engine: DuckDBEngine, tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1, "tags": ["x"]}\n{"id": 2, "extra": true}\n')
    rows, count = read(engine, tmp_path, "a.jsonl", "json")
    assert count == 2
    assert rows == [{"id": 1, "tags": ["x"], "extra": None}, {"id": 2, "tags": None, "extra": True}]


def test_malformed_json_names_file_and_line(engine: DuckDBEngine, tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n{"id": 2,\n{"id": 3}\n')
    with pytest.raises(DataError) as err:
        read(engine, tmp_path, "a.jsonl", "json")
    assert err.value.what.startswith("cannot read JSON lines: malformed JSON:")
    assert err.value.where.file == str(tmp_path / "a.jsonl")
    assert err.value.where.line == 3  # where the parser gave up on the unclosed object


def test_parquet_folder_with_hive_partitions(engine: DuckDBEngine, tmp_path: Path) -> None:
    for year in (2023, 2024):
        folder = tmp_path / "t" / f"year={year}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"id": [year]}), folder / "part-0.parquet")
    rows, count = read(engine, tmp_path, "t", "parquet")
    assert count == 2
    assert sorted((r["id"], r["year"]) for r in rows) == [(2023, 2023), (2024, 2024)]


def test_a_file_that_is_not_parquet(engine: DuckDBEngine, tmp_path: Path) -> None:
    (tmp_path / "x.parquet").write_text("not parquet at all")
    with pytest.raises(DataError, match="cannot read Parquet") as err:
        read(engine, tmp_path, "x.parquet", "parquet")
    assert err.value.where.file == str(tmp_path / "x.parquet")


def test_delta_latest_and_time_travel(engine: DuckDBEngine, tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "t"), pa.table({"id": [1]}))
    write_deltalake(str(tmp_path / "t"), pa.table({"id": [2, 3]}), mode="overwrite")
    assert read(engine, tmp_path, "t", "delta") == ([{"id": 2}, {"id": 3}], 2)
    assert read(engine, tmp_path, "t", "delta", version=0) == ([{"id": 1}], 1)


def test_a_missing_delta_table(engine: DuckDBEngine, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="input not found: no Delta table at raw:t"):
        read(engine, tmp_path, "t", "delta")


def test_a_parquet_folder_read_as_delta_gets_a_hint(engine: DuckDBEngine, tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    pq.write_table(pa.table({"id": [1]}), tmp_path / "t" / "part-0.parquet")
    with pytest.raises(DataError) as err:
        read(engine, tmp_path, "t", "delta")
    assert "no _delta_log: is the format parquet?" in (err.value.hint or "")
