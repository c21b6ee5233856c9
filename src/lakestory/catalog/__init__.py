"""The system catalog: append-only Delta tables of runs, node runs, state, the file ledger,
schema history and data-quality check results, namespaced by project.

    catalog = Catalog.for_project(loaded)        # None when system.enabled is false
    catalog.runs(limit=5)                        # newest first
    catalog.states()["silver.orders"].value      # {"kind": "column", "value": ...}
    catalog.volume_history("silver.orders", 5)   # rows checked in its last 5 good runs

Every write is one commit per table it touches, and only ever appends, so concurrent runs
never conflict on content; what a run or a key *is* now is its latest row. Reads open each
table once and remember it until its version changes.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakestory.catalog import store, tables, views
from lakestory.catalog.tables import CHECKS, FILES, NODE_RUNS, RUNS, SCHEMA_HISTORY, STATE
from lakestory.catalog.views import schema_change
from lakestory.io import paths

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

    from lakestory.config.loader import LoadedConfig

__all__ = ["Catalog", "NodeState", "schema_change"]

Row = dict[str, Any]


@dataclass(frozen=True)
class NodeState:
    """The state an incremental node committed with its data (kind "reset": none)."""

    key: str  # pipeline.node
    kind: str  # column | files | window | reset
    value: dict[str, Any]
    table_uri: str | None
    table_version: int | None
    run_id: str
    updated_at: datetime


class Catalog:
    def __init__(self, uri: str, project: str) -> None:
        self.uri = uri.rstrip("/")
        self.project = project
        self._open: dict[str, DeltaTable] = {}  # table -> kept open, updated before use
        self._cache: dict[str, tuple[int, pa.Table]] = {}  # table -> (version, rows)
        self._locks = {t: threading.Lock() for t in tables.TABLES}

    @classmethod
    def for_project(cls, loaded: LoadedConfig) -> Catalog | None:
        """The catalog the project's ``system:`` section names; None when disabled."""
        from lakestory.catalog.location import catalog_uri

        uri = catalog_uri(loaded)
        return None if uri is None else cls(uri, loaded.config.project)

    def __repr__(self) -> str:
        return f"Catalog({self.uri!r}, project={self.project!r})"

    def table_uri(self, table: str) -> str:
        return paths.join(self.uri, table)

    # ------------------------------------------------------------------------------ reads

    def states(self) -> dict[str, NodeState]:
        """The current state of each key; keys whose latest row is a reset are left out."""
        current = views.latest(self._arrow(STATE), "key", ("updated_at", "ascending"))
        kept = views.where(current, kind=views.Not("reset"))
        return {r["key"]: _node_state(r) for r in views.rows(kept)}

    def resets(self) -> dict[str, datetime]:
        """When each key was last reset (by hand, or by a full refresh)."""
        return views.resets(self._arrow(STATE))

    def ledger(self, key: str) -> set[str]:
        """The files ``key`` ingested since its last reset."""
        mine = views.where(self._arrow(FILES), key=key)
        return views.ledgers(mine, self.resets()).get(key, set())

    def ledgers(self) -> dict[str, set[str]]:
        """The file ledger of every key, since its last reset."""
        return views.ledgers(self._arrow(FILES), self.resets())

    def runs(
        self,
        *,
        pipeline: str | None = None,
        node: str | None = None,
        status: str | None = None,
        limit: int | None = 20,
    ) -> list[Row]:
        """Runs, newest first. ``pipeline`` keeps the runs that ran a node of it, ``node``
        those that ran that node (``pipeline.node`` or a bare name), ``status`` those with
        that shown status (success, failed, incomplete, crashed)."""
        ran = None
        if node is not None:
            ran = set(views.naming(self._arrow(NODE_RUNS), node)["run_id"].to_pylist())
        return self._runs(
            lambda r: (
                (pipeline is None or pipeline in (r["pipelines"] or ()))
                and (ran is None or r["run_id"] in ran)
                and (status is None or r["status"] == status)
            ),
            limit,
        )

    def node_runs(
        self,
        run_id: str | None = None,
        *,
        pipeline: str | None = None,
        node: str | None = None,
        status: str | None = None,
        limit: int | None = 100,
    ) -> list[Row]:
        """Node rows, newest run first; a run's nodes in the order the run recorded them."""
        found = views.where(self._arrow(NODE_RUNS), run_id=run_id, pipeline=pipeline)
        found = views.where(found, status=status)
        if node is not None:
            found = views.naming(found, node)
        found = views.ordered(found, ("recorded_at", "descending"))
        return views.rows(found if limit is None else found.slice(0, limit))

    def last_run(self, pipelines: Collection[str]) -> Row | None:
        """The newest run that touched any of ``pipelines`` (any run when empty), with
        ``"nodes"``: its node rows. A run that never finished has no node rows."""
        wanted = set(pipelines)
        found = self._runs(lambda r: not wanted or bool(wanted.intersection(r["pipelines"])), 1)
        if not found:
            return None
        return {**found[0], "nodes": self.node_runs(found[0]["run_id"], limit=None)}

    def last_schemas(self) -> dict[str, list[dict[str, str]]]:
        """table_uri -> the columns last recorded for it."""
        current = views.latest(
            self._arrow(SCHEMA_HISTORY), "table_uri", ("recorded_at", "ascending")
        )
        return {r["table_uri"]: r["columns"] or [] for r in views.rows(current)}

    def schema_history(self, table_uri: str | None = None) -> list[Row]:
        """Schema rows, newest first (of one table when given)."""
        found = views.where(self._arrow(SCHEMA_HISTORY), table_uri=table_uri)
        return views.rows(views.ordered(found, ("recorded_at", "descending")))

    def checks(
        self,
        run_id: str | None = None,
        key: str | None = None,
        limit: int | None = None,
        *,
        pipeline: str | None = None,
        status: str | None = None,
    ) -> list[Row]:
        """Check rows (of one run, node ``pipeline.node``, pipeline or check status when
        given), newest run first; a run's rows in the order it recorded them: per node its
        contracts, its validation tests, then its gate. ``observed`` is decoded."""
        found = views.where(
            self._arrow(CHECKS), run_id=run_id, key=key, pipeline=pipeline, status=status
        )
        found = views.ordered(found, ("recorded_at", "descending"))
        return views.rows(found if limit is None else found.slice(0, limit))

    def volume_history(self, key: str, runs: int) -> list[int]:
        """The rows the validation tests of ``key`` judged in each of its last ``runs``
        successful runs, most recent first: one value per run, the largest ``rows`` of its
        validation rows. Runs where the node failed, or ran no validation test, are left
        out. Empty when there is no such run, or no checks table yet."""
        import pyarrow.compute as pc

        if runs <= 0:
            return []
        found = views.where(self._arrow(CHECKS), key=key, phase="validation", node_status="success")
        found = found.filter(pc.is_valid(found["rows"]))
        if found.num_rows == 0:
            return []
        per_run = found.group_by("run_id").aggregate([("rows", "max"), ("recorded_at", "max")])
        newest = views.ordered(per_run, ("recorded_at_max", "descending"))
        return [int(n) for n in newest["rows_max"].slice(0, runs).to_pylist()]

    def _runs(self, keep: Callable[[Row], bool], limit: int | None) -> list[Row]:
        """The runs ``keep`` keeps, newest first; ``status`` is the shown status. Only the
        few columns the filter needs are read for every run."""
        every = views.runs(self._arrow(RUNS))
        slim = every.select(["run_id", "event", "status", "host", "pid", "pipelines"])
        chosen: list[int] = []
        statuses: list[str] = []
        for i, run in enumerate(slim.to_pylist()):
            run["status"] = views.shown_status(run)
            if keep(run):
                chosen.append(i)
                statuses.append(run["status"])
                if limit is not None and len(chosen) == limit:
                    break
        out = views.rows(views.take(every, chosen))
        for run, shown in zip(out, statuses, strict=True):
            run["status"] = shown
        return out

    def _arrow(self, table: str) -> pa.Table:
        """This project's rows of ``table``, read again only when its version changed."""
        with self._locks[table]:
            dt = self._table(table)
            if dt is None:
                return tables.schema(table).empty_table()
            version = dt.version()
            hit = self._cache.get(table)
            if hit is None or hit[0] != version:
                hit = self._cache[table] = (
                    version,
                    store.scan(dt, tables.schema(table), self.project),
                )
            return hit[1]

    def _table(self, table: str) -> DeltaTable | None:
        """``table`` up to date, kept open between calls (caller holds its lock)."""
        dt = store.refresh(self.table_uri(table), self._open.get(table))
        if dt is None:
            self._open.pop(table, None)
        else:
            self._open[table] = dt
        return dt

    def _append(self, table: str, data: pa.Table) -> None:
        with self._locks[table]:
            dt = store.append(self.table_uri(table), data, self._table(table))
            if dt is None:
                self._open.pop(table, None)
            else:
                self._open[table] = dt

    # ----------------------------------------------------------------------------- writes

    def run_started(self, run: Mapping[str, Any]) -> None:
        """Record that a run started (its "start" row)."""
        self._append(RUNS, tables.to_arrow(RUNS, [self._run_row(run, "start")]))

    def run_finished(
        self,
        run: Mapping[str, Any],
        nodes: Sequence[Mapping[str, Any]],
        states: Sequence[NodeState],
        files: Sequence[Mapping[str, Any]],
        schemas: Sequence[Mapping[str, Any]],
        checks: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Record a finished run: one commit per table with rows, committed in parallel.

        ``files`` are ledger entries (key, file, size, mtime, run_id, table_version).
        ``schemas`` are the columns of the tables the run wrote (table_uri, table, key,
        version, columns, run_id): a row is kept only for a table whose columns differ from
        those last recorded for it, with ``change`` saying how. ``checks`` are the rows of
        the ``checks`` table (see ``tables.py``); their ``observed`` is any JSON value,
        encoded here. Missing times are this moment. Raises the first failure once every
        commit has ended.
        """
        now = datetime.now(UTC)
        batches = {
            RUNS: [self._run_row(run, "end")],
            NODE_RUNS: [self._row(n, recorded_at=now) for n in nodes],
            STATE: [{**_state_row(s), "project": self.project} for s in states],
            FILES: [self._row(f, ingested_at=now) for f in files],
            CHECKS: [self._row(c, recorded_at=now) for c in checks],
        }
        work = [(t, rows) for t, rows in batches.items() if rows]
        with ThreadPoolExecutor(len(work) + 1, thread_name_prefix="catalog") as pool:
            futures = [pool.submit(self._append_rows, t, r) for t, r in work]
            if schemas:  # its read overlaps the other commits
                rows = [self._row(s, recorded_at=now) for s in schemas]
                futures.append(pool.submit(self._record_schemas, rows))
        for future in futures:
            future.result()

    def _append_rows(self, table: str, rows: list[Row]) -> None:
        self._append(table, tables.to_arrow(table, rows))

    def _record_schemas(self, rows: list[Row]) -> None:
        last = self.last_schemas()
        changed = []
        for row in rows:
            old = last.get(row["table_uri"])
            new = list(row.get("columns") or [])
            if old is not None and views.same_columns(old, new):
                continue
            changed.append({**row, "change": row.get("change") or schema_change(old, new)})
            last[row["table_uri"]] = new  # two nodes writing one table in one run
        if changed:
            self._append(SCHEMA_HISTORY, tables.to_arrow(SCHEMA_HISTORY, changed))

    def reset_state(self, key: str, run_id: str = "manual") -> None:
        """Forget the state and file ledger of ``key``: its next run reads everything."""
        reset = NodeState(key, "reset", {}, None, None, run_id, datetime.now(UTC))
        row = {**_state_row(reset), "project": self.project}
        self._append(STATE, tables.to_arrow(STATE, [row]))

    def _row(self, values: Mapping[str, Any], **defaults: Any) -> Row:
        row = {**defaults, **{k: v for k, v in values.items() if v is not None}}
        row["project"] = self.project
        return row

    def _run_row(self, run: Mapping[str, Any], event: str) -> Row:
        from lakestory._version import __version__

        defaults = {
            "status": "running",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "lakestory_version": __version__,
        }
        return {**self._row(run, **defaults), "event": event}


def _state_row(state: NodeState) -> Row:
    pipeline, _, node = state.key.partition(".")
    return {
        "key": state.key,
        "pipeline": pipeline,
        "node": node,
        "kind": state.kind,
        "value": state.value,
        "table_uri": state.table_uri,
        "table_version": state.table_version,
        "run_id": state.run_id,
        "updated_at": state.updated_at,
    }


def _node_state(row: Row) -> NodeState:
    return NodeState(
        key=row["key"],
        kind=row["kind"],
        value=dict(row["value"] or {}),
        table_uri=row["table_uri"],
        table_version=row["table_version"],
        run_id=row["run_id"],
        updated_at=row["updated_at"],
    )
