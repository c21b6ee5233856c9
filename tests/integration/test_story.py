"""The story of a run: written at its end as JSON (valid against the shipped schema) and one
self-contained HTML page, listed and shown by `lakestory story`, pruned by retention."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

from lakestory.story.model import json_schema

PROJECT = """
project: shop
on_error: fail_later
connections:
  raw: {{type: local, base_path: data}}
  lake: {{type: local, base_path: lake}}
  reports: {{type: local, base_path: out}}
story: {story}
pipelines:
  - pipeline: shop
    nodes:
      - name: items
        read: {{connection: raw, path: items.csv}}
        transform: [{{sql: "SELECT id, name FROM df WHERE id > 0"}}]
        write: {{connection: lake, path: items, format: delta}}
      - name: broken                    # a malformed CSV row: fails
        read: {{connection: raw, path: bad.csv}}
        write: {{connection: lake, path: broken}}
"""
FILES = {
    "data/items.csv": "id,name\n1,<script>alert('x')</script>\n2,b\n",
    "data/bad.csv": "id,amount\n1,10\n2,20,5\n",
}
Cli = Callable[..., Any]


def shop(project: Callable[..., Path], story: str = "{connection: reports, path: stories}") -> Path:
    return project(PROJECT.format(story=story), FILES) / "lakestory.yaml"


def stories(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


def test_a_failed_run_writes_its_story(project: Callable[..., Path], cli: Cli) -> None:
    path = shop(project)
    result = cli("run", path)
    assert result.exit_code == 1
    folder = path.parent / "out" / "stories" / "shop"
    [json_file] = stories(folder)
    assert "story: " + str(json_file.with_suffix(".html")) in result.stdout
    story = json.loads(json_file.read_text())
    jsonschema.validate(story, json_schema())
    assert json_file.parent.name == story["run"]["started_at"][:10]
    assert json_file.stem == story["run"]["run_id"]
    assert story["run"]["status"] == "failed"
    nodes = {n["key"]: n for n in story["nodes"]}
    assert nodes["shop.items"]["rows_written"] == 2
    assert nodes["shop.items"]["table_version"] == 0
    assert "SELECT id, name FROM df" in nodes["shop.items"]["sql"][0]
    [ran] = nodes["shop.items"]["sql_run"]  # as the engine ran it: its dialect, its names
    assert "FROM df" not in ran and '"shop.items:read"' in ran
    assert nodes["shop.broken"]["error"]["message"]
    html = json_file.with_suffix(".html").read_text()
    assert nodes["shop.broken"]["error"]["message"].split("\n")[0][:40] in html.replace(
        "&#x27;", "'"
    ).replace("&quot;", '"')
    assert "<script>alert" not in html  # the data's script is escaped
    assert 'href="#node-shop.broken"' in html


def test_story_cli_list_show_last(project: Callable[..., Path], cli: Cli) -> None:
    path = shop(project, "{}")  # no connection: .lakestory/stories beside the project
    cli("run", path)
    cli("run", path, "--node", "items")
    listed = json.loads(cli("story", "list", path, "--format", "json").stdout)
    assert [s["status"] for s in listed["stories"]] == ["success", "failed"]
    assert listed["root"] == str(path.parent / ".lakestory" / "stories")
    newest = listed["stories"][0]
    assert os.path.exists(newest["html"])
    last = cli("story", "last", path)
    assert last.exit_code == 0 and last.stdout.strip() == newest["html"]
    shown = cli("story", "show", newest["run_id"][:6], path)
    assert shown.exit_code == 0
    assert "shop.items" in shown.stdout and "success" in shown.stdout
    missing = cli("story", "show", "nope", path)
    assert missing.exit_code != 0 and "no story of run 'nope'" in missing.stderr


def test_every_run_has_a_story_unless_turned_off(project: Callable[..., Path], cli: Cli) -> None:
    path = project(PROJECT.replace("story: {story}\n", "").format(), FILES) / "lakestory.yaml"
    result = cli("run", path)
    [html] = list((path.parent / ".lakestory" / "stories" / "shop").rglob("*.html"))
    assert f"story: {html}" in result.stdout  # no `story:` section: the defaults
    off = PROJECT.format(story="{enabled: false}")
    path = project(off, FILES, root="off") / "lakestory.yaml"
    result = cli("run", path)
    assert "story:" not in result.stdout
    assert not (path.parent / ".lakestory" / "stories").exists()
    listed = cli("story", "list", path)
    assert listed.exit_code != 0 and "`story.enabled` is false" in listed.stderr


def test_retention_by_count(project: Callable[..., Path], cli: Cli) -> None:
    path = shop(project, "{retention_count: 2}")
    ids = []
    for _ in range(3):
        cli("run", path, "--node", "items")
        ids.append(json.loads(cli("story", "list", path, "--format", "json").stdout))
    kept = [s["run_id"] for s in ids[-1]["stories"]]
    assert len(kept) == 2
    assert ids[0]["stories"][0]["run_id"] not in kept  # the first run's story went
    assert len(list((path.parent / ".lakestory" / "stories").rglob("*.html"))) == 2


def test_retention_by_age(project: Callable[..., Path], cli: Cli) -> None:
    path = shop(project, "{retention_days: 7}")
    root = path.parent / ".lakestory" / "stories" / "shop"
    old = datetime.now(UTC) - timedelta(days=30)
    stale = root / old.strftime("%Y-%m-%d") / "stale.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"run": {"run_id": "stale", "started_at": old.isoformat()}}))
    stale.with_suffix(".html").write_text("<html></html>")
    os.utime(stale, (old.timestamp(), old.timestamp()))
    cli("run", path, "--node", "items")
    assert not stale.exists() and not stale.with_suffix(".html").exists()
    assert not stale.parent.exists()  # the emptied date folder went too
    assert len(stories(root)) == 1


def test_a_story_that_cannot_be_written_does_not_fail_the_run(
    project: Callable[..., Path], cli: Cli
) -> None:
    path = shop(project, "{path: blocked}")
    (path.parent / "blocked").write_text("a file where the folder should be")
    result = cli("run", path, "--node", "items")
    assert result.exit_code == 0
    assert "story:" not in result.stdout


def test_stories_cannot_be_kept_on_a_database(project: Callable[..., Path], cli: Cli) -> None:
    # stories on S3 and Azure: tests/integration/test_cloud_storage.py
    yaml = PROJECT.replace(
        "  reports: {{type: local, base_path: out}}",
        "  reports: {{type: postgres, database: x}}",
    )
    path = project(yaml.format(story="{connection: reports}"), FILES) / "lakestory.yaml"
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "stories cannot be kept on a 'postgres' connection" in result.stderr
    assert "key story.connection" in result.stderr


def test_the_example_project_tells_where_its_story_is(demo: Path, cli: Cli) -> None:
    result = cli("run", demo / "lakestory.yaml")
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("story: "))
    html = Path(line.removeprefix("story: "))
    assert html.parent.parent == demo / ".lakestory" / "stories" / "_multi"
    story = json.loads(html.with_suffix(".json").read_text())
    jsonschema.validate(story, json_schema())
    assert len(story["dag"]["nodes"]) == 6 and story["dag"]["edges"]
    assert story["totals"]["rows_written"] > 0
    assert "<svg" in html.read_text()


def test_an_unknown_story_connection_is_a_config_error(
    project: Callable[..., Path], cli: Cli
) -> None:
    path = shop(project, "{connection: reprots}")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "unknown connection 'reprots'" in result.stderr and "reports" in result.stderr


def test_a_trend_flags_a_run_far_off_the_norm(project: Callable[..., Path], cli: Cli) -> None:
    path = shop(project)
    items = path.parent / "data" / "items.csv"
    items.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(1, 21)))
    for _ in range(3):
        cli("run", path, "--node", "items")
    items.write_text("id,name\n1,a\n2,b\n")  # 2 rows where there were 20
    assert cli("run", path, "--node", "items").exit_code == 0
    newest = max(stories(path.parent / "out" / "stories"), key=lambda p: p.stat().st_mtime)
    [node] = json.loads(newest.read_text())["nodes"]
    trend = node["trend"]
    assert [r["rows"] for r in trend["runs"]] == [20, 20, 20]
    assert trend["flags"] == ["rows: 2 against a median of 20"]
    html = newest.with_suffix(".html").read_text()
    assert "far off the norm: rows: 2 against a median of 20" in html
