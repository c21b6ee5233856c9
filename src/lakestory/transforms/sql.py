"""Spark SQL front end: parse a SQL step, find the tables it reads, emit it for an engine.

Users write SQL steps in Spark SQL (Spark 4, ``spark.sql.ansi.enabled=false``). On DuckDB
the step is transpiled with sqlglot, and the rewrites of
:mod:`lakestory.transforms.spark_semantics` close the gaps where sqlglot's output would
answer differently from Spark. The DuckDB engine runs with
``SET TimeZone='UTC'`` and ``SET default_null_order='nulls_first_on_asc_last_on_desc'``;
under those settings timestamps and NULL ordering match Spark without rewriting. Spark's
TIMESTAMP is an instant, so it maps to DuckDB's TIMESTAMPTZ throughout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import cast

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ParseError, TokenError
from sqlglot.parsers.spark import SparkParser
from sqlglot.tokens import Token, TokenType

from lakestory.core.errors import SqlError, Where
from lakestory.core.text import suggestion
from lakestory.transforms.spark_semantics import SPARK_FIXES, Fix


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
    _apply_fixes(expression, SPARK_FIXES.get(dialect, {}))
    return expression.sql(dialect=dialect)


def predicate_to_dialect(text: str, dialect: str = "duckdb") -> str:
    """A Spark SQL boolean expression (a filter) in ``dialect``, with Spark's semantics."""
    import sqlglot

    expression = cast(exp.Expression, sqlglot.parse_one(text, read=_SPARK))
    _apply_fixes(expression, SPARK_FIXES.get(dialect, {}))
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
