"""Dates and time zones: date_parts, date_trunc, date_add, date_diff, convert_time_zone."""

from __future__ import annotations

import zoneinfo
from typing import Literal

from pydantic import Field, field_validator

from lakestory.transforms.transformers import (
    Params,
    _add,
    _set,
    ident,
    literal,
    transformer,
)

# ---- dates ----------------------------------------------------------------------------

DatePart = Literal["year", "quarter", "month", "day", "dayofweek", "dayofyear", "hour", "minute"]


class DatePartsParams(Params):
    column: str = Field(min_length=1, description="a date or timestamp column")
    parts: list[DatePart] = Field(min_length=1, description="parts to add as <column>_<part>")


@transformer(DatePartsParams, {"column": "order_date", "parts": ["year", "month"]})
def date_parts(p: DatePartsParams) -> str:
    """Add columns with parts of a date (year, month, day, ...) named <column>_<part>."""
    exprs = {f"{p.column}_{part}": f"{part}({ident(p.column)})" for part in p.parts}
    return f"SELECT {_add(exprs)} FROM df"


class DateTruncParams(Params):
    column: str = Field(min_length=1, description="a date or timestamp column")
    unit: Literal["year", "quarter", "month", "week", "day", "hour"] = Field(
        description="truncate to the start of this unit"
    )
    to: str | None = Field(None, description="column to write (default: the same column)")


@transformer(DateTruncParams, {"column": "ordered_at", "unit": "month", "to": "order_month"})
def date_trunc(p: DateTruncParams) -> str:
    """Truncate a timestamp to the start of a unit (a timestamp)."""
    expr = f"date_trunc({literal(p.unit)}, {ident(p.column)})"
    return f"SELECT {_set(p.column, p.to, expr)} FROM df"


class DateAddParams(Params):
    column: str = Field(min_length=1, description="a date column")
    days: int = Field(description="days to add (negative to subtract)")
    to: str | None = Field(None, description="column to write (default: the same column)")


@transformer(DateAddParams, {"column": "order_date", "days": 30, "to": "due_date"})
def date_add(p: DateAddParams) -> str:
    """Add a number of days to a date."""
    expr = f"date_add({ident(p.column)}, {p.days})"
    return f"SELECT {_set(p.column, p.to, expr)} FROM df"


class DateDiffParams(Params):
    end: str = Field(min_length=1, description="the later date column")
    start: str = Field(min_length=1, description="the earlier date column")
    to: str = Field(min_length=1, description="column to write: days from start to end")


@transformer(DateDiffParams, {"end": "shipped_on", "start": "ordered_on", "to": "days_to_ship"})
def date_diff(p: DateDiffParams) -> str:
    """Add a column with the number of days between two dates."""
    expr = f"datediff({ident(p.end)}, {ident(p.start)})"
    return f"SELECT {_add({p.to: expr})} FROM df"


# ---- time zones -----------------------------------------------------------------------


def _zone(value: str) -> str:
    if value != "UTC" and value not in zoneinfo.available_timezones():
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris, UTC)")
    return value


class ConvertTimeZoneParams(Params):
    column: str = Field(min_length=1, description="a timestamp column (wall-clock time)")
    from_tz: str = Field("UTC", description="the IANA time zone the column's times are in")
    to_tz: str = Field(description="the IANA time zone to express them in")
    to: str | None = Field(None, description="column to write (default: the same column)")

    _zones = field_validator("from_tz", "to_tz")(_zone)


@transformer(
    ConvertTimeZoneParams,
    {"column": "ordered_at", "from_tz": "UTC", "to_tz": "Europe/Paris", "to": "ordered_local"},
)
def convert_time_zone(p: ConvertTimeZoneParams) -> str:
    """Convert wall-clock timestamps from one time zone to another, following daylight
    saving time. A time that occurs twice (clocks going back) is read as the first of the
    two; one that never occurs (clocks going forward) is moved forward by the gap."""
    col = f"CAST({ident(p.column)} AS timestamp)"
    # to_utc_timestamp reads a repeated wall time as the first on every engine (Spark's rule,
    # which lakestory's DuckDB translation follows for shifts of any size)
    utc = col if p.from_tz == "UTC" else f"to_utc_timestamp({col}, {literal(p.from_tz)})"
    expr = utc if p.to_tz == "UTC" else f"from_utc_timestamp({utc}, {literal(p.to_tz)})"
    return f"SELECT {_set(p.column, p.to, expr)} FROM df"
