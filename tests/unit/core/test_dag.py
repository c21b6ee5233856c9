"""The generic DAG: order, cycles, closures."""

from __future__ import annotations

import itertools

import pytest

from lakestory.core.dag import DAG, CycleError


def dag(edges: list[tuple[str, str]], nodes: tuple[str, ...] = ()) -> DAG[str]:
    g: DAG[str] = DAG(nodes)
    for up, down in edges:
        g.connect(up, down)
    return g


def test_order_puts_upstream_first_and_keeps_insertion_order() -> None:
    g = dag([("a", "c"), ("b", "c"), ("c", "d")], nodes=("b", "a", "x"))
    assert g.order() == ["b", "a", "x", "c", "d"]


def test_order_of_independent_nodes_is_insertion_order() -> None:
    assert dag([], nodes=("z", "y", "x")).order() == ["z", "y", "x"]


def test_a_diamond() -> None:
    g = dag([("src", "left"), ("src", "right"), ("left", "sink"), ("right", "sink")])
    order = g.order()
    assert order[0] == "src" and order[-1] == "sink"
    assert g.upstream("sink") == ["left", "right"]
    assert g.downstream("src") == ["left", "right"]


def test_connecting_twice_adds_one_edge() -> None:
    g = dag([("a", "b"), ("a", "b")])
    assert g.upstream("b") == ["a"]


def test_a_cycle_names_its_members_in_order() -> None:
    g = dag([("start", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("c", "end")])
    with pytest.raises(CycleError) as err:
        g.order()
    cycle = err.value.cycle
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    # each member leads to the next one
    for up, down in itertools.pairwise(cycle):
        assert down in g.downstream(up)
    assert str(err.value) == " -> ".join(cycle)


def test_a_self_loop_is_a_cycle() -> None:
    with pytest.raises(CycleError) as err:
        dag([("a", "a")]).order()
    assert err.value.cycle == ["a", "a"]


def test_closure_up_and_down() -> None:
    g = dag([("a", "b"), ("b", "c"), ("x", "c"), ("c", "d"), ("e", "f")])
    assert g.closure(["c"], upstream=True) == {"a", "b", "c", "x"}
    assert g.closure(["b"], upstream=False) == {"b", "c", "d"}
    assert g.closure(["e", "a"], upstream=False) == {"a", "b", "c", "d", "e", "f"}
    assert g.closure([], upstream=True) == set()
