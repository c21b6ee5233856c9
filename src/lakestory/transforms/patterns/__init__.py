"""Modeling patterns: one block of YAML (``pattern: {type, params}``) that turns a node's
data into a dimension, a fact, a date dimension, an aggregate, or applies deletes.

A pattern is declared once, engine-neutrally, as a :class:`Pattern`: a pydantic params
model and an ``apply`` function that composes Spark SQL through a :class:`PatternContext`
(the runtime's, see :mod:`lakestory.runtime.patterns`). Unlike a transformer, a pattern sees
more than ``df``: the node's own table as it is before this write (to keep surrogate keys
stable, or to find deleted rows) and the tables of the nodes it looks up (a fact's
dimensions). It also says how the node writes (``write``: mode and keys the pattern needs)
and which validation tests it adds (a fact's grain and orphans), so the story shows them
like any other check.

Built-in patterns live in this package's modules, one per pattern, and register with the
:func:`pattern` decorator on import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn, Protocol, TypeVar

from pydantic import BaseModel

from lakestory.config.models import IncrementalConfig
from lakestory.engines.base import Frame
from lakestory.transforms.transformers import _forbid_extra

P = TypeVar("P", bound=BaseModel)
LookedUp = Mapping[str, tuple[str, dict[str, Any]] | None]
Tests = Callable[[Any, LookedUp], list[dict[str, Any]]]


class PatternContext(Protocol):
    """What a pattern may do while the node runs. Frames are referenced in SQL by their
    name: ``ident(frame.name)`` (see :func:`lakestory.transforms.transformers.ident`)."""

    @property
    def node(self) -> str:
        """The node's key (``pipeline.node``)."""
        ...

    @property
    def started(self) -> datetime:
        """When the run started (UTC): the default effective time of new versions."""
        ...

    @property
    def run_id(self) -> str: ...

    def sql(self, text: str, what: str) -> Frame:
        """Run a Spark SQL query over frames named in it; ``what`` names the result."""
        ...

    def target(self) -> Frame | None:
        """The node's own table as it is before this write; None when it does not exist
        yet, or when this run rebuilds it (``--full-refresh``)."""
        ...

    @property
    def incremental(self) -> IncrementalConfig | None:
        """The node's ``read.incremental`` when this run reads only the source's new rows;
        None when it reads all of it (no incremental read, no read, or ``--full-refresh``)."""
        ...

    @property
    def batch_of(self) -> str | None:
        """The ``depends_on`` node whose output is the pattern's data when that output is
        only its new rows (it reads incrementally and ran in this run); else None."""
        ...

    def source(self) -> Frame | None:
        """The node's data as a run without the incremental filter sees it: its whole
        ``read``, without the rows its contracts drop or quarantine, through its transform
        steps. None without a read."""
        ...

    def lookup(self, alias: str) -> Frame:
        """The table of a node the pattern looks up (see :attr:`Pattern.lookups`), as it is
        now: upstream nodes have written it before this node runs."""
        ...

    def lookup_pattern(self, alias: str) -> tuple[str, dict[str, Any]] | None:
        """The looked-up node's own pattern (type and params as written), or None."""
        ...

    def columns(self, frame: Frame) -> list[str]: ...

    def types(self, frame: Frame) -> dict[str, str]:
        """Column name → a coarse type kind: ``int``, ``float``, ``decimal``, ``date``,
        ``timestamp`` (with a time zone), ``timestamp_ntz``, ``string``, ``bool`` or ``other``."""
        ...

    def rows(self, frame: Frame, limit: int) -> list[dict[str, Any]]: ...

    def count(self, frame: Frame) -> int: ...

    def shown(self, columns: str | list[str], value: Any) -> str:
        """``value`` (of ``columns``) as an error message may show it: masked when one of
        the columns is sensitive for this node (``sensitive:`` and what derives from it)."""
        ...

    def note(self, text: str) -> None:
        """Add a line to the node's note in the story (e.g. "3 members deleted")."""
        ...

    def fail(self, what: str, *, hint: str | None = None, detail: str | None = None) -> NoReturn:
        """Stop the node with a DataError located at the pattern's YAML."""
        ...


@dataclass(frozen=True)
class Pattern:
    name: str
    params: type[BaseModel]
    apply: Callable[[PatternContext, Any, Frame | None], Frame]
    summary: str
    example: dict[str, Any]
    # the node needs data (a read, a depends_on or steps) before the pattern: all but the
    # date dimension, which makes its own rows
    needs_input: bool = True
    # write-config fields the pattern sets (mode, keys ...), from validated params
    write: Callable[[Any], dict[str, Any]] | None = None
    # alias -> node name (or pipeline.node) whose table the pattern reads at run time
    lookups: Callable[[Any], dict[str, str]] | None = None
    # validation tests the pattern adds (dicts as in `validation.tests`), from params and
    # the looked-up nodes' own patterns (alias -> (type, params), None for a plain node);
    # a ValueError is reported as a config error at the pattern
    tests: Tests | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Spark SQL over `df` whose output columns derive from df's as the pattern's do (for
    # column lineage: which output columns are sensitive). None: every column the pattern
    # outputs keeps its name or is made from no input column (keys, flags, audit columns)
    lineage: Callable[[Any], str] | None = None

    def validate(self, params: Mapping[str, Any]) -> BaseModel:
        """Validated params; raises pydantic's ValidationError."""
        return self.params.model_validate(dict(params))


REGISTRY: dict[str, Pattern] = {}


def pattern(
    params: type[BaseModel],
    example: dict[str, Any],
    *,
    name: str | None = None,
    needs_input: bool = True,
    write: Callable[[Any], dict[str, Any]] | None = None,
    lookups: Callable[[Any], dict[str, str]] | None = None,
    tests: Tests | None = None,
    lineage: Callable[[Any], str] | None = None,
) -> Callable[[Callable[[PatternContext, Any, Frame | None], Frame]], Any]:
    """Register ``apply(ctx, params, df) -> Frame`` as a pattern (its docstring's first
    paragraph is its summary in ``lakestory list patterns``)."""

    def register(fn: Callable[[PatternContext, Any, Frame | None], Frame]) -> Any:
        doc = (fn.__doc__ or "").strip().split("\n\n")[0]
        spec = Pattern(
            name or fn.__name__,
            _forbid_extra(params),
            fn,
            " ".join(doc.split()),
            example,
            needs_input,
            write,
            lookups,
            tests,
            lineage=lineage,
        )
        REGISTRY[spec.name] = spec
        return fn

    return register


def load_builtins() -> dict[str, Pattern]:
    """The registry with every built-in pattern imported."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY
