"""Data-quality checks: queries in the engine that count failing rows.

A node's checks run as a :class:`Suite`: ``contracts`` on its input before the transform
steps, ``validation.tests`` on its output before the write. Evaluating a suite computes the
data once (it is read again by the write), makes the small tables ``unique`` and
``foreign_key`` join, then runs one aggregate that evaluates every row-level test and the
statistics of the table-level ones in one pass, and a few tiny queries for failing samples.
The rows that go on (and those quarantined) are selected with the same conditions. No data
is pulled into Python beyond the samples, which are redacted.

Row accounting always holds: ``rows == kept + dropped + quarantined``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from lakestory.config.models.quality import (
    ForeignKeyTest,
    FreshnessTest,
    GateConfig,
    RowCountTest,
    SchemaTest,
    UniqueTest,
    VolumeDropTest,
)
from lakestory.config.models.types import normalize_type
from lakestory.core.errors import DataError, QualityError, Where
from lakestory.core.text import suggestion
from lakestory.engines.base import Engine, Frame
from lakestory.io.specs import Target
from lakestory.quality import sql as q
from lakestory.secrets.redact import redact_rows
from lakestory.writes import spark

Phase = Literal["contract", "validation"]
SAMPLE_ROWS = 5
SAMPLE_SCAN = 100_000  # rows searched for samples; the counting pass keeps one besides
_SAMPLED_TESTS = 10


@dataclass(frozen=True)
class Check:
    """One configured test, resolved: ``ref`` is the node key a foreign key references."""

    name: str
    test: Any  # one of lakestory.config.models.quality's test models
    where: Where
    ref: str | None = None

    @property
    def row_level(self) -> bool:
        return bool(self.test.row_level)


@dataclass(frozen=True)
class Suite:
    phase: Phase
    checks: tuple[Check, ...]
    where: Where
    quarantine: Target | None = None
    gate: GateConfig | None = None

    @property
    def refs(self) -> set[str]:
        return {c.ref for c in self.checks if c.ref}


@dataclass
class CheckResult:
    name: str
    type: str
    phase: Phase
    on_fail: str
    status: str  # passed | warned | dropped | quarantined | failed
    rows: int
    failing: int | None = None  # row-level tests
    threshold: float | None = None
    observed: Any = None  # table-level tests: what was measured
    message: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pass_rate(self) -> float | None:
        if self.failing is None:
            return None
        return 1.0 if self.rows == 0 else (self.rows - self.failing) / self.rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "phase": self.phase,
            "on_fail": self.on_fail,
            "status": self.status,
            "rows": self.rows,
            "failing": self.failing,
            "pass_rate": self.pass_rate,
            "threshold": self.threshold,
            "observed": _jsonable(self.observed),
            "message": self.message,
            "samples": self.samples,
        }


@dataclass
class GateResult:
    status: str  # passed | blocked
    pass_rate: float
    required: float | None
    failed_thresholds: dict[str, dict[str, float]]
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "pass_rate": self.pass_rate,
            "required": self.required,
            "failed_thresholds": self.failed_thresholds,
            "action": self.action,
        }


@dataclass
class Outcome:
    """What a suite decided: the rows that go on, and those taken out."""

    frame: Frame  # the rows that go on
    rows: int
    results: list[CheckResult]
    dropped: int = 0
    quarantined: int = 0
    quarantine: Frame | None = None  # rows to append to the quarantine table
    gate: GateResult | None = None

    @property
    def kept(self) -> int:
        return self.rows - self.dropped - self.quarantined


@dataclass
class _Checked:
    """The data as checked: a table, the small tables joined to it, and each row-level
    test's failing condition (by test index)."""

    table: Frame
    columns: list[str]
    joins: list[str] = field(default_factory=list)
    failing: dict[int, str] = field(default_factory=dict)


@dataclass
class Checker:
    """Runs suites for one node. ``translate`` turns Spark SQL into the engine's dialect;
    ``history(key, runs)`` gives the rows checked in the node's last successful runs."""

    engine: Engine
    translate: Callable[[str], str]
    key: str  # the node key: frames are named f"{key}:<phase>:<what>"
    as_of: datetime
    run_id: str
    sensitive: bool | list[str] = False
    history: Callable[[str, int], list[int]] | None = None
    local: list[Frame] = field(default_factory=list)  # released by the caller

    def evaluate(self, suite: Suite, data: Frame, refs: Mapping[str, Frame]) -> Outcome:
        """Judge ``data``; raises :class:`QualityError` when a test or the gate fails the
        node (the results are in the error's ``results``)."""
        columns = [f.name for f in self.engine.arrow_schema(data)]
        self._check_columns(suite, columns, refs)
        # the data is read several times (the checks, then the write): compute it once
        table = self.engine.persist(data, self._name(suite, "data"))
        self.local.append(table)
        checked = self._conditions(suite, table, columns, refs)
        table_tests = [(i, c.test) for i, c in enumerate(suite.checks) if not c.row_level]
        counts = self._counts(suite, checked, table_tests)
        rows = int(counts["__lq_rows"])
        results = []
        for i, check in enumerate(suite.checks):
            if check.row_level:
                results.append(self._row_result(suite, i, rows, int(counts[q.count(i)])))
            else:
                results.append(self._table_result(suite, i, rows, counts.get(q.stat(i)), data))
        sampled = 0
        for i, r in enumerate(results):
            if r.failing and sampled < _SAMPLED_TESTS:
                found = self._samples(checked, checked.failing[i], suite, i)
                example = counts.get(q.example(i))
                kept = [{k: _jsonable(v) for k, v in example.items()}] if example else []
                r.samples = redact_rows(found or kept, self.sensitive)
                sampled += 1
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise _failure(suite, failed, rows, results)
        gate = self._gate(suite, rows, int(counts["__lq_any"]), results)
        if gate is not None and gate.status == "blocked" and gate.action == "abort":
            raise _gate_failure(suite, gate, results)
        return self._split(suite, checked, rows, counts, results, gate)

    # -- evaluation ------------------------------------------------------------------------

    def _conditions(
        self, suite: Suite, table: Frame, columns: list[str], refs: Mapping[str, Frame]
    ) -> _Checked:
        """Each row-level test's failing condition, and the small tables they join."""
        checked = _Checked(table, columns)
        for i, check in enumerate(suite.checks):
            test = check.test
            if not check.row_level:
                continue
            if isinstance(test, UniqueTest):
                text = q.repeated_keys_query(table.name, test.columns)
                repeated = self._table(text, suite, f"repeated{i}")
                if self.engine.count(repeated) == 0:
                    checked.failing[i] = "false"  # every key is distinct: no join needed
                    continue
                cond, join = q.unique_join(i, test, repeated.name)
            elif isinstance(test, ForeignKeyTest):
                assert check.ref is not None
                text = q.distinct_values_query(refs[check.ref].name, test.references.column)
                cond, join = q.foreign_key_join(i, test, self._table(text, suite, f"ref{i}").name)
            else:
                cond, join = q.fail_condition(test), None
            checked.failing[i] = cond
            if join:
                checked.joins.append(join)
        return checked

    def _counts(
        self, suite: Suite, checked: _Checked, table_tests: Sequence[tuple[int, Any]]
    ) -> dict[str, Any]:
        failing = checked.failing
        quarantine = q.any_of([failing[i] for i in self._row_tests(suite, "quarantine")])
        drop = q.any_of([failing[i] for i in self._row_tests(suite, "drop")])
        anyf = q.any_of(list(failing.values()))
        extra = {
            "__lq_any": anyf,
            "__lq_q": quarantine,
            "__lq_d": f"({drop}) AND NOT ({quarantine})",
            "__lq_qg": f"({quarantine}) OR (({anyf}) AND NOT ({drop}))",
        }
        text = q.aggregate_query(
            checked.table.name, checked.joins, failing, extra, table_tests, checked.columns
        )
        frame = self._sql(text, suite, "counts")
        rows = self.engine.rows(frame, 1)
        return rows[0] if rows else {}

    @staticmethod
    def _row_tests(suite: Suite, on_fail: str) -> list[int]:
        return [i for i, c in enumerate(suite.checks) if c.row_level and c.test.on_fail == on_fail]

    def _row_result(self, suite: Suite, i: int, rows: int, failing: int) -> CheckResult:
        check = suite.checks[i]
        test = check.test
        threshold = test.threshold
        share = failing / rows if rows else 0.0
        exceeded = threshold is not None and share > threshold
        if failing == 0:
            status = "passed"
        elif test.on_fail == "fail":
            status = "failed" if threshold is None or exceeded else "warned"
        elif exceeded:
            status = "failed"
        else:
            status = {"warn": "warned", "drop": "dropped", "quarantine": "quarantined"}[
                test.on_fail
            ]
        message = None
        if failing:
            message = f"{failing} of {rows} rows ({share:.2%}) fail {check.name}"
            if threshold is not None:
                message += f" (tolerated: {threshold:.2%})"
        return CheckResult(
            check.name,
            test.type,
            suite.phase,
            test.on_fail,
            status,
            rows,
            failing,
            threshold,
            message=message,
        )

    def _table_result(
        self, suite: Suite, i: int, rows: int, value: Any, data: Frame
    ) -> CheckResult:
        check = suite.checks[i]
        test = check.test
        ok, observed, message = True, value, None
        if isinstance(test, RowCountTest):
            observed = rows
            ok = (test.min is None or rows >= test.min) and (test.max is None or rows <= test.max)
            if not ok:
                message = f"{rows} rows; expected {_between(test.min, test.max)}"
        elif isinstance(test, FreshnessTest):
            ok, observed, message = self._freshness(test, value)
        elif isinstance(test, SchemaTest):
            ok, observed, message = self._schema(test, data)
        elif isinstance(test, VolumeDropTest):
            ok, observed, message = self._volume(test, rows)
        else:  # distribution
            low, high = test.between
            number = None if value is None else float(value)
            observed = number
            if number is None or math.isnan(number):
                ok, message = False, f"{test.metric} of {test.column} has no value (no rows?)"
            elif (low is not None and number < low) or (high is not None and number > high):
                ok = False
                message = (
                    f"{test.metric} of {test.column} is {number:g}; expected {_between(low, high)}"
                )
        status = "passed" if ok else ("warned" if test.on_fail == "warn" else "failed")
        return CheckResult(
            check.name, test.type, suite.phase, test.on_fail, status, rows, None,
            getattr(test, "threshold", None), observed, message,
        )  # fmt: skip

    def _freshness(self, test: FreshnessTest, newest: Any) -> tuple[bool, Any, str | None]:
        if newest is None:
            return False, None, f"{test.column} has no values, so nothing is fresh"
        if isinstance(newest, datetime):
            stamp = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
        elif isinstance(newest, date):
            stamp = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
        else:
            return False, str(newest), f"{test.column} is not a date or timestamp column"
        age = self.as_of - stamp
        if age > test.max_age:
            return (
                False,
                stamp.isoformat(),
                f"newest {test.column} is {stamp.isoformat()}, {_age(age, test.max_age)} "
                f"before {self.as_of.isoformat()}; allowed: {_age(test.max_age, test.max_age)}",
            )
        return True, stamp.isoformat(), None

    def _schema(self, test: SchemaTest, data: Frame) -> tuple[bool, Any, str | None]:
        actual = {
            f.name.lower(): normalize_type(spark.type_name(f.type)) or ""
            for f in self.engine.arrow_schema(data)
        }
        problems = []
        for column, expected in test.columns.items():
            want = normalize_type(expected) or expected
            got = actual.get(column.lower())
            if got is None:
                problems.append(f"missing column {column} ({want})")
            elif not _fits(got, want):
                problems.append(f"{column} is {got}, expected {want}")
        if test.strict:
            declared = {c.lower() for c in test.columns}
            extra = [c for c in actual if c not in declared]
            if extra:
                problems.append(f"unexpected columns (strict): {', '.join(extra)}")
        return not problems, actual, "; ".join(problems) or None

    def _volume(self, test: VolumeDropTest, rows: int) -> tuple[bool, Any, str | None]:
        past = self.history(self.key, test.lookback_runs) if self.history else []
        observed: dict[str, Any] = {"rows": rows, "history": past}
        if not past:
            return True, observed, "no run history yet: nothing to compare with"
        baseline = sum(past) / len(past)
        observed["baseline"] = baseline
        floor = (1 - test.threshold) * baseline
        if rows < floor:
            drop = 1 - rows / baseline if baseline else 0.0
            return (
                False,
                observed,
                f"{rows} rows, {drop:.0%} below the average of the last {len(past)} runs "
                f"({baseline:,.0f}); allowed drop: {test.threshold:.0%}",
            )
        return True, observed, None

    def _gate(
        self, suite: Suite, rows: int, failing_any: int, results: list[CheckResult]
    ) -> GateResult | None:
        gate = suite.gate
        if gate is None:
            return None
        rate = 1.0 if rows == 0 else (rows - failing_any) / rows
        by_name = {r.name: r for r in results}
        failed: dict[str, dict[str, float]] = {}
        for name, required in gate.thresholds.items():
            r = by_name[name]
            actual = r.pass_rate if r.pass_rate is not None else float(r.status == "passed")
            if actual < required:
                failed[name] = {"required": required, "actual": actual}
        blocked = bool(failed) or (
            gate.require_pass_rate is not None and rate < gate.require_pass_rate
        )
        return GateResult(
            "blocked" if blocked else "passed", rate, gate.require_pass_rate, failed, gate.on_fail
        )

    def _split(
        self,
        suite: Suite,
        checked: _Checked,
        rows: int,
        counts: dict[str, Any],
        results: list[CheckResult],
        gate: GateResult | None,
    ) -> Outcome:
        """The rows that go on and those dropped or quarantined, as frames."""
        failing = checked.failing
        quarantine = q.any_of([failing[i] for i in self._row_tests(suite, "quarantine")])
        drop = q.any_of([failing[i] for i in self._row_tests(suite, "drop")])
        quarantined, dropped = int(counts["__lq_q"]), int(counts["__lq_d"])
        if gate is not None and gate.status == "blocked" and gate.action == "write_valid_only":
            anyf = q.any_of(list(failing.values()))
            if suite.quarantine is not None:
                quarantine = f"({quarantine}) OR (({anyf}) AND NOT ({drop}))"
                quarantined = int(counts["__lq_qg"])
            else:
                drop, dropped = anyf, int(counts["__lq_any"])
        out = Outcome(checked.table, rows, results, dropped, quarantined, gate=gate)
        if not (dropped or quarantined):
            return out  # every row goes on: the data as computed
        keep = f"NOT (({quarantine}) OR ({drop}))"
        text = q.rows_where(checked.table.name, checked.joins, checked.columns, keep)
        out.frame = self._sql(text, suite, "valid")
        if quarantined:
            names = {suite.checks[i].name: cond for i, cond in failing.items()}
            extra = (
                f", {spark.literal(self.run_id)} AS `_run_id`, {spark.literal(self.key)} AS "
                f"`_node`, {q.failed_tests_array(names)} AS `_failed_tests`, "
                f"{spark.literal(datetime.now(UTC), 'timestamp')} AS `_rejected_at`"
            )
            text = q.rows_where(
                checked.table.name, checked.joins, checked.columns, f"({quarantine})", extra
            )
            out.quarantine = self._sql(text, suite, "quarantine", cache=False)
        return out

    # -- helpers ---------------------------------------------------------------------------

    def _check_columns(self, suite: Suite, columns: list[str], refs: Mapping[str, Frame]) -> None:
        """Every column a test names exists (a foreign key's in the node it references)."""
        known = {c.lower() for c in columns}
        for check in suite.checks:
            test = check.test
            if check.ref is not None:
                theirs = [f.name for f in self.engine.arrow_schema(refs[check.ref])]
                if test.references.column.lower() not in {c.lower() for c in theirs}:
                    raise DataError(
                        f"test '{check.name}' references column '{test.references.column}' "
                        f"of node {check.ref}, which has no such column",
                        where=check.where,
                        hint=suggestion(test.references.column, theirs)
                        or f"columns: {', '.join(theirs)}",
                    )
            named = list(getattr(test, "columns", None) or [])
            if getattr(test, "column", None):
                named.append(test.column)
            if isinstance(test, SchemaTest):
                continue  # missing columns are what it reports
            for column in named:
                if column.lower() not in known:
                    raise DataError(
                        f"{suite.phase} test '{check.name}' names column '{column}', which "
                        f"the {'input' if suite.phase == 'contract' else 'output'} does not have",
                        where=check.where,
                        hint=suggestion(column, columns) or f"columns: {', '.join(columns)}",
                    )

    def _samples(
        self, checked: _Checked, condition: str, suite: Suite, i: int
    ) -> list[dict[str, Any]]:
        """Up to 5 failing rows from the start of the data (the whole table is not scanned
        for them: when the start holds none, the one row the counting pass kept is used)."""
        text = q.rows_where(
            checked.table.name, checked.joins, checked.columns, condition, scan=SAMPLE_SCAN
        )
        frame = self._sql(f"{text} LIMIT {SAMPLE_ROWS}", suite, f"sample{i}")
        return [
            {k: _jsonable(v) for k, v in r.items()} for r in self.engine.rows(frame, SAMPLE_ROWS)
        ]

    def _table(self, text: str, suite: Suite, what: str) -> Frame:
        """A query's result, computed once (a small table other queries join)."""
        table = self.engine.persist(self._sql(text, suite, what), self._name(suite, f"{what}:t"))
        self.local.append(table)
        return table

    def _sql(self, text: str, suite: Suite, what: str, *, cache: bool = True) -> Frame:
        query = self.translate(text) if cache else _translate_once(text, self.engine)
        frame = self.engine.sql(query, self._name(suite, what))
        self.local.append(frame)
        return frame

    def _name(self, suite: Suite, what: str) -> str:
        return f"{self.key}:{suite.phase}:{what}"


def _translate_once(text: str, engine: Engine) -> str:
    from lakestory.transforms.sql import parse_spark_sql, to_dialect

    return to_dialect(parse_spark_sql(text), {}, engine.capabilities.sql_dialect)


_WIDTHS = {"tinyint": 1, "smallint": 2, "int": 3, "bigint": 4, "float": 1, "double": 2}


def _fits(actual: str, expected: str) -> bool:
    """Whether a column of type ``actual`` satisfies ``expected``: the same type, or a
    narrower one of the same family (an int column holds what a bigint may), since engines
    infer different widths for the same file."""
    if actual == expected or (expected == "timestamp" and actual == "timestamp_ntz"):
        return True
    ints = ("tinyint", "smallint", "int", "bigint")
    same = {actual, expected} <= set(ints) or {actual, expected} <= {"float", "double"}
    return same and _WIDTHS[actual] <= _WIDTHS[expected]


def _between(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _age(delta: timedelta, scale: timedelta) -> str:
    """``delta`` in the largest unit that measures ``scale`` whole (1d, 36h, 90m), with
    two decimals at most, so an age and the allowed age compare at a glance."""
    size, unit = 1, "s"
    for name, seconds in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        whole = scale.total_seconds() / seconds
        if whole >= 1 and whole == int(whole):
            size, unit = seconds, name
            break
    value = f"{delta.total_seconds() / size:.2f}".rstrip("0").rstrip(".")
    return f"{value}{unit}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _failure(
    suite: Suite, failed: list[CheckResult], rows: int, results: list[CheckResult]
) -> QualityError:
    what = "contract" if suite.phase == "contract" else "test"
    scope = "the input" if suite.phase == "contract" else "the output"
    parts = []
    for r in failed:
        parts.append(f"- {r.name}: {r.message}" if r.failing is None else f"- {r.message}")
        if r.samples:
            parts.append(f"  e.g. {_row_text(r.samples[0])}")
    first = next(c for c in suite.checks if c.name == failed[0].name)
    if suite.phase == "contract":
        options = "`on_fail: warn` or `drop`"
    elif all(r.failing is None for r in failed):
        options = "`on_fail: warn`"
    else:
        options = "`on_fail` (warn, drop, quarantine)"
    if any(r.failing is not None for r in failed):
        options += " or a `threshold`"
    err = QualityError(
        f"{len(failed)} data-quality {what}{'s' if len(failed) > 1 else ''} failed on {scope} "
        f"({rows} rows); nothing was written",
        where=first.where,
        detail="\n".join(f"  {p}" for p in parts),
        hint=f"fix the data upstream, or set {options} on the test if such data is expected",
    )
    err.results = results
    return err


def _row_text(row: Mapping[str, Any], width: int = 110) -> str:
    text = ", ".join(f"{k}={'null' if v is None else v}" for k, v in row.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _gate_failure(suite: Suite, gate: GateResult, results: list[CheckResult]) -> QualityError:
    reasons = []
    if gate.required is not None and gate.pass_rate < gate.required:
        reasons.append(f"pass rate {gate.pass_rate:.2%} < required {gate.required:.2%}")
    reasons += [
        f"{name}: pass rate {v['actual']:.2%} < required {v['required']:.2%}"
        for name, v in gate.failed_thresholds.items()
    ]
    err = QualityError(
        "the quality gate blocked the write; nothing was written",
        where=suite.where,
        detail="\n".join(f"  - {r}" for r in reasons),
        hint="fix the data upstream, or set `gate.on_fail: write_valid_only` (write the "
        "passing rows) or `warn_and_write`",
    )
    err.results, err.gate = results, gate.to_dict()
    return err
