"""Reading sources into DuckDB: strict CSV (every row accounted for), JSON, Parquet, Delta."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import duckdb

from lakestory.engines.duckdb import errors
from lakestory.engines.files import (
    CANDIDATES,
    PATTERNS,
    SAMPLE_ROWS,
    CsvLayout,
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
    files, dialect, names = layout.files, layout.dialect, layout.names
    opts = source.options
    infer = [n for n in names if n not in declared] if opts.get("infer_schema", True) else []
    reader = _reader(source, layout, declared)

    def reading(sql: str) -> list[Any]:
        """A statement that reads the files: its CSV errors name the file and line."""
        try:
            return run(cur, sql)
        except duckdb.Error as exc:
            raise errors.csv_error(exc, files, dialect, names, source.column_types) from None

    if not infer:
        return int(reading(f"CREATE TABLE {q(table)} AS SELECT * FROM {reader}")[0][0])
    rows = _read_typed(cur, reader, table, names, infer, reading)
    if rows is not None:
        return rows
    return _read_text_then_cast(cur, reader, table, names, infer, reading)


def _reader(source: Source, layout: CsvLayout, declared: Mapping[str, str]) -> str:
    """DuckDB's strict ``read_csv`` of the source: declared columns typed, others text."""
    dialect, opts = layout.dialect, source.options
    columns = ", ".join(f"{lit(n)}: {lit(declared.get(n, 'VARCHAR'))}" for n in layout.names)
    args = [
        lit(layout.files),
        f"header={lit(layout.header)}",
        f"delim={lit(dialect.delimiter)}",
        f"quote={lit(dialect.quote)}",
        f"escape={lit(dialect.escape)}",
        f"encoding={lit(dialect.encoding)}",
        "strict_mode=true",
        "auto_detect=false",
        f"columns={{{columns}}}",
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
    return f"read_csv({', '.join(args)})"


def _read_typed(
    cur: duckdb.DuckDBPyConnection,
    reader: str,
    table: str,
    names: list[str],
    infer: list[str],
    reading: Callable[[str], list[Any]],
) -> int | None:
    """The usual case in one pass over the files: the rule's candidates are tried on the
    first rows; then each column's answer there is checked over all rows *while* the typed
    table is created. None (and no table) when a later value breaks an answer.

    The check is the rule's without ``trim``: a value matching a candidate's pattern has no
    space at either end (no pattern starts or ends with one), so ``trim`` changes nothing
    for it; a padded value fails here, and the rows are read again by the exact passes of
    :func:`_read_text_then_cast`. Columns without a value in the first rows stay text in
    the table and get the rule over all rows there, as before."""
    sample = f"(SELECT * FROM {reader} LIMIT {SAMPLE_ROWS})"
    order = [t for t, _ in CANDIDATES]
    sampled = _evaluate(cur, sample, {n: order for n in infer}, reading)
    guess = {n: first for n, (first, _) in sampled.items() if first is not None}
    unseen = [n for n, (_, seen) in sampled.items() if not seen]
    flag = _flag_prefix(names)
    select = [f"TRY_CAST({q(n)} AS {guess[n]}) AS {q(n)}" if n in guess else q(n) for n in names]
    flags = {n: q(f"{flag}{i}") for i, n in enumerate(guess)}
    select += [
        f"{q(n)} IS NULL OR (TRY_CAST({q(n)} AS {t}) IS NOT NULL AND {_matches(q(n), t)})"
        f" AS {flags[n]}"
        for n, t in guess.items()
    ]
    created = reading(f"CREATE TABLE {q(table)} AS SELECT {', '.join(select)} FROM {reader}")
    rows = int(created[0][0])
    try:
        if flags:
            held = run(cur, f"SELECT {', '.join(f'bool_and({f})' for f in flags.values())} "
                       f"FROM {q(table)}")[0]  # fmt: skip
            if any(ok is False for ok in held):
                run(cur, f"DROP TABLE {q(table)}")
                return None
            for f in flags.values():
                run(cur, f"ALTER TABLE {q(table)} DROP COLUMN {f}")
        for n, t in _infer_types(cur, table, unseen).items():
            run(
                cur,
                f"ALTER TABLE {q(table)} ALTER COLUMN {q(n)} SET DATA TYPE {t} "
                f"USING {_cast(q(n), t)}",
            )
    except BaseException:
        run(cur, f"DROP TABLE IF EXISTS {q(table)}")
        raise
    return rows


# Types whose value, written back as text by DuckDB, matches the type's pattern when it has
# this length (any length: None): then a value equal to that text matches the pattern, and
# the regex (the check's dearest part) runs only on the other values. An integer's text is
# ``-?[0-9]+``; a date's, at 10 characters, ``YYYY-MM-DD`` (not "infinity", a year past
# 9999 or before 1000, or a BC date, which are longer or shorter).
_CANONICAL = {"INTEGER": None, "BIGINT": None, "DATE": 10}


def _matches(col: str, typ: str) -> str:
    """SQL: the text ``col`` (a cast to ``typ`` succeeded) matches ``typ``'s pattern."""
    regex = f"regexp_full_match({col}, {lit(PATTERNS[typ])})"
    if typ not in _CANONICAL:
        return regex
    same = f"CAST(TRY_CAST({col} AS {typ}) AS VARCHAR) = {col}"
    if (length := _CANONICAL[typ]) is not None:
        same = f"length({col}) = {length} AND {same}"
    return f"CASE WHEN {same} THEN true ELSE {regex} END"


def _flag_prefix(names: list[str]) -> str:
    """A prefix for the typed pass's check columns that no column of the file starts with."""
    prefix = "__lakestory_ok_"
    while any(n.startswith(prefix) for n in names):
        prefix = "_" + prefix
    return prefix


def _read_text_then_cast(
    cur: duckdb.DuckDBPyConnection,
    reader: str,
    table: str,
    names: list[str],
    infer: list[str],
    reading: Callable[[str], list[Any]],
) -> int:
    """Every column as text into a raw table, the rule over it, then a typed copy."""
    raw = table + "__raw"
    reading(f"CREATE TABLE {q(raw)} AS SELECT * FROM {reader}")
    try:
        types = _infer_types(cur, raw, infer)
        select = ", ".join(
            f"{_cast(q(n), types[n])} AS {q(n)}" if n in types else q(n) for n in names
        )
        return int(run(cur, f"CREATE TABLE {q(table)} AS SELECT {select} FROM {q(raw)}")[0][0])
    finally:
        run(cur, f"DROP TABLE IF EXISTS {q(raw)}")


def _cast(col: str, typ: str) -> str:
    """SQL: the text ``col`` (it passed ``typ``'s check, which trims) as ``typ``. DuckDB's
    casts ignore the spaces around numbers, dates and timestamps, not around booleans."""
    return f"CAST(trim({col}) AS {typ})" if typ == "BOOLEAN" else f"CAST({col} AS {typ})"


def _evaluate(
    cur: duckdb.DuckDBPyConnection,
    source: str,
    plans: Mapping[str, list[str]],
    execute: Callable[[str], list[Any]] | None = None,
) -> dict[str, tuple[str | None, bool]]:
    """Per column of ``plans``: the first of its candidates every non-null value of
    ``source`` (a table or a subquery) passes, and whether it holds a non-null value."""
    checks = []
    for n, plan in plans.items():
        for typ in plan:
            cond = (
                f"regexp_full_match(trim({q(n)}), {lit(PATTERNS[typ])})"
                f" AND TRY_CAST(trim({q(n)}) AS {typ}) IS NOT NULL"
            )
            checks.append(f"bool_and({q(n)} IS NULL OR ({cond}))")
        checks.append(f"count({q(n)}) > 0")
    if not plans:
        return {}
    row = (execute or (lambda sql: run(cur, sql)))(f"SELECT {', '.join(checks)} FROM {source}")[0]
    return first_passing(plans, list(row))


def _infer_types(cur: duckdb.DuckDBPyConnection, table: str, names: list[str]) -> dict[str, str]:
    """The narrowest type every non-null value of each column parses as (all rows)."""

    def evaluate(
        plans: Mapping[str, list[str]], limit: int | None
    ) -> dict[str, tuple[str | None, bool]]:
        source = q(table) if limit is None else f"(SELECT * FROM {q(table)} LIMIT {limit})"
        return _evaluate(cur, source, plans)

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
