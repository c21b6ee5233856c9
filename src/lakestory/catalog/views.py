"""Reading the append-only rows: the latest row per run or key, ledgers, schema changes.

Pure functions over decoded rows (dicts), so the rules are easy to see and to test.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lakestory.catalog.tables import JSON_COLUMNS

Row = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decode(rows: Iterable[Row]) -> list[Row]:
    """Rows as read, with their JSON columns parsed."""
    out = []
    for row in rows:
        for name in JSON_COLUMNS.intersection(row):
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        out.append(row)
    return out


def _time(row: Row, *names: str) -> datetime:
    for name in names:
        if row.get(name) is not None:
            value: datetime = row[name]
            return value
    return EPOCH


def latest_by(rows: Iterable[Row], key: str, *order: str) -> dict[str, Row]:
    """The latest row per ``key`` by the first non-null of the ``order`` columns; among
    equal times, the later row (rows of one commit are read in the order written)."""
    latest: dict[str, Row] = {}
    for row in rows:
        k = row.get(key)
        if k is None:
            continue
        seen = latest.get(k)
        if seen is None or _time(row, *order) >= _time(seen, *order):
            latest[k] = row
    return latest


def runs(rows: Iterable[Row], host: str | None = None) -> list[Row]:
    """One row per run, newest first: its end row, else its start row with the status
    "incomplete" (or "crashed", when it ran on this host and its process is gone)."""
    host = host or socket.gethostname()
    latest: dict[str, Row] = {}
    for row in rows:
        seen = latest.get(row["run_id"])
        if seen is None or (row["event"] == "end" and seen["event"] != "end"):
            latest[row["run_id"]] = row
    out = []
    for row in latest.values():
        row = dict(row)
        if row["event"] != "end":
            dead = row.get("host") == host and not _alive(row.get("pid"))
            row["status"] = "crashed" if dead else "incomplete"
        out.append(row)
    return sorted(out, key=lambda r: _time(r, "started_at"), reverse=True)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # e.g. not supported on this platform: cannot tell
        return True
    return True


def matches_node(row: Row, node: str) -> bool:
    """``node`` names this row's node: as ``pipeline.node`` or as the bare node name."""
    return node in (row.get("key"), row.get("node"))


def resets(state_rows: Iterable[Row]) -> dict[str, datetime]:
    """The time of the latest reset of each key."""
    latest = latest_by((r for r in state_rows if r["kind"] == "reset"), "key", "updated_at")
    return {k: r["updated_at"] for k, r in latest.items()}


def ledgers(file_rows: Iterable[Row], reset_at: Mapping[str, datetime]) -> dict[str, set[str]]:
    """The files of each key ingested after its latest reset."""
    out: dict[str, set[str]] = {}
    for row in file_rows:
        reset = reset_at.get(row["key"])
        if reset is None or _time(row, "ingested_at") > reset:
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
