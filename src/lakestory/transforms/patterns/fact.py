"""The ``fact`` pattern: a fact table at a declared grain, with each dimension's natural key
replaced by its surrogate key.

Each entry of ``dimensions`` joins a source column to a dimension node's natural key (the
node's table, written before this node runs) and outputs the member's surrogate key. The
dimension's own pattern gives the defaults: a ``dimension`` node its ``natural_key``,
``surrogate_key`` and, for ``scd_type: 2``, its validity columns (the version valid at the
fact's ``date_column`` is taken; a fact dated before a member's first version takes that
first version, and a row whose date is NULL takes the current version); a
``date_dimension`` node joins on ``date`` and gives ``date_key``, whatever the fact's column
holds (a DATE, a TIMESTAMP, an ISO string, or an integer yyyymmdd). A node without a
pattern can be looked up too when ``natural_key`` and ``surrogate_key`` are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakestory.core.errors import SqlError
from lakestory.core.text import plural, suggestion
from lakestory.engines.base import Frame
from lakestory.transforms.patterns import LookedUp, PatternContext, pattern
from lakestory.transforms.sql import parse_spark_sql
from lakestory.transforms.transformers import ident

SAMPLE_KEYS = 5  # orphan and duplicate keys named in an error


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class DimensionLookup(BaseModel):
    """One dimension of the fact: ``source_column`` (of the fact) → ``dimension`` (a node)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source_column: list[str] = Field(min_length=1)
    dimension: str
    surrogate_key: str | None = None
    natural_key: list[str] | None = None
    as_: str | None = Field(default=None, alias="as")
    date_column: str | None = None

    _one_or_many = field_validator("source_column", "natural_key", mode="before")(
        classmethod(lambda cls, v: _listed(v))
    )

    @model_validator(mode="after")
    def _same_length(self) -> DimensionLookup:
        if self.natural_key is not None and len(self.natural_key) != len(self.source_column):
            raise ValueError(
                f"source_column has {len(self.source_column)} columns but natural_key has "
                f"{len(self.natural_key)}: they are joined pairwise"
            )
        return self

    @property
    def output(self) -> str | None:
        """The output column, when the params name it (else the dimension's surrogate key)."""
        return self.as_ or self.surrogate_key


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    expr: str | None = None  # None: the source column of that name, unchanged

    @model_validator(mode="after")
    def _parses(self) -> Measure:
        if self.expr is not None:
            try:
                parse_spark_sql(f"SELECT {self.expr} AS x FROM df")
            except SqlError as exc:
                raise ValueError(f"measure '{self.name}': {exc.what}") from None
        return self

    def sql(self) -> str:
        return f"{self.expr if self.expr is not None else ident(self.name)} AS {ident(self.name)}"


def _measure(value: Any) -> Any:
    """A column name, ``{name: expr}`` or ``{name: ..., expr: ...}`` as ``{name, expr}``."""
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict) and len(value) == 1 and not {"name", "expr"} & set(value):
        ((name, expr),) = value.items()
        return {"name": name, "expr": expr}
    return value


class FactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grain: list[str] = Field(min_length=1, description="the column(s) that identify a fact row")
    on_duplicate_grain: Literal["fail", "quarantine"] = Field(
        "fail", description="a repeated grain key stops the node, or its rows are quarantined"
    )
    dimensions: list[DimensionLookup] = Field(
        default_factory=list,
        description="[{source_column, dimension, natural_key?, surrogate_key?, as?, "
        "date_column?}]: natural key → surrogate key",
    )
    orphan_handling: Literal["unknown", "reject", "quarantine"] = Field(
        "unknown", description="a key with no member: key 0, stop the node, or quarantine the row"
    )
    measures: list[Measure] = Field(
        default_factory=list,
        description="columns kept: name, {name: expr} or {name, expr} (Spark SQL)",
    )
    keep_source_columns: bool = Field(
        False, description="also keep the other source columns, after the measures"
    )

    _grain = field_validator("grain", mode="before")(classmethod(lambda cls, v: _listed(v)))

    @field_validator("measures", mode="before")
    @classmethod
    def _measures(cls, value: Any) -> Any:
        return [_measure(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _names(self) -> FactParams:
        seen: dict[str, str] = {}
        named = [(g, "grain") for g in self.grain]
        for i, d in enumerate(self.dimensions):
            twin = next((e for e in self.dimensions[:i] if e.dimension == d.dimension), None)
            if twin is not None and (d.output is None or twin.output is None):
                raise ValueError(
                    f"dimensions[{i}]: {d.dimension} is looked up twice; give each lookup "
                    "its own output column with `as:`"
                )
            if d.output is not None:
                named.append((d.output, f"dimensions[{i}].as"))
        named += [(m.name, "measures") for m in self.measures]
        for name, where in named:
            if name in seen:
                raise ValueError(
                    f"the output column '{name}' comes from both {seen[name]} and {where}"
                )
            seen[name] = where
        return self


def _lookups(p: FactParams) -> dict[str, str]:
    return {_alias(i): d.dimension for i, d in enumerate(p.dimensions)}


def _alias(i: int) -> str:
    return f"dimensions[{i}]"


def _output(i: int, d: DimensionLookup, looked_up: LookedUp) -> str:
    """The output column of lookup ``i``: its `as:`, or the looked-up dimension's key."""
    found = looked_up.get(_alias(i))
    if d.output is None and found is not None:
        kind, params = found
        key = params.get("surrogate_key") if kind == "dimension" else None
        output = "date_key" if kind == "date_dimension" else key
        if isinstance(output, str):
            return output
    if d.output is None:
        raise ValueError(
            f"dimensions[{i}] ({d.dimension}): orphan_handling: quarantine checks each key "
            "column by name, and this lookup's is not known: give it `surrogate_key:` or `as:`"
        )
    return d.output


def _tests(p: FactParams, looked_up: LookedUp) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    if p.on_duplicate_grain == "quarantine":
        tests.append(
            {
                "type": "unique",
                "columns": p.grain,
                "on_fail": "quarantine",
                "name": f"fact grain ({', '.join(p.grain)}) is unique",
            }
        )
    if p.orphan_handling == "quarantine":
        for i, d in enumerate(p.dimensions):
            output = _output(i, d, looked_up)
            tests.append(
                {
                    "type": "not_null",
                    "columns": [output],
                    "on_fail": "quarantine",
                    "name": f"{output}: {', '.join(d.source_column)} found in {d.dimension}",
                }
            )
    return tests


def _lineage(p: FactParams) -> str:
    """The fact's output columns as derived from its data's (dimension keys come from the
    dimensions' tables: only their surrogate keys, which derive from no data column)."""
    items = [ident(g) for g in p.grain] + [m.sql() for m in p.measures]
    if p.keep_source_columns:
        items.append("*")
    return f"SELECT {', '.join(items)} FROM df"


@dataclass
class Join:
    """A dimension lookup resolved against the tables: its SQL pieces."""

    index: int
    lookup: DimensionLookup
    frame: Frame
    natural_key: list[str]
    surrogate_key: str
    output: str
    keys: list[str]  # fact-side expressions, one per natural key column
    as_text: list[bool]  # compare that key column as text (one side is text, the other not)
    scd2: tuple[str, str, str] | None = None  # valid_from, valid_to, fact date expression

    @property
    def sk(self) -> str:
        return f"__ls_sk{self.index}"


@pattern(
    FactParams,
    {
        "grain": ["order_id"],
        "dimensions": [
            {"source_column": "customer_id", "dimension": "dim_customer", "date_column": "ts"},
            {"source_column": "order_date", "dimension": "dim_date"},
        ],
        "orphan_handling": "unknown",
        "measures": ["quantity", {"revenue": "quantity * unit_price"}],
    },
    lookups=_lookups,
    tests=_tests,
    lineage=_lineage,
)
def fact(ctx: PatternContext, p: FactParams, df: Frame | None) -> Frame:
    """A fact table at `grain` (a duplicate is an error or quarantined): each dimension's
    natural key replaced by its surrogate key (SCD2-aware), orphans sent to the unknown
    member (key 0), rejected or quarantined, and measures passed through, renamed or
    computed.

    Output columns: the grain, one key per dimension, the measures, then (with
    ``keep_source_columns: true``) the other source columns.
    """
    assert df is not None
    columns = ctx.columns(df)
    types = ctx.types(df)
    for name, where in _named_columns(p):
        _need(ctx, name, columns, f"{where}: the fact's column '{name}'")
    joins = [_resolve(ctx, i, d, types) for i, d in enumerate(p.dimensions)]
    outputs = [*p.grain] + [j.output for j in joins] + [m.name for m in p.measures]
    twice = sorted({o for o in outputs if outputs.count(o) > 1})
    if twice:
        ctx.fail(
            f"the output column '{twice[0]}' is made twice (a dimension's surrogate key "
            "defaults to its name)",
            hint="give the dimension lookups distinct `as:` names",
        )
    joined = ctx.sql(_join_sql(df, joins), "lookups")
    repeated, orphans = _profile(ctx, p, joined, joins)
    if repeated:
        _report_grain(ctx, p, joined, repeated)
    if any(orphans):
        _report_orphans(ctx, p, joined, joins, orphans)
    return ctx.sql(_output_sql(p, joined, joins, columns, outputs), "fact")


def _named_columns(p: FactParams) -> list[tuple[str, str]]:
    """The fact's columns the params name, each with the param naming it."""
    named = [(g, "grain") for g in p.grain]
    for i, d in enumerate(p.dimensions):
        named += [(c, f"{_alias(i)}.source_column") for c in d.source_column]
        if d.date_column:
            named.append((d.date_column, f"{_alias(i)}.date_column"))
    return named


def _need(ctx: PatternContext, name: str, columns: list[str], what: str) -> None:
    if name not in columns:
        hint = suggestion(name, columns) or f"columns: {', '.join(columns)}"
        ctx.fail(f"{what} does not exist", hint=hint)


def _profile(
    ctx: PatternContext, p: FactParams, joined: Frame, joins: list[Join]
) -> tuple[int, list[int]]:
    """One pass over the looked-up rows: how many grain keys repeat (when they must not)
    and how many rows each lookup left without a member."""
    orphans = [f"count_if({ident(j.sk)} IS NULL) AS `o{j.index}`" for j in joins]
    if p.on_duplicate_grain == "fail":
        keys = ", ".join(ident(g) for g in p.grain)
        per_key = ", ".join(["count(*) AS `__ls_n`", *orphans])
        totals = ", ".join(
            [
                "count_if(`__ls_n` > 1) AS `__ls_r`",
                *(f"sum(`o{j.index}`) AS `o{j.index}`" for j in joins),
            ]
        )
        query = (
            f"SELECT {totals} FROM (SELECT {per_key} FROM {ident(joined.name)} "
            f"GROUP BY {keys}) AS per_key"
        )
    elif joins:
        query = f"SELECT {', '.join(orphans)} FROM {ident(joined.name)}"
    else:
        return 0, []
    row = ctx.rows(ctx.sql(query, "profile"), 1)[0]
    return int(row.get("__ls_r") or 0), [int(row[f"o{j.index}"] or 0) for j in joins]


def _report_grain(ctx: PatternContext, p: FactParams, joined: Frame, repeated: int) -> None:
    keys = ", ".join(ident(g) for g in p.grain)
    sample = ctx.sql(
        f"SELECT {keys}, count(*) AS `__ls_n` FROM {ident(joined.name)} GROUP BY {keys} "
        f"HAVING count(*) > 1 ORDER BY {keys} LIMIT {SAMPLE_KEYS}",
        "grain",
    )
    examples = "; ".join(
        ", ".join(f"{g}={ctx.shown(g, r[g])}" for g in p.grain) + f" ({r['__ls_n']} rows)"
        for r in ctx.rows(sample, SAMPLE_KEYS)
    )
    ctx.fail(
        f"the fact's grain ({', '.join(p.grain)}) is not unique: "
        f"{plural(repeated, 'repeated key')}, e.g. {examples}",
        hint="fix the data upstream, add the missing grain column, or set "
        "`on_duplicate_grain: quarantine` to set those rows aside",
    )


def _dimension_defaults(ctx: PatternContext, alias: str) -> tuple[str | None, dict[str, Any]]:
    found = ctx.lookup_pattern(alias)
    if found is None:
        return None, {}
    kind, params = found
    if kind == "date_dimension":
        return kind, {"natural_key": ["date"], "surrogate_key": "date_key"}
    if kind == "dimension":
        return kind, {
            "natural_key": _listed(params.get("natural_key")),
            "surrogate_key": params.get("surrogate_key"),
            "scd_type": params.get("scd_type", 1),
            "valid_from": params.get("valid_from", "valid_from"),
            "valid_to": params.get("valid_to", "valid_to"),
        }
    return kind, {}


def _resolve(ctx: PatternContext, i: int, d: DimensionLookup, types: dict[str, str]) -> Join:
    """The lookup with the dimension's defaults applied and checked against its table."""
    alias = _alias(i)
    kind, defaults = _dimension_defaults(ctx, alias)
    nk = d.natural_key or defaults.get("natural_key")
    sk = d.surrogate_key or defaults.get("surrogate_key")
    if not nk or not sk:
        missing = " and ".join(n for n, v in (("natural_key", nk), ("surrogate_key", sk)) if not v)
        ctx.fail(
            f"{alias}: {d.dimension} is not a dimension or date_dimension pattern, so the "
            f"lookup needs its {missing}",
            hint=f"add `{missing.split(' ')[0]}:` to this lookup",
        )
    if len(nk) != len(d.source_column):
        ctx.fail(
            f"{alias}: {d.dimension}'s natural key has {len(nk)} columns "
            f"({', '.join(nk)}), but source_column has {len(d.source_column)}",
            hint="list one source column per natural key column",
        )
    frame = ctx.lookup(alias)
    dim_columns = ctx.columns(frame)
    dim_types = ctx.types(frame)
    for col in [*nk, sk]:
        _need(ctx, col, dim_columns, f"{alias}: the column '{col}' of {d.dimension}")
    join = Join(i, d, frame, nk, sk, d.as_ or sk, [], [False] * len(nk))
    if kind == "date_dimension" and d.natural_key is None:
        src = d.source_column[0]
        kind_of = types.get(src, "other")
        if kind_of == "int":  # already a yyyymmdd key
            join.natural_key = [sk]
        join.keys = [_as_date(ctx, alias, src, kind_of)]
    else:
        pairs = [
            (types.get(s, "other"), dim_types.get(n, "other"))
            for s, n in zip(d.source_column, nk, strict=True)
        ]
        join.as_text = [a != b and "string" in (a, b) for a, b in pairs]
        join.keys = [
            f"CAST(f.{ident(s)} AS STRING)" if text else f"f.{ident(s)}"
            for s, text in zip(d.source_column, join.as_text, strict=True)
        ]
    if defaults.get("scd_type") == 2:
        vf, vt = defaults["valid_from"], defaults["valid_to"]
        for col in (vf, vt):
            _need(ctx, col, dim_columns, f"{alias}: the validity column '{col}' of {d.dimension}")
        if d.date_column is None:
            ctx.fail(
                f"{alias}: {d.dimension} keeps history (scd_type 2), so the lookup needs a "
                "`date_column`: the fact's column that dates each row",
                hint="add `date_column: <the fact's date or timestamp column>` to the lookup",
            )
        moment = _as_moment(f"f.{ident(d.date_column)}", types[d.date_column], dim_types[vf])
        join.scd2 = (vf, vt, moment)
    elif kind not in ("dimension", "date_dimension"):
        _unique_members(ctx, join)
    return join


def _unique_members(ctx: PatternContext, j: Join) -> None:
    """A table that is not a dimension pattern's could hold a natural key twice, which would
    copy the fact's rows: refuse it."""
    keys = ", ".join(ident(n) for n in j.natural_key)
    twice = ctx.sql(
        f"SELECT {keys} FROM {ident(j.frame.name)} GROUP BY {keys} HAVING count(*) > 1 LIMIT 1",
        f"members{j.index}",
    )
    rows = ctx.rows(twice, 1)
    if rows:
        key = ", ".join(f"{n}={ctx.shown(n, rows[0][n])}" for n in j.natural_key)
        ctx.fail(
            f"{_alias(j.index)}: {j.lookup.dimension} holds the natural key {key} more than "
            "once, so the lookup would copy fact rows",
            hint="look up a table with one row per natural key (a dimension pattern's table)",
        )


def _as_date(ctx: PatternContext, alias: str, column: str, kind: str) -> str:
    """The fact's column as a DATE (or as it is when it is already a yyyymmdd key)."""
    ref = f"f.{ident(column)}"
    if kind in ("date", "int"):
        return ref
    if kind in ("timestamp", "timestamp_ntz"):
        return f"CAST({ref} AS DATE)"
    if kind == "string":
        return f"to_date({ref})"
    ctx.fail(
        f"{alias}: the fact's column '{column}' ({kind}) cannot be read as a date",
        hint="use a DATE, a TIMESTAMP, an ISO date string or an integer yyyymmdd",
    )


def _as_moment(ref: str, fact_kind: str, valid_kind: str) -> str:
    """The fact's date as the type of the dimension's validity columns."""
    target = {"date": "DATE", "timestamp": "TIMESTAMP"}.get(valid_kind, "TIMESTAMP_NTZ")
    if fact_kind == valid_kind:
        return ref
    if fact_kind == "string" and target != "DATE":
        return f"CAST(to_timestamp({ref}) AS {target})"
    return f"CAST({ref} AS {target})"


def _dimension_sql(j: Join) -> str:
    nks = ", ".join(
        f"{f'CAST({ident(n)} AS STRING)' if text else ident(n)} AS `__ls_n{k}`"
        for k, (n, text) in enumerate(zip(j.natural_key, j.as_text, strict=True))
    )
    cols = [nks, f"{ident(j.surrogate_key)} AS `__ls_s`"]
    if j.scd2:
        vf, vt, _ = j.scd2
        part = ", ".join(ident(n) for n in j.natural_key)
        cols += [
            f"{ident(vf)} AS `__ls_vf`",
            f"{ident(vt)} AS `__ls_vt`",
            f"row_number() OVER (PARTITION BY {part} ORDER BY {ident(vf)}) = 1 AS `__ls_first`",
        ]
    return f"SELECT {', '.join(cols)} FROM {ident(j.frame.name)}"


def _join_sql(df: Frame, joins: list[Join]) -> str:
    """The fact's rows with one surrogate key column per lookup (NULL: no member)."""
    parts = []
    for j in joins:
        a = f"d{j.index}"
        on = [f"{key} = {a}.`__ls_n{k}`" for k, key in enumerate(j.keys)]
        if j.scd2:
            _, _, t = j.scd2
            on.append(
                f"CASE WHEN {t} IS NULL THEN {a}.`__ls_vt` IS NULL ELSE "
                f"({a}.`__ls_first` OR {a}.`__ls_vf` <= {t}) AND "
                f"({a}.`__ls_vt` IS NULL OR {t} < {a}.`__ls_vt`) END"
            )
        parts.append(f"LEFT JOIN ({_dimension_sql(j)}) AS {a} ON {' AND '.join(on)}")
    sks = "".join(f", d{j.index}.`__ls_s` AS {ident(j.sk)}" for j in joins)
    return f"SELECT f.*{sks} FROM {ident(df.name)} AS f {' '.join(parts)}"


def _report_orphans(
    ctx: PatternContext, p: FactParams, joined: Frame, joins: list[Join], orphans: list[int]
) -> None:
    found = [(j, n) for j, n in zip(joins, orphans, strict=True) if n]
    lines = [
        f"{plural(n, 'row')} with no member in {j.lookup.dimension} "
        f"({', '.join(j.lookup.source_column)})"
        for j, n in found
    ]
    if p.orphan_handling == "unknown":
        ctx.note("; ".join(f"{line} → key 0" for line in lines))
        return
    if p.orphan_handling == "quarantine":
        ctx.note("; ".join(f"{line} → quarantine" for line in lines))
        return
    details = []
    for (j, _), line in zip(found, lines, strict=True):
        key = _key_text(j.lookup.source_column)
        sample = ctx.sql(
            f"SELECT {key} AS `__ls_k`, count(*) AS `__ls_n` FROM {ident(joined.name)} "
            f"WHERE {ident(j.sk)} IS NULL GROUP BY {key} ORDER BY `__ls_k` LIMIT {SAMPLE_KEYS}",
            f"orphans{j.index}",
        )
        keys = ", ".join(
            f"{ctx.shown(j.lookup.source_column, r['__ls_k'])} ({r['__ls_n']})"
            for r in ctx.rows(sample, SAMPLE_KEYS)
        )
        details.append(f"{line}, e.g. {keys}")
    ctx.fail(
        "the fact has rows whose key matches no dimension member (orphan_handling: reject): "
        + "; ".join(details),
        hint="load the missing members into the dimension first, or set `orphan_handling: "
        "unknown` (surrogate key 0) or `quarantine`",
    )


def _key_text(columns: list[str]) -> str:
    texts = [f"coalesce(CAST({ident(c)} AS STRING), 'NULL')" for c in columns]
    return texts[0] if len(texts) == 1 else f"concat_ws(', ', {', '.join(texts)})"


def _output_sql(
    p: FactParams, joined: Frame, joins: list[Join], columns: list[str], outputs: list[str]
) -> str:
    unknown = p.orphan_handling == "unknown"
    items = [ident(g) for g in p.grain]
    for j in joins:
        key = f"coalesce({ident(j.sk)}, 0)" if unknown else ident(j.sk)
        items.append(f"{key} AS {ident(j.output)}")
    items += [m.sql() for m in p.measures]
    if p.keep_source_columns:
        items += [ident(c) for c in columns if c not in outputs]
    return f"SELECT {', '.join(items)} FROM {ident(joined.name)}"
