"""MongoDB connection faults through the real reader: a proxy in front of FerretDB cuts
or freezes the connection in the middle of the read. The read is retried and gives
exactly the rows of an undisturbed run; a server that never comes back fails the run
in one line and publishes nothing. An unreachable server fails the pre-flight check."""

from __future__ import annotations

import bson
import pytest
from dataset_io import read_dataset, read_manifest, run_pipeline
from faulty_proxy import FaultyProxy

T0 = 1733821200  # 2024-12-10T09:00:00Z
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
SESSIONS = 2500  # three reply batches of 1000 documents: a fault can fall after the first
PAD = "p" * 300


def session(i: int) -> dict:
    return {
        "session_id": f"s-{i:05d}", "session_type": "agent", "agent_id": "a1", "created_at": T0 + i,
        "updated_at": T0 + i, "metadata": {"pad": PAD},
        "runs": [{"run_id": f"r-{i}", "created_at": T0 + i, "status": "COMPLETED",
                  "metrics": {"input_tokens": i, "output_tokens": i % 7, "duration": 1.0}}],
    }  # fmt: skip


# Inside the second reply batch (a getMore, which pymongo does not retry by itself):
# the retried read must skip the sessions the first batch emitted.
FAULT_AT = len(bson.encode(session(0))) * 1500


@pytest.fixture(scope="module")
def loaded(ferretdb):
    client = ferretdb.client()
    db = client["faults"]
    db.drop_collection("agno_sessions")
    db["agno_sessions"].insert_many([session(i) for i in range(SESSIONS)])
    db["agno_runs"].insert_one({"run_id": "ghost", "session_id": "ghost", "created_at": T0, "run_data": {}})
    yield db
    client.drop_database("faults")
    client.close()


@pytest.fixture(scope="module")
def undisturbed(ferretdb, loaded, tmp_path_factory):
    out = tmp_path_factory.mktemp("undisturbed")
    assert run_pipeline(["--source", ferretdb.uri, "--database", "faults", *DATES, "--output", str(out)]) == 0
    rows = read_dataset(out)
    assert len(rows) == SESSIONS and rows["s-00007"]["input_tokens_sum"] == "7"
    return rows, read_manifest(out)["counts"]


@pytest.mark.parametrize("mode", ["cut", "freeze"])
def test_a_broken_connection_is_retried_and_gives_the_same_rows(ferretdb, loaded, undisturbed, tmp_path, caplog, mode):
    after = FAULT_AT
    with FaultyProxy(ferretdb.port, mode, after) as proxy:
        uri = proxy.uri(socketTimeoutMS=2000, serverSelectionTimeoutMS=3000)
        out = tmp_path / "out"
        assert run_pipeline(["--source", uri, "--database", "faults", *DATES, "--output", str(out)]) == 0
        assert proxy.faults == 1
    assert any("trying again" in r.getMessage() for r in caplog.records)  # the reader's retry, not pymongo's
    rows, counts = undisturbed
    assert read_dataset(out) == rows
    assert read_manifest(out)["counts"] == counts
    assert counts["orphaned_runs"] == 1 and counts["sessions_read"] == SESSIONS


def test_a_server_that_never_comes_back_fails_the_run_in_one_line(ferretdb, loaded, tmp_path, capsys):
    with FaultyProxy(ferretdb.port, "cut", FAULT_AT, stay_down=True) as proxy:
        uri = proxy.uri(socketTimeoutMS=2000, serverSelectionTimeoutMS=500)
        out = tmp_path / "out"
        assert run_pipeline(["--source", uri, "--database", "faults", *DATES, "--output", str(out)]) == 1
        assert proxy.faults == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("session-features: the run failed, nothing was published: reading ")
    assert "documents from MongoDB failed 4 times" in err[0]
    assert not (out / "manifest.json").exists()
    assert not any(p.suffix in (".csv", ".jsonl") for p in out.rglob("*"))


def test_an_unreachable_server_fails_the_check_with_its_whole_reason(tmp_path, capsys):
    with FaultyProxy(1, "cut", 1) as proxy:  # nothing listens on port 1: every connection is refused
        port = proxy.port
    uri = f"mongodb://127.0.0.1:{port}/"
    assert run_pipeline(["--source", uri, "--database", "x", *DATES, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        f"session-features: cannot reach MongoDB at {uri}: 127.0.0.1:{port}: [Errno 111] Connection refused"
    )
    # the whole reason (pymongo's text has commas in it), without the topology dump
    assert err.endswith("connectTimeoutMS: 4000.0ms)") and "Topology" not in err
