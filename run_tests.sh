#!/usr/bin/env bash
# The test suite: installs what it needs into ./.venv (Python packages, the FerretDB
# test server built from the Go module proxy, the agno versions that write test
# data), then runs pytest. Extra arguments go to pytest, e.g. ./run_tests.sh -k cli
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import apache_beam, pymongo, numpy, pytest, ruff, orjson, moto, cfnlint, yaml, jinja2, matplotlib, websocket" 2>/dev/null; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r requirements-dev.txt
fi
# The report test opens report.html in a real headless Chromium (Debian's package).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "run_tests.sh: installing Debian's chromium for the report test (apt-get install chromium)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 ||
    echo "run_tests.sh: chromium could not be installed; the browser test will be skipped"
fi
bash scripts/build_ferretdb.sh >/dev/null
bash scripts/setup_agno_envs.sh >/dev/null
exec .venv/bin/python -m pytest "$@"
