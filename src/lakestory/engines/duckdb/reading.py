"""Reading sources into DuckDB: strict CSV (every row accounted for), JSON, Parquet, Delta."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb

from lakestory.engines.duckdb import errors
from lakestory.engines.files import (
    PATTERNS,
    csv_layout,
    first_passing,
    infer_types,
    input_files,
)
from lakestory.io import delta
from lakestory.io.specs import Source


def run(cur: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    """Execute one statement and consume its whole result (DuckDB requires it)."""
    rows: list[Any] = cur.execute(sql).fetchall()
    return rows


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: Any) -> str:
    """A SQL literal for a string, number, bool or list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def read_csv(
    cur: duckdb.DuckDBPyConnection, source: Source, table: str, declared: dict[str, str]
) -> int:
    """Materialise CSV files strictly into ``table``; types from ``declared`` or inferred."""
    layout = csv_layout(source, declared)
    files, dialect, header, names = layout.files, layout.dialect, layout.header, layout.names
    opts = source.options
    columns = "{" + ", ".join(f"{lit(n)}: {lit(declared.get(n, 'VARCHAR'))}" for n in names) + "}"
    args = [
        lit(files),
        f"header={lit(header)}",
        f"delim={lit(dialect.delimiter)}",
        f"quote={lit(dialect.quote)}",
        f"escape={lit(dialect.escape)}",
        f"encoding={lit(dialect.encoding)}",
        "strict_mode=true",
        "auto_detect=false",
        f"columns={columns}",
        "filename=false",
    ]
    for key, arg in (
        ("null_value", "nullstr"),
        ("skip_rows", "skip"),
        ("date_format", "dateformat"),
        ("timestamp_format", "timestampformat"),
        ("comment", "comment"),
    ):
        if key in opts:
            args.append(f"{arg}={lit(opts[key])}")
    raw = table + "__raw"
    try:
        run(cur, f"CREATE TABLE {q(raw)} AS SELECT * FROM read_csv({', '.join(args)})")
    except duckdb.Error as exc:
        raise errors.csv_error(exc, files, dialect, names, source.column_types) from None
    try:
        infer = [n for n in names if n not in declared] if opts.get("infer_schema", True) else []
        types = _infer_types(cur, raw, infer)
        select = ", ".join(
            f"CAST({q(n)} AS {types[n]}) AS {q(n)}" if n in types else q(n) for n in names
        )
        return int(run(cur, f"CREATE TABLE {q(table)} AS SELECT {select} FROM {q(raw)}")[0][0])
    finally:
        run(cur, f"DROP TABLE IF EXISTS {q(raw)}")


def _infer_types(cur: duckdb.DuckDBPyConnection, table: str, names: list[str]) -> dict[str, str]:
    """The narrowest type every non-null value of each column parses as (all rows)."""

    def evaluate(
        plans: Mapping[str, list[str]], limit: int | None
    ) -> dict[str, tuple[str | None, bool]]:
        checks = []
        for n, plan in plans.items():
            for typ in plan:
                cond = (
                    f"regexp_full_match(trim({q(n)}), {lit(PATTERNS[typ])})"
                    f" AND TRY_CAST(trim({q(n)}) AS {typ}) IS NOT NULL"
                )
                checks.append(f"bool_and({q(n)} IS NULL OR ({cond}))")
            checks.append(f"count({q(n)}) > 0")
        source = q(table) if limit is None else f"(SELECT * FROM {q(table)} LIMIT {limit})"
        row = run(cur, f"SELECT {', '.join(checks)} FROM {source}")[0]
        return first_passing(plans, list(row))

    return {n: t for n, t in infer_types(names, evaluate).items() if t != "VARCHAR"}


def read_json(cur: duckdb.DuckDBPyConnection, source: Source, table: str) -> int:
    files = input_files(source)
    args = [lit(files), "format='newline_delimited'", "sample_size=-1"]
    for key, arg in (("date_format", "dateformat"), ("timestamp_format", "timestampformat")):
        if key in source.options:
            args.append(f"{arg}={lit(source.options[key])}")
    try:
        created = run(cur, f"CREATE TABLE {q(table)} AS SELECT * FROM read_json({', '.join(args)})")
    except duckdb.Error as exc:
        raise errors.data_error(exc, "cannot read JSON lines", files) from None
    return int(created[0][0])


def read_parquet(cur: duckdb.DuckDBPyConnection, source: Source, view: str) -> int:
    files = input_files(source)
    try:
        run(
            cur,
            f"CREATE TEMP VIEW {q(view)} AS SELECT * FROM read_parquet({lit(files)}, "
            "hive_partitioning=true, union_by_name=true)",
        )
        row = run(cur, f"SELECT sum(num_rows) FROM parquet_file_metadata({lit(files)})")[0]
    except duckdb.Error as exc:
        raise errors.data_error(exc, "cannot read Parquet", files) from None
    return int(row[0] or 0) if row else 0


def read_delta(source: Source) -> tuple[Any, int]:
    """The table (at ``source.version`` or ``source.timestamp``) as a pyarrow dataset, and
    its row count."""
    table = delta.open_table(
        source.location.uri, source.location.display(), source.version, source.timestamp
    )
    dataset = table.to_pyarrow_dataset()
    return dataset, int(dataset.count_rows())
