"""The upsert benchmark's data: a base Delta table, batches to upsert, and row checksums.

Values are the same integer hash of (row number, salt, seed) that ``datagen.py`` uses, so a
(rows, files, seed) always gives the same table. A batch of share ``p`` % holds
``rows * p / 100`` rows: half of them existing keys whose every value changes (the batch is
generated with another seed and its timestamps are a year later), half new keys above
``rows``. Updated keys are evenly ``spread`` over the table, or the ``recent`` (highest) ones.

``upsert.py`` runs this file as a child process (``prepare``, ``checksum``, ``expected``),
never in its own process: DuckDB and Arrow would grow the measuring process, and a child's
peak RSS on Linux starts at its parent's (see ``measure.run_measured``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable, write_deltalake

import datagen

UPDATES = ("spread", "recent")
KEY = "id"
CATEGORIES = ["books", "food", "games", "garden", "music", "sports", "tools", "toys"]
MARKER = "base.json"

_ROWS = """
SELECT i AS id,
       'customer ' || lpad(CAST(rnd(i, 1, {seed}) % 1000000 AS VARCHAR), 6, '0') AS name,
       {categories}[1 + rnd(i, 2, {seed}) % {n_categories}] AS category,
       round(u01(i, 3, {seed}) * 1000, 2) AS amount,
       CAST(rnd(i, 4, {seed}) % 100 AS INTEGER) AS quantity,
       TIMESTAMPTZ '{year}-01-01 00:00:00+00'
           + to_seconds(CAST(rnd(i, 5, {seed}) % 31536000 AS BIGINT)) AS updated_at
FROM ({ids}) AS k(i)
ORDER BY i
"""


def batch_path(root: Path, share: float, updates: str) -> Path:
    return root / "batches" / f"b{share:g}_{updates}.parquet"


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(datagen._MACROS)
    con.execute("SET TimeZone = 'UTC'")
    return con


def rows_sql(ids: str, seed: int, year: int) -> str:
    """The rows of the keys that ``ids`` (a one-column query) returns."""
    return _ROWS.format(
        ids=ids,
        seed=seed,
        year=year,
        categories="[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]",
        n_categories=len(CATEGORIES),
    )


def ensure_base(root: Path, rows: int, files: int, seed: int) -> float | None:
    """Write ``root/base`` (one commit, one file, per ``rows / files`` keys, in key order)
    unless it is there; returns seconds, None if cached."""
    key = {"rows": rows, "files": files, "seed": seed}
    marker = root / MARKER
    if marker.exists() and json.loads(marker.read_text()) == key:
        return None
    start = time.perf_counter()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    con = connect()
    try:
        step = -(-rows // files)
        for lo in range(0, rows, step):
            ids = f"SELECT i FROM range({lo + 1}, {min(lo + step, rows) + 1}) t(i)"
            data = con.sql(rows_sql(ids, seed, 2024)).to_arrow_table()
            write_deltalake(str(root / "base"), data, mode="append")
    finally:
        con.close()
    marker.write_text(json.dumps(key))
    return time.perf_counter() - start


def batch_ids(rows: int, share: float, updates: str) -> str:
    """The batch's keys: half of them existing ones, the rest (± 1) new ones."""
    size = round(rows * share / 100)
    updated = size // 2
    if updates == "spread":
        old = f"SELECT 1 + (j * {rows}) // {updated} FROM range({updated}) t(j)"
    else:
        old = f"SELECT {rows - updated + 1} + j FROM range({updated}) t(j)"
    new = f"SELECT {rows + 1} + j FROM range({size - updated}) t(j)"
    return f"{old} UNION ALL {new}"


def ensure_batch(root: Path, rows: int, seed: int, share: float, updates: str) -> Path:
    path = batch_path(root, share, updates)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect()
    try:
        query = rows_sql(batch_ids(rows, share, updates), seed + 1, 2025)
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
    finally:
        con.close()
    return path


def _checksum(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, Any]:
    """Schema, row count, distinct keys and the sum of a hash of every row."""
    rel = con.table(view)
    cols = ", ".join(f'"{c}"' for c in rel.columns)
    row = con.execute(
        f'SELECT count(*), count(DISTINCT "{KEY}"), sum(hash({cols})::HUGEINT) FROM {view}'
    ).fetchone()
    assert row is not None
    return {
        "schema": [[c, str(t)] for c, t in zip(rel.columns, rel.types, strict=True)],
        "rows": int(row[0]),
        "keys": int(row[1]),
        "row_hash": str(row[2] or 0),
    }


def last_commit(table: Path) -> dict[str, Any]:
    """The operation of the table's newest commit, and the files it removed and added."""
    entry = DeltaTable(str(table)).history(1)[0]
    metrics = entry.get("operationMetrics") or {}

    def pick(*names: str) -> int | None:
        found = [metrics[n] for n in names if metrics.get(n) is not None]
        return int(found[0]) if found else None

    return {
        "operation": str(entry.get("operation")),
        "files_removed": pick("num_target_files_removed", "num_removed_files"),
        "files_added": pick("num_target_files_added", "num_added_files"),
    }


def checksum_delta(table: Path) -> dict[str, Any]:
    con = connect()
    try:
        con.register("t", DeltaTable(str(table)).to_pyarrow_dataset())
        return _checksum(con, "t")
    finally:
        con.close()


def expected_checksum(base: Path, batch: Path) -> dict[str, Any]:
    """The checksum of the right answer: base rows whose keys are not in the batch + batch."""
    con = connect()
    try:
        con.register("base", DeltaTable(str(base)).to_pyarrow_dataset())
        con.execute(f"CREATE VIEW batch AS SELECT * FROM read_parquet('{batch}')")
        con.execute(
            f"CREATE VIEW expected AS SELECT b.* FROM base b ANTI JOIN batch s "
            f'ON b."{KEY}" = s."{KEY}" UNION ALL SELECT * FROM batch'
        )
        return _checksum(con, "expected")
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    """``prepare``, ``checksum`` or ``expected``; prints one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["prepare", "checksum", "expected"])
    parser.add_argument("--root", type=Path, required=True, help="the scale's folder")
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--files", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shares", type=float, nargs="*", default=[])
    parser.add_argument("--updates", choices=UPDATES, default="spread")
    parser.add_argument("--table", type=Path, help="checksum: the Delta table")
    args = parser.parse_args(argv)
    out: dict[str, Any]
    if args.what == "prepare":
        took = ensure_base(args.root, args.rows, args.files, args.seed)
        for share in args.shares:
            ensure_batch(args.root, args.rows, args.seed, share, args.updates)
        out = {"seconds": took}
    elif args.what == "checksum":
        out = {**checksum_delta(args.table), **last_commit(args.table)}
    else:
        (share,) = args.shares
        batch = batch_path(args.root, share, args.updates)
        out = expected_checksum(args.root / "base", batch)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
