"""What a run produced: one :class:`NodeRecord` per node and a :class:`RunResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class NodeRecord:
    key: str
    pipeline: str
    node: str
    status: str = "pending"  # pending | running | success | failed | skipped | aborted
    started_at: datetime | None = None
    ended_at: datetime | None = None
    rows_read: int | None = None
    rows_out: int | None = None
    rows_written: int | None = None
    schema: list[dict[str, str]] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)  # SQL steps as written
    sql_run: list[str] = field(default_factory=list)  # the same, as the engine ran them
    target: str | None = None  # connection:path, as displayed
    target_uri: str | None = None
    write_mode: str | None = None
    pattern: str | None = None  # the node's modeling pattern (its type), if it has one
    table_version: int | None = None  # the Delta version this run committed
    rows_updated: int | None = None  # keyed writes: rows changed in place (or closed, SCD2)
    rows_deleted: int | None = None
    error: dict[str, Any] | None = None
    skipped_because: str | None = None
    attempts: int = 0
    # one entry per attempt, in order: {"attempt", "started_at", "ended_at", "status"
    # (success | failed | retried), "error" (the redacted error dict or None), "transient",
    # "delay_s" (the wait before the next attempt, for retried ones)}
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    timeout_s: float | None = None  # the node's `timeout`, when it has one
    config_hash: str | None = None  # of the node's resolved config: resume reruns on change
    # incremental reads: the state this run committed with its data, e.g.
    # {"kind": "column", "column": "updated_at", "value": "2026-01-01T00:00:00", "type": "ts"}
    state: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # ledger: {"file","size","mtime"}
    note: str | None = None  # e.g. "no new rows since the last run"
    # data-quality checks (contracts on the input, then validation tests on the output):
    # one dict per test, see lakestory.quality.CheckResult.to_dict
    checks: list[dict[str, Any]] = field(default_factory=list)
    rows_checked: int | None = None  # rows the validation tests judged
    rows_dropped: int | None = None  # removed by `on_fail: drop` (contracts and tests)
    rows_quarantined: int | None = None  # written to the quarantine table instead
    quarantine_target: str | None = None  # connection:path of the quarantine table
    quarantine_version: int | None = None  # the quarantine table version this run committed
    gate: dict[str, Any] | None = None  # see lakestory.quality.GateResult.to_dict
    # up to `story.max_sample_rows` rows of the output (JSON-able values) with sensitive
    # columns masked; "[REDACTED: Sensitive Data]" for a `sensitive: true` node; None when
    # samples are off, the node produced no output this run, or its output was a Python
    # step's stream that only the write could read
    sample: list[dict[str, Any]] | str | None = None
    sensitive_columns: list[str] = field(default_factory=list)  # output columns masked

    @property
    def duration(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("started_at", "ended_at"):
            out[k] = out[k].isoformat() if out[k] else None
        out["duration_s"] = self.duration
        return out


@dataclass
class RunResult:
    run_id: str
    project: str
    env: str | None
    started_at: datetime
    ended_at: datetime | None = None
    status: str = "running"  # success | failed | aborted (interrupted)
    nodes: list[NodeRecord] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)  # pipelines with a node in this run
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"full_refresh": true}

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def failed(self) -> list[NodeRecord]:
        return [r for r in self.nodes if r.status == "failed"]

    @property
    def duration(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None

    def record(self, name: str) -> NodeRecord:
        """The record of a node, by ``pipeline.node`` or by a unique bare name."""
        matches = [r for r in self.nodes if name in (r.key, r.node)]
        if len(matches) != 1:
            raise KeyError(f"no single node named {name!r} in this run")
        return matches[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "project": self.project,
            "env": self.env,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_s": self.duration,
            "pipelines": self.pipelines,
            "options": self.options,
            "nodes": [r.to_dict() for r in self.nodes],
        }
