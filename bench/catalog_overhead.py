"""Catalog overhead: what the system catalog adds to a run (``system: {enabled: false}`` or not).

The catalog observer writes a few small Delta commits per run (a start row; at the end one
commit per catalog table) under ``.lakestory/system``. This times the same run with the
catalog on and off, as child processes taking turns (which side goes first alternates):

- ``example``: the example project (``lakestory init``), ``lakestory run DIR/lakestory.yaml``,
  ``--pairs`` times each way; the paired difference in ms (target: < 150 ms);
- ``medallion``: ``lakestory run --pipeline gold`` of the medallion benchmark's demo project
  at ``--orders`` (raw data and silver from ``medallion.py``'s cache, built if missing),
  ``--repeat`` times each way; the difference in % (target: < 5 %).

The "off" side is a copy of the project file with ``system: {enabled: false}`` appended,
beside the original (same data, same SQL cache). Exit status 0 (targets are informational).

    .venv/bin/python bench/catalog_overhead.py                       # both parts
    .venv/bin/python bench/catalog_overhead.py --part medallion --orders 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from measure import Sample, child_env, lakestory_cmd, median, own_peak_mib, run_checked, verdict

BENCH_DIR = Path(__file__).resolve().parent
PYCACHE = BENCH_DIR / "_data" / "pycache"
EXAMPLE_TARGET_MS = 150.0
MEDALLION_TARGET_PCT = 5.0
OFF_SUFFIX = "\n# added by bench/catalog_overhead.py\nsystem: {enabled: false}\n"


@dataclass(frozen=True)
class Case:
    """One side of the comparison: ``lakestory <args>`` with the catalog on or off."""

    system: str  # "on" | "off"
    args: list[str]
    cwd: Path

    @property
    def cmd(self) -> list[str]:
        return [*lakestory_cmd(), *self.args]

    def probed(self, out: Path) -> list[str]:
        """The same run through ``catalog_probe.py``, which writes its timings to ``out``."""
        return [sys.executable, str(BENCH_DIR / "catalog_probe.py"), str(out), *self.args]


@dataclass
class Outcome:
    """Samples of each side, in run order (pairs line up by index), and probe timings."""

    label: str
    samples: dict[str, list[Sample]]
    probes: list[dict[str, Any]]

    def paired(self, metric: str) -> list[float]:
        on, off = self.samples["on"], self.samples["off"]
        return [getattr(a, metric) - getattr(b, metric) for a, b in zip(on, off, strict=True)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("example", "medallion", "both"), default="both")
    parser.add_argument(
        "--system",
        choices=("on", "off", "both"),
        default="both",
        help="time only the runs with the catalog on, or off (no difference then)",
    )
    parser.add_argument("--pairs", type=int, default=15, help="example: timed runs each way")
    parser.add_argument("--repeat", type=int, default=6, help="medallion: timed runs each way")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs each way first")
    parser.add_argument(
        "--probe",
        type=int,
        default=10,
        help="runs with the catalog on through catalog_probe.py (time spent in the catalog)",
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / "_data")
    parser.add_argument("--rerun-setup", action="store_true", help="medallion: rebuild silver")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "_data" / "catalog_overhead.json")
    return parser.parse_args(argv)


def catalog_off_copy(project: Path) -> Path:
    """``<name>.nosystem.yaml`` beside ``project``: the same project, catalog disabled."""
    off = project.with_name(project.stem + ".nosystem.yaml")
    off.write_text(project.read_text().rstrip("\n") + "\n" + OFF_SUFFIX)
    return off


def alternate(cases: list[Case], rounds: int, warmup: int, log: Path) -> dict[str, list[Sample]]:
    """Each case ``warmup + rounds`` times, taking turns; the first ``warmup`` not kept."""
    env = child_env(PYCACHE)
    samples: dict[str, list[Sample]] = {c.system: [] for c in cases}
    for i in range(warmup + rounds):
        order = cases if i % 2 == 0 else cases[::-1]
        line = []
        for case in order:
            got = run_checked(case.cmd, cwd=case.cwd, log=log, env=env)
            if i >= warmup:
                samples[case.system].append(got)
            line.append(f"{case.system} {got.wall_s * 1000:5.0f} ms")
        note = " (warm-up, not counted)" if i < warmup else ""
        print(f"  {i + 1:>2}/{warmup + rounds}: " + ", ".join(line) + note, flush=True)
    return samples


def probe(case: Case, runs: int, log: Path) -> list[dict[str, Any]]:
    """``runs`` runs of ``case`` through ``catalog_probe.py``: time spent in the catalog."""
    env = child_env(PYCACHE)
    found = []
    with tempfile.TemporaryDirectory(prefix="lakestory-probe-") as name:
        out = Path(name) / "probe.json"
        for _ in range(runs):
            run_checked(case.probed(out), cwd=case.cwd, log=log, env=env)
            found.append(json.loads(out.read_text()))
    if found:
        blocking = [p["blocking_ms"] for p in found]
        print(
            f"  probe, {runs} runs: the run waited {statistics.median(blocking):.0f} ms "
            f"for the catalog (median; {min(blocking):.0f}…{max(blocking):.0f})"
        )
    return found


def measure(
    label: str, cases: list[Case], rounds: int, args: argparse.Namespace, log: Path
) -> Outcome:
    """The A/B runs, then the probe runs of the "on" side."""
    samples = alternate(cases, rounds, args.warmup, log)
    on = [c for c in cases if c.system == "on"]
    probes = probe(on[0], args.probe, log) if on and args.probe else []
    return Outcome(label, samples, probes)


# -- the two parts ------------------------------------------------------------------------


def example_cases(tmp: Path, sides: list[str]) -> list[Case]:
    project = tmp / "example" / "lakestory.yaml"
    run_checked([*lakestory_cmd(), "init", str(project.parent)], env=child_env(PYCACHE))
    files = {"on": project, "off": catalog_off_copy(project)}
    return [Case(s, ["run", str(files[s])], tmp) for s in sides]


def run_example(args: argparse.Namespace, sides: list[str]) -> Outcome:
    print(f"\nexample project (lakestory init), {args.pairs} runs each way:")
    with tempfile.TemporaryDirectory(prefix="lakestory-catalog-") as name:
        tmp = Path(name)
        cases = example_cases(tmp, sides)
        outcome = measure("example", cases, args.pairs, args, tmp / "runs.log")
        system = tmp / "example" / ".lakestory" / "system"
        if system.exists():
            commits = len(list((system / "runs" / "_delta_log").glob("*.json")))
            print(f"  catalog after the runs: {commits} commits in system/runs")
    return outcome


def prepare_medallion(args: argparse.Namespace) -> Path:
    """``medallion.prepare`` (raw data, bronze + silver; cached) in a child process, so
    data generation does not grow this one; the scale's folder."""
    flags = ["--customers", str(args.customers), "--orders", str(args.orders)]
    flags += ["--seed", str(args.seed), "--workdir", str(args.workdir.resolve())]
    if args.rerun_setup:
        flags.append("--rerun-setup")
    code = "import sys, medallion as m; print(m.prepare(m.parse_args(sys.argv[1:])).root)"
    done = subprocess.run(
        [sys.executable, "-c", code, *flags],
        cwd=BENCH_DIR,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    return Path(lines[-1])


def run_medallion(args: argparse.Namespace, sides: list[str]) -> Outcome:
    print(f"\nmedallion gold pipeline, {args.repeat} runs each way:")
    root = prepare_medallion(args)
    project = root / "lakestory.yaml"
    files = {"on": project, "off": catalog_off_copy(project)}
    cases = [Case(s, ["run", str(files[s]), "--pipeline", "gold"], root) for s in sides]
    return measure("medallion", cases, args.repeat, args, root / "logs" / "catalog_overhead.log")


# -- report -------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    """Median, quartiles and extremes of ``values``."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values * 3)
    return {
        "median": statistics.median(values),
        "q1": q1,
        "q3": q3,
        "min": min(values),
        "max": max(values),
    }


def summary(outcome: Outcome) -> dict[str, Any]:
    sides = {s: asdict(median(v)) for s, v in outcome.samples.items()}
    out: dict[str, Any] = {"runs_each_way": len(next(iter(outcome.samples.values())))}
    out["median"] = sides
    out["wall_ms"] = {s: [round(x.wall_s * 1000, 1) for x in v] for s, v in outcome.samples.items()}
    if outcome.probes:
        timed = [{**p["ms"], **p["detail"]} for p in outcome.probes]
        parts = sorted({k for t in timed for k in t})
        out["probe"] = {
            "runs": len(outcome.probes),
            "blocking_ms": spread([p["blocking_ms"] for p in outcome.probes]),
            "median_ms": {k: statistics.median(t.get(k, 0.0) for t in timed) for k in parts},
        }
    if len(sides) == 2:
        wall = [d * 1000 for d in outcome.paired("wall_s")]
        cpu = [d * 1000 for d in outcome.paired("cpu_s")]
        off = [s.wall_s * 1000 for s in outcome.samples["off"]]
        out["paired_wall_diff_ms"] = spread(wall)
        out["paired_cpu_diff_ms"] = spread(cpu)
        out["paired_wall_diff_pct"] = spread([100 * d / b for d, b in zip(wall, off, strict=True)])
        half = len(wall) // 2
        if half >= 2:  # does the cost grow as the catalog fills up?
            out["wall_diff_ms_first_half"] = statistics.median(wall[:half])
            out["wall_diff_ms_second_half"] = statistics.median(wall[-half:])
    return out


def _fmt(d: dict[str, float], unit: str, sign: str = "+") -> str:
    f = f"{sign}.0f"
    return (
        f"median {d['median']:{f}}{unit} (quartiles {d['q1']:{f}}…{d['q3']:{f}}, "
        f"min…max {d['min']:{f}}…{d['max']:{f}})"
    )


def print_summary(label: str, s: dict[str, Any]) -> None:
    print(f"\n{label}: {s['runs_each_way']} runs each way")
    print(f"  {'catalog':<10}{'wall ms':>9}{'CPU ms':>9}{'peak MiB':>10}   (medians)")
    for side, m in s["median"].items():
        print(
            f"  {side:<10}{m['wall_s'] * 1000:>9.0f}{m['cpu_s'] * 1000:>9.0f}{m['peak_mib']:>10.0f}"
        )
    if "probe" in s:
        pr = s["probe"]
        print(f"  probe ({pr['runs']} runs, catalog on): the run waited for the catalog")
        print(f"    {_fmt(pr['blocking_ms'], ' ms', '')}; medians by part:")
        for part, ms in pr["median_ms"].items():
            print(f"      {part:<26}{ms:>7.1f} ms")
    if "paired_wall_diff_ms" not in s:
        return
    wall, cpu, pct = s["paired_wall_diff_ms"], s["paired_cpu_diff_ms"], s["paired_wall_diff_pct"]
    print(f"  on − off, paired: wall {_fmt(wall, ' ms')}")
    print(f"                    CPU  {_fmt(cpu, ' ms')}")
    print(
        f"                    wall {pct['median']:+.1f} % of the run without the catalog "
        f"(quartiles {pct['q1']:+.1f}…{pct['q3']:+.1f} %)"
    )
    if "wall_diff_ms_first_half" in s:
        print(
            f"  wall difference, first half of the pairs {s['wall_diff_ms_first_half']:+.0f} ms,"
            f" second half {s['wall_diff_ms_second_half']:+.0f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sides = ["on", "off"] if args.system == "both" else [args.system]
    report: dict[str, Any] = {
        "benchmark": "catalog_overhead",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": os.getloadavg()[0],
    }
    if args.part in ("example", "both"):
        report["example"] = summary(run_example(args, sides))
    if args.part in ("medallion", "both"):
        report["medallion"] = summary(run_medallion(args, sides))
        report["medallion"]["scale"] = {"customers": args.customers, "orders": args.orders}
    if "example" in report:
        print_summary("example project, lakestory run", report["example"])
        diff = report["example"].get("paired_wall_diff_ms")
        if diff:
            ok = diff["median"] < EXAMPLE_TARGET_MS
            print(f"  target < {EXAMPLE_TARGET_MS:.0f} ms: {verdict(ok)}")
    if "medallion" in report:
        scale = f"{args.customers:,} customers, {args.orders:,} orders"
        print_summary(f"medallion gold pipeline ({scale})", report["medallion"])
        pct = report["medallion"].get("paired_wall_diff_pct")
        if pct:
            ok = pct["median"] < MEDALLION_TARGET_PCT
            print(f"  target < {MEDALLION_TARGET_PCT:.0f} %: {verdict(ok)}")
    report["load_avg_1m_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nmeasuring process peak RSS {own_peak_mib():.0f} MiB (no child can measure below it)")
    print(f"total {time.perf_counter() - started:.0f}s; figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
