"""Column lineage of sensitive data: which output columns of a node's steps derive from a
sensitive column, so that samples can mask them too.

The analysis is by name and conservative. An output column is sensitive when its
expression references a sensitive column anywhere: functions, CASE, concatenation,
aggregates (``count(email)`` counts as derived), window clauses and scalar subqueries. A
``*`` (or ``t.*``) keeps the sensitive columns of what it expands, by name. CTEs,
subqueries in FROM, joins, LATERAL VIEW and set operations (by position) are followed.
Columns used only to filter, join, group or sort (WHERE, ON, GROUP BY) do not make an
output column sensitive: they do not carry values into it.

A step that cannot be analysed (it does not parse, or uses a construct this module does
not follow: VALUES, table functions, PIVOT, a ``*`` over a table whose every column is
sensitive) gives ``None`` when a sensitive column goes into it: *every* output column is
then treated as sensitive, from that step to the end of the node (and in the nodes whose
``df`` it becomes). A step that reads nothing sensitive gives nothing sensitive.

Sensitivity flows along ``df`` (a node without ``read:`` whose ``df`` is another node's
output inherits that node's sensitive output columns) and through the node names and
``inputs`` aliases a SQL step reads; a node that reads, with ``read:``, a table another
node wrote does not inherit it. A Python function step keeps the sensitive set as it is:
columns that keep a sensitive name stay sensitive, but new columns computed in Python from
sensitive ones are **not** traced.

Names are compared case-insensitively (as Spark does); the sets returned are lower case.

:func:`step_columns` and :func:`node_columns` follow the same constructs to say where each
output column comes from: the input fields (table, column) it derives from and how (a
copy, a computation, an aggregate), for OpenLineage's column lineage. They give None for
a step they cannot analyse (it does not parse, or uses LATERAL VIEW, PIVOT, VALUES or a
table function) and for Python steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from lakestory.transforms.sensitivity import Sensitive, names, through_steps
from lakestory.transforms.sql import parse_spark_sql

__all__ = [
    "Columns",
    "Sensitive",
    "names",
    "node_columns",
    "step_columns",
    "step_outputs",
    "through_steps",
]


class _Unknown(Exception):
    """A construct the analysis does not follow: be safe, everything is sensitive."""


@dataclass
class _Rel:
    """What a relation (table, CTE, subquery) gives: its known output columns in order, the
    sensitive ones among them, and whether it may have more columns than those listed (a
    table whose columns are unknown here; its unlisted columns are not sensitive)."""

    columns: list[str] = field(default_factory=list)
    sensitive: set[str] = field(default_factory=set)
    open: bool = False
    everything: bool = False  # every column is sensitive


def step_outputs(sql: str, tables: Mapping[str, Sensitive]) -> Sensitive:
    """The sensitive output columns of one Spark SQL step. ``tables`` gives the sensitivity
    of each table the step reads, by its (lower-case) dotted name as written: ``df``, a
    node or an ``inputs`` alias. Tables not listed have no sensitive column. None: the
    step could not be analysed, treat every output column as sensitive."""
    if all(v is not None and not v for v in tables.values()):
        return frozenset()  # nothing sensitive goes in: nothing sensitive comes out
    try:
        query = parse_spark_sql(sql).expression
        known = {k.lower(): v for k, v in tables.items()}
        rel = _query(query, known, {}, set())
    except Exception:  # noqa: BLE001 - anything unexpected: the safe answer
        return None
    if rel.everything:
        return None
    return frozenset(rel.sensitive)


# -- the analysis ------------------------------------------------------------------------


def _query(
    node: exp.Expr, tables: Mapping[str, Sensitive], ctes: Mapping[str, _Rel], outer: set[str]
) -> _Rel:
    """``outer``: sensitive names visible from enclosing queries (correlated references)."""
    if isinstance(node, exp.Subquery):
        return _query(node.this, tables, ctes, outer)
    with_ = node.args.get("with_")
    if with_ is not None:
        ctes = dict(ctes)
        for cte in with_.expressions:
            ctes[cte.alias_or_name.lower()] = _query(cte.this, tables, ctes, outer)
    if isinstance(node, exp.Select):
        return _select(node, tables, ctes, outer)
    if isinstance(node, exp.SetOperation):
        return _set_operation(node, tables, ctes, outer)
    raise _Unknown(type(node).__name__)


def _set_operation(
    node: exp.SetOperation,
    tables: Mapping[str, Sensitive],
    ctes: Mapping[str, _Rel],
    outer: set[str],
) -> _Rel:
    left = _query(node.this, tables, ctes, outer)
    right = _query(node.expression, tables, ctes, outer)
    if left.everything or right.everything:
        return _Rel(left.columns, set(left.columns), left.open, everything=True)
    if node.args.get("by_name"):
        return _Rel(left.columns, left.sensitive | right.sensitive, left.open or right.open)
    if not left.open and not right.open and len(left.columns) == len(right.columns):
        pairs = zip(left.columns, right.columns, strict=True)
        sensitive = {a for a, b in pairs if a in left.sensitive or b in right.sensitive}
        return _Rel(left.columns, sensitive, False)
    if not right.sensitive:
        return left
    raise _Unknown("set operation whose columns cannot be matched by position")


def _select(
    node: exp.Select, tables: Mapping[str, Sensitive], ctes: Mapping[str, _Rel], outer: set[str]
) -> _Rel:
    sources: dict[str, _Rel] = {}
    from_ = node.args.get("from_")
    for item in [from_.this] if from_ is not None else []:
        _add_source(sources, item, tables, ctes, outer)
    for join in node.args.get("joins") or []:
        _add_source(sources, join.this, tables, ctes, outer)
    visible = set(outer)
    for rel in sources.values():
        visible |= rel.sensitive
    for lateral in node.args.get("laterals") or []:
        alias = lateral.args.get("alias")
        cols = [c.name.lower() for c in alias.columns] if alias is not None else []
        if not cols:
            raise _Unknown("LATERAL VIEW without column names")
        derived = _derives(lateral.this, sources, tables, ctes, visible, set())
        name = alias.name.lower() if alias is not None and alias.name else f"_lateral{len(sources)}"
        sources[name] = _Rel(cols, set(cols) if derived else set())
        visible |= sources[name].sensitive
    out = _Rel()
    own: set[str] = set()  # sensitive aliases of this SELECT (lateral column aliases)
    for item in node.expressions:
        star = item if isinstance(item, exp.Star) else None
        if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            star = item.this
            picked = [sources[item.table.lower()]] if item.table.lower() in sources else None
            if picked is None:
                raise _Unknown(f"{item.table}.* of an unknown table")
        else:
            picked = list(sources.values())
        if star is not None:
            for rel in picked:
                if rel.everything:
                    raise _Unknown("* over a table whose every column is sensitive")
                out.columns += rel.columns
                out.sensitive |= rel.sensitive
                out.open = out.open or rel.open
            continue
        name = item.alias_or_name.lower()
        out.columns.append(name)
        if _derives(item, sources, tables, ctes, visible | outer, own):
            out.sensitive.add(name)
            own.add(name)
    return out


def _add_source(
    sources: dict[str, _Rel],
    item: exp.Expr,
    tables: Mapping[str, Sensitive],
    ctes: Mapping[str, _Rel],
    outer: set[str],
) -> None:
    if item.args.get("pivots"):
        raise _Unknown("PIVOT")  # its new columns are computed from values: not followed
    if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier):
        name = item.name.lower()
        dotted = ".".join(p.name.lower() for p in item.parts)
        if not item.args.get("db") and name in ctes:
            rel = ctes[name]
        elif dotted in tables or name in tables:
            found = tables[dotted] if dotted in tables else tables[name]
            rel = _Rel(open=True, everything=True) if found is None else _Rel([], set(found), True)
            rel.columns = sorted(rel.sensitive)
        else:
            rel = _Rel(open=True)  # a table with no sensitive column
        sources[item.alias_or_name.lower()] = rel
    elif isinstance(item, exp.Subquery):
        sources[item.alias_or_name.lower()] = _query(item.this, tables, ctes, outer)
    else:
        raise _Unknown(f"FROM {type(item).__name__}")


def _derives(
    node: exp.Expr,
    sources: Mapping[str, _Rel],
    tables: Mapping[str, Sensitive],
    ctes: Mapping[str, _Rel],
    visible: set[str],
    own: set[str],
) -> bool:
    """Whether the expression references a sensitive column (in nested queries too)."""
    if isinstance(node, exp.Query):
        rel = _query(node, tables, ctes, visible)
        return rel.everything or bool(rel.sensitive)
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        return _column_sensitive(node, sources, visible, own)
    return any(
        _derives(child, sources, tables, ctes, visible, own) for child in node.iter_expressions()
    )


def _column_sensitive(
    col: exp.Column, sources: Mapping[str, _Rel], visible: set[str], own: set[str]
) -> bool:
    name, table = col.name.lower(), col.table.lower()
    if table and table in sources:
        rel = sources[table]
        return rel.everything or name in rel.sensitive
    if not table:
        if any(rel.everything for rel in sources.values()):
            return True  # it may come from a table whose every column is sensitive
        return name in visible or name in own
    # an outer (correlated) reference, or a field of a struct column
    return name in visible or table in visible or table in own


# -- column lineage: where each output column comes from ---------------------------------
#
# The same walk as above, keeping for each output column the input fields it derives from
# instead of a yes/no. Used by OpenLineage's ``columnLineage`` facet (lakestory.observe).

Field = tuple[str, str]  # (a table as the SQL names it: "df", a node, an alias; a column)
# how a field reaches an output column, least to most changed: a copy, a computation, an
# aggregate (OpenLineage's DIRECT transformation subtypes)
IDENTITY, TRANSFORMATION, AGGREGATION = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}
Origins = dict[Field, str]  # field -> subtype


@dataclass
class Columns:
    """What a query (or a node's steps) gives: each listed output column's origins, and the
    tables whose columns a ``*`` passed through without being listed (their columns are
    unknown here): an output column that is not listed comes, by name, from those."""

    columns: dict[str, Origins] = field(default_factory=dict)
    passthrough: tuple[str, ...] = ()

    def origins(self, column: str) -> Origins:
        name = column.lower()
        if name in self.columns:
            return self.columns[name]
        return {(t, name): IDENTITY for t in self.passthrough}


def _merge(into: Origins, more: Origins, at_least: str = IDENTITY) -> None:
    for f, sub in more.items():
        sub = max(sub, at_least, key=_RANK.__getitem__)
        if f not in into or _RANK[sub] > _RANK[into[f]]:
            into[f] = sub


def step_columns(sql: str, tables: Mapping[str, Sequence[str] | None]) -> Columns | None:
    """The origins of the output columns of one Spark SQL step. ``tables`` gives the known
    columns of each table the step reads by its (lower-case) name as written (None or
    absent: unknown). None: the step could not be analysed."""
    try:
        query = parse_spark_sql(sql).expression
        known = {
            k.lower(): ([c.lower() for c in v] if v is not None else None)
            for k, v in tables.items()
        }
        return _c_query(query, known, {})
    except Exception:  # noqa: BLE001 - a construct not followed: lineage unknown
        return None


def node_columns(
    steps: Sequence[tuple[str, str]],
    tables: Mapping[str, Sequence[str] | None],
    analyse: Callable[[str, Mapping[str, Sequence[str] | None]], Columns | None] = step_columns,
) -> Columns | None:
    """The origins of a node's output columns through its ``(kind, text)`` steps, in terms
    of the tables the steps read (``df``: the node's input). Each step's output is the next
    step's ``df``. None when a step is not SQL (a Python function: not traced) or could not
    be analysed. No steps: the output is ``df``."""
    current = Columns(passthrough=("df",))
    for kind, text in steps:
        if kind != "sql":
            return None
        step_tables = dict(tables)
        step_tables["df"] = list(current.columns) if not current.passthrough else None
        step = analyse(text, step_tables)
        if step is None:
            return None
        current = _compose(step, current)
    return current


def _compose(step: Columns, before: Columns) -> Columns:
    """``step`` read ``df`` = ``before``: express it in terms of what ``before`` read."""

    def resolve(origins: Origins) -> Origins:
        out: Origins = {}
        for (table, col), sub in origins.items():
            _merge(out, before.origins(col) if table == "df" else {(table, col): sub}, sub)
        return out

    columns = {name: resolve(o) for name, o in step.columns.items()}
    passthrough: list[str] = []
    for t in step.passthrough:
        passthrough += list(before.passthrough) if t == "df" else [t]
    return Columns(columns, tuple(dict.fromkeys(passthrough)))


def _c_query(
    node: exp.Expr, tables: Mapping[str, list[str] | None], ctes: Mapping[str, Columns]
) -> Columns:
    if isinstance(node, exp.Subquery):
        return _c_query(node.this, tables, ctes)
    with_ = node.args.get("with_")
    if with_ is not None:
        ctes = dict(ctes)
        for cte in with_.expressions:
            ctes[cte.alias_or_name.lower()] = _c_query(cte.this, tables, ctes)
    if isinstance(node, exp.Select):
        return _c_select(node, tables, ctes)
    if isinstance(node, exp.SetOperation):
        left = _c_query(node.this, tables, ctes)
        right = _c_query(node.expression, tables, ctes)
        if node.args.get("by_name"):
            pairs = [(n, right.origins(n)) for n in left.columns]
        elif left.passthrough or right.passthrough or len(left.columns) != len(right.columns):
            raise _Unknown("set operation whose columns cannot be matched by position")
        else:
            pairs = list(zip(left.columns, right.columns.values(), strict=True))
        columns = {n: dict(left.columns[n]) for n in left.columns}
        for n, more in pairs:
            _merge(columns[n], more)
        return Columns(columns, left.passthrough)
    raise _Unknown(type(node).__name__)


def _c_select(
    node: exp.Select, tables: Mapping[str, list[str] | None], ctes: Mapping[str, Columns]
) -> Columns:
    if node.args.get("laterals"):
        raise _Unknown("LATERAL VIEW")
    sources: dict[str, Columns] = {}
    from_ = node.args.get("from_")
    items = [from_.this] if from_ is not None else []
    items += [j.this for j in node.args.get("joins") or []]
    for item in items:
        if item.args.get("pivots"):
            raise _Unknown("PIVOT")
        if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier):
            name = item.name.lower()
            dotted = ".".join(p.name.lower() for p in item.parts)
            if not item.args.get("db") and name in ctes:
                rel = ctes[name]
            else:
                table = dotted if dotted in tables or name not in tables else name
                cols = tables.get(table)
                rel = (
                    Columns({c: {(table, c): IDENTITY} for c in cols})
                    if cols is not None
                    else Columns(passthrough=(table,))
                )
            sources[item.alias_or_name.lower()] = rel
        elif isinstance(item, exp.Subquery):
            sources[item.alias_or_name.lower()] = _c_query(item.this, tables, ctes)
        else:
            raise _Unknown(f"FROM {type(item).__name__}")
    out = Columns()
    passthrough: list[str] = []
    for item in node.expressions:
        star = isinstance(item, exp.Star) or (
            isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        )
        if star:
            qualifier = item.table.lower() if isinstance(item, exp.Column) else ""
            if qualifier and qualifier not in sources:
                raise _Unknown(f"{qualifier}.* of an unknown table")
            for rel in [sources[qualifier]] if qualifier else list(sources.values()):
                for n, o in rel.columns.items():
                    out.columns.setdefault(n, dict(o))
                passthrough += rel.passthrough
            continue
        expr = item.this if isinstance(item, exp.Alias) else item
        found = _c_expr(expr, sources, tables, ctes, out.columns)
        if not isinstance(expr, exp.Column):
            at_least = AGGREGATION if _aggregates(expr) else TRANSFORMATION
            found = {f: max(s, at_least, key=_RANK.__getitem__) for f, s in found.items()}
        out.columns[item.alias_or_name.lower()] = found
    out.passthrough = tuple(dict.fromkeys(passthrough))
    return out


def _aggregates(expr: exp.Expr) -> bool:
    return any(isinstance(e, exp.AggFunc) for e in expr.walk())


def _c_expr(
    node: exp.Expr,
    sources: Mapping[str, Columns],
    tables: Mapping[str, list[str] | None],
    ctes: Mapping[str, Columns],
    own: Mapping[str, Origins],
) -> Origins:
    """The fields an expression's value derives from (nested queries too)."""
    out: Origins = {}
    if isinstance(node, exp.Query):
        for origins in _c_query(node, tables, ctes).columns.values():
            _merge(out, origins, TRANSFORMATION)
        return out
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        return _c_column(node, sources, own)
    if isinstance(node, exp.Window):
        node = node.this  # PARTITION BY / ORDER BY do not carry values
    for child in node.iter_expressions():
        _merge(out, _c_expr(child, sources, tables, ctes, own))
    return out


def _c_column(
    col: exp.Column, sources: Mapping[str, Columns], own: Mapping[str, Origins]
) -> Origins:
    name, table = col.name.lower(), col.table.lower()
    if table and table in sources:
        return dict(sources[table].origins(name))
    if table:
        return {}  # a correlated reference or a struct field: not followed
    listed = [rel for rel in sources.values() if name in rel.columns]
    if listed:
        return dict(listed[0].columns[name])
    open_ = [rel for rel in sources.values() if rel.passthrough]
    if len(open_) == 1 or (open_ and name not in own):
        # the only table whose columns are unknown here; with several, the first one
        return dict(open_[0].origins(name))
    return dict(own.get(name, {}))
