"""Engines run the data work. One narrow protocol (:mod:`lakestory.engines.base`), one
implementation per engine. Capabilities are plain data declared here, so planning and
validation never import an engine's library; the engine itself is imported only to run."""

from __future__ import annotations

import importlib
from typing import Any

from lakestory.core.errors import NotSupportedYet
from lakestory.engines.base import Capabilities, Engine

_ALL_FORMATS = frozenset({"csv", "json", "parquet", "delta"})

CAPABILITIES: dict[str, Capabilities] = {
    "duckdb": Capabilities(
        name="duckdb",
        sql_dialect="duckdb",
        read_formats=_ALL_FORMATS,
        write_formats=_ALL_FORMATS,
        write_modes=frozenset({"overwrite", "append", "upsert", "append_once", "merge", "scd2"}),
        connection_kinds=frozenset({"local"}),
        python_step_input="duckdb.DuckDBPyRelation",
    ),
}

_IMPLEMENTATIONS = {"duckdb": "lakestory.engines.duckdb.engine:DuckDBEngine"}
_EXTRAS = {"polars": "polars", "pandas": "pandas", "spark": "spark"}


def capabilities(name: str) -> Capabilities:
    if name not in CAPABILITIES:
        raise NotSupportedYet(
            f"engine '{name}' is not supported yet in this version",
            hint="use `engine: duckdb` (the default); "
            f'the {name} engine will need `pip install "lakestory[{_EXTRAS.get(name, name)}]"`',
        )
    return CAPABILITIES[name]


def create_engine(name: str, **options: Any) -> Engine:
    capabilities(name)
    module, _, attr = _IMPLEMENTATIONS[name].partition(":")
    engine: Engine = getattr(importlib.import_module(module), attr)(**options)
    return engine
