"""Python steps of the demo project.

A function step receives the node's current data and its `params`: a DuckDB relation on the
duckdb engine, a pandas or polars DataFrame on those engines, a Spark DataFrame on spark.
`arrow(df)` turns any of them into a pyarrow Table, so these steps run on every engine.
Return a relation, a pyarrow Table, or a pandas/polars/Spark frame.
"""

import pyarrow as pa
import pyarrow.compute as pc


def arrow(df):
    """The data as a pyarrow Table. `pa.table(df)` takes every engine's frame, but pyspark
    4.3's Arrow export fails on TIMESTAMP columns, so a Spark DataFrame uses `toArrow()`."""
    return df.toArrow() if hasattr(df, "toArrow") else pa.table(df)


def add_age_band(df, bands):
    """Add `age_band`: young below bands[0], middle below bands[1], senior otherwise."""
    table = arrow(df)
    age = table["age"]
    band = pc.if_else(
        pc.less(age, bands[0]), "young", pc.if_else(pc.less(age, bands[1]), "middle", "senior")
    )
    return table.append_column("age_band", band)
