#!/usr/bin/env bash
# The test suite: installs what it needs into ./.venv (Python packages, the FerretDB
# test server built from the Go module proxy, the agno versions that write test
# data), then runs pytest. Extra arguments go to pytest, e.g. ./run_tests.sh -k cli
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import apache_beam, pymongo, numpy, pytest, ruff, orjson, moto, cfnlint, yaml" 2>/dev/null; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r requirements-dev.txt
fi
bash scripts/build_ferretdb.sh >/dev/null
bash scripts/setup_agno_envs.sh >/dev/null
exec .venv/bin/python -m pytest "$@"
