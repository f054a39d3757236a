#!/usr/bin/env bash
# The test suite: installs what it needs (Python packages into ./.venv, the FerretDB
# test server built from the Go module proxy, the agno versions the live agno tests
# drive, the Spark/Flink job servers), saying what it does and how long it took,
# then runs pytest. Extra arguments go to pytest, e.g. ./run_tests.sh -k cli
# (-m "not runners" leaves out the Spark/Flink tests and their Java 17 + Maven).
set -euo pipefail
cd "$(dirname "$0")"

STEP_PREFIX=run_tests
# shellcheck source=scripts/steps.sh
. scripts/steps.sh

PY=${PYTHON:-python3.11}
runners=yes
[[ " $* " != *"not runners"* ]] || runners=no
need "$PY" "" "needs Python 3.11 ($PY not found; set PYTHON=/path/to/python3.11)"
need go /usr/local/go/bin/go "needs Go >= 1.24 to build the FerretDB test server (https://go.dev/dl/)"
if [[ $runners == yes ]]; then
  need java "" 'needs Java 17 (a JDK) for the Spark/Flink tests; or run ./run_tests.sh -m "not runners"'
  need mvn "" 'needs Maven for the Spark/Flink job servers; or run ./run_tests.sh -m "not runners"'
fi

[[ -x .venv/bin/python ]] || step "creating .venv" "first time only" "$PY" -m venv .venv
# Installed again whenever the pins changed (a stamp of the requirement files in .venv).
pins="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [[ "$(cat .venv/.requirements-dev 2>/dev/null)" != "$pins" ]]; then
  step "installing Python packages (requirements-dev.txt)" "first time: about 6 min" \
    sh -c '.venv/bin/pip install --upgrade pip && .venv/bin/pip install -r requirements-dev.txt'
  echo "$pins" > .venv/.requirements-dev
  sha256sum < requirements.txt | cut -d' ' -f1 > .venv/.requirements  # run_local.sh's stamp
fi
# The report test opens report.html in a real headless Chromium (Debian's package).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
  step "installing Debian's chromium for the report test" "first time: about 1 min" \
    sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ||
           echo "chromium could not be installed: the browser test is skipped"'
fi
step "FerretDB test server" "first build: 15 s to 2 min" bash scripts/build_ferretdb.sh
step "agno 3.1.10 and 2.9.0 venvs" "first time: about 3 min" bash scripts/setup_agno_envs.sh
if [[ $runners == yes ]]; then
  step "Spark and Flink job servers" "first time: 1 to 3 min" bash scripts/fetch_job_servers.sh all
fi
say "running pytest"
exec .venv/bin/python -m pytest "$@"
