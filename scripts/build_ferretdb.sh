#!/usr/bin/env bash
# Build FerretDB (MongoDB wire protocol server, SQLite backend) for the test suite.
#
# Output: <repo>/.cache/ferretdb/ferretdb  (.cache/ is git-ignored)
#
# Why not plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`:
# the published module lacks the generated build/version/version.txt, so that
# binary panics at start (upstream issue #2982).  We copy the module source out
# of the (read-only) module cache, write version.txt, and build from the copy.
#
# Idempotent: does nothing when the binary exists and reports the wanted
# version.  Needs only a Go toolchain (>= 1.24) and access to the Go module
# proxy; module and build caches are Go's defaults (~/go/pkg/mod,
# ~/.cache/go-build), so rebuilds are fast.
set -euo pipefail

FERRETDB_VERSION="v1.24.2"
FERRETDB_MODULE="github.com/FerretDB/FerretDB"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
OUT_DIR="${REPO_ROOT}/.cache/ferretdb"
BIN="${OUT_DIR}/ferretdb"

# True when $BIN exists and `--version` reports the wanted version.
have_wanted_binary() {
    [[ -x "${BIN}" ]] || return 1
    local out
    out="$("${BIN}" --version 2>/dev/null)" || return 1
    grep -q "version: ${FERRETDB_VERSION}\$" <<<"${out}"
}

if have_wanted_binary; then
    echo "${BIN}"
    exit 0
fi

# Only needed from here on. Go may not be on PATH on a fresh machine (e.g. only /usr/local/go installed).
if command -v go >/dev/null 2>&1; then
    GO="$(command -v go)"
elif [[ -x /usr/local/go/bin/go ]]; then
    GO=/usr/local/go/bin/go
else
    echo "build_ferretdb.sh: no Go toolchain found (need go >= 1.24)" >&2
    exit 1
fi

# Deterministic, self-contained build settings:
# - GOTOOLCHAIN=local: use the installed Go, never fetch another toolchain.
# - CGO_ENABLED=0: SQLite backend is modernc.org/sqlite (pure Go); no C compiler needed.
# - -mod=mod: resolve deps from go.mod/go.sum via the module proxy (no vendor dir).
# - -buildvcs=false: the copy is not a git checkout; also avoids the
#   commit.txt/vcs.revision consistency panic in build/version.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"
# Never let a go.work somewhere above the source copy change the build.
export GOWORK=off

mkdir -p "${OUT_DIR}"

# Module cache directory of the exact release (downloads it if needed).  Run
# from / so no surrounding go.mod can be touched by -mod=mod.
MOD_DIR="$(cd / && "${GO}" mod download -json "${FERRETDB_MODULE}@${FERRETDB_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [[ -z "${MOD_DIR}" || ! -d "${MOD_DIR}" ]]; then
    echo "build_ferretdb.sh: 'go mod download' gave no module dir for ${FERRETDB_MODULE}@${FERRETDB_VERSION}" >&2
    exit 1
fi

# Private writable copy (module cache files are read-only).  Unique names for
# the copy and the output make concurrent runs safe: the final mv is atomic.
SRC_DIR="$(mktemp -d "${OUT_DIR}/src-${FERRETDB_VERSION}.XXXXXX")"
TMP_BIN="${BIN}.tmp.$$"
cleanup() {
    chmod -R u+w "${SRC_DIR}" 2>/dev/null || true
    rm -rf "${SRC_DIR}" "${TMP_BIN}"
}
trap cleanup EXIT

cp -R "${MOD_DIR}/." "${SRC_DIR}/"
chmod -R u+w "${SRC_DIR}"

# The file whose absence makes the upstream binary panic at start; package.txt
# only labels the build in `--version` output.
echo "${FERRETDB_VERSION}" >"${SRC_DIR}/build/version/version.txt"
echo "source" >"${SRC_DIR}/build/version/package.txt"

(
    cd "${SRC_DIR}"
    "${GO}" build -trimpath -o "${TMP_BIN}" ./cmd/ferretdb
)
mv -f "${TMP_BIN}" "${BIN}"

if ! have_wanted_binary; then
    echo "build_ferretdb.sh: built ${BIN} but '--version' does not report ${FERRETDB_VERSION}:" >&2
    "${BIN}" --version >&2 || true
    exit 1
fi

echo "${BIN}"
