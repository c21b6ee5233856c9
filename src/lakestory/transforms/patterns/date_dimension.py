"""The ``date_dimension`` pattern: a calendar table with one row per day between two dates.

The rows are generated in Spark SQL from integers only (a day number added to the start
date, calendar parts from ``year``/``month``/``dayofmonth``/``dayofweek``), and the day and
month names are literals, so every engine produces the same table whatever its locale.
``day_of_week`` is ISO: 1 = Monday … 7 = Sunday (Spark's own ``dayofweek`` starts on
Sunday); ``week_of_year`` and ``iso_year`` are ISO 8601 weeks (a week belongs to the year
of its Thursday, so 2024-12-30 is week 1 of 2025).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakestory.engines.base import Frame
from lakestory.transforms.patterns import PatternContext, pattern
from lakestory.transforms.transformers import ident, literal

MAX_DAYS = 100_000  # about 273 years: a guard against a mistyped year

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# column -> (Spark type, expression over the calendar parts of the inner query)
COLUMNS: dict[str, tuple[str, str]] = {
    "date_key": ("INT", "y * 10000 + m * 100 + dom"),
    "date": ("DATE", "d"),
    "day_of_week": ("INT", "dow"),
    "day_name": ("STRING", "{day_name}"),
    "day_of_month": ("INT", "dom"),
    "day_of_year": ("INT", "dayofyear(d)"),
    "week_of_year": ("INT", "weekofyear(d)"),
    "iso_year": ("INT", "year(date_add(d, 4 - dow))"),
    "month": ("INT", "m"),
    "month_name": ("STRING", "{month_name}"),
    "quarter": ("INT", "(m + 2) div 3"),
    "quarter_name": ("STRING", "concat('Q', CAST((m + 2) div 3 AS STRING))"),
    "year": ("INT", "y"),
    "year_month": (
        "STRING",
        "concat(CAST(y AS STRING), '-', lpad(CAST(m AS STRING), 2, '0'))",
    ),
    "fiscal_year": ("INT", "y + CASE WHEN m >= {fy_start} AND {fy_start} > 1 THEN 1 ELSE 0 END"),
    "fiscal_quarter": ("INT", "((m - {fy_start} + 12) % 12) div 3 + 1"),
    "fiscal_month": ("INT", "(m - {fy_start} + 12) % 12 + 1"),
    "is_weekend": ("BOOLEAN", "dow >= 6"),
    "is_month_start": ("BOOLEAN", "dom = 1"),
    "is_month_end": ("BOOLEAN", "last_day(d) = d"),
}


class DateDimensionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_date: date = Field(description="the first day (YYYY-MM-DD)")
    end_date: date = Field(description="the last day, included")
    fiscal_year_start_month: int = Field(
        default=1, ge=1, le=12, description="the month (1-12) a fiscal year starts in"
    )
    unknown_member: bool = Field(
        default=False, description="add a row with date_key 0 for unknown dates"
    )

    @model_validator(mode="after")
    def _range(self) -> DateDimensionParams:
        if self.end_date < self.start_date:
            raise ValueError(f"end_date ({self.end_date}) is before start_date ({self.start_date})")
        if (self.end_date - self.start_date).days >= MAX_DAYS:
            raise ValueError(f"the range spans more than {MAX_DAYS} days: check the years")
        return self


def _case(value: str, names: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {i} THEN {literal(n)}" for i, n in enumerate(names, 1))
    return f"CASE {value} {whens} END"


def calendar_sql(p: DateDimensionParams) -> str:
    """The Spark SQL that makes the table's rows (without the unknown member)."""
    days = (p.end_date - p.start_date).days
    parts = {
        "day_name": _case("dow", DAYS),
        "month_name": _case("m", MONTHS),
        "fy_start": str(p.fiscal_year_start_month),
    }
    select = ", ".join(
        f"CAST({expr.format(**parts)} AS {kind}) AS {ident(name)}"
        for name, (kind, expr) in COLUMNS.items()
    )
    start = f"DATE {literal(p.start_date.isoformat())}"
    return (
        f"SELECT {select} FROM (SELECT d, year(d) AS y, month(d) AS m, dayofmonth(d) AS dom, "
        "(dayofweek(d) + 5) % 7 + 1 AS dow FROM (SELECT CAST(date_add("
        f"{start}, CAST(i AS INT)) AS DATE) AS d FROM (SELECT explode(sequence(0, {days})) AS i) "
        "AS days) AS dates) AS parts"
    )


def unknown_sql() -> str:
    """The unknown member: date_key 0, names 'Unknown', every other attribute NULL."""
    values = []
    for name, (kind, _) in COLUMNS.items():
        value = "0" if name == "date_key" else "'Unknown'" if kind == "STRING" else "NULL"
        values.append(f"CAST({value} AS {kind}) AS {ident(name)}")
    return "SELECT " + ", ".join(values)


def _write(_: DateDimensionParams) -> dict[str, Any]:
    return {"mode": "overwrite"}


@pattern(
    DateDimensionParams,
    {"start_date": "2020-01-01", "end_date": "2030-12-31", "fiscal_year_start_month": 7},
    needs_input=False,
    write=_write,
)
def date_dimension(ctx: PatternContext, p: DateDimensionParams, df: Frame | None) -> Frame:
    """A calendar table (`date_key` yyyymmdd, `date`, ISO day of week and week, month,
    quarter, year, fiscal year and quarter, weekend and month start/end flags), one row per
    day from `start_date` to `end_date`, rebuilt on every run.

    The rows are the same on every engine; with `unknown_member: true` a row with
    `date_key` 0 stands for a missing or unknown date.
    """
    query = calendar_sql(p)
    if p.unknown_member:
        query = f"{unknown_sql()} UNION ALL {query}"
    days = (p.end_date - p.start_date).days + 1
    ctx.note(f"{days} days from {p.start_date} to {p.end_date}")
    return ctx.sql(query, "calendar")
