"""OpenLineage events sent to a local HTTP receiver during a run through the CLI: one job per
node parented to the run's job, every event valid against the OpenLineage JSON schema,
datasets named from their connections, column lineage through a SQL join, output
statistics and quality assertions; a failed node's error redacted; an endpoint that is down
or hangs costs a bounded time and changes nothing in the run."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).parent.parent / "fixtures" / "openlineage"
API_KEY = "ol-key-5up3r-s3cr3t"
SECRET = "hunter2-lineage-secret"
ENV = {"LINEAGE_API_KEY": API_KEY, "LINEAGE_SECRET": SECRET}

PROJECT = """
project: shop
on_error: fail_later
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
{lineage}
pipelines:
  - pipeline: shop
    nodes:
      - name: customers
        read: {{connection: raw, path: customers.csv}}
        write: {{connection: lake, path: customers, format: delta}}
      - name: orders
        read: {{connection: raw, path: orders.csv}}
        transform: [{{sql: "SELECT order_id, customer_id, amount * 2 AS amount FROM df"}}]
        write: {{connection: lake, path: orders, format: delta}}
      - name: gold
        transform:
          - sql: |
              SELECT c.id, c.name, SUM(o.amount) AS total
              FROM customers c JOIN orders o ON c.id = o.customer_id
              GROUP BY c.id, c.name
        validation:
          tests:
            - {{type: not_null, columns: [id]}}
            - {{type: row_count, min: 1}}
        write: {{connection: lake, path: gold, format: delta}}
{broken}"""
BROKEN = """\
      - name: broken
        read: {connection: raw, path: customers.csv}
        transform: [{sql: "SELECT raise_error(concat('boom ', '${LINEAGE_SECRET}')) AS x FROM df"}]
        write: {connection: lake, path: broken, format: delta}
"""
LINEAGE = """\
lineage:
  url: {url}
  namespace: tests
  api_key: ${{LINEAGE_API_KEY}}
  timeout: 1s
"""
FILES = {
    "data/customers.csv": "id,name\n1,ann\n2,bob\n",
    "data/orders.csv": "order_id,customer_id,amount\n1,1,10\n2,1,5\n3,2,7\n",
}
Cli = Callable[..., Any]


def make(project: Callable[..., Path], url: str | None, broken: bool = False) -> Path:
    lineage = LINEAGE.format(url=url) if url else ""
    text = PROJECT.format(lineage=lineage, broken=BROKEN if broken else "")
    return project(text, FILES, root=f"shop-{uuid.uuid4().hex[:6]}") / "lakestory.yaml"


# -- validation against the OpenLineage JSON schema (tests/fixtures/openlineage) -----------


def _registry() -> tuple[Registry, dict[str, str]]:
    """Every stored schema under its ``$id`` (the core one also under the versions the
    facets and the client name), and the ``$id`` of each facet file by file name."""
    resources, ids = [], {}
    for path in sorted(SPEC.glob("*.json")):
        schema = json.loads(path.read_text("utf-8"))
        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        ids[path.name] = schema["$id"]
        resources.append((schema["$id"], resource))
        if path.name == "OpenLineage.json":
            for version in ("1-0-0", "1-0-1", "2-0-2"):
                resources.append(
                    (f"https://openlineage.io/spec/{version}/OpenLineage.json", resource)
                )
    return Registry().with_resources(resources), ids


REGISTRY, IDS = _registry()
# the facets lakestory emits: each must have its stored schema
OURS = {
    "parent",
    "errorMessage",
    "schema",
    "columnLineage",
    "outputStatistics",
    "dataQualityAssertions",
    "jobType",
    "sql",
}


def _check(instance: Any, ref: str) -> None:
    validator = jsonschema.Draft202012Validator(
        {"$ref": ref}, registry=REGISTRY, format_checker=jsonschema.FormatChecker()
    )
    validator.validate(instance)


def validate_event(event: dict[str, Any]) -> set[str]:
    """Validate a run event and each of its facets against its own schema file; returns
    the names of the facets validated against a facet schema."""
    _check(event, "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent")
    uuid.UUID(event["run"]["runId"])
    facets: list[tuple[str, dict[str, Any]]] = []
    facets += list(event["run"].get("facets", {}).items())
    facets += list(event["job"].get("facets", {}).items())
    for ds in event.get("inputs", []) + event.get("outputs", []):
        for group in ("facets", "inputFacets", "outputFacets"):
            facets += list(ds.get(group, {}).items())
    checked = set()
    for name, facet in facets:
        file = facet["_schemaURL"].split("#")[0].rsplit("/", 1)[-1]
        if file in IDS:
            _check(facet, f"{IDS[file]}#/$defs/{file.removesuffix('.json')}")
            checked.add(name)
        else:
            assert name not in OURS, f"no stored schema for our facet {name}"
    return checked


def events(rcv: Any, n: int) -> list[dict[str, Any]]:
    got = rcv.requests(wait_for=n, timeout=10)
    assert all(r["path"] == "/api/v1/lineage" and r["method"] == "POST" for r in got)
    return [json.loads(r["body"]) for r in got]


def by_job(evs: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in evs:
        out.setdefault(e["job"]["name"], []).append(e["eventType"])
    return out


def output(e: dict[str, Any]) -> dict[str, Any]:
    [out] = e["outputs"]
    return out  # type: ignore[no-any-return]


# -- the tests -------------------------------------------------------------------------------


def test_a_run_sends_valid_events_for_each_node_and_the_run(
    project: Callable[..., Path], cli: Cli, receiver: Callable[..., Any]
) -> None:
    rcv = receiver("ok")
    path = make(project, rcv.url)
    result = cli("run", path, env=ENV)
    assert result.exit_code == 0, result.stdout + result.stderr
    evs = events(rcv, 8)
    assert len(evs) == 8
    assert by_job(evs) == {
        "shop": ["START", "COMPLETE"],
        "shop.customers": ["START", "COMPLETE"],
        "shop.orders": ["START", "COMPLETE"],
        "shop.gold": ["START", "COMPLETE"],
    }
    checked: set[str] = set()
    for e in evs:
        checked |= validate_event(e)
        assert e["job"]["namespace"] == "tests"
    assert checked == OURS - {"errorMessage"}
    # the api key goes as a bearer token and nowhere else
    requests = rcv.requests()
    assert {r["headers"]["authorization"] for r in requests} == {f"Bearer {API_KEY}"}
    assert not any(API_KEY in r["body"] for r in requests)
    assert API_KEY not in result.stdout + result.stderr

    # each node run is parented to the run
    run = next(e for e in evs if e["job"]["name"] == "shop")
    for e in evs:
        if e["job"]["name"] != "shop":
            parent = e["run"]["facets"]["parent"]
            assert parent["run"]["runId"] == run["run"]["runId"]
            assert (parent["job"]["namespace"], parent["job"]["name"]) == ("tests", "shop")
    node_runs = {e["job"]["name"]: e["run"]["runId"] for e in evs}
    assert len(set(node_runs.values())) == 4

    root = path.parent.resolve()
    done = {e["job"]["name"]: e for e in evs if e["eventType"] == "COMPLETE"}
    customers, orders, gold = done["shop.customers"], done["shop.orders"], done["shop.gold"]
    assert [(i["namespace"], i["name"]) for i in customers["inputs"]] == [
        ("file", str(root / "data" / "customers.csv"))
    ]
    assert (output(customers)["namespace"], output(customers)["name"]) == (
        "file",
        str(root / "lake" / "customers"),
    )
    # the join reads both upstream tables; its columns come from both
    lake = {"customers": str(root / "lake" / "customers"), "orders": str(root / "lake" / "orders")}
    assert sorted(i["name"] for i in gold["inputs"]) == sorted(lake.values())
    out = output(gold)
    assert out["name"] == str(root / "lake" / "gold")
    fields = out["facets"]["columnLineage"]["fields"]
    pointers = {
        col: [(f["name"], f["field"], f["transformations"][0]["subtype"]) for f in v["inputFields"]]
        for col, v in fields.items()
    }
    assert pointers == {
        "id": [(lake["customers"], "id", "IDENTITY")],
        "name": [(lake["customers"], "name", "IDENTITY")],
        "total": [(lake["orders"], "amount", "AGGREGATION")],
    }
    orders_lineage = output(orders)["facets"]["columnLineage"]["fields"]
    assert orders_lineage["amount"]["inputFields"][0]["name"] == str(root / "data" / "orders.csv")
    assert orders_lineage["amount"]["inputFields"][0]["transformations"][0]["subtype"] == (
        "TRANSFORMATION"
    )
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == ["id", "name", "total"]
    job_facets = gold["job"]["facets"]
    assert "JOIN orders o" in job_facets["sql"]["query"]
    assert job_facets["jobType"]["processingType"] == "BATCH"
    assert "sql" not in customers["job"]["facets"]  # no SQL step
    stats = out["outputFacets"]["outputStatistics"]
    assert stats["rowCount"] == 2 and stats["size"] > 0
    assertions = out["facets"]["dataQualityAssertions"]["assertions"]
    assert [(a["assertion"], a["success"], a.get("column")) for a in assertions] == [
        ("not_null", True, "id"),
        ("row_count", True, None),
    ]


def test_a_failed_node_sends_fail_with_its_error_redacted(
    project: Callable[..., Path], cli: Cli, receiver: Callable[..., Any]
) -> None:
    rcv = receiver("ok")
    result = cli("run", make(project, rcv.url, broken=True), env=ENV)
    assert result.exit_code == 1
    evs = events(rcv, 10)
    for e in evs:
        validate_event(e)
    jobs = by_job(evs)
    assert jobs["shop.broken"] == ["START", "FAIL"]
    assert jobs["shop"] == ["START", "FAIL"]
    fail = next(e for e in evs if e["job"]["name"] == "shop.broken" and e["eventType"] == "FAIL")
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "boom" in message and "[REDACTED]" in message
    assert not any(SECRET in r["body"] for r in rcv.requests())
    run_fail = next(e for e in evs if e["job"]["name"] == "shop" and e["eventType"] == "FAIL")
    assert run_fail["run"]["facets"]["errorMessage"]["message"] == "1 node(s) failed: shop.broken"
    assert "outputStatistics" not in output(fail).get("outputFacets", {})


def _timed(cli: Cli, path: Path) -> tuple[float, Any]:
    start = time.monotonic()
    result = cli("run", path, env=ENV)
    return time.monotonic() - start, result


@pytest.mark.parametrize("mode", ["down", "hang", "fail"])
def test_an_unreachable_endpoint_costs_a_bounded_time_and_changes_nothing(
    project: Callable[..., Path], cli: Cli, receiver: Callable[..., Any], mode: str
) -> None:
    baseline_s, baseline = _timed(cli, make(project, None, broken=True))
    rcv = receiver(mode)
    took_s, result = _timed(cli, make(project, rcv.url, broken=True))
    assert (result.exit_code, baseline.exit_code) == (1, 1)
    # timeout is 1s: at most that once for the whole run (generous slack for a busy machine)
    assert took_s - baseline_s < 1 + 3, (took_s, baseline_s)
    if mode != "down":
        # one attempt, then no more for this run
        assert len(rcv.requests(wait_for=1, timeout=5)) == 1
    assert API_KEY not in result.stdout + result.stderr
