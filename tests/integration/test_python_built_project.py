"""A project built in Python from the config models equals the one loaded from YAML, and runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakestory.api import Project
from lakestory.config.models import (
    LocalConnection,
    NodeConfig,
    PipelineConfig,
    ProjectConfig,
    ReadConfig,
    StepConfig,
    WriteConfig,
)
from lakestory.core.errors import GraphError

YAML = """
project: shop
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: bronze
    nodes:
      - name: orders
        read: {connection: raw, path: orders.csv}
        write: {connection: lake, path: bronze/orders}
  - pipeline: gold
    nodes:
      - name: big_orders
        tags: [daily]
        transform:
          steps:
            - sql: SELECT id, amount FROM orders WHERE amount >= 10
        write: {connection: lake, path: gold/big_orders.parquet, mode: overwrite}
"""

FILES = {"data/orders.csv": "id,amount\n1,5\n2,10\n3,20\n"}


def built() -> ProjectConfig:
    return ProjectConfig(
        project="shop",
        connections={
            "raw": LocalConnection(type="local", base_path="data"),
            "lake": LocalConnection(type="local", base_path="lake"),
        },
        pipelines=[
            PipelineConfig(
                pipeline="bronze",
                nodes=[
                    NodeConfig(
                        name="orders",
                        read=ReadConfig(connection="raw", path="orders.csv"),
                        write=WriteConfig(connection="lake", path="bronze/orders"),
                    )
                ],
            ),
            PipelineConfig(
                pipeline="gold",
                nodes=[
                    NodeConfig(
                        name="big_orders",
                        tags=["daily"],
                        transform=[
                            StepConfig(sql="SELECT id, amount FROM orders WHERE amount >= 10")
                        ],
                        write=WriteConfig(
                            connection="lake", path="gold/big_orders.parquet", mode="overwrite"
                        ),
                    )
                ],
            ),
        ],
    )


def test_python_models_equal_the_yaml(project: Callable[..., Path]) -> None:
    root = project(YAML, FILES)
    assert Project.load(root / "lakestory.yaml").config == built()


def test_a_difference_is_noticed(project: Callable[..., Path]) -> None:
    root = project(YAML, FILES)
    other = built()
    other.pipelines[1].nodes[0].tags = ["weekly"]
    assert Project.load(root / "lakestory.yaml").config != other


def test_python_built_project_runs(
    project: Callable[..., Path], read_parquet: Callable[..., Any], read_delta: Callable[..., Any]
) -> None:
    root = project(YAML, FILES)
    result = Project(built(), root_dir=root).run()
    assert result.ok, [r.error for r in result.failed]
    assert result.record("big_orders").rows_written == 2
    assert read_parquet(root / "lake" / "gold" / "big_orders.parquet") == [
        {"id": 2, "amount": 10},
        {"id": 3, "amount": 20},
    ]
    assert len(read_delta(root / "lake" / "bronze" / "orders")) == 3


def test_relative_paths_of_a_python_project_follow_root_dir(
    project: Callable[..., Path], tmp_path: Path
) -> None:
    root = project(YAML, FILES)
    # the current folder is tmp_path, not the project: root_dir decides
    result = Project(built(), root_dir=root).plan()
    uris = [n.node.source.location.uri for n in result.nodes if n.node.source]
    assert uris == [str(root / "data" / "orders.csv")]
    assert not (tmp_path / "lake").exists()


def test_errors_in_a_python_built_project_name_node_and_key(project: Callable[..., Path]) -> None:
    config = built()
    config.pipelines[1].nodes[0].transform = [StepConfig(sql="SELECT * FROM ordrs")]
    with pytest.raises(GraphError) as err:
        Project(config, root_dir=project(YAML, FILES)).validate()
    assert err.value.render() == (
        "node gold.big_orders, transform.steps[0] (sql), SQL line 1, key transform.steps[0]: "
        "unknown table or node 'ordrs'\nhint: did you mean 'orders'?"
    )
