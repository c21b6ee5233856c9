"""Continuous runs (``lakestory run --continuous``), as real processes started here and
stopped by pid: files dropped while it runs, bursts, kills and restarts, available-now
backlogs, SIGTERM, the lag metrics, S3 and ADLS.

The project is bronze → silver → gold: bronze ingests CSV files (``incremental: {mode:
files}``) and stamps them with ``_ingested_at``; silver and gold each read the table before
them incrementally on that column. "Exactly once" is checked on gold: every id of every
file dropped appears exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.io.paths import InputFile
from lakestory.runtime.continuous import BatchLedger, Bounds, Driver, Watched
from lakestory.runtime.plan import Plan
from lakestory.runtime.records import NodeRecord, RunResult
from support.servers import AzuriteEndpoint, S3Endpoint, free_port

ROWS = 3  # rows per file


def make(
    root: Path,
    bounds: str = "max_files_per_batch: 100",
    landing: str = "{type: local, base_path: landing}",
    lake: str = "{type: local, base_path: lake}",
    extra: str = "",
    bronze_steps: str = "",
    pipeline: str = "",
) -> Path:
    (root / "landing").mkdir(parents=True, exist_ok=True)
    path = root / "lakestory.yaml"
    path.write_text(
        "project: stream\n"
        f"connections:\n  landing: {landing}\n  lake: {lake}\n"
        f"{extra}"
        "pipelines:\n"
        "  - pipeline: events\n"
        f"{pipeline}"
        "    nodes:\n"
        "      - name: bronze\n"
        "        read: {connection: landing, path: in, format: csv,\n"
        f"               incremental: {{mode: files, {bounds}}}}}\n"
        "        transform:\n"
        "          steps:\n"
        f"{bronze_steps}"
        "            - sql: SELECT *, current_timestamp() AS _ingested_at FROM df\n"
        "        write: {connection: lake, path: bronze, mode: append}\n"
        "      - name: silver\n"
        "        read: {connection: lake, path: bronze, format: delta,\n"
        "               incremental: {column: _ingested_at}}\n"
        "        transform:\n"
        "          steps:\n"
        "            - sql: SELECT id, src, amount * 2 AS amount, _ingested_at FROM df\n"
        "        write: {connection: lake, path: silver, mode: append}\n"
        "      - name: gold\n"
        "        read: {connection: lake, path: silver, format: delta,\n"
        "               incremental: {column: _ingested_at}}\n"
        "        write: {connection: lake, path: gold, mode: append}\n"
    )
    return path


def csv_of(n: int) -> str:
    rows = [f"{n * 1000 + i},f{n},{i}.5" for i in range(ROWS)]
    return "id,src,amount\n" + "\n".join(rows) + "\n"


def expected(numbers: range | list[int]) -> list[int]:
    return sorted(n * 1000 + i for n in numbers for i in range(ROWS))


def drop(root: Path, numbers: range | list[int], age_s: float | None = None) -> None:
    """Write each file under a hidden name, then rename it: the watcher never sees half a
    file (names starting with '.' are not input files)."""
    folder = root / "landing" / "in"
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        hidden = folder / f".f{n:04}.csv.tmp"
        hidden.write_text(csv_of(n))
        if age_s is not None:
            then = time.time() - age_s + n  # older files first, whatever their names
            os.utime(hidden, (then, then))
        os.replace(hidden, folder / f"f{n:04}.csv")


def gold(root: Path) -> list[int]:
    table = root / "lake" / "gold"
    if not (table / "_delta_log").is_dir():
        return []
    return sorted(DeltaTable(str(table)).to_pyarrow_table(columns=["id"]).column("id").to_pylist())


def environ(fault: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKESTORY_")}
    if fault:
        env["LAKESTORY_FAULT"] = fault
    return {**env, **(extra or {})}


class Run:
    """A ``lakestory run --format json`` process; its stdout goes to a file (one JSON line
    per batch, then one for the end)."""

    def __init__(self, path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out = path.parent / f"out-{time.monotonic_ns()}.jsonl"
        self.err = self.out.with_suffix(".err")
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lakestory", "run", str(path), "--format", "json", *args],
                stdout=out,
                stderr=err,
                env=env or environ(),
                cwd=path.parent,
            )

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.out.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def batches(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "batch" in line]

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def text(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def runs() -> Iterator[Callable[..., Run]]:
    started: list[Run] = []

    def start(path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
        run = Run(path, *args, env=env)
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop()


def wait_for(what: Callable[[], bool], timeout: float, run: Run | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if what():
            return
        if run is not None and run.proc.poll() is not None:
            raise AssertionError(f"the run ended ({run.proc.returncode}):\n{run.text()}")
        time.sleep(0.2)
    raise AssertionError("timed out" + (f":\n{run.text()}" if run else ""))


def available_now(path: Path, *args: str, fault: str | None = None) -> Run:
    run = Run(path, "--trigger", "available-now", *args, env=environ(fault))
    run.wait(90)
    return run


# --- the tests --------------------------------------------------------------------------


def test_a_batch_takes_the_oldest_files_within_its_bounds() -> None:
    files = [InputFile(f"f{n}", f"/x/f{n}", size, 0.0) for n, size in enumerate([5, 5, 30, 1])]
    assert [f.name for f in Bounds(max_files=3).take(files)] == ["f0", "f1", "f2"]
    assert [f.name for f in Bounds(max_bytes=12).take(files)] == ["f0", "f1"]
    assert [f.name for f in Bounds(max_bytes=12).take(files[2:])] == ["f2"]  # alone, too big
    ledger = BatchLedger({"old"}, ["new1"])
    assert "old" in ledger and "other" in ledger and "new1" not in ledger
    assert len(ledger) == 1  # the node's state counts the files really ingested


def test_an_interval_run_reruns_a_failed_batch_then_stops_when_asked(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    source = Watched("p.bronze", "p", "bronze", str(folder), "csv", None, Bounds(10))
    calls: list[dict[str, list[str]]] = []

    def run_batch(files: Mapping[str, Collection[str]]) -> RunResult:
        calls.append({k: sorted(v) for k, v in files.items()})
        status = "failed" if len(calls) == 1 else "success"  # silver failed, say
        res = RunResult(f"r{len(calls)}", "p", None, datetime.now(UTC), status=status)
        res.nodes = [NodeRecord("p.bronze", "p", "bronze", status="success")]
        if len(calls) == 2:
            driver.stop("SIGTERM")
        return res

    plan = Plan("p", None, "duckdb", "fail_fast", [])
    driver = Driver(plan, [source], run_batch, None, timedelta(seconds=0.05))
    outcome = driver.run()
    # the retry runs with no file: bronze had taken a.csv; the nodes after it catch up
    assert calls == [{"p.bronze": ["a.csv"]}, {"p.bronze": []}]
    assert (outcome.batches, outcome.failed_batches, outcome.stopped_by) == (2, 1, "SIGTERM")
    assert outcome.exit_code == 0


def test_files_dropped_while_it_runs_are_ingested_once_even_in_a_burst(
    tmp_path: Path, runs: Callable[..., Run]
) -> None:
    path = make(tmp_path, "max_files_per_batch: 100")
    run = runs(path, "--continuous", "--trigger", "interval=1s")
    drop(tmp_path, range(3))
    wait_for(lambda: gold(tmp_path) == expected(range(3)), 60, run)
    drop(tmp_path, [3])
    wait_for(lambda: gold(tmp_path) == expected(range(4)), 30, run)

    drop(tmp_path, range(4, 304))  # a burst of 300 small files
    wait_for(lambda: gold(tmp_path) == expected(range(304)), 90, run)
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait(30) == 0, run.text()

    batches = [b for b in run.batches() if b["file_count"]]
    assert all(b["status"] == "success" for b in batches)
    assert max(b["file_count"] for b in batches) <= 100  # the burst took bounded batches
    taken = [f for b in batches for f in b["files"]["events.bronze"]]
    assert sorted(taken) == [f"f{n:04}.csv" for n in range(304)]  # each file in one batch
    assert run.lines()[-1] == {
        "continuous": "stopped",
        "stopped_by": "SIGTERM",
        "batches": len(run.batches()),
        "failed_batches": 0,
    }


@pytest.mark.parametrize(("fault", "files"), [("during_write", 6), ("after_commit", 4)])
def test_a_batch_killed_midway_is_redone_on_restart_exactly_once(
    tmp_path: Path, fault: str, files: int
) -> None:
    """``during_write``: nothing was committed, the restart takes the files again.
    ``after_commit``: bronze committed its files, silver and gold did not; with no file
    pending, the restart's first batch catches them up."""
    path = make(tmp_path, "max_files_per_batch: 4")
    drop(tmp_path, range(files))
    killed = available_now(path, fault=fault)
    assert killed.proc.returncode == -signal.SIGKILL, killed.text()
    assert gold(tmp_path) == []

    again = available_now(path, "--max-files-per-batch", "10")
    assert again.proc.returncode == 0, again.text()
    assert gold(tmp_path) == expected(range(files))
    taken = [b["files"]["events.bronze"] for b in again.batches()]
    if fault == "after_commit":
        assert taken == [[]] and again.batches()[0]["catch_up"]
    else:
        assert taken == [[f"f{n:04}.csv" for n in range(files)]]


def test_a_kill_9_in_the_middle_of_a_burst_loses_and_repeats_nothing(
    tmp_path: Path, runs: Callable[..., Run]
) -> None:
    path = make(tmp_path, "max_files_per_batch: 20")
    drop(tmp_path, range(100))
    run = runs(path, "--trigger", "interval=1s")
    wait_for(lambda: len(run.batches()) >= 2, 60, run)
    os.kill(run.proc.pid, signal.SIGKILL)  # wherever the third batch is
    assert run.wait(10) == -signal.SIGKILL
    assert len(set(gold(tmp_path))) == len(gold(tmp_path))  # never twice, even mid-way

    again = available_now(path, "--max-files-per-batch", "100")
    assert again.proc.returncode == 0, again.text()
    assert gold(tmp_path) == expected(range(100))


def test_available_now_drains_a_backlog_in_bounded_batches_oldest_first(
    tmp_path: Path,
) -> None:
    path = make(tmp_path, "max_files_per_batch: 10")
    drop(tmp_path, list(reversed(range(25))), age_s=3600)  # f0000 is the oldest
    first = available_now(path)
    assert first.proc.returncode == 0, first.text()
    batches = first.batches()
    assert [b["file_count"] for b in batches] == [10, 10, 5]
    assert [b["pending"] for b in batches] == [15, 5, 0]
    assert batches[0]["files"]["events.bronze"] == [f"f{n:04}.csv" for n in range(10)]
    assert gold(tmp_path) == expected(range(25))
    assert first.lines()[-1]["continuous"] == "done"

    drop(tmp_path, range(25, 30))
    second = available_now(path, "--max-bytes-per-batch", f"{3 * len(csv_of(25))}B")
    assert [b["file_count"] for b in second.batches()] == [3, 2]
    assert gold(tmp_path) == expected(range(30))
    stories = list((tmp_path / ".lakestory" / "stories").rglob("*.json"))
    assert len(stories) == 5  # a story per batch


@pytest.mark.parametrize("signals", [1, 2])
def test_sigterm_mid_batch_exits_0_and_nothing_is_lost(
    tmp_path: Path, runs: Callable[..., Run], signals: int
) -> None:
    """One SIGTERM: the batch finishes, then the run ends. Two: the batch is abandoned
    (nothing of it committed, or what bronze committed is caught up later)."""
    path = make(tmp_path, "max_files_per_batch: 30")
    drop(tmp_path, range(150))
    run = runs(path, "--continuous", "--trigger", "interval=1s")
    wait_for(lambda: len(run.batches()) >= 1, 60, run)
    for _ in range(signals):
        run.proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
    assert run.wait(30) == 0, run.text()
    done = run.batches()
    assert len(done) < 5  # it stopped early
    assert run.lines()[-1]["stopped_by"] == "SIGTERM"
    if signals == 1:  # every batch finished: gold holds exactly their files
        assert all(b["status"] == "success" for b in done)
        taken = [int(f[1:5]) for b in done for f in b["files"]["events.bronze"]]
        assert gold(tmp_path) == expected(taken)

    again = available_now(path, "--max-files-per-batch", "150")
    assert again.proc.returncode == 0, again.text()
    assert gold(tmp_path) == expected(range(150))


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("lakestory_source_"):
            name, value = line.rsplit(" ", 1)
            found[name.split("{")[0]] = float(value)
    return found


def test_the_metrics_endpoint_reports_the_lag_of_each_source(
    tmp_path: Path, runs: Callable[..., Run]
) -> None:
    port = free_port()
    (tmp_path / "slow.py").write_text(
        "import time\n\n\ndef slow(df):\n    time.sleep(1.5)\n    return df\n"
    )
    path = make(
        tmp_path,
        "max_files_per_batch: 2",
        extra=f"metrics: {{prometheus: {{port: {port}, host: 127.0.0.1}}}}\n",
        bronze_steps="            - function: slow.slow\n",
    )
    drop(tmp_path, range(4), age_s=3600)
    run = runs(path, "--trigger", "interval=1s")
    seen: list[dict[str, float]] = []

    def lagging() -> bool:
        try:
            seen.append(scrape(port))
        except OSError:
            return False
        return seen[-1].get("lakestory_source_pending_files", 0) >= 2

    wait_for(lagging, 60, run)
    assert seen[-1]["lakestory_source_oldest_pending_age_seconds"] >= 3600 - 10
    assert seen[-1]["lakestory_source_pending_bytes"] >= 2 * len(csv_of(0))
    wait_for(lambda: gold(tmp_path) == expected(range(4)), 60, run)
    wait_for(lambda: scrape(port).get("lakestory_source_pending_files") == 0, 10, run)
    assert scrape(port)["lakestory_source_oldest_pending_age_seconds"] == 0
    run.proc.send_signal(signal.SIGINT)  # Ctrl-C stops it the same way
    assert run.wait(30) == 0, run.text()


def test_continuous_on_the_pipeline_and_once(tmp_path: Path, cli: Callable[..., Any]) -> None:
    path = make(
        tmp_path, "max_files_per_batch: 2", pipeline="    continuous: {trigger: available-now}\n"
    )
    drop(tmp_path, range(3))
    out = cli("run", path)
    assert out.exit_code == 0, out.stdout + out.stderr
    assert "batch 1: 2 files" in out.stdout and "batch 2: 1 files" in out.stdout
    assert "continuous run done after 2 batches (0 failed)" in out.stdout
    assert gold(tmp_path) == expected(range(3))
    idle = cli("run", path)  # nothing pending, the last batch finished: no batch at all
    assert "continuous run done after 0 batches" in idle.stdout, idle.stdout + idle.stderr
    drop(tmp_path, [3])
    once = cli("run", path, "--once")  # an ordinary run: every new file at once
    assert once.exit_code == 0 and "run success" in once.stdout, once.stdout + once.stderr
    assert gold(tmp_path) == expected(range(4))


def test_what_a_continuous_run_refuses(tmp_path: Path, cli: Callable[..., Any]) -> None:
    path = tmp_path / "lakestory.yaml"
    path.write_text(
        "project: stream\n"
        "connections:\n  landing: {type: local, base_path: landing}\n"
        "  lake: {type: local, base_path: lake}\n"
        "pipelines:\n"
        "  - pipeline: events\n"
        "    nodes:\n"
        "      - name: bronze\n"
        "        read: {connection: landing, path: in, format: csv, incremental: {mode: files}}\n"
        "        write: {connection: lake, path: bronze, mode: append}\n"
        "      - name: silver\n"
        "        transform: {steps: [{sql: SELECT id FROM bronze}]}\n"
        "        write: {connection: lake, path: silver, mode: append}\n"
    )
    out = cli("run", path, "--trigger", "available-now")
    text = out.stdout + out.stderr
    assert out.exit_code == 2, text
    assert "node 'silver' cannot take the batch of 'bronze' in memory" in text
    assert "read bronze's table instead: `read: {connection: lake, path: bronze" in text
    assert "lakestory.yaml:11:9, node events.silver" in text

    marked = path.read_text().replace("events\n", "events\n    continuous: true\n", 1)
    path.write_text(marked)
    checked = cli("validate", path)  # `continuous: true` is checked before any run
    assert checked.exit_code == 2
    assert "node 'silver' cannot take the batch" in checked.stdout + checked.stderr

    bad = cli("run", path, "--trigger", "every 5s")
    assert bad.exit_code == 2
    assert "'every 5s' is not a trigger" in bad.stdout + bad.stderr
    assert cli("run", path, "--once", "--trigger", "available-now").exit_code == 2


def test_continuous_on_s3(tmp_path: Path, s3_server: S3Endpoint, s3_bucket: str) -> None:
    """An S3 prefix watched (the lake is local: Delta on S3 is tested elsewhere)."""
    conn = (
        f"{{type: s3, bucket: {s3_bucket}, region: {s3_server.region}, "
        f"endpoint_url: '{s3_server.endpoint_url}', access_key_id: '${{TEST_AWS_KEY}}', "
        "secret_access_key: '${TEST_AWS_SECRET}'}"
    )
    path = make(tmp_path, "max_files_per_batch: 2", landing=conn)
    s3 = s3_server.client()

    def put(numbers: range) -> None:
        for n in numbers:
            s3.put_object(Bucket=s3_bucket, Key=f"in/f{n:04}.csv", Body=csv_of(n).encode())

    env = environ(extra={"TEST_AWS_KEY": "testing", "TEST_AWS_SECRET": "testing"})
    put(range(3))
    first = Run(path, "--trigger", "available-now", env=env)
    assert first.wait(120) == 0, first.text()
    assert [b["file_count"] for b in first.batches()] == [2, 1]
    put(range(3, 4))
    second = Run(path, "--trigger", "available-now", env=env)
    assert second.wait(120) == 0, second.text()
    assert second.batches()[0]["files"] == {"events.bronze": ["f0003.csv"]}
    assert gold(tmp_path) == expected(range(4))


def test_continuous_on_adls(tmp_path: Path, azurite: AzuriteEndpoint, azure_container: str) -> None:
    """An ADLS path watched (Azurite), in one available-now run."""
    conn = (
        f"{{type: azure_adls, account: {azurite.account_name}, container: {azure_container}, "
        f"auth_mode: account_key, account_key: '${{TEST_AZURE_KEY}}', "
        f"endpoint_url: '{azurite.blob_endpoint}'}}"
    )
    path = make(tmp_path, "max_files_per_batch: 2", landing=conn)
    container = azurite.service().get_container_client(azure_container)
    for n in range(3):
        container.upload_blob(f"in/f{n:04}.csv", csv_of(n).encode())
    env = environ(extra={"TEST_AZURE_KEY": azurite.account_key})
    run = Run(path, "--trigger", "available-now", env=env)
    assert run.wait(120) == 0, run.text()
    assert [b["files"]["events.bronze"] for b in run.batches()] == [
        ["f0000.csv", "f0001.csv"],
        ["f0002.csv"],
    ]
    assert gold(tmp_path) == expected(range(3))
