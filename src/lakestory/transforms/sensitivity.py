"""Sensitive columns along a node's steps, without parsing SQL here: each SQL step's answer
comes from :func:`lakestory.transforms.lineage.step_outputs` (through the SQL cache, so an
unchanged project does not import sqlglot). See :mod:`lakestory.transforms.lineage`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

# The sensitivity of a table: the (lower-case) names of its sensitive columns, or None when
# every column is sensitive (``sensitive: true``, or a step that could not be analysed).
Sensitive = frozenset[str] | None
StepAnalysis = Callable[[str, Mapping[str, Sensitive]], Sensitive]


def through_steps(
    steps: Sequence[tuple[str, str]],
    sensitive: Sensitive,
    tables: Mapping[str, Sensitive] | None = None,
    analyse: StepAnalysis | None = None,
) -> Sensitive:
    """The sensitive output columns of a node: ``sensitive`` is the sensitivity of its
    input (``df``), ``steps`` its ``(kind, text)`` steps in order ("sql" or "function"),
    ``tables`` the sensitivity of other tables its SQL reads. Each step's output is the
    next step's ``df``. ``analyse`` answers for one SQL step (default: the lineage
    analysis itself)."""
    if analyse is None:
        from lakestory.transforms.lineage import step_outputs

        analyse = step_outputs
    current = sensitive
    for kind, text in steps:
        if current is None:
            return None  # once everything is sensitive, it stays so
        step_tables = {**(tables or {}), "df": current}
        if kind == "sql" and not all(v is not None and not v for v in step_tables.values()):
            current = analyse(text, step_tables)
        # nothing sensitive goes in: nothing comes out. A function step: sensitive names
        # stay sensitive; new columns are not traced
    return current


def names(columns: bool | Iterable[str]) -> Sensitive:
    """A node's ``sensitive:`` setting as a :data:`Sensitive` (True: every column)."""
    if columns is True:
        return None
    return frozenset(c.lower() for c in columns) if columns else frozenset()
