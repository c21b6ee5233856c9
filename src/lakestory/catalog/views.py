"""Reading the append-only rows: the latest row per run or key, ledgers, schema changes.

Selection happens on Arrow tables, and only the rows a caller asked for become Python
objects: a catalog keeps every row it was ever given, and converting all of them on every
read would make each run slower than the last.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakestory.catalog.tables import JSON_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

Row = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POS = "__position"


def rows(table: pa.Table) -> list[Row]:
    """The table's rows as dicts, with their JSON columns parsed."""
    out = table.to_pylist()
    for row in out:
        for name in JSON_COLUMNS.intersection(row):
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
    return out


def ordered(table: pa.Table, *keys: tuple[str, str]) -> pa.Table:
    """``table`` sorted by ``(column, "ascending"|"descending")`` keys; nulls sort as the
    smallest value, and equal rows keep their order (the order they were written in)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    probe = pa.table(
        {
            **{name: _filled(table[name]) for name, _order in keys},
            _POS: pa.array(range(table.num_rows), pa.int64()),
        }
    )
    return table.take(pc.sort_indices(probe, sort_keys=[*keys, (_POS, "ascending")]))


def _filled(column: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count == 0:
        return column
    if pa.types.is_timestamp(column.type):
        return pc.fill_null(column, pa.scalar(EPOCH, column.type))
    return pc.fill_null(column, pa.scalar("" if pa.types.is_string(column.type) else 0))


def take(table: pa.Table, indices: Sequence[int]) -> pa.Table:
    import pyarrow as pa

    return table.take(pa.array(indices, pa.int64()))


def latest(table: pa.Table, key: str, *order: tuple[str, str]) -> pa.Table:
    """The last row of each ``key`` when ordered by ``order`` (then by write order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table
    table = ordered(table, (key, "ascending"), *order)
    keys = _filled(table[key])
    n = table.num_rows
    last = pc.not_equal(keys.slice(0, n - 1), keys.slice(1)).combine_chunks()
    return table.filter(pa.concat_arrays([last, pa.array([True])]))


@dataclass(frozen=True)
class Not:
    """A value a column must not have, for :func:`where`."""

    value: str


def where(table: pa.Table, **values: str | Not | None) -> pa.Table:
    """Rows whose columns equal (or, with ``Not``, differ from) the values; None: any."""
    import pyarrow.compute as pc

    for name, value in values.items():
        if isinstance(value, Not):
            table = table.filter(pc.not_equal(table[name], value.value))
        elif value is not None:
            table = table.filter(pc.equal(table[name], value))
    return table


def naming(table: pa.Table, node: str) -> pa.Table:
    """Rows of the node ``node`` names: as ``pipeline.node`` or as the bare node name."""
    import pyarrow.compute as pc

    return table.filter(pc.or_kleene(pc.equal(table["key"], node), pc.equal(table["node"], node)))


def runs(table: pa.Table) -> pa.Table:
    """One row per run, newest first: its end row, else its start row."""
    last = latest(table, "run_id", ("event", "descending"))  # "end" sorts after "start"
    return ordered(last, ("started_at", "descending"))


def shown_status(run: Mapping[str, Any], host: str | None = None) -> str:
    """A run's status as shown: a run with only its start row is "incomplete" (still
    running, or died), or "crashed" when it ran on this host and its process is gone."""
    if run["event"] == "end":
        return str(run["status"])
    here = run.get("host") == (host or socket.gethostname())
    return "crashed" if here and not _alive(run.get("pid")) else "incomplete"


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours (PermissionError), or cannot tell: assume alive
        return True
    return True


def resets(state: pa.Table) -> dict[str, datetime]:
    """The time of the latest reset of each key."""
    done = latest(where(state, kind="reset"), "key", ("updated_at", "ascending"))
    return {r["key"]: r["updated_at"] for r in done.select(["key", "updated_at"]).to_pylist()}


def ledgers(files: pa.Table, reset_at: Mapping[str, datetime]) -> dict[str, set[str]]:
    """The files of each key ingested after its latest reset."""
    out: dict[str, set[str]] = {}
    for row in files.select(["key", "file", "ingested_at"]).to_pylist():
        reset = reset_at.get(row["key"])
        if reset is None or (row["ingested_at"] or EPOCH) > reset:
            out.setdefault(row["key"], set()).add(row["file"])
    return out


def schema_change(old: Sequence[Mapping[str, str]] | None, new: Sequence[Mapping[str, str]]) -> str:
    """What changed between two column lists, e.g. ``added amount_eur; dropped note;
    qty: int → bigint``; empty when nothing did."""
    if old is None:
        return f"created with {len(new)} column" + ("" if len(new) == 1 else "s")
    before = {c["name"]: c["type"] for c in old}
    after = {c["name"]: c["type"] for c in new}
    parts = []
    added = [n for n in after if n not in before]
    dropped = [n for n in before if n not in after]
    if added:
        parts.append("added " + ", ".join(added))
    if dropped:
        parts.append("dropped " + ", ".join(dropped))
    parts += [f"{n}: {before[n]} → {t}" for n, t in after.items() if n in before and before[n] != t]
    if not parts and list(before) != list(after):
        parts.append("reordered columns")
    return "; ".join(parts)


def same_columns(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]) -> bool:
    return [(c["name"], c["type"]) for c in a] == [(c["name"], c["type"]) for c in b]
