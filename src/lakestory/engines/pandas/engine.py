"""The pandas engine: DuckDB's engine, with Python steps that receive and return
``pandas.DataFrame``.

SQL steps, reads, writes and checks run in DuckDB, exactly as on the duckdb engine, so the
same YAML gives the same tables. A Python step gets its input as a DataFrame whose columns
are Arrow-backed (``pd.ArrowDtype``): types survive the trip (nullable integers stay
integers, decimals stay decimals, time zones are kept) and the conversion shares Arrow's
buffers instead of copying into NumPy. The DataFrame it returns is scanned by DuckDB in
place.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from lakestory.engines import CAPABILITIES
from lakestory.engines.base import Capabilities
from lakestory.engines.duckdb.engine import DuckDBEngine, DuckFrame


class PandasEngine(DuckDBEngine):
    capabilities: ClassVar[Capabilities] = CAPABILITIES["pandas"]

    def native(self, frame: DuckFrame) -> Any:
        table = super().native(frame).to_arrow_table()
        return table.to_pandas(types_mapper=pd.ArrowDtype)
