"""Spark SQL front end: parse a SQL step, find the tables it reads, emit it for an engine.

Users write SQL steps in Spark SQL (Spark 4, ``spark.sql.ansi.enabled=false``). On DuckDB
the step is transpiled with sqlglot, and a few rewrites (``_DUCKDB_FIXES``) close the gaps where
sqlglot's output would answer differently from Spark. The DuckDB engine runs with
``SET TimeZone='UTC'`` and ``SET default_null_order='nulls_first_on_asc_last_on_desc'``;
under those settings timestamps and NULL ordering match Spark without rewriting. Spark's
TIMESTAMP is an instant, so it maps to DuckDB's TIMESTAMPTZ throughout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ParseError, TokenError
from sqlglot.parsers.spark import SparkParser
from sqlglot.time import format_time
from sqlglot.tokens import Token, TokenType

from lakestory.core.errors import SqlError, Where
from lakestory.core.text import suggestion


class _SparkSql(Spark):
    """Spark SQL as Spark 4 reads it: a doubled quote inside a string is one quote
    (``'it''s'`` is ``it's``); quoted strings with a space between them still concatenate.
    ``to_unix_timestamp`` reads its pattern as ``unix_timestamp`` does. A get_json_object
    path that does not start with ``$`` finds nothing (sqlglot would put a ``$`` before it)."""

    class Tokenizer(Spark.Tokenizer):
        STRING_ESCAPES = ["\\", "'", '"']

    class Parser(SparkParser):
        FUNCTIONS = {
            **SparkParser.FUNCTIONS,
            "TO_UNIX_TIMESTAMP": SparkParser.FUNCTIONS["UNIX_TIMESTAMP"],
            "GET_JSON_OBJECT": lambda args, dialect: _get_json_object(args, dialect),
        }


def _get_json_object(args: list[exp.Expression], dialect: Dialect) -> exp.Expression:
    path = args[1] if len(args) > 1 else None
    if isinstance(path, exp.Literal) and path.is_string and not path.this.startswith("$"):
        return exp.cast(exp.Null(), "STRING")
    return cast(exp.Expression, SparkParser.FUNCTIONS["GET_JSON_OBJECT"](args, dialect))


_SPARK: Dialect = _SparkSql()
Fix = Callable[[Any], exp.Expression]  # rewrites one node so it answers as Spark does
_INTEGRAL = (exp.DType.TINYINT, exp.DType.SMALLINT, exp.DType.INT, exp.DType.BIGINT)
_KEYWORDS = (
    "SELECT", "FROM", "WHERE", "GROUP", "ORDER", "HAVING", "JOIN", "LEFT", "RIGHT", "INNER",
    "OUTER", "UNION", "LIMIT", "WITH", "CASE", "WHEN", "THEN", "ELSE", "DISTINCT", "PARTITION",
)  # fmt: skip
_CLASS_NAME = re.compile(r"<class '[\w.]*?(\w+)'>")
_OPENERS = {"'": "string", '"': "string", "`": "quoted identifier", "/*": "comment"}
# Comments, complete strings (Spark strings take backslash escapes and doubled quotes) and
# identifiers, else a lone opener: the first lone opener is where the tokenizer ran off the
# end of the text.
_LEXEMES = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:\\.|''|[^'\\])*+'|\"(?:\\.|\"\"|[^\"\\])*+\"|`[^`]*`|/\*|['\"`]",
    re.S,
)


@dataclass(frozen=True)
class TableRef:
    """A table the query reads, as written, with its 1-based position in the SQL text."""

    name: str
    qualifier: str | None  # the database part of ``silver.orders`` ("cat.db" with a catalog)
    line: int
    column: int


@dataclass(frozen=True)
class ParsedSql:
    """One parsed Spark SQL query and the tables it reads (CTE names excluded)."""

    text: str
    expression: exp.Expression
    table_refs: tuple[TableRef, ...]


def parse_spark_sql(text: str) -> ParsedSql:
    """Parse one Spark SQL SELECT query (it may start with WITH).

    Raises :class:`SqlError` located at the 1-based line and column of the problem, with an
    excerpt of the SQL and a caret under that column as ``detail``.
    """
    tokens = _tokenize(text)
    statements = _parse(text, tokens)
    if not statements:
        raise SqlError("SQL is empty", where=Where(line=1, column=1), hint="write a SELECT query")
    if len(statements) > 1:
        raise _located(
            f"SQL holds {len(statements)} statements; a SQL step is one query",
            text,
            _second_statement_offset(tokens),
            hint="split the statements into separate steps",
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query) or not isinstance(statement, exp.Expression):
        kind = statement.key.upper()
        raise _located(f"a SQL step must be a SELECT query, not {kind}", text, tokens[0].start)
    _reject_unportable(statement, text)
    return ParsedSql(text, statement, _table_refs(statement, text))


def row_condition_problem(condition: str) -> str | None:
    """Why a Spark SQL condition cannot judge one row on its own (it aggregates, uses a
    window or a subquery), or None when it can. Raises :class:`SqlError` when it does not
    parse."""
    where = parse_spark_sql(f"SELECT * FROM df WHERE ({condition})").expression.args["where"]
    for node in where.walk():
        if isinstance(node, exp.Window):
            return f"it uses a window function ({node.sql('spark')})"
        if isinstance(node, exp.AggFunc):
            return f"it uses the aggregate {node.sql('spark')}"
        if isinstance(node, exp.Query):
            return "it holds a subquery"
    return None


# Functions whose values depend on Spark's own algorithm: on another engine they would
# silently give different numbers (e.g. surrogate keys), so they are refused outright.
_UNPORTABLE = {"hash": "Spark's murmur3 hash", "xxhash64": "Spark's xxhash64"}


def _reject_unportable(statement: exp.Expression, text: str) -> None:
    for call in statement.find_all(exp.Anonymous):
        name = str(call.this).lower()
        if name in _UNPORTABLE:
            found = re.search(rf"\b{name}\s*\(", text, re.I)
            raise _located(
                f"{name}() gives {_UNPORTABLE[name]} values, which other engines cannot reproduce",
                text,
                found.start() if found else 0,
                hint="for portable keys use md5(...) or sha2(..., 256) on the columns",
            )


def _tokenize(text: str) -> list[Token]:
    try:
        return _SPARK.tokenize(text)
    except TokenError as error:
        offset, what = _unterminated(text)
        raise _located(f"SQL syntax error: {what}", text, offset) from error


def _parse(text: str, tokens: list[Token]) -> list[exp.Expr]:
    # With the whole text as context, an error's start_context is exactly text[:offset].
    parser = _SPARK.parser(error_message_context=len(text))
    try:
        parsed = parser.parse(tokens, text)
    except ParseError as error:
        info = error.errors[0] if error.errors else {}
        offset = len(info.get("start_context") or "")
        # "missing for <class 'sqlglot.expressions.core.EQ'>" reads better as "missing for EQ"
        description = _CLASS_NAME.sub(r"\1", info.get("description") or str(error))
        hint = _keyword_hint(text, offset)
        raise _located(f"SQL syntax error: {description}", text, offset, hint=hint) from error
    return [statement for statement in parsed if statement is not None]


def _unterminated(text: str) -> tuple[int, str]:
    """Where the string, quoted identifier or comment that never ends starts (best effort)."""
    for match in _LEXEMES.finditer(text):
        if match.group() in _OPENERS:  # only an opener that found no closer matches alone
            return match.start(), f"unterminated {_OPENERS[match.group()]}"
    return max(len(text) - 1, 0), "unreadable SQL"


def _keyword_hint(text: str, offset: int) -> str | None:
    """``did you mean 'FROM'?`` for a misspelt keyword just before the error or at the start."""
    words = re.findall(r"[A-Za-z_]+", text[:offset])
    for word in (words[-1:] + words[:1]) if words else []:
        if len(word) >= 3 and word.upper() not in _KEYWORDS:
            hint = suggestion(word.upper(), _KEYWORDS)
            if hint:
                return hint
    return None


def _second_statement_offset(tokens: list[Token]) -> int:
    seen = ended = False
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            ended = seen
        elif ended:
            return token.start
        else:
            seen = True
    return 0


def _position(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _located(what: str, text: str, offset: int, hint: str | None = None) -> SqlError:
    line, column = _position(text, offset)
    return SqlError(
        what, where=Where(line=line, column=column), hint=hint, detail=_excerpt(text, line, column)
    )


def _excerpt(text: str, line: int, column: int) -> str:
    """Up to two lines before ``line``, the line itself, and a caret under ``column``."""
    lines = text.split("\n")
    width = len(str(line))
    shown = [f"{n:>{width}} | {lines[n - 1]}" for n in range(max(1, line - 2), line + 1)]
    pad = "".join("\t" if c == "\t" else " " for c in lines[line - 1][: column - 1])
    return "\n".join([*shown, f"{' ' * width} | {pad}^"])


def _table_refs(expression: exp.Expression, text: str) -> tuple[TableRef, ...]:
    refs: dict[tuple[str | None, str], TableRef] = {}
    for table in sorted(_external_tables(expression), key=_offset):
        line, column = _position(text, _offset(table)) if _offset(table) < len(text) else (1, 1)
        ref = TableRef(table.name, _qualifier(table), line, column)
        refs.setdefault(_key(ref.qualifier, ref.name), ref)
    return tuple(refs.values())


def _external_tables(expression: exp.Expression) -> Iterator[exp.Table]:
    """Tables read from outside the query: named tables that are not CTE references."""
    for table in expression.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier) and not _is_cte_ref(table):
            yield table


def _is_cte_ref(table: exp.Table) -> bool:
    """Whether an unqualified name resolves to a CTE visible where it is used.

    A CTE body sees only the CTEs defined before it, as in Spark, so
    ``WITH orders AS (SELECT * FROM orders)`` reads the table ``orders``.
    """
    if table.args.get("db"):
        return False
    name = table.name.lower()
    child: exp.Expr = table
    node = table.parent
    while node is not None:
        visible: list[exp.CTE] = []
        if isinstance(node, exp.With) and isinstance(child, exp.CTE):
            visible = node.expressions[: child.index or 0]
        elif isinstance(node, exp.Query) and child is not node.args.get("with_"):
            visible = node.ctes
        if any(cte.alias_or_name.lower() == name for cte in visible):
            return True
        child, node = node, node.parent
    return False


def _offset(table: exp.Table) -> int:
    start = table.parts[0].meta.get("start")
    return start if isinstance(start, int) else 1 << 30


def _qualifier(node: exp.Table | exp.Column) -> str | None:
    return ".".join(part for part in (node.catalog, node.db) if part) or None


def _key(qualifier: str | None, name: str) -> tuple[str | None, str]:
    return (qualifier.lower() if qualifier else None, name.lower())


def to_dialect(
    parsed: ParsedSql, tables: Mapping[tuple[str | None, str], str], dialect: str = "duckdb"
) -> str:
    """SQL text for ``dialect`` with table references swapped for physical names.

    Each reference whose ``(qualifier, name)`` is in ``tables`` (case-insensitive) becomes the
    quoted physical name, aliased to the name as written when it had no alias, so
    ``orders.id`` keeps resolving. Other references and CTE names are left alone. For DuckDB
    the Spark-semantics rewrites are applied too.
    """
    expression = parsed.expression.copy()
    _replace_tables(expression, {_key(q, n): physical for (q, n), physical in tables.items()})
    _apply_fixes(expression, _SPARK_FIXES.get(dialect, {}))
    return expression.sql(dialect=dialect)


def predicate_to_dialect(text: str, dialect: str = "duckdb") -> str:
    """A Spark SQL boolean expression (a filter) in ``dialect``, with Spark's semantics."""
    import sqlglot

    expression = cast(exp.Expression, sqlglot.parse_one(text, read=_SPARK))
    _apply_fixes(expression, _SPARK_FIXES.get(dialect, {}))
    return expression.sql(dialect=dialect)


def _replace_tables(expression: exp.Expression, lookup: dict[tuple[str | None, str], str]) -> None:
    qualified: set[tuple[str | None, str]] = set()
    for table in list(_external_tables(expression)):
        key = _key(_qualifier(table), table.name)
        if key not in lookup:
            continue
        if not table.alias:
            table.set("alias", exp.TableAlias(this=table.this.copy()))
        table.set("this", exp.to_identifier(lookup[key], quoted=True))
        table.set("db", None)
        table.set("catalog", None)
        if key[0] is not None:
            qualified.add(key)
    # Spark accepts silver.orders.id; once orders is an alias, the column is orders.id.
    for column in expression.find_all(exp.Column):
        if column.args.get("db") and _key(_qualifier(column), column.table) in qualified:
            column.set("db", None)
            column.set("catalog", None)


def _apply_fixes(root: exp.Expression, fixes: Mapping[type[exp.Expr], Fix]) -> None:
    """Rewrite nodes bottom-up (children first), so nested calls are all fixed."""
    for node in reversed(list(root.walk())):
        fix = fixes.get(type(node))
        if fix is None:
            continue
        parent, key, index = node.parent, node.arg_key, node.index
        new = fix(node)
        if new is not node and parent is not None and key is not None:
            parent.set(key, new, index)


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
_SPARK_FIXES: dict[str, dict[type[exp.Expr], Fix]] = {
    "duckdb": _DUCKDB_FIXES,
    "spark": {exp.TsOrDsToDate: _keep_to_date_format},
}
