"""Resolve a node's ``contracts`` and ``validation`` into :class:`lakestory.quality.Suite`:
test locations for messages, foreign-key references to node keys, the quarantine target,
and custom SQL conditions parsed before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakestory.config.models import NodeConfig
from lakestory.config.models.quality import CustomSqlTest, ForeignKeyTest
from lakestory.core.errors import ConfigError, InvalidSql, SqlError
from lakestory.io.specs import Target
from lakestory.quality import Check, Suite

if TYPE_CHECKING:
    from lakestory.runtime.graph import _Builder


def node_suites(
    b: _Builder, key: str, pipeline: str, node: NodeConfig
) -> tuple[Suite | None, Suite | None]:
    """The node's contracts and validation suites (None when it has none)."""
    contracts = None
    if node.contracts and not (node.read or node.depends_on):
        raise ConfigError(
            "`contracts` judge a node's input, and this node has none (no `read`, no `depends_on`)",
            where=b.where(node, "contracts", pipeline=pipeline),
            hint="move the tests to `validation.tests`, which judge the node's output",
        )
    if node.contracts:
        contracts = Suite(
            "contract",
            _checks(b, key, pipeline, node, node.contracts, ("contracts",)),
            b.where(node, "contracts", pipeline=pipeline),
        )
    validation = None
    v = node.validation
    # a quarantine without tests of its own still takes the rows a pattern's tests set aside
    if v is not None and (v.tests or v.quarantine is not None):
        quarantine = None
        if v.quarantine is not None:
            qc = v.quarantine
            loc = b.location(
                node,
                pipeline,
                ("validation", "quarantine"),
                qc.connection,
                qc.path or qc.table or "",
            )
            quarantine = Target(loc, "delta", "append")
        validation = Suite(
            "validation",
            _checks(b, key, pipeline, node, v.tests, ("validation", "tests")),
            b.where(node, "validation", pipeline=pipeline),
            quarantine,
            v.gate,
        )
    return contracts, validation


def _checks(
    b: _Builder,
    key: str,
    pipeline: str,
    node: NodeConfig,
    tests: list[Any],
    section: tuple[str, ...],
) -> tuple[Check, ...]:
    out = []
    for i, test in enumerate(tests):
        where = b.where(node, *section, i, pipeline=pipeline)
        ref = None
        if isinstance(test, ForeignKeyTest):
            at = b.where(node, *section, i, "references", "node", pipeline=pipeline)
            ref = b.resolve(test.references.node, pipeline, at, "node")
            if ref == key:
                raise ConfigError(
                    "a foreign key cannot reference its own node", where=at,
                    hint="use a `unique` test for keys within one dataset",
                )  # fmt: skip
        if isinstance(test, CustomSqlTest):
            _check_condition(
                b, test.condition, b.where(node, *section, i, "condition", pipeline=pipeline)
            )
        out.append(Check(test.label, test, where, ref))
    return tuple(out)


def _check_condition(b: _Builder, condition: str, where: Any) -> None:
    """A condition must parse as Spark SQL and judge one row: the row's columns only, no
    aggregate, window or subquery."""
    try:
        problem = b.sql.row_condition_problem(condition)
    except SqlError as exc:
        raise InvalidSql(f"custom_sql condition: {exc.what}", where=where, hint=exc.hint) from None
    if problem:
        raise ConfigError(
            f"a custom_sql condition judges one row at a time, but {problem}",
            where=where,
            hint="compare the row's own columns (e.g. amount > 0); for a statistic of the "
            "whole dataset use a distribution or row_count test, for other tables a "
            "foreign_key test",
        )
