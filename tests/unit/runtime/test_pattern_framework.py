"""How the graph resolves a node's ``pattern:`` and the runtime applies it: unknown types,
params, the write settings a pattern needs, its lookups and the tests it adds. The
patterns here are registered by the tests themselves (the built-ins have their own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from lakestory.api import Project
from lakestory.core.errors import ConfigError, GraphError
from lakestory.transforms import patterns as pt
from lakestory.transforms.transformers import ident


class TotalsParams(BaseModel):
    grain: list[str]
    dimension: str | None = None


def _totals(ctx: pt.PatternContext, p: TotalsParams, df: Any) -> Any:
    """Sums amounts by grain (a test pattern)."""
    before = ctx.target()
    ctx.note(f"target rows before: {0 if before is None else ctx.count(before)}")
    cols = ", ".join(ident(c) for c in p.grain)
    return ctx.sql(
        f"SELECT {cols}, sum(amount) AS total FROM {ident(df.name)} GROUP BY {cols}", "totals"
    )


@pytest.fixture(autouse=True)
def totals() -> Iterator[None]:
    pt.load_builtins()
    pt.pattern(
        TotalsParams,
        {"grain": ["id"]},
        name="test_totals",
        write=lambda p: {"mode": "upsert", "keys": p.grain},
        lookups=lambda p: {"dim": p.dimension} if p.dimension else {},
        tests=lambda p, _: [{"type": "unique", "columns": p.grain, "name": "grain is unique"}],
    )(_totals)
    yield
    pt.REGISTRY.pop("test_totals", None)


YAML = """
project: pat
connections:
  local: {type: local, base_path: .}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim
        read: {connection: local, path: data/d.csv}
        write: {connection: local, path: out/dim}
      - name: totals
        read: {connection: local, path: data/o.csv}
        pattern:
          type: test_totals
          params: {grain: [id]}
        write: {connection: local, path: out/totals}
"""
FILES = {"data/o.csv": "id,amount\n1,10\n2,20\n1,5\n", "data/d.csv": "id\n1\n"}


def load(project: Callable[..., Path], text: str = YAML) -> Project:
    return Project.load(project(text, FILES) / "lakestory.yaml")


def test_a_pattern_sets_the_write_and_adds_its_tests(project: Callable[..., Path]) -> None:
    node = load(project).graph.nodes["gold.totals"]
    assert node.config.write is not None
    assert (node.config.write.mode, node.config.write.keys) == ("upsert", ["id"])
    assert node.target is not None and node.target.mode == "upsert"
    assert node.validation is not None
    assert [c.name for c in node.validation.checks] == ["grain is unique"]
    assert node.pattern is not None and node.pattern.to_dict()["type"] == "test_totals"


def test_a_pattern_runs_after_the_steps_and_sees_its_table(
    project: Callable[..., Path],
) -> None:
    p = load(project)
    first = p.run()
    assert first.ok
    rec = next(r for r in first.nodes if r.key == "gold.totals")
    assert rec.rows_written == 2 and rec.note == "target rows before: 0"
    assert rec.pattern == "test_totals"  # shown in the story's facts
    assert any("sum(amount)" in s for s in rec.sql)
    second = p.run()
    rec = next(r for r in second.nodes if r.key == "gold.totals")
    assert rec.note == "target rows before: 2" and rec.rows_written == 0


@pytest.mark.parametrize(
    ("old", "new", "message", "line"),
    [
        ("type: test_totals", "type: test_totalz", "unknown pattern 'test_totalz'", 13),
        ("{grain: [id]}", "{}", "params.grain: missing param", 14),
        ("{grain: [id]}", "{grain: [id], grian: 1}", "params.grian: unknown param", 14),
    ],
)
def test_pattern_config_errors_are_located(
    project: Callable[..., Path], old: str, new: str, message: str, line: int
) -> None:
    with pytest.raises(ConfigError) as info:
        _ = load(project, YAML.replace(old, new)).graph
    assert message in info.value.what
    assert info.value.where.line == line
    assert info.value.where.node == "totals"


def test_a_conflicting_write_setting_is_an_error(project: Callable[..., Path]) -> None:
    text = YAML.replace("path: out/totals}", "path: out/totals, mode: append}")
    with pytest.raises(ConfigError, match="writes with mode: 'upsert', not 'append'") as info:
        _ = load(project, text).graph
    assert info.value.hint == "remove `write.mode`: the pattern sets it"


def test_a_pattern_that_keeps_a_table_needs_a_delta_table(project: Callable[..., Path]) -> None:
    text = YAML.replace("path: out/totals}", "path: out/totals.csv}")
    with pytest.raises(ConfigError, match=r"needs a Delta table|keeps a Delta table") as info:
        _ = load(project, text).graph
    assert info.value.where.key == "pipelines[0].nodes[1].write"


def test_a_pattern_that_keeps_a_table_needs_a_write(project: Callable[..., Path]) -> None:
    text = YAML.replace("        write: {connection: local, path: out/totals}\n", "")
    with pytest.raises(ConfigError, match="the node needs a `write:`"):
        _ = load(project, text).graph


def test_lookups_order_the_nodes_and_must_write_a_table(project: Callable[..., Path]) -> None:
    text = YAML.replace("{grain: [id]}", "{grain: [id], dimension: dim}")
    graph = load(project, text).graph
    assert "gold.dim" in graph.nodes["gold.totals"].order_deps
    lookups = graph.nodes["gold.totals"].pattern.lookups  # type: ignore[union-attr]
    assert lookups["dim"][0] == "gold.dim"
    unwritten = text.replace("        write: {connection: local, path: out/dim}\n", "")
    with pytest.raises(ConfigError, match="looks up 'dim', which writes no table"):
        _ = Project.load(project(unwritten, FILES, root="p2") / "lakestory.yaml").graph
    unknown = text.replace("dimension: dim}", "dimension: dimm}")
    with pytest.raises((ConfigError, GraphError), match="unknown node looked up"):
        _ = Project.load(project(unknown, FILES, root="p3") / "lakestory.yaml").graph
