"""The two ways of reading agno3 runs from a server give the same dataset: `lookup`
(session_id `$in` batches plus a refs query, for servers with indexes) and `scan`
(one pass over the runs collection, for servers that scan anyway: FerretDB v1)."""

from __future__ import annotations

import datetime as dt

import pytest
from dataset_io import read_dataset, read_manifest, read_quarantine, run_pipeline

from transforms import read_mongo
from transforms.read_mongo import ReadPlan, read_plan
from transforms.window import parse_window

UTC = dt.UTC
T0 = 1733821200  # 2024-12-10T09:00:00Z
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def session(sid: str, created_at, **extra) -> dict:
    return {"session_id": sid, "session_type": "agent", "agent_id": "a", "created_at": created_at,
            "updated_at": T0, **extra}  # fmt: skip


def run(sid, rid: str, at, inp: int = 10, **extra) -> dict:
    return {"run_id": rid, "session_id": sid, "parent_run_id": None, "status": "COMPLETED", "created_at": at,
            "run_data": {"run_id": rid, "metrics": {"input_tokens": inp, "duration": 1.0}}, **extra}  # fmt: skip


SESSIONS = [
    session("s-plain", T0),
    session("s-early-run", T0),  # its first run started before the window
    session("s-late-run", T0),  # a run after the window end: not counted
    session("s-bad-late", T0),  # a bad run after the end is set aside first (v1.1 §3): a row
    session("s-date", dt.datetime(2024, 12, 11, tzinfo=UTC)),
    session("s-out", dt.datetime(2024, 11, 5, tzinfo=UTC)),  # outside: its window run is no orphan
    session("s-dup", T0, updated_at=T0 + 5),
    session("s-dup", T0, updated_at=T0 + 9),
    {"session_id": "s-undated", "session_type": "agent", "agent_id": "a"},
]
RUNS = [
    run("s-plain", "p1", T0 + 10),
    run("s-plain", "p2", T0 + 20, inp=5, run_index=1),
    run("s-early-run", "e1", dt.datetime(2024, 11, 30, 23, 59, tzinfo=UTC)),
    run("s-early-run", "e2", T0 + 30),
    run("s-late-run", "l1", T0 + 40),
    run("s-late-run", "l2", dt.datetime(2025, 1, 3, tzinfo=UTC)),
    run("s-bad-late", "b1", T0 + 50),
    run("s-bad-late", "b2", 1736000000, inp=-3),
    run("s-date", "d1", (T0 + 60) * 1000),
    run("s-out", "o1", T0 + 70),
    run("s-dup", "u1", T0 + 80),
    run("s-undated", "n1", T0 + 90),
    run("ghost", "g1", T0 + 100),  # orphaned
    run("ghost", "g2", dt.datetime(2024, 10, 1, tzinfo=UTC)),  # orphaned, but created outside: not counted
    run(["s-plain"], "x1", T0 + 110),  # a session_id that is no string
    run(None, "x2", T0 + 120),
]


@pytest.fixture
def loaded(mongo_db):
    mongo_db["agno_sessions"].insert_many([dict(d) for d in SESSIONS])
    mongo_db["agno_runs"].insert_many([dict(d) for d in RUNS])
    return mongo_db


def test_ferretdb_gets_the_scan_plan(ferretdb, loaded):
    window = parse_window("2024-12-01", "2024-12-31")
    plan = read_plan(ferretdb.uri, loaded.name, "agno_sessions", "agno_runs", window, 5)
    assert plan == ReadPlan(session_ranges=1, runs="scan")


def test_an_unreachable_server_keeps_the_plan_for_indexed_servers():
    window = parse_window("2024-12-01", "2024-12-31")
    uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"
    assert read_plan(uri, "db", "agno_sessions", "agno_runs", window, 5) == ReadPlan(5, "lookup")


def test_lookup_and_scan_give_the_same_dataset(ferretdb, loaded, tmp_path, monkeypatch):
    results = {}
    for plan in (ReadPlan(5, "lookup"), ReadPlan(1, "scan"), ReadPlan(3, "scan")):
        monkeypatch.setattr(read_mongo, "read_plan", lambda *args, plan=plan: plan)
        out = tmp_path / f"{plan.runs}-{plan.session_ranges}"
        assert run_pipeline(["--source", ferretdb.uri, "--database", loaded.name, *DATES, "--output", str(out)]) == 0
        quarantine = sorted((q["session_id"], q["reason"]) for q in read_quarantine(out))
        results[plan] = (read_dataset(out), read_manifest(out)["counts"], quarantine)
    first, *others = results.values()
    assert all(other == first for other in others)
    rows, counts, quarantine = first
    assert sorted(rows) == ["s-bad-late", "s-date", "s-dup", "s-early-run", "s-late-run", "s-plain", "s-undated"]
    assert rows["s-early-run"]["total_runs"] == "2" and rows["s-late-run"]["total_runs"] == "1"
    assert rows["s-plain"]["input_tokens_sum"] == "15"
    assert rows["s-bad-late"]["input_tokens_sum"] == "10" and quarantine == []  # b1 only: the cut comes first
    # g1, and x1 and x2 (no usable session_id: FEATURES.md v1.1 §5 counts them as orphans)
    assert counts["orphaned_runs"] == 3 and counts["duplicates"] == 1
