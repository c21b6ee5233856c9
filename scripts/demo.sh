#!/usr/bin/env bash
# Install lakestory into .venv, create the bundled example project in ./demo and run it
# end to end (bronze -> silver -> gold).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export PATH="$PWD/.venv/bin:$PATH"
lakestory init demo --force
cd demo
lakestory validate
lakestory plan
lakestory run
echo
echo "Tables written under $PWD/data/lake (Delta and Parquet)."
echo "The run's story (open it in a browser): $(lakestory story last)"
