#!/usr/bin/env bash
# Create the two Agno venvs used to write test data with Agno's own storage
# code (see scripts/agno_write_sessions.py and docs/agno-test-data.md):
#   .cache/agno-3.1.10/  runs in their own collection (agno_runs)
#   .cache/agno-2.9.0/   runs embedded in the session document
# Every package is pinned (the full resolved set), so both venvs are
# reproducible. Idempotent: a venv whose pins are already installed is left
# alone. Prints the python paths, one per line, on stdout.
#
# Usage: scripts/setup_agno_envs.sh [VERSION...]   (default: 3.1.10 2.9.0)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"

# Shared by both versions (resolved with pip, then frozen).
COMMON_PINS=(
  pymongo==4.20.1
  dnspython==2.9.2
  agnoctl==0.2.1
  annotated-doc==0.0.7
  annotated-types==0.8.0
  anyio==4.16.0
  certifi==2026.10.19.post1
  docstring_parser==0.18.0
  h11==0.16.0
  h2==4.4.1
  hpack==4.2.0
  httpcore==1.0.9
  httpx==0.28.1
  hyperframe==6.1.0
  idna==3.20
  markdown-it-py==4.3.0
  mdurl==0.1.2
  packaging==26.4
  prompt_toolkit==3.0.53
  pydantic==2.14.4
  pydantic-settings==2.16.3
  pydantic_core==2.50.5
  Pygments==2.21.0
  python-dotenv==1.2.4
  PyYAML==6.0.4
  questionary==2.1.1
  rich==15.0.0
  shellingham==1.5.4
  typer==0.29.2
  typing-inspection==0.4.5
  typing_extensions==4.16.0
  wcwidth==0.9.4
)
# agno 2.9.0's agno.workflow imports fastapi (agno/workflow/remote.py), which
# is not among its install requirements; starlette and opentelemetry-api come
# with fastapi.
PINS_2_9_0=(agno==2.9.0 fastapi==0.165.0 starlette==1.10.0 opentelemetry-api==1.45.2)
PINS_3_1_10=(agno==3.1.10)

setup_env() {
  local version="$1"
  shift
  local pins=("$@" "${COMMON_PINS[@]}")
  local venv="$ROOT/.cache/agno-$version"
  local py="$venv/bin/python"
  local stamp="$venv/.agno-pins"
  local want
  want="$(printf '%s\n' "${pins[@]}" | sort)"

  if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$py" -c 'import agno.agent, agno.team, agno.workflow, agno.db.mongo, pymongo' >/dev/null 2>&1; then
    echo "agno $version: already set up in $venv" >&2
  else
    echo "agno $version: setting up $venv" >&2
    mkdir -p "$ROOT/.cache"
    [[ -x "$py" ]] || "$PYTHON" -m venv "$venv"
    "$py" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
    "$py" -c 'import agno.agent, agno.team, agno.workflow, agno.db.mongo, pymongo'
    printf '%s\n' "$want" >"$stamp"
  fi
  echo "$py"
}

versions=("$@")
[[ ${#versions[@]} -gt 0 ]] || versions=(3.1.10 2.9.0)
for version in "${versions[@]}"; do
  case "$version" in
    3.1.10) setup_env 3.1.10 "${PINS_3_1_10[@]}" ;;
    2.9.0) setup_env 2.9.0 "${PINS_2_9_0[@]}" ;;
    *)
      echo "unsupported agno version: $version (supported: 3.1.10 2.9.0)" >&2
      exit 2
      ;;
  esac
done
