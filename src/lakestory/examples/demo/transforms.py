"""Python steps of the demo project.

A function step receives the node's current data and its `params`. On the DuckDB engine the
data is a `duckdb.DuckDBPyRelation`; `pyarrow.table(df)` turns it (or any Arrow-compatible
frame) into a pyarrow Table. Return a relation, a pyarrow Table, or a pandas/polars frame.
"""

import pyarrow as pa
import pyarrow.compute as pc


def add_age_band(df, bands):
    """Add `age_band`: young below bands[0], middle below bands[1], senior otherwise."""
    table = pa.table(df)
    age = table["age"]
    band = pc.if_else(
        pc.less(age, bands[0]), "young", pc.if_else(pc.less(age, bands[1]), "middle", "senior")
    )
    return table.append_column("age_band", band)
