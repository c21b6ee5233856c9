"""The SparkSession a run uses: the one already running (a cluster, a notebook, a test
suite), else a local one built from the project's ``spark_config``.

Each engine works in its own ``newSession()`` of it: temporary views and SQL settings are
the run's own, while the SparkContext, its executors and its cache are shared. On that
session lakestory sets what makes Spark SQL answer as lakestory's SQL is defined on every
engine (``spark.sql.session.timeZone=UTC``, ``spark.sql.ansi.enabled=false``), unless the
project's ``spark_config`` sets them itself.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# What lakestory's SQL means (see lakestory.transforms.sql): set on every engine's session.
SEMANTICS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    # Parquet timestamps as other engines write and read them (Spark's default is INT96)
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

# Defaults for a local session that lakestory starts itself.
LOCAL_DEFAULTS = {
    "spark.master": "local[*]",
    "spark.app.name": "lakestory",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": str(max(2 * (os.cpu_count() or 2), 8)),
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "4g",
}


_LOG4J2 = Path(__file__).with_name("log4j2.properties").as_uri()


@dataclass
class Sessions:
    """The shared session, the engine's own session of it, and whether lakestory started
    it (then the last engine using it stops it: :func:`close_session`)."""

    shared: SparkSession
    own: SparkSession
    started: bool


_lock = threading.Lock()
_ours: list[SparkSession] = []  # the session lakestory started, while it runs
_users = [0]  # engines using it


def open_session(config: Mapping[str, str] | None = None) -> Sessions:
    """The running session, else a new local one; ``config`` applies to a new session in
    full, and to a running one as far as Spark lets runtime settings change."""
    config = dict(config or {})
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # pyspark warns about pandas 3 on every conversion; lakestory converts through Arrow
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    with _lock:
        shared = _shared(config)
        started = bool(_ours) and shared is _ours[0]
        if started:
            _users[0] += 1
    own = shared.newSession()
    for key, value in {**SEMANTICS, **config}.items():
        if key.startswith("spark.sql.") and own.conf.isModifiable(key):
            own.conf.set(key, value)
    return Sessions(shared, own, started)


def close_session(sessions: Sessions) -> None:
    """The engine is done with its session: stop a session lakestory started once no
    engine uses it any more."""
    with _lock:
        if not sessions.started:
            return
        _users[0] -= 1
        if _users[0] > 0:
            return
        _ours.clear()
    sessions.shared.stop()


def _shared(config: dict[str, str]) -> SparkSession:
    if SparkContext._active_spark_context is None:
        # Python workers run this interpreter, which has the libraries steps import
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder
        quiet = {"spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_LOG4J2}"}
        for key, value in {**LOCAL_DEFAULTS, **quiet, **config}.items():
            builder = builder.config(key, value)
        shared = builder.getOrCreate()
        shared.sparkContext.setLogLevel(config.get("lakestory.spark.log_level", "FATAL"))
        _ours[:] = [shared]
        return shared
    shared = SparkSession.builder.getOrCreate()
    ignored = [k for k in config if not k.startswith(("spark.sql.", "lakestory."))]
    if ignored and not (_ours and shared is _ours[0]):
        log.warning(
            "a SparkSession is already running: spark_config settings that only a new "
            "session takes are not applied (%s); set them on the cluster or notebook",
            ", ".join(sorted(ignored)),
        )
    return shared
