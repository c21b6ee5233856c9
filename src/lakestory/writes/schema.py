"""Schema policy on write: what happens when the data's columns differ from the table's.

``on_new_columns``: evolve (add them to the table), fail, or ignore (drop them).
``on_missing_columns``: fail, or fill_null (write NULLs of the table's type).
A type change is allowed only when every value survives it (int → bigint, date →
timestamp, decimal(10,2) → decimal(12,2) ...); any other is an error naming the column and
both types, because writing would lose data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakestory.config.models import SchemaPolicy
from lakestory.core.errors import WriteError
from lakestory.writes import spark

if TYPE_CHECKING:
    import pyarrow as pa

_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}


@dataclass
class Reconciled:
    select: list[str]  # Spark SQL select list, in the order the write needs
    evolve: bool = False
    added: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    cast: list[str] = field(default_factory=list)

    @property
    def changes_data(self) -> bool:
        return bool(self.filled or self.dropped or self.cast)


def reconcile(
    data: pa.Schema,
    table: pa.Schema,
    policy: SchemaPolicy,
    display: str,
    *,
    keep: set[str] | None = None,
) -> Reconciled:
    """How to write ``data`` into a table of schema ``table``; ``keep``: table columns the
    strategy fills itself (SCD2's validity columns), never reported as missing."""
    if keep is None:
        keep = set()
    by_lower = {f.name.lower(): f for f in table}
    out = Reconciled(select=[])
    seen: set[str] = set()
    problems: list[str] = []
    for f in data:
        t = by_lower.get(f.name.lower())
        if t is None:
            continue
        seen.add(t.name)
        name = spark.ident(f.name)
        if f.type == t.type or _same(f.type, t.type):
            out.select.append(name if f.name == t.name else f"{name} AS {spark.ident(t.name)}")
        elif lossless(f.type, t.type):
            out.select.append(f"CAST({name} AS {spark.type_name(t.type)}) AS {spark.ident(t.name)}")
            out.cast.append(f"{t.name}: {spark.describe(f.type)} → {spark.describe(t.type)}")
        else:
            problems.append(
                f"column {t.name}: the table has {spark.describe(t.type)}, the data has "
                f"{spark.describe(f.type)}"
            )
    if problems:
        raise WriteError(
            f"cannot write {display}: "
            + ("a type change" if len(problems) == 1 else f"{len(problems)} type changes")
            + " would lose data",
            detail="\n".join(problems),
            hint="cast the column in a step to the table's type, or rebuild the table "
            "(mode: overwrite, or `lakestory run --full-refresh --node ...`)",
        )
    new = [f for f in data if f.name.lower() not in by_lower]
    if new:
        names = ", ".join(f.name for f in new)
        if policy.on_new_columns == "fail":
            raise WriteError(
                f"cannot write {display}: the data has columns the table lacks: {names}",
                hint="set `write.schema.on_new_columns: evolve` to add them to the table, or "
                "`ignore` to leave them out",
            )
        if policy.on_new_columns == "evolve":
            out.evolve = True
            out.added = [f.name for f in new]
            out.select += [spark.ident(f.name) for f in new]
        else:
            out.dropped = [f.name for f in new]
    missing = [t for t in table if t.name not in seen and t.name not in (keep or set())]
    if missing:
        names = ", ".join(t.name for t in missing)
        if policy.on_missing_columns == "fail":
            raise WriteError(
                f"cannot write {display}: the data lacks the table's columns: {names}",
                hint="select them in a step, or set `write.schema.on_missing_columns: "
                "fill_null` to write NULLs",
            )
        for t in missing:
            out.select.append(f"CAST(NULL AS {spark.type_name(t.type)}) AS {spark.ident(t.name)}")
            out.filled.append(t.name)
    # the table's column order first, then new columns
    order = {t.name: i for i, t in enumerate(table)}
    out.select.sort(key=lambda s: order.get(_alias(s), len(order)))
    return out


def _alias(select: str) -> str:
    text = select.rsplit(" AS ", 1)[-1]
    return text.strip("`").replace("``", "`")


def _same(a: pa.DataType, b: pa.DataType) -> bool:
    """Types that hold the same values (string vs large_string, units of time...)."""
    ka, kb = spark.kind_of(a), spark.kind_of(b)
    if ka == kb and ka in ("string", "bool", "date"):
        return True
    import pyarrow as pa

    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        return True  # lakestory runs in UTC: naive and UTC timestamps are the same instants
    return bool(pa.types.is_null(a))


def lossless(src: pa.DataType, dst: pa.DataType) -> bool:
    """Whether every value of ``src`` converts to ``dst`` unchanged."""
    import pyarrow as pa

    if pa.types.is_null(src):
        return True
    if pa.types.is_integer(src):
        digits = _INT_DIGITS.get(src.bit_width, 20)
        if pa.types.is_integer(dst):
            return bool(dst.bit_width >= src.bit_width)
        if pa.types.is_floating(dst):
            return bool(dst.bit_width == 64 and src.bit_width <= 32) or bool(
                dst.bit_width == 32 and src.bit_width <= 16
            )
        if pa.types.is_decimal(dst):
            return bool(dst.precision - dst.scale >= digits)
    if pa.types.is_floating(src) and pa.types.is_floating(dst):
        return bool(dst.bit_width >= src.bit_width)
    if pa.types.is_decimal(src) and pa.types.is_decimal(dst):
        return bool(
            dst.scale >= src.scale and dst.precision - dst.scale >= src.precision - src.scale
        )
    return bool(pa.types.is_date(src) and pa.types.is_timestamp(dst))
