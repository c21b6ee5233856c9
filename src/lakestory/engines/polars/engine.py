"""The polars engine (first slice): DuckDB's engine, with Python steps that receive a
``polars.DataFrame``.

A step gets its input as a DataFrame (built from DuckDB's Arrow batches, without copying
them into Python objects) and may return a DataFrame or a LazyFrame, which DuckDB scans in
place (a LazyFrame is collected as DuckDB reads it). A DataFrame rather than a LazyFrame:
it is Arrow-compatible, so the same step code (``pyarrow.table(df)``) runs on every engine,
and ``df.lazy()`` is one call away. SQL steps, reads, writes and checks run in DuckDB over
Arrow, exactly as on the duckdb engine, so the same YAML gives the same tables.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lakestory.engines import CAPABILITIES
from lakestory.engines.base import Capabilities
from lakestory.engines.duckdb.engine import DuckDBEngine, DuckFrame


class PolarsEngine(DuckDBEngine):
    capabilities: ClassVar[Capabilities] = CAPABILITIES["polars"]

    def native(self, frame: DuckFrame) -> Any:
        return super().native(frame).pl()
