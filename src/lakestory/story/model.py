"""The story of a run as a JSON-ready dict (``schema_version`` 1; ``schema.json`` is its
JSON Schema). It only formats what the run recorded: its cost does not grow with data."""

from __future__ import annotations

import getpass
import json
import os
import socket
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from lakestory._version import __version__
from lakestory.catalog import schema_change
from lakestory.runtime.records import NodeRecord, RunResult

SCHEMA_VERSION = 1
REDACTED = "[REDACTED: Sensitive Data]"


@dataclass
class RunFacts:
    """What the story tells beside the records: the DAG and where the run came from."""

    dag_nodes: list[str] = field(default_factory=list)
    dag_edges: list[tuple[str, str]] = field(default_factory=list)  # (upstream, downstream)
    git_commit: str | None = None
    previous_schemas: Mapping[str, list[dict[str, str]]] | None = None  # table_uri -> columns
    max_sample_rows: int = 10
    history: Sequence[Mapping[str, Any]] = ()  # the catalog's successful node runs, newest first


TREND_RUNS = 10  # earlier runs a node's trend shows


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a story (``lakestory/story/schema.json``)."""
    text = resources.files("lakestory.story").joinpath("schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def build_story(result: RunResult, facts: RunFacts) -> dict[str, Any]:
    nodes = [_node(r, facts) for r in result.nodes]
    return {
        "schema_version": SCHEMA_VERSION,
        "run": _run(result, facts),
        "totals": _totals(result.nodes),
        "dag": {
            "nodes": facts.dag_nodes or [r.key for r in result.nodes],
            "edges": [list(e) for e in facts.dag_edges],
        },
        "nodes": nodes,
        "schema_changes": [
            {"key": n["key"], "table": n["target"], "change": n["schema_change"]}
            for n in nodes
            if n["schema_change"]
        ],
    }


def _run(result: RunResult, facts: RunFacts) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "project": result.project,
        "pipelines": list(result.pipelines) or sorted({r.pipeline for r in result.nodes}),
        "env": result.env,
        "status": result.status,
        "started_at": result.started_at.isoformat(),
        "ended_at": result.ended_at.isoformat() if result.ended_at else None,
        "duration_s": result.duration,
        "options": {k: v for k, v in result.options.items() if k != "story"},
        "user": _user(),
        "host": socket.gethostname(),
        "lakestory_version": __version__,
        "git_commit": facts.git_commit,
    }


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or password database
        return os.environ.get("USER")


def _totals(records: Sequence[NodeRecord]) -> dict[str, int]:
    def total(name: str) -> int:
        return sum(getattr(r, name) or 0 for r in records)

    return {
        "nodes": len(records),
        "succeeded": sum(r.status == "success" for r in records),
        "failed": sum(r.status in ("failed", "aborted") for r in records),
        "skipped": sum(r.status not in ("success", "failed", "aborted") for r in records),
        "retries": sum(max(r.attempts - 1, 0) for r in records),
        "rows_read": total("rows_read"),
        "rows_written": total("rows_written"),
        "rows_dropped": total("rows_dropped"),
        "rows_quarantined": total("rows_quarantined"),
    }


def _node(r: NodeRecord, facts: RunFacts) -> dict[str, Any]:
    out = r.to_dict()
    sample = getattr(r, "sample", None)
    if isinstance(sample, list):
        sample = sample[: facts.max_sample_rows]
    out["sample"] = sample
    out["sensitive_columns"] = list(getattr(r, "sensitive_columns", None) or [])
    out["schema_change"] = _schema_change(r, facts.previous_schemas)
    out["trend"] = trend(r, [h for h in facts.history if h.get("key") == r.key])
    return out


def trend(r: NodeRecord, earlier: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Rows and durations of the node's last successful runs (oldest first) and this run's,
    with what is far off the norm: rows under half or over twice the median of at least 3
    earlier runs, or a duration over three times it (and over a second)."""
    runs = [
        {"run_id": h.get("run_id"), "rows": h.get("rows_out"), "duration_s": h.get("duration_s")}
        for h in list(earlier)[:TREND_RUNS]
    ][::-1]
    if not runs:
        return None
    flags = []
    rows = [x["rows"] for x in runs if x["rows"] is not None]
    durations = [x["duration_s"] for x in runs if x["duration_s"] is not None]
    if len(rows) >= 3 and r.rows_out is not None and r.status == "success":
        norm = statistics.median(rows)
        if norm and not 0.5 * norm <= r.rows_out <= 2 * norm:
            flags.append(f"rows: {r.rows_out:,} against a median of {norm:,.0f}")
    if len(durations) >= 3 and r.duration is not None:
        norm = statistics.median(durations)
        if r.duration > max(3 * norm, 1.0):
            flags.append(f"duration: {r.duration:.2f}s against a median of {norm:.2f}s")
    return {"runs": runs, "flags": flags}


def _schema_change(
    r: NodeRecord, previous: Mapping[str, list[dict[str, str]]] | None
) -> str | None:
    """How the table this node wrote changed since it was last recorded; None when it did
    not, or when there is no catalog to compare with."""
    if previous is None or r.status != "success" or not r.target_uri or not r.schema:
        return None
    if r.table_version is None:  # the catalog records the schemas of Delta tables only
        return None
    new = [{"name": c["name"], "type": c["type"]} for c in r.schema]
    return schema_change(previous.get(r.target_uri), new) or None
