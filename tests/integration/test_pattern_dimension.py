"""The dimension pattern over several loads, against tables computed by hand.

Each test writes the input CSV between runs (a new delivery) and checks the whole Delta
table after every run: SCD 0, 1 and 2 (a new member, a changed member, an unchanged one, a
re-run that commits nothing), stable surrogate keys, the unknown member and the audit
columns. The core SCD1 and SCD2 two-load case runs on every engine with equal results.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.runtime.records import RunResult

PROJECT = """\
project: dims
engine: {engine}
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim_customer
        read: {{connection: raw, path: customers.csv}}
        pattern:
          type: dimension
          params: {params}
        write: {{connection: lake, path: dim_customer}}
"""

LOAD1 = """
id,name,city
3,Cy,Paris
1,Ann,Oslo
2,Bob,Rome
"""
# 1 unchanged, 2 moved (city), 3 missing (not a delete), 4 new
LOAD2 = """
id,name,city
4,Dee,Lima
2,Bob,Milan
1,Ann,Oslo
"""
# 1 renamed (untracked in the scd2 tests), 4 moved again
LOAD3 = """
id,name,city
1,Annie,Oslo
4,Dee,Quito
"""

ENGINES = ["duckdb", "pandas", "polars", "spark"]


def setup(tmp_path: Path, params: dict[str, Any], engine: str = "duckdb") -> Path:
    root = tmp_path / engine
    (root / "data").mkdir(parents=True, exist_ok=True)
    text = PROJECT.format(engine=engine, params=json.dumps(params))
    (root / "lakestory.yaml").write_text(text)
    return root


def deliver(root: Path, csv: str) -> None:
    (root / "data" / "customers.csv").write_text(csv.strip() + "\n")


def run(root: Path, csv: str | None = None, **options: Any) -> RunResult:
    if csv is not None:
        deliver(root, csv)
    result = Project.load(root / "lakestory.yaml").run(**options)
    if not result.ok:
        raise AssertionError(result.nodes[0].error["text"])  # type: ignore[index]
    return result


def fail(root: Path, csv: str) -> dict[str, Any]:
    deliver(root, csv)
    result = Project.load(root / "lakestory.yaml").run()
    assert not result.ok
    error = result.nodes[0].error
    assert error is not None
    return error


def table(root: Path) -> list[dict[str, Any]]:
    rows = DeltaTable(str(root / "lake" / "dim_customer")).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: r["customer_sk"])


def version(root: Path) -> int:
    return DeltaTable(str(root / "lake" / "dim_customer")).version()


def started(result: RunResult) -> dt.datetime:
    """The run's start as the table holds it: UTC wall time, no time zone."""
    return result.started_at.astimezone(dt.UTC).replace(tzinfo=None)


def members(rows: list[dict[str, Any]], *cols: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in ("customer_sk", "id", *cols)) for r in rows]


SCD1 = {"natural_key": "id", "surrogate_key": "customer_sk", "scd_type": 1}
SCD2 = {**SCD1, "scd_type": 2, "track_columns": ["city"]}


# -- SCD 1 ----------------------------------------------------------------------------------


def test_scd1_keeps_keys_overwrites_changes_and_a_rerun_writes_nothing(tmp_path: Path) -> None:
    root = setup(tmp_path, {**SCD1, "unknown_member": True, "audit": {"source_system": "crm"}})
    first = run(root, LOAD1)
    rows = table(root)
    # keys follow the natural key, whatever the file's order; the unknown member is key 0
    assert members(rows, "name", "city") == [
        (0, -1, "Unknown", "Unknown"),
        (1, 1, "Ann", "Oslo"),
        (2, 2, "Bob", "Rome"),
        (3, 3, "Cy", "Paris"),
    ]
    assert list(rows[0]) == ["customer_sk", "id", "name", "city", "load_timestamp", "source_system"]
    assert {r["load_timestamp"] for r in rows} == {started(first)}
    assert {r["source_system"] for r in rows} == {"crm"}
    assert first.nodes[0].note and "3 new member(s)" in first.nodes[0].note

    second = run(root, LOAD2)
    rows = table(root)
    assert members(rows, "name", "city") == [
        (0, -1, "Unknown", "Unknown"),
        (1, 1, "Ann", "Oslo"),
        (2, 2, "Bob", "Milan"),  # overwritten, same key
        (3, 3, "Cy", "Paris"),  # missing from the delivery: kept
        (4, 4, "Dee", "Lima"),  # new: after the largest key
    ]
    # only the written members carry the new load time
    stamps = {r["id"]: r["load_timestamp"] for r in rows}
    assert stamps == {
        -1: started(first),
        1: started(first),
        2: started(second),
        3: started(first),
        4: started(second),
    }
    assert (second.nodes[0].rows_written, second.nodes[0].rows_updated) == (1, 1)

    before = version(root)
    again = run(root, LOAD2)  # the same delivery: nothing to write
    assert version(root) == before and again.nodes[0].rows_written == 0
    assert table(root) == rows

    third = run(root, LOAD3)
    assert members(table(root), "name", "city", "load_timestamp") == [
        (0, -1, "Unknown", "Unknown", started(first)),
        (1, 1, "Annie", "Oslo", started(third)),
        (2, 2, "Bob", "Milan", started(second)),
        (3, 3, "Cy", "Paris", started(first)),
        (4, 4, "Dee", "Quito", started(third)),
    ]
    assert version(root) == before + 1


def test_scd1_track_columns_limit_what_counts_as_a_change(tmp_path: Path) -> None:
    root = setup(tmp_path, {**SCD1, "track_columns": ["city"], "audit": {"load_timestamp": False}})
    run(root, LOAD1)
    run(root, LOAD2)
    before = version(root)
    run(root, "id,name,city\n1,Annie,Oslo\n")  # only an untracked column differs
    assert version(root) == before
    run(root, "id,name,city\n1,Annie,Bergen\n")  # a tracked change writes the whole member
    assert members(table(root), "name", "city")[0] == (1, 1, "Annie", "Bergen")
    assert list(table(root)[0]) == ["customer_sk", "id", "name", "city"]


# -- SCD 0 ----------------------------------------------------------------------------------


def test_scd0_inserts_new_members_and_never_changes_existing_ones(tmp_path: Path) -> None:
    root = setup(tmp_path, {**SCD1, "scd_type": 0, "unknown_member": True})
    first = run(root, LOAD1)
    second = run(root, LOAD2)
    rows = table(root)
    assert members(rows, "city") == [
        (0, -1, "Unknown"),
        (1, 1, "Oslo"),
        (2, 2, "Rome"),  # the move to Milan is ignored
        (3, 3, "Paris"),
        (4, 4, "Lima"),
    ]
    assert [r["load_timestamp"] for r in rows] == [started(first)] * 4 + [started(second)]
    before = version(root)
    run(root, LOAD3)  # 1 and 4 exist: nothing new
    run(root, LOAD3)
    assert version(root) == before and table(root) == rows


# -- SCD 2 ----------------------------------------------------------------------------------


def test_scd2_opens_a_version_per_change_over_three_loads(tmp_path: Path) -> None:
    root = setup(tmp_path, {**SCD2, "unknown_member": True})
    first = run(root, LOAD1)
    t1 = started(first)
    rows = table(root)
    cols = ("name", "city", "valid_from", "valid_to", "is_current")
    unknown = (0, -1, "Unknown", "Unknown", dt.datetime(1900, 1, 1), None, True)
    assert members(rows, *cols) == [
        unknown,
        (1, 1, "Ann", "Oslo", t1, None, True),
        (2, 2, "Bob", "Rome", t1, None, True),
        (3, 3, "Cy", "Paris", t1, None, True),
    ]
    assert [r["load_timestamp"] for r in rows[1:]] == [t1] * 3

    second = run(root, LOAD2)
    t2 = started(second)
    assert members(table(root), *cols) == [
        unknown,
        (1, 1, "Ann", "Oslo", t1, None, True),
        (2, 2, "Bob", "Rome", t1, t2, False),  # closed
        (3, 3, "Cy", "Paris", t1, None, True),
        (4, 2, "Bob", "Milan", t2, None, True),  # new version, new key
        (5, 4, "Dee", "Lima", t2, None, True),  # new member
    ]
    assert second.nodes[0].note and "1 new member(s), 1 changed" in second.nodes[0].note

    before = version(root)
    run(root, LOAD2)
    assert version(root) == before

    third = run(root, LOAD3)
    t3 = started(third)
    assert members(table(root), *cols)[4:] == [
        (4, 2, "Bob", "Milan", t2, None, True),
        (5, 4, "Dee", "Lima", t2, t3, False),
        (6, 4, "Dee", "Quito", t3, None, True),
    ]
    # Ann's new name is not tracked: no version, her current row is unchanged
    assert members(table(root), *cols)[1] == (1, 1, "Ann", "Oslo", t1, None, True)
    assert version(root) == before + 1  # closing and opening: one commit


def test_scd2_takes_valid_from_from_the_effective_column(tmp_path: Path) -> None:
    params = {**SCD2, "effective_from": "changed", "unknown_member": True}
    params["audit"] = {"load_timestamp": False}
    root = setup(tmp_path, params)
    run(root, "id,name,city,changed\n1,Ann,Oslo,2024-01-01\n2,Bob,Rome,2024-01-01\n")
    run(root, "id,name,city,changed\n1,Ann,Bergen,2024-03-01\n2,Bob,Milan,2023-06-01\n")
    d = dt.date
    assert members(table(root), "city", "valid_from", "valid_to", "is_current") == [
        (0, -1, "Unknown", d(1900, 1, 1), None, True),
        (1, 1, "Oslo", d(2024, 1, 1), d(2024, 3, 1), False),
        (2, 2, "Rome", d(2024, 1, 1), None, True),  # an older change never rewrites history
        (3, 1, "Bergen", d(2024, 3, 1), None, True),
    ]


def test_scd2_full_refresh_keeps_history_and_keys(tmp_path: Path) -> None:
    root = setup(tmp_path, SCD2)
    run(root, LOAD1)
    run(root, LOAD2)
    rows = table(root)
    run(root, LOAD2, full_refresh=True)
    assert table(root) == rows


# -- on every engine --------------------------------------------------------------------------


def _comparable(rows: list[dict[str, Any]], t: dict[dt.datetime, str]) -> list[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return t.get(v.replace(tzinfo=None), str(v))
        return v

    return [tuple(norm(v) for v in r.values()) for r in rows]


@pytest.mark.parametrize("engine", ENGINES)
def test_scd1_and_scd2_two_loads_are_equal_on_every_engine(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark_session")
    got = {}
    for name, params in (("scd1", SCD1), ("scd2", SCD2)):
        root = setup(tmp_path / name, {**params, "unknown_member": True}, engine)
        first, second = run(root, LOAD1), run(root, LOAD2)
        stamps = {started(first): "t1", started(second): "t2", dt.datetime(1900, 1, 1): "t0"}
        got[name] = _comparable(table(root), stamps)
        fields = DeltaTable(str(root / "lake/dim_customer")).schema().fields
        types = {f.name: str(f.type.type) for f in fields}
        assert (types["customer_sk"], types["load_timestamp"]) == ("long", "timestamp_ntz")
    assert got["scd1"] == [
        (0, -1, "Unknown", "Unknown", "t1"),
        (1, 1, "Ann", "Oslo", "t1"),
        (2, 2, "Bob", "Milan", "t2"),
        (3, 3, "Cy", "Paris", "t1"),
        (4, 4, "Dee", "Lima", "t2"),
    ]
    assert got["scd2"] == [
        (0, -1, "Unknown", "Unknown", "t0", "t0", None, True),
        (1, 1, "Ann", "Oslo", "t1", "t1", None, True),
        (2, 2, "Bob", "Rome", "t1", "t1", "t2", False),
        (3, 3, "Cy", "Paris", "t1", "t1", None, True),
        (4, 2, "Bob", "Milan", "t2", "t2", None, True),
        (5, 4, "Dee", "Lima", "t2", "t2", None, True),
    ]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "csv", "message", "hint"),
    [
        (
            {"natural_key": "idd"},
            LOAD1,
            "natural_key names column 'idd', which is not in the data",
            "did you mean 'id'?",
        ),
        (
            {"track_columns": ["citi"]},
            LOAD1,
            "track_columns names column 'citi'",
            "did you mean 'city'?",
        ),
        ({"surrogate_key": "name"}, LOAD1, "already has a column 'name'", "surrogate_key"),
        ({}, "id,name,city\n1,Ann,Oslo\n,Bob,Rome\n", "1 row(s) have a null natural key", ""),
        (
            {"unknown_member": True},
            "id,name,city\n1,Ann,Oslo\n-1,Bob,Rome\n",
            "1 row(s) have the unknown member's natural key (id=-1)",
            "map these rows to another key",
        ),
        (
            {},
            "id,name,city\n1,Ann,Oslo\n1,Bob,Rome\n",
            "several rows for one member",
            "deduplicate",
        ),
    ],
)
def test_data_errors_name_the_column_at_the_pattern(
    tmp_path: Path, params: dict[str, Any], csv: str, message: str, hint: str
) -> None:
    root = setup(tmp_path, {**SCD1, **params})
    error = fail(root, csv)
    assert message in error["text"]
    assert hint in (error.get("hint") or "")
    assert (error["key"], error["line"]) == ("pipelines[0].nodes[0].pattern", 11)
