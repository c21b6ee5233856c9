#!/usr/bin/env bash
# A separate virtualenv (.tools/export-check, git-ignored) with what the export tests load
# the generated artifacts with: Apache Airflow (the generated DAG must import and have the
# right tasks and edges) and databricks-bundles (the bundle's job must fit Databricks' own
# generated models). Kept apart from .venv so Airflow's pins never touch the project's.
# Idempotent: does nothing when the pinned versions are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
AIRFLOW_VERSION=3.3.2
BUNDLES_VERSION=1.22.1
VENV=.tools/export-check
STAMP="$VENV/.installed-airflow-$AIRFLOW_VERSION-bundles-$BUNDLES_VERSION"
[ -f "$STAMP" ] && exit 0
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet \
  "apache-airflow==$AIRFLOW_VERSION" "databricks-bundles==$BUNDLES_VERSION"
touch "$STAMP"
