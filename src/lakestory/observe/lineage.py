"""OpenLineage run events (``lineage:`` in the project file), sent to Marquez, DataHub or any
OpenLineage HTTP endpoint with the openlineage-python client.

Jobs: the run is a job named after the project; each node is a job named
``{pipeline}.{node}``, both in ``lineage.namespace``. The run's run id is lakestory's run id
when that is a UUID, else a uuid5 derived from it; a node's run id is a uuid5 of the run's
and the node key, and carries a ``parent`` facet pointing at the run. Events: START when a
node starts, COMPLETE / FAIL (with an ``errorMessage`` facet) / ABORT when it ends; skipped
nodes never started and send nothing. The run sends START and COMPLETE / FAIL / ABORT too.

Datasets are named from their connections (see :func:`dataset_name`): inputs are the node's
``read:`` and the upstream tables it reads; the output is its ``write:`` target, with
``schema``, ``columnLineage`` (from its SQL steps), ``outputStatistics`` and
``dataQualityAssertions`` facets.

The observer is called from the runner's threads and only queues work: one daemon thread
builds and sends the events. On RunFinished it waits for the queue to drain for at most
``lineage.timeout`` in total; after the first failed send it stops trying for the rest of
the run (one warning). Lineage never fails a run or changes its result. Every event passes
through the redactor before it is sent.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lakestory._version import __version__
from lakestory.config.models import LineageConfig
from lakestory.config.models.connections import (
    AzureConnection,
    LocalConnection,
    PostgresConnection,
    S3Connection,
    SqlConnection,
)
from lakestory.io.specs import Location
from lakestory.runtime.events import Event, NodeFinished, NodeStarted, RunFinished, RunStarted
from lakestory.runtime.plan import Plan, PlannedNode
from lakestory.runtime.records import NodeRecord, RunResult
from lakestory.secrets.redact import host_of
from lakestory.secrets.redactor import current as current_redactor
from lakestory.transforms.lineage import IDENTITY, Columns, node_columns

log = logging.getLogger("lakestory.lineage")

PRODUCER = f"https://github.com/lakestory/lakestory/tree/v{__version__}"
_LAKESTORY_RUNS = uuid.UUID("6b1f3c1e-1d0a-5c6e-9a55-6c616b657374")  # uuid5 namespace
_NODE_END = {"success": "COMPLETE", "failed": "FAIL", "aborted": "ABORT"}
_RUN_END = {"success": "COMPLETE", "failed": "FAIL", "aborted": "ABORT"}


def lineage_observer(loaded: Any, plan: Plan) -> Callable[[Event], None] | None:
    """The subscriber sending OpenLineage events, or None when ``lineage:`` is not set."""
    cfg: LineageConfig | None = loaded.config.lineage
    if cfg is None:
        return None
    if importlib.util.find_spec("openlineage") is None:
        log.warning(
            "lineage: openlineage-python is not installed (pip install "
            '"lakestory[lineage]"); this run sends no lineage events'
        )
        return None
    if cfg.api_key:  # a secret wherever it shows up
        current_redactor().add([cfg.api_key])
    connections = dict(loaded.config.connections or {})
    # the client is made on the sender thread: importing it (~0.6 s) overlaps the run
    return LineageObserver(cfg, plan, _Namer(connections), lambda: _http_client(cfg))


# -- dataset naming (the OpenLineage naming spec) ------------------------------------------


def dataset_name(location: Location, connection: object | None = None) -> tuple[str, str]:
    """(namespace, name) of a table or file, following the OpenLineage naming spec:
    ``file`` + absolute path; ``s3://{bucket}`` + key; ``abfss://{container}@{account}.dfs
    .core.windows.net`` + path; ``wasbs://{container}@{account}.blob.core.windows.net`` +
    path; ``postgres://{host}:{port}`` + ``{database}.{schema}.{table}``; a ``sql``
    connection: ``{scheme}://{host}:{port}`` + ``{database}.{table}`` (no credentials)."""
    path = location.path.strip("/")
    c = connection
    if isinstance(c, S3Connection):
        return f"s3://{c.bucket}", _join(c.path_prefix, path)
    if isinstance(c, AzureConnection):
        account = c.account or c.account_name
        adls = c.type == "azure_adls"
        scheme, host = ("abfss", "dfs") if adls else ("wasbs", "blob")
        namespace = f"{scheme}://{c.container or ''}@{account}.{host}.core.windows.net"
        return namespace, "/" + _join(c.path_prefix, path)
    if isinstance(c, PostgresConnection):
        parts = path.split(".")
        schema = parts[-2] if len(parts) > 1 else (c.db_schema or "public")
        database = parts[-3] if len(parts) > 2 else (c.database or "postgres")
        return f"postgres://{c.host}:{c.port}", f"{database}.{schema}.{parts[-1]}"
    if isinstance(c, SqlConnection):
        url = urlsplit(c.url)
        port = f":{url.port}" if url.port else ""
        name = ".".join(p for p in (url.path.strip("/"), path) if p)
        return f"{url.scheme.split('+')[0]}://{url.hostname or ''}{port}", name
    if location.kind == "local" or isinstance(c, LocalConnection):
        return "file", str(Path(location.uri)).rstrip("/") or "/"
    return location.kind, location.uri


def _join(prefix: str | None, path: str) -> str:
    return "/".join(p.strip("/") for p in (prefix or "", path) if p and p.strip("/"))


@dataclass
class _Namer:
    connections: Mapping[str, Any]

    def __call__(self, location: Location) -> tuple[str, str]:
        return dataset_name(location, self.connections.get(location.connection))


# -- what a node reads and writes ------------------------------------------------------------


def _node_locations(p: PlannedNode, plan: Plan) -> dict[str, Location]:
    """Where each table a node's SQL names comes from: ``df`` and the upstream nodes (by
    key) whose table this node reads, read from disk or passed in memory."""
    n = p.node
    targets = {q.key: q.node.target.location for q in plan.nodes if q.node.target is not None}
    out: dict[str, Location] = {}
    for key in sorted(n.data_deps):
        if key in p.from_tables:
            out[key] = p.from_tables[key].location
        elif key in targets:
            out[key] = targets[key]
    if n.source is not None:
        out["df"] = n.source.location
    elif n.df_from is not None and n.df_from in out:
        out["df"] = out[n.df_from]
    return out


def _column_lineage(
    p: PlannedNode, record: NodeRecord, known: Mapping[str, list[str]], locs: Mapping[str, Location]
) -> dict[str, dict[tuple[str, str], str]]:
    """Each output column -> {(location display, column): subtype}; {} when unknown."""
    n = p.node
    names: dict[str, str] = {"df": "df"}  # table as the SQL names it -> node key or "df"
    tables: dict[str, list[str] | None] = {"df": None}
    for step in n.steps:
        for (qualifier, name), ref in step.refs.items():
            dotted = (f"{qualifier}.{name}" if qualifier else name).lower()
            target = n.inputs.get(ref, ref)  # an `inputs:` alias names a node
            names[dotted] = target
            tables[dotted] = known.get(target)
    if n.source is None and n.df_from is not None:
        tables["df"] = known.get(n.df_from)
    if n.source is not None and not n.steps:
        tables["df"] = [f["name"] for f in record.schema]
    cols: Columns | None = node_columns([(s.kind, s.text) for s in n.steps], tables)
    if cols is None:
        return {}
    out: dict[str, dict[tuple[str, str], str]] = {}
    for f in record.schema:
        fields: dict[tuple[str, str], str] = {}
        for (table, column), sub in cols.origins(f["name"]).items():
            key = names.get(table, table)
            key = n.df_from if key == "df" and n.source is None and n.df_from else key
            loc = locs.get("df" if key == "df" else key or "")
            if loc is not None:
                fields[(loc.display(), column)] = sub
        if fields:
            out[f["name"]] = fields
    return out


def _delta_commit_size(record: NodeRecord) -> int | None:
    """Bytes of the files the committed Delta version added (local tables only)."""
    if record.table_version is None or not record.target_uri:
        return None
    log_file = Path(record.target_uri) / "_delta_log" / f"{record.table_version:020d}.json"
    try:
        lines = log_file.read_text("utf-8").splitlines()
    except OSError:
        return None
    adds = [json.loads(line).get("add") for line in lines if line.strip()]
    return sum(int(a.get("size", 0)) for a in adds if a)


# -- the observer ----------------------------------------------------------------------------


class LineageObserver:
    """Turns run events into OpenLineage events; sending happens on a background thread."""

    def __init__(self, cfg: LineageConfig, plan: Plan, namer: _Namer, client: Any) -> None:
        self.cfg = cfg
        self.plan = plan
        self.namer = namer
        self.budget = cfg.timeout.total_seconds()
        self.sender = _Sender(client, self.budget)
        self.planned = {p.key: p for p in plan.nodes}
        self.known: dict[str, list[str]] = {}  # node key -> output columns seen this run
        self.started: set[str] = set()
        self.lock = threading.Lock()
        self.run_id = ""
        self.run_uuid = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_id = event.result.run_id
            self.run_uuid = run_uuid(event.result.run_id)
            self.sender.put(lambda: self._run_event("START", event.result))
        elif isinstance(event, NodeStarted):
            with self.lock:
                self.started.add(event.record.key)
            self.sender.put(lambda: self._node_event("START", event.record))
        elif isinstance(event, NodeFinished):
            rec = event.record
            with self.lock:
                if rec.schema:
                    self.known[rec.key] = [f["name"] for f in rec.schema]
                started = rec.key in self.started
                self.started.discard(rec.key)
            end = _NODE_END.get(rec.status)
            if end is not None and started:
                self._put_node(end, rec)
        elif isinstance(event, RunFinished):
            with self.lock:
                unfinished = sorted(self.started)
                self.started.clear()
            records = {r.key: r for r in event.result.nodes}
            for key in unfinished:  # started, never finished: the run was interrupted
                self._put_node("ABORT", records.get(key) or _lost(key))
            kind = _RUN_END.get(event.result.status, "ABORT")
            self.sender.put(lambda: self._run_event(kind, event.result))
            self.sender.flush()

    def _put_node(self, kind: str, rec: NodeRecord) -> None:
        self.sender.put(lambda: self._node_event(kind, rec))

    # -- building events (on the sender thread) --

    def _ol(self) -> Any:
        from openlineage.client import event_v2, facet_v2

        return event_v2, facet_v2

    def _run_event(self, kind: str, result: RunResult) -> Any:
        ev, fc = self._ol()
        facets: dict[str, Any] = {}
        if kind == "FAIL":
            failed = [r.key for r in result.nodes if r.status in ("failed", "aborted")]
            message = f"{len(failed)} node(s) failed: {', '.join(failed)}"
            facets["errorMessage"] = fc.error_message_run.ErrorMessageRunFacet(
                message=message, programmingLanguage="python", producer=PRODUCER
            )
        return ev.RunEvent(
            eventType=getattr(ev.RunState, kind),
            eventTime=_time(result.ended_at if kind != "START" else result.started_at),
            run=ev.Run(runId=self.run_uuid, facets=facets),
            job=ev.Job(
                namespace=self.cfg.namespace, name=self.plan.project, facets=_job_facets(fc, "JOB")
            ),
            producer=PRODUCER,
            inputs=[],
            outputs=[],
        )

    def _node_event(self, kind: str, rec: NodeRecord) -> Any:
        ev, fc = self._ol()
        facets: dict[str, Any] = {
            "parent": fc.parent_run.ParentRunFacet(
                run=fc.parent_run.Run(runId=self.run_uuid),
                job=fc.parent_run.Job(namespace=self.cfg.namespace, name=self.plan.project),
                producer=PRODUCER,
            )
        }
        if kind == "FAIL":
            message = str((rec.error or {}).get("message") or "failed")
            facets["errorMessage"] = fc.error_message_run.ErrorMessageRunFacet(
                message=current_redactor().redact_text(message),
                programmingLanguage="python",
                producer=PRODUCER,
            )
        inputs, outputs = self._datasets(kind, rec)
        when = rec.started_at if kind == "START" else rec.ended_at
        return ev.RunEvent(
            eventType=getattr(ev.RunState, kind),
            eventTime=_time(when),
            run=ev.Run(runId=node_uuid(self.run_uuid, rec.key), facets=facets),
            job=ev.Job(
                namespace=self.cfg.namespace, name=rec.key, facets=self._node_job_facets(fc, rec)
            ),
            producer=PRODUCER,
            inputs=inputs,
            outputs=outputs,
        )

    def _node_job_facets(self, fc: Any, rec: NodeRecord) -> dict[str, Any]:
        facets = _job_facets(fc, "TASK")
        p = self.planned.get(rec.key)
        queries = [s.text for s in p.node.steps if s.kind == "sql"] if p else []
        if queries:  # the SQL steps as written, in order
            query = current_redactor().redact_text(";\n\n".join(q.strip() for q in queries))
            facets["sql"] = fc.sql_job.SQLJobFacet(query=query, dialect="spark", producer=PRODUCER)
        return facets

    def _datasets(self, kind: str, rec: NodeRecord) -> tuple[list[Any], list[Any]]:
        ev, fc = self._ol()
        p = self.planned.get(rec.key)
        if p is None:
            return [], []
        locs = _node_locations(p, self.plan)
        with self.lock:
            known = dict(self.known)
        checks = _assertions(fc, p, rec.checks)
        inputs = []
        for key, loc in sorted(locs.items()):
            if key == "df" and p.node.source is None:
                continue  # the same table as the upstream node's entry
            ns, name = self.namer(loc)
            dataset_facets: dict[str, Any] = {}
            cols = known.get(key)
            if cols is not None:
                dataset_facets["schema"] = _schema(fc, [{"name": c} for c in cols])
            input_facets = {}
            if key == ("df" if p.node.source else p.node.df_from) and checks.get("contract"):
                input_facets["dataQualityAssertions"] = checks["contract"]
            inputs.append(
                ev.InputDataset(
                    namespace=ns, name=name, facets=dataset_facets, inputFacets=input_facets
                )
            )
        target = p.node.target
        if target is None:
            return inputs, []
        ns, name = self.namer(target.location)
        facets: dict[str, Any] = {}
        output_facets: dict[str, Any] = {}
        if kind != "START":
            if rec.schema:
                facets["schema"] = _schema(fc, rec.schema)
            lineage = _column_lineage(p, rec, known, locs)
            if lineage:
                facets["columnLineage"] = self._lineage_facet(fc, lineage)
            if checks.get("validation"):
                facets["dataQualityAssertions"] = checks["validation"]
            if kind == "COMPLETE" and rec.rows_written is not None:
                output_facets["outputStatistics"] = (
                    fc.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=rec.rows_written, size=_delta_commit_size(rec), producer=PRODUCER
                    )
                )
        out = ev.OutputDataset(namespace=ns, name=name, facets=facets, outputFacets=output_facets)
        return inputs, [out]

    def _lineage_facet(self, fc: Any, lineage: Mapping[str, Mapping[tuple[str, str], str]]) -> Any:
        cl = fc.column_lineage_dataset
        by_display = {loc.display(): loc for p in self.plan.nodes for loc in _all_locations(p)}
        fields = {}
        for column, origins in lineage.items():
            items = []
            for (display, field_), sub in sorted(origins.items()):
                ns, name = self.namer(by_display[display])
                how = "identity" if sub == IDENTITY else sub.lower()
                items.append(
                    cl.InputField(
                        namespace=ns,
                        name=name,
                        field=field_,
                        transformations=[
                            cl.Transformation(
                                type="DIRECT",
                                subtype=sub,
                                description=how,
                            )
                        ],
                    )
                )
            fields[column] = cl.Fields(inputFields=items)
        return cl.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)


def _job_facets(fc: Any, job_type: str) -> dict[str, Any]:
    return {
        "jobType": fc.job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="LAKESTORY", jobType=job_type, producer=PRODUCER
        )
    }


def _lost(key: str) -> NodeRecord:
    pipeline, _, node = key.partition(".")
    return NodeRecord(key, pipeline, node, status="aborted", ended_at=datetime.now(UTC))


def _all_locations(p: PlannedNode) -> list[Location]:
    n = p.node
    out = [s.location for s in p.from_tables.values()]
    out += [x.location for x in (n.source, n.target) if x is not None]
    return out


def _schema(fc: Any, fields: list[dict[str, str]]) -> Any:
    sd = fc.schema_dataset
    items = [sd.SchemaDatasetFacetFields(name=f["name"], type=f.get("type")) for f in fields]
    return sd.SchemaDatasetFacet(fields=items, producer=PRODUCER)


def _assertions(fc: Any, p: PlannedNode, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The node's checks as ``dataQualityAssertions`` facets, by phase."""
    dq = fc.data_quality_assertions_dataset
    columns: dict[str, str] = {}
    for suite in (p.node.contracts, p.node.validation):
        for c in suite.checks if suite is not None else []:
            col = getattr(c.test, "column", None)
            cols = getattr(c.test, "columns", None)
            if isinstance(col, str):
                columns[c.name] = col
            elif isinstance(cols, list) and len(cols) == 1:
                columns[c.name] = cols[0]
    out: dict[str, Any] = {}
    for phase in ("contract", "validation"):
        items = [
            dq.Assertion(
                assertion=str(c.get("type") or c.get("name")),
                success=c.get("status") != "failed",
                column=columns.get(str(c.get("name"))),
            )
            for c in checks
            if c.get("phase") == phase
        ]
        if items:
            out[phase] = dq.DataQualityAssertionsDatasetFacet(assertions=items, producer=PRODUCER)
    return out


def run_uuid(run_id: str) -> str:
    """The OpenLineage run id of a lakestory run: its id if a UUID, else a uuid5 of it."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_LAKESTORY_RUNS, run_id))


def node_uuid(run: str, key: str) -> str:
    """The OpenLineage run id of one node's run (the same for each retry attempt)."""
    return str(uuid.uuid5(uuid.UUID(run), key))


def _time(when: datetime | None) -> str:
    when = when or datetime.now(UTC)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


# -- sending -----------------------------------------------------------------------------------


def _http_client(cfg: LineageConfig) -> Any:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    transport: dict[str, Any] = {
        "type": "http",
        "url": cfg.url,
        "endpoint": cfg.endpoint,
        "timeout": cfg.timeout.total_seconds(),
        "retry": {"total": 0},
    }
    if cfg.api_key:
        transport["auth"] = {"type": "api_key", "apiKey": cfg.api_key}
    return OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(transport)))


class _Sender:
    """One daemon thread that builds and sends queued events in order. After a failed send
    it drops the rest of the run's events; ``flush`` waits at most ``budget`` seconds."""

    def __init__(self, client: Any, budget: float) -> None:
        # a client, or a function making one on this sender's thread
        self.client = None if _is_factory(client) else client
        self._connect = client if _is_factory(client) else None
        self.budget = budget
        self.queue: queue.Queue[Callable[[], Any] | threading.Event] = queue.Queue()
        self.broken = False
        self.closed = False
        self.sent = 0
        self.thread = threading.Thread(target=self._loop, name="lakestory-lineage", daemon=True)
        self.thread.start()

    def put(self, build: Callable[[], Any]) -> None:
        if not self.closed:
            self.queue.put(build)

    def flush(self) -> None:
        done = threading.Event()
        self.queue.put(done)
        if not done.wait(self.budget):
            log.warning(
                "lineage: events not sent within %.1fs were dropped (%s)",
                self.budget,
                _host(self.client),
            )
        self.closed = True

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if isinstance(item, threading.Event):
                item.set()
                return  # the run's flush: nothing follows
            if self.broken or self.closed:
                continue
            try:
                event = item()
            except Exception:  # an observer never fails the run: log the defect
                log.exception("lineage: could not build an OpenLineage event")
                continue
            self._send(event)

    def _send(self, event: Any) -> None:
        from openlineage.client.serde import Serde

        plain = Serde.to_dict(event)
        redacted = current_redactor().redact(plain)
        try:
            if self.client is None:
                assert self._connect is not None
                self.client = self._connect()
            if redacted == plain:
                self.client.emit(event)
            else:  # a secret slipped into the event: send the redacted form
                self.client.transport.emit(redacted)
            self.sent += 1
        except Exception as exc:  # noqa: BLE001 - any failure to send: stop for this run
            self.broken = True
            reason = current_redactor().redact_text(f"{type(exc).__name__}: {exc}")
            log.warning(
                "lineage: could not send OpenLineage events to %s (%s); "
                "no more lineage events for this run",
                _host(self.client),
                reason,
            )


def _is_factory(client: Any) -> bool:
    return callable(client) and not hasattr(client, "emit")


def _host(client: Any) -> str:
    url = str(getattr(getattr(client, "transport", None), "url", "") or "")
    return host_of(url) if url else "the lineage endpoint"
