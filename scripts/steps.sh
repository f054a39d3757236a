# Helpers for ./run_local.sh and ./run_tests.sh (sourced): one line per set-up step,
# saying what it does, how long it took the first time, and how long it took now.
# The caller sets STEP_PREFIX.

say() { echo "${STEP_PREFIX}: $*" >&2; }

# need COMMAND FALLBACK_PATH MESSAGE: stop with MESSAGE (exit 2) when COMMAND is missing
need() { command -v "$1" >/dev/null 2>&1 || [[ -n "$2" && -x "$2" ]] || { say "$3"; exit 2; }; }

# step "what it does" "first time: about …" COMMAND…: quiet; its output is shown only when it fails
step() {
  local what="$1" hint="$2" log start
  shift 2
  log="$(mktemp)"
  start=$SECONDS
  say "${what} (${hint})…"
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    say "${what}: failed (output above)"
    exit 1
  fi
  rm -f "$log"
  say "${what}: done in $((SECONDS - start)) s"
}
