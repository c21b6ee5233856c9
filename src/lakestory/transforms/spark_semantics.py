"""The rewrites that make Spark SQL answer as Spark does on DuckDB (and the few Spark SQL
itself needs after sqlglot), applied by :func:`lakestory.transforms.sql.to_dialect`.

Each rewrite takes one sqlglot node and returns its replacement; ``SPARK_FIXES`` maps a
target dialect to its rewrites by node type. ``tests/unit/test_sql_frontend.py`` pins what
each one answers, and ``tests/integration/test_spark_reference.py`` checks those answers on
a real Spark.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.time import format_time

Fix = Callable[[Any], exp.Expression]  # rewrites one node so it answers as Spark does
_INTEGRAL = (exp.DType.TINYINT, exp.DType.SMALLINT, exp.DType.INT, exp.DType.BIGINT)


def _is_integral(node: exp.Expr) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    if isinstance(node, exp.Literal):
        return node.is_int
    return isinstance(node, exp.Cast) and node.to.this in _INTEGRAL


def _as_date(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.this == exp.DType.DATE:
        return node
    return exp.TryCast(this=node, to=exp.DataType.build("DATE"))


def _as_int(node: exp.Expression) -> exp.Expression:
    return node if _is_integral(node) else exp.TryCast(this=node, to=exp.DataType.build("INT"))


_DUCKDB_INTEGRAL = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
)  # fmt: skip


def _fix_cast(node: exp.Cast) -> exp.Expression:
    target = node.to.this
    if target in _INTEGRAL and not _is_integral(node.this):
        # Spark truncates toward zero ('3.7', 3.7 and 3.7D all cast to 3); DuckDB rounds (4).
        # DECIMAL(38, 18) holds every BIGINT exactly; out-of-range input gives NULL. A
        # column already integral needs none of it: `typeof` is folded when DuckDB plans the
        # query, so such a column takes the plain cast (10M values: 3 s less).
        exact = exp.TryCast(this=node.this.copy(), to=exp.DataType.build("DECIMAL(38, 18)"))
        truncated = exp.TryCast(this=exp.Trunc(this=exact), to=node.to.copy())
        if isinstance(node.this, exp.Literal):
            return truncated
        is_integral = exp.In(
            this=exp.Anonymous(this="typeof", expressions=[node.this.copy()]),
            expressions=[exp.Literal.string(t) for t in _DUCKDB_INTEGRAL],
        )
        plain = exp.TryCast(this=node.this.copy(), to=node.to.copy())
        return exp.Case(ifs=[exp.If(this=is_integral, true=plain)], default=truncated)
    if type(node) is exp.Cast and target == exp.DType.TIMESTAMP:
        # sqlglot reads to_timestamp(s) as CAST(s AS TIMESTAMP): make it NULL on bad input
        # and an instant, like every other Spark TIMESTAMP.
        return exp.TryCast(this=node.this, to=exp.DataType.build("TIMESTAMPTZ"))
    if target == exp.DType.DECIMAL and not isinstance(node.this, exp.Literal):
        return _double_to_decimal(node)
    return node


def _double_to_decimal(node: exp.Cast) -> exp.Expression:
    """Spark casts a DOUBLE to DECIMAL through its shortest decimal text, rounding half up
    (264.025 → 264.03); DuckDB rounds the binary value (264.02499... → 264.02). A column's
    type is not known here, so DuckDB decides per type: ``typeof`` is folded when the query
    is planned, and only DOUBLE and FLOAT values take the (slower) path through text."""
    value = node.this
    direct = exp.TryCast(this=value.copy(), to=node.to.copy())
    as_text = exp.TryCast(
        this=exp.Cast(this=value.copy(), to=exp.DataType.build("VARCHAR")), to=node.to.copy()
    )
    is_float = exp.In(
        this=exp.Anonymous(this="typeof", expressions=[value.copy()]),
        expressions=[exp.Literal.string("DOUBLE"), exp.Literal.string("FLOAT")],
    )
    return exp.Case(ifs=[exp.If(this=is_float, true=as_text)], default=direct)


# Spark's datetime pattern letters as sqlglot converts them ("MM" is "%mstrict", "M" is
# "%-m"): DuckDB's strptime/strftime code, and the text Spark accepts for it when parsing.
_TIME_CODES = {
    "%Y": ("%Y", r"\d{4}"), "%y": ("%y", r"\d{2}"), "%j": ("%j", r"\d{3}"),
    "%-j": ("%-j", r"\d{1,3}"), "%f": ("%f", r"\d{1,6}"), "%p": ("%p", "[AaPp][Mm]"),
    "%b": ("%b", "[A-Za-z]{3}"), "%a": ("%a", "[A-Za-z]{3}"),
    "%B": ("%B", "[A-Za-z]+"), "%A": ("%A", "[A-Za-z]+"),
    **{f"%{c}strict": (f"%{c}", r"\d{2}") for c in "mdHIMS"},
    **{f"%-{c}": (f"%-{c}", r"\d{1,2}") for c in "mdHIMS"},
}  # fmt: skip
_TIME_PARTS = re.compile(r"''|'(?:[^']|'')*'|%-?[A-Za-z](?:strict)?|%%|[A-Za-z]+|[^%'A-Za-z]+|%")


def _time_format(fmt: exp.Expression | None, parsing: bool) -> tuple[str, str] | None:
    """A Spark datetime pattern (a string literal, as sqlglot converted it) as DuckDB's
    format, and a regular expression for the text Spark parses with it: a fixed width where
    Spark wants one (``MM`` is two digits, ``M`` one or two), nothing around. None when the
    pattern has a part this does not know (zones...): then sqlglot's conversion is used."""
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        return None
    duck, pattern = [], []
    for part in _TIME_PARTS.findall(fmt.this):
        if part.startswith("'"):  # quoted text, or '' for one quote
            literal = "'" if part == "''" else part[1:-1].replace("''", "'")
            # sqlglot converted letters inside the quotes too ('at' -> '%pt'): undo that.
            literal = format_time(literal, Spark.INVERSE_TIME_MAPPING) or ""
            duck.append(literal.replace("%", "%%"))
            pattern.append(_regex_literal(literal))
        elif part in _TIME_CODES:
            duck.append(_TIME_CODES[part][0])
            pattern.append(_TIME_CODES[part][1])
        elif part == "%%" or (not part[0].isalpha() and "%" not in part):
            text = "%" if part == "%%" else part
            duck.append(text.replace("%", "%%"))
            pattern.append(_regex_literal(text))
        elif set(part) == {"S"} and len(part) <= 3 and (parsing or len(part) == 3):
            duck.append("%g")  # fraction of a second: up to 3 digits when parsing
            pattern.append(rf"\d{{1,{len(part)}}}")
        else:
            return None
    return "".join(duck), "".join(pattern)


def _regex_literal(text: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


def _parse_time(text: exp.Expression, fmt: exp.Expression | None) -> exp.Expression | None:
    """Spark's parse of ``text`` with the pattern ``fmt`` as a DuckDB TIMESTAMP, NULL where
    Spark's is NULL (wrong widths, extra text), or None when the pattern is not known."""
    converted = _time_format(fmt, parsing=True)
    if converted is None:
        return None
    duck, pattern = converted
    matches = exp.Anonymous(
        this="REGEXP_FULL_MATCH", expressions=[text.copy(), exp.Literal.string(pattern)]
    )
    checked = exp.Case(ifs=[exp.If(this=matches, true=text)])
    return exp.Anonymous(this="TRY_STRPTIME", expressions=[checked, exp.Literal.string(duck)])


def _fix_to_date(node: exp.TsOrDsToDate) -> exp.Expression:
    # sqlglot drops a format equal to its default ('yyyy-MM-dd') and casts instead, which also
    # accepts other layouts; parse with the format as written. Bad input is NULL in Spark.
    if node.args.get("format"):
        parsed = _parse_time(node.this, node.args["format"])
        if parsed is not None:
            return exp.cast(parsed, "DATE")
        return exp.StrToDate(this=node.this, format=node.args["format"], safe=True)
    node.set("safe", True)
    return node


def _fix_to_timestamp(node: exp.StrToTime) -> exp.Expression:
    # to_timestamp(s, fmt): NULL for bad input, and an instant.
    parsed = _parse_time(node.this, node.args.get("format"))
    if parsed is not None:
        return exp.cast(parsed, "TIMESTAMPTZ")
    node.set("safe", True)
    node.set("target_type", exp.DataType.build("TIMESTAMPTZ"))
    return node


def _fix_date_format(node: exp.TimeToStr) -> exp.Expression:
    # Quoted text ("yyyy-MM-dd'T'HH") and milliseconds (SSS) are missed by sqlglot.
    converted = _time_format(node.args.get("format"), parsing=False)
    if converted is None:
        return node
    return exp.Anonymous(this="STRFTIME", expressions=[node.this, exp.Literal.string(converted[0])])


def _fix_args(node: exp.Expression) -> exp.Expression:
    """Fixes that only change an argument of the node."""
    if isinstance(node, exp.Substring):
        # Spark: start 0 means 1 and a negative length gives ''; sqlglot's DuckDB output does
        # that when the node is flagged zero_start.
        node.set("zero_start", True)
    elif isinstance(node, exp.LastDay):
        node.set("this", _as_date(node.this))  # Spark accepts date strings
    elif isinstance(node, exp.Mod):
        node.set("expression", _nonzero(node.expression))  # Spark: x % 0 is NULL; DuckDB raises
    return node


# DuckDB's names (``typeof``) for the types Spark's unix_timestamp reads as they are.
_DUCKDB_NAIVE = ("DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")
_DUCKDB_INSTANT = ("TIMESTAMP WITH TIME ZONE",)


def _fix_unix_timestamp(node: exp.StrToUnix) -> exp.Expression:
    """unix_timestamp/to_unix_timestamp: whole seconds as BIGINT (truncated). A DATE or
    TIMESTAMP is read as it is (the pattern is ignored), text is parsed with the pattern,
    NULL when it does not parse. A column's type is not known here: DuckDB keeps the one
    branch for its type (``typeof`` is folded when it plans the query; every branch casts,
    so all bind). Each branch gives microseconds, so none converts between time zones."""
    moment: exp.Expression = node.this
    if isinstance(moment, exp.CurrentTimestamp) or _is_datetime(moment):
        return _seconds(moment)
    text = moment if _is_string(moment) else exp.cast(moment.copy(), "VARCHAR")
    fmt = node.args.get("format")
    parsed = _parse_time(text, fmt)
    if parsed is None:
        parsed = exp.StrToTime(this=text, format=fmt, safe=True)
    if _is_string(moment):
        return _seconds(parsed)
    branches = [
        exp.If(this=_type_in(moment, types), true=_seconds(exp.TryCast(this=moment.copy(), to=to)))
        for types, to in (
            (_DUCKDB_INSTANT, exp.DataType.build("TIMESTAMPTZ")),
            (_DUCKDB_NAIVE, exp.DataType.build("TIMESTAMP")),
        )
    ]
    return exp.Case(ifs=branches, default=_seconds(parsed))


def _type_in(node: exp.Expression, types: tuple[str, ...]) -> exp.Expression:
    typeof = exp.Anonymous(this="typeof", expressions=[node.copy()])
    return exp.In(this=typeof, expressions=[exp.Literal.string(t) for t in types])


def _seconds(moment: exp.Expression) -> exp.Expression:
    # Spark divides the microseconds, so before 1970 a fraction goes toward zero; DuckDB's
    # `//` on BIGINTs does that too.
    micros = exp.Anonymous(this="EPOCH_US", expressions=[moment])
    return exp.IntDiv(this=micros, expression=exp.Literal.number(1_000_000))


def _is_datetime(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.this in _TEMPORAL


def _is_string(node: exp.Expression) -> bool:
    return (isinstance(node, exp.Literal) and node.is_string) or (
        isinstance(node, exp.Cast) and node.to.this in (exp.DType.VARCHAR, exp.DType.TEXT)
    )


def _fix_date_add(node: exp.TsOrDsAdd) -> exp.Expression:
    # date_add/date_sub return DATE in Spark; DATE + INTERVAL is a TIMESTAMP in DuckDB.
    unit = node.args.get("unit")
    if unit is not None and unit.name.upper() != "DAY":
        return node
    return exp.Paren(this=exp.Add(this=_as_date(node.this), expression=_as_int(node.expression)))


def _fix_add_months(node: exp.AddMonths) -> exp.Expression:
    # DATE + INTERVAL is a TIMESTAMP in DuckDB; Spark's add_months returns DATE.
    months = exp.Anonymous(this="TO_MONTHS", expressions=[_as_int(node.expression)])
    return exp.cast(exp.Add(this=_as_date(node.this), expression=months), "DATE")


def _fix_day_of_week(node: exp.DayOfWeek) -> exp.Expression:
    # Spark dayofweek: 1 = Sunday .. 7 = Saturday; DuckDB's starts at 0.
    return exp.Paren(this=exp.Add(this=node, expression=exp.Literal.number(1)))


def _nonzero(node: exp.Expression) -> exp.Expression:
    return exp.Nullif(this=node, expression=exp.Literal.number(0))


def _fix_int_div(node: exp.IntDiv) -> exp.Expression:
    # Spark `a div b` truncates toward zero to a BIGINT, NULL when b = 0. DuckDB's `//` does
    # that only for integers (on decimals it is plain division), so compute (a - a % b) // b:
    # an exact multiple for every numeric type, rounded to drop floating-point noise.
    a, b = node.this, _nonzero(node.expression)
    a = exp.Paren(this=a) if isinstance(a, exp.Binary) else a
    multiple = exp.Sub(this=a, expression=exp.Mod(this=a.copy(), expression=b.copy()))
    whole = exp.IntDiv(this=exp.Paren(this=multiple), expression=b)
    return exp.cast(exp.Round(this=whole), "BIGINT")


def _fix_size(node: exp.ArraySize) -> exp.Expression:
    # size(NULL) is -1 in Spark unless ANSI mode (spark.sql.legacy.sizeOfNull=true); an INT.
    return _int_result(exp.Coalesce(this=node, expressions=[exp.Literal.number(-1)]))


def _fix_anonymous(node: exp.Anonymous) -> exp.Expression:
    name = node.name.upper()
    if name == "DATE_PART" and len(node.expressions) == 2:
        unit, moment = node.expressions
        if isinstance(unit, exp.Literal) and unit.is_string:
            return _extract(unit.this, moment)
    if name == "RAISE_ERROR":
        return exp.Anonymous(this="ERROR", expressions=node.expressions)
    if name == "WEEKDAY" and len(node.expressions) == 1:
        # Spark weekday: 0 = Monday .. 6 = Sunday; DuckDB's WEEKDAY starts at Sunday.
        isodow = exp.Anonymous(this="ISODOW", expressions=[_as_date(node.expressions[0])])
        return _int_result(exp.Sub(this=isodow, expression=exp.Literal.number(1)))
    return node


_TRUNC_UNITS = {"YEAR": "YEAR", "YYYY": "YEAR", "YY": "YEAR", "QUARTER": "QUARTER",
                "MONTH": "MONTH", "MM": "MONTH", "MON": "MONTH", "WEEK": "WEEK"}  # fmt: skip


def _fix_trunc(node: exp.DateTrunc) -> exp.Expression:
    """Spark's trunc(date, fmt) is a DATE, takes 'MM'/'YY' spellings, NULL for other units."""
    unit = node.args.get("unit")
    name = _TRUNC_UNITS.get(unit.name.upper()) if isinstance(unit, exp.Literal) else None
    if name is None:
        return exp.Null()
    day = exp.TryCast(this=node.this, to=exp.DataType.build("DATE"))
    truncated = exp.Anonymous(this="DATE_TRUNC", expressions=[exp.Literal.string(name), day])
    return exp.Cast(this=truncated, to=exp.DataType.build("DATE"))


def _int_result(node: exp.Expression) -> exp.Expression:
    """Spark's date parts, DATEDIFF, length, instr and size are INT; DuckDB's are BIGINT."""
    return exp.Cast(this=node, to=exp.DataType.build("INT"))


def _fix_count_if(node: exp.CountIf) -> exp.Expression:
    """Spark's COUNT_IF is a BIGINT, 0 over no rows; DuckDB's is a HUGEINT, NULL then."""
    return exp.Cast(
        this=exp.Coalesce(this=node, expressions=[exp.Literal.number(0)]),
        to=exp.DataType.build("BIGINT"),
    )


def _fix_months_between(node: exp.MonthsBetween) -> exp.Expression:
    """Spark rounds months_between to 8 decimals unless its third argument is false."""
    roundoff = node.args.get("roundoff")
    if isinstance(roundoff, exp.Boolean) and not roundoff.this:
        return node
    return exp.Round(this=node, decimals=exp.Literal.number(8))


_SECONDS = {"SECOND", "SECONDS", "S", "SEC", "SECS"}


def _extract(unit: str, moment: exp.Expression) -> exp.Expression:
    """Spark's extract(unit FROM moment) / date_part(unit, moment): INT, except SECOND, a
    DECIMAL(8, 6) with the fraction; DAYOFWEEK (DOW) counts from Sunday = 1."""
    upper = unit.upper()
    if upper in _SECONDS:
        micros = exp.Anonymous(this="MICROSECOND", expressions=[moment])
        seconds = exp.Div(this=micros, expression=exp.Literal.number(1_000_000))
        return exp.cast(seconds, "DECIMAL(8, 6)")
    if upper in ("DAYOFWEEK", "DOW"):
        day = exp.Anonymous(this="DAYOFWEEK", expressions=[moment])
        return _int_result(exp.Add(this=day, expression=exp.Literal.number(1)))
    part = exp.Anonymous(this="DATE_PART", expressions=[exp.Literal.string(unit), moment])
    return _int_result(part)


def _fix_extract(node: exp.Extract) -> exp.Expression:
    unit = node.this
    if isinstance(unit, exp.Var | exp.Literal | exp.Identifier | exp.Column):
        return _extract(unit.name, node.expression)
    return node


def _fix_window(node: exp.Window) -> exp.Expression:
    """Spark's row_number, rank, dense_rank and ntile are INT; DuckDB's are BIGINT."""
    if isinstance(node.this, exp.RowNumber | exp.Rank | exp.DenseRank | exp.Ntile):
        return _int_result(node)
    return node


_INT_RESULTS = (
    exp.DateDiff, exp.Year, exp.Quarter, exp.Month, exp.Day, exp.DayOfMonth, exp.DayOfYear,
    exp.WeekOfYear, exp.Length, exp.StrPosition,
)  # fmt: skip
_TEMPORAL = (exp.DType.DATE, exp.DType.TIMESTAMP, exp.DType.TIMESTAMPTZ)


def _fix_time_part(node: exp.Hour | exp.Minute | exp.Second) -> exp.Expression:
    """hour/minute/second take timestamp strings in Spark; an INT."""
    moment = node.this
    if not (isinstance(moment, exp.Cast) and moment.to.this in _TEMPORAL):
        node.set("this", exp.TryCast(this=moment, to=exp.DataType.build("TIMESTAMPTZ")))
    return _int_result(node)


def _fix_from_utc(node: exp.AtTimeZone) -> exp.Expression:
    # from_utc_timestamp: Spark gives an instant whose UTC reading is the zone's wall time.
    wall = exp.AtTimeZone(this=node.this, zone=_zone(node.args["zone"]))
    return exp.AtTimeZone(this=wall, zone=exp.Literal.string("UTC"))


def _fix_to_utc(node: exp.FromTimeZone) -> exp.Expression:
    # to_utc_timestamp: the UTC wall time of the input, read as the zone's local time.
    wall = exp.AtTimeZone(this=node.this, zone=exp.Literal.string("UTC"))
    return local_to_instant(wall, _zone(node.args["zone"]))


_OFFSET = re.compile(r"[+-]\d{1,2}(:?\d{2})?")


def _zone(zone: exp.Expression) -> exp.Expression:
    """A zone written as an offset ('+02:00') is ICU's 'GMT+02:00'; DuckDB refuses it bare."""
    if isinstance(zone, exp.Literal) and zone.is_string:
        return exp.Literal.string(f"GMT{zone.this}" if _OFFSET.fullmatch(zone.this) else zone.this)
    sign = exp.Anonymous(this="LEFT", expressions=[zone.copy(), exp.Literal.number(1)])
    is_offset = exp.In(this=sign, expressions=[exp.Literal.string("+"), exp.Literal.string("-")])
    gmt = exp.DPipe(this=exp.Literal.string("GMT"), expression=zone.copy())
    return exp.Case(ifs=[exp.If(this=is_offset, true=gmt)], default=zone)


def local_to_instant(wall: exp.Expression, zone: exp.Expression) -> exp.Expression:
    """DuckDB SQL for the instant (TIMESTAMPTZ) at which clocks in ``zone`` read ``wall``
    (a DuckDB TIMESTAMP, naive), chosen as Spark (java.time) chooses: a time that occurs
    twice (clocks going back) is the first of the two, one that never occurs (clocks
    going forward) is moved forward by the length of the gap.

    DuckDB's ``wall AT TIME ZONE zone`` moves a gap forward too, but takes the second of
    two. ``wall`` at the offset in force a day earlier is the first when the zone's clocks
    do read ``wall`` then; else DuckDB's answer stands. Any size of shift works (Lord
    Howe's is 30 minutes); two shifts within a day would not (no zone has them).
    """
    day = _interval("24", "HOUR")
    day_before = exp.Sub(this=_paren(wall.copy()), expression=day)
    at_offset_before = exp.Add(
        this=_paren(exp.AtTimeZone(this=_paren(day_before), zone=zone.copy())),
        expression=day.copy(),
    )
    reads_wall = exp.EQ(
        this=_paren(exp.AtTimeZone(this=_paren(at_offset_before.copy()), zone=zone.copy())),
        expression=wall.copy(),
    )
    duckdb_pick = exp.AtTimeZone(this=wall, zone=zone)
    return exp.Case(ifs=[exp.If(this=reads_wall, true=at_offset_before)], default=duckdb_pick)


def _paren(node: exp.Expression) -> exp.Expression:
    return node if isinstance(node, exp.Paren | exp.Column | exp.Literal) else exp.Paren(this=node)


def _interval(amount: str, unit: str) -> exp.Expression:
    return exp.Interval(this=exp.Literal.string(amount), unit=exp.Var(this=unit))


def _fix_get_json_object(node: exp.JSONExtractScalar) -> exp.Expression:
    # get_json_object is NULL for text that is not JSON; DuckDB's ->> stops the query.
    # A negative index finds nothing in Spark; DuckDB counts it from the end.
    path = node.expression
    if isinstance(path, exp.JSONPath) and any(
        isinstance(part, exp.JSONPathSubscript) and isinstance(part.this, int) and part.this < 0
        for part in path.expressions
    ):
        return exp.cast(exp.Null(), "VARCHAR")
    valid = exp.Anonymous(this="JSON_VALID", expressions=[node.this.copy()])
    return exp.Case(ifs=[exp.If(this=valid, true=node)])


_DUCKDB_FIXES: dict[type[exp.Expr], Fix] = {
    **dict.fromkeys(_INT_RESULTS, _int_result),
    exp.DateTrunc: _fix_trunc,
    exp.Cast: _fix_cast,
    exp.TryCast: _fix_cast,
    exp.TsOrDsToDate: _fix_to_date,
    exp.StrToTime: _fix_to_timestamp,
    exp.TimeToStr: _fix_date_format,
    exp.StrToUnix: _fix_unix_timestamp,
    exp.TsOrDsAdd: _fix_date_add,
    exp.AddMonths: _fix_add_months,
    exp.LastDay: _fix_args,
    exp.DayOfWeek: lambda node: _int_result(_fix_day_of_week(node)),
    exp.Mod: _fix_args,
    exp.IntDiv: _fix_int_div,
    exp.Substring: _fix_args,
    exp.ArraySize: _fix_size,
    exp.Anonymous: _fix_anonymous,
    exp.CountIf: _fix_count_if,
    exp.Window: _fix_window,
    exp.Extract: _fix_extract,
    exp.Hour: _fix_time_part,
    exp.Minute: _fix_time_part,
    exp.Second: _fix_time_part,
    exp.MonthsBetween: _fix_months_between,
    # format_string/printf take printf patterns ('%05d'); DuckDB's FORMAT takes '{}'.
    exp.Format: lambda node: exp.Anonymous(
        this="PRINTF", expressions=[node.this, *node.expressions]
    ),
    # signum is a DOUBLE in Spark.
    exp.Sign: lambda node: exp.cast(node, "DOUBLE"),
    # percentile interpolates (DOUBLE); percentile_approx gives a value of the column,
    # exactly so while there are fewer rows than its accuracy (10000).
    exp.Quantile: lambda node: exp.Anonymous(
        this="QUANTILE_CONT", expressions=[node.this, node.args["quantile"]]
    ),
    exp.ApproxQuantile: lambda node: exp.Anonymous(
        this="QUANTILE_DISC", expressions=[node.this, node.args["quantile"]]
    ),
    exp.AtTimeZone: _fix_from_utc,
    exp.FromTimeZone: _fix_to_utc,
    exp.JSONExtractScalar: _fix_get_json_object,
}


def _keep_to_date_format(node: exp.TsOrDsToDate) -> exp.Expression:
    """sqlglot writes to_date(s, 'yyyy-MM-dd') (or 'yyyy-MM-dd HH:mm:ss') back as to_date(s),
    which parses like a cast and so also takes '2024-1-5'; keep the pattern as written."""
    fmt = node.args.get("format")
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        return node
    pattern = format_time(fmt.this, Spark.INVERSE_TIME_MAPPING) or ""
    return exp.Anonymous(this="TO_DATE", expressions=[node.this, exp.Literal.string(pattern)])


# Rewrites that make each target dialect answer as Spark does, by dialect (for Spark itself:
# where sqlglot's Spark SQL would not mean what the user wrote).
SPARK_FIXES: dict[str, dict[type[exp.Expr], Fix]] = {
    "duckdb": _DUCKDB_FIXES,
    "spark": {exp.TsOrDsToDate: _keep_to_date_format},
}
