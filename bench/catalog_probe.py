"""The lakestory CLI with the system catalog's work timed from inside the process.

    python bench/catalog_probe.py OUT.json run PROJECT [options]

Runs ``lakestory`` with its arguments after wrapping every entry point into the catalog
with a timer: opening it (``Catalog.for_project``), reading the state of incremental nodes
(``load_states``), and the observer's handling of the run's start and end events. After
each call the totals (ms) and call counts are written to OUT.json, so they survive however
the CLI exits.

``blocking_ms``, the sum of those, is how long the run waited for the catalog: a measure
that, unlike the difference of two processes' wall times, does not drown in the machine's
noise. It leaves out what every run pays with the catalog on or off (importing its
modules), and work the catalog does in a background thread while the nodes run (the start
row's commit), which only costs the run the CPU it takes from it. ``Catalog.run_started``
and ``Catalog.run_finished`` (the commits themselves) are timed too, as ``detail``.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

gc.disable()  # as the CLI's main() does during start-up; it re-enables the GC itself

import lakestory.api as api  # noqa: E402
from lakestory.catalog import Catalog  # noqa: E402
from lakestory.observe.catalog import CatalogObserver  # noqa: E402
from lakestory.runtime.events import RunFinished, RunStarted  # noqa: E402

SPENT: dict[str, float] = {}
CALLS: dict[str, int] = {}
DETAIL = ("commit: run started", "commits: run finished")  # inside the other entries
LOCK = threading.Lock()


def _save(out: Path) -> None:
    blocking = sum(v for k, v in SPENT.items() if k not in DETAIL)
    doc = {
        "blocking_ms": blocking * 1000,
        "ms": {k: v * 1000 for k, v in SPENT.items() if k not in DETAIL},
        "detail": {k: v * 1000 for k, v in SPENT.items() if k in DETAIL},
        "calls": CALLS,
    }
    out.write_text(json.dumps(doc))


def _timed(fn: Callable[..., Any], label: Callable[..., str], out: Path) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            took, name = time.perf_counter() - start, label(*args, **kwargs)
            with LOCK:
                SPENT[name] = SPENT.get(name, 0.0) + took
                CALLS[name] = CALLS.get(name, 0) + 1
                _save(out)

    return wrapper


def _event_label(_self: object, event: object, *_: Any, **__: Any) -> str:
    if isinstance(event, RunStarted):
        return "observer: run started"
    if isinstance(event, RunFinished):
        return "observer: run finished"
    return "observer: other events"


def install(out: Path) -> None:
    """Wrap the catalog's entry points; start OUT.json empty."""
    _save(out)
    opened = Catalog.for_project  # bound to the class: the wrapper is called unbound
    Catalog.for_project = _timed(opened, lambda *_: "open catalog", out)  # type: ignore[method-assign]
    api.load_states = _timed(api.load_states, lambda *_: "load states", out)  # type: ignore[attr-defined]
    CatalogObserver.__call__ = _timed(CatalogObserver.__call__, _event_label, out)  # type: ignore[method-assign]
    for method, name in zip(("run_started", "run_finished"), DETAIL, strict=True):
        timed = _timed(getattr(Catalog, method), lambda *_, n=name: n, out)
        setattr(Catalog, method, timed)


def main() -> None:
    out = Path(sys.argv[1])
    install(out)
    sys.argv = ["lakestory", *sys.argv[2:]]
    from lakestory.cli.app import main as cli

    cli()


if __name__ == "__main__":
    main()
