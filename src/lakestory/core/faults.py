"""Fault injection for crash tests: ``LAKESTORY_FAULT=<point>`` kills the process (SIGKILL,
no cleanup, no atexit) when it reaches that point. The crash tests use it to prove that a
run killed anywhere leaves every table whole and the next run loses and repeats nothing.

Points: ``after_read``, ``before_write``, ``during_write`` (data streamed, not committed),
``after_commit`` (data committed, run not recorded), ``before_run_finished``.
"""

from __future__ import annotations

import os
import signal

ENV = "LAKESTORY_FAULT"


def point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
