"""The engine benchmark: the demo's whole medallion on every engine, against DuckDB by hand.

1. generates the demo's raw CSVs at scale (``datagen.py``, cached by scale and seed);
2. writes one copy of the demo project per engine (``engine:`` changed; for spark a
   ``spark_config`` running ``local[2]``), reading the shared raw CSVs;
3. runs, ``--repeat`` times after ``--warmup`` untimed rounds, taking turns (the order
   rotates every round), each as a child process starting from an empty lake:
   ``lakestory run`` of the project (bronze, silver and gold) for every engine,
   ``baseline_medallion.py`` (the same work by hand on DuckDB) and, when pandas is
   measured, ``naive_pandas.py`` (the same work as a plain pandas script);
4. checks, in a child process, that every variant wrote the baseline's tables;
5. prints median wall time, CPU time and peak RSS of each, the ratios to the baseline, the
   issue's targets, the wall spread, and each engine's per-node durations.

Exit status: 0 when every output equals the baseline's (targets are informational).

    .venv/bin/python bench/engines.py --orders 1000000
    .venv/bin/python bench/engines.py --engines duckdb,polars,pandas
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datagen
from lakestory.examples import DEMO_DIR
from measure import Sample, child_env, lakestory_cmd, median, verdict

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
ENGINES = ("duckdb", "polars", "pandas", "spark")
BASELINE = "baseline"
NAIVE = "naive-pandas"
POLARS_TARGET = 1.3  # polars ≤ 1.3× the baseline's wall time
SPARK_CONFIG = {"spark.master": "local[2]", "spark.driver.memory": "8g"}


@dataclass(frozen=True)
class TableSpec:
    """An output table: its path under the lake, format, key and columns not compared."""

    path: str
    fmt: str  # "delta" or "parquet"
    keys: tuple[str, ...]
    volatile: tuple[str, ...] = ()  # compared by type only (e.g. a run's timestamp)
    optional: bool = False  # may be absent on both sides (a quarantine with no rows)


TABLES = (
    TableSpec("bronze/customers", "delta", ("customer_id",)),
    TableSpec("bronze/orders", "delta", ("order_id",)),
    TableSpec("silver/customers", "delta", ("customer_id",), volatile=("processed_at",)),
    TableSpec("silver/orders", "delta", ("order_id",)),
    TableSpec("quarantine/customers", "delta", ("customer_id",), optional=True),
    TableSpec("gold/customer_metrics", "delta", ("customer_id",)),
    TableSpec("gold/monthly_revenue", "parquet", ("order_year", "order_month")),
)


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def home(self, variant: str) -> Path:
        """The folder of a variant: a project copy (engines) or the script's output."""
        return self.root / variant

    def lake(self, variant: str) -> Path:
        """Where a variant's bronze/, silver/, gold/ land."""
        if variant in ENGINES:
            return self.home(variant) / "data" / "lake"
        return self.home(variant)

    @property
    def env(self) -> dict[str, str]:
        env = child_env(self.root.parent / "pycache")
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / "_data" / "engines")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated, of " + ", ".join(ENGINES) + " (spark is skipped when absent)",
    )
    parser.add_argument(
        "--naive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run naive_pandas.py (default: when pandas is measured)",
    )
    parser.add_argument(
        "--declare-types",
        action="store_true",
        help="give the bronze CSV reads the column types (`read.schema`), as the baseline does",
    )
    parser.add_argument(
        "--compare", nargs=2, type=Path, metavar=("LEFT", "RIGHT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(args.engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    if args.naive is None:
        args.naive = "pandas" in args.engines
    return args


# -- the projects ---------------------------------------------------------------------------


# ``--declare-types``: the bronze reads given the types the baseline declares (Spark's names)
DECLARED = {
    "path: customers.csv}": "path: customers.csv, schema: {customer_id: int, name: string, "
    "email: string, age: int, status: string, country: string}}",
    "path: orders/}": "path: orders/, schema: {order_id: int, customer_id: int, "
    "amount: double, quantity: int, order_date: date}}",
}


def project_text(engine: str, raw: Path, declare_types: bool = False) -> str:
    """The demo's lakestory.yaml for ``engine``, reading the CSVs in ``raw``."""
    text = (DEMO_DIR / "lakestory.yaml").read_text()
    replacements = {
        **(DECLARED if declare_types else {}),
        "engine: duckdb\n": f"engine: {engine}\n" + (spark_config() if engine == "spark" else ""),
        "base_path: data/raw ": f"base_path: {json.dumps(str(raw))} ",
    }
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise SystemExit(f"the demo's lakestory.yaml no longer has one {old.strip()!r}")
        text = text.replace(old, new)
    return text


def spark_config() -> str:
    items = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in SPARK_CONFIG.items())
    return f"spark_config: {{{items}}}\n"


def write_projects(ws: Workspace, engines: Sequence[str], declare_types: bool) -> None:
    for engine in engines:
        home = ws.home(engine)
        home.mkdir(parents=True, exist_ok=True)
        (home / "lakestory.yaml").write_text(project_text(engine, ws.raw, declare_types))
        shutil.copyfile(DEMO_DIR / "transforms.py", home / "transforms.py")


def spark_available() -> bool:
    return (REPO / "src" / "lakestory" / "engines" / "spark" / "engine.py").exists()


# -- measuring a process tree -----------------------------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so a process a child leaves behind (Spark's JVM,
    if PySpark does not wait for it) is reaped here and its CPU time and peak counted."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@dataclass(frozen=True)
class Run:
    sample: Sample
    tail_s: float  # how long orphaned descendants outlived the child


def run_tree(
    cmd: Sequence[str], *, log: Path, stdout: Path | None, env: dict[str, str], cwd: Path
) -> Run:
    """``measure.run_measured``, plus the orphans the child leaves: wall time is the child's
    (spawn to exit); CPU time adds the orphans' and peak RSS is the largest member's.
    A non-zero exit raises ``measure.ChildFailed`` like ``run_checked``."""
    from measure import ChildFailed

    err = open(log, "ab")  # noqa: SIM115
    out = open(stdout, "wb") if stdout else err  # noqa: SIM115
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
        while True:  # orphans re-parented to this (subreaper) process
            try:
                _, _, orphan = os.wait4(-1, 0)
            except ChildProcessError:
                break
            cpu += orphan.ru_utime + orphan.ru_stime
            peak = max(peak, orphan.ru_maxrss)
        tail = time.perf_counter() - start - wall
    finally:
        err.close()
        if stdout:
            out.close()
    if proc.returncode != 0:
        raise ChildFailed(f"{' '.join(cmd)} exited {proc.returncode}; see {log}")
    return Run(Sample(wall, cpu, peak / 1024, proc.returncode), tail)


# -- the variants -----------------------------------------------------------------------------


def run_variant(ws: Workspace, variant: str, label: str) -> Run:
    """Run one variant from an empty output folder (the deletion is not timed)."""
    shutil.rmtree(ws.lake(variant), ignore_errors=True)
    log = ws.logs / f"{variant}.log"
    with open(log, "a") as fh:
        fh.write(f"\n=== {label} {time.strftime('%H:%M:%S')}\n")
    if variant in ENGINES:
        home = ws.home(variant)
        cmd = [*lakestory_cmd(), "run", str(home / "lakestory.yaml"), "--format", "json"]
        return run_tree(cmd, log=log, stdout=ws.logs / f"{variant}.json", env=ws.env, cwd=home)
    script = "baseline_medallion.py" if variant == BASELINE else "naive_pandas.py"
    cmd = [
        sys.executable,
        str(BENCH_DIR / script),
        "--raw",
        str(ws.raw),
        "--out",
        str(ws.lake(variant)),
    ]
    return run_tree(cmd, log=log, stdout=ws.logs / f"{variant}.json", env=ws.env, cwd=ws.root)


def measure_all(
    ws: Workspace, variants: list[str], repeat: int, warmup: int
) -> tuple[dict[str, list[Sample]], dict[str, dict[str, float]]]:
    """Round-robin: every round runs each variant once, the order rotated by one each round.
    Returns the timed samples and each variant's :func:`timings` (median over rounds)."""
    samples: dict[str, list[Sample]] = {v: [] for v in variants}
    nodes: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    for i in range(warmup + repeat):
        k = i % len(variants)
        order = variants[k:] + variants[:k]
        timed = i >= warmup
        label = f"round {i + 1}/{warmup + repeat}" + ("" if timed else " (warm-up)")
        parts = []
        for variant in order:
            got = run_variant(ws, variant, label)
            tail = f" (+{got.tail_s:.1f}s orphans)" if got.tail_s > 0.05 else ""
            parts.append(f"{variant} {got.sample.wall_s:.1f}s{tail}")
            if timed:
                samples[variant].append(got.sample)
                for key, secs in timings(ws, variant).items():
                    nodes[variant].setdefault(key, []).append(secs)
        print(f"  {label}: " + ", ".join(parts), flush=True)
    medians = {v: {n: statistics.median(s) for n, s in d.items()} for v, d in nodes.items()}
    return samples, medians


def timings(ws: Workspace, variant: str) -> dict[str, float]:
    """Seconds per layer (``layer:bronze``…) and, for engines, per node, of the variant's
    last run: an engine's ``--format json`` output (a layer: the sum of its nodes' durations;
    nodes may overlap, bronze's two run side by side), a script's phases."""
    try:
        text = (ws.logs / f"{variant}.json").read_text()
        result = json.loads(text if variant in ENGINES else text.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return {}
    if "phases" in result:
        return {f"layer:{k}": float(v) for k, v in result["phases"].items()}
    out: dict[str, float] = {}
    for n in result.get("nodes", []):
        out[n["key"]] = float(n.get("duration_s") or 0.0)
        layer = f"layer:{n['pipeline']}"
        out[layer] = out.get(layer, 0.0) + out[n["key"]]
    return out


# -- equality ----------------------------------------------------------------------------------


def compare_lakes(left: Path, right: Path) -> list[dict[str, Any]]:
    """Each table of ``TABLES`` in ``left`` against ``right``: schema (names and DuckDB
    types), row count, unique key, then a full outer join on the key finding rows missing
    on one side or differing (``compare.py``'s rules: floats within a relative 1e-9)."""
    import duckdb

    import compare

    found = []
    for spec in TABLES:
        problems: list[str] = []
        lp, rp = left / spec.path, right / spec.path
        if spec.optional and not lp.exists() and not rp.exists():
            continue
        if not lp.exists() or not rp.exists():
            missing = "left" if not lp.exists() else "right"
            found.append({"table": spec.path, "problems": [f"missing on the {missing}"]})
            continue
        con = duckdb.connect()
        try:
            compare._open(con, "lhs", lp, spec.fmt)
            compare._open(con, "rhs", rp, spec.fmt)
            schema_a, schema_b = compare._schema(con, "lhs"), compare._schema(con, "rhs")
            if schema_a != schema_b:
                problems.append(f"schemas differ: {schema_a} vs {schema_b}")
            counts = [con.execute(f"SELECT count(*) FROM {v}").fetchone() for v in ("lhs", "rhs")]
            if counts[0] != counts[1]:
                problems.append(f"row counts differ: {counts[0]} vs {counts[1]}")
            keys = ", ".join(compare._q(k) for k in spec.keys)
            dupes = con.execute(f"SELECT count(*) - count(DISTINCT ({keys})) FROM lhs").fetchone()
            if dupes and dupes[0]:
                problems.append(f"key {spec.keys} is not unique on the left: {dupes[0]} duplicates")
            if not problems:
                compared = [(c, t) for c, t in schema_a if c not in spec.volatile]
                problems += _row_differences(con, compared, spec.keys)
        finally:
            con.close()
        found.append({"table": spec.path, "problems": problems})
    return found


def _row_differences(con: Any, schema: list[tuple[str, str]], keys: tuple[str, ...]) -> list[str]:
    """Rows missing on one side, and per column the rows that differ with one example."""
    import compare

    q = compare._q
    on = " AND ".join(f"a.{q(k)} IS NOT DISTINCT FROM b.{q(k)}" for k in keys)
    missing = " OR ".join(f"a.{q(k)} IS NULL OR b.{q(k)} IS NULL" for k in keys)
    columns = [(c, t) for c, t in schema if c not in keys]
    flags = ", ".join(f"count_if({compare._differs(c, t)}) AS {q('d_' + c)}" for c, t in columns)
    row = con.execute(
        f"SELECT count_if({missing}){', ' + flags if flags else ''} "
        f"FROM lhs a FULL OUTER JOIN rhs b ON {on}"
    ).fetchone()
    problems = []
    if row[0]:
        problems.append(f"{row[0]} rows are on one side only")
    for (col, typ), bad in zip(columns, row[1:], strict=True):
        if not bad:
            continue
        sample = con.execute(
            f"SELECT {', '.join('a.' + q(k) for k in keys)}, a.{q(col)}, b.{q(col)} "
            f"FROM lhs a JOIN rhs b ON {on} WHERE {compare._differs(col, typ)} LIMIT 1"
        ).fetchone()
        problems.append(
            f"column {col}: {bad} rows differ, e.g. key {sample[:-2]}: "
            f"{sample[-2]!r} vs {sample[-1]!r}"
        )
    return problems


def check_outputs(ws: Workspace, variants: list[str]) -> dict[str, bool]:
    """Compare every variant's lake with the baseline's, each in a child process (so this
    process stays small: its peak RSS is the floor of every later measurement)."""
    equal = {}
    for variant in variants:
        if variant == BASELINE:
            continue
        cmd = [sys.executable, __file__, "--compare", str(ws.lake(variant)), str(ws.lake(BASELINE))]
        done = subprocess.run(cmd, capture_output=True, text=True, env=ws.env, cwd=BENCH_DIR)
        if done.returncode != 0:
            print(f"  {variant}: comparison failed: {done.stderr.strip()[-2000:]}")
            equal[variant] = False
            continue
        tables = json.loads(done.stdout)
        bad = [t for t in tables if t["problems"]]
        equal[variant] = not bad
        names = ", ".join(t["table"] for t in tables)
        print(f"  {variant}: " + ("equal" if not bad else "DIFFERENT") + f" ({names})")
        for t in bad:
            for problem in t["problems"]:
                print(f"    {t['table']}: {problem}")
    return equal


# -- the report --------------------------------------------------------------------------------


def targets(variant: str, m: dict[str, Sample], equal: dict[str, bool]) -> tuple[str, str]:
    """The issue's target for ``variant`` and whether it is met."""
    base = m[BASELINE]
    if variant == "polars":
        return f"wall ≤ {POLARS_TARGET}× baseline", verdict(
            m[variant].wall_s / base.wall_s <= POLARS_TARGET
        )
    if variant == "pandas" and NAIVE in m:
        return "wall < naive pandas", verdict(m[variant].wall_s < m[NAIVE].wall_s)
    if variant == "spark":
        return "completes, same tables", verdict(equal.get(variant, False))
    return "", ""


def report(samples: dict[str, list[Sample]], equal: dict[str, bool]) -> None:
    m = {v: median(s) for v, s in samples.items()}
    base = m[BASELINE]
    head = (
        f"{'':<14}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}  "
        f"{'× baseline wall/CPU/peak':<26}{'wall spread':>14}  target"
    )
    print("\n" + head)
    for v, s in m.items():
        walls = [x.wall_s for x in samples[v]]
        ratio = "1"
        if v != BASELINE:
            ratio = f"{s.wall_s / base.wall_s:.2f} / {s.cpu_s / base.cpu_s:.2f} / "
            ratio += f"{s.peak_mib / base.peak_mib:.2f}"
        target, ok = targets(v, m, equal)
        if v != BASELINE and not equal.get(v, False):
            ok = (ok + " " if ok else "") + "(tables DIFFER)"
        spread = f"{min(walls):.2f}–{max(walls):.2f}"
        print(
            f"{v:<14}{s.wall_s:>8.2f}{s.cpu_s:>8.2f}{s.peak_mib:>10.0f}  {ratio:<26}{spread:>14}  "
            f"{target}{' ' + ok if ok else ''}"
        )
    if "pandas" in m and NAIVE in m:
        print(f"pandas engine ÷ naive pandas (wall): {m['pandas'].wall_s / m[NAIVE].wall_s:.2f}×")


def report_nodes(timed: dict[str, dict[str, float]]) -> None:
    """Per-layer seconds of every variant, then per-node seconds of the engines."""
    for title, pick in (
        ("per layer (engines: the sum of the layer's node durations)", True),
        ("per node (`lakestory run --format json`)", False),
    ):
        shown = [v for v in timed if any(k.startswith("layer:") == pick for k in timed[v])]
        keys = list(
            dict.fromkeys(k for v in shown for k in timed[v] if k.startswith("layer:") == pick)
        )
        if not keys:
            continue
        print(f"\n{title}, median s")
        print(f"{'':<24}" + "".join(f"{v:>14}" for v in shown))
        for k in keys:
            cells = "".join(f"{timed[v].get(k, float('nan')):>14.2f}" for v in shown)
            print(f"{k.removeprefix('layer:'):<24}{cells}")


# -- main --------------------------------------------------------------------------------------


def generate(ws: Workspace, scale: datagen.Scale) -> None:
    """The raw CSVs, made (or found cached) by a child process, so this one stays small."""
    code = (
        "import sys, datagen; from pathlib import Path; "
        f"t = datagen.ensure(Path({str(ws.raw)!r}), datagen.Scale({scale.customers}, "
        f"{scale.orders}, {scale.seed})); "
        "print('cached' if t is None else f'generated in {t:.1f}s')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BENCH_DIR, capture_output=True, text=True, check=True
    )
    print(f"  raw CSVs: {done.stdout.strip()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        print(json.dumps(compare_lakes(*args.compare)))
        return 0
    started = time.perf_counter()
    become_subreaper()
    engines = list(args.engines)
    if "spark" in engines and not spark_available():
        print("spark: src/lakestory/engines/spark/engine.py is not there yet; skipped")
        engines.remove("spark")
    scale = datagen.Scale(args.customers, args.orders, args.seed)
    ws = Workspace(args.workdir.resolve() / scale.slug)
    ws.logs.mkdir(parents=True, exist_ok=True)
    print(
        f"workload: the demo's bronze + silver + gold, {scale.customers:,} customers, "
        f"{scale.orders:,} orders, seed {scale.seed}, in {ws.root}"
    )
    print(f"  load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    generate(ws, scale)
    write_projects(ws, engines, args.declare_types)
    if args.declare_types:
        print("  bronze reads declare the column types (no type inference)")
    variants = [BASELINE, *engines] + ([NAIVE] if args.naive else [])
    print(f"{', '.join(variants)}: {args.repeat} timed rounds after {args.warmup} warm-up")
    samples, nodes = measure_all(ws, variants, args.repeat, args.warmup)
    print("outputs against the baseline's:")
    equal = check_outputs(ws, variants)
    report(samples, equal)
    report_nodes(nodes)
    load = os.getloadavg()
    print(f"\nload at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"total {time.perf_counter() - started:.0f}s; logs in {ws.logs}")
    return 0 if all(equal.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
