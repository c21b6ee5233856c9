"""The ``dimension`` pattern's params (what they accept and refuse, the write they set) and
the Spark SQL it composes, through a context that records the queries instead of running
them. Behaviour over several loads on every engine: tests/integration/test_pattern_dimension.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlglot
from pydantic import ValidationError

from lakestory.api import Project
from lakestory.core.errors import ConfigError, DataError
from lakestory.transforms import patterns as pt
from lakestory.transforms.patterns.dimension import DimensionParams, dimension


def params(**given: Any) -> DimensionParams:
    spec = pt.load_builtins()["dimension"]
    base = {"natural_key": "id", "surrogate_key": "customer_sk"}
    return spec.validate({**base, **given})  # type: ignore[return-value]


# -- params -----------------------------------------------------------------------------------


def test_defaults_follow_the_contract() -> None:
    p = params()
    assert p.natural_key == ["id"] and p.scd_type == 1 and p.track_columns is None
    assert not p.unknown_member
    assert (p.audit.load_timestamp, p.audit.source_system) == (True, None)
    assert (p.valid_from, p.valid_to, p.is_current) == ("valid_from", "valid_to", "is_current")
    assert params(natural_key=["a", "b"], track_columns="c").track_columns == ["c"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"scd_type": 3}, "Input should be 0, 1 or 2"),
        ({"natural_key": []}, "at least 1 item"),
        ({"valid_to": "end"}, "valid_to go(es) with scd_type: 2"),
        ({"effective_from": "changed", "scd_type": 0}, "effective_from go(es) with scd_type: 2"),
        ({"surrogate_key": "id"}, "surrogate_key 'id' is also in natural_key"),
        ({"track_columns": ["city", "id"]}, "track_columns names key columns: id"),
        ({"track_columns": []}, "track_columns is empty"),
        ({"surrogate_key": "load_timestamp"}, "column names used twice: load_timestamp"),
        ({"scd_type": 2, "valid_from": "customer_sk"}, "column names used twice: customer_sk"),
        ({"natural_key": "source_system", "audit": {"source_system": "crm"}}, "used twice"),
        ({"audit": {"timestamp": True}}, "Extra inputs are not permitted"),
        ({"scd": 2}, "Extra inputs are not permitted"),
    ],
)
def test_params_refused(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        params(**given)
    assert message in str(exc.value)


def test_each_scd_type_sets_its_write() -> None:
    spec = pt.load_builtins()["dimension"]
    assert spec.write is not None
    none = {"dedupe": "none"}
    assert spec.write(params(scd_type=0)) == {"mode": "append_once", "keys": ["id"], **none}
    two = {"mode": "upsert", "keys": ["a", "b"], **none}
    assert spec.write(params(natural_key=["a", "b"])) == two
    scd2 = spec.write(params(scd_type=2, is_current="current"))
    assert scd2 == {
        "mode": "scd2",
        "keys": ["id"],
        "dedupe": "none",
        "track_columns": ["customer_sk"],  # the pattern gives a changed member a new key
        "valid_from": "valid_from",
        "valid_to": "valid_to",
        "is_current": "current",
        "deletes": "ignore",
        "effective_from": "load_timestamp",  # the run's start; the unknown member's 1900
    }
    assert spec.write(params(scd_type=2, effective_from="changed"))["effective_from"] == "changed"
    quiet = params(scd_type=2, audit={"load_timestamp": False})
    assert "effective_from" not in spec.write(quiet)


def test_the_summary_and_example_are_valid() -> None:
    spec = pt.load_builtins()["dimension"]
    assert spec.summary.startswith("A dimension with stable surrogate keys")
    assert spec.validate(spec.example)


# -- config errors, located ---------------------------------------------------------------------

YAML = """
project: dims
connections:
  local: {type: local, base_path: .}
pipelines:
  - pipeline: gold
    nodes:
      - name: dim
        read: {connection: local, path: data/c.csv}
        pattern:
          type: dimension
          params: PARAMS
        write: WRITE
"""


@pytest.mark.parametrize(
    ("given", "write", "message", "line"),
    [
        (
            "{natural_key: id, surrogate_key: sk, scd_typ: 2}",
            "{connection: local, path: out/dim}",
            "params.scd_typ: unknown param",
            11,
        ),
        (
            "{natural_key: id, surrogate_key: sk}",
            "{connection: local, path: out/dim, mode: overwrite}",
            "writes with mode: 'upsert', not 'overwrite'",
            12,
        ),
        (
            "{natural_key: id, surrogate_key: sk, scd_type: 2}",
            "{connection: local, path: out/dim, mode: scd2, keys: [id], deletes: soft}",
            "writes with deletes: 'ignore', not 'soft'",
            12,
        ),
        (
            "{natural_key: id, surrogate_key: sk}",
            "{connection: local, path: out/dim, mode: upsert, keys: id, dedupe: latest, "
            "order_by: at}",
            "writes with dedupe: 'none', not 'latest'",
            12,
        ),
        (
            "{natural_key: id, surrogate_key: sk}",
            "{connection: local, path: out/dim.parquet}",
            "needs a Delta table",
            12,
        ),
    ],
)
def test_config_errors_point_at_the_yaml(
    project: Callable[..., Path], given: str, write: str, message: str, line: int
) -> None:
    text = YAML.replace("PARAMS", given).replace("WRITE", write)
    root = project(text, {"data/c.csv": "id,city\n1,Oslo\n"})
    with pytest.raises(ConfigError) as exc:
        Project.load(root / "lakestory.yaml").graph  # noqa: B018
    assert message in str(exc.value)
    assert f"lakestory.yaml:{line}:" in str(exc.value)


# -- the SQL it composes --------------------------------------------------------------------------


@dataclass
class Frame:
    name: str


@dataclass
class Recorder:
    """A PatternContext that records queries; answers come from ``answers[what]``."""

    data: dict[str, dict[str, str]]  # frame name -> column -> kind
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    table: str | None = None  # the target frame's name, when the table exists

    node = "gold.dim"
    started = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)
    run_id = "r1"

    def sql(self, text: str, what: str) -> Frame:
        sqlglot.parse_one(text, read="spark")  # valid Spark SQL
        sqlglot.transpile(text, read="spark", write="duckdb")
        self.queries[what] = text
        return Frame(what)

    def target(self) -> Frame | None:
        return Frame(self.table) if self.table else None

    def columns(self, frame: Frame) -> list[str]:
        return list(self.data[frame.name])

    def types(self, frame: Frame) -> dict[str, str]:
        return self.data[frame.name]

    def rows(self, frame: Frame, limit: int) -> list[dict[str, Any]]:
        default = [{"n": 0, "new": 2, "changed": 1}] if frame.name in ("nullkeys", "counts") else []
        return self.answers.get(frame.name, default)[:limit]

    def note(self, text: str) -> None:
        self.notes.append(text)

    def shown(self, columns: str | list[str], value: Any) -> str:
        return str(value)

    def fail(self, what: str, *, hint: str | None = None, detail: str | None = None) -> NoReturn:
        raise DataError(what, hint=hint, detail=detail)


DATA = {"id": "int", "name": "string", "city": "string", "score": "float"}
TABLE = {"customer_sk": "int", **DATA, "load_timestamp": "timestamp_ntz"}


def apply(ctx: Recorder, **given: Any) -> str:
    p = params(**given)
    out = dimension(ctx, p, Frame("df"))
    assert out.name == "members"
    return ctx.queries["members"]


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_first_load_numbers_members_by_natural_key() -> None:
    ctx = Recorder({"df": DATA})
    members = apply(ctx)
    changes = ctx.queries["changes"]
    assert "CAST(row_number() OVER (ORDER BY s.`id`) AS BIGINT) AS `customer_sk`" in changes
    assert "CAST('2026-01-31 10:00:00' AS TIMESTAMP_NTZ) AS `load_timestamp`" in members
    assert members.startswith("SELECT `customer_sk`, `id`, `name`, `city`, `score`, ")
    assert ctx.notes == ["2 new member(s), 1 changed (overwritten)"]


def test_scd1_keeps_existing_keys_and_compares_tracked_columns_null_safe() -> None:
    ctx = Recorder({"df": DATA, "t": TABLE}, table="t")
    apply(ctx, track_columns=["city", "score"])
    changes = flat(ctx.queries["changes"])
    assert "ELSE t.`customer_sk` END AS BIGINT) AS `customer_sk`" in changes
    assert "coalesce(max(`customer_sk`), 0) AS `__max`" in changes
    assert "NOT (s.`city` <=> t.`city`) OR NOT (s.`score` <=> t.`score`)" in changes
    assert "`name`" not in changes.split("WHERE")[-1]  # untracked


def test_scd2_compares_with_current_versions_and_gives_every_change_a_new_key() -> None:
    validity = {"valid_from": "timestamp_ntz", "current": "bool"}
    ctx = Recorder({"df": DATA, "t": {**TABLE, **validity}}, table="t")
    apply(ctx, scd_type=2, is_current="current")
    changes = flat(ctx.queries["changes"])
    assert "WHERE `current` = true" in changes
    assert "CAST(m.`__max` + row_number() OVER (ORDER BY s.`id`) AS BIGINT)" in changes
    # a tracked column the table does not have yet counts as changed
    ctx = Recorder({"df": {**DATA, "tier": "string"}, "t": TABLE}, table="t")
    ctx.data["t"].update(valid_from="timestamp_ntz", is_current="bool")
    apply(ctx, scd_type=2)
    assert "NOT (s.`tier` <=> NULL)" in ctx.queries["changes"]


def test_scd0_writes_only_members_the_table_does_not_have() -> None:
    ctx = Recorder({"df": DATA, "t": TABLE}, table="t")
    apply(ctx, scd_type=0)
    assert "LEFT ANTI JOIN `t` AS t ON s.`id` = t.`id`" in ctx.queries["changes"]


def test_the_unknown_member_keeps_the_data_types_and_is_added_once() -> None:
    ctx = Recorder({"df": DATA})
    members = flat(apply(ctx, unknown_member=True, audit={"source_system": "crm"}))
    unknown = members.split(" UNION ALL ")[1]
    assert unknown.startswith(
        "SELECT CAST(0 AS BIGINT) AS `customer_sk`, coalesce(s.`id`, -1) AS `id`, "
        "coalesce(s.`name`, 'Unknown') AS `name`, coalesce(s.`city`, 'Unknown') AS `city`, "
        "s.`score`, CAST('2026-01-31 10:00:00' AS TIMESTAMP_NTZ) AS `load_timestamp`, "
        "'crm' AS `source_system`"
    )
    assert unknown.endswith("FROM (SELECT 1 AS `__one`) AS u LEFT JOIN `df` AS s ON 1 = 0")
    # the table has it already: not again
    ctx = Recorder({"df": DATA, "t": TABLE}, table="t", answers={"unknown": [{"one": 1}]})
    assert "UNION ALL" not in apply(ctx, unknown_member=True)


def test_an_scd2_unknown_member_starts_in_1900() -> None:
    ctx = Recorder({"df": DATA})
    members = apply(ctx, scd_type=2, unknown_member=True)
    assert "CAST('1900-01-01 00:00:00' AS TIMESTAMP_NTZ) AS `load_timestamp`" in members
    ctx = Recorder({"df": {**DATA, "changed": "date"}})
    members = apply(ctx, scd_type=2, unknown_member=True, effective_from="changed")
    assert "coalesce(s.`changed`, DATE '1900-01-01') AS `changed`" in members


@pytest.mark.parametrize(
    ("given", "data", "message"),
    [
        ({"natural_key": "idd"}, DATA, "natural_key names column 'idd'"),
        ({"surrogate_key": "name"}, DATA, "already has a column 'name'"),
        ({}, {**DATA, "load_timestamp": "timestamp"}, "already has a column 'load_timestamp'"),
        ({"scd_type": 2}, {**DATA, "is_current": "bool"}, "already has a column 'is_current'"),
        ({"unknown_member": True}, {**DATA, "id": "date"}, "numeric or string natural key"),
    ],
)
def test_data_it_cannot_use_is_refused(
    given: dict[str, Any], data: dict[str, str], message: str
) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        apply(Recorder({"df": data}), **given)


def test_null_and_duplicate_keys_are_refused_with_a_sample() -> None:
    ctx = Recorder({"df": DATA}, answers={"nullkeys": [{"n": 2}]})
    with pytest.raises(DataError, match=r"2 row\(s\) have a null natural key \(id\)"):
        apply(ctx)
    dup = [{"id": 7, "__n": 3}]
    with pytest.raises(DataError) as exc:
        apply(Recorder({"df": DATA}, answers={"duplicates": dup}))
    assert "several rows for one member" in str(exc.value)
    assert exc.value.detail == "id=7  (3 rows)"


def test_the_unknown_members_natural_key_is_reserved() -> None:
    ctx = Recorder({"df": DATA}, answers={"nullkeys": [{"n": 0, "reserved": 1}]})
    with pytest.raises(
        DataError, match=re.escape("1 row(s) have the unknown member's natural key (id=-1)")
    ):
        apply(ctx, unknown_member=True)
    assert "count(CASE WHEN `id` = -1 THEN 1 END) AS reserved" in ctx.queries["nullkeys"]
    ctx = Recorder({"df": {**DATA, "id": "string"}})
    apply(ctx, unknown_member=True)
    assert "`id` = '-1'" in ctx.queries["nullkeys"]


def test_a_table_written_with_other_keys_is_refused() -> None:
    ctx = Recorder({"df": DATA, "t": {"key": "int", **DATA}}, table="t")
    with pytest.raises(DataError, match="no column customer_sk"):
        apply(ctx)
