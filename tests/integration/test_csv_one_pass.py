"""The one-pass CSV read gives the rule's types: the typed pass when the sample's answers
hold, the text path when a later or padded value breaks one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lakestory.engines.duckdb import reading
from lakestory.engines.files import SAMPLE_ROWS
from lakestory.io.specs import Location, Source


def read(
    tmp_path: Path, values: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[object], bool]:
    path = tmp_path / "f.csv"
    path.write_text("c,n\n" + "".join(f"{v},1\n" for v in values))
    con = duckdb.connect()
    typed: list[bool] = []
    original = reading._read_typed

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        rows = original(*args, **kwargs)
        typed.append(rows is not None)
        return rows

    monkeypatch.setattr(reading, "_read_typed", spy)
    reading.read_csv(con.cursor(), Source(Location("raw", "local", str(path), "f"), "csv"), "t", {})
    kind = con.execute("SELECT data_type FROM duckdb_columns() WHERE column_name = 'c'").fetchone()
    rows = [r[0] for r in con.execute("SELECT c FROM t").fetchall()]
    return str(kind[0]), rows, typed[0]


@pytest.mark.parametrize(
    ("values", "expected", "one_pass"),
    [
        (["1", "-2", "007"], "INTEGER", True),
        (["1"] * SAMPLE_ROWS + ["2.5"], "DOUBLE", False),  # broken past the sample
        (["1", " 2 "], "INTEGER", False),  # padded: the exact path
        (["2024-01-05", "infinity"], "VARCHAR", True),  # infinity casts, the pattern refuses
        (["true", " false", "TRUE "], "BOOLEAN", False),  # padded booleans read, not a crash
        ([""] * SAMPLE_ROWS + ["2024-01-05"], "DATE", True),  # no value in the sample
        (["1", "1_000"], "VARCHAR", True),
    ],
)
def test_one_pass_read_keeps_the_rule(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    values: list[str],
    expected: str,
    one_pass: bool,
) -> None:
    kind, rows, typed = read(tmp_path, values, monkeypatch)
    assert kind == expected and typed is one_pass
    assert len(rows) == len(values)
