"""Data-quality checks: what five validation tests add to the demo's silver orders node.

Times ``lakestory run <project> --node silver.orders`` on the medallion benchmark's data
(raw CSVs and bronze from ``medallion.py``'s cache, built in a child process if missing)
in variants of the demo project, written beside it:

- ``A`` — the node as in the demo, no checks;
- ``B`` — the same node with five ``validation.tests`` (not_null, unique, range,
  regex_match, custom_sql), all ``on_fail: warn``: the same rows are written;
- ``C`` — as B, with the regex_match and custom_sql tests ``on_fail: drop``: the failing
  rows are removed before the write;
- ``D`` — B without the unique test (four checks, all ``warn``): what unique costs.

Each variant writes its own table (``data/lake/bench_quality/orders_<variant>``, deleted
before every run, so each run writes version 0), never the demo's ``silver/orders``. The
variants take turns (the order rotates every round), ``--warmup`` untimed rounds first;
medians of wall time, CPU time and peak RSS, B/A, C/A and D/A against the target (checks
add < 20 % wall time). Then ``--probe`` runs of each variant through ``quality_probe.py``
show where the node's time goes (read, the flags table, the aggregate, the write). Row
counts and check results come from ``--format json`` and are checked against counts
computed independently (``quality_expect.py``).

Exit status: 1 when a row count or a failing count is not the expected one, else 0 (the
target is informational).

    .venv/bin/python bench/quality.py                     # 10M orders
    .venv/bin/python bench/quality.py --orders 1000000    # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from catalog_overhead import prepare_medallion
from measure import (
    Sample,
    child_env,
    lakestory_cmd,
    median,
    own_peak_mib,
    run_checked,
    verdict,
)

BENCH_DIR = Path(__file__).resolve().parent
PYCACHE = BENCH_DIR / "_data" / "pycache"
TARGET = 1.20  # checks add < 20 % wall time
NODE = "silver.orders"
OUT_DIR = "bench_quality"  # under the lake connection's base path

# Silver orders' columns: order_id, customer_id, amount DECIMAL(10,2), quantity INT,
# order_date DATE, order_year, order_month. Silver already filters null ids and
# non-positive amounts and quantities, so not_null, unique and range pass every row; the
# regex and custom_sql tests are chosen to fail a few % of the rows, so that the checks
# find something and variant C has rows to drop: December orders (~7 %) and orders over
# 2,000 in total (amount * quantity, ~4 %).
REGEX = "^2024-(0[1-9]|1[01])-[0-9]{2}$"
CONDITION = "amount * quantity <= 2000"
VARIANTS = {
    "A": "no checks (the demo's node)",
    "B": "5 checks, all on_fail: warn",
    "C": "5 checks, regex_match and custom_sql on_fail: drop",
    "D": "B without the unique test (4 checks, all on_fail: warn)",
}


def tests(variant: str) -> list[dict[str, Any]]:
    """The validation tests of variant B, C or D (see ``VARIANTS``)."""
    removing = "drop" if variant == "C" else "warn"
    found = [
        {"type": "not_null", "columns": ["order_id", "customer_id"], "on_fail": "warn"},
        {"type": "unique", "columns": ["order_id"], "on_fail": "warn"},
        {"type": "range", "column": "quantity", "min": 0, "max": 1000, "on_fail": "warn"},
        {"type": "regex_match", "column": "order_date", "pattern": REGEX, "on_fail": removing},
        {"type": "custom_sql", "condition": CONDITION, "on_fail": removing},
    ]
    return [t for t in found if not (variant == "D" and t["type"] == "unique")]


@dataclass
class Run:
    """One measured run of a variant: the process, and its node record from the JSON."""

    sample: Sample
    node: dict[str, Any]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / "_data")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    parser.add_argument(
        "--probe",
        type=int,
        default=1,
        help="runs of each variant through quality_probe.py: where the node's time goes",
    )
    parser.add_argument("--rerun-setup", action="store_true", help="rebuild bronze and silver")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "_data" / "quality.json")
    return parser.parse_args(argv)


# -- the project variants -----------------------------------------------------------------


def find_node(project: dict[str, Any], key: str) -> dict[str, Any]:
    pipeline, name = key.split(".", 1)
    for p in project["pipelines"]:
        if p["pipeline"] == pipeline:
            for node in p["nodes"]:
                if node["name"] == name:
                    return node
    raise SystemExit(f"the demo project has no node {key}")


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the SQL steps) as ``|`` blocks, as in the demo."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def write_variants(root: Path, names: Sequence[str]) -> dict[str, Path]:
    """``lakestory.quality_<X>.yaml`` beside the demo's ``lakestory.yaml`` (same data
    folders, SQL cache and catalog); only the silver orders node differs."""
    demo = yaml.safe_load((root / "lakestory.yaml").read_text())
    files = {}
    for name in names:
        project = json.loads(json.dumps(demo))  # a deep copy
        node = find_node(project, NODE)
        node["write"]["path"] = f"{OUT_DIR}/orders_{name}"
        if name != "A":
            node["validation"] = {"tests": tests(name)}
        path = root / f"lakestory.quality_{name}.yaml"
        header = f"# written by bench/quality.py: variant {name}, {VARIANTS[name]}\n"
        path.write_text(header + yaml.dump(project, Dumper=_Dumper, sort_keys=False, width=100))
        files[name] = path
    return files


def output(root: Path, variant: str) -> Path:
    """The table a variant writes."""
    return root / "data" / "lake" / OUT_DIR / f"orders_{variant}"


# -- measuring ----------------------------------------------------------------------------


def run_json(cmd: list[str], *, log: Path, cwd: Path, env: dict[str, str]) -> Run:
    """Like ``measure.run_checked``, but stdout (the ``--format json`` result) is kept apart
    from stderr (appended to ``log``) and parsed."""
    with (
        open(log, "ab") as err,
        tempfile.TemporaryFile() as out,
    ):
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}; see {log}\n{text[-2000:]}")
    result = json.loads(text)
    nodes = [n for n in result["nodes"] if n.get("key") == NODE]
    if len(nodes) != 1:
        raise SystemExit(f"no record of {NODE} in the JSON output: {text[:2000]}")
    sample = Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code)
    return Run(sample, nodes[0])


def alternate(root: Path, files: dict[str, Path], repeat: int, warmup: int) -> dict[str, list[Run]]:
    """Every variant ``warmup + repeat`` times; the order rotates each round (A B C D,
    B C D A, ...), so each variant takes each place in the round equally often."""
    env = child_env(PYCACHE)
    log = root / "logs" / "quality.log"
    names = list(files)
    runs: dict[str, list[Run]] = {n: [] for n in names}
    for i in range(warmup + repeat):
        shift = i % len(names)
        order = names[shift:] + names[:shift]
        line = []
        for name in order:
            shutil.rmtree(output(root, name), ignore_errors=True)
            cmd = [*lakestory_cmd(), "run", str(files[name]), "--node", NODE, "--format", "json"]
            got = run_json(cmd, log=log, cwd=root, env=env)
            if i >= warmup:
                runs[name].append(got)
            line.append(f"{name} {got.sample.wall_s:5.2f}s (node {got.node['duration_s']:.2f}s)")
        note = " (warm-up, not counted)" if i < warmup else ""
        print(f"  round {i + 1}/{warmup + repeat}: " + ", ".join(line) + note, flush=True)
    return runs


def phase(call: dict[str, Any]) -> str | None:
    """The part of the node a ``quality_probe.py`` call belongs to: ``read``, ``write``,
    ``checks: <call> <frame>`` (e.g. ``checks: persist data``, ``checks: rows counts``:
    the frame's name after the suite, digits dropped) or ``other``; None for calls that
    do no work (``sql`` creates a view) or contain others (``evaluate``)."""
    what, frame = call["what"], str(call.get("frame", ""))
    if what in ("sql", "evaluate"):
        return None
    if what in ("read", "write"):
        return what
    frame = frame.split(" -> ")[-1]  # persist: the table it makes
    for suite in (":validation:", ":contract:"):
        if suite in frame:
            part = frame.split(suite, 1)[1].split(":")[0].rstrip("0123456789")
            return f"checks: {what} {part}"
    return "other"


def probe(root: Path, files: dict[str, Path], runs: int) -> dict[str, dict[str, list[float]]]:
    """Each variant ``runs`` times through ``quality_probe.py`` (after the timed rounds,
    not counted in them): per phase of the node, the median [wall, CPU] seconds. The last
    run's calls (with the queries) stay in ``logs/quality_probe_<variant>.json``."""
    env = child_env(PYCACHE)
    log = root / "logs" / "quality_probe.log"
    found: dict[str, list[dict[str, list[float]]]] = {n: [] for n in files}
    for _ in range(runs):
        for name, project in files.items():
            out = root / "logs" / f"quality_probe_{name}.json"
            shutil.rmtree(output(root, name), ignore_errors=True)
            cmd = [sys.executable, str(BENCH_DIR / "quality_probe.py"), str(out), "run"]
            run_checked([*cmd, str(project), "--node", NODE], log=log, cwd=root, env=env)
            phases: dict[str, list[float]] = {}
            for call in json.loads(out.read_text()):
                key = phase(call)
                if key:
                    got = phases.setdefault(key, [0.0, 0.0])
                    got[0] += call["s"]
                    got[1] += call["cpu_s"]
            found[name].append(phases)
    medians = {}
    for name, runs_ in found.items():
        keys = list(dict.fromkeys(k for p in runs_ for k in p))
        medians[name] = {
            k: [statistics.median(p.get(k, [0.0, 0.0])[m] for p in runs_) for m in (0, 1)]
            for k in keys
        }
    return medians


def print_probe(phases: dict[str, dict[str, list[float]]], runs: int) -> None:
    print(f"\nwhere the node's time goes (quality_probe.py, median of {runs}; wall / CPU s):")
    for name, p in phases.items():
        total = [sum(v[0] for v in p.values()), sum(v[1] for v in p.values())]
        cells = [f"{k} {v[0]:.2f} / {v[1]:.2f}" for k, v in p.items() if v[0] >= 0.005]
        print(f"  {name}: " + ", ".join(cells) + f"; total {total[0]:.2f} / {total[1]:.2f}")


def expected_counts(root: Path, variant: str) -> dict[str, int]:
    """``quality_expect.py`` on a variant's output, in a child process."""
    table = output(root, variant)
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "quality_expect.py"), str(table), REGEX, CONDITION],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(PYCACHE),
    )
    return json.loads(done.stdout)


# -- checking and reporting ---------------------------------------------------------------


def check_rows(runs: dict[str, list[Run]], expect: dict[str, int] | None) -> list[str]:
    """Problems with the row counts and check results (empty: all as expected)."""
    problems = []
    for name, rs in runs.items():
        written = {r.node["rows_written"] for r in rs}
        if len(written) != 1:
            problems.append(f"{name}: rows_written differs between runs: {sorted(written)}")
    first = {name: rs[0].node for name, rs in runs.items()}
    if expect is None:
        return problems
    rows = expect["rows"]
    if "A" in first and first["A"]["rows_written"] != rows:
        problems.append(f"A wrote {first['A']['rows_written']} rows, the table holds {rows}")
    for name in ("B", "D"):
        if name in first and first[name]["rows_written"] != rows:
            problems.append(f"{name} wrote {first[name]['rows_written']} rows, A {rows}")
    if "C" in first:
        c = first["C"]
        want = rows - expect["regex_or_custom"]
        if c["rows_written"] != want or (c.get("rows_dropped") or 0) != expect["regex_or_custom"]:
            problems.append(
                f"C wrote {c['rows_written']} rows and dropped {c.get('rows_dropped')}; "
                f"expected {want} written, {expect['regex_or_custom']} dropped"
            )
    for name in ("B", "C", "D"):
        got = first[name]["checks"] if name in first else []
        if name in first and len(got) != len(tests(name)):
            problems.append(f"{name}: {len(got)} check results for {len(tests(name))} tests")
        for check in got:
            want = expect[check["type"]]  # quality_expect.py counts by test type
            if check["failing"] != want or check["rows"] != rows:
                problems.append(
                    f"{name}: {check['name']} found {check['failing']} failing of "
                    f"{check['rows']} rows; expected {want} of {rows}"
                )
    return problems


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def summary(runs: dict[str, list[Run]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rs in runs.items():
        med = median([r.sample for r in rs])
        out[name] = {
            "what": VARIANTS[name],
            "median": asdict(med),
            "node_s_median": statistics.median(r.node["duration_s"] for r in rs),
            "wall_s": [round(r.sample.wall_s, 3) for r in rs],
            "node_s": [round(r.node["duration_s"], 3) for r in rs],
            "rows_written": rs[0].node["rows_written"],
            "rows_dropped": rs[0].node.get("rows_dropped"),
        }
    return out


def print_report(s: dict[str, Any], checks: list[dict[str, Any]]) -> None:
    print(
        f"\n{'variant':<9}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}{'node s':>8}"
        f"{'rows written':>14}{'dropped':>10}   wall spread"
    )
    for name, v in s.items():
        m = v["median"]
        print(
            f"{name:<9}{m['wall_s']:>8.2f}{m['cpu_s']:>8.2f}{m['peak_mib']:>10.0f}"
            f"{v['node_s_median']:>8.2f}{v['rows_written']:>14,}{v['rows_dropped'] or 0:>10,}"
            f"   {spread(v['wall_s'])}"
        )
    if "A" in s:
        a = s["A"]
        for name in ("B", "C", "D"):
            if name not in s:
                continue
            v = s[name]
            wall = v["median"]["wall_s"] / a["median"]["wall_s"]
            cpu = v["median"]["cpu_s"] / a["median"]["cpu_s"]
            peak = v["median"]["peak_mib"] / a["median"]["peak_mib"]
            node = v["node_s_median"] / a["node_s_median"]
            paired = [x / y for x, y in zip(v["wall_s"], a["wall_s"], strict=True)]
            print(
                f"{name}/A: wall {wall:.2f}× ({(wall - 1) * 100:+.0f} %), CPU {cpu:.2f}×, "
                f"peak {peak:.2f}×, node time {node:.2f}×   target < {TARGET:.2f}× wall: "
                f"{verdict(wall < TARGET)}"
            )
            print(
                f"     wall, paired by round: median {statistics.median(paired):.2f}× "
                f"({min(paired):.2f}–{max(paired):.2f}×)"
            )
    if checks:
        print("\ncheck results of the first timed B run:")
        for c in checks:
            print(f"  {c['name']:<44}{c['status']:<8}{c['failing']:>10,} of {c['rows']:,} failing")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    root = prepare_medallion(args)
    files = write_variants(root, args.variants)
    print(
        f"{NODE}, variants {' '.join(files)}, {args.repeat} timed rounds "
        f"(+{args.warmup} warm-up), median reported:"
    )
    runs = alternate(root, files, args.repeat, args.warmup)
    base = "A" if "A" in files else None
    expect = expected_counts(root, base) if base else None
    problems = check_rows(runs, expect)
    s = summary(runs)
    checks = runs["B"][0].node.get("checks", []) if "B" in runs else []
    print_report(s, checks)
    if expect is not None:
        print(
            f"independent counts (quality_expect.py on A's output): {expect['rows']:,} rows; "
            f"regex_match {expect['regex_match']:,}, custom_sql {expect['custom_sql']:,}, "
            f"either {expect['regex_or_custom']:,} failing"
        )
    for p in problems:
        print(f"DIFFERENT: {p}")
    if not problems:
        print("row counts and failing counts: as expected")
    phases = probe(root, files, args.probe) if args.probe else {}
    if phases:
        print_probe(phases, args.probe)
    end_load = os.getloadavg()[0]
    report = {
        "benchmark": "quality",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": load[0],
        "load_avg_1m_at_end": end_load,
        "scale": {"customers": args.customers, "orders": args.orders, "seed": args.seed},
        "variants": s,
        "checks_B": checks,
        "phases_s": phases,
        "expected": expect,
        "problems": problems,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nload average at the end {end_load:.2f}")
    print(f"measuring process peak RSS {own_peak_mib():.0f} MiB (no child can measure below it)")
    print(f"total {time.perf_counter() - started:.0f}s; figures in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
