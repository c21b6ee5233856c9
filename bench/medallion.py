"""The medallion benchmark: lakestory's gold pipeline against the same work by hand on DuckDB.

1. generates the demo's raw CSVs at scale (cached by scale and seed);
2. runs the demo's bronze and silver pipelines once with lakestory (setup, cached too);
3. runs ``lakestory run --pipeline gold`` and ``bench/baseline_gold.py`` as child processes,
   alternating which goes first, ``--repeat`` times after ``--warmup`` untimed rounds;
4. checks that both wrote the same gold tables;
5. prints median wall time, CPU time and peak RSS of each side, the ratios and the targets.

Exit status: 0 when the outputs are equal (targets are informational), 1 when they differ.

    .venv/bin/python bench/medallion.py --orders 10000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import compare
import datagen
from lakestory.examples import DEMO_DIR
from measure import Sample, child_env, median, run_checked, verdict

BENCH_DIR = Path(__file__).resolve().parent
WALL_TARGET = 1.15
PEAK_TARGET = 1.30
SETUP_MARKER = ".bench-setup.json"


@dataclass(frozen=True)
class Workspace:
    """The files of one scale: raw CSVs, the project, lakestory's lake, baseline output."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def lake(self) -> Path:
        return self.root / "data" / "lake"

    @property
    def project(self) -> Path:
        return self.root / "lakestory.yaml"

    @property
    def baseline(self) -> Path:
        return self.root / "baseline"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def env(self) -> dict[str, str]:
        """Children's environment: bytecode cached beside the data (see measure.child_env)."""
        return child_env(self.root.parent / "pycache")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / "_data")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument(
        "--rerun-setup", action="store_true", help="run bronze and silver again even if cached"
    )
    return parser.parse_args(argv)


def lakestory_cmd() -> list[str]:
    """The ``lakestory`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "lakestory"
    if script.exists():
        return [str(script)]
    found = shutil.which("lakestory")
    if not found:
        raise SystemExit("cannot find the lakestory command")
    return [found]


def demo_digest() -> str:
    """Identifies the demo project's version, so a changed demo re-runs the setup."""
    digest = hashlib.sha256()
    for name in ("lakestory.yaml", "transforms.py"):
        digest.update((DEMO_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def write_project(ws: Workspace) -> None:
    """The demo project as shipped: its data folders are relative, so they land in ``ws``."""
    for name in ("lakestory.yaml", "transforms.py"):
        shutil.copyfile(DEMO_DIR / name, ws.root / name)


def ensure_setup(ws: Workspace, scale: datagen.Scale, force: bool) -> tuple[float, bool]:
    """Run bronze + silver unless this scale's silver is already there; (seconds, cached)."""
    marker = ws.lake / SETUP_MARKER
    key = {"scale": asdict(scale), "demo": demo_digest()}
    if not force and marker.exists():
        saved = json.loads(marker.read_text())
        if saved.get("key") == key:
            return float(saved["seconds"]), True
    shutil.rmtree(ws.lake, ignore_errors=True)
    cmd = [*lakestory_cmd(), "run", str(ws.project), "--pipeline", "bronze", "--pipeline", "silver"]
    sample = run_checked(cmd, log=ws.logs / "setup.log", cwd=ws.root, env=ws.env)
    ws.lake.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"key": key, "seconds": sample.wall_s}))
    return sample.wall_s, False


def run_lakestory(ws: Workspace) -> Sample:
    cmd = [*lakestory_cmd(), "run", str(ws.project), "--pipeline", "gold"]
    return run_checked(cmd, log=ws.logs / "lakestory_gold.log", cwd=ws.root, env=ws.env)


def run_baseline(ws: Workspace) -> Sample:
    cmd = [
        sys.executable,
        str(BENCH_DIR / "baseline_gold.py"),
        "--lake",
        str(ws.lake),
        "--out",
        str(ws.baseline),
    ]
    return run_checked(cmd, log=ws.logs / "baseline_gold.log", cwd=ws.root, env=ws.env)


def measure_both(ws: Workspace, repeat: int, warmup: int) -> tuple[list[Sample], list[Sample]]:
    """Alternate which side goes first each round, so neither always gets a warm cache."""
    ours: list[Sample] = []
    theirs: list[Sample] = []
    for i in range(warmup + repeat):
        order = [(run_lakestory, ours), (run_baseline, theirs)]
        if i % 2:
            order.reverse()
        got = {}
        for fn, samples in order:
            got[fn] = fn(ws)
            if i >= warmup:
                samples.append(got[fn])
        note = " (warm-up, not counted)" if i < warmup else ""
        print(
            f"  round {i + 1}/{warmup + repeat}: lakestory {got[run_lakestory].wall_s:.2f}s,"
            f" hand-written {got[run_baseline].wall_s:.2f}s{note}",
            flush=True,
        )
    return ours, theirs


def _row(label: str, s: Sample) -> str:
    return f"{label:<14}{s.wall_s:>10.2f}{s.cpu_s:>10.2f}{s.peak_mib:>12.0f}"


def report(ours: Sample, theirs: Sample) -> bool:
    """Print the comparison table; True when both targets are met."""
    wall, cpu, peak = (
        ours.wall_s / theirs.wall_s,
        ours.cpu_s / theirs.cpu_s,
        ours.peak_mib / theirs.peak_mib,
    )
    wall_ok, peak_ok = wall <= WALL_TARGET, peak <= PEAK_TARGET
    print(f"\n{'':<14}{'wall s':>10}{'CPU s':>10}{'peak MiB':>12}")
    print(_row("lakestory", ours))
    print(_row("hand-written", theirs))
    print(f"{'ratio':<14}{wall:>9.2f}×{cpu:>9.2f}×{peak:>11.2f}×")
    print(f"{'target':<14}{f'≤{WALL_TARGET:.2f}×':>10}{'':>10}{f'≤{PEAK_TARGET:.2f}×':>12}")
    print(f"{'':<14}{verdict(wall_ok):>10}{'':>10}{verdict(peak_ok):>12}")
    return wall_ok and peak_ok


def spread(samples: list[Sample]) -> str:
    walls = [s.wall_s for s in samples]
    return f"{min(walls):.2f}–{max(walls):.2f}s"


def check_outputs(ws: Workspace) -> bool:
    diffs = compare.compare_gold(ws.lake, ws.baseline)
    for d in diffs:
        print(f"  {d.table}: {'equal' if d.equal else 'DIFFERENT'}")
        for problem in d.problems:
            print(f"    {problem}")
    return all(d.equal for d in diffs)


def prepare(args: argparse.Namespace) -> Workspace:
    """Generate (or reuse) the raw data and the silver tables for this scale."""
    scale = datagen.Scale(args.customers, args.orders, args.seed)
    ws = Workspace(args.workdir.resolve() / scale.slug)
    ws.logs.mkdir(parents=True, exist_ok=True)
    print(
        f"workload: {scale.customers:,} customers, {scale.orders:,} orders, seed "
        f"{scale.seed}, in {ws.root}"
    )
    took = datagen.ensure(ws.raw, scale)
    print("  raw CSVs: " + ("cached" if took is None else f"generated in {took:.1f}s"))
    write_project(ws)
    seconds, cached = ensure_setup(ws, scale, args.rerun_setup)
    state = "cached; took" if cached else "ran in"
    print(f"  setup (lakestory run --pipeline bronze --pipeline silver): {state} {seconds:.1f}s")
    for old in (ws.lake / "gold", ws.baseline):  # start each invocation with no gold tables
        shutil.rmtree(old, ignore_errors=True)
    return ws


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    ws = prepare(args)
    print(f"gold pipeline, {args.repeat} timed rounds (median reported):")
    ours, theirs = measure_both(ws, args.repeat, args.warmup)
    print("outputs:")
    equal = check_outputs(ws)
    report(median(ours), median(theirs))
    print(f"wall spread: lakestory {spread(ours)}, hand-written {spread(theirs)}")
    print(f"\ntotal {time.perf_counter() - started:.0f}s; logs in {ws.logs}")
    if not equal:
        print("FAIL: lakestory's gold outputs differ from the hand-written script's")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
