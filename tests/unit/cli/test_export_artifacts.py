"""``lakestory export airflow|databricks``: the tasks, their order and edges from the
project's DAG, retries from ``retry:``, environments, and a bundle that fits the bundle
configuration's documented shape. (Loading the DAG in Airflow and the job in Databricks' own
models: tests/integration/test_export.py.)"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lakestory.cli._databricks import workspace_project_file

Cli = Callable[..., Any]


@pytest.fixture
def demo(tmp_path: Path, cli: Cli) -> Path:
    assert cli("init", tmp_path / "demo").exit_code == 0
    return tmp_path / "demo" / "lakestory.yaml"


def _dag_literals(path: Path) -> dict[str, Any]:
    """The tasks, edges and constants of a generated DAG file, read from its syntax tree."""
    tree = ast.parse(path.read_text("utf-8"))
    consts: dict[str, Any] = {}
    tasks: dict[str, dict[str, Any]] = {}
    edges: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
        ):
            consts[node.targets[0].id] = node.value.value
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator":
            kw = {k.arg: k.value for k in node.keywords}
            call = kw.pop("bash_command")
            assert isinstance(call, ast.Call)
            task = {k: ast.unparse(v) for k, v in kw.items()}
            task["selection"] = [ast.literal_eval(a) for a in call.args]
            tasks[ast.literal_eval(kw["task_id"])] = task
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            ends = [ast.literal_eval(side.slice) for side in (node.left, node.right)]  # type: ignore[attr-defined]
            edges.append((ends[0], ends[1]))
    return {"consts": consts, "tasks": tasks, "edges": edges}


def _plan_edges(cli: Cli, project: Path) -> set[tuple[str, str]]:
    plan = json.loads(cli("plan", project, "--format", "json").stdout)
    return {(up, n["node"]) for n in plan["nodes"] for up in n["depends_on"]}


def test_airflow_one_task_per_pipeline_in_dependency_order(cli: Cli, demo: Path) -> None:
    out = demo.parent / "dags" / "demo.py"
    result = cli("export", "airflow", demo, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "3 tasks and 2 dependencies" in result.stdout
    dag = _dag_literals(out)
    assert list(dag["tasks"]) == ["bronze", "silver", "gold"]
    assert dag["edges"] == [("bronze", "silver"), ("silver", "gold")]
    assert dag["tasks"]["silver"]["selection"] == ["--pipeline", "silver"]
    assert dag["consts"]["PROJECT"] == str(demo.resolve())
    assert dag["consts"]["ENV"] is None
    assert dag["tasks"]["gold"]["retries"] == "0"  # the example has no `retry:`
    compile(out.read_text("utf-8"), str(out), "exec")


def test_airflow_per_node_has_the_edges_of_the_plan(cli: Cli, demo: Path) -> None:
    out = demo.parent / "nodes.py"
    assert cli("export", "airflow", demo, "--out", out, "--per", "node").exit_code == 0
    dag = _dag_literals(out)
    assert set(dag["edges"]) == _plan_edges(cli, demo)
    assert dag["tasks"]["silver.orders"]["selection"] == ["--node", "silver.orders"]
    order = list(dag["tasks"])
    assert all(order.index(up) < order.index(down) for up, down in dag["edges"])


RETRY_PROJECT = """\
project: Retry Shop
retry: {max_attempts: 3, backoff: exponential, initial_delay: 2s, max_delay: 30s}
connections:
  raw: {type: local, base_path: data}
environments:
  dev: {vars: {}}
  prod: {vars: {}}
pipelines:
  - pipeline: ingest
    nodes:
      - name: a
        read: {connection: raw, path: a.csv}
        retry: {max_attempts: 6}
        write: {connection: raw, path: out/a}
      - name: b
        read: {connection: raw, path: a.csv}
        write: {connection: raw, path: out/b}
  - pipeline: report
    nodes:
      - name: c
        read: {connection: raw, path: out/a, format: delta}
        retry: {enabled: false}
        write: {connection: raw, path: out/c}
      - name: d
        read: {connection: raw, path: out/b, format: delta}
        retry: {backoff: constant}
        write: {connection: raw, path: out/d}
"""


@pytest.fixture
def retry_project(project: Callable[..., Path]) -> Path:
    return project(RETRY_PROJECT, {"data/a.csv": "id\n1\n"}) / "lakestory.yaml"


def test_airflow_retries_come_from_the_retry_settings(cli: Cli, retry_project: Path) -> None:
    out = retry_project.parent / "dag.py"
    result = cli("export", "airflow", retry_project, "--out", out, "--per", "node")
    assert result.exit_code == 0, result.stderr
    tasks = _dag_literals(out)["tasks"]
    # max_attempts counts the first attempt; Airflow's retries do not
    assert tasks["ingest.a"]["retries"] == "5"
    assert tasks["ingest.b"]["retries"] == "2"
    assert tasks["ingest.b"]["retry_delay"] == "timedelta(seconds=2.0)"
    assert tasks["ingest.b"]["max_retry_delay"] == "timedelta(seconds=30.0)"
    assert tasks["ingest.b"]["retry_exponential_backoff"] == "2.0"
    assert tasks["report.c"]["retries"] == "0"
    assert "retry_exponential_backoff" not in tasks["report.d"]  # constant delay
    per_pipeline = retry_project.parent / "p.py"
    assert cli("export", "airflow", retry_project, "--out", per_pipeline).exit_code == 0
    # a pipeline's task retries as often as its most patient node
    assert _dag_literals(per_pipeline)["tasks"]["ingest"]["retries"] == "5"


def test_airflow_passes_the_environment_and_the_paths_given(cli: Cli, retry_project: Path) -> None:
    out = retry_project.parent / "dag.py"
    result = cli(
        "export", "airflow", retry_project, "--out", out, "--env", "prod",
        "--project-path", "/opt/project/lakestory.yaml", "--lakestory", "/opt/venv/bin/lakestory",
        "--dag-id", "shop", "--schedule", "@daily",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    dag = _dag_literals(out)
    assert dag["consts"]["ENV"] == "prod"
    assert dag["consts"]["PROJECT"] == "/opt/project/lakestory.yaml"
    assert dag["consts"]["LAKESTORY"] == "/opt/venv/bin/lakestory"
    text = out.read_text("utf-8")
    assert "dag_id='shop'" in text and "schedule='@daily'" in text
    # the file's own command builder, without Airflow: its imports, constants and function
    tree = ast.parse(text)
    keep = [
        n
        for n in tree.body
        if isinstance(n, ast.Import | ast.FunctionDef)
        or (isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant))
    ]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(keep, type_ignores=[]), str(out), "exec"), namespace)
    assert namespace["lakestory_run"]("--pipeline", "ingest") == (
        "/opt/venv/bin/lakestory run /opt/project/lakestory.yaml --pipeline ingest --env prod"
    )


def test_pipelines_in_a_cycle_are_refused_with_what_to_do(
    cli: Cli, project: Callable[..., Path]
) -> None:
    folder = project(
        """\
        project: loop
        connections: {raw: {type: local, base_path: data}}
        pipelines:
          - pipeline: p1
            nodes:
              - {name: a, read: {connection: raw, path: a.csv}, write: {connection: raw, path: t/a}}
              - name: c
                read: {connection: raw, path: t/b, format: delta}
                write: {connection: raw, path: t/c}
          - pipeline: p2
            nodes:
              - name: b
                read: {connection: raw, path: t/a, format: delta}
                write: {connection: raw, path: t/b}
        """,
        {"data/a.csv": "id\n1\n"},
    )
    result = cli("export", "airflow", folder / "lakestory.yaml", "--out", folder / "d.py")
    assert result.exit_code == 2
    assert "cycle" in result.stderr and "p1" in result.stderr and "p2" in result.stderr
    assert "p1.a → p2.b" in result.stderr and "--per node" in result.stderr
    assert not (folder / "d.py").exists()
    per_node = cli(
        "export", "airflow", folder / "lakestory.yaml", "--out", folder / "d.py", "--per", "node"
    )
    assert per_node.exit_code == 0, per_node.stderr
    assert _dag_literals(folder / "d.py")["edges"] == [("p1.a", "p2.b"), ("p2.b", "p1.c")]


def test_bad_per_and_bad_projects_exit_2(cli: Cli, demo: Path, tmp_path: Path) -> None:
    bad = cli("export", "airflow", demo, "--out", tmp_path / "x.py", "--per", "step")
    assert bad.exit_code == 2 and "--per must be pipeline or node" in bad.stderr
    missing = cli("export", "databricks", tmp_path / "nope.yaml", "--out", tmp_path / "b")
    assert missing.exit_code == 2
    assert not (tmp_path / "x.py").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- databricks

_STR_LIST = {"type": "array", "items": {"type": "string"}}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


# The shape of databricks.yml as Databricks' documentation of bundle configuration describes
# it (top-level mappings, jobs, tasks, job clusters, libraries, targets), for the keys the
# generator writes and their documented neighbours; unknown keys are errors. No official
# JSON Schema is installable offline (the CLI's `bundle schema` is a Go binary); the job
# itself is also checked against Databricks' generated models in the integration test.
_NEW_CLUSTER = {
    "type": "object",
    "properties": {
        "spark_version": {"type": "string", "pattern": r"^\d+\.\d+\.x-"},
        "node_type_id": {"type": "string"},
        "num_workers": {"type": "integer", "minimum": 0},
        "data_security_mode": {
            "enum": ["NONE", "SINGLE_USER", "USER_ISOLATION", "DATA_SECURITY_MODE_AUTO",
                     "DATA_SECURITY_MODE_STANDARD", "DATA_SECURITY_MODE_DEDICATED"]
        },
        "spark_env_vars": _STR_MAP,
        "spark_conf": _STR_MAP,
        "custom_tags": _STR_MAP,
        "autoscale": {"type": "object"},
        "policy_id": {"type": "string"},
    },
    "required": ["spark_version"],
    "additionalProperties": False,
}  # fmt: skip
_TASK = _obj(
    {
        "task_key": {"type": "string", "pattern": r"^[\w\-]{1,100}$"},
        "depends_on": {
            "type": "array",
            "items": _obj({"task_key": {"type": "string"}, "outcome": {"type": "string"}},
                          ("task_key",)),
        },
        "job_cluster_key": {"type": "string"},
        "existing_cluster_id": {"type": "string"},
        "python_wheel_task": _obj(
            {
                "package_name": {"type": "string"},
                "entry_point": {"type": "string"},
                "parameters": _STR_LIST,
                "named_parameters": _STR_MAP,
            },
            ("package_name", "entry_point"),
        ),
        "libraries": {
            "type": "array",
            "items": {
                "oneOf": [
                    _obj({"pypi": _obj({"package": {"type": "string"}, "repo": {"type": "string"}},
                                       ("package",))}, ("pypi",)),
                    _obj({"whl": {"type": "string"}}, ("whl",)),
                    _obj({"requirements": {"type": "string"}}, ("requirements",)),
                ]
            },
        },
        "max_retries": {"type": "integer", "minimum": -1},
        "min_retry_interval_millis": {"type": "integer", "minimum": 0},
        "retry_on_timeout": {"type": "boolean"},
        "timeout_seconds": {"type": "integer", "minimum": 0},
    },
    ("task_key",),
)  # fmt: skip
BUNDLE_SCHEMA = _obj(
    {
        "bundle": _obj({"name": {"type": "string", "minLength": 1}}, ("name",)),
        "variables": {
            "type": "object",
            "additionalProperties": _obj(
                {"description": {"type": "string"}, "default": {}, "type": {"type": "string"}}
            ),
        },
        "sync": _obj({"paths": _STR_LIST, "include": _STR_LIST, "exclude": _STR_LIST}),
        "resources": _obj(
            {
                "jobs": {
                    "type": "object",
                    "additionalProperties": _obj(
                        {
                            "name": {"type": "string"},
                            "max_concurrent_runs": {"type": "integer", "minimum": 1},
                            "tags": _STR_MAP,
                            "job_clusters": {
                                "type": "array",
                                "items": _obj(
                                    {
                                        "job_cluster_key": {"type": "string"},
                                        "new_cluster": _NEW_CLUSTER,
                                    },
                                    ("job_cluster_key", "new_cluster"),
                                ),
                            },
                            "tasks": {"type": "array", "items": _TASK, "minItems": 1},
                            "schedule": {"type": "object"},
                        },
                        ("name", "tasks"),
                    ),
                }
            }
        ),
        "targets": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": _obj(
                {
                    "mode": {"enum": ["development", "production"]},
                    "default": {"type": "boolean"},
                    "variables": {"type": "object"},
                    "workspace": _obj(
                        {"host": {"type": "string"}, "root_path": {"type": "string"}}
                    ),
                }
            ),
        },
    },
    ("bundle", "resources"),
)


def _bundle(cli: Cli, project: Path, out: Path, *options: str) -> dict[str, Any]:
    result = cli("export", "databricks", project, "--out", out, *options)
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load((out / "databricks.yml").read_text("utf-8"))
    jsonschema.validate(doc, BUNDLE_SCHEMA)
    return doc


def test_the_schema_refuses_what_databricks_would() -> None:
    good = {
        "bundle": {"name": "x"},
        "resources": {"jobs": {"x": {"name": "x", "tasks": [{"task_key": "a"}]}}},
    }
    jsonschema.validate(good, BUNDLE_SCHEMA)
    for bad in (
        {**good, "target": {}},
        {**good, "resources": {"jobs": {"x": {"name": "x", "tasks": [{"task_key": "a.b"}]}}}},
        {**good, "targets": {"prod": {"mode": "prod"}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, BUNDLE_SCHEMA)


def test_databricks_bundle_has_the_tasks_edges_and_cluster(cli: Cli, demo: Path) -> None:
    import lakestory

    doc = _bundle(cli, demo, demo.parent / "bundle")
    (job,) = doc["resources"]["jobs"].values()
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert list(tasks) == ["bronze", "silver", "gold"]
    assert tasks["gold"]["depends_on"] == [{"task_key": "silver"}]
    assert "depends_on" not in tasks["bronze"]
    wheel = tasks["silver"]["python_wheel_task"]
    assert wheel["package_name"] == "lakestory" and wheel["entry_point"] == "lakestory"
    # the bundle lives in the project's folder: the project is synced from one level up
    assert doc["sync"] == {"paths": [".."]}
    assert wheel["parameters"] == [
        "run", "${workspace.file_path}/lakestory.yaml", "--pipeline", "silver"
    ]  # fmt: skip
    version = lakestory.__version__
    assert tasks["silver"]["libraries"] == [
        {"pypi": {"package": f"lakestory[spark,azure]=={version}"}}
    ]
    (cluster,) = job["job_clusters"]
    assert all(t["job_cluster_key"] == cluster["job_cluster_key"] for t in tasks.values())
    assert cluster["new_cluster"]["num_workers"] == 2
    assert job["max_concurrent_runs"] == 1
    assert set(doc["targets"]) == {"dev", "prod"}  # no `environments:`: dev and prod
    assert doc["targets"]["prod"]["mode"] == "production"
    assert doc["targets"]["dev"] == {"mode": "development", "default": True}


def test_databricks_targets_are_the_environments(cli: Cli, retry_project: Path) -> None:
    out = retry_project.parent / "deploy"
    doc = _bundle(cli, retry_project, out, "--per", "node", "--env", "prod", "--workers", "4")
    assert doc["targets"]["dev"]["variables"] == {"lakestory_env": "dev"}
    assert doc["targets"]["prod"]["variables"] == {"lakestory_env": "prod"}
    assert doc["targets"]["prod"]["default"] is True  # the --env exported
    assert "root_path" in doc["targets"]["prod"]["workspace"]
    (job,) = doc["resources"]["jobs"].values()
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert tasks["report-c"]["depends_on"] == [{"task_key": "ingest-a"}]
    assert tasks["report-c"]["python_wheel_task"]["parameters"][2:] == [
        "--node", "report.c", "--env", "${var.lakestory_env}"
    ]  # fmt: skip
    assert tasks["ingest-a"]["max_retries"] == 5
    assert tasks["ingest-a"]["min_retry_interval_millis"] == 2000
    assert tasks["report-c"]["max_retries"] == 0
    assert job["job_clusters"][0]["new_cluster"]["num_workers"] == 4
    assert "${" not in json.dumps(doc["targets"]["prod"]["variables"])


def test_exports_need_no_secret_and_hold_none(cli: Cli, project: Callable[..., Path]) -> None:
    """An export runs where production secrets are not (a laptop, CI): variables that are not
    set and secret references are not needed, nor written; the variables are named."""
    folder = project(
        """\
        project: s
        connections:
          raw: {type: local, base_path: data}
          db: {type: postgres, host: h, database: d, username: u, password: "${DB_PASSWORD}"}
        alerts:
          - {type: webhook, url: "${SECRET:keyvault:acme-kv/hook-url}"}
        pipelines:
          - pipeline: p
            nodes: [{name: a, read: {connection: raw, path: a.csv}}]
        """,
        {"data/a.csv": "id\n1\n"},
    )
    file = folder / "lakestory.yaml"
    assert cli("export", "databricks", file, "--out", folder / "b").exit_code == 0
    assert cli("export", "airflow", file, "--out", folder / "d.py").exit_code == 0
    env = {"DB_PASSWORD": "pa55-w0rd-canary"}
    assert cli("export", "airflow", file, "--out", folder / "e.py", env=env).exit_code == 0
    for path in (folder / "b" / "databricks.yml", folder / "d.py", folder / "e.py"):
        text = path.read_text("utf-8")
        assert "pa55-w0rd-canary" not in text and "placeholder" not in text
        assert "DB_PASSWORD" in text  # named as what the machine running it must set
    assert cli("run", file).exit_code == 2  # a run still needs them
    doc = _bundle(cli, folder / "lakestory.yaml", folder / "b", "--secret-scope", "etl")
    cluster = doc["resources"]["jobs"]["s"]["job_clusters"][0]["new_cluster"]
    assert cluster["spark_env_vars"] == {
        "LAKESTORY_LOG_FORMAT": "json",
        "DB_PASSWORD": "{{secrets/etl/DB_PASSWORD}}",
    }


def test_the_environment_variables_a_project_reads(tmp_path: Path) -> None:
    from lakestory.cli._deploy import env_var_names

    file = tmp_path / "lakestory.yaml"
    file.write_text(
        """\
project: "${env:A} ${B:-x} ${vars.c} ${SECRET:env:D} $${E} ${A}"
# ${IN_A_COMMENT}
environments:
  prod: {vars: {f: "${F}"}}
  dev: {vars: {g: "${G}"}}
""",
        encoding="utf-8",
    )
    assert env_var_names(str(file), None) == ["A", "B"]
    assert env_var_names(str(file), "prod") == ["A", "B", "F"]


@pytest.mark.parametrize(
    ("project_file", "bundle_dir", "remote", "sync"),
    [
        ("repo/lakestory.yaml", "repo", "${workspace.file_path}/lakestory.yaml", []),
        ("repo/jobs/p.yaml", "repo", "${workspace.file_path}/jobs/p.yaml", []),
        ("repo/lakestory.yaml", "repo/bundle", "${workspace.file_path}/lakestory.yaml", [".."]),
        ("repo/proj/l.yaml", "repo/bundle", "${workspace.file_path}/proj/l.yaml", [".", "../proj"]),
    ],
)
def test_the_project_file_in_the_workspace(
    tmp_path: Path, project_file: str, bundle_dir: str, remote: str, sync: list[str]
) -> None:
    assert workspace_project_file(tmp_path / project_file, tmp_path / bundle_dir) == (remote, sync)


def test_odd_names_and_paths_keep_the_dag_file_valid(tmp_path: Path) -> None:
    import warnings

    from lakestory.cli._airflow import render_dag
    from lakestory.cli._deploy import Job, Task

    job = Job('a """ b \\ c', "pr'od", "duckdb", [Task("p", None)], ["pr'od"])
    text = render_dag(
        job,
        dag_id="x",
        project_file="C:\\new folder\\it's.yaml",
        lakestory="lakestory",
        schedule=None,
        per="pipeline",
        command='lakestory export airflow "C:\\new" --out """',
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an invalid escape in the docstring would warn
        tree = ast.parse(text)
    assert 'a """ b \\ c' in (ast.get_docstring(tree) or "")
    keep = [n for n in tree.body if isinstance(n, ast.Import | ast.FunctionDef | ast.Assign)]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(keep, type_ignores=[]), "dag", "exec"), namespace)
    assert namespace["lakestory_run"]("--pipeline", "p") == (
        "lakestory run 'C:\\new folder\\it'\"'\"'s.yaml' --pipeline p --env 'pr'\"'\"'od'"
    )
