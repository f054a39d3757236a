"""Write Agno sessions with Agno's own storage code, for reader tests.

`write_agno_sessions(version, uri, db, shift_to)` runs
scripts/agno_write_sessions.py with the python of `.cache/agno-<version>/`
(created by scripts/setup_agno_envs.sh when missing) against a MongoDB-wire
server, and returns the script's JSON summary. What gets written, and the
document shapes, are described in docs/agno-test-data.md.

Failure policy, like tests/ferretdb.py: any failure raises RuntimeError with
the tail of the subprocess's output; nothing is skipped.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup_agno_envs.sh"
WRITER_SCRIPT = REPO_ROOT / "scripts" / "agno_write_sessions.py"
CACHE_DIR = REPO_ROOT / ".cache"

SUPPORTED_VERSIONS = ("3.1.10", "2.9.0")
DEFAULT_SHIFT_TO = "2024-12-10T09:00:00Z"
# Session ids the scenario writes (see the script's docstring).
AGENT_SESSION_ID = "agent-sess-1"
TEAM_SESSION_ID = "team-sess-1"
WORKFLOW_SESSION_ID = "wf-sess-1"

# A cold venv (two pip installs of ~35 wheels) takes about a minute.
SETUP_TIMEOUT_S = 15 * 60
WRITE_TIMEOUT_S = 5 * 60
LOG_TAIL_CHARS = 4000


def agno_python(version: str) -> Path:
    return CACHE_DIR / f"agno-{version}" / "bin" / "python"


def ensure_agno_env(version: str) -> Path:
    """Python of the venv for this agno version, running the setup script if it is missing."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported agno version {version!r}; supported: {SUPPORTED_VERSIONS}")
    python = agno_python(version)
    stamp = python.parent.parent / ".agno-pins"
    if python.is_file() and stamp.is_file():
        return python
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # One setup at a time, across pytest workers and processes.
    with open(CACHE_DIR / "agno-envs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.is_file() and stamp.is_file():
            return python
        try:
            proc = subprocess.run(
                ["bash", str(SETUP_SCRIPT), version],
                capture_output=True,
                text=True,
                timeout=SETUP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{SETUP_SCRIPT} {version} timed out after {SETUP_TIMEOUT_S}s") from exc
    if proc.returncode != 0 or not python.is_file():
        output = (proc.stdout + proc.stderr)[-LOG_TAIL_CHARS:]
        raise RuntimeError(f"{SETUP_SCRIPT} {version} failed (exit {proc.returncode}):\n{output}")
    return python


def write_agno_sessions(version: str, uri: str, db: str, shift_to: str | None = DEFAULT_SHIFT_TO) -> dict[str, Any]:
    """Write the scripted agent/team/workflow sessions into `db` with agno `version`.

    Existing agno_sessions/agno_runs collections in `db` are dropped first.
    `shift_to` (ISO-8601) moves every timestamp so the earliest session
    created_at equals it; None keeps wall-clock times. Returns the JSON
    summary printed by scripts/agno_write_sessions.py, e.g. keys
    agno_version, layout ("runs_collection" | "embedded_runs"), collections,
    session_ids, run_docs, runs_per_session, run_statuses.
    """
    python = ensure_agno_env(version)
    cmd = [str(python), str(WRITER_SCRIPT), "--uri", uri, "--db", db, "--drop"]
    if shift_to is not None:
        cmd += ["--shift-to", shift_to]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WRITE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{WRITER_SCRIPT.name} (agno {version}) timed out after {WRITE_TIMEOUT_S}s") from exc
    if proc.returncode != 0:
        raise RuntimeError(
            f"{WRITER_SCRIPT.name} (agno {version}) failed (exit {proc.returncode}):\n"
            f"{proc.stderr[-LOG_TAIL_CHARS:]}{proc.stdout[-LOG_TAIL_CHARS:]}"
        )
    lines = proc.stdout.strip().splitlines()
    try:
        summary: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise RuntimeError(
            f"{WRITER_SCRIPT.name} (agno {version}) printed no JSON summary:\n"
            f"stdout: {proc.stdout[-LOG_TAIL_CHARS:]}\nstderr: {proc.stderr[-LOG_TAIL_CHARS:]}"
        ) from exc
    if summary.get("agno_version") != version:
        raise RuntimeError(f"expected agno {version}, the venv has {summary.get('agno_version')}")
    return summary
