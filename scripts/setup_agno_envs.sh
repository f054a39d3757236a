#!/usr/bin/env bash
# Create the venvs of the Agno versions that write test data with Agno's own
# storage code (scripts/agno_write_sessions.py, scripts/agno_legacy_write_sessions.py;
# docs/agno-test-data.md):
#   .cache/agno-3.1.10/      runs in their own collection (agno_runs)
#   .cache/agno-2.9.0/       runs embedded in the session document
#   .cache/agno-2.0.11/      embedded runs stored as JSON strings
#   .cache/agno-1.8.4/       memory.runs, list metrics
#   .cache/phidata-2.7.10/   memory.runs of {message, response}
# The test suite needs only the first two (tests/test_agno_real.py drives them
# live); the others wrote the committed files under tests/data/agno/.
# Every package is pinned (the full resolved set), so the venvs are
# reproducible. Idempotent: a venv whose pins are already installed is left
# alone. Prints the python paths, one per line, on stdout.
#
# Usage: scripts/setup_agno_envs.sh [VERSION...|all]   (default: 3.1.10 2.9.0)
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

# The older versions: their own resolved sets (no agnoctl; openai for the
# library's own OpenAIChat response parsing in agno 1.x and phidata).
LEGACY_PINS=(
  pymongo==4.20.1 dnspython==2.9.2 annotated-doc==0.0.7 annotated-types==0.8.0 anyio==4.16.0
  certifi==2026.10.19.post1 docstring_parser==0.18.0 gitdb==4.0.12 GitPython==3.2.1 h11==0.16.0
  httpcore==1.0.9 httpx==0.28.1 idna==3.20 markdown-it-py==4.3.0 mdurl==0.1.2 pydantic==2.14.4
  pydantic-settings==2.16.3 pydantic_core==2.50.5 Pygments==2.21.0 python-dotenv==1.2.4 PyYAML==6.0.4
  rich==15.0.0 shellingham==1.5.4 smmap==5.0.3 typer==0.29.2 typing-inspection==0.4.5
  typing_extensions==4.16.0
)
OPENAI_PINS=(openai==1.109.1 distro==1.9.0 jiter==0.19.0 sniffio==1.3.1 tqdm==4.70.1 tomli==2.5.0)
PINS_2_0_11=(agno==2.0.11 fastapi==0.165.0 starlette==1.10.0 opentelemetry-api==1.45.2
  packaging==26.4 python-multipart==0.0.34)
PINS_1_8_4=(agno==1.8.4 packaging==26.4 python-multipart==0.0.34 "${OPENAI_PINS[@]}")
PINS_PHIDATA_2_7_10=(phidata==2.7.10 "${OPENAI_PINS[@]}")

NEW_IMPORTS='import agno.agent, agno.team, agno.workflow, agno.db.mongo, pymongo'
OLD_IMPORTS='import agno.agent, agno.storage.mongodb, openai, pymongo'
PHI_IMPORTS='import phi.agent, phi.storage.agent.mongodb, openai, pymongo'

# setup_env NAME IMPORT_CHECK PIN...
setup_env() {
  local name="$1" imports="$2"
  shift 2
  local pins=("$@")
  local venv="$ROOT/.cache/$name"
  local py="$venv/bin/python"
  local stamp="$venv/.agno-pins"
  local want
  want="$(printf '%s\n' "${pins[@]}" | sort)"

  if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$py" -c "$imports" >/dev/null 2>&1; then
    echo "$name: already set up in $venv" >&2
  else
    echo "$name: installing ${#pins[@]} pinned packages into $venv (about a minute)" >&2
    mkdir -p "$ROOT/.cache"
    [[ -x "$py" ]] || "$PYTHON" -m venv "$venv"
    "$py" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
    "$py" -c "$imports"
    printf '%s\n' "$want" >"$stamp"
  fi
  echo "$py"
}

versions=("$@")
[[ ${#versions[@]} -gt 0 ]] || versions=(3.1.10 2.9.0)
[[ "${versions[*]}" != all ]] || versions=(3.1.10 2.9.0 2.0.11 1.8.4 phidata-2.7.10)
for version in "${versions[@]}"; do
  case "$version" in
    3.1.10) setup_env agno-3.1.10 "$NEW_IMPORTS" "${PINS_3_1_10[@]}" "${COMMON_PINS[@]}" ;;
    2.9.0) setup_env agno-2.9.0 "$NEW_IMPORTS" "${PINS_2_9_0[@]}" "${COMMON_PINS[@]}" ;;
    2.0.11) setup_env agno-2.0.11 "$NEW_IMPORTS" "${PINS_2_0_11[@]}" "${LEGACY_PINS[@]}" ;;
    1.8.4) setup_env agno-1.8.4 "$OLD_IMPORTS" "${PINS_1_8_4[@]}" "${LEGACY_PINS[@]}" ;;
    phidata-2.7.10) setup_env phidata-2.7.10 "$PHI_IMPORTS" "${PINS_PHIDATA_2_7_10[@]}" "${LEGACY_PINS[@]}" ;;
    *)
      echo "unsupported agno version: $version (supported: 3.1.10 2.9.0 2.0.11 1.8.4 phidata-2.7.10 all)" >&2
      exit 2
      ;;
  esac
done
