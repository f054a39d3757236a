"""Orphaned runs (FEATURES.md §5) are the same whether the documents come from a server or
a dump of it: a run document whose session exists nowhere, or without a usable
session_id (absent, null, empty, not a string), counts when its created_at is in the
window or absent, and is never quarantined."""

from __future__ import annotations

import datetime as dt
import json

import bson
import pytest
from dataset_io import read_dataset, read_manifest, read_quarantine, run_pipeline, write_dump

from transforms import read_mongo
from transforms.read_mongo import ReadPlan

UTC = dt.UTC
T0 = 1733821200  # 2024-12-10T09:00:00Z
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]

SESSIONS = [
    {"session_id": "s-a", "session_type": "agent", "agent_id": "a", "created_at": T0},
    {
        "session_id": "s-out",
        "session_type": "agent",
        "agent_id": "a",
        "created_at": dt.datetime(2025, 1, 5, tzinfo=UTC),
    },
    {"session_id": "", "session_type": "agent", "agent_id": "a", "created_at": T0},  # quarantined: no session_id
]


def run(rid: str, **fields) -> dict:
    return {"run_id": rid, "status": "COMPLETED", "run_data": {"metrics": {"input_tokens": 1}}, **fields}


RUNS = [
    # (run, orphaned?) worked out from §5
    (run("r1", session_id="s-a", created_at=T0 + 1), False),  # its session is in the window
    (run("r2", session_id="s-out", created_at=T0 + 2), False),  # its session exists, outside the window
    (run("r3", session_id="ghost", created_at=T0 + 3), True),  # no such session
    (run("r4", session_id="ghost", created_at=dt.datetime(2025, 2, 1, tzinfo=UTC)), False),  # created outside
    (run("r5", created_at=T0 + 5), True),  # no session_id
    (run("r6", session_id=None), True),  # null session_id, no created_at
    (run("r7", session_id="", created_at=T0 + 7), True),  # empty: even though a session document has ""
    (run("r8", session_id=42, created_at=T0 + 8), True),  # not a string
    (run("r9", session_id=None, created_at=dt.datetime(2024, 11, 1, tzinfo=UTC)), False),  # created outside
    (run("r10", session_id=None, created_at="garbage"), False),  # no readable created_at: in no window
    (run("r11", session_id=["s-a"], created_at="2024-12-10T09:00:00Z"), True),
    (run("r12", session_id={"x": 1}, created_at=dt.datetime(2024, 12, 11, tzinfo=UTC)), True),
    (run("r13", created_at=(T0 + 13) * 1000), True),  # epoch milliseconds
    # no created_at: the run is dated by run_data.created_at, as everywhere else (FEATURES.md §1)
    (run("r14", session_id="ghost", run_data={"created_at": T0 - 30 * 86_400}), False),  # created outside
    (run("r15", session_id="ghost", run_data={"created_at": T0 + 15}), True),
    (run("r16", session_id="ghost", run_data=json.dumps({"created_at": T0 - 30 * 86_400})), False),
    (run("r17", session_id="ghost", run_data={"metrics": {}}), True),  # undated
]
ORPHANS = sum(orphan for _, orphan in RUNS)  # 10


def dump(folder, fmt: str) -> None:
    folder.mkdir()
    for name, docs in (("agno_sessions", SESSIONS), ("agno_runs", [r for r, _ in RUNS])):
        if fmt == "jsonl":
            write_dump(folder, name, docs)
        else:
            (folder / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))


def outcome(out) -> tuple:
    counts = read_manifest(out)["counts"]
    reasons = sorted(q["reason"] for q in read_quarantine(out))
    return sorted(read_dataset(out)), counts["orphaned_runs"], counts["quarantined"], reasons


EXPECTED = (["s-a"], ORPHANS, 1, ["no session_id"])


@pytest.mark.parametrize("fmt", ["jsonl", "bson"])
def test_a_dump_counts_the_orphans_of_the_spec(tmp_path, fmt):
    dump(tmp_path / "dump", fmt)
    assert run_pipeline(["--source", str(tmp_path / "dump"), *DATES, "--output", str(tmp_path / "out")]) == 0
    assert outcome(tmp_path / "out") == EXPECTED


@pytest.mark.parametrize("plan", [ReadPlan(1, "scan"), ReadPlan(2, "lookup")])
def test_a_server_counts_the_same_orphans(ferretdb, mongo_db, tmp_path, monkeypatch, plan):
    mongo_db["agno_sessions"].insert_many([dict(d) for d in SESSIONS])
    mongo_db["agno_runs"].insert_many([dict(r) for r, _ in RUNS])
    monkeypatch.setattr(read_mongo, "read_plan", lambda *args: plan)
    args = ["--source", ferretdb.uri, "--database", mongo_db.name, *DATES, "--output", str(tmp_path / "out")]
    assert run_pipeline(args) == 0
    assert outcome(tmp_path / "out") == EXPECTED
