"""Start-up benchmark: how long the CLI takes for small things, process start to exit.

Measures, each ``--repeat`` times after one untimed warm-up, taking turns (median): bare
``python -c pass`` (for reference), ``lakestory --help``, ``lakestory validate`` of the
example project fresh from ``lakestory init``, and ``lakestory run`` of a tiny 3-node project
on a 10-row CSV (writes included). For information it also measures ``validate`` once the
project's SQL cache is warm (after a run) and the tiny run with its SQL cache removed before
every run (a first run). Then it shows the slowest imports (cumulative, from
``python -X importtime``) of ``--help`` and of the tiny run.

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from measure import Sample, child_env, median, run_checked, verdict

BENCH_DIR = Path(__file__).resolve().parent
SQL_CACHE = Path(".lakestory") / "cache"

TINY_PROJECT = """\
project: tiny
engine: duckdb
connections:
  files: {type: local, base_path: data}
pipelines:
  - pipeline: tiny
    nodes:
      - name: load
        read: {connection: files, format: csv, path: input.csv}
        write: {connection: files, format: delta, path: lake/load, mode: overwrite}
      - name: enriched
        transform:
          - sql: SELECT id, category, amount * 2 AS doubled, day FROM load
        write: {connection: files, format: parquet, path: lake/enriched}
      - name: summary
        transform:
          - sql: |
              SELECT category, COUNT(*) AS n, SUM(doubled) AS total, MAX(day) AS last_day
              FROM enriched GROUP BY category
        write: {connection: files, format: delta, path: lake/summary}
"""


@dataclass(frozen=True)
class Case:
    """One command to time; ``target`` in seconds, ``reset`` removed before every run."""

    label: str
    cmd: list[str]
    cwd: Path
    target: float | None = None
    reset: Path | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (median)")
    parser.add_argument("--top", type=int, default=10, help="slowest imports to show")
    parser.add_argument(
        "--no-pycache",
        action="store_true",
        help="run children in this environment as is (with "
        "PYTHONDONTWRITEBYTECODE set, lakestory's sources are compiled on "
        "every start)",
    )
    return parser.parse_args(argv)


def lakestory_script() -> str:
    script = Path(sys.executable).parent / "lakestory"
    if not script.exists():
        raise SystemExit(f"cannot find {script}")
    return str(script)


def write_tiny_project(root: Path) -> Path:
    """A 3-node project: CSV → Delta, SQL → Parquet, aggregate → Delta."""
    data = root / "data"
    data.mkdir(parents=True)
    rows = ["id,category,amount,day"] + [
        f"{i},{'abc'[i % 3]},{i * 1.5},2024-01-{i:02d}" for i in range(1, 11)
    ]
    (data / "input.csv").write_text("\n".join(rows) + "\n")
    project = root / "lakestory.yaml"
    project.write_text(TINY_PROJECT)
    return project


def init_example(ls: str, target: Path, env: dict[str, str], *, run: bool = False) -> Path:
    """``lakestory init`` a copy of the example; ``run`` it once to warm its SQL cache."""
    subprocess.run([ls, "init", str(target)], check=True, env=env, capture_output=True)
    if run:
        subprocess.run([ls, "run"], cwd=target, check=True, env=env, capture_output=True)
    return target


def make_cases(tmp: Path, env: dict[str, str]) -> list[Case]:
    ls = lakestory_script()
    fresh = init_example(ls, tmp / "example", env)
    warm = init_example(ls, tmp / "example_run", env, run=True)
    tiny = write_tiny_project(tmp / "tiny")
    run_tiny = [ls, "run", str(tiny)]
    return [
        Case("python -c pass", [sys.executable, "-c", "pass"], tmp),
        Case("lakestory --help", [ls, "--help"], tmp, 0.3),
        Case("lakestory validate (example)", [ls, "validate"], fresh, 0.6),
        Case("lakestory run (tiny, 3 nodes)", run_tiny, tiny.parent, 0.8),
        Case("  validate, SQL cache warm", [ls, "validate"], warm),
        Case("  tiny run, no SQL cache", run_tiny, tiny.parent, reset=tiny.parent / SQL_CACHE),
    ]


def run_once(case: Case, env: dict[str, str], log: Path) -> Sample:
    if case.reset is not None:
        shutil.rmtree(case.reset, ignore_errors=True)
    return run_checked(case.cmd, cwd=case.cwd, log=log, env=env)


def measure_all(cases: list[Case], repeat: int, env: dict[str, str], log: Path) -> list[Sample]:
    """Per case, the median of ``repeat`` runs after one untimed warm-up run.

    The cases take turns (round-robin), so a slow spell of the machine hits them all alike.
    """
    samples: list[list[Sample]] = [[] for _ in cases]
    for i in range(repeat + 1):
        for case, got in zip(cases, samples, strict=True):
            sample = run_once(case, env, log)
            if i:
                got.append(sample)
    return [median(got) for got in samples]


def print_table(cases: list[Case], results: list[Sample]) -> None:
    print(f"{'command':<32}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}  target")
    for case, s in zip(cases, results, strict=True):
        goal = f"≤{case.target:.1f}s {verdict(s.wall_s <= case.target)}" if case.target else ""
        print(f"{case.label:<32}{s.wall_s:>8.3f}{s.cpu_s:>8.3f}{s.peak_mib:>10.0f}  {goal}")


def slowest_imports(case: Case, env: dict[str, str], top: int) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, module) of the ``top`` slowest imports of ``case``."""
    done = subprocess.run(
        case.cmd,
        cwd=case.cwd,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), int(own), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def print_imports(case: Case, env: dict[str, str], top: int) -> None:
    print(
        f"\nslowest imports of `{case.label.strip()}` (python -X importtime, µs; "
        "indentation = nesting):"
    )
    print(f"{'cumulative':>11}{'self':>9}  module")
    for cumulative, own, name in slowest_imports(case, env, top):
        print(f"{cumulative:>11,}{own:>9,}  {name}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lakestory-startup-") as name:
        tmp = Path(name)
        pycache = None if args.no_pycache else BENCH_DIR / "_data" / "pycache"
        env = child_env(pycache)
        cases = make_cases(tmp, env)
        results = measure_all(cases, args.repeat, env, tmp / "runs.log")
        mode = (
            "as is"
            if pycache is None
            else f"bytecode cached in {os.path.relpath(pycache)} (PYTHONPYCACHEPREFIX)"
        )
        print(f"median of {args.repeat} runs each, process start to exit; {mode}\n")
        print_table(cases, results)
        for case in (cases[1], cases[3]):  # --help and the tiny run
            print_imports(case, env, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
