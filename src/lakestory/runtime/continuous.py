"""Continuous runs: watch the file-incremental sources of a plan and run micro-batches.

Each micro-batch is an ordinary run of the whole plan (its own run id, story, catalog rows,
retries, alerts) in which every watched node reads at most a bounded slice of its pending
files. Exactly once rests on what an ordinary run already guarantees:

- a watched node commits its file ledger in the same Delta commit as the rows of those
  files, so a batch killed before that commit leaves its files pending, and one killed
  after it never reads them again;
- the nodes past a watched one must read the tables before them from their commits
  (``read:`` of the table with ``incremental: {column: ...}``, or a full read), never the
  batch in memory: :func:`check_plan` refuses a plan where a node takes the in-memory
  output of a table-writing node downstream of a watched one. Each such node's mark is
  committed with its own data, so a crash between two commits of a batch leaves the later
  nodes behind, and the next batch catches them up (after a restart, at once: see
  :meth:`Driver._unfinished`).

The driver here knows nothing of projects, stories or metrics: it is given a function that
runs one batch and one that reports the lag, and tells its caller about every batch.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lakestory.catalog import Catalog
from lakestory.config.models import PipelineConfig
from lakestory.config.models.nodes import parse_trigger
from lakestory.core.errors import ConfigError, ErrorList, UsageError, is_transient
from lakestory.io import delta, paths
from lakestory.io.paths import InputFile
from lakestory.runtime.incremental import load_states
from lakestory.runtime.plan import Plan
from lakestory.runtime.records import RunResult
from lakestory.secrets.redactor import current as current_redactor

log = logging.getLogger(__name__)

DEFAULT_MAX_FILES = 1000  # per watched source and batch, when no bound is configured
DEFAULT_TRIGGER = "interval=30s"
TICK_S = 0.2  # how often a wait between polls looks at the stop flag


@dataclass(frozen=True)
class Bounds:
    max_files: int | None = None
    max_bytes: int | None = None

    def take(self, files: list[InputFile]) -> list[InputFile]:
        """The first files (in order) within the bounds; always at least one, so a file
        larger than ``max_bytes`` is a batch of its own rather than stuck for ever."""
        taken: list[InputFile] = []
        size = 0
        for f in files:
            if taken and self.max_files is not None and len(taken) >= self.max_files:
                break
            if taken and self.max_bytes is not None and size + f.size > self.max_bytes:
                break
            taken.append(f)
            size += f.size
        return taken


@dataclass(frozen=True)
class Watched:
    """A node reading ``incremental: {mode: files}``: the source a continuous run watches."""

    key: str
    pipeline: str
    node: str
    uri: str  # the folder (or prefix) read
    format: str
    target_uri: str | None  # where its ledger is committed
    bounds: Bounds


@dataclass(frozen=True)
class Lag:
    """What a watched source has not yet ingested."""

    source: Watched
    files: int
    bytes: int
    oldest_age_s: float  # 0 when nothing is pending


@dataclass
class Batch:
    """One micro-batch: what it took from each source, and its run."""

    number: int
    files: dict[str, list[InputFile]]  # watched key -> files taken
    result: RunResult
    pending: int  # files still pending (listed before the batch) after it
    catch_up: bool = False  # the first batch after a start, run with no file pending

    @property
    def file_count(self) -> int:
        return sum(len(v) for v in self.files.values())

    @property
    def bytes(self) -> int:
        return sum(f.size for v in self.files.values() for f in v)

    def to_dict(self) -> dict[str, Any]:
        res = self.result
        return {
            "batch": self.number,
            "run_id": res.run_id,
            "status": res.status,
            "files": {k: [f.name for f in v] for k, v in self.files.items()},
            "file_count": self.file_count,
            "bytes": self.bytes,
            "pending": self.pending,
            "catch_up": self.catch_up,
            "duration_s": res.duration,
            "rows_ingested": sum(r.rows_read or 0 for r in res.nodes if r.key in self.files),
            "rows_read": sum(r.rows_read or 0 for r in res.nodes),
            "rows_written": sum(r.rows_written or 0 for r in res.nodes),
            "failed": [r.key for r in res.failed],
            "story": res.options.get("story"),
        }


@dataclass
class Outcome:
    """How a continuous run ended."""

    batches: int = 0
    failed_batches: int = 0
    stopped_by: str | None = None  # the signal's name when one stopped it
    last: Batch | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "continuous": "stopped" if self.stopped_by else "done",
            "stopped_by": self.stopped_by,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
        }

    @property
    def exit_code(self) -> int:
        """0 unless an available-now run ended on a failed batch (a signal: always 0)."""
        failed = self.last is not None and self.last.result.status == "failed"
        return 1 if failed and self.stopped_by is None else 0


# --- settings -------------------------------------------------------------------------


def trigger_for(
    plan: Plan, pipelines: Collection[PipelineConfig], flag: bool | None, trigger: str | None
) -> str | None:
    """The trigger of a continuous run of ``plan``, or None for an ordinary run.

    ``flag`` is ``--continuous`` (True) / ``--once`` (False) / neither (None: continuous
    when ``trigger`` is given or every pipeline of the plan says ``continuous:``)."""
    chosen = {p.node.pipeline for p in plan.nodes}
    configs = [p for p in pipelines if p.pipeline in chosen]
    marked = [p for p in configs if p.continuous]
    if flag is None and trigger is not None:
        flag = True  # --trigger alone asks for a continuous run
    if flag is None and marked and len(marked) < len(configs):
        names = ", ".join(sorted(p.pipeline for p in marked))
        others = ", ".join(sorted(p.pipeline for p in configs if not p.continuous))
        raise UsageError(
            f"the selection mixes continuous pipelines ({names}) with others ({others})",
            hint="select the continuous ones with --pipeline, or say --continuous or --once",
        )
    if not (flag or (flag is None and marked)):
        if trigger is not None:
            raise UsageError(
                "--trigger goes with a continuous run, not --once", hint="drop one of them"
            )
        return None
    if trigger is not None:
        _parse(trigger)
        return trigger
    wanted = {p.continuous.trigger for p in marked if not isinstance(p.continuous, bool)}
    if len(wanted) > 1:
        raise UsageError(
            f"the selected pipelines ask for different triggers: {', '.join(sorted(wanted))}",
            hint="run them separately (--pipeline), or give one --trigger",
        )
    return wanted.pop() if wanted else DEFAULT_TRIGGER


def _parse(trigger: str) -> timedelta | None:
    try:
        return parse_trigger(trigger)
    except ValueError as exc:
        raise UsageError(str(exc), hint="e.g. --trigger available-now") from None


def watched_sources(plan: Plan, bounds: Bounds | None = None) -> list[Watched]:
    """The plan's file-incremental nodes, each with its batch bounds (``bounds`` from the
    command line replace the config's)."""
    found = []
    for p in plan.nodes:
        read, source = p.node.config.read, p.node.source
        inc = read.incremental if read else None
        if inc is None or inc.mode != "files" or source is None:
            continue
        own = Bounds(inc.max_files_per_batch, inc.max_bytes_per_batch)
        chosen = bounds if bounds and (bounds.max_files or bounds.max_bytes) else own
        if chosen.max_files is None and chosen.max_bytes is None:
            chosen = Bounds(DEFAULT_MAX_FILES)
        target = p.node.target.location.uri if p.node.target else None
        found.append(
            Watched(
                p.key,
                p.node.pipeline,
                p.node.name,
                source.location.uri,
                source.format,
                target,
                chosen,
            )
        )
    return found


def check_plan(plan: Plan, watched: Collection[Watched]) -> None:
    """Refuse what a crash between two commits of one batch would break: a node taking, in
    memory, the output of a table-writing node downstream of a watched source (after a
    crash past that node's commit, the rows would never reach it)."""
    if not watched:
        raise UsageError(
            "a continuous run needs a node reading `incremental: {mode: files}`, and the "
            "selection has none",
            hint="add `incremental: {mode: files}` to the read of the node that ingests files "
            "(docs/continuous.md), or select its pipeline",
        )
    fed = {w.key for w in watched}
    errors: list[ConfigError] = []
    for p in plan.nodes:
        deps = p.node.data_deps | p.node.order_deps
        risky = sorted(
            d
            for d in p.node.data_deps
            if d in fed and d not in p.from_tables and plan.node(d).node.target is not None
        )
        if deps & fed:
            fed.add(p.key)
        for d in risky:
            up = plan.node(d).node
            assert up.target is not None
            errors.append(
                ConfigError(
                    f"in a continuous run, node '{p.node.name}' cannot take the batch of "
                    f"'{up.name}' in memory: a crash after {up.name}'s commit and before "
                    f"{p.node.name}'s would lose those rows for it",
                    where=p.node.where,
                    hint=f"read {up.name}'s table instead: `read: {{connection: "
                    f"{up.target.location.connection}, path: {up.target.location.path}, "
                    "format: delta, incremental: {column: <a column that grows with each "
                    "batch, e.g. _ingested_at>}}` (docs/continuous.md)",
                )
            )
    ErrorList(errors).raise_if_any()


# --- batches --------------------------------------------------------------------------


class BatchLedger(set[str]):
    """A watched node's ledger as one micro-batch sees it: the files ingested, and every
    file outside the batch counts as taken too, so the node reads exactly the batch (a
    file arriving meanwhile waits for the next one). Its size is the real ledger's."""

    def __init__(self, ingested: Collection[str], batch: Collection[str]) -> None:
        super().__init__(ingested)
        self.batch = frozenset(batch)

    def __contains__(self, name: object) -> bool:
        return name not in self.batch or super().__contains__(name)


def limit_ledgers(ledgers: dict[str, set[str]], files: Mapping[str, Collection[str]]) -> None:
    """Restrict each watched node of a run to its batch (see :class:`BatchLedger`)."""
    for key, names in files.items():
        ledgers[key] = BatchLedger(ledgers.get(key, set()), names)


def pending(source: Watched, ingested: Collection[str]) -> list[InputFile]:
    """The source's files not yet ingested, oldest first (modification time, then name)."""
    found = [f for f in paths.input_files(source.uri, source.format) if f.name not in ingested]
    return sorted(found, key=lambda f: (f.mtime, f.name))


def lag_of(source: Watched, files: list[InputFile], now: float) -> Lag:
    oldest = min((f.mtime for f in files), default=now)
    return Lag(source, len(files), sum(f.size for f in files), max(now - oldest, 0.0))


RunBatch = Callable[[Mapping[str, Collection[str]]], RunResult]


@dataclass
class Driver:
    """Polls the watched sources and runs micro-batches until stopped (``interval``) or
    until what was pending at the start is done (``interval=None``: available-now)."""

    plan: Plan
    watched: list[Watched]
    run_batch: RunBatch
    catalog: Catalog | None
    interval: timedelta | None
    on_batch: Callable[[Batch], None] = lambda batch: None
    on_lag: Callable[[list[Lag]], None] = lambda lags: None
    on_stopping: Callable[[str], None] = lambda reason: None
    stopping: str | None = None  # why the run is stopping (set by a signal)
    ledgers: dict[str, set[str]] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=Outcome)
    _snapshot: dict[str, set[str]] | None = None  # available-now: the files pending at start
    _catch_up: bool | None = None  # whether the last batch may not have finished: run one

    def run(self) -> Outcome:
        self.ledgers = self._load_ledgers()
        while self.stopping is None:
            try:
                then = self._poll()
            except Exception as exc:
                # a store or the catalog out of reach: an interval run waits it out
                if self.interval is None or not is_transient(exc):
                    raise
                log.warning(
                    "continuous run: %s; trying again in %gs",
                    current_redactor().redact_text(str(exc)),
                    self.interval.total_seconds(),
                )
                then = "wait"
            if then == "stop" or (then == "wait" and self.interval is None):
                break
            if then == "wait":
                assert self.interval is not None
                self._wait(self.interval)
        self.outcome.stopped_by = self.stopping
        self.on_lag(self._lags_now())
        return self.outcome

    def _poll(self) -> str:
        """List the sources, report the lag, and run a batch when one is due. Returns what
        to do next: ``again`` (a batch ran: look again at once), ``wait`` or ``stop``."""
        outcome = self.outcome
        lists = {w.key: pending(w, self.ledgers.get(w.key, set())) for w in self.watched}
        if self.interval is None:  # available-now: only what is pending at the start
            if self._snapshot is None:
                self._snapshot = {k: {f.name for f in v} for k, v in lists.items()}
            lists = {k: [f for f in v if f.name in self._snapshot[k]] for k, v in lists.items()}
        now = time.time()
        self.on_lag([lag_of(w, lists[w.key], now) for w in self.watched])
        waiting = sum(len(v) for v in lists.values())
        if self._catch_up is None:
            self._catch_up = self._unfinished()
        if not waiting and not self._catch_up:
            return "wait"
        batch = self._batch(outcome.batches + 1, lists, catch_up=not waiting)
        # a failed batch is run again at the next poll, files or not: its later nodes
        # may be behind the watched ones
        self._catch_up = batch.result.status == "failed"
        outcome.batches += 1
        outcome.last = batch
        if batch.result.status == "aborted":
            return "stop"
        if batch.result.status == "failed":
            outcome.failed_batches += 1
            # available-now ends on a failed batch (exit 1); an interval run tries again
            return "stop" if self.interval is None else "wait"
        return "again"

    def _batch(self, number: int, lists: dict[str, list[InputFile]], catch_up: bool) -> Batch:
        taken = {w.key: w.bounds.take(lists[w.key]) for w in self.watched}
        left = sum(len(lists[k]) - len(v) for k, v in taken.items())
        names = {k: [f.name for f in v] for k, v in taken.items()}
        started = datetime.now(UTC)
        try:
            result = self.run_batch(names)
        except KeyboardInterrupt:  # stopped outside the runner (before it started)
            result = RunResult("", self.plan.project, self.plan.env, started, status="aborted")
            result.ended_at = datetime.now(UTC)
        batch = Batch(number, taken, result, left, catch_up)
        self._account(batch)
        log.log(
            logging.WARNING if result.status == "failed" else logging.INFO,
            "batch %d: %d files (%d bytes), %s in %.2fs, %d pending",
            number,
            batch.file_count,
            batch.bytes,
            result.status,
            result.duration or 0.0,
            left,
            extra={
                "event": "batch_finished",
                "status": result.status,
                "duration_s": result.duration,
                "rows_read": batch.to_dict()["rows_read"],
                "rows_written": batch.to_dict()["rows_written"],
            },
        )
        self.on_batch(batch)
        return batch

    def _account(self, batch: Batch) -> None:
        """Bring the ledgers up to date after a batch: a successful watched node took its
        batch (even files with no rows, which commit nothing: they are not taken again
        until a restart re-reads them, harmlessly); anything else, from the tables' logs."""
        records = {r.key: r for r in batch.result.nodes}
        for key, files in batch.files.items():
            rec = records.get(key)
            if rec is None or rec.status != "success":
                self.ledgers = self._load_ledgers()
                return
            self.ledgers.setdefault(key, set()).update(f.name for f in files)

    def _unfinished(self) -> bool:
        """Whether the last batch may have stopped between two of its commits: the last
        commit of a watched node was made by a run the catalog does not record as done
        with every node successful (it was killed, or a later node failed). Then the first
        batch runs even with no file pending, so the nodes after it catch up at once.
        Without a catalog, whenever a watched node has committed before."""
        for w in self.watched:
            if w.target_uri is None or not delta.exists(w.target_uri):
                continue
            newest = delta.table(w.target_uri).version()
            mine = [
                meta
                for _v, meta in delta.lakestory_commits(w.target_uri, max(newest - 20, -1))
                if meta.get("key") == w.key and meta.get("project") == self.plan.project
            ]
            if not mine:
                continue
            if self.catalog is None:
                return True
            nodes = self.catalog.node_runs(str(mine[-1].get("run_id")), limit=None)
            if not nodes or any(r.get("status") != "success" for r in nodes):
                return True
        return False

    def _load_ledgers(self) -> dict[str, set[str]]:
        wanted = {w.key: (w.target_uri, "files") for w in self.watched}
        _states, ledgers = load_states(self.catalog, self.plan.project, wanted)
        return ledgers

    def _lags_now(self) -> list[Lag]:
        now = time.time()
        return [lag_of(w, pending(w, self.ledgers.get(w.key, set())), now) for w in self.watched]

    def _wait(self, interval: timedelta) -> None:
        end = time.monotonic() + interval.total_seconds()
        while self.stopping is None and (left := end - time.monotonic()) > 0:
            time.sleep(min(TICK_S, left))

    def stop(self, reason: str) -> None:
        """Stop after the current batch (from a signal handler or another thread)."""
        if self.stopping is None:
            self.stopping = reason
            self.on_stopping(reason)


@contextmanager
def stop_on_signals(driver: Driver) -> Iterator[None]:
    """While a continuous run runs, the first SIGTERM or Ctrl-C lets the current batch
    finish and then ends the run; a second one abandons the batch (its nodes are cancelled
    before their commits, the way an interrupted run is), and the run ends. Either way no
    file is lost: what was not committed stays pending."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if driver.stopping is None:
            driver.stop(name)
            return
        raise KeyboardInterrupt  # the second signal: the runner aborts the batch

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def interval_of(trigger: str) -> timedelta | None:
    """The poll interval of a trigger (None: available-now)."""
    return _parse(trigger)
