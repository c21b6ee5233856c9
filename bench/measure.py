"""Run a command as a child process and measure it: wall time, CPU time, peak memory."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One measured run of a child process (and the children it waited for)."""

    wall_s: float
    cpu_s: float  # user + system
    peak_mib: float  # the largest resident set of the process tree's members
    returncode: int


class ChildFailed(RuntimeError):
    """The measured command exited non-zero."""


def run_measured(
    cmd: Sequence[str],
    *,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Sample:
    """Run ``cmd`` to completion; stdout and stderr go to ``log`` (or are discarded).

    Wall time is process start to exit as seen by the parent (``time.perf_counter``); CPU
    time and peak RSS come from ``os.wait4``'s rusage of exactly this child. ``ru_maxrss``
    is in KiB on Linux.

    Keep the measuring process small: on Linux a child's ``ru_maxrss`` starts at the
    *parent's* peak RSS (exec carries the old address space's high-water mark over, with
    fork and vfork alike), so no child can measure below :func:`own_peak_mib`. Do heavy
    work (data generation, result checks) in unmeasured child processes.
    """
    sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env else None,
            cwd=cwd,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            sink.close()  # type: ignore[union-attr]
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)


def run_checked(
    cmd: Sequence[str],
    *,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Sample:
    """:func:`run_measured`, raising :class:`ChildFailed` on a non-zero exit."""
    sample = run_measured(cmd, log=log, env=env, cwd=cwd)
    if sample.returncode != 0:
        where = f"; see {log}" if log else ""
        raise ChildFailed(f"{' '.join(cmd)} exited {sample.returncode}{where}")
    return sample


def child_env(pycache: Path | None) -> dict[str, str]:
    """The environment for measured children.

    With ``pycache``, bytecode is cached under that folder (``PYTHONPYCACHEPREFIX``) even
    when the calling environment sets ``PYTHONDONTWRITEBYTECODE``: an installed package has
    its ``.pyc`` files, and an editable install without them would pay for compiling its
    sources on every start. The cache lives outside ``src/``, so nothing is written there.
    """
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def own_peak_mib() -> float:
    """This process's peak RSS so far: the floor of every peak measured from it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lakestory_cmd() -> list[str]:
    """The ``lakestory`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "lakestory"
    if script.exists():
        return [str(script)]
    found = shutil.which("lakestory")
    if not found:
        raise SystemExit("cannot find the lakestory command")
    return [found]


def median(samples: Sequence[Sample]) -> Sample:
    """The per-metric median of several samples."""
    return Sample(
        statistics.median(s.wall_s for s in samples),
        statistics.median(s.cpu_s for s in samples),
        statistics.median(s.peak_mib for s in samples),
        max(s.returncode for s in samples),
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def stopwatch() -> Callable[[], float]:
    """Seconds since the previous call (or since it was made)."""
    last = [time.perf_counter()]

    def lap() -> float:
        now = time.perf_counter()
        took, last[0] = now - last[0], now
        return round(took, 3)

    return lap
