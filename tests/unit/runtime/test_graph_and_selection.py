"""One DAG across pipelines: how names resolve, where edges come from, what a selection runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakestory.api import Project
from lakestory.core.errors import ConfigError, ConfigErrors, GraphError, UsageError

SHOP = """
project: shop
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: bronze
    nodes:
      - name: raw_orders
        tags: [daily]
        read: {connection: raw, path: orders.csv}
        write: {connection: lake, path: bronze/orders}
      - name: raw_customers
        read: {connection: raw, path: customers.csv}
        write: {connection: lake, path: bronze/customers}
  - pipeline: silver
    nodes:
      - name: orders                      # reads the table raw_orders writes
        read: {connection: lake, path: bronze/orders, format: delta}
        write: {connection: lake, path: silver/orders}
      - name: customers
        tags: [daily]
        transform: [{sql: "SELECT * FROM raw_customers"}]
        write: {connection: lake, path: silver/customers}
  - pipeline: gold
    nodes:
      - name: metrics
        transform:
          - sql: SELECT c.id, COUNT(*) AS n FROM customers c JOIN orders o ON c.id = o.cid
                 GROUP BY c.id
        write: {connection: lake, path: gold/metrics}
      - name: enriched                    # not written: kept in memory for report
        transform: [{sql: "SELECT * FROM metrics"}]
      - name: report
        transform: [{sql: "SELECT * FROM enriched"}]
        write: {connection: lake, path: gold/report.csv}
"""


@pytest.fixture
def shop(project: Callable[..., Path]) -> Path:
    return project(SHOP) / "lakestory.yaml"


def plan_nodes(cli: Callable[..., Any], path: Path, *selection: str) -> dict[str, Any]:
    result = cli("plan", path, "--format", "json", *selection)
    assert result.exit_code == 0, result.stderr
    return {n["node"]: n for n in json.loads(result.stdout)["nodes"]}


def test_edges_come_from_sql_names_tables_and_depends_on(shop: Path) -> None:
    graph = Project.load(shop).graph
    deps = {k: sorted(n.data_deps | n.order_deps) for k, n in graph.nodes.items()}
    assert deps == {
        "bronze.raw_orders": [],
        "bronze.raw_customers": [],
        "silver.orders": ["bronze.raw_orders"],  # same table
        "silver.customers": ["bronze.raw_customers"],  # bare name, another pipeline
        "gold.metrics": ["silver.customers", "silver.orders"],
        "gold.enriched": ["gold.metrics"],
        "gold.report": ["gold.enriched"],
    }
    assert graph.nodes["silver.orders"].order_deps == {"bronze.raw_orders"}
    assert graph.nodes["silver.orders"].data_deps == set()


def test_plan_orders_the_whole_dag(shop: Path, cli: Callable[..., Any]) -> None:
    order = list(plan_nodes(cli, shop))
    assert len(order) == 7
    for up, down in [
        ("bronze.raw_orders", "silver.orders"),
        ("bronze.raw_customers", "silver.customers"),
        ("silver.orders", "gold.metrics"),
        ("gold.metrics", "gold.enriched"),
        ("gold.enriched", "gold.report"),
    ]:
        assert order.index(up) < order.index(down)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (("--pipeline", "silver"), ["silver.orders", "silver.customers"]),
        (
            ("--pipeline", "bronze", "--pipeline", "silver"),
            ["bronze.raw_orders", "bronze.raw_customers", "silver.orders", "silver.customers"],
        ),
        (("--node", "orders+"), ["silver.orders", "gold.metrics", "gold.enriched", "gold.report"]),
        (
            ("--node", "+metrics"),
            [
                "bronze.raw_orders",
                "bronze.raw_customers",
                "silver.orders",
                "silver.customers",
                "gold.metrics",
            ],
        ),
        (("--node", "silver.customers"), ["silver.customers"]),
        (("--tag", "daily"), ["bronze.raw_orders", "silver.customers"]),
        (("--tag", "daily", "--pipeline", "silver"), ["silver.customers"]),
        (("--node", "raw_orders", "--tag", "daily"), ["bronze.raw_orders", "silver.customers"]),
    ],
)
def test_selection(
    shop: Path, cli: Callable[..., Any], selection: tuple[str, ...], expected: list[str]
) -> None:
    nodes = plan_nodes(cli, shop, *selection)
    assert sorted(nodes) == sorted(expected)
    assert all(n["reason"] == "selected" for n in nodes.values())


def test_an_unselected_written_upstream_is_read_from_its_table(
    shop: Path, cli: Callable[..., Any]
) -> None:
    nodes = plan_nodes(cli, shop, "--node", "gold.metrics")
    assert list(nodes) == ["gold.metrics"]
    tables = nodes["gold.metrics"]["reads_tables_of"]
    assert {k: v["location"] for k, v in tables.items()} == {
        "silver.customers": "lake:silver/customers",
        "silver.orders": "lake:silver/orders",
    }


def test_an_unselected_unwritten_upstream_runs_too_and_says_why(
    shop: Path, cli: Callable[..., Any]
) -> None:
    nodes = plan_nodes(cli, shop, "--node", "report")
    assert list(nodes) == ["gold.enriched", "gold.report"]
    assert nodes["gold.enriched"]["reason"] == ("needed by gold.report (its output is not written)")
    assert nodes["gold.enriched"]["reads_tables_of"]["gold.metrics"]["location"] == (
        "lake:gold/metrics"
    )


@pytest.mark.parametrize(
    ("selection", "message", "hint"),
    [
        (("--node", "metrix"), "unknown node 'metrix'", "did you mean 'metrics'?"),
        (("--pipeline", "slver"), "unknown pipeline 'slver'", "did you mean 'silver'?"),
        (("--tag", "weekly"), "the selection matches no node", None),
    ],
)
def test_bad_selections_are_usage_errors(
    shop: Path, cli: Callable[..., Any], selection: tuple[str, ...], message: str, hint: str | None
) -> None:
    result = cli("plan", shop, *selection)
    assert result.exit_code == 2
    assert message in result.stderr
    if hint:
        assert f"hint: {hint}" in result.stderr


# -------------------------------------------------------------------- name resolution

NAMES = """
project: names
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: a
    nodes:
      - name: orders
        read: {connection: raw, path: a.csv}
      - name: summary
        transform: [{sql: "SELECT COUNT(*) AS n FROM orders"}]
  - pipeline: b
    nodes:
      - name: orders
        read: {connection: raw, path: b.csv}
      - name: total
        transform: [{sql: "SELECT COUNT(*) AS n FROM orders"}]
      - name: cross
        transform: [{sql: "SELECT * FROM summary"}]
      - name: qualified
        transform: [{sql: "SELECT * FROM a.orders JOIN b.orders USING (id)"}]
      - name: aliased
        inputs: {o: a.orders}
        transform: [{sql: "SELECT * FROM o"}]
      - name: ordered
        depends_on: [summary]
        read: {connection: raw, path: c.csv}
"""


def test_bare_names_resolve_in_their_own_pipeline_first(project: Callable[..., Path]) -> None:
    graph = Project.load(project(NAMES) / "lakestory.yaml").graph
    assert graph.nodes["a.summary"].data_deps == {"a.orders"}
    assert graph.nodes["b.total"].data_deps == {"b.orders"}
    assert graph.nodes["b.cross"].data_deps == {"a.summary"}  # unique across pipelines
    assert graph.nodes["b.qualified"].data_deps == {"a.orders", "b.orders"}
    assert graph.nodes["b.aliased"].data_deps == {"a.orders"}
    assert graph.nodes["b.ordered"].order_deps == {"a.summary"}
    assert graph.nodes["b.ordered"].data_deps == set()


def test_an_ambiguous_bare_name_lists_the_options(project: Callable[..., Path]) -> None:
    text = (
        NAMES
        + """  - pipeline: c
    nodes:
      - name: both
        transform:
          steps:
            - sql: |
                SELECT *
                FROM orders
"""
    )
    with pytest.raises(GraphError) as err:
        _ = Project.load(project(text) / "lakestory.yaml").graph
    assert err.value.what == "table or node 'orders' is ambiguous: a.orders, b.orders"
    assert err.value.hint == "qualify it with its pipeline: a.orders or b.orders"
    assert (err.value.where.pipeline, err.value.where.node) == ("c", "both")
    assert err.value.where.step == "transform.steps[0] (sql), SQL line 2"
    lines = text.lstrip("\n").splitlines()  # as the project fixture writes it
    assert err.value.where.line == lines.index("                FROM orders") + 1


def test_an_ambiguous_node_selection_lists_the_options(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    result = cli("plan", project(NAMES) / "lakestory.yaml", "--node", "orders")
    assert result.exit_code == 2
    assert "node 'orders' is ambiguous: a.orders, b.orders" in result.stderr
    assert "select it as pipeline.node" in result.stderr


def test_unknown_references_are_all_reported(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    text = NAMES.replace("FROM summary", "FROM sumary").replace(
        "depends_on: [summary]", "depends_on: [sumary]"
    )
    result = cli("validate", project(text) / "lakestory.yaml")
    assert result.exit_code == 2
    assert "2 problems in the configuration" in result.stderr
    assert "unknown table or node 'sumary'" in result.stderr
    assert "unknown node 'sumary'" in result.stderr
    assert result.stderr.count("did you mean 'summary'?") == 2


# --------------------------------------------------------------------- table identity

SAME_TABLE = """
project: tables
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
  lake_again: {type: local, base_path: ./lake/../lake}
pipelines:
  - pipeline: readers
    nodes:
      - name: reader
        read: {connection: lake_again, path: shared/, format: delta}
        write: {connection: lake, path: copy}
  - pipeline: writers
    nodes:
      - name: writer
        read: {connection: raw, path: a.csv}
        write: {connection: lake, path: shared}
"""


def test_reading_the_path_another_node_writes_depends_on_it(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    nodes = plan_nodes(cli, project(SAME_TABLE) / "lakestory.yaml")
    assert list(nodes) == ["writers.writer", "readers.reader"]
    assert nodes["readers.reader"]["depends_on"] == ["writers.writer"]


def test_a_node_reading_its_own_target_does_not_depend_on_itself(
    project: Callable[..., Path],
) -> None:
    text = SAME_TABLE.replace(
        "write: {connection: lake, path: copy}",
        "write: {connection: lake, path: shared, mode: append}",
    ).replace(
        "write: {connection: lake, path: shared}",
        "write: {connection: lake, path: shared, mode: append}",
    )
    graph = Project.load(project(text) / "lakestory.yaml").graph
    assert "readers.reader" not in graph.nodes["readers.reader"].order_deps


def test_two_nodes_overwriting_one_table_is_an_error(project: Callable[..., Path]) -> None:
    text = SAME_TABLE.replace(
        "write: {connection: lake, path: copy}", "write: {connection: lake_again, path: shared}"
    )
    with pytest.raises(GraphError, match="one would replace the other's rows") as err:
        _ = Project.load(project(text) / "lakestory.yaml").graph
    message = str(err.value)
    assert "with mode overwrite" in message
    assert "readers.reader" in message and "writers.writer" in message


def test_nodes_appending_to_one_table_commit_one_after_another(
    project: Callable[..., Path],
) -> None:
    text = (
        SAME_TABLE.replace(
            "read: {connection: lake_again, path: shared/, format: delta}",
            "read: {connection: raw, path: b.csv}",
        )
        .replace("path: copy}", "path: shared, mode: append}")
        .replace("path: shared}", "path: shared, mode: append}")
    )
    graph = Project.load(project(text) / "lakestory.yaml").graph
    assert graph.nodes["writers.writer"].order_deps == {"readers.reader"}


def test_a_cycle_through_sql_and_tables_is_reported(project: Callable[..., Path]) -> None:
    text = SAME_TABLE.replace(
        "read: {connection: raw, path: a.csv}", 'transform: [{sql: "SELECT * FROM reader"}]'
    )
    with pytest.raises(GraphError, match=r"the nodes form a cycle: .*reader.*writer") as err:
        _ = Project.load(project(text) / "lakestory.yaml").graph
    # each edge of the cycle says where it comes from
    assert sorted((err.value.detail or "").splitlines()) == [
        "readers.reader reads the table writers.writer writes",
        "writers.writer reads readers.reader in its SQL",
    ]


def test_a_node_with_nothing_to_do(project: Callable[..., Path]) -> None:
    text = SAME_TABLE.replace("        read: {connection: raw, path: a.csv}\n", "")
    with pytest.raises(ConfigError, match="the node has nothing to do"):
        _ = Project.load(project(text) / "lakestory.yaml").graph


def test_unknown_node_in_api_selection(project: Callable[..., Path]) -> None:
    with pytest.raises(UsageError, match="unknown node 'nope'"):
        Project.load(project(SAME_TABLE) / "lakestory.yaml").plan(nodes=["nope"])


# ------------------------------------------------------------- data before the steps

NO_DATA = """
project: nodata
connections:
  raw: {type: local, base_path: data}
pipelines:
  - pipeline: p
    nodes:
      - name: a
        read: {connection: raw, path: a.csv}
      - name: sql_on_nothing
        transform: [{sql: "SELECT 1 AS x FROM df"}]
      - name: function_on_nothing
        transform: [{function: steps.f}]
      - name: sql_first_is_fine
        transform:
          - sql: SELECT * FROM a
          - function: steps.f
          - sql: SELECT * FROM df
"""


def test_steps_without_data_are_config_errors(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(NO_DATA, {"steps.py": "def f(df):\n    return df\n"})
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code == 2
    assert "2 problems in the configuration" in result.stderr
    assert (
        "lakestory.yaml:10:47, node p.sql_on_nothing, transform[0] (sql), SQL line 1, "
        "key pipelines[0].nodes[1].transform[0]: the SQL reads `df`, but this node has no "
        "data yet"
    ) in result.stderr
    assert (
        "node p.function_on_nothing, transform[0] (function), key "
        "pipelines[0].nodes[2].transform[0]: a function step needs data, but this node "
        "has none before it"
    ) in result.stderr
    assert "sql_first_is_fine" not in result.stderr


def test_sql_positions_point_into_a_sql_file(
    project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = project(
        NO_DATA.split("      - name: sql_on_nothing")[0]
        + """\
      - name: b
        transform: [{sql_file: sql/b.sql}]
""",
        {"sql/b.sql": "SELECT *\nFROM aa\n"},
    )
    result = cli("validate", root / "lakestory.yaml")
    assert result.exit_code == 2
    assert f"{root / 'sql' / 'b.sql'}:2:6, node p.b" in result.stderr
    assert "unknown table or node 'aa'" in result.stderr
    assert "did you mean 'a'?" in result.stderr


@pytest.mark.parametrize(
    ("read_path", "depends"),
    [
        ("out/sales", True),
        ("out/sales/", True),
        ("out/sales/year=2024/part-0.parquet", True),
        ("out/sales/*.parquet", True),
        ("out/sales/**/*.parquet", True),
        ("out/sales_archive", False),
        ("out/*.parquet", False),  # a glob in a parent folder: not this table
    ],
)
def test_reading_files_inside_a_written_table_depends_on_its_writer(
    project: Callable[..., Path], read_path: str, depends: bool
) -> None:
    text = f"""
project: inside
connections:
  raw: {{type: local, base_path: data}}
pipelines:
  - pipeline: p
    nodes:
      - name: reader
        read: {{connection: raw, path: "{read_path}", format: parquet}}
      - name: writer
        read: {{connection: raw, path: a.csv}}
        write: {{connection: raw, path: out/sales, format: parquet}}
"""
    graph = Project.load(project(text) / "lakestory.yaml").graph
    assert graph.nodes["p.reader"].order_deps == ({"p.writer"} if depends else set())


def test_an_unknown_depends_on_is_reported_once(project: Callable[..., Path]) -> None:
    text = SAME_TABLE.replace(
        "        read: {connection: raw, path: a.csv}\n",
        '        depends_on: [redaer]\n        transform: [{sql: "SELECT * FROM df"}]\n',
    )
    with pytest.raises(GraphError) as err:
        _ = Project.load(project(text) / "lakestory.yaml").graph
    assert not isinstance(err.value, ConfigErrors)  # one problem, one message
    assert err.value.what == "unknown node 'redaer'"
    assert err.value.hint == "did you mean 'reader'?"
    assert err.value.where.key == "pipelines[1].nodes[0].depends_on[0]"
