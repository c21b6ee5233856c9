#!/usr/bin/env bash
# Install everything into .venv and run every check CI runs: lint, format, types,
# layer contracts, and the full test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "== ruff";          .venv/bin/ruff check src tests bench
echo "== ruff format";   .venv/bin/ruff format --check src tests bench
echo "== mypy";          .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
if ! command -v chromium >/dev/null 2>&1; then  # the story's browser test drives it
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== apt-get install chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium is not installed, so the story's browser test is skipped (CI installs it)"
  fi
fi
if ! command -v java >/dev/null 2>&1; then  # the spark engine's tests start a local session
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== apt-get install openjdk-17-jre-headless"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "note: Java is not installed, so the spark engine's tests are skipped (CI installs it)"
  fi
fi
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
  # the postgres tests start their own server (tests/support/servers.py), not the package's
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== apt-get install postgresql"
    mkdir -p /etc/postgresql-common/createcluster.d  # no "main" cluster or service of its own
    echo "create_main_cluster = off" >/etc/postgresql-common/createcluster.d/lakestory.conf
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "note: PostgreSQL is not installed, so the postgres tests are skipped (CI installs it)"
  fi
fi
# The Azure Blob stand-in. 3.37 is the first Azurite that honours the List Blobs `startFrom`
# parameter, which delta-rs uses to find a table's newest commits (older ones answer with
# every entry, and a table's second commit fails). It declares Node 22 but runs on Node 20.
AZURITE_VERSION=3.37.0
if ! grep -qs "\"version\": \"$AZURITE_VERSION\"" .tools/azurite/node_modules/azurite/package.json; then
  if command -v npm >/dev/null 2>&1; then
    echo "== npm install azurite@$AZURITE_VERSION (into .tools/azurite)"
    npm install --prefix .tools/azurite "azurite@$AZURITE_VERSION" --no-audit --no-fund --silent --engine-strict=false
  else
    echo "note: npm is missing, so Azurite is not installed and the Azure tests are skipped"
  fi
fi
# Airflow and databricks-bundles in a venv of their own, to load the exported artifacts
echo "== export tools (.tools/export-check)"; bash scripts/export-tools.sh
export SPARK_LOCAL_IP=127.0.0.1
echo "== pytest";        .venv/bin/python -m pytest -n 2 --durations=30 "$@"
