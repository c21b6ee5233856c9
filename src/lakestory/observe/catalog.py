"""The catalog observer: records each run in the system catalog.

Two writes per run, never one per node: the run's "start" row when it starts, and at its
end the run, node, state, file-ledger, schema and check rows together (one commit per table
with rows). The start row is written in a background thread while the run's nodes start,
so the run does not wait for it. A failed catalog write is logged as a warning and never
fails the run; the state it would have recorded is also in the commit log of the table
written, where the next run finds it.
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
            self._check_rows(res.run_id, res.nodes),
        )

    @staticmethod
    def _check_rows(run_id: str, nodes: Iterable[NodeRecord]) -> list[dict[str, Any]]:
        """The check rows of every node; a node whose results cannot be read is left out
        (with a warning) rather than losing the rest of the run's record."""
        out = []
        for r in nodes:
            try:
                out += check_rows(run_id, r)
            except Exception as exc:  # an observer must never fail the run
                log.warning(
                    "the check results of %s could not be recorded: %s",
                    r.key,
                    exc,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
        return out

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


def check_rows(run_id: str, r: NodeRecord) -> list[dict[str, Any]]:
    """The ``checks`` rows of a node run: one per test (contracts, then validation tests),
    then one for its gate (phase, test and type "gate"; ``on_fail`` its action, ``threshold``
    the pass rate it required, ``observed`` the whole gate). Samples are never recorded:
    they can hold data."""
    base = {
        "run_id": run_id,
        "key": r.key,
        "pipeline": r.pipeline,
        "node": r.node,
        "node_status": r.status,
    }
    out = [
        {
            **base,
            "phase": _text(c.get("phase")),
            "test": _text(c.get("name")),
            "type": _text(c.get("type")),
            "on_fail": _text(c.get("on_fail")),
            "status": _text(c.get("status")),
            "rows": _number(c.get("rows"), int),
            "failing": _number(c.get("failing"), int),
            "pass_rate": _number(c.get("pass_rate"), float),
            "threshold": _number(c.get("threshold"), float),
            "observed": c.get("observed"),
            "message": _text(c.get("message")),
        }
        for c in r.checks
    ]
    gate = r.gate
    if gate is not None:
        out.append(
            {
                **base,
                "phase": "gate",
                "test": "gate",
                "type": "gate",
                "on_fail": _text(gate.get("action")),
                "status": _text(gate.get("status")),
                "rows": _number(r.rows_checked, int),
                "pass_rate": _number(gate.get("pass_rate"), float),
                "threshold": _number(gate.get("required"), float),
                "observed": gate,
                "message": gate_message(gate),
            }
        )
    return out


def gate_message(gate: dict[str, Any]) -> str | None:
    """Why a gate blocked, e.g. ``pass rate 97.50% < 99.00%; not_null_id: 90.00% <
    95.00%``; None when it passed."""
    if gate.get("status") != "blocked":
        return None
    parts = []
    rate, required = _number(gate.get("pass_rate"), float), _number(gate.get("required"), float)
    if rate is not None and required is not None and rate < required:
        parts.append(f"pass rate {rate:.2%} < {required:.2%}")
    for name, t in (gate.get("failed_thresholds") or {}).items():
        actual, needed = _number(t.get("actual"), float), _number(t.get("required"), float)
        if actual is not None and needed is not None:
            parts.append(f"{name}: {actual:.2%} < {needed:.2%}")
        else:
            parts.append(str(name))
    return "; ".join(parts) or "blocked"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """``value`` as an int or float; None when it is none (or not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return None


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
