"""The lakestory CLI with the DuckDB engine's work timed from inside the process.

    python bench/quality_probe.py OUT.json run PROJECT [options]

Wraps the engine's methods that execute queries (``read``, ``persist``, ``rows``,
``count``, ``arrow_schema``, ``schema``, ``write``, ``release``; ``sql`` only creates a
view) and ``quality.Checker.evaluate`` with timers, and records each call in order: what,
the frame's name, wall seconds, CPU seconds of the whole process meanwhile (DuckDB's and
delta-rs's threads included; a one-node run does little else meanwhile), and for ``sql``
the view's query. Written to OUT.json when the process exits. ``quality.py --probe`` runs
it; read the calls to see where a node's time goes (the tables the checks make, the
aggregate, the samples, the write).
"""

from __future__ import annotations

import atexit
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

gc.disable()  # as the CLI's main() does during start-up; it re-enables the GC itself

from lakestory import quality  # noqa: E402
from lakestory.engines.duckdb.engine import DuckDBEngine  # noqa: E402

CALLS: list[dict[str, Any]] = []
TIMED = ("read", "sql", "persist", "rows", "count", "arrow_schema", "schema", "write", "release")


def _name(arg: Any) -> str:
    return str(getattr(arg, "name", arg))


def _timed(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            call: dict[str, Any] = {
                "what": what,
                "s": time.perf_counter() - start,
                "cpu_s": time.process_time() - cpu,
            }
            if what == "evaluate":
                call["frame"] = _name(args[2])
            elif len(args) > 1:
                call["frame"] = _name(args[1])
            if what == "sql":
                call["frame"], call["query"] = _name(args[2]), args[1]
            if what == "persist":
                call["frame"] = f"{_name(args[1])} -> {_name(args[2])}"
            CALLS.append(call)

    return wrapper


def install(out: Path) -> None:
    for method in TIMED:
        setattr(DuckDBEngine, method, _timed(getattr(DuckDBEngine, method), method))
    quality.Checker.evaluate = _timed(quality.Checker.evaluate, "evaluate")  # type: ignore[method-assign]
    atexit.register(lambda: out.write_text(json.dumps(CALLS, indent=1)))


def main() -> None:
    out = Path(sys.argv[1])
    install(out)
    sys.argv = ["lakestory", *sys.argv[2:]]
    from lakestory.cli.app import main as cli

    cli()


if __name__ == "__main__":
    main()
