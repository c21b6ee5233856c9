"""Incremental reads: what a node reads this run, and the state it commits with its data.

The state of a node (a high-water mark, or the ledger of files ingested) is committed in the
metadata of the same Delta commit as the data it covers; the system catalog keeps a copy
for fast lookup and display. At the start of a run the catalog's copy is brought up to date
from the target's log (a crash between the data commit and the catalog commit loses
nothing), so the mark advances only together with the data: a run killed at any point
leaves the next one to read exactly the rows not yet committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from lakestory.catalog import Catalog, NodeState
from lakestory.config.models import IncrementalConfig
from lakestory.core.errors import DataError, Where
from lakestory.io import databases, delta, paths
from lakestory.io.specs import Source
from lakestory.writes import spark


@dataclass
class RunContext:
    """What every node of a run shares: its identity, and the state it starts from."""

    run_id: str
    project: str
    started: datetime
    full_refresh: frozenset[str] = frozenset()  # node keys rebuilt from scratch
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> state
    ledgers: dict[str, set[str]] = field(default_factory=dict)  # key -> files ingested
    as_of: datetime | None = None  # the clock checks judge against (--as-of); default: started
    # rows checked in a node's last successful runs, newest first (volume_drop tests)
    history: Callable[[str, int], list[int]] | None = None
    max_sample_rows: int = 10  # rows of each node's output kept in its record; 0: none

    @property
    def clock(self) -> datetime:
        return self.as_of or self.started

    def commit_metadata(self, key: str, **extra: Any) -> dict[str, Any]:
        return {"project": self.project, "key": key, "run_id": self.run_id, **extra}


@dataclass
class Increment:
    """This run's slice of an incremental source."""

    source: Source | None  # None: nothing new to read
    note: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # new ledger entries
    replace_where: str | None = None  # window mode + overwrite: the target rows replaced


def load_states(
    catalog: Catalog | None, project: str, nodes: Mapping[str, tuple[str | None, str]]
) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """The current state and file ledger of each incremental node (``key -> (target uri,
    mode)``): the catalog's copy, brought up to date from the target's commit log."""
    states: dict[str, dict[str, Any]] = {}
    ledgers: dict[str, set[str]] = {}
    if not nodes:
        return states, ledgers
    known: dict[str, NodeState] = catalog.states() if catalog else {}
    resets = catalog.resets() if catalog else {}
    for key, (uri, mode) in nodes.items():
        st = known.get(key)
        if st is not None:
            states[key] = dict(st.value)
        ledger = catalog.ledger(key) if catalog and mode == "files" else set()
        if uri is None:
            ledgers[key] = ledger
            continue
        after = st.table_version if st is not None and st.table_uri == uri else None
        reset = resets.get(key)
        for _version, meta in delta.lakestory_commits(uri, after):
            if meta.get("project") != project or meta.get("key") != key:
                continue
            at = _at(meta)
            if reset is not None and at is not None and at <= reset:
                continue  # state reset by hand after this commit
            if meta.get("state") is not None:
                states[key] = meta["state"]
            if meta.get("full_refresh"):
                ledger = set()
            ledger |= set(meta.get("files", ()))
        ledgers[key] = ledger
    return states, ledgers


def _at(meta: Mapping[str, Any]) -> datetime | None:
    raw = meta.get("at")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def plan_read(
    source: Source,
    inc: IncrementalConfig,
    key: str,
    ctx: RunContext,
    dialect: str,
    where: Where,
) -> Increment:
    """The source to read this run (filtered, or limited to new files). A database source's
    filter stays in Spark SQL: the database layer writes it in the database's dialect and
    runs it there."""
    if databases.is_database(source.location):
        dialect = "spark"
    rebuild = key in ctx.full_refresh
    if inc.mode == "files":
        ledger = set() if rebuild else ctx.ledgers.get(key, set())
        every = paths.input_files(source.location.uri, source.format)
        entries = [
            {"file": f.name, "size": f.size, "mtime": f.mtime, "path": f.path}
            for f in every
            if f.name not in ledger
        ]
        if not entries:
            note = "no new files since the last run" if every else "no files yet"
            return Increment(None, note=note)
        files = tuple(str(e.pop("path")) for e in entries)
        return Increment(replace(source, files=files), files=entries)
    column = spark.ident(inc.column or "")
    if inc.mode == "window":
        assert inc.lookback is not None
        start = ctx.started.astimezone(UTC).replace(tzinfo=None) - inc.lookback
        predicate = f"{column} >= {spark.literal(start, 'timestamp_ntz')}"
        return Increment(
            replace(source, filter=_to_dialect(predicate, dialect)),
            replace_where=predicate,
        )
    state = None if rebuild else ctx.states.get(key)
    if not state or state.get("value") is None:
        return Increment(source)  # the first run reads everything
    if state.get("column") not in (None, inc.column):
        raise DataError(
            f"read.incremental.column changed from {state['column']} to {inc.column}; the "
            "high-water mark is of the old column",
            where=where,
            hint=f"run `lakestory state reset {key}` (the next run reads everything), or "
            f"`lakestory run --full-refresh --node {key}` to rebuild the table",
        )
    mark = _from_json(state["value"], state.get("type", "other"))
    if inc.lag:
        mark = _minus(mark, inc.lag)
    predicate = f"{column} > {spark.literal(mark, state.get('type'))}"
    return Increment(replace(source, filter=_to_dialect(predicate, dialect)))


def mark_state(
    inc: IncrementalConfig, value: Any, kind: str, old: dict[str, Any] | None
) -> dict[str, Any]:
    """The state after reading rows whose greatest ``inc.column`` is ``value``."""
    if value is None:  # nothing read: the mark stays
        return old or {"kind": "column", "column": inc.column, "value": None, "type": kind}
    return {"kind": "column", "column": inc.column, "value": _to_json(value), "type": kind}


def _minus(mark: Any, lag: timedelta | float) -> Any:
    if isinstance(mark, datetime | date):
        return mark - (lag if isinstance(lag, timedelta) else timedelta(seconds=lag))
    seconds = lag.total_seconds() if isinstance(lag, timedelta) else lag
    return mark - type(mark)(seconds) if isinstance(mark, int | Decimal) else mark - seconds


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)


def _from_json(value: Any, kind: str) -> Any:
    if kind in ("timestamp", "timestamp_ntz"):
        return datetime.fromisoformat(str(value))
    if kind == "date":
        return date.fromisoformat(str(value))
    if kind == "decimal":
        return Decimal(str(value))
    return value


def _to_dialect(predicate: str, dialect: str) -> str:
    """Imported on use: only an incremental read needs sqlglot, not every command."""
    from lakestory.transforms.sql import predicate_to_dialect

    return predicate_to_dialect(predicate, dialect)
