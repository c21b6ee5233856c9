"""Observer overhead: what alerts, lineage, metrics and traces add to a run of the example.

The issue's rule is that none of them may slow a run down, and an endpoint that is down or
hangs costs at most its short timeout. This times ``lakestory run`` of the example project
(``lakestory init``) as child processes taking turns, with:

- ``none``: no observers configured (stories and the catalog stay on: they are the baseline);
- ``good``: a webhook alert on every event, OpenLineage, a Prometheus textfile and OTLP
  traces, all sent to a local HTTP receiver (tests/support/receiver.py) that answers 200;
- ``down``: the same pointed at a port nobody listens on;
- ``hang``: the same pointed at a receiver that never answers (``timeout: 1s`` each).

It prints the median wall time of each and the paired difference against ``none``. Exit
status 0 (the figures are informational).

    .venv/bin/python bench/observers.py [--pairs 7]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import Sample, child_env, lakestory_cmd, run_checked, run_measured

BENCH_DIR = Path(__file__).resolve().parent
RECEIVER = BENCH_DIR.parent / "tests" / "support" / "receiver.py"
PYCACHE = BENCH_DIR / "_data" / "pycache"

OBSERVERS = """
# added by bench/observers.py
alerts:
  - {{type: webhook, url: "{url}/hook", on_events: [on_start, on_success, on_failure],
     timeout: 1s}}
lineage: {{url: "{url}", namespace: bench, timeout: 1s}}
metrics: {{prometheus: {{textfile: metrics/lakestory.prom}}}}
tracing: {{otlp_endpoint: "{url}", timeout: 1s}}
"""


def receiver(mode: str, log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--log", str(log), "--mode", mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lakestory-bench-observers-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        run_checked([*lakestory_cmd(), "init", str(work / "example")])
        base = (work / "example" / "lakestory.yaml").read_text("utf-8")
        good, good_url = receiver("ok", work / "good.jsonl")
        hang, hang_url = receiver("hang", work / "hang.jsonl")
        procs += [good, hang]
        urls = {"good": good_url, "down": f"http://127.0.0.1:{free_port()}", "hang": hang_url}
        files = {"none": work / "example" / "lakestory.yaml"}
        for side, url in urls.items():
            files[side] = work / "example" / f"{side}.yaml"
            files[side].write_text(base + OBSERVERS.format(url=url), "utf-8")
        env = child_env(PYCACHE)
        for file in files.values():  # warm up: caches, the SQL cache, the catalog
            run_measured([*lakestory_cmd(), "run", str(file)], env=env, cwd=work)
        samples: dict[str, list[Sample]] = {side: [] for side in files}
        for i in range(args.pairs):
            order = list(files) if i % 2 == 0 else list(reversed(files))
            for side in order:
                samples[side].append(
                    run_measured([*lakestory_cmd(), "run", str(files[side])], env=env, cwd=work)
                )
        none = samples["none"]
        print(f"example run, {args.pairs} runs each (wall time, median; paired difference)")
        for side, runs in samples.items():
            wall = statistics.median(s.wall_s for s in runs)
            line = f"  {side:5} {wall:6.2f} s"
            if side != "none":
                diff = statistics.median(
                    a.wall_s - b.wall_s for a, b in zip(runs, none, strict=True)
                )
                line += f"   {diff:+.2f} s vs none"
            codes = {s.returncode for s in runs}
            print(line + ("" if codes == {0} else f"   exit codes {sorted(codes)}"))
        print(f"  requests received by the good receiver: {_lines(work / 'good.jsonl')}")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def _lines(path: Path) -> int:
    return len(path.read_text("utf-8").splitlines()) if path.exists() else 0


if __name__ == "__main__":
    main()
