"""``--resume`` after a failed node, and two pipelines running at once on one catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

PROJECT = """\
project: shop
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: orders.csv}
        write: {connection: lake, path: a}
      - name: b
        depends_on: [a]
        transform:
          - function: steps.fragile
        write: {connection: lake, path: b}
      - name: c
        transform:
          - sql: SELECT count(*) AS n FROM b
        write: {connection: lake, path: c}
      - name: d
        read: {connection: raw, path: orders.csv}
        transform:
          - sql: SELECT id FROM df
        write: {connection: lake, path: d}
"""

STEPS = """\
from pathlib import Path


def fragile(df):
    if Path(__file__).with_name("BROKEN").exists():
        raise RuntimeError("upstream system is down")
    return df
"""


def versions(root: Path) -> dict[str, int]:
    return {
        t: DeltaTable(str(root / "lake" / t)).version()
        for t in "abcd"
        if (root / "lake" / t / "_delta_log").exists()
    }


def test_resume_reruns_only_what_failed_or_was_skipped(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(
        PROJECT,
        {"data/orders.csv": "id,amount\n1,10\n2,20\n", "steps.py": STEPS, "BROKEN": ""},
    )
    first = cli("run", root / "lakestory.yaml", "--on-error", "fail_later")
    assert first.exit_code == 1
    before = versions(root)
    assert set(before) == {"a", "d"}

    (root / "BROKEN").unlink()
    plan = json.loads(cli("plan", root / "lakestory.yaml", "--resume", "--format", "json").stdout)
    reasons = {n["node"]: n["reason"] for n in plan["nodes"]}
    run_id = plan["resume_of"]
    assert reasons == {"p.b": f"failed in run {run_id}", "p.c": f"skipped in run {run_id}"}

    second = cli("run", root / "lakestory.yaml", "--resume", "--format", "json")
    assert second.exit_code == 0, second.stdout
    ran = {n["key"] for n in json.loads(second.stdout)["nodes"]}
    assert ran == {"p.b", "p.c"}
    after = versions(root)
    assert (after["a"], after["d"]) == (before["a"], before["d"])  # not rerun
    assert DeltaTable(str(root / "lake" / "c")).to_pyarrow_table().to_pylist() == [{"n": 2}]

    third = cli("run", root / "lakestory.yaml", "--resume")
    assert third.exit_code == 0
    assert "nothing to resume" in third.stdout

    text = (
        (root / "lakestory.yaml")
        .read_text()
        .replace("SELECT id FROM df", "SELECT id, amount FROM df")
    )
    (root / "lakestory.yaml").write_text(text)
    plan = json.loads(cli("plan", root / "lakestory.yaml", "--resume", "--format", "json").stdout)
    assert {n["node"]: n["reason"] for n in plan["nodes"]} == {
        "p.d": f"its config changed since run {plan['resume_of']}"
    }


TWO = """\
project: shared
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
pipelines:
{pipelines}
"""


def test_two_pipelines_run_at_once_on_one_catalog(project: Callable[..., Path]) -> None:
    pipelines = "\n".join(
        f"  - pipeline: {p}\n    nodes:\n"
        + "\n".join(
            f"      - name: n{i}\n"
            f"        read: {{connection: raw, path: orders.csv}}\n"
            f"        write: {{connection: lake, path: {p}_{i}, mode: upsert, keys: [id]}}"
            for i in range(3)
        )
        for p in ("x", "y")
    )
    root = project(TWO.format(pipelines=pipelines), {"data/orders.csv": "id,amount\n1,10\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKESTORY_")}
    for _round in range(3):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "lakestory", "run", str(root / "lakestory.yaml"), "-p", p],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in ("x", "y")
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, out + err
    history = subprocess.run(
        [sys.executable, "-m", "lakestory", "history", str(root / "lakestory.yaml"),
         "--format", "json", "--limit", "50"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    runs = json.loads(history.stdout)
    runs = runs["runs"] if isinstance(runs, dict) else runs
    assert len(runs) == 6
    assert {r["status"] for r in runs} == {"success"}
