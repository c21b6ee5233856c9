"""Check that two gold outputs hold the same rows (floats within a relative tolerance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
from deltalake import DeltaTable

FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
REL_TOL = 1e-9


@dataclass(frozen=True)
class TableSpec:
    """A gold output: where it lives under ``gold/``, its format and its key columns."""

    name: str
    fmt: str  # "delta" or "parquet"
    keys: tuple[str, ...]


GOLD = (
    TableSpec("customer_metrics", "delta", ("customer_id",)),
    TableSpec("monthly_revenue", "parquet", ("order_year", "order_month")),
)


@dataclass(frozen=True)
class Diff:
    table: str
    problems: list[str]

    @property
    def equal(self) -> bool:
        return not self.problems


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _open(con: duckdb.DuckDBPyConnection, view: str, path: Path, fmt: str) -> None:
    if fmt == "delta":
        con.register(view, DeltaTable(str(path)).to_pyarrow_dataset())
    else:
        glob = str(path / "**" / "*.parquet")
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet('{glob}')")


def _schema(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple[str, str]]:
    rel = con.table(view)
    return [(c, str(t)) for c, t in zip(rel.columns, rel.types, strict=True)]


def _differs(col: str, typ: str) -> str:
    a, b = f"a.{_q(col)}", f"b.{_q(col)}"
    if typ in FLOAT_TYPES:
        return (
            f"(({a} IS NULL) <> ({b} IS NULL) OR "
            f"abs({a} - {b}) > {REL_TOL} * greatest(1, abs({a}), abs({b})))"
        )
    return f"{a} IS DISTINCT FROM {b}"


def _mismatches(
    con: duckdb.DuckDBPyConnection, schema: Sequence[tuple[str, str]], keys: Sequence[str]
) -> int:
    on = " AND ".join(f"a.{_q(k)} IS NOT DISTINCT FROM b.{_q(k)}" for k in keys)
    missing = " OR ".join(f"a.{_q(k)} IS NULL OR b.{_q(k)} IS NULL" for k in keys)
    differs = " OR ".join(_differs(c, t) for c, t in schema if c not in keys)
    sql = (
        f"SELECT count(*) FROM lhs a FULL OUTER JOIN rhs b ON {on} "
        f"WHERE ({missing}) OR {differs or 'false'}"
    )
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def compare_table(spec: TableSpec, left: Path, right: Path) -> Diff:
    """Compare ``left/gold/<name>`` with ``right/gold/<name>``."""
    con = duckdb.connect()
    try:
        _open(con, "lhs", left / "gold" / spec.name, spec.fmt)
        _open(con, "rhs", right / "gold" / spec.name, spec.fmt)
        problems = []
        schema_a, schema_b = _schema(con, "lhs"), _schema(con, "rhs")
        if schema_a != schema_b:
            problems.append(f"schemas differ: {schema_a} vs {schema_b}")
        counts = [con.execute(f"SELECT count(*) FROM {v}").fetchone() for v in ("lhs", "rhs")]
        if counts[0] != counts[1]:
            problems.append(f"row counts differ: {counts[0]} vs {counts[1]}")
        dupes = con.execute(
            f"SELECT count(*) - count(DISTINCT ({', '.join(spec.keys)})) FROM lhs"
        ).fetchone()
        if dupes and dupes[0]:
            problems.append(f"key {spec.keys} is not unique on the left: {dupes[0]} duplicates")
        if not problems:
            bad = _mismatches(con, schema_a, spec.keys)
            if bad:
                problems.append(f"{bad} rows differ (or are missing on one side)")
        return Diff(spec.name, problems)
    finally:
        con.close()


def compare_gold(left: Path, right: Path) -> list[Diff]:
    return [compare_table(spec, left, right) for spec in GOLD]
