"""Upsert benchmark: lakestory's ``mode: upsert`` (merge, rewrite, auto) against a MERGE by hand.

1. builds a Delta table of ``--rows`` rows (id, name, category, amount, quantity, updated_at)
   in ``--files`` commits, and per batch share a Parquet batch: half updates of existing
   keys (every value changes), half new keys (all cached by size and seed);
2. for each share, runs every variant as a child process on its own fresh copy of the table:
   ``lakestory run`` of a one-node project (``write: {mode: upsert, keys: [id], strategy:
   merge|rewrite}``, and with no strategy: auto) and ``bench/baseline_upsert.py`` (deltalake's
   ``merge().when_matched_update_all().when_not_matched_insert_all()`` from a pyarrow table);
3. checks each result against the expected table (the base's rows whose keys are not in the
   batch, plus the batch): schema, row count, distinct keys and a hash of every row;
4. prints median wall time, CPU time and peak RSS, the ratios to the hand-written merge and
   the files each commit replaced, and writes them to ``--out``.

Exit status: 0 when every result is the expected table, 1 otherwise.

    .venv/bin/python bench/upsert.py                         # 2M rows, shares 1 10 25 50 %
    .venv/bin/python bench/upsert.py --shares 5 15 35 --updates recent --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from measure import Sample, child_env, lakestory_cmd, median, own_peak_mib, run_checked

BENCH_DIR = Path(__file__).resolve().parent
PYCACHE = BENCH_DIR / "_data" / "pycache"
BASELINE = "hand-written"
STRATEGIES = {"merge": "merge", "rewrite": "rewrite", "auto": None}  # None: the default
VARIANTS = (BASELINE, *STRATEGIES)

PROJECT = """\
project: upsert bench
engine: duckdb
connections:
  files: {{type: local, base_path: data}}
pipelines:
  - pipeline: upsert
    nodes:
      - name: batch
        read: {{connection: files, format: parquet, path: batch.parquet}}
        write: {{connection: files, format: delta, path: table, mode: upsert, keys: [id]{extra}}}
"""


@dataclass(frozen=True)
class Result:
    """One variant at one share: the median sample, and what its commit did."""

    share: float
    variant: str
    sample: Sample
    operation: str  # the commit's operation: MERGE or WRITE
    files_removed: int | None
    files_added: int | None
    equal: bool
    load: float  # the 1-minute load average when the variant's first run started


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in the table")
    parser.add_argument("--files", type=int, default=8, help="commits (files) the table has")
    parser.add_argument(
        "--shares",
        type=float,
        nargs="+",
        default=[1, 10, 25, 50],
        help="batch sizes, in %% of --rows (half updates, half new keys)",
    )
    parser.add_argument(
        "--updates",
        choices=("spread", "recent"),
        default="spread",
        help="which keys the batch updates: evenly spread over the table, or the newest",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per variant (median)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / "_data" / "upsert")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "_data" / "upsert.json")
    args = parser.parse_args(argv)
    if BASELINE not in args.variants:
        parser.error(f"--variants must include {BASELINE!r}: it is what ratios are against")
    return args


def data_child(*args: str) -> dict[str, Any]:
    """Run ``upsert_data.py`` (unmeasured, in its own process); its JSON answer."""
    cmd = [sys.executable, str(BENCH_DIR / "upsert_data.py"), *args]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def load_average() -> float:
    return os.getloadavg()[0]


# -- running one variant ------------------------------------------------------------------


def prepare_run(root: Path, variant: str, batch: Path) -> Path:
    """The variant's folder with a fresh copy of the base table and the batch."""
    folder = root / "runs" / variant
    data = folder / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    shutil.copytree(root / "base", data / "table")
    shutil.copyfile(batch, data / "batch.parquet")
    if variant != BASELINE:
        strategy = STRATEGIES[variant]
        extra = f", strategy: {strategy}" if strategy else ""
        (folder / "lakestory.yaml").write_text(PROJECT.format(extra=extra))
    return folder


def command(variant: str, folder: Path) -> list[str]:
    if variant == BASELINE:
        data = folder / "data"
        script = BENCH_DIR / "baseline_upsert.py"
        table, batch = str(data / "table"), str(data / "batch.parquet")
        return [sys.executable, str(script), "--table", table, "--batch", batch]
    return [*lakestory_cmd(), "run", str(folder / "lakestory.yaml")]


def run_variant(
    root: Path, share: float, variant: str, batch: Path, expected: dict[str, Any]
) -> Result:
    folder = prepare_run(root, variant, batch)
    log = root / "logs" / f"{variant}.log"
    with log.open("a") as f:
        f.write(f"\n=== share {share:g}% ===\n")
    load = load_average()
    sample = run_checked(command(variant, folder), log=log, cwd=folder, env=child_env(PYCACHE))
    got = data_child("checksum", "--root", str(root), "--table", str(folder / "data" / "table"))
    commit = {k: got.pop(k) for k in ("operation", "files_removed", "files_added")}
    if got != expected:
        print(f"    {variant}: DIFFERENT from the expected table\n      got      {got}")
        print(f"      expected {expected}")
    return Result(share, variant, sample, **commit, equal=got == expected, load=load)


def measure_share(
    root: Path, args: argparse.Namespace, share: float, variants: list[str], turn: int
) -> list[Result]:
    """Every variant ``--repeat`` times, taking turns (who goes first changes every round)."""
    updates = ["--updates", args.updates]
    expected = data_child("expected", "--root", str(root), "--shares", str(share), *updates)
    batch = root / "batches" / f"b{share:g}_{args.updates}.parquet"
    runs: dict[str, list[Result]] = {v: [] for v in variants}
    for i in range(args.repeat):
        k = (turn + i) % len(variants)
        for variant in variants[k:] + variants[:k]:
            got = run_variant(root, share, variant, batch, expected)
            runs[variant].append(got)
            print(
                f"  {share:>4g}%  {variant:<13}{got.sample.wall_s:7.2f}s{got.sample.cpu_s:7.2f}s "
                f"CPU{got.sample.peak_mib:6.0f} MiB  {got.operation:<6} load {got.load:.1f}"
                + ("" if got.equal else "  DIFFERENT"),
                flush=True,
            )
    return [
        Result(
            share,
            v,
            median([r.sample for r in runs[v]]),
            runs[v][0].operation,
            runs[v][0].files_removed,
            runs[v][0].files_added,
            all(r.equal for r in runs[v]),
            runs[v][0].load,
        )
        for v in variants
    ]


# -- report -------------------------------------------------------------------------------


def ratios(result: Result, base: Result) -> dict[str, float]:
    s, b = result.sample, base.sample
    return {"wall": s.wall_s / b.wall_s, "cpu": s.cpu_s / b.cpu_s, "peak": s.peak_mib / b.peak_mib}


def print_table(results: list[Result], rows: int) -> None:
    print(
        f"\n{'share':>6}{'batch rows':>11}  {'variant':<13}{'wall s':>7}{'CPU s':>7}"
        f"{'peak MiB':>9}{'wall×':>7}{'CPU×':>7}{'peak×':>7}  commit: files removed/added"
    )
    base = {r.share: r for r in results if r.variant == BASELINE}
    for r in results:
        x = ratios(r, base[r.share])
        print(
            f"{r.share:>5g}%{round(rows * r.share / 100):>11,}  {r.variant:<13}"
            f"{r.sample.wall_s:>7.2f}{r.sample.cpu_s:>7.2f}{r.sample.peak_mib:>9.0f}"
            f"{x['wall']:>7.2f}{x['cpu']:>7.2f}{x['peak']:>7.2f}  "
            f"{r.operation} {r.files_removed}/{r.files_added}" + ("" if r.equal else "  DIFFERENT")
        )


def write_json(path: Path, args: argparse.Namespace, results: list[Result]) -> None:
    base = {r.share: r for r in results if r.variant == BASELINE}
    doc: dict[str, Any] = {
        "benchmark": "upsert",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "params": {
            k: getattr(args, k) for k in ("rows", "files", "shares", "updates", "repeat", "seed")
        },
        "results": [
            {
                "share_pct": r.share,
                "batch_rows": round(args.rows * r.share / 100),
                "variant": r.variant,
                **asdict(r.sample),
                "ratio_to_hand_written": ratios(r, base[r.share]),
                "operation": r.operation,
                "files_removed": r.files_removed,
                "files_added": r.files_added,
                "equal_to_expected": r.equal,
                "load_avg_1m": r.load,
            }
            for r in results
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    root = args.workdir.resolve() / f"n{args.rows}_f{args.files}_s{args.seed}"
    print(f"table: {args.rows:,} rows in {args.files} files, updates {args.updates}; in {root}")
    shares = [str(s) for s in args.shares]
    scale = ["--rows", str(args.rows), "--files", str(args.files), "--seed", str(args.seed)]
    setup = ["prepare", "--root", str(root), *scale, "--updates", args.updates]
    took = data_child(*setup, "--shares", *shares)["seconds"]
    print("  base table: " + ("cached" if took is None else f"written in {took:.1f}s"))
    (root / "logs").mkdir(exist_ok=True)
    variants = [v for v in VARIANTS if v in args.variants]
    results: list[Result] = []
    for turn, share in enumerate(args.shares):
        results += measure_share(root, args, share, variants, turn)
    print_table(results, args.rows)
    write_json(args.out, args, results)
    equal = all(r.equal for r in results)
    print(f"\nresults {'all equal to the expected table' if equal else 'DIFFER (see above)'}")
    print(f"measuring process peak RSS {own_peak_mib():.0f} MiB (no child can measure below it)")
    print(f"total {time.perf_counter() - started:.0f}s; figures in {args.out}; logs in {root}/logs")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
