"""Delta table maintenance: compaction, z-order, vacuum and table properties.

Engine-neutral, over deltalake (delta-rs); ``lakestory maintain`` and the runtime (after a
write, with ``maintenance.after_write``) both call :func:`maintain`.

Vacuum never keeps less than :data:`RETENTION_FLOOR_HOURS` of history, whoever asks: a
reader of an older version and a write that has not committed yet both need files the
current version does not reference. Besides the files older versions removed, vacuum deletes
the files no version references (left by writes that failed before committing), and those
too only once they are older than the retention.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from lakestory.config.models.tables import RETENTION_FLOOR_HOURS, MaintenanceConfig
from lakestory.core.errors import ConfigError, DataError, Where, WriteError

if TYPE_CHECKING:
    from deltalake import DeltaTable

log = logging.getLogger(__name__)
T = TypeVar("T")

COMMIT_ATTEMPTS = 3
# deltalake's full vacuum (orphans as well as removed files) deletes an orphan only once it
# is older than the retention (delta-rs #3835) and keeps the files recent versions removed
# (#4300). Checked on this release by tests/unit/io/test_maintenance.py; on older ones
# vacuum leaves orphans alone.
FULL_VACUUM_FROM = (1, 6, 6)

_BOOLEAN_PROPERTIES = frozenset(
    {
        "delta.appendOnly",
        "delta.autoOptimize.autoCompact",
        "delta.autoOptimize.optimizeWrite",
        "delta.checkpoint.writeStatsAsJson",
        "delta.checkpoint.writeStatsAsStruct",
        "delta.enableChangeDataFeed",
        "delta.enableDeletionVectors",
        "delta.enableExpiredLogCleanup",
        "delta.randomizeFilePrefixes",
    }
)
_INTERVAL_PROPERTIES = frozenset(
    {
        "delta.deletedFileRetentionDuration",
        "delta.logRetentionDuration",
        "delta.setTransactionRetentionDuration",
    }
)
_POSITIVE_INT_PROPERTIES = frozenset({"delta.checkpointInterval", "delta.targetFileSize"})
_INTERVAL_HOURS = {
    "nanosecond": 1 / 3.6e12,
    "microsecond": 1 / 3.6e9,
    "millisecond": 1 / 3.6e6,
    "second": 1 / 3600,
    "minute": 1 / 60,
    "hour": 1,
    "day": 24,
    "week": 168,
}
# the spelling delta-rs understands; others ("30 days", "INTERVAL 2 WEEKS") it ignores
_INTERVAL = re.compile(r"^interval\s+(\d+)\s+(" + "|".join(_INTERVAL_HOURS) + r")s?$")


@dataclass
class MaintenanceReport:
    """What maintenance did to one table (or, dry run, would do)."""

    table: str  # as displayed: connection:path
    actions: list[str] = field(default_factory=list)  # properties, compact | z_order, vacuum
    dry_run: bool = False  # nothing was changed
    files_before: int = 0  # data files of the current version
    files_after: int = 0
    files_added: int = 0  # by compaction / z-order
    files_removed: int = 0
    files_vacuumed: list[str] = field(default_factory=list)  # deleted (or, dry run, listed)
    vacuum_dry_run: bool = False
    retain_hours: float | None = None  # the retention vacuum kept
    properties_set: dict[str, str] = field(default_factory=dict)
    version_before: int | None = None
    version_after: int | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def maintain(
    uri: str,
    display: str,
    config: MaintenanceConfig | None,
    properties: Mapping[str, str],
    *,
    optimize: bool | None = None,
    vacuum: bool | None = None,
    retain_hours: float | None = None,
    dry_run: bool | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> MaintenanceReport:
    """Apply ``properties``, then compact or z-order, then vacuum, as ``config`` says; the
    keyword arguments override it (``retain_hours`` implies ``vacuum`` unless that is False).
    ``dry_run`` changes nothing and reports what would be done."""
    config = config or MaintenanceConfig()
    hours = _vacuum_hours(config, vacuum, retain_hours)
    started = time.perf_counter()
    table = open_delta(uri, display, storage_options)
    files = _file_count(table)
    report = MaintenanceReport(
        display,
        dry_run=bool(dry_run),
        files_before=files,
        files_after=files,
        version_before=table.version(),
    )
    if properties:
        report.properties_set = _set_properties(table, display, properties, bool(dry_run))
        if report.properties_set:
            report.actions.append("properties")
    if config.optimize if optimize is None else optimize:
        _optimize(table, display, config, report)
    elif config.zorder_by:
        report.notes.append("zorder_by is set but optimize is off: the table was not z-ordered")
    if hours is not None:
        vacuum_config = config.vacuum_config
        dry = bool(dry_run) or bool(vacuum_config and vacuum_config.dry_run)
        _vacuum(table, display, hours, dry, report)
    report.version_after = table.version()
    report.files_after = report.files_after if report.dry_run else _file_count(table)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def maintain_after_write(
    target_uri: str,
    display: str,
    config: MaintenanceConfig | None,
    properties: Mapping[str, str],
    *,
    storage_options: Mapping[str, str] | None = None,
) -> MaintenanceReport | None:
    """Maintenance a run does right after writing a table: everything ``config`` says when
    ``after_write`` is on; otherwise only the ``properties`` that differ from the table's.
    None when there was nothing to do (without opening the table unless properties are
    configured)."""
    if config is not None and config.after_write:
        return maintain(target_uri, display, config, properties, storage_options=storage_options)
    if not properties:
        return None
    table = open_delta(target_uri, display, storage_options)
    if not _changed(table, properties):
        return None
    report = MaintenanceReport(display, version_before=table.version())
    report.properties_set = _set_properties(table, display, properties, dry_run=False)
    report.actions.append("properties")
    report.version_after = table.version()
    report.files_before = report.files_after = _file_count(table)
    return report


def ensure_properties(
    uri: str,
    properties: Mapping[str, str],
    *,
    display: str | None = None,
    dry_run: bool = False,
    storage_options: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Set the table properties that differ from ``properties``; returns those (no commit
    when none differ). Properties the table has and ``properties`` does not are kept."""
    if not properties:
        return {}
    table = open_delta(uri, display or uri, storage_options)
    return _set_properties(table, display or uri, properties, dry_run)


def check_retention(hours: float, key: str = "retain_hours") -> None:
    """Refuse a vacuum retention below the floor (and anything that is not a number)."""
    if not (math.isfinite(hours) and hours >= RETENTION_FLOOR_HOURS):
        raise ConfigError(
            f"{key} {hours:g} is below the retention floor of {RETENTION_FLOOR_HOURS} hours "
            "(7 days): readers of older versions and writes still running need those files"
            if not math.isnan(hours)
            else f"{key} must be a number of hours, at least {RETENTION_FLOOR_HOURS}",
            hint=f"keep at least {RETENTION_FLOOR_HOURS} hours; vacuum then removes what is older",
            where=Where(key=key),
        )


def table_status(
    uri: str, storage_options: Mapping[str, str] | None = None
) -> Literal["delta", "missing", "not_delta"]:
    """Whether ``uri`` holds a Delta table, nothing yet, or files that are not one."""
    from deltalake import DeltaTable

    if DeltaTable.is_deltatable(uri.rstrip("/"), dict(storage_options or {}) or None):
        return "delta"
    local = uri if "://" not in uri else uri.removeprefix("file://")
    if os.path.isdir(local) and any(not n.startswith(".") for n in os.listdir(local)):
        return "not_delta"
    return "not_delta" if os.path.isfile(local) else "missing"


def open_delta(
    uri: str, display: str, storage_options: Mapping[str, str] | None = None
) -> DeltaTable:
    """The Delta table at ``uri``; a clear error when there is none."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(uri.rstrip("/"), storage_options=dict(storage_options or {}) or None)
    except TableNotFoundError:
        raise DataError(
            f"{display} is not a Delta table: maintenance applies to Delta tables",
            hint="a table that has not been written yet has nothing to maintain; "
            "for parquet or csv outputs drop `maintenance`/`properties`, or write format: delta",
        ) from None


# -- properties ------------------------------------------------------------------------------


def _changed(table: DeltaTable, properties: Mapping[str, str]) -> dict[str, str]:
    current = table.metadata().configuration
    return {k: v for k, v in properties.items() if current.get(k) != v}


def _set_properties(
    table: DeltaTable, display: str, properties: Mapping[str, str], dry_run: bool
) -> dict[str, str]:
    changed = _changed(table, properties)
    for key, value in changed.items():
        _check_property(key, value)
    if not changed or dry_run:
        return changed
    # Delta's own keys are checked by name (a typo would otherwise become a property that
    # does nothing); custom keys cannot be, so they go in a separate commit
    own = {k: v for k, v in changed.items() if k.startswith("delta.")}
    custom = {k: v for k, v in changed.items() if not k.startswith("delta.")}
    with _translated(display, "setting table properties on"):
        if own:
            _committing(
                lambda: table.alter.set_table_properties(own, raise_if_not_exists=True), table
            )
        if custom:
            _committing(
                lambda: table.alter.set_table_properties(custom, raise_if_not_exists=False),
                table,
            )
    log.info("set table properties on %s: %s", display, ", ".join(changed))
    return changed


def _check_property(key: str, value: str) -> None:
    problem = None
    if key in _BOOLEAN_PROPERTIES and value not in ("true", "false"):
        problem = "true or false"
    elif key in _INTERVAL_PROPERTIES and not _INTERVAL.match(value):
        problem = "an interval such as 'interval 30 days' (units: hours, days, weeks ...)"
    elif key in _POSITIVE_INT_PROPERTIES and not (value.isdigit() and int(value) > 0):
        problem = "a positive whole number"
    if problem:
        raise ConfigError(
            f"table property {key} is '{value}': it takes {problem}",
            hint='quote property values in YAML, e.g. delta.appendOnly: "true"',
            where=Where(key=f"write.properties.{key}"),
        )


def _interval_hours(value: str | None) -> float | None:
    match = _INTERVAL.match(value or "")
    return int(match.group(1)) * _INTERVAL_HOURS[match.group(2)] if match else None


# -- optimize --------------------------------------------------------------------------------


def _optimize(
    table: DeltaTable, display: str, config: MaintenanceConfig, report: MaintenanceReport
) -> None:
    action = "z_order" if config.zorder_by else "compact"
    report.actions.append(action)
    if report.dry_run:
        return
    size = config.target_file_size

    def run() -> dict[str, Any]:
        if config.zorder_by:
            return table.optimize.z_order(config.zorder_by, target_size=size)
        return table.optimize.compact(target_size=size)

    hint = None
    if config.zorder_by:
        partitions = set(table.metadata().partition_columns)
        columns = [f.name for f in table.schema().fields if f.name not in partitions]
        hint = "zorder_by takes columns of the table that are not partition columns: " + (
            ", ".join(columns) or "(none)"
        )
    with _translated(display, "z-ordering" if config.zorder_by else "compacting", hint):
        metrics = _committing(run, table)
    report.files_added += int(metrics.get("numFilesAdded", 0))
    report.files_removed += int(metrics.get("numFilesRemoved", 0))


# -- vacuum ----------------------------------------------------------------------------------


def _vacuum_hours(
    config: MaintenanceConfig, vacuum: bool | None, retain_hours: float | None
) -> float | None:
    """The retention to vacuum with, or None for no vacuum."""
    configured = config.vacuum_config
    if vacuum is False or (vacuum is None and configured is None and retain_hours is None):
        return None
    if retain_hours is not None:
        hours = retain_hours
    else:
        hours = configured.retain_hours if configured else RETENTION_FLOOR_HOURS
    check_retention(hours)
    return hours


def _vacuum(
    table: DeltaTable, display: str, hours: float, dry_run: bool, report: MaintenanceReport
) -> None:
    # the table's own deletedFileRetentionDuration wins when it keeps files longer
    table_hours = _interval_hours(
        table.metadata().configuration.get("delta.deletedFileRetentionDuration")
    )
    if table_hours is not None and table_hours > hours:
        report.notes.append(
            f"kept {table_hours:g} hours, the table's delta.deletedFileRetentionDuration, "
            f"which is longer than retain_hours {hours:g}"
        )
        hours = table_hours
    full = full_vacuum_supported()
    if not full:
        report.notes.append(
            "orphan files (from writes that failed) were left alone: removing them safely "
            f"needs deltalake {'.'.join(map(str, FULL_VACUUM_FROM))} or newer"
        )
    report.actions.append("vacuum")
    report.retain_hours = hours
    report.vacuum_dry_run = dry_run
    with _translated(display, "vacuuming"):
        report.files_vacuumed = sorted(
            table.vacuum(
                retention_hours=math.ceil(hours),
                dry_run=dry_run,
                enforce_retention_duration=True,
                full=full,
            )
        )


def full_vacuum_supported() -> bool:
    import deltalake

    found = tuple(int(p) if p.isdigit() else 0 for p in deltalake.__version__.split(".")[:3])
    return found >= FULL_VACUUM_FROM


# -- shared ----------------------------------------------------------------------------------


def _file_count(table: DeltaTable) -> int:
    return int(table.get_add_actions(flatten=False).num_rows)


def _committing(attempt: Callable[[], T], table: DeltaTable) -> T:
    """Run a commit, again (on the newest version) when another writer committed first."""
    from deltalake.exceptions import CommitFailedError

    for n in range(COMMIT_ATTEMPTS):
        try:
            return attempt()
        except CommitFailedError:
            if n == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(0.1 * 2**n)
            table.update_incremental()
    raise AssertionError("unreachable")


@contextmanager
def _translated(display: str, doing: str, hint: str | None = None) -> Iterator[None]:
    """deltalake's errors as lakestory's: what failed, on which table, what to do."""
    from deltalake.exceptions import CommitFailedError, DeltaError, DeltaProtocolError

    try:
        yield
    except CommitFailedError as exc:
        raise WriteError(
            f"{doing} {display} failed: {_first_line(exc)}",
            hint="another writer kept changing the table; run `lakestory maintain` again",
        ) from None
    except (DeltaError, DeltaProtocolError, OSError) as exc:
        text = _first_line(exc)
        unknown = re.search(r"Error parsing property '([^']+)'", text)
        if unknown:
            raise ConfigError(
                f"{unknown.group(1)} is not a Delta table property (setting it on {display})",
                hint="check the spelling; Delta's own properties start with `delta.`, "
                "name your own without that prefix",
                where=Where(key=f"write.properties.{unknown.group(1)}"),
            ) from None
        raise WriteError(
            f"{doing} {display} failed: {text}",
            hint=hint or "the table was left as it was; check the table's path and permissions",
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
