"""Engines run the data work. One narrow protocol (:mod:`lakestory.engines.base`), one
implementation per engine, each imported lazily so its library is loaded only when used."""

from __future__ import annotations

import importlib
from typing import Any

from lakestory.core.errors import NotSupportedYet
from lakestory.engines.base import Capabilities, Engine

_ENGINES: dict[str, str] = {
    "duckdb": "lakestory.engines.duckdb.engine:DuckDBEngine",
}

_EXTRAS = {"polars": "polars", "pandas": "pandas", "spark": "spark"}


def capabilities(name: str) -> Capabilities:
    return _engine_class(name).capabilities


def create_engine(name: str, **options: Any) -> Engine:
    engine: Engine = _engine_class(name)(**options)
    return engine


def _engine_class(name: str) -> Any:
    if name not in _ENGINES:
        raise NotSupportedYet(
            f"engine '{name}' is not supported yet in this version",
            hint="use `engine: duckdb` (the default); "
            f"the {name} engine will need `pip install \"lakestory[{_EXTRAS.get(name, name)}]\"`",
        )
    module, _, attr = _ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)
