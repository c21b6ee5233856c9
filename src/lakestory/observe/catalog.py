"""The catalog observer: records each run in the system catalog.

Two writes per run, never one per node: the run's "start" row when it starts, and at its
end the run, node, state, file-ledger and schema rows together (one commit per table). The
start row is written in a background thread while the run's nodes start, so the run does
not wait for it. A failed catalog write is logged as a warning and never fails the run; the
state it would have recorded is also in the commit log of the table written, where the
next run finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

from lakestory.catalog import Catalog, NodeState
from lakestory.runtime.events import Event, RunFinished, RunStarted
from lakestory.runtime.records import NodeRecord, RunResult

log = logging.getLogger(__name__)

_NODE_FIELDS = (
    "run_id",
    "key",
    "pipeline",
    "node",
    "status",
    "started_at",
    "ended_at",
    "rows_read",
    "rows_out",
    "rows_written",
    "rows_updated",
    "rows_deleted",
    "target",
    "target_uri",
    "write_mode",
    "table_version",
    "attempts",
    "config_hash",
    "skipped_because",
    "error",
    "note",
)


class CatalogObserver:
    """Subscribe to a run's event bus: ``bus.subscribe(CatalogObserver(catalog))``."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._started: Future[None] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            res = event.result
            run = run_row(res, nodes_total=len(event.node_keys))
            if not run["pipelines"]:
                run["pipelines"] = sorted({k.partition(".")[0] for k in event.node_keys})
            pool = ThreadPoolExecutor(1, thread_name_prefix="catalog-start")
            write = partial(self.catalog.run_started, run)
            self._started = pool.submit(self._safely, res, "the start", write)
            pool.shutdown(wait=False)  # its thread ends with the write
        elif isinstance(event, RunFinished):
            self.wait()
            self._safely(event.result, "the outcome", lambda: self._finished(event.result))

    def wait(self) -> None:
        """Wait until the start row of the run is written (or failed to be)."""
        if self._started is not None:
            self._started.result()
            self._started = None

    def _finished(self, res: RunResult) -> None:
        done = [r for r in res.nodes if r.status == "success"]
        wrote = [r for r in done if r.target_uri and r.table_version is not None and r.schema]
        self.catalog.run_finished(
            run_row(res),
            [node_row(res.run_id, r) for r in res.nodes],
            node_states(res, done),
            [
                {**f, "key": r.key, "run_id": res.run_id, "table_version": r.table_version}
                for r in done
                for f in r.files
            ],
            self._schema_rows(res.run_id, wrote),
        )

    @staticmethod
    def _schema_rows(run_id: str, wrote: Iterable[NodeRecord]) -> list[dict[str, Any]]:
        """The columns of each table written; the catalog keeps those that changed."""
        return [
            {
                "table_uri": r.target_uri,
                "table": r.target or r.target_uri,
                "key": r.key,
                "version": r.table_version,
                "columns": [{"name": c["name"], "type": c["type"]} for c in r.schema],
                "run_id": run_id,
            }
            for r in wrote
        ]

    def _safely(self, res: RunResult, what: str, write: Callable[[], None]) -> None:
        try:
            write()
        except Exception as exc:  # an observer must never fail the run
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning(
                "the system catalog (%s) could not record %s of run %s: %s. The data the run "
                "wrote is not affected; `lakestory history` may miss this run.",
                self.catalog.uri,
                what,
                res.run_id,
                first,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )


def run_row(res: RunResult, **extra: Any) -> dict[str, Any]:
    """The runs row of a run as it stands (a start row while it runs)."""
    row: dict[str, Any] = {
        "run_id": res.run_id,
        "status": res.status,
        "env": res.env,
        "pipelines": list(res.pipelines),
        "options": dict(res.options),
        "started_at": res.started_at,
        "ended_at": res.ended_at,
        "duration_s": res.duration,
        **extra,
    }
    if res.ended_at is not None:
        counts = {s: sum(r.status == s for r in res.nodes) for s in ("success", "failed")}
        row.update(
            nodes_total=len(res.nodes),
            nodes_succeeded=counts["success"],
            nodes_failed=counts["failed"],
            nodes_skipped=sum(r.status not in ("success", "failed") for r in res.nodes),
        )
    return row


def node_row(run_id: str, r: NodeRecord) -> dict[str, Any]:
    row = {name: getattr(r, name, None) for name in _NODE_FIELDS}
    return {**row, "run_id": run_id, "duration_s": r.duration}


def node_states(res: RunResult, done: Iterable[NodeRecord]) -> list[NodeState]:
    """The state each successful incremental node committed with its data. A node that
    committed nothing (no new rows or files) keeps its state: no row. A node rebuilt from
    scratch (full refresh) starts a new file ledger: a reset row goes before its state."""
    rebuilt = set(res.options.get("full_refresh") or ())
    now = datetime.now(UTC)
    out = []
    for r in done:
        if r.state is None or r.table_version is None:
            continue
        at = r.ended_at or now
        if r.key in rebuilt:
            out.append(NodeState(r.key, "reset", {}, None, None, res.run_id, r.started_at or at))
        kind = str(r.state.get("kind") or "column")
        out.append(NodeState(r.key, kind, r.state, r.target_uri, r.table_version, res.run_id, at))
    return out
