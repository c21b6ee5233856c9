"""Review of the modeling patterns: each test reproduces a bug found in review (it failed
before its fix) or pins an edge case the patterns' own tests do not cover.

Projects are written from small YAML node lists; each test runs on duckdb unless the point
is a difference between engines.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.core.errors import ConfigError
from lakestory.runtime.records import RunResult

HEAD = """\
project: review
engine: {engine}
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
pipelines:
  - pipeline: gold
    nodes:
"""


def project(tmp_path: Path, nodes: str, files: dict[str, str], engine: str = "duckdb") -> Path:
    root = tmp_path / engine
    (root / "data").mkdir(parents=True, exist_ok=True)
    deliver(root, files)
    (root / "lakestory.yaml").write_text(HEAD.format(engine=engine) + nodes)
    return root


def deliver(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / "data" / name).write_text(text.strip() + "\n")


def run(root: Path, **options: Any) -> RunResult:
    result = Project.load(root / "lakestory.yaml").run(**options)
    errors = [n.error["text"] for n in result.nodes if n.error]
    assert result.ok, "\n".join(errors)
    return result


def table(root: Path, name: str, order: str) -> list[dict[str, Any]]:
    rows = DeltaTable(str(root / "lake" / name)).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: (r[order] is None, r[order]))


# -- sensitive columns through a pattern ------------------------------------------------------


def test_sensitive_columns_stay_masked_through_aggregate_and_fact_measures(
    tmp_path: Path,
) -> None:
    """Was: a measure computed from a sensitive column (`sum(salary)`, `salary * 12`) was
    shown in clear in the story sample; a SQL step doing the same was masked."""
    nodes = """\
      - name: agg
        read: {connection: raw, path: pay.csv}
        sensitive: [salary]
        pattern:
          type: aggregation
          params:
            grain: [dept]
            measures: [{name: total, expr: sum(salary)}, {name: n, expr: count(*)}]
        write: {connection: lake, path: agg}
      - name: fact
        read: {connection: raw, path: pay.csv}
        sensitive: [salary]
        pattern:
          type: fact
          params:
            {grain: [id], measures: [salary, {yearly: "salary * 12"}], keep_source_columns: true}
        write: {connection: lake, path: fact}
"""
    root = project(tmp_path, nodes, {"pay.csv": "id,dept,salary\n1,a,100\n2,a,200\n3,b,50"})
    result = run(root)
    by = {n.key: n for n in result.nodes}
    agg, fact = by["gold.agg"], by["gold.fact"]
    assert agg.sensitive_columns == ["total"]
    assert isinstance(agg.sample, list)
    assert {r["total"] for r in agg.sample} == {"***"}
    assert sorted(r["n"] for r in agg.sample) == [1, 2]  # a count of rows reveals nothing
    assert sorted(fact.sensitive_columns) == ["salary", "yearly"]
    assert isinstance(fact.sample, list)
    assert {r["yearly"] for r in fact.sample} == {"***"}
    assert {r["dept"] for r in fact.sample} == {"a", "b"}  # kept, not sensitive
    # the tables themselves are not masked
    assert [r["total"] for r in table(root, "agg", "dept")] == [300, 50]


# -- params ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "key"),
    [
        # was: silently an incremental *recompute* (the default), not the sum asked for
        (
            "{grain: [dept], measures: [{name: t, expr: 'sum(salary)'}], "
            "incremental: {merge_stratgy: sum}}",
            "merge_stratgy",
        ),
        # was: silently ignored
        (
            "{grain: [dept], measures: [{name: t, expr: 'sum(salary)', filter: 'salary > 0'}]}",
            "filter",
        ),
    ],
)
def test_a_misspelt_nested_aggregation_param_is_a_config_error(
    tmp_path: Path, params: str, key: str
) -> None:
    nodes = f"""\
      - name: agg
        read: {{connection: raw, path: pay.csv}}
        pattern: {{type: aggregation, params: {params}}}
        write: {{connection: lake, path: agg}}
"""
    root = project(tmp_path, nodes, {"pay.csv": "id,dept,salary\n1,a,100"})
    with pytest.raises(ConfigError) as raised:
        Project.load(root / "lakestory.yaml").plan()
    text = str(raised.value)
    assert "unknown param" in text and key in text, text
    assert "lakestory.yaml" in text and "pattern" in text, text


def test_scd2_unknown_member_without_an_effective_column_is_refused(tmp_path: Path) -> None:
    """Was: with `audit: {load_timestamp: false}` and no `effective_from`, the unknown
    member of an SCD2 dimension was opened at the run's start, not 1900-01-01 as the
    dimension contract (and docs/patterns/dimension.md) say."""
    nodes = """\
      - name: dim
        read: {connection: raw, path: c.csv}
        pattern:
          type: dimension
          params:
            natural_key: id
            surrogate_key: sk
            scd_type: 2
            unknown_member: true
            audit: {load_timestamp: false}
        write: {connection: lake, path: dim}
"""
    root = project(tmp_path, nodes, {"c.csv": "id,city\n1,Oslo"})
    with pytest.raises(ConfigError) as raised:
        Project.load(root / "lakestory.yaml").plan()
    text = str(raised.value)
    assert "effective_from" in text and "load_timestamp" in text, text
    assert "lakestory.yaml" in text and "pattern" in text, text
    # with the default audit the unknown member starts in 1900
    (root / "lakestory.yaml").write_text(
        (root / "lakestory.yaml").read_text().replace("audit: {load_timestamp: false}", "")
    )
    run(root)
    unknown = table(root, "dim", "sk")[0]
    assert unknown["sk"] == 0 and unknown["valid_from"] == dt.datetime(1900, 1, 1)


# -- aggregation ----------------------------------------------------------------------------

AGG = """\
      - name: agg
        read: {connection: raw, path: s.csv, incremental: {mode: column, column: id}}
        pattern:
          type: aggregation
          params: {grain: [cat], measures: MEASURES, incremental: {merge_strategy: STRATEGY}}
        write: {connection: lake, path: agg, schema: {on_new_columns: evolve}}
"""


@pytest.mark.parametrize("strategy", ["recompute", "sum"])
def test_a_measure_added_to_an_incremental_aggregate_asks_for_a_full_refresh(
    tmp_path: Path, strategy: str
) -> None:
    """Was: recompute (with the table's schema evolving) filled the new measure for the
    refreshed keys only, leaving NULL in the others (not a full recompute); sum failed
    with an SQL error about `t.tot`."""
    one, two = (
        "[{name: n, expr: count(*)}]",
        "[{name: n, expr: count(*)}, {name: tot, expr: sum(amt)}]",
    )
    nodes = AGG.replace("STRATEGY", strategy)
    root = project(tmp_path, nodes.replace("MEASURES", one), {"s.csv": "id,cat,amt\n1,a,10\n2,b,5"})
    run(root)
    (root / "lakestory.yaml").write_text(
        HEAD.format(engine="duckdb") + nodes.replace("MEASURES", two)
    )
    deliver(root, {"s.csv": "id,cat,amt\n1,a,10\n2,b,5\n3,a,1"})
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    error = result.nodes[0].error
    assert error is not None
    assert "has no column tot" in error["text"] and "--full-refresh" in error["text"], error
    assert "pattern" in error["text"] and "lakestory.yaml" in error["text"], error
    assert table(root, "agg", "cat") == [{"cat": "a", "n": 1}, {"cat": "b", "n": 1}]
    run(root, full_refresh=True)
    assert table(root, "agg", "cat") == [
        {"cat": "a", "n": 2, "tot": 11},
        {"cat": "b", "n": 1, "tot": 5},
    ]


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_incremental_recompute_leaves_out_the_rows_contracts_drop(
    tmp_path: Path, engine: str
) -> None:
    """Was: the recompute re-read the whole source without the node's contracts, so a row
    a `drop` contract had taken out of its batch came back into its key's measures (the
    incremental table differed from a full aggregate of the same node)."""
    node = """\
      - name: NAME
        read: {connection: raw, path: s.csv READ}
        contracts:
          - {type: custom_sql, condition: "amt >= 0", on_fail: drop}
        pattern:
          type: aggregation
          params:
            grain: [cat]
            measures: [{name: tot, expr: sum(amt)}, {name: n, expr: count(*)}]
            INCREMENTAL
        write: {connection: lake, path: NAME}
"""
    inc = node.replace("NAME", "inc").replace(" READ", ", incremental: {mode: column, column: id}")
    inc = inc.replace("INCREMENTAL", "incremental: true")
    full = node.replace("NAME", "full").replace(" READ", "").replace("INCREMENTAL", "")
    root = project(tmp_path, inc + full, {"s.csv": "id,cat,amt\n1,a,10\n2,a,-100\n3,b,5"}, engine)
    run(root)
    deliver(root, {"s.csv": "id,cat,amt\n1,a,10\n2,a,-100\n3,b,5\n4,a,1"})
    result = run(root)
    expected = [{"cat": "a", "tot": 11, "n": 2}, {"cat": "b", "tot": 5, "n": 1}]
    assert table(root, "full", "cat") == expected
    assert table(root, "inc", "cat") == expected
    # the contract's result is the batch's (one new row, none dropped), recorded once
    checks = next(n for n in result.nodes if n.key == "gold.inc").checks
    assert [(c["phase"], c["rows"], c["failing"]) for c in checks] == [("contract", 1, 0)]


# -- patterns that need all of their data, downstream of an incremental node ----------------

INCREMENTAL_UPSTREAM = """\
      - name: landed
        read: {connection: raw, path: c.csv, incremental: {mode: column, column: id}}
        write: {connection: lake, path: landed, mode: append}
      - name: out
        depends_on: [landed]
        pattern: PATTERN
        write: {connection: lake, path: out}
"""


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "{type: delete_detection, params: {keys: id, max_delete_percent: null}}",
            "every row not in that batch would look deleted",
        ),
        (
            "{type: aggregation, params: {grain: [cat], measures: [{name: n, expr: count(*)}]}}",
            "the aggregate of its new rows only",
        ),
    ],
)
def test_a_pattern_that_needs_all_rows_refuses_an_incremental_upstream_s_batch(
    tmp_path: Path, pattern: str, message: str
) -> None:
    """Was: delete detection `depends_on` a node that reads incrementally flagged every row
    not in the new batch as deleted (the pattern only refused its own incremental read);
    a full aggregate replaced its table with the aggregate of the new rows."""
    nodes = INCREMENTAL_UPSTREAM.replace("PATTERN", pattern)
    root = project(tmp_path, nodes, {"c.csv": "id,cat\n1,a\n2,b\n3,a\n4,c"})
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    error = next(n.error for n in result.nodes if n.key == "gold.out")
    assert error is not None
    assert message in error["text"] and "gold.landed" in error["text"], error
    assert "pattern" in error["text"] and "lakestory.yaml" in error["text"], error
    # run alone, the node reads landed's whole table: that is a full snapshot
    run(root, nodes=["gold.out"])
    assert len(table(root, "out", "cat" if "aggregation" in pattern else "id")) in (3, 4)


# -- dimension ------------------------------------------------------------------------------


def test_an_scd2_table_run_as_scd1_is_refused_at_the_pattern(tmp_path: Path) -> None:
    """Was: switching a dimension from scd_type 2 to 1 matched each member's versions and
    failed at the write with 'several rows for one key ... dedupe: latest' (a setting the
    pattern does not let the user change)."""
    nodes = """\
      - name: dim
        read: {connection: raw, path: c.csv}
        pattern:
          type: dimension
          params: {natural_key: id, surrogate_key: sk, scd_type: SCD}
        write: {connection: lake, path: dim}
"""
    root = project(tmp_path, nodes.replace("SCD", "2"), {"c.csv": "id,city\n1,Oslo\n2,Rome"})
    run(root)
    deliver(root, {"c.csv": "id,city\n1,Bergen\n2,Rome"})
    run(root)
    (root / "lakestory.yaml").write_text(HEAD.format(engine="duckdb") + nodes.replace("SCD", "1"))
    deliver(root, {"c.csv": "id,city\n1,Molde\n2,Rome"})
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    error = result.nodes[0].error
    assert error is not None
    assert "keeps history" in error["text"] and "scd_type: 2" in error["text"], error
    assert "key pipelines[0].nodes[0].pattern" in error["text"], error
    run(root, full_refresh=True)
    assert [(r["sk"], r["id"], r["city"]) for r in table(root, "dim", "sk")] == [
        (1, 1, "Molde"),
        (2, 2, "Rome"),
    ]


def test_unknown_member_turned_on_over_a_member_with_its_natural_key(tmp_path: Path) -> None:
    """Was: a table with an ordinary member -1 (loaded before unknown_member was on) had
    that member overwritten by the unknown member (upsert by the natural key): its
    surrogate key became 0 and its attributes 'Unknown'."""
    nodes = """\
      - name: dim
        read: {connection: raw, path: c.csv}
        pattern:
          type: dimension
          params: {natural_key: id, surrogate_key: sk, unknown_member: UNKNOWN}
        write: {connection: lake, path: dim}
"""
    root = project(
        tmp_path, nodes.replace("UNKNOWN", "false"), {"c.csv": "id,city\n-1,Oslo\n2,Rome"}
    )
    run(root)
    before = table(root, "dim", "sk")
    (root / "lakestory.yaml").write_text(
        HEAD.format(engine="duckdb") + nodes.replace("UNKNOWN", "true")
    )
    deliver(root, {"c.csv": "id,city\n2,Rome\n3,Lima"})
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    error = result.nodes[0].error
    assert error is not None
    assert "unknown member's natural key (id=-1, sk=1)" in error["text"], error
    assert table(root, "dim", "sk") == before


def test_a_null_effective_from_is_refused_before_it_freezes_a_member(tmp_path: Path) -> None:
    """Was: a row with a NULL effective_from opened a version with valid_from NULL, and
    every later change of that member was silently dropped (`eff >= NULL` is never
    true): its history stopped at the first load."""
    nodes = """\
      - name: dim
        read: {connection: raw, path: c.csv, schema: {id: int, city: string, eff: date}}
        pattern:
          type: dimension
          params: {natural_key: id, surrogate_key: sk, scd_type: 2, effective_from: eff}
        write: {connection: lake, path: dim}
"""
    root = project(tmp_path, nodes, {"c.csv": "id,city,eff\n1,Oslo,\n2,Rome,2024-01-01"})
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    error = result.nodes[0].error
    assert error is not None
    assert "1 row(s) have a null effective_from (eff)" in error["text"], error
    assert "key pipelines[0].nodes[0].pattern" in error["text"], error
    assert not (root / "lake" / "dim").exists()
