"""Data-quality checks end to end, against results computed by hand from tiny CSVs.

Every test type passing and failing; each ``on_fail`` mode with its exact row accounting;
the quarantine table; thresholds; the gate (abort, warn_and_write, write_valid_only);
contracts on the input; foreign keys to another node; freshness against a pinned clock;
volume_drop against the history the system catalog recorded; samples and redaction; the
quarantine rows taken back out when the node's own write fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakestory.api import Project
from lakestory.runtime.events import Event, GateBlocked, RowsQuarantined
from lakestory.runtime.records import NodeRecord, RunResult

Make = Callable[..., Path]

HEAD = """\
project: quality
on_error: fail_later
connections:
  raw: {type: local, base_path: data}
  lake: {type: local, base_path: lake}
pipelines:
  - pipeline: shop
    nodes:
"""


def run(root: Path, **options: Any) -> RunResult:
    return Project.load(root / "lakestory.yaml").run(**options)


def by_name(record: NodeRecord | dict[str, Any]) -> dict[str, dict[str, Any]]:
    checks = record["checks"] if isinstance(record, dict) else record.checks
    return {c["name"]: c for c in checks}


def rows_of(path: Path, order: str = "id") -> list[dict[str, Any]]:
    rows = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: (r[order] is None, r[order]))


def version(path: Path) -> int:
    return DeltaTable(str(path)).version()


def accounted(rec: NodeRecord) -> None:
    """Validation accounting: every checked row is kept, dropped or quarantined."""
    assert rec.rows_checked is not None and rec.rows_out is not None
    kept = rec.rows_out + (rec.rows_dropped or 0) + (rec.rows_quarantined or 0)
    assert kept == rec.rows_checked, rec


def failed_with(rec: NodeRecord) -> str:
    assert rec.status == "failed", rec
    assert rec.error is not None
    assert rec.error["kind"] == "quality_error", rec.error
    return str(rec.error["text"])


# -- every test type, passing on clean data and failing on dirty data ---------------------

# row_count max 5: the clean file has 5 rows (the bound is inclusive), the dirty one 8
TESTS = """\
            - {type: not_null, columns: [customer_id, email], on_fail: warn}
            - {type: unique, columns: [order_id], on_fail: warn}
            - {type: accepted_values, column: status, values: [active, inactive], on_fail: warn}
            - {type: range, column: age, min: 18, max: 120, on_fail: warn}
            - type: regex_match
              column: email
              pattern: "^[^@]+@[^@]+\\\\.[a-z]{2,}$"
              on_fail: warn
            - {type: custom_sql, condition: "amount > 0 AND quantity > 0", on_fail: warn}
            - type: foreign_key
              column: customer_id
              references: {node: customers, column: customer_id}
              on_fail: warn
            - {type: row_count, min: 1, max: 5, on_fail: warn}
            - {type: freshness, column: updated_at, max_age: 24h, on_fail: warn}
            - type: schema
              columns: {order_id: bigint, email: string, amount: double}
              on_fail: warn
            - {type: volume_drop, threshold: 0.5, lookback_runs: 3, on_fail: warn}
            - {type: distribution, column: amount, metric: mean, between: [10, 500], on_fail: warn}
"""

EVERY_TYPE = (
    HEAD
    + """\
      - name: clean
        read: {connection: raw, path: clean.csv}
        validation:
          tests:
%(tests)s
        write: {connection: lake, path: clean}
      - name: dirty
        read: {connection: raw, path: dirty.csv}
        sensitive: [email]
        validation:
          tests:
%(tests)s
        write: {connection: lake, path: dirty}
      - name: customers
        read: {connection: raw, path: customers.csv}
        write: {connection: lake, path: customers}
"""
) % {"tests": TESTS.rstrip("\n")}

HEADER = "order_id,customer_id,email,status,age,amount,quantity,updated_at\n"
CLEAN = HEADER + (
    "1,1,a@x.com,active,18,10.5,1,2025-01-30 12:00:00\n"
    "2,2,b@x.org,inactive,120,20.0,2,2025-01-29 00:00:00\n"
    "3,3,c@y.de,active,40,30.0,1,2025-01-28 00:00:00\n"
    "4,1,d@x.com,inactive,65,40.0,3,2025-01-27 00:00:00\n"
    "5,2,e@z.io,active,33,50.0,1,2025-01-26 00:00:00\n"
)
# row by row, what fails (nulls pass every test but not_null):
#  1, 2   nothing (ages 18 and 120 are the inclusive bounds)
#  3      not_null (customer_id)            4  not_null (email)
#  5      unique, accepted_values, range (17), foreign_key (customer 9)
#  5'     unique, range (121), regex_match (no top-level domain), custom_sql (quantity 0)
#  7      custom_sql (quantity is null)     8  custom_sql (amount < 0)
# mean amount (7 * 900 - 100) / 8 = 775; newest update 2025-01-29 23:00, 25h before the clock
DIRTY = HEADER + (
    "1,1,a@x.com,active,18,900,1,2025-01-29 10:00:00\n"
    "2,2,b@x.com,inactive,120,900,1,2025-01-29 11:00:00\n"
    "3,,c@x.com,active,30,900,1,2025-01-29 12:00:00\n"
    "4,1,,active,30,900,1,2025-01-29 13:00:00\n"
    "5,9,d@x.com,pending,17,900,1,2025-01-29 14:00:00\n"
    "5,2,e@x,active,121,900,0,2025-01-29 15:00:00\n"
    "7,2,f@x.com,,,900,,2025-01-29 16:00:00\n"
    "8,1,g@x.com,active,40,-100,2,2025-01-29 23:00:00\n"
)
CUSTOMERS = "customer_id,name\n1,Ann\n2,Bob\n3,Cy\n"
DIRTY_FAILING = {
    "not_null(customer_id, email)": 2,
    "unique(order_id)": 2,
    "accepted_values(status)": 1,
    "range(age)": 2,
    "regex_match(email)": 1,
    "custom_sql(amount > 0 AND quantity > 0)": 3,
    "foreign_key(customer_id)": 1,
}
TABLE_LEVEL = [
    "row_count",
    "freshness(updated_at)",
    "schema",
    "volume_drop",
    "distribution(amount, mean)",
]
CHECK_KEYS = {"name", "type", "phase", "on_fail", "status", "rows", "failing", "pass_rate"}
CHECK_KEYS |= {"threshold", "observed", "message", "samples"}


@pytest.fixture(scope="module")
def every_type(
    tmp_path_factory: pytest.TempPathFactory,
    files: Callable[[Path, dict[str, str]], Path],
    cli: Callable[..., Any],
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """One CLI run (--format json, pinned clock) of all three nodes, shared by the tests
    that read its report; (root, exit code, report)."""
    root = files(
        tmp_path_factory.mktemp("every_type"),
        {
            "lakestory.yaml": EVERY_TYPE,
            "data/clean.csv": CLEAN,
            "data/dirty.csv": DIRTY,
            "data/customers.csv": CUSTOMERS,
        },
    )
    with pytest.MonkeyPatch.context() as mp:  # the function-scoped clean-up is not yet on
        for key in [k for k in os.environ if k.startswith("LAKESTORY_")]:
            mp.delenv(key)
        mp.chdir(root)
        result = cli("run", "--format", "json", "--as-of", "2025-01-31T00:00:00Z")
    yield root, result.exit_code, json.loads(result.stdout)


def _node(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(n for n in report["nodes"] if n["key"] == key)


def test_every_test_type_passes_on_clean_data(every_type: tuple[Path, int, dict[str, Any]]) -> None:
    root, code, report = every_type
    assert code == 0, report
    clean = _node(report, "shop.clean")
    assert clean["status"] == "success"
    checks = by_name(clean)
    assert list(checks) == [*DIRTY_FAILING, *TABLE_LEVEL]  # in the order of the config
    for name, check in checks.items():
        assert set(check) == CHECK_KEYS
        assert check["status"] == "passed", check
        assert check["phase"] == "validation"
        assert check["on_fail"] == "warn"
        assert check["rows"] == 5
        assert check["samples"] == []
        if name in DIRTY_FAILING:
            assert (check["failing"], check["pass_rate"]) == (0, 1.0)
            assert check["message"] is None
        else:
            assert (check["failing"], check["pass_rate"]) == (None, None)
    assert checks["row_count"]["observed"] == 5
    assert checks["freshness(updated_at)"]["observed"] == "2025-01-30T12:00:00+00:00"
    assert checks["distribution(amount, mean)"]["observed"] == pytest.approx(30.1)
    assert checks["volume_drop"]["message"] == "no run history yet: nothing to compare with"
    assert (clean["rows_checked"], clean["rows_out"], clean["rows_written"]) == (5, 5, 5)
    assert len(rows_of(root / "lake" / "clean", "order_id")) == 5


def test_every_test_type_fails_on_dirty_data(every_type: tuple[Path, int, dict[str, Any]]) -> None:
    root, _code, report = every_type
    dirty = _node(report, "shop.dirty")
    assert dirty["status"] == "success"  # every test only warns
    checks = by_name(dirty)
    statuses = {n: c["status"] for n, c in checks.items()}
    assert statuses == {**dict.fromkeys(checks, "warned"), "volume_drop": "passed"}
    for name, failing in DIRTY_FAILING.items():
        check = checks[name]
        assert (check["rows"], check["failing"]) == (8, failing), check
        assert check["pass_rate"] == (8 - failing) / 8
        share = f"{failing / 8:.2%}"
        assert check["message"] == f"{failing} of 8 rows ({share}) fail {name}"
        assert len(check["samples"]) == failing
        assert {s["email"] for s in check["samples"]} <= {"***", None}  # email is sensitive
    assert sorted(s["order_id"] for s in checks["unique(order_id)"]["samples"]) == [5, 5]
    assert checks["foreign_key(customer_id)"]["samples"][0]["customer_id"] == 9
    assert checks["regex_match(email)"]["samples"][0]["age"] == 121
    custom = checks["custom_sql(amount > 0 AND quantity > 0)"]
    assert sorted(s["order_id"] for s in custom["samples"]) == [5, 7, 8]
    assert checks["row_count"]["observed"] == 8
    assert checks["row_count"]["message"] == "8 rows; expected between 1 and 5"
    fresh = checks["freshness(updated_at)"]
    assert fresh["observed"] == "2025-01-29T23:00:00+00:00"
    assert fresh["message"].startswith("newest updated_at is 2025-01-29T23:00:00+00:00, ")
    assert fresh["message"].endswith(" before 2025-01-31T00:00:00+00:00; allowed: 1d")
    assert checks["schema"]["message"] == "amount is int, expected double"
    assert checks["schema"]["observed"]["updated_at"] == "timestamp_ntz"
    mean = checks["distribution(amount, mean)"]
    assert mean["observed"] == 775
    assert mean["message"] == "mean of amount is 775; expected between 10.0 and 500.0"
    volume = checks["volume_drop"]
    assert volume["message"] == "no run history yet: nothing to compare with"
    assert volume["observed"] == {"rows": 8, "history": []}
    # warn keeps every row
    assert (dirty["rows_checked"], dirty["rows_out"], dirty["rows_written"]) == (8, 8, 8)
    assert dirty["rows_dropped"] in (None, 0)
    assert dirty["rows_quarantined"] is None
    assert len(rows_of(root / "lake" / "dirty", "order_id")) == 8


# -- on_fail: fail (the default) ----------------------------------------------------------

ONE_TEST_PER_NODE = {
    "not_null": "{type: not_null, columns: [customer_id, email]}",
    "unique": "{type: unique, columns: [order_id]}",
    "accepted": "{type: accepted_values, column: status, values: [active, inactive]}",
    "range": "{type: range, column: age, min: 18, max: 120}",
    "regex": '{type: regex_match, column: email, pattern: "^[^@]+@[^@]+\\\\.[a-z]{2,}$"}',
    "custom": '{type: custom_sql, condition: "amount > 0 AND quantity > 0"}',
    "fk": "{type: foreign_key, column: customer_id, references: {node: customers, column: "
    "customer_id}}",
    "row_count": "{type: row_count, max: 5}",
    "freshness": "{type: freshness, column: updated_at, max_age: 1d}",
    "schema": "{type: schema, columns: {amount: double}}",
    "distribution": "{type: distribution, column: amount, metric: max, between: [null, 500]}",
}
# what the error says about each, after "<n> data-quality test failed on the output (8 rows)"
FAILURES = {
    "not_null": "2 of 8 rows (25.00%) fail not_null(customer_id, email)",
    "unique": "2 of 8 rows (25.00%) fail unique(order_id)",
    "accepted": "1 of 8 rows (12.50%) fail accepted_values(status)",
    "range": "2 of 8 rows (25.00%) fail range(age)",
    "regex": "1 of 8 rows (12.50%) fail regex_match(email)",
    "custom": "3 of 8 rows (37.50%) fail custom_sql(amount > 0 AND quantity > 0)",
    "fk": "1 of 8 rows (12.50%) fail foreign_key(customer_id)",
    "row_count": "row_count: 8 rows; expected at most 5",
    "freshness": "freshness(updated_at): newest updated_at is 2025-01-29T23:00:00+00:00",
    "schema": "schema: amount is int, expected double",
    "distribution": "distribution(amount, max): max of amount is 900; expected at most 500.0",
}


def test_a_failing_test_of_any_type_fails_the_node_and_writes_nothing(
    project: Make,
) -> None:
    nodes = [
        f"""\
      - name: {name}
        read: {{connection: raw, path: dirty.csv}}
        validation: {{tests: [{test}]}}
        write: {{connection: lake, path: {name}}}
"""
        for name, test in ONE_TEST_PER_NODE.items()
    ]
    customers = """\
      - name: customers
        read: {connection: raw, path: customers.csv}
        write: {connection: lake, path: customers}
"""
    root = project(
        HEAD + "".join(nodes) + customers,
        {"data/dirty.csv": DIRTY, "data/customers.csv": CUSTOMERS},
    )
    result = run(root, as_of=datetime(2025, 1, 31, tzinfo=UTC))
    assert not result.ok
    for name in ONE_TEST_PER_NODE:
        rec = result.record(f"shop.{name}")
        text = failed_with(rec)
        assert "1 data-quality test failed on the output (8 rows); nothing was written" in text
        assert FAILURES[name] in text, text
        assert f"node shop.{name}" in text
        assert [c["status"] for c in rec.checks] == ["failed"]
        assert rec.rows_written is None and rec.table_version is None
        assert not (root / "lake" / name).exists()
    assert result.record("customers").status == "success"


# -- warn, drop, quarantine: the row accounting --------------------------------------------

MODES = (
    HEAD
    + """\
      - name: orders
        read: {connection: raw, path: orders.csv}
        validation:
          tests:
            - {type: not_null, columns: [email], on_fail: warn}
            - {type: accepted_values, column: status, values: [active], on_fail: drop}
            - {type: range, column: age, min: 18, on_fail: quarantine}
            - {type: custom_sql, condition: "amount > 0", on_fail: drop}
            - {type: not_null, columns: [id]}
          quarantine: {connection: lake, path: quarantine/orders}
        write: {connection: lake, path: orders}
"""
)
# 1, 7 pass; 2 warns (kept); 3 and 6 are dropped; 4 fails a warn, a drop and a quarantine
# test, 5 a quarantine and a drop test: both are quarantined, not dropped
ORDERS = """\
id,email,status,age,amount
1,a@x.com,active,30,10.0
2,,active,30,10.0
3,c@x.com,weird,30,10.0
4,,weird,15,10.0
5,e@x.com,active,17,-1.0
6,,active,30,-5.0
7,g@x.com,active,30,10.0
"""
KEPT = [
    {"id": 1, "email": "a@x.com", "status": "active", "age": 30, "amount": 10.0},
    {"id": 2, "email": None, "status": "active", "age": 30, "amount": 10.0},
    {"id": 7, "email": "g@x.com", "status": "active", "age": 30, "amount": 10.0},
]


def test_warn_drop_and_quarantine_account_for_every_row(project: Make) -> None:
    root = project(MODES, {"data/orders.csv": ORDERS})
    events: list[Event] = []
    started = datetime.now(UTC)
    first = Project.load(root / "lakestory.yaml").run(subscribers=[events.append])
    assert first.ok, first.nodes[0].error
    rec = first.record("orders")
    assert (rec.rows_read, rec.rows_checked, rec.rows_out, rec.rows_written) == (7, 7, 3, 3)
    assert (rec.rows_dropped, rec.rows_quarantined) == (2, 2)
    accounted(rec)
    assert {c["name"]: (c["status"], c["failing"]) for c in rec.checks} == {
        "not_null(email)": ("warned", 3),
        "accepted_values(status)": ("dropped", 2),
        "range(age)": ("quarantined", 2),
        "custom_sql(amount > 0)": ("dropped", 2),
        "not_null(id)": ("passed", 0),
    }
    assert rows_of(root / "lake" / "orders") == KEPT

    quarantine = root / "lake" / "quarantine" / "orders"
    assert (rec.quarantine_target, rec.quarantine_version) == ("lake:quarantine/orders", 0)
    table = DeltaTable(str(quarantine)).to_pyarrow_table()
    assert table.column_names == [
        *["id", "email", "status", "age", "amount"],
        *["_run_id", "_node", "_failed_tests", "_rejected_at"],
    ]
    rows = rows_of(quarantine)
    stamps = [r.pop("_rejected_at") for r in rows]
    assert rows == [
        {
            **{"id": 4, "email": None, "status": "weird", "age": 15, "amount": 10.0},
            **{"_run_id": first.run_id, "_node": "shop.orders"},
            "_failed_tests": ["not_null(email)", "accepted_values(status)", "range(age)"],
        },
        {
            **{"id": 5, "email": "e@x.com", "status": "active", "age": 17, "amount": -1.0},
            **{"_run_id": first.run_id, "_node": "shop.orders"},
            "_failed_tests": ["range(age)", "custom_sql(amount > 0)"],
        },
    ]
    for stamp in stamps:
        assert started - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
    [event] = [e for e in events if isinstance(e, RowsQuarantined)]
    assert (event.record.key, event.rows, event.target) == ("shop.orders", 2, rec.quarantine_target)
    assert not any(isinstance(e, GateBlocked) for e in events)

    second = run(root)  # the same delivery again: the quarantine table is appended to
    assert second.ok
    assert second.record("orders").quarantine_version == 1
    ids = sorted((r["_run_id"], r["id"]) for r in rows_of(quarantine))
    assert ids == sorted(
        [(first.run_id, 4), (first.run_id, 5), (second.run_id, 4), (second.run_id, 5)]
    )


def test_a_failing_test_writes_neither_the_table_nor_the_quarantine(project: Make) -> None:
    root = project(MODES, {"data/orders.csv": ORDERS})
    assert run(root).ok
    target, quarantine = root / "lake" / "orders", root / "lake" / "quarantine" / "orders"
    before = (rows_of(target), version(target), rows_of(quarantine), version(quarantine))
    # a row without id: not_null(id) fails the node, although other rows would be quarantined
    (root / "data" / "orders.csv").write_text(ORDERS + ",z@x.com,active,10,10.0\n")
    result = run(root)
    rec = result.record("orders")
    text = failed_with(rec)
    assert "1 data-quality test failed on the output (8 rows); nothing was written" in text
    assert "1 of 8 rows (12.50%) fail not_null(id)" in text
    assert "validation.tests[4]" in text  # the key of the failing test
    assert (rec.rows_written, rec.quarantine_version) == (None, None)
    assert not rec.rows_quarantined
    assert {c["name"]: c["status"] for c in rec.checks}["not_null(id)"] == "failed"
    after = (rows_of(target), version(target), rows_of(quarantine), version(quarantine))
    assert after == before


# -- threshold: the failing share tolerated ------------------------------------------------

THRESHOLDS = (
    HEAD
    + """\
      - name: people
        read: {connection: raw, path: people.csv}
        validation:
          tests:
            - {type: not_null, columns: [email], threshold: 0.25}
            - {type: accepted_values, column: status, values: [a], on_fail: drop, threshold: 0.5}
        write: {connection: lake, path: people}
"""
)


def test_a_threshold_tolerates_a_share_of_failing_rows_and_no_more(project: Make) -> None:
    # 1 of 4 emails missing (25%: tolerated, kept, warned); 1 of 4 statuses wrong (dropped)
    root = project(THRESHOLDS, {"data/people.csv": "id,email,status\n1,a,a\n2,,a\n3,c,b\n4,d,a\n"})
    result = run(root)
    assert result.ok, result.nodes[0].error
    rec = result.record("people")
    checks = by_name(rec)
    assert checks["not_null(email)"]["status"] == "warned"
    assert checks["not_null(email)"]["threshold"] == 0.25
    assert checks["not_null(email)"]["message"] == (
        "1 of 4 rows (25.00%) fail not_null(email) (tolerated: 25.00%)"
    )
    assert checks["accepted_values(status)"]["status"] == "dropped"
    assert (rec.rows_checked, rec.rows_out, rec.rows_dropped) == (4, 3, 1)
    accounted(rec)
    assert [r["id"] for r in rows_of(root / "lake" / "people")] == [1, 2, 4]

    # 2 of 4 emails missing: beyond the threshold, the node fails
    (root / "data" / "people.csv").write_text("id,email,status\n1,a,a\n2,,a\n3,,a\n4,d,a\n")
    rec = run(root).record("people")
    assert "2 of 4 rows (50.00%) fail not_null(email) (tolerated: 25.00%)" in failed_with(rec)

    # 3 of 4 statuses wrong: beyond the threshold a drop test fails the node too
    (root / "data" / "people.csv").write_text("id,email,status\n1,a,b\n2,b,b\n3,c,b\n4,d,a\n")
    rec = run(root).record("people")
    text = failed_with(rec)
    assert "3 of 4 rows (75.00%) fail accepted_values(status) (tolerated: 50.00%)" in text
    assert by_name(rec)["accepted_values(status)"]["status"] == "failed"
    assert [r["id"] for r in rows_of(root / "lake" / "people")] == [1, 2, 4]  # unchanged


# -- the gate ------------------------------------------------------------------------------


def _gated(name: str, on_fail: str, quarantine: bool = False, rate: float = 0.85) -> str:
    gate = (
        f'{{require_pass_rate: {rate}, thresholds: {{"not_null(email)": 0.9}}, on_fail: {on_fail}}}'
    )
    q = (
        f"\n          quarantine: {{connection: lake, path: quarantine/{name}}}"
        if quarantine
        else ""
    )
    return f"""\
      - name: {name}
        read: {{connection: raw, path: people.csv}}
        validation:
          tests:
            - {{type: not_null, columns: [email], on_fail: warn}}
            - {{type: range, column: age, min: 0, on_fail: warn}}
            - {{type: row_count, min: 1}}
          gate: {gate}{q}
        write: {{connection: lake, path: {name}}}
"""


# 10 people: 9 and 10 fail one test each, so the pass rate is 80% (below 85%); each test
# passes 90% of the rows (not_null(email) needs 90%: met)
PEOPLE = "id,email,age\n" + "".join(f"{i},p{i}@x.com,{20 + i}\n" for i in range(1, 9))
PEOPLE += "9,,29\n10,p10@x.com,-1\n"


def test_the_gate_aborts_writes_anyway_or_writes_the_valid_rows(project: Make) -> None:
    root = project(
        HEAD
        + _gated("abort", "abort")
        + _gated("warn_and_write", "warn_and_write")
        + _gated("valid_to_quarantine", "write_valid_only", quarantine=True)
        + _gated("valid_only", "write_valid_only")
        + _gated("passes", "abort", rate=0.8),  # 80% is enough
        {"data/people.csv": PEOPLE},
    )
    events: list[Event] = []
    result = Project.load(root / "lakestory.yaml").run(subscribers=[events.append])
    blocked = {e.record.key: e.gate for e in events if isinstance(e, GateBlocked)}
    assert sorted(blocked) == [
        "shop.abort",
        "shop.valid_only",
        "shop.valid_to_quarantine",
        "shop.warn_and_write",
    ]
    lake = root / "lake"

    rec = result.record("abort")
    text = failed_with(rec)
    assert "the quality gate blocked the write; nothing was written" in text
    assert "pass rate 80.00% < required 85.00%" in text
    assert rec.gate == blocked["shop.abort"]
    assert rec.gate == {
        "status": "blocked",
        "pass_rate": 0.8,
        "required": 0.85,
        "failed_thresholds": {},
        "action": "abort",
    }
    assert [c["status"] for c in rec.checks] == ["warned", "warned", "passed"]
    assert not (lake / "abort").exists()

    rec = result.record("warn_and_write")  # the tests decide: they only warn
    assert rec.status == "success"
    assert rec.gate is not None and (rec.gate["status"], rec.gate["action"]) == (
        "blocked",
        "warn_and_write",
    )
    assert (rec.rows_checked, rec.rows_out, rec.rows_written) == (10, 10, 10)
    assert len(rows_of(lake / "warn_and_write")) == 10

    rec = result.record("valid_to_quarantine")
    assert rec.status == "success"
    assert (rec.rows_checked, rec.rows_out, rec.rows_quarantined) == (10, 8, 2)
    assert not rec.rows_dropped
    accounted(rec)
    assert [r["id"] for r in rows_of(lake / "valid_to_quarantine")] == list(range(1, 9))
    rejected = rows_of(lake / "quarantine" / "valid_to_quarantine")
    assert [(r["id"], r["_failed_tests"]) for r in rejected] == [
        (9, ["not_null(email)"]),
        (10, ["range(age)"]),
    ]

    rec = result.record("valid_only")  # no quarantine table: the rows are dropped
    assert rec.status == "success"
    assert (rec.rows_checked, rec.rows_out, rec.rows_dropped, rec.rows_quarantined) == (
        10,
        8,
        2,
        None,
    )
    accounted(rec)
    assert [r["id"] for r in rows_of(lake / "valid_only")] == list(range(1, 9))

    rec = result.record("passes")
    assert rec.status == "success" and rec.gate is not None
    assert (rec.gate["status"], rec.gate["pass_rate"]) == ("passed", 0.8)
    assert len(rows_of(lake / "passes")) == 10


def test_a_gate_threshold_judges_one_test(project: Make) -> None:
    root = project(HEAD + _gated("people", "abort", rate=0.5), {"data/people.csv": PEOPLE})
    # 2 of 10 emails missing: not_null(email) passes 80% of the rows, it needs 90%
    (root / "data" / "people.csv").write_text(PEOPLE.replace("p3@x.com", ""))
    rec = run(root).record("people")
    text = failed_with(rec)
    assert "not_null(email): pass rate 80.00% < required 90.00%" in text
    assert "pass rate 70.00%" not in text  # 70% overall is above the required 50%
    assert rec.gate is not None
    assert rec.gate["failed_thresholds"] == {"not_null(email)": {"required": 0.9, "actual": 0.8}}
    assert rec.gate["pass_rate"] == pytest.approx(0.7)
    assert not (root / "lake" / "people").exists()


# -- contracts: on the input, before the transform steps ----------------------------------

CONTRACTS = (
    HEAD
    + """\
      - name: strict
        read: {connection: raw, path: in.csv}
        contracts:
          - {type: not_null, columns: [id]}
        transform:                       # would fix the data, but runs after the contract
          - sql: "SELECT coalesce(id, 0) AS id, amount FROM df"
        write: {connection: lake, path: strict}
      - name: lenient
        read: {connection: raw, path: in.csv}
        contracts:
          - {type: not_null, columns: [id], on_fail: drop}
          - {type: range, column: amount, max: 100, on_fail: warn}
        transform:
          - sql: "SELECT id, amount FROM df"
        validation:
          tests:
            - {type: range, column: amount, min: 0, on_fail: drop}
        write: {connection: lake, path: lenient}
      - name: downstream                 # a contract on the output of another node
        depends_on: [lenient]
        contracts:
          - {type: range, column: amount, min: 0}
        write: {connection: lake, path: downstream}
"""
)


def test_contracts_judge_the_input_before_the_transform(project: Make) -> None:
    # a null id; amount 500 above the (warning) maximum; amount -1 below the validation min
    root = project(CONTRACTS, {"data/in.csv": "id,amount\n1,10\n,20\n3,500\n4,-1\n"})
    result = run(root)

    rec = result.record("strict")
    text = failed_with(rec)
    assert "node shop.strict" in text
    assert "1 data-quality contract failed on the input (4 rows); nothing was written" in text
    assert "1 of 4 rows (25.00%) fail not_null(id)" in text
    assert "contracts[0]" in text
    assert [(c["name"], c["phase"], c["status"]) for c in rec.checks] == [
        ("not_null(id)", "contract", "failed")
    ]
    assert rec.sql == []  # the transform never ran
    assert not (root / "lake" / "strict").exists()

    rec = result.record("lenient")
    assert rec.status == "success", rec.error
    assert [(c["name"], c["phase"], c["status"], c["rows"], c["failing"]) for c in rec.checks] == [
        ("not_null(id)", "contract", "dropped", 4, 1),
        ("range(amount)", "contract", "warned", 4, 1),
        ("range(amount)", "validation", "dropped", 3, 1),
    ]
    # rows_dropped counts the contract's drop and the test's; rows_checked the rows tested
    assert (rec.rows_read, rec.rows_checked, rec.rows_dropped, rec.rows_out) == (4, 3, 2, 2)
    assert [r["id"] for r in rows_of(root / "lake" / "lenient")] == [1, 3]

    rec = result.record("downstream")  # its input is lenient's output: no negative amount
    assert rec.status == "success", rec.error
    assert [(c["phase"], c["status"], c["rows"]) for c in rec.checks] == [("contract", "passed", 2)]
    assert rec.rows_checked is None


# -- foreign keys --------------------------------------------------------------------------

FOREIGN_KEYS = (
    HEAD
    + """\
      - name: orders                     # listed first: the reference orders the nodes
        read: {connection: raw, path: orders.csv}
        validation:
          tests:
            - type: foreign_key
              column: customer
              references: {node: customers, column: id}
              on_fail: warn
        write: {connection: lake, path: orders}
      - name: customers
        read: {connection: raw, path: customers.csv}
        write: {connection: lake, path: customers}
"""
)


def test_a_foreign_key_checks_another_nodes_output_or_its_table(project: Make) -> None:
    root = project(
        FOREIGN_KEYS,
        {
            "data/orders.csv": "id,customer\n1,10\n2,20\n3,30\n4,\n5,30\n",
            "data/customers.csv": "id,name\n10,Ann\n20,Bob\n",
        },
    )
    proj = Project.load(root / "lakestory.yaml")
    order = [p.key for p in proj.plan().nodes]
    assert order.index("shop.customers") < order.index("shop.orders")
    fk = "foreign_key(customer)"

    result = proj.run()
    assert result.ok
    check = by_name(result.record("orders"))[fk]
    assert (check["status"], check["failing"]) == ("warned", 2)  # customer 30 twice; null passes
    assert sorted(s["id"] for s in check["samples"]) == [3, 5]

    # customer 30 arrives, but only orders runs: it checks the customers table as written
    (root / "data" / "customers.csv").write_text("id,name\n10,Ann\n20,Bob\n30,Cy\n")
    result = run(root, nodes=["orders"])
    assert [r.key for r in result.nodes] == ["shop.orders"]
    assert by_name(result.record("orders"))[fk]["failing"] == 2

    result = run(root)  # both run: this run's output of customers is checked
    assert by_name(result.record("orders"))[fk]["status"] == "passed"


# -- freshness against the run's clock ------------------------------------------------------


def test_freshness_judges_against_the_pinned_clock(project: Make, cli: Callable[..., Any]) -> None:
    root = project(
        HEAD
        + """\
      - name: events
        read: {connection: raw, path: events.csv}
        validation:
          tests:
            - {type: freshness, column: at, max_age: 24h, on_fail: warn}
            - {type: freshness, column: day, max_age: 2d, on_fail: warn}
        write: {connection: lake, path: events}
""",
        # `at` is a timestamp without a time zone: read as UTC
        {
            "data/events.csv": "id,at,day\n1,2025-01-29 08:00:00,2025-01-28\n"
            + "2,2025-01-30 00:00:00,\n"
        },
    )

    def freshness(as_of: datetime) -> dict[str, dict[str, Any]]:
        result = run(root, as_of=as_of)
        assert result.ok, result.nodes[0].error
        return by_name(result.record("events"))

    # `at`: exactly 24 hours old is still fresh; `day` (a date: its midnight, UTC) is 3 days
    # old, more than its 2d
    checks = freshness(datetime(2025, 1, 31))  # naive: UTC
    assert checks["freshness(at)"]["status"] == "passed"
    assert checks["freshness(at)"]["observed"] == "2025-01-30T00:00:00+00:00"
    assert checks["freshness(day)"]["observed"] == "2025-01-28T00:00:00+00:00"
    assert checks["freshness(day)"]["status"] == "warned"  # 3 days old
    # the same instant in another time zone
    same = datetime(2025, 1, 31, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert freshness(same)["freshness(at)"]["status"] == "passed"
    late = freshness(datetime(2025, 1, 31, 12, 0, tzinfo=UTC))["freshness(at)"]
    assert late["status"] == "warned"
    assert late["message"] == (
        "newest at is 2025-01-30T00:00:00+00:00, 1.5d before 2025-01-31T12:00:00+00:00; allowed: 1d"
    )

    # the CLI's --as-of; an unparsable clock is a usage error
    args = ["run", root / "lakestory.yaml", "--format", "json"]
    report = json.loads(cli(*args, "--as-of", "2025-01-31T00:00:01Z").stdout)
    assert by_name(report["nodes"][0])["freshness(at)"]["status"] == "warned"
    report = json.loads(cli(*args, "--as-of", "2025-01-30").stdout)
    assert by_name(report["nodes"][0])["freshness(at)"]["status"] == "passed"
    bad = cli(*args, "--as-of", "yesterday")
    assert bad.exit_code == 2
    assert "--as-of 'yesterday' is not a date or timestamp" in bad.stderr


def test_a_stale_freshness_message_shows_an_age_beyond_the_allowed_one(project: Make) -> None:
    """25 hours is more than 24h: the message must not call both of them '1d'."""
    root = project(
        HEAD
        + """\
      - name: events
        read: {connection: raw, path: events.csv}
        validation: {tests: [{type: freshness, column: at, max_age: 24h, on_fail: warn}]}
        write: {connection: lake, path: events}
""",
        {"data/events.csv": "id,at\n1,2025-01-29 23:00:00\n"},
    )
    result = run(root, as_of=datetime(2025, 1, 31, tzinfo=UTC))
    message = result.record("events").checks[0]["message"]
    age, allowed = message.split(", ", 1)[1].split(" before ")[0], message.rsplit(": ", 1)[1]
    assert allowed == "1d"
    assert age != allowed, message


# -- volume_drop against the history the system catalog recorded ---------------------------


def test_volume_drop_compares_with_the_recorded_runs(project: Make) -> None:
    root = project(
        HEAD
        + """\
      - name: daily
        read: {connection: raw, path: daily.csv}
        validation: {tests: [{type: volume_drop, threshold: 0.5, lookback_runs: 3}]}
        write: {connection: lake, path: daily, mode: overwrite}
""",
        {"data/daily.csv": "id\n"},
    )

    def deliver(rows: int) -> NodeRecord:
        body = "".join(f"{i}\n" for i in range(rows))
        (root / "data" / "daily.csv").write_text("id\n" + body)
        return run(root).record("daily")

    first = deliver(12)
    assert first.status == "success"
    assert first.checks[0]["message"] == "no run history yet: nothing to compare with"
    for rows in (10, 8):
        assert deliver(rows).status == "success"
    assert deliver(10).checks[0]["observed"] == {"rows": 10, "history": [8, 10, 12], "baseline": 10}
    # the last 3 runs checked 10, 8 and 10 rows (the first run is out of the lookback)
    rec = deliver(4)
    text = failed_with(rec)
    assert (
        "volume_drop: 4 rows, 57% below the average of the last 3 runs (9); allowed drop: 50%"
        in (text)
    )
    assert rec.checks[0]["observed"]["history"] == [10, 8, 10]
    assert len(rows_of(root / "lake" / "daily")) == 10  # the table is as the last run left it
    # the failed run is no history: 5 rows against the same average pass
    rec = deliver(5)
    assert rec.status == "success", rec.error
    assert rec.checks[0]["observed"]["history"] == [10, 8, 10]


# -- samples ---------------------------------------------------------------------------------


def test_samples_are_few_and_redacted(project: Make) -> None:
    root = project(
        HEAD
        + """\
      - name: users
        read: {connection: raw, path: users.csv}
        sensitive: [email]
        validation:
          tests:
            - {type: not_null, columns: [name], on_fail: warn}
            - {type: row_count, min: 100, on_fail: warn}
        write: {connection: lake, path: users}
      - name: secret
        read: {connection: raw, path: users.csv}
        sensitive: true
        validation: {tests: [{type: not_null, columns: [name], on_fail: warn}]}
        write: {connection: lake, path: secret}
""",
        {"data/users.csv": "id,name,email\n" + "".join(f"{i},,u{i}@x.com\n" for i in range(7))},
    )
    result = run(root)
    assert result.ok
    not_null, row_count = result.record("users").checks
    assert not_null["failing"] == 7
    assert len(not_null["samples"]) == 5
    for sample in not_null["samples"]:
        assert sample["email"] == "***"
        assert sample["name"] is None
        assert 0 <= sample["id"] < 7
    assert row_count["samples"] == []  # a table-level test has no failing rows to show
    [everything] = result.record("secret").checks
    assert {v for s in everything["samples"] for k, v in s.items() if k != "name"} == {"***"}
    assert rows_of(root / "lake" / "users")[0]["email"] == "u0@x.com"  # the data is intact


def test_a_sample_is_found_beyond_the_rows_searched_for_samples(
    project: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lakestory.quality

    monkeypatch.setattr(lakestory.quality, "SAMPLE_SCAN", 3)  # only the first 3 rows searched
    root = project(
        HEAD
        + """\
      - name: late
        read: {connection: raw, path: late.csv}
        sensitive: [email]
        validation: {tests: [{type: not_null, columns: [name], on_fail: warn}]}
        write: {connection: lake, path: late}
""",
        {"data/late.csv": "id,name,email\n1,a,x\n2,b,y\n3,c,z\n4,,w\n5,e,v\n"},
    )
    result = run(root)
    [not_null] = result.record("late").checks
    assert not_null["failing"] == 1
    assert not_null["samples"] == [{"id": 4, "name": None, "email": "***"}]


# -- the quarantine is undone when the node's own write fails --------------------------------


def test_a_failed_write_takes_the_runs_rows_back_out_of_the_quarantine(project: Make) -> None:
    root = project(
        HEAD
        + """\
      - name: orders
        read: {connection: raw, path: orders.csv}
        validation:
          tests:
            - {type: range, column: qty, min: 1, on_fail: quarantine}
          quarantine: {connection: lake, path: quarantine/orders}
        write: {connection: lake, path: orders, mode: append}
""",
        {"data/orders.csv": "id,amount,qty\n1,1.5,1\n2,2.5,3\n"},
    )
    first = run(root).record("orders")
    assert (first.status, first.rows_quarantined) == ("success", 0)
    target, quarantine = root / "lake" / "orders", root / "lake" / "quarantine" / "orders"
    # amount as text cannot go into the double column: the write fails after the quarantine
    (root / "data" / "orders.csv").write_text("id,amount,qty\n3,ten,1\n4,five,0\n5,six,-1\n")
    events: list[Event] = []
    result = Project.load(root / "lakestory.yaml").run(subscribers=[events.append])
    rec = result.record("orders")
    assert rec.status == "failed"
    assert rec.error is not None and rec.error["kind"] == "write_error", rec.error
    assert "amount" in rec.error["text"]
    assert [e.rows for e in events if isinstance(e, RowsQuarantined)] == [2]  # it happened
    assert (rec.rows_quarantined, rec.quarantine_version) == (0, None)
    assert not quarantine.exists() or rows_of(quarantine) == []
    assert rows_of(target) == [
        {"id": 1, "amount": 1.5, "qty": 1},
        {"id": 2, "amount": 2.5, "qty": 3},
    ]


# -- what each test treats as failing --------------------------------------------------------


def test_nulls_bounds_and_partial_matches(project: Make) -> None:
    root = project(
        HEAD
        + """\
      - name: t
        read: {connection: raw, path: t.csv}
        validation:
          tests:
            - {type: not_null, columns: [a]}
            - {type: unique, columns: [k1, k2]}
            - {type: range, column: v, min: 1, max: 3}
            - {type: accepted_values, column: v, values: [1, 2, 3, 4]}
            - {type: regex_match, column: s, pattern: "b+"}
            - {type: regex_match, column: s, pattern: "^b", name: starts_with_b}
            - {type: custom_sql, condition: "v > 1"}
        write: {connection: lake, path: t}
""",
        # id: what fails
        #  1: nothing           2: range (v=4)     3: regex b+ and ^b  4: custom_sql (v null)
        #  5: custom_sql (v=1)  6, 7: unique (1, 1)
        #  8, 9: (1, null) twice and 10: (null, null): a null key is not compared
        {
            "data/t.csv": (
                "id,a,k1,k2,v,s\n"
                "1,x,1,2,3,bbb\n"
                "2,x,2,2,4,abc\n"
                "3,x,3,2,2,xyz\n"
                "4,x,4,2,,\n"
                "5,x,5,2,1,b\n"
                "6,x,1,1,2,b\n"
                "7,x,1,1,2,b\n"
                "8,x,1,,2,b\n"
                "9,x,1,,2,b\n"
                "10,x,,,2,abc\n"
            )
        },
    )
    result = run(root)
    checks = by_name(result.record("t"))
    failing = {n: sorted(s["id"] for s in c["samples"]) for n, c in checks.items()}
    assert failing == {
        "not_null(a)": [],
        "unique(k1, k2)": [6, 7],
        "range(v)": [2],
        "accepted_values(v)": [],
        "regex_match(s)": [3],
        "starts_with_b": [2, 3, 10],
        "custom_sql(v > 1)": [4, 5],
    }
    assert {n: c["failing"] for n, c in checks.items()} == {n: len(f) for n, f in failing.items()}


def test_bounds_of_dates_timestamps_and_numbers(project: Make) -> None:
    root = project(
        HEAD
        + """\
      - name: t
        read: {connection: raw, path: t.csv}
        validation:
          tests:
            - {type: range, column: d, min: 2025-01-02, max: 2025-01-30, on_fail: warn}
            - {type: range, column: ts, min: "2025-01-02 00:00:00", on_fail: warn}
            - {type: range, column: amount, min: 0.5, max: 1.5, on_fail: warn}
            - {type: accepted_values, column: flag, values: [true], on_fail: warn}
            - {type: unique, columns: [amount], on_fail: warn}
        write: {connection: lake, path: t}
""",
        {
            "data/t.csv": "id,d,ts,amount,flag\n"
            "1,2025-01-01,2025-01-01 10:00:00,0.5,true\n"
            "2,2025-01-15,2025-01-03 00:00:00,1.5,false\n"
            "3,2025-01-30,2025-01-02 00:00:00,1.50,\n"
        },
    )
    checks = by_name(run(root).record("t"))
    assert {n: sorted(s["id"] for s in c["samples"]) for n, c in checks.items()} == {
        "range(d)": [1],
        "range(ts)": [1],
        "range(amount)": [],
        "accepted_values(flag)": [2],
        "unique(amount)": [2, 3],  # 1.5 and 1.50
    }
    assert checks["range(d)"]["samples"][0]["d"] == "2025-01-01"  # dates as ISO text
    assert checks["range(ts)"]["samples"][0]["ts"] == "2025-01-01T10:00:00"


def test_every_distribution_metric(project: Make) -> None:
    metrics = {  # of 1, 2, 2, null, 5
        "mean": 2.5,
        "median": 2.0,
        "min": 1.0,
        "max": 5.0,
        "sum": 10.0,
        "stddev": 3**0.5,  # sample: squares 2.25 + .25 + .25 + 6.25 = 9, over 3
        "null_fraction": 0.2,
        "distinct_count": 3.0,
    }
    tests = "".join(
        f"            - {{type: distribution, column: v, metric: {m}, between: [{x - 0.01}, "
        f"{x + 0.01}]}}\n            - {{type: distribution, column: v, metric: {m}, "
        f"between: [null, {x - 0.01}], name: low {m}, on_fail: warn}}\n"
        for m, x in metrics.items()
    )
    root = project(
        HEAD
        + """\
      - name: d
        read: {connection: raw, path: d.csv}
        validation:
          tests:
"""
        + tests
        + "        write: {connection: lake, path: d}\n",
        {"data/d.csv": "v\n1\n2\n2\n\n5\n"},
    )
    result = run(root)
    assert result.ok, result.nodes[0].error
    checks = by_name(result.record("d"))
    for metric, value in metrics.items():
        check = checks[f"distribution(v, {metric})"]
        assert check["status"] == "passed"
        assert check["observed"] == pytest.approx(value)
        low = checks[f"low {metric}"]
        assert low["status"] == "warned"
        assert low["message"] == f"{metric} of v is {value:g}; expected at most {value - 0.01}"


# -- found by these tests ---------------------------------------------------------------------


def test_an_empty_output_is_checked_like_any_other(project: Make) -> None:
    """Zero rows: the row-level tests pass (nothing fails), the table-level ones judge an
    empty dataset. (An incremental node with consumers and nothing new gets there too.)"""
    root = project(
        HEAD
        + """\
      - name: e
        read: {connection: raw, path: e.csv}
        transform: [{sql: "SELECT * FROM df WHERE id > 100"}]
        validation:
          tests:
            - {type: not_null, columns: [id]}
            - {type: unique, columns: [id]}
            - {type: row_count, min: 1, on_fail: warn}
            - {type: freshness, column: at, max_age: 1d, on_fail: warn}
            - {type: distribution, column: id, metric: mean, between: [0, 1], on_fail: warn}
          gate: {require_pass_rate: 1.0}
        write: {connection: lake, path: e}
""",
        {"data/e.csv": "id,at\n1,2025-01-01 00:00:00\n"},
    )
    result = run(root)
    rec = result.record("e")
    assert rec.status == "success", rec.error
    assert {c["name"]: c["status"] for c in rec.checks} == {
        "not_null(id)": "passed",
        "unique(id)": "passed",
        "row_count": "warned",
        "freshness(at)": "warned",
        "distribution(id, mean)": "warned",
    }
    assert by_name(rec)["not_null(id)"]["pass_rate"] == 1.0
    assert by_name(rec)["row_count"]["message"] == "0 rows; expected at least 1"
    assert rec.gate is not None and rec.gate["status"] == "passed"
    assert (rec.rows_checked, rec.rows_out, rec.rows_written) == (0, 0, 0)


def test_a_test_the_engine_cannot_evaluate_is_located_in_the_config(project: Make) -> None:
    """A condition naming a column the output lacks, a mean of text: the engine's error must
    say where in the config the culprit is (at least the node's `validation`)."""
    root = project(
        HEAD
        + """\
      - name: typo
        read: {connection: raw, path: t.csv}
        validation:
          tests:
            - {type: custom_sql, condition: "amout > 0"}
        write: {connection: lake, path: typo}
      - name: text_mean
        read: {connection: raw, path: t.csv}
        validation:
          tests:
            - {type: distribution, column: name, metric: mean, between: [0, 1]}
        write: {connection: lake, path: text_mean}
""",
        {"data/t.csv": "id,name,amount\n1,a,2\n"},
    )
    result = run(root)
    text = str(result.record("typo").error["text"])  # type: ignore[index]
    assert "amout" in text
    assert "key pipelines[0].nodes[0].validation" in text, text
    text = str(result.record("text_mean").error["text"])  # type: ignore[index]
    assert "key pipelines[0].nodes[1].validation" in text, text


def test_the_hint_of_a_failure_only_suggests_what_the_test_allows(project: Make) -> None:
    """Contracts cannot quarantine and table-level tests can neither drop nor quarantine
    (nor take a threshold): config errors, so the hint must not propose them."""
    root = project(
        HEAD
        + """\
      - name: contract
        read: {connection: raw, path: in.csv}
        contracts: [{type: not_null, columns: [id]}]
        write: {connection: lake, path: contract}
      - name: table_level
        read: {connection: raw, path: in.csv}
        validation: {tests: [{type: row_count, min: 5}]}
        write: {connection: lake, path: table_level}
""",
        {"data/in.csv": "id\n1\n\n"},
    )
    result = run(root)
    hints = {}
    for node in ("contract", "table_level"):
        error = result.record(node).error
        assert error is not None and error["kind"] == "quality_error"
        assert "warn" in error["hint"]
        hints[node] = error["hint"]
    assert "quarantine" not in hints["contract"], hints
    assert "quarantine" not in hints["table_level"], hints
    assert "drop" not in hints["table_level"], hints


def test_schema_types_by_any_spelling_and_strictness(project: Make) -> None:
    sql = "SELECT 1 AS id, array(CAST(1 AS BIGINT)) AS tags, CAST(1.5 AS DECIMAL(10,2)) AS d"
    root = project(
        HEAD
        + f"""\
      - name: s
        transform: [{{sql: "{sql}"}}]
        validation:
          tests:
            - {{type: schema, columns: {{ID: integer, Tags: "array<bigint>", d: "decimal(10, 2)"}},
                strict: true, on_fail: warn, name: all}}
            - {{type: schema, columns: {{id: long}}, on_fail: warn, name: wider}}
            - {{type: schema, columns: {{id: smallint}}, on_fail: warn, name: narrower}}
            - {{type: schema, columns: {{id: int}}, strict: true, on_fail: warn, name: strict}}
            - {{type: schema, columns: {{gone: string}}, on_fail: warn, name: missing}}
        write: {{connection: lake, path: s}}
""",
    )
    checks = by_name(run(root).record("s"))
    assert {n: c["message"] for n, c in checks.items()} == {
        "all": None,
        "wider": None,  # an int column holds what a bigint may
        "narrower": "id is int, expected smallint",
        "strict": "unexpected columns (strict): tags, d",
        "missing": "missing column gone (string)",
    }
    assert checks["all"]["observed"] == {"id": "int", "tags": "array<bigint>", "d": "decimal(10,2)"}


def test_nodes_sharing_a_quarantine_table_can_run_at_once(project: Make) -> None:
    """``_node`` tells the nodes' rows apart in a shared quarantine table. Nodes whose columns
    differ evolve its schema; run in parallel, the first run (which creates the table) must
    not fail some of them with "the columns differ from the table's". A race: three fresh
    projects make it show (it did in 8 of 10 single runs)."""
    nodes = "".join(
        f"""\
      - name: n{i}
        read: {{connection: raw, path: d.csv}}
        transform: [{{sql: "SELECT id, v, id AS c{i} FROM df"}}]
        validation:
          tests: [{{type: range, column: v, min: 0, on_fail: quarantine}}]
          quarantine: {{connection: lake, path: quarantine}}
        write: {{connection: lake, path: n{i}}}
"""
        for i in range(6)
    )
    for attempt in range(3):
        root = project(HEAD + nodes, {"data/d.csv": "id,v\n1,1\n2,-1\n3,-2\n"}, root=f"p{attempt}")
        result = run(root, max_workers=6)
        errors = {r.key: r.error["message"] for r in result.nodes if r.error}
        assert result.ok, errors
        rows = rows_of(root / "lake" / "quarantine")
        assert sorted(r["_node"] for r in rows) == sorted(
            f"shop.n{i}" for i in range(6) for _ in "ab"
        )
