"""Reading from a real MongoDB-wire server (FerretDB) and from dumps of the same
documents: every timestamp type, duplicates, orphans, quarantine; same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import bson
import pytest
from dataset_io import read_dataset, read_manifest, read_quarantine, run_pipeline, write_dump

UTC = dt.UTC
T0 = 1733821200  # 2024-12-10T09:00:00Z
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def agno2(sid: str, created_at, runs: list[dict] | None = None, **extra) -> dict:
    doc = {"session_id": sid, "session_type": "agent", "agent_id": "a1", "agent_data": {"name": "A"},
           "runs": runs if runs is not None else [], "updated_at": T0, **extra}  # fmt: skip
    if created_at is not None:
        doc["created_at"] = created_at
    return doc


def run2(at: int, inp: int, out: int) -> dict:
    return {"run_id": f"r{at}-{inp}", "created_at": at, "status": "COMPLETED",
            "metrics": {"input_tokens": inp, "output_tokens": out, "duration": 1.5}}  # fmt: skip


def run3(sid: str, rid: str, at: int, inp: int) -> dict:
    return {"run_id": rid, "session_id": sid, "parent_run_id": None, "status": "COMPLETED", "run_index": 0,
            "created_at": at, "run_data": {"run_id": rid, "metrics": {"input_tokens": inp}}}  # fmt: skip


SESSIONS = [
    agno2("s-int", T0, [run2(T0, 10, 1)]),
    agno2("s-float", T0 + 0.5, [run2(T0 + 1, 20, 2)]),
    agno2("s-ms", (T0 + 1) * 1000),
    agno2("s-date", dt.datetime(2024, 12, 11, tzinfo=UTC)),
    agno2("s-iso", "2024-12-12T10:00:00+02:00"),
    {"session_id": "s-none", "session_type": "agent", "agent_id": "a3"},  # agno3, placed by its first run
    agno2("s-dup", T0, [run2(T0, 1, 1)], updated_at=T0 + 10),
    agno2("s-dup", T0, [run2(T0, 5, 5), run2(T0 + 60, 5, 5)], updated_at=T0 + 20),
    agno2("s-bad", T0, "[{not json"),
    agno2("s-out", dt.datetime(2025, 1, 5, tzinfo=UTC)),
    agno2("s-garbage", "soon"),  # no accepted timestamp: in no window
    {"session_type": "agent", "created_at": T0},  # no session_id
]
RUNS = [
    run3("s-none", "n1", T0 + 100, 7),
    run3("s-none", "n2", T0 + 200, 8),
    run3("s-out", "o1", T0 + 300, 1),  # session exists, outside the window: not orphaned
    run3("ghost", "g1", T0 + 400, 1),  # no such session anywhere: orphaned
]


@pytest.fixture
def loaded(mongo_db):
    mongo_db["agno_sessions"].insert_many([dict(d) for d in SESSIONS])
    mongo_db["agno_runs"].insert_many([dict(d) for d in RUNS])
    return mongo_db


def dump_from_server(db, folder: Path, fmt: str) -> None:
    """A dump of exactly what the server holds (mongoexport JSON lines or mongodump BSON)."""
    folder.mkdir()
    for name in ("agno_sessions", "agno_runs"):
        docs = list(db[name].find())
        if fmt == "jsonl":
            write_dump(folder, name, docs)
        else:
            (folder / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))


def test_server_window_rows_counts_and_quarantine(ferretdb, loaded, tmp_path):
    out = tmp_path / "server"
    assert run_pipeline(["--source", ferretdb.uri, "--database", loaded.name, *DATES, "--output", str(out)]) == 0
    rows = read_dataset(out)
    assert sorted(rows) == ["s-date", "s-dup", "s-float", "s-int", "s-iso", "s-ms", "s-none"]
    start = {sid: r["session_start"] for sid, r in rows.items()}
    assert start == {
        "s-int": "2024-12-10T09:00:00Z",
        "s-float": "2024-12-10T09:00:00.500000Z",
        "s-ms": "2024-12-10T09:00:01Z",
        "s-date": "2024-12-11T00:00:00Z",
        "s-iso": "2024-12-12T08:00:00Z",
        "s-none": "2024-12-10T09:01:40Z",  # its first run's created_at
        "s-dup": "2024-12-10T09:00:00Z",
    }
    assert rows["s-none"]["source_format"] == "agno3" and rows["s-none"]["input_tokens_sum"] == "15"
    assert rows["s-dup"]["total_runs"] == "2" and rows["s-dup"]["input_tokens_sum"] == "10"  # latest updated_at
    counts = read_manifest(out)["counts"]
    # considered: 7 sessions in the window + one duplicate + s-bad + the document without a session_id
    assert counts["sessions_read"] == 10
    assert (counts["rows_written"], counts["quarantined"], counts["duplicates"]) == (7, 2, 1)
    assert counts["orphaned_runs"] == 1
    reasons = {q["session_id"]: q["reason"] for q in read_quarantine(out)}
    assert reasons == {"s-bad": "field runs is a JSON string that does not parse", None: "no session_id"}


@pytest.mark.parametrize("fmt", ["jsonl", "bson"])
def test_dump_of_the_same_documents_gives_the_same_dataset(ferretdb, loaded, tmp_path, fmt):
    server_out, dump_out, folder = tmp_path / "server", tmp_path / "dump", tmp_path / "folder"
    dump_from_server(loaded, folder, fmt)
    assert run_pipeline(["--source", ferretdb.uri, "--database", loaded.name, *DATES, "--output", str(server_out)]) == 0
    assert run_pipeline(["--source", f"file://{folder}", *DATES, "--output", str(dump_out)]) == 0
    assert read_dataset(dump_out) == read_dataset(server_out)
    assert read_manifest(dump_out)["counts"] == read_manifest(server_out)["counts"]


def test_credentials_never_appear_in_errors(ferretdb, loaded, tmp_path, capsys):
    uri = ferretdb.uri.replace("mongodb://", "mongodb://reader:hunter2@")
    # FerretDB/SQLite refuses SCRAM logins: the refusal is reported in one line, without the password.
    assert run_pipeline(["--source", uri, "--database", loaded.name, *DATES, "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "MongoDB refused the request" in err and "hunter2" not in err
