"""Re-create tests/data/agno/: documents written by each Agno version's own storage code.

    .venv/bin/python scripts/make_agno_test_data.py

Sets up the agno venvs (scripts/setup_agno_envs.sh all), starts a throwaway
FerretDB server (tests/ferretdb.py), runs the writer script of each version
into its own database, and exports what it stored as Extended JSON
(relaxed mode): ``{"collections": [...], "<collection>": [documents...]}``.
Also writes the folder's README naming the script, command and version of
each file. Offline: the writers use scripted models (see their docstrings).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bson import json_util

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from ferretdb import FerretDB  # noqa: E402

OUT = ROOT / "tests" / "data" / "agno"
SHIFT_TO = "2024-12-10T09:00:00Z"
NEW = "scripts/agno_write_sessions.py"
LEGACY = "scripts/agno_legacy_write_sessions.py"
# (venv under .cache/, writer, output file, what it holds)
CAPTURES = [
    ("agno-3.1.10", NEW, "agno-3.1.10-sessions.json", "agent, team and workflow sessions; runs in agno_runs"),
    ("agno-2.9.0", NEW, "agno-2.9.0-sessions.json", "agent, team and workflow sessions; runs embedded"),
    ("agno-2.0.11", NEW, "agno-2.0.11-sessions.json", "the same, runs and *_data fields as JSON strings"),
    ("agno-1.8.4", LEGACY, "agno-1.8.4-agent.json", "an agent session; memory.runs, list metrics"),
    ("phidata-2.7.10", LEGACY, "phidata-2.7.10-agent.json", "an agent session; memory.runs of {message, response}"),
]


def export(client, db: str) -> dict:
    database = client[db]
    names = sorted(database.list_collection_names())
    out: dict = {"collections": names}
    for name in names:
        out[name] = list(database[name].find().sort([("session_id", 1), ("created_at", 1), ("_id", 1)]))
    return out


def main() -> int:
    subprocess.run(["bash", str(ROOT / "scripts" / "setup_agno_envs.sh"), "all"], check=True, stdout=subprocess.DEVNULL)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    with FerretDB() as server, server.client() as client:
        for index, (venv, writer, filename, what) in enumerate(CAPTURES):
            db = f"capture{index}"
            python = f".cache/{venv}/bin/python"
            cmd = [python, writer, "--uri", server.uri, "--db", db, "--drop", "--shift-to", SHIFT_TO]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{venv}: {writer} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
            summary = json.loads(proc.stdout.strip().splitlines()[-1])
            text = json_util.dumps(export(client, db), json_options=json_util.RELAXED_JSON_OPTIONS, indent=1)
            (OUT / filename).write_text(text + "\n")
            rows.append(f"| `{filename}` | {venv} ({summary['agno_version']}) | `{writer}` | {what} |")
            print(f"{filename}: written by {venv}", file=sys.stderr)
    command = f"{{python}} {{script}} --uri mongodb://… --db … --drop --shift-to {SHIFT_TO}"
    readme = [
        "# Documents written by Agno itself",
        "",
        "Each file holds what one Agno (or phidata) version's own MongoDB storage",
        "code stored for a scripted, offline scenario (the scripts' docstrings and",
        "[docs/agno-test-data.md](../../../docs/agno-test-data.md) describe it), exported",
        'as relaxed Extended JSON: `{"collections": [...], "<collection>": [documents...]}`.',
        "tests/test_formats.py reads them. Re-create all of them with",
        "`.venv/bin/python scripts/make_agno_test_data.py` (generated, like this README).",
        "",
        "| file | venv (version) | writer | what |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Each writer ran as `{command}`, with the venv's python from",
        "`scripts/setup_agno_envs.sh all` (every package pinned), against a FerretDB server.",
        "",
    ]
    (OUT / "README.md").write_text("\n".join(readme))
    return 0


if __name__ == "__main__":
    sys.exit(main())
