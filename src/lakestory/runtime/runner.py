"""The runner: walks a plan, running ready nodes concurrently, and publishes events.

It knows nothing of stories, logs or alerts: those are observers on the event bus.
``fail_fast`` stops starting new nodes after a failure; ``fail_later`` keeps running every
node that does not depend on a failed one. Dependents of a failed node are skipped, so no
node ever runs on a stale version of a failed node's output.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path

from lakestory.core import faults
from lakestory.core.errors import LakestoryError
from lakestory.engines.base import Engine, Frame
from lakestory.runtime.events import EventBus, NodeFinished, NodeStarted, RunFinished, RunStarted
from lakestory.runtime.execute import NodeRun
from lakestory.runtime.incremental import RunContext
from lakestory.runtime.plan import Plan
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redactor import current as current_redactor
from lakestory.transforms.sqlcache import SqlCache

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class Runner:
    def __init__(
        self,
        plan: Plan,
        engine: Engine,
        bus: EventBus,
        max_workers: int | None = None,
        sql: SqlCache | None = None,
        root: Path | None = None,
        ctx: RunContext | None = None,
    ) -> None:
        self.plan = plan
        self.ctx = ctx or RunContext(uuid.uuid4().hex[:16], plan.project, _now())
        self.root = root
        self.sql = sql or SqlCache(None)
        self.engine = engine
        self.bus = bus
        self.max_workers = max_workers or min(4, os.cpu_count() or 1)
        self.records = {
            p.key: NodeRecord(
                p.key,
                p.node.pipeline,
                p.node.name,
                target=p.node.target.location.display() if p.node.target else None,
                target_uri=p.node.target.location.uri if p.node.target else None,
                write_mode=p.node.target.mode if p.node.target else None,
                config_hash=p.node.config_hash,
            )
            for p in plan.nodes
        }
        self.outputs: dict[str, Frame] = {}
        self.pending_consumers = {p.key: set(p.consumers) for p in plan.nodes}
        self._lock = threading.Lock()

    def run(self) -> RunResult:
        result = RunResult(
            self.ctx.run_id,
            self.plan.project,
            self.plan.env,
            self.ctx.started,
            nodes=list(self.records.values()),
            pipelines=sorted({p.node.pipeline for p in self.plan.nodes}),
            options=self.plan.options(),
        )
        self.bus.publish(RunStarted(result, tuple(self.records)))
        deps = {
            p.key: {d for d in p.node.data_deps | p.node.order_deps if d in self.records}
            for p in self.plan.nodes
        }
        waiting = [p.key for p in self.plan.nodes]
        running: dict[Future[None], str] = {}
        stop = False
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="lakestory") as pool:
            while waiting or running:
                for key in list(waiting):
                    why = self._skip_reason(deps[key], stop)
                    if why:
                        waiting.remove(key)
                        self._skip(key, why)
                    elif self._ready(deps[key]) and len(running) < self.max_workers:
                        # submit only what a worker can start now, so a fail_fast stop
                        # never finds nodes already queued behind the failure
                        waiting.remove(key)
                        running[pool.submit(self._run_node, key)] = key
                if not running:
                    break  # defensive: nothing runnable is left
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    running.pop(fut)
                    fut.result()
                if self.plan.on_error == "fail_fast" and result.failed:
                    stop = True
        self._release_all()
        result.ended_at = _now()
        result.status = "failed" if result.failed else "success"
        faults.point("before_run_finished")
        self.bus.publish(RunFinished(result))
        return result

    def _ready(self, deps: set[str]) -> bool:
        return all(self.records[d].status == "success" for d in deps)

    def _skip_reason(self, deps: set[str], stop: bool) -> str | None:
        """Why a waiting node will not run, or None while it still may."""
        failed = sorted(d for d in deps if self.records[d].status == "failed")
        if failed:
            return f"upstream {', '.join(failed)} failed"
        if stop:
            return "the run stopped after a failure (on_error: fail_fast)"
        skipped = sorted(d for d in deps if self.records[d].status == "skipped")
        return f"upstream {', '.join(skipped)} was skipped" if skipped else None

    def _skip(self, key: str, why: str) -> None:
        rec = self.records[key]
        rec.status, rec.skipped_because = "skipped", why
        self._done_consuming(key, self.plan.node(key).node.data_deps)
        self.bus.publish(NodeFinished(rec))

    def _run_node(self, key: str) -> None:
        planned = self.plan.node(key)
        rec = self.records[key]
        rec.status, rec.started_at, rec.attempts = "running", _now(), 1
        self.bus.publish(NodeStarted(rec))
        with self._lock:
            upstream = {d: self.outputs[d] for d in planned.node.data_deps if d in self.outputs}
        try:
            node_run = NodeRun(
                planned,
                self.engine,
                upstream,
                rec,
                self.sql,
                self.ctx,
                self.root,
                publish=self.bus.publish,
            )
            output = node_run.run()
        except LakestoryError as exc:
            exc.located(pipeline=planned.node.pipeline, node=planned.node.name)
            rec.status, rec.error = (
                "failed",
                current_redactor().redact({**exc.to_dict(), "text": exc.render()}),
            )
        except Exception as exc:  # a defect, not the user's data: record it, keep going
            log.exception("internal error in node %s", key)
            err = LakestoryError(f"internal error: {type(exc).__name__}: {exc}")
            err.located(pipeline=planned.node.pipeline, node=planned.node.name)
            rec.status, rec.error = (
                "failed",
                current_redactor().redact({**err.to_dict(), "text": err.render()}),
            )
        else:
            with self._lock:  # output first: a consumer starts once the status says success
                if output is not None:
                    self.outputs[key] = output
                rec.status = "success"
        finally:
            rec.ended_at = _now()
            self._done_consuming(key, planned.node.data_deps)
        self.bus.publish(NodeFinished(rec))

    def _done_consuming(self, key: str, deps: set[str]) -> None:
        """Release upstream outputs once their last consumer in this run is done."""
        free = []
        with self._lock:
            for d in deps:
                waiting_for = self.pending_consumers.get(d)
                if waiting_for is not None and key in waiting_for:
                    waiting_for.discard(key)
                    if not waiting_for and d in self.outputs:
                        free.append(self.outputs.pop(d))
        for frame in free:
            self.engine.release(frame)

    def _release_all(self) -> None:
        for frame in self.outputs.values():
            self.engine.release(frame)
        self.outputs.clear()
