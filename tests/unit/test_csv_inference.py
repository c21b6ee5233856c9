"""The CSV type rule in passes: the sample's answer is checked over all rows, and only when a
later value breaks it are the candidates after it tried. The result must equal the rule
applied to every row at once."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pytest

from lakestory.engines.duckdb.reading import _infer_types
from lakestory.engines.files import CANDIDATES, SAMPLE_ROWS, infer_types


def fake(columns: dict[str, list[str | None]], calls: list[int | None]):  # type: ignore[no-untyped-def]
    import re

    def fits(typ: str, value: str) -> bool:
        return re.fullmatch(dict(CANDIDATES)[typ], value.strip()) is not None

    def evaluate(
        plans: Mapping[str, list[str]], limit: int | None
    ) -> dict[str, tuple[str | None, bool]]:
        calls.append(limit)
        out: dict[str, tuple[str | None, bool]] = {}
        for name, plan in plans.items():
            values = [v for v in columns[name][: limit or None] if v is not None]
            ok = next((t for t in plan if all(fits(t, v) for v in values)), None)
            out[name] = (ok if values else None, bool(values))
        return out

    return evaluate


def test_a_value_past_the_sample_widens_the_type() -> None:
    ints = ["1"] * SAMPLE_ROWS + ["2.5"]  # INTEGER on the sample, DOUBLE over all rows
    late = [None] * SAMPLE_ROWS + ["2026-01-01"]
    text = ["a"] * 3
    calls: list[int | None] = []
    found = infer_types(
        ["ints", "late", "text", "empty"],
        fake({"ints": ints, "late": late, "text": text, "empty": [None]}, calls),
    )
    assert found == {"ints": "DOUBLE", "late": "DATE"}
    assert calls == [SAMPLE_ROWS, None, None]


def test_usually_two_passes() -> None:
    calls: list[int | None] = []
    found = infer_types(["n"], fake({"n": ["1", "2.5"]}, calls))
    assert found == {"n": "DOUBLE"} and calls == [SAMPLE_ROWS, None]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2"], "INTEGER"),
        (["1", "99999999999"], "BIGINT"),
        (["1", "123456789012345678901234"], "DECIMAL(38,0)"),
        (["1", "1.5e3"], "DOUBLE"),
        (["true", "FALSE"], "BOOLEAN"),
        (["2026-01-31", None], "DATE"),
        (["2026-01-31 10:00", "2026-01-31T10:00:00.5"], "TIMESTAMP"),
        (["1", "x"], "VARCHAR"),
        (["1"] * SAMPLE_ROWS + ["3000000000"], "BIGINT"),  # past the sample, past INTEGER
        ([None] * SAMPLE_ROWS + ["x"], "VARCHAR"),
    ],
)
def test_duckdb_applies_the_rule(values: list[str | None], expected: str) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (c VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    assert _infer_types(con, "t", ["c"]).get("c", "VARCHAR") == expected
