"""Engines run the data work. One narrow protocol (:mod:`lakestory.engines.base`), one
implementation per engine. Capabilities are plain data declared here, so planning and
validation never import an engine's library; the engine itself is imported only to run."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from lakestory.core.errors import ConfigError, NotSupportedYet
from lakestory.engines.base import Capabilities, Engine

_ALL_FORMATS = frozenset({"csv", "json", "parquet", "delta"})

_ALL_MODES = frozenset({"overwrite", "append", "upsert", "append_once", "merge", "scd2"})
# files and Delta tables on these (databases are checked by the database layer)
_STORES = frozenset({"local", "s3", "azure_adls", "azure_blob"})


def _on_duckdb(name: str, python_step_input: str) -> Capabilities:
    """An engine whose SQL, reads, writes and checks run in DuckDB; only what its Python
    steps receive differs."""
    return Capabilities(
        name=name,
        sql_dialect="duckdb",
        read_formats=_ALL_FORMATS,
        write_formats=_ALL_FORMATS,
        write_modes=_ALL_MODES,
        connection_kinds=_STORES,
        python_step_input=python_step_input,
    )


CAPABILITIES: dict[str, Capabilities] = {
    "duckdb": _on_duckdb("duckdb", "duckdb.DuckDBPyRelation"),
    "pandas": _on_duckdb("pandas", "pandas.DataFrame (Arrow-backed columns)"),
    "polars": _on_duckdb("polars", "polars.DataFrame"),
    "spark": Capabilities(
        name="spark",
        sql_dialect="spark",
        read_formats=_ALL_FORMATS,
        write_formats=_ALL_FORMATS,
        write_modes=_ALL_MODES,
        connection_kinds=_STORES,
        python_step_input="pyspark.sql.DataFrame",
        distributed=True,
        unsupported_read_options=frozenset(
            {"csv.skip_rows", "csv.date_format", "csv.timestamp_format"}
            | {"json.date_format", "json.timestamp_format"}
        ),
    ),
}

_IMPLEMENTATIONS = {
    "duckdb": "lakestory.engines.duckdb.engine:DuckDBEngine",
    "pandas": "lakestory.engines.pandas.engine:PandasEngine",
    "polars": "lakestory.engines.polars.engine:PolarsEngine",
    "spark": "lakestory.engines.spark.engine:SparkEngine",
}
# Project settings for one engine only: the others are not given them.
_SETTINGS_FOR = {"spark_config": "spark"}
_EXTRAS = {"polars": "polars", "pandas": "pandas", "spark": "spark"}
_LIBRARIES = {"pandas": "pandas", "polars": "polars", "spark": "pyspark"}


def capabilities(name: str) -> Capabilities:
    """What engine ``name`` can do; raises when this version has no such engine or its
    library is not installed (checked without importing it)."""
    extra = _EXTRAS.get(name, name)
    if name not in CAPABILITIES:
        raise NotSupportedYet(
            f"engine '{name}' is not supported yet in this version",
            hint="use `engine: duckdb` (the default), `pandas`, `polars` or `spark`; "
            f'the {name} engine will need `pip install "lakestory[{extra}]"`',
        )
    library = _LIBRARIES.get(name)
    if library is not None and importlib.util.find_spec(library) is None:
        raise ConfigError(
            f"engine '{name}' needs the {library} library, which is not installed",
            hint=f'pip install "lakestory[{extra}]"',
        )
    return CAPABILITIES[name]


def create_engine(name: str, **options: Any) -> Engine:
    capabilities(name)
    options = {k: v for k, v in options.items() if _SETTINGS_FOR.get(k, name) == name}
    module, _, attr = _IMPLEMENTATIONS[name].partition(":")
    engine: Engine = getattr(importlib.import_module(module), attr)(**options)
    return engine
