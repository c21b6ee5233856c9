"""``--resume``: which nodes of the last run still have work to do, and why.

A node reruns when the last run that covered its pipeline did not finish it (it failed, was
skipped, or the process died before it committed), or when its config changed since. Nodes
downstream of a rerun node rerun too, so no table is left built from stale inputs; the
successful nodes upstream are read from the tables they wrote.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from lakestory.catalog import Catalog
from lakestory.core.errors import UsageError
from lakestory.io import delta
from lakestory.runtime.graph import Graph


def resume_selection(
    graph: Graph, catalog: Catalog | None, pipelines: Collection[str]
) -> tuple[dict[str, str], str | None, str | None]:
    """``(selected key -> reason, the run resumed, a note when nothing is left to do)``."""
    if catalog is None:
        raise UsageError(
            "--resume needs the system catalog, which is disabled (system.enabled: false)",
            hint="enable the catalog, or run the nodes you need with --node",
        )
    wanted = set(pipelines)
    runs = [r for r in catalog.runs(limit=None) if not wanted or wanted & set(r["pipelines"] or ())]
    if not runs:
        raise UsageError(
            "nothing to resume: the catalog has no run of "
            + (", ".join(sorted(pipelines)) or "this project"),
            hint="run without --resume",
        )
    # The last run, with the resume runs made since laid over it (newest wins per node).
    latest: dict[str, tuple[dict[str, Any] | None, str]] = {}
    run_id = ""
    for run in runs:
        run_id = str(run["run_id"])
        options = run.get("options") or {}
        if isinstance(options, str):
            options = json.loads(options or "{}")
        rows = {r["key"]: r for r in catalog.node_runs(run_id, limit=None)}
        for key in options.get("nodes") or list(rows):
            latest.setdefault(key, (rows.get(key), run_id))
        if not options.get("resume_of"):
            break
    chosen: dict[str, str] = {}
    for key, (row, ran_in) in latest.items():
        if key not in graph.nodes:
            continue
        why = _why_rerun(graph, key, row, ran_in)
        if why:
            chosen[key] = why
    keys = set(latest)
    for key in list(chosen):  # downstream of a rerun node reruns too
        for down in graph.dag.closure([key], upstream=False):
            if down != key and down in keys and down not in chosen:
                chosen[down] = f"upstream {key} reruns"
    order = [k for k in graph.dag.order() if k in chosen]
    note = None
    if not order:
        note = f"nothing to resume: every node of run {run_id} succeeded and none changed"
    return {k: chosen[k] for k in order}, run_id, note


def _why_rerun(graph: Graph, key: str, row: dict[str, Any] | None, run_id: str) -> str | None:
    node = graph.nodes[key]
    if row is None:
        target = node.target
        if (
            target is not None
            and target.format == "delta"
            and _committed(target.location.uri, run_id, key)
        ):
            status = "success"
        else:
            return f"did not finish in run {run_id} (the run stopped before it)"
    else:
        status = str(row.get("status"))
    if status != "success":
        return f"{status} in run {run_id}"
    recorded = row.get("config_hash") if row else None
    if recorded and recorded != node.config_hash:
        return f"its config changed since run {run_id}"
    return None


def _committed(uri: str, run_id: str, key: str) -> bool:
    """Whether the run committed this node's data before it stopped."""
    return any(
        meta.get("run_id") == run_id and meta.get("key") == key
        for _v, meta in delta.lakestory_commits(uri)
    )
