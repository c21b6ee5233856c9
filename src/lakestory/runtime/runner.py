"""The runner: walks a plan, running ready nodes concurrently, and publishes events.

It knows nothing of stories, logs or alerts: those are observers on the event bus.
``fail_fast`` stops starting new nodes after a failure; ``fail_later`` keeps running every
node that does not depend on a failed one. Dependents of a failed node are skipped, so no
node ever runs on a stale version of a failed node's output.

Each node runs in a worker thread of its own, with a cancellation token (see
:mod:`lakestory.core.cancel`):

- **Retries**: an attempt that fails with a transient error (:func:`is_transient`) is run
  again after the policy's delay, up to ``max_attempts``; deterministic errors fail at once.
  Nothing a failed attempt did is kept: its quarantine rows are taken back out and the
  write commits last, so a retry never repeats committed work.
- **Timeouts**: a node past its ``timeout`` (attempts and delays included) is cancelled: its
  running query is interrupted and its write stops before the commit. The runner waits a
  short grace for it to unwind (longer when its commit is already under way), then records
  the failure and moves on; a thread stuck in user code is abandoned and can never commit.
- **Interrupts**: :meth:`Runner.stop` (or Ctrl-C) cancels every running node, skips the
  rest and ends the run as ``aborted``.
"""

from __future__ import annotations

import copy
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakestory.core import cancel, faults, logctx
from lakestory.core.errors import LakestoryError, is_transient
from lakestory.engines.base import Engine, Frame
from lakestory.runtime.events import (
    EventBus,
    NodeFinished,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
)
from lakestory.runtime.execute import NodeRun
from lakestory.runtime.incremental import RunContext
from lakestory.runtime.plan import Plan, PlannedNode
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.runtime.retry import RetryPolicy
from lakestory.secrets.redactor import current as current_redactor
from lakestory.transforms.sqlcache import SqlCache

log = logging.getLogger(__name__)

GRACE_S = 5.0  # how long a cancelled node may take to unwind before it is abandoned
_KEPT = {"key", "pipeline", "node", "target", "target_uri", "write_mode", "pattern", "config_hash"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Job:
    """A node running in its worker thread."""

    key: str
    token: cancel.Token
    deadline: float | None  # time.monotonic() past which the node times out
    thread: threading.Thread | None = None
    give_up_at: float | None = None  # set once cancelled: when to stop waiting for it
    abandoned: bool = False  # recorded as failed/aborted by the runner; its outcome is void


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
        self.records = {p.key: _record(p) for p in plan.nodes}
        self.outputs: dict[str, Frame] = {}
        self.pending_consumers = {p.key: set(p.consumers) for p in plan.nodes}
        self._lock = threading.Lock()
        self._done: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._jobs: dict[str, _Job] = {}
        self._stop_reason: str | None = None

    # -- the scheduler (the caller's thread) -----------------------------------------------

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
        with logctx.bound(run_id=self.ctx.run_id, project=self.plan.project):
            self.bus.publish(RunStarted(result, tuple(self.records)))
            try:
                try:
                    self._schedule(result)
                except KeyboardInterrupt:
                    self._abort("the run was interrupted (Ctrl-C)")
            except BaseException:  # a defect (or a second Ctrl-C): still end the run
                self._stop_reason = self._stop_reason or "the run stopped on an internal error"
                self._abort(self._stop_reason)
                raise
            finally:
                self._finish(result)
        return result

    def _finish(self, result: RunResult) -> None:
        """Skip what never started, end the run and tell the observers (always, so that
        they flush and stop their threads)."""
        if self._stop_reason is not None:
            for key, rec in self.records.items():
                if rec.status == "pending":
                    self._skip(key, self._stop_reason)
        self._release_all()
        result.ended_at = _now()
        if self._stop_reason is not None:
            result.status = "aborted"
        else:
            result.status = "failed" if result.failed else "success"
        faults.point("before_run_finished")
        self.bus.publish(RunFinished(result))

    def stop(self, reason: str = "the run was stopped") -> None:
        """Abort the run from any thread (a signal handler): running nodes are cancelled,
        waiting ones skipped, and the run ends as ``aborted``."""
        self._stop_reason = self._stop_reason or reason
        self._done.put(None)  # wake the scheduler

    def _schedule(self, result: RunResult) -> None:
        deps = {
            p.key: {d for d in p.node.data_deps | p.node.order_deps if d in self.records}
            for p in self.plan.nodes
        }
        waiting = [p.key for p in self.plan.nodes]
        stop = False
        while waiting or self._jobs:
            if self._stop_reason is not None:
                self._abort(self._stop_reason)
                return  # run() skips the nodes still waiting
            for key in list(waiting):
                why = self._skip_reason(deps[key], stop)
                if why:
                    waiting.remove(key)
                    self._skip(key, why)
                elif self._ready(deps[key]) and len(self._jobs) < self.max_workers:
                    # start only what a worker can start now, so a fail_fast stop
                    # never finds nodes already queued behind the failure
                    waiting.remove(key)
                    self._start(key)
            if not self._jobs:
                break  # defensive: nothing runnable is left
            self._wait_for_one()
            if self.plan.on_error == "fail_fast" and result.failed:
                stop = True

    def _start(self, key: str) -> None:
        planned = self.plan.node(key)
        timeout = planned.node.config.timeout
        deadline = time.monotonic() + timeout.total_seconds() if timeout else None
        job = _Job(key, cancel.Token(), deadline)
        rec = self.records[key]  # running from now: its deadline counts
        rec.status, rec.started_at = "running", _now()
        thread = threading.Thread(
            target=self._work, args=(planned, job), name=f"lakestory:{key}", daemon=True
        )
        job.thread = thread
        self._jobs[key] = job
        thread.start()

    def _wait_for_one(self) -> None:
        """Wait until a node ends, a deadline passes or the run is stopped."""
        while True:
            for job in list(self._jobs.values()):  # its end was missed (a Ctrl-C between)
                if job.thread is not None and not job.thread.is_alive():
                    self._jobs.pop(job.key, None)
                    return
            now = time.monotonic()
            due = [t for j in self._jobs.values() for t in (j.deadline, j.give_up_at) if t]
            wait = max(min(due) - now, 0.0) if due else None
            try:
                key = self._done.get(timeout=wait)
            except queue.Empty:
                if self._enforce_deadlines():
                    return
                continue
            if key is None:  # stop() woke us
                return
            if self._jobs.pop(key, None) is not None:
                return

    def _enforce_deadlines(self) -> bool:
        """Cancel nodes past their deadline; give up on cancelled ones past their grace
        (True when one was given up on)."""
        now, gave_up = time.monotonic(), False
        for job in list(self._jobs.values()):
            if self.records[job.key].status != "running":
                # its work is over (its thread is telling the observers): no deadline
                job.deadline = job.give_up_at = None
            elif job.deadline is not None and now >= job.deadline and not job.token.cancelled:
                timeout = self.plan.node(job.key).node.config.timeout
                assert timeout is not None
                seconds = timeout.total_seconds()
                self._cancel(job, f"the node ran past its timeout of {seconds:g}s")
            elif job.give_up_at is not None and now >= job.give_up_at:
                if job.token.committing:  # its commit is under way: wait for the outcome
                    job.give_up_at = now + GRACE_S
                    continue
                self._abandon(job, "aborted" if self._stop_reason else "failed")
                gave_up = True
        return gave_up

    def _cancel(self, job: _Job, reason: str) -> None:
        job.token.cancel(reason)
        job.deadline, job.give_up_at = None, time.monotonic() + GRACE_S
        if job.thread is not None and job.thread.ident is not None:
            try:
                self.engine.interrupt(job.thread.ident)
            except Exception as exc:  # noqa: BLE001 - the grace period still bounds the wait
                log.warning("could not interrupt node %s: %s", job.key, exc)

    def _abandon(self, job: _Job, status: str) -> None:
        """Stop waiting for a node: when it is still running, record it as ``status`` now;
        its thread's outcome is void (it cannot commit: its token is cancelled)."""
        self._jobs.pop(job.key, None)
        rec = self.records[job.key]
        error = _cancelled_error(job.token.reason or "abandoned", self.plan.node(job.key))
        with self._lock:
            if job.abandoned or rec.status != "running":
                return  # it ended meanwhile: its own thread reports it
            job.abandoned = True
            rec.status, rec.error, rec.ended_at = status, error, _now()
            if not rec.attempt_log or rec.attempt_log[-1]["attempt"] < rec.attempts:
                rec.attempt_log.append(  # the attempt still running, given up on
                    {
                        "attempt": rec.attempts,
                        "started_at": (rec.started_at or rec.ended_at).isoformat(),
                        "ended_at": rec.ended_at.isoformat(),
                        "status": "failed",
                        "error": {"message": error["message"], "kind": error["kind"]},
                        "transient": False,
                        "delay_s": None,
                    }
                )
        log.warning("node %s did not stop within %gs of being cancelled", job.key, GRACE_S)
        self._done_consuming(job.key, self.plan.node(job.key).node.data_deps)
        self.bus.publish(NodeFinished(rec))

    def _abort(self, reason: str) -> None:
        """Cancel every running node and wait (boundedly) for them to end."""
        self._stop_reason = self._stop_reason or reason
        for job in list(self._jobs.values()):
            if not job.token.cancelled:
                self._cancel(job, reason)
        while self._jobs:
            try:
                self._wait_for_one()
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for anyone
                for job in list(self._jobs.values()):
                    self._abandon(job, "aborted")

    def _ready(self, deps: set[str]) -> bool:
        return all(self.records[d].status == "success" for d in deps)

    def _skip_reason(self, deps: set[str], stop: bool) -> str | None:
        """Why a waiting node will not run, or None while it still may."""
        failed = sorted(d for d in deps if self.records[d].status in ("failed", "aborted"))
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

    # -- a node's worker thread --------------------------------------------------------------

    def _work(self, planned: PlannedNode, job: _Job) -> None:
        key = planned.key
        try:
            with (
                logctx.bound(
                    run_id=self.ctx.run_id,
                    project=self.plan.project,
                    pipeline=planned.node.pipeline,
                    node=planned.node.name,
                ),
                cancel.scope(job.token),
            ):
                self._run_node(planned, job)
        finally:
            self._done.put(key)

    def _run_node(self, planned: PlannedNode, job: _Job) -> None:
        key, rec = planned.key, self.records[planned.key]
        timeout = planned.node.config.timeout
        rec.timeout_s = timeout.total_seconds() if timeout else None
        self.bus.publish(NodeStarted(rec))
        with self._lock:
            upstream = {d: self.outputs[d] for d in planned.node.data_deps if d in self.outputs}
        output: Frame | None = None
        error: dict[str, Any] | None = None
        try:
            output = self._attempts(planned, rec, upstream, job)
        except BaseException as exc:  # noqa: BLE001 - recorded below (KeyboardInterrupt too)
            error = _as_error(exc, job.token, planned)
        with self._lock:  # the record's outcome, once: the runner may be giving up on it
            if job.abandoned:  # the runner has recorded this node already
                if output is not None:
                    self.engine.release(output)
                return
            if error is None:
                if output is not None:  # output first: consumers start once status says so
                    self.outputs[key] = output
                rec.status = "success"
            else:
                aborted = job.token.cancelled and self._stop_reason is not None
                rec.status, rec.error = ("aborted" if aborted else "failed"), error
            rec.ended_at = _now()
        if error is None and job.token.cancelled:
            rec.note = _join(
                rec.note,
                f"finished although cancelled ({job.token.reason}): its commit was under way",
            )
        self._done_consuming(key, planned.node.data_deps)
        self.bus.publish(NodeFinished(rec))

    def _attempts(
        self, planned: PlannedNode, rec: NodeRecord, upstream: dict[str, Frame], job: _Job
    ) -> Frame | None:
        """Run the node, again after transient failures, as its retry policy allows."""
        policy: RetryPolicy = planned.retry
        blank = _snapshot(rec)
        attempt = 0
        while True:
            attempt += 1
            rec.attempts = attempt
            if attempt > 1:
                _restore(rec, blank)
            started = _now()
            try:
                job.token.check()
                output = NodeRun(
                    planned,
                    self.engine,
                    upstream,
                    rec,
                    self.sql,
                    self.ctx,
                    self.root,
                    publish=self.bus.publish,
                ).run()
            except BaseException as exc:
                transient = is_transient(exc) and not job.token.cancelled
                retry = (
                    transient
                    and attempt < policy.max_attempts
                    and not job.token.committed  # a retry never writes anything twice
                    and isinstance(exc, Exception)
                )
                delay = policy.delay(attempt) if retry else None
                entry = _attempt_entry(attempt, started, exc, planned, transient, delay)
                if not job.abandoned:  # else the runner has closed the record
                    rec.attempt_log.append(entry)
                if not retry:
                    raise
                assert delay is not None
                # told by the observers: the log line (JSON or INFO) and the terminal
                self.bus.publish(NodeRetrying(rec, attempt, entry["error"], delay))
                try:
                    job.token.sleep(delay)
                except cancel.Cancelled:  # the timeout came first: no next attempt
                    entry["status"], entry["delay_s"] = "failed", None
                    raise
                continue
            if not job.abandoned:
                rec.attempt_log.append(_attempt_entry(attempt, started, None, planned, False, None))
            return output

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
        with self._lock:
            frames, self.outputs = list(self.outputs.values()), {}
        for frame in frames:
            self.engine.release(frame)


def _record(p: PlannedNode) -> NodeRecord:
    target = p.node.target
    return NodeRecord(
        p.key,
        p.node.pipeline,
        p.node.name,
        target=target.location.display() if target else None,
        target_uri=target.location.uri if target else None,
        write_mode=target.mode if target else None,
        pattern=p.node.pattern.spec.name if p.node.pattern else None,
        config_hash=p.node.config_hash,
    )


def _snapshot(rec: NodeRecord) -> dict[str, Any]:
    """What a record holds before an attempt, to start the next attempt from."""
    return {f.name: copy.deepcopy(getattr(rec, f.name)) for f in fields(rec)}


def _restore(rec: NodeRecord, blank: dict[str, Any]) -> None:
    keep = _KEPT | {"attempts", "attempt_log", "started_at", "status", "timeout_s"}
    for name, value in blank.items():
        if name not in keep:  # a copy: the attempt appends to the record's lists
            setattr(rec, name, copy.deepcopy(value))


def _as_error(exc: BaseException, token: cancel.Token, planned: PlannedNode) -> dict[str, Any]:
    """The node's error as its record keeps it: located, rendered and redacted."""
    if token.cancelled:
        return _cancelled_error(token.reason, planned)
    if isinstance(exc, LakestoryError):
        err = exc
    elif isinstance(exc, KeyboardInterrupt):
        err = LakestoryError("interrupted")
    else:  # a defect, not the user's data: log the traceback, keep going
        log.error("internal error in node %s", planned.key, exc_info=exc)
        err = LakestoryError(f"internal error: {type(exc).__name__}: {exc}")
    err.located(pipeline=planned.node.pipeline, node=planned.node.name)
    return current_redactor().redact({**err.to_dict(), "text": err.render()})


def _cancelled_error(reason: str, planned: PlannedNode) -> dict[str, Any]:
    hint = "its table was left as it was"
    if "timeout" in reason:
        hint += "; raise the node's `timeout:` if it needs longer"
    err = cancel.Cancelled(reason, hint=hint)
    err.located(pipeline=planned.node.pipeline, node=planned.node.name)
    return current_redactor().redact({**err.to_dict(), "text": err.render()})


def _attempt_entry(
    attempt: int,
    started: datetime,
    exc: BaseException | None,
    planned: PlannedNode,
    transient: bool,
    delay: float | None,
) -> dict[str, Any]:
    error = None
    if exc is not None:
        message = exc.what if isinstance(exc, LakestoryError) else f"{type(exc).__name__}: {exc}"
        kind = exc.kind if isinstance(exc, LakestoryError) else type(exc).__name__
        error = current_redactor().redact({"message": message, "kind": kind})
    return {
        "attempt": attempt,
        "started_at": started.isoformat(),
        "ended_at": _now().isoformat(),
        "status": "success" if exc is None else ("retried" if delay is not None else "failed"),
        "error": error,
        "transient": transient,
        "delay_s": delay,
    }


def _join(note: str | None, more: str) -> str:
    return f"{note}; {more}" if note else more
