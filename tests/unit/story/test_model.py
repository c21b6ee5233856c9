from __future__ import annotations

import json

import jsonschema

from lakestory.runtime.records import RunResult
from lakestory.story.model import SCHEMA_VERSION, RunFacts, build_story, json_schema

EDGES = [("bronze.raw", "silver.clean"), ("silver.clean", "gold.report")]


def facts(**kw: object) -> RunFacts:
    base: dict[str, object] = {
        "dag_nodes": ["bronze.raw", "silver.clean", "gold.report"],
        "dag_edges": EDGES,
    }
    return RunFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_story_validates_against_the_shipped_schema(run: RunResult) -> None:
    story = json.loads(json.dumps(build_story(run, facts(git_commit="deadbeef")), default=str))
    jsonschema.validate(story, json_schema())
    assert story["schema_version"] == SCHEMA_VERSION == 1
    assert story["run"]["git_commit"] == "deadbeef"
    assert story["run"]["status"] == "failed"
    assert story["dag"]["edges"] == [list(e) for e in EDGES]


def test_an_invalid_story_fails_the_schema(run: RunResult) -> None:
    story = build_story(run, facts())
    del story["run"]["run_id"]
    try:
        jsonschema.validate(json.loads(json.dumps(story, default=str)), json_schema())
    except jsonschema.ValidationError as exc:
        assert "run_id" in exc.message
    else:
        raise AssertionError("a story without a run id passed the schema")


def test_totals_and_every_record_field(run: RunResult) -> None:
    story = build_story(run, facts())
    assert story["totals"] == {
        "nodes": 3,
        "succeeded": 1,
        "failed": 1,
        "skipped": 1,
        "rows_read": 3,
        "rows_written": 3,
        "rows_dropped": 1,
        "rows_quarantined": 0,
        "retries": 0,
    }
    node = story["nodes"][0]
    for name in ("table_version", "checks", "gate", "rows_quarantined", "sql", "attempts"):
        assert name in node
    assert node["sample"][0]["id"] == 1
    assert story["nodes"][1]["error"]["message"].startswith("boom")


def test_samples_are_cut_to_max_sample_rows(run: RunResult) -> None:
    story = build_story(run, facts(max_sample_rows=1))
    assert len(story["nodes"][0]["sample"]) == 1
    assert story["nodes"][1]["sample"] is None  # no sample recorded


def test_a_redacted_sample_stays_redacted(run: RunResult) -> None:
    run.nodes[0].sample = "[REDACTED: Sensitive Data]"  # type: ignore[attr-defined]
    story = build_story(run, facts())
    assert story["nodes"][0]["sample"] == "[REDACTED: Sensitive Data]"
    jsonschema.validate(json.loads(json.dumps(story, default=str)), json_schema())


def test_schema_changes_against_the_last_recorded_schemas(run: RunResult) -> None:
    previous = {"/lake/bronze/raw": [{"name": "id", "type": "int"}]}
    story = build_story(run, facts(previous_schemas=previous))
    assert story["schema_changes"] == [
        {"key": "bronze.raw", "table": "lake:bronze/raw", "change": "added name; id: int → bigint"}
    ]
    same = {
        "/lake/bronze/raw": [{"name": "id", "type": "bigint"}, {"name": "name", "type": "varchar"}]
    }
    assert build_story(run, facts(previous_schemas=same))["schema_changes"] == []
    assert build_story(run, facts())["schema_changes"] == []  # no catalog: none known
