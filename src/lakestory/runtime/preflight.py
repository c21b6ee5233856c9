"""Before a run: reach every cloud store it will use, once and in parallel, so wrong
credentials or an unreachable endpoint fail in seconds with one message per connection,
before any node starts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait

from lakestory.core.errors import LakestoryError, StoreError, Where
from lakestory.io import stores

TIMEOUT_S = 20.0
"""How long all the probes together may take."""


def check_stores(
    uris: Iterable[str | None],
    where: Callable[[str], Where] | None = None,
    timeout: float = TIMEOUT_S,
) -> None:
    """Probe the store of each URL among ``uris`` (local paths and None are skipped);
    ``where`` locates a connection (by name) in the project file, for the messages."""
    found: dict[str, stores.Store] = {}
    for uri in uris:
        store = stores.find(uri) if uri else None
        if store is not None:
            found.setdefault(store.connection, store)
    if not found:
        return
    pool = ThreadPoolExecutor(max_workers=min(8, len(found)), thread_name_prefix="preflight")
    futures = {pool.submit(stores.probe, s): s for s in found.values()}
    _, pending = wait(futures, timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)
    problems: list[LakestoryError] = []
    failed: list[stores.Store] = []
    for future in futures:
        store = futures[future]
        if future in pending or future.exception() is not None:
            failed.append(store)
        if future in pending:
            problems.append(
                StoreError(
                    f"{store.describe()}: no answer from {store.endpoint} within {timeout:g} s",
                    hint="check the endpoint (`endpoint_url`), the network and the firewall",
                )
            )
            continue
        exc = future.exception()
        if isinstance(exc, LakestoryError):
            problems.append(exc)
        elif exc is not None:
            problems.append(stores.store_error(store, store.root, exc))
    if where is not None:
        for problem, store in zip(problems, failed, strict=True):
            problem.located(**where(store.connection).to_dict())
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise StoreError(
            f"{len(problems)} connections failed",
            detail="\n".join(p.render() for p in problems),
        )
