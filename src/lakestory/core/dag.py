"""A generic directed acyclic graph: nodes are hashable keys, edges point upstream → downstream."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class CycleError(Exception):
    def __init__(self, cycle: Sequence[Hashable]) -> None:
        super().__init__(" -> ".join(map(str, cycle)))
        self.cycle = list(cycle)


class DAG(Generic[K]):
    def __init__(self, nodes: Iterable[K] = ()) -> None:
        self._up: dict[K, list[K]] = {}
        self._down: dict[K, list[K]] = {}
        for n in nodes:
            self.add(n)

    def add(self, node: K) -> None:
        self._up.setdefault(node, [])
        self._down.setdefault(node, [])

    def connect(self, upstream: K, downstream: K) -> None:
        self.add(upstream)
        self.add(downstream)
        if upstream not in self._up[downstream]:
            self._up[downstream].append(upstream)
            self._down[upstream].append(downstream)

    @property
    def nodes(self) -> list[K]:
        return list(self._up)

    def upstream(self, node: K) -> list[K]:
        return list(self._up[node])

    def downstream(self, node: K) -> list[K]:
        return list(self._down[node])

    def order(self) -> list[K]:
        """Topological order, stable with respect to insertion order; raises CycleError."""
        indegree = {n: len(ups) for n, ups in self._up.items()}
        ready = [n for n in self._up if indegree[n] == 0]
        out: list[K] = []
        while ready:
            n = ready.pop(0)
            out.append(n)
            for d in self._down[n]:
                indegree[d] -= 1
                if indegree[d] == 0:
                    ready.append(d)
        if len(out) != len(self._up):
            raise CycleError(self._find_cycle({n for n in self._up if indegree[n] > 0}))
        return out

    def _find_cycle(self, candidates: set[K]) -> list[K]:
        # Walk upstream edges inside the unresolved set until a node repeats.
        start = next(n for n in self._up if n in candidates)
        path: list[K] = [start]
        seen = {start: 0}
        node = start
        while True:
            node = next(u for u in self._up[node] if u in candidates)
            if node in seen:
                cycle = [*path[seen[node] :], node]
                cycle.reverse()
                return cycle
            seen[node] = len(path)
            path.append(node)

    def closure(self, start: Iterable[K], *, upstream: bool) -> set[K]:
        """All nodes reachable from ``start`` (inclusive) going up or down."""
        edges = self._up if upstream else self._down
        todo = list(start)
        out: set[K] = set()
        while todo:
            n = todo.pop()
            if n in out:
                continue
            out.add(n)
            todo.extend(edges[n])
        return out
