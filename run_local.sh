#!/usr/bin/env bash
# Run session-features on the embedded simulated source with the DirectRunner.
# Installs what it needs into ./.venv on first use. Extra arguments go to the job,
# e.g. ./run_local.sh --source mongodb://localhost:27017/agno --start_date 2024-12-01 --end_date 2024-12-31
# RUNNER=spark or RUNNER=flink runs it on that runner instead (scripts/run_on.sh).
set -euo pipefail
cd "$(dirname "$0")"

case "${RUNNER:-direct}" in
  direct) ;;
  *) exec bash scripts/run_on.sh "${RUNNER}" "$@" ;;
esac

STEP_PREFIX=run_local
# shellcheck source=scripts/steps.sh
. scripts/steps.sh
PY=${PYTHON:-python3.11}
need "$PY" "" "needs Python 3.11 ($PY not found; set PYTHON=/path/to/python3.11)"
[[ -x .venv/bin/python ]] || step "creating .venv" "first run only" "$PY" -m venv .venv
# Installed again whenever the pins changed (a stamp of requirements.txt in .venv).
pins="$(sha256sum < requirements.txt | cut -d' ' -f1)"
if [[ "$(cat .venv/.requirements 2>/dev/null)" != "$pins" ]]; then
  step "installing Python packages (requirements.txt)" "first run: about 3 min" \
    sh -c '.venv/bin/pip install --upgrade pip && .venv/bin/pip install -r requirements.txt'
  echo "$pins" > .venv/.requirements
fi

export START_DATE=${START_DATE:-2024-12-01}
export END_DATE=${END_DATE:-2024-12-31}
export MONGO_URI=${MONGO_URI:-"simulated://?sessions=5000&seed=7&formats=agno3,agno3,agno3,agno2,agno1,phidata&bad_rate=0.002"}
export OUTPUT=${OUTPUT:-output/local}

# The launcher prints the manifest's path on stdout (nothing when nothing was published).
manifest=$(.venv/bin/python -m pipeline "$@" | tail -n 1)
if [ -n "${manifest}" ]; then
  echo "run_local: dataset and manifest in ${manifest%/manifest.json}/ (see ${manifest})"
fi
