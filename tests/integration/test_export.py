"""Generated artifacts loaded by the real tools: the Airflow DAG by Airflow's DagBag (tasks,
edges, retries, commands), then its commands run in the DAG's order; the bundle's job by
Databricks' own generated models (databricks-bundles), then its task parameters run as the
wheel task would. Airflow and databricks-bundles live in their own virtualenv,
.tools/export-check, made by scripts/export-tools.sh (kept apart from the project's pins)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.servers import require

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "export-check" / "bin" / "python"
MARK = "EXPORT-CHECK:"

LOAD_DAG = """
import json, sys
try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
dags = {
    dag_id: {
        t.task_id: {
            "upstream": sorted(t.upstream_task_ids),
            "retries": t.retries,
            "retry_delay_s": t.retry_delay.total_seconds(),
            "max_retry_delay_s": t.max_retry_delay.total_seconds() if t.max_retry_delay else None,
            "backoff": float(t.retry_exponential_backoff),
            "bash_command": t.bash_command,
            "operator": type(t).__name__,
        }
        for t in dag.tasks
    }
    for dag_id, dag in bag.dags.items()
}
print("EXPORT-CHECK:" + json.dumps({"errors": bag.import_errors, "dags": dags}, default=str))
"""

LOAD_JOB = """
import json, sys, yaml
from databricks.bundles.jobs import Job
doc = yaml.safe_load(open(sys.argv[1]))
jobs = {}
for name, spec in doc["resources"]["jobs"].items():
    job = Job.from_dict(spec)  # raises on an unknown field or a wrong type
    jobs[name] = job.as_dict()
print("EXPORT-CHECK:" + json.dumps(jobs, default=str))
"""


def _tools(script: str, arg: Path, tmp_path: Path) -> Any:
    require(
        None
        if TOOLS.exists()
        else "Airflow and databricks-bundles are not installed: run bash scripts/export-tools.sh"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [str(TOOLS), "-c", textwrap.dedent(script), str(arg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith(MARK))
    return json.loads(line[len(MARK) :])


@pytest.fixture
def shop(project: Callable[..., Path]) -> Path:
    """Two pipelines over three layers, with retries, environments and a node-level override."""
    folder = project(
        """\
        project: shop
        retry: {max_attempts: 3, backoff: exponential, initial_delay: 2s, max_delay: 40s}
        connections:
          raw: {type: local, base_path: data/raw}
          lake: {type: local, base_path: "${vars.lake}"}
        vars: {lake: data/lake}
        environments:
          dev: {vars: {lake: data/dev_lake}}
          prod: {vars: {lake: data/prod_lake}}
        pipelines:
          - pipeline: ingest
            nodes:
              - name: orders
                read: {connection: raw, path: orders.csv}
                retry: {max_attempts: 5}
                write: {connection: lake, path: bronze/orders}
              - name: customers
                read: {connection: raw, path: customers.csv}
                write: {connection: lake, path: bronze/customers}
          - pipeline: marts
            nodes:
              - name: revenue
                inputs: {o: ingest.orders, c: ingest.customers}
                transform:
                  - sql: |
                      SELECT c.name, SUM(o.amount) AS total
                      FROM o JOIN c USING (id) GROUP BY c.name
                write: {connection: lake, path: gold/revenue}
              - name: top
                depends_on: [revenue]
                read: {connection: lake, path: gold/revenue, format: delta}
                transform:
                  - sql: "SELECT * FROM df ORDER BY total DESC LIMIT 1"
                write: {connection: lake, path: gold/top}
        """,
        {
            "data/raw/orders.csv": "id,amount\n1,10\n2,5\n1,7\n",
            "data/raw/customers.csv": "id,name\n1,ann\n2,bob\n",
        },
    )
    return folder / "lakestory.yaml"


def _venv_path() -> str:
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _order(tasks: dict[str, dict[str, Any]]) -> list[str]:
    done: list[str] = []
    while len(done) < len(tasks):
        ready = [t for t, v in tasks.items() if t not in done and set(v["upstream"]) <= set(done)]
        assert ready, f"a cycle among {set(tasks) - set(done)}"
        done += ready
    return done


@pytest.mark.slow
@pytest.mark.parametrize("per", ["pipeline", "node"])
def test_airflow_loads_the_dag_and_its_commands_run_the_project(
    cli: Callable[..., Any], shop: Path, tmp_path: Path, per: str, read_delta: Any
) -> None:
    dags = tmp_path / "dags"
    result = cli(
        "export", "airflow", shop, "--out", dags / "shop.py", "--per", per, "--env", "prod"
    )
    assert result.exit_code == 0, result.stderr
    loaded = _tools(LOAD_DAG, dags / "shop.py", tmp_path)
    assert loaded["errors"] == {}
    tasks = loaded["dags"]["lakestory_shop"]
    assert {t["operator"] for t in tasks.values()} == {"BashOperator"}
    if per == "pipeline":
        assert {k: v["upstream"] for k, v in tasks.items()} == {"ingest": [], "marts": ["ingest"]}
        assert tasks["ingest"]["retries"] == 4  # orders' max_attempts 5, the first included
        assert tasks["marts"]["retries"] == 2
    else:
        assert {k: v["upstream"] for k, v in tasks.items()} == {
            "ingest.orders": [],
            "ingest.customers": [],
            "marts.revenue": ["ingest.customers", "ingest.orders"],
            "marts.top": ["marts.revenue"],
        }
        assert tasks["ingest.orders"]["retries"] == 4
        assert tasks["marts.top"]["retries"] == 2
    some = next(iter(tasks.values()))
    assert some["retry_delay_s"] == 2.0 and some["max_retry_delay_s"] == 40.0
    assert some["backoff"] == 2.0  # exponential: the delay doubles
    assert all(v["bash_command"].endswith("--env prod") for v in tasks.values())

    # what the workers would do: every task's command, in the DAG's order
    env = {**os.environ, "PATH": _venv_path()}
    for task_id in _order(tasks):
        done = subprocess.run(
            ["bash", "-c", tasks[task_id]["bash_command"]],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, (task_id, done.stderr[-2000:])
    assert read_delta(shop.parent / "data/prod_lake/gold/top") == [{"name": "ann", "total": 17}]


@pytest.mark.slow
def test_databricks_job_fits_databricks_models_and_its_tasks_run(
    cli: Callable[..., Any], shop: Path, tmp_path: Path, read_delta: Any
) -> None:
    bundle = shop.parent / "deploy"
    result = cli("export", "databricks", shop, "--out", bundle, "--per", "node")
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load((bundle / "databricks.yml").read_text("utf-8"))
    jobs = _tools(LOAD_JOB, bundle / "databricks.yml", tmp_path)
    job = jobs["shop"]
    keys = [t["task_key"] for t in job["tasks"]]
    assert keys == ["ingest-orders", "ingest-customers", "marts-revenue", "marts-top"]
    by_key = {t["task_key"]: t for t in job["tasks"]}
    assert {d["task_key"] for d in by_key["marts-revenue"]["depends_on"]} == {
        "ingest-orders",
        "ingest-customers",
    }
    assert by_key["ingest-orders"]["max_retries"] == 4
    assert job["job_clusters"][0]["new_cluster"]["data_security_mode"] == "SINGLE_USER"
    assert set(doc["targets"]) == {"dev", "prod"}

    # what the wheel task runs: `lakestory PARAMETERS`, the bundle's variables filled in
    variables = {
        "${workspace.file_path}": str(shop.parent),
        "${var.lakestory_env}": doc["targets"]["dev"]["variables"]["lakestory_env"],
    }
    env = {**os.environ, "PATH": _venv_path()}
    for task in job["tasks"]:
        params = task["python_wheel_task"]["parameters"]
        for name, value in variables.items():
            params = [p.replace(name, value) for p in params]
        assert "${" not in " ".join(params)
        done = subprocess.run(
            ["bash", "-c", shlex.join([task["python_wheel_task"]["entry_point"], *params])],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, (task["task_key"], done.stderr[-2000:])
    assert read_delta(shop.parent / "data/dev_lake/gold/top") == [{"name": "ann", "total": 17}]


def test_a_broken_job_is_refused_by_databricks_models(
    cli: Callable[..., Any], shop: Path, tmp_path: Path
) -> None:
    """The model check can fail: a misspelt field of a wheel task is refused."""
    bundle = shop.parent / "deploy"
    assert cli("export", "databricks", shop, "--out", bundle).exit_code == 0
    doc = yaml.safe_load((bundle / "databricks.yml").read_text("utf-8"))
    (job,) = doc["resources"]["jobs"].values()
    job["tasks"][0]["python_wheel_task"]["entrypoint"] = "lakestory"
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    require(None if TOOLS.exists() else "run bash scripts/export-tools.sh")
    done = subprocess.run(
        [str(TOOLS), "-c", textwrap.dedent(LOAD_JOB), str(broken)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "Unexpected field 'entrypoint'" in done.stderr
