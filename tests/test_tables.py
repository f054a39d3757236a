"""The companion tables (FEATURES.md §7) on documents written by agno's own storage
(3.1.10 and 2.9.0, docs/agno-test-data.md): what each row holds, worked out from the
scenario, and the invariants — per session the sums over `runs` and `tool_calls`
equal the session columns, and every stored run and tool call appears exactly once."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict

import pytest
from agno_docs import write_agno_sessions
from dataset_io import read_dataset, read_manifest, read_table, run_pipeline

DATES = ["--start_date", "2024-12-10", "--end_date", "2024-12-10"]
ALL = ["--tables", "sessions,runs,tool_calls"]


@pytest.fixture(scope="module", params=["3.1.10", "2.9.0"])
def agno_db(request, ferretdb):
    version = request.param
    client = ferretdb.client()
    name = f"tables_{version.replace('.', '_')}_{uuid.uuid4().hex[:8]}"
    write_agno_sessions(version, ferretdb.uri, name, "2024-12-10T09:00:00Z")
    yield version, client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="module")
def out(agno_db, ferretdb, tmp_path_factory):
    _, db = agno_db
    out = tmp_path_factory.mktemp("tables-out")
    argv = ["--source", ferretdb.uri, "--database", db.name, *DATES, "--output", str(out), *ALL]
    assert run_pipeline(argv) == 0
    return out


def stored_runs(db) -> dict[str, list[dict]]:
    """session_id → the run dicts agno stored (runs collection, else the session's array)."""
    runs = defaultdict(list)
    for doc in db["agno_runs"].find() if "agno_runs" in db.list_collection_names() else []:
        runs[doc["session_id"]].append(doc.get("run_data") or doc)
    for doc in db["agno_sessions"].find():
        array = doc.get("runs")
        if isinstance(array, str):
            array = json.loads(array)
        if not runs[doc["session_id"]]:
            runs[doc["session_id"]] = list(array or [])
    return runs


def test_manifest_lists_three_tables_in_folders_of_their_own(out):
    manifest = read_manifest(out)
    run = manifest["run_id"]
    assert {n: t["location"] for n, t in manifest["tables"].items()} == {
        "sessions": f"{run}/data/",
        "runs": f"{run}/runs/",
        "tool_calls": f"{run}/tool_calls/",
    }
    assert manifest["tables"]["sessions"]["files"] == manifest["files"]
    # 3 sessions: agent (3 runs, 2 calls), team (leader + member, 1 call each), workflow (1 run)
    assert [len(read_table(out, n)) for n in ("sessions", "runs", "tool_calls")] == [3, 6, 4]


def test_agent_runs_and_calls(out):
    runs = sorted((r for r in read_table(out, "runs") if r["session_id"] == "agent-sess-1"), key=lambda r: r["run_seq"])
    assert [r["run_seq"] for r in runs] == ["0", "1", "2"]
    assert [r["status"] for r in runs] == ["COMPLETED", "ERROR", "COMPLETED"]
    assert [(r["input_tokens"], r["output_tokens"], r["total_tokens"]) for r in runs] == [
        ("942", "59", "1001"),
        ("0", "0", "0"),
        ("100", "10", "110"),
    ]
    assert (runs[0]["cache_read_tokens"], runs[0]["reasoning_tokens"]) == ("256", "8")
    assert [(r["depth"], r["top_run_index"], r["parent_run_id"]) for r in runs] == [
        ("0", "0", ""),
        ("0", "1", ""),
        ("0", "2", ""),
    ]
    assert all(r["root_run_id"] == r["run_id"] != "" for r in runs)
    assert [r["created_at"] for r in runs] == ["2024-12-10T09:00:00Z", "2024-12-10T09:01:00Z", "2024-12-10T09:02:00Z"]
    assert [(r["tool_calls"], r["tool_errors"]) for r in runs] == [("2", "1"), ("0", "0"), ("0", "0")]
    assert (runs[1]["tool_duration_s"], runs[0]["model_id"], runs[0]["model_provider"]) == ("", "gpt-4o-mini", "OpenAI")
    calls = sorted(
        (c["run_seq"], c["call_index"], c["tool_name"], c["error"])
        for c in read_table(out, "tool_calls")
        if c["session_id"] == "agent-sess-1"
    )
    assert calls == [("0", "0", "get_weather", "false"), ("0", "1", "lookup_stock", "true")]


def test_team_member_run_is_in_its_leaders_tree(out):
    runs = sorted((r for r in read_table(out, "runs") if r["session_id"] == "team-sess-1"), key=lambda r: r["run_seq"])
    leader = next(r for r in runs if r["parent_run_id"] == "")
    member = next(r for r in runs if r["parent_run_id"] != "")
    assert member["parent_run_id"] == leader["run_id"] == member["root_run_id"] == leader["root_run_id"]
    assert (leader["depth"], member["depth"], leader["top_run_index"], member["top_run_index"]) == ("0", "1", "0", "0")
    assert (leader["model_id"], member["model_id"]) == ("gpt-4o", "claude-sonnet-4-5")
    calls = {c["run_seq"]: c["tool_name"] for c in read_table(out, "tool_calls") if c["session_id"] == "team-sess-1"}
    assert calls == {leader["run_seq"]: "delegate_task_to_member", member["run_seq"]: "get_weather"}


def test_sums_over_companions_equal_the_session_columns(out):
    sessions = read_dataset(out)
    runs, calls = read_table(out, "runs"), read_table(out, "tool_calls")
    by_session = defaultdict(list)
    for r in runs:
        by_session[r["session_id"]].append(r)
    calls_of = Counter(c["session_id"] for c in calls)
    errors_of = Counter(c["session_id"] for c in calls if c["error"] == "true")
    assert set(by_session) == set(sessions)
    for sid, row in sessions.items():
        mine = by_session[sid]
        for kind in ("input", "output", "total", "cache_read", "reasoning"):
            assert sum(int(r[f"{kind}_tokens"]) for r in mine) == int(row[f"{kind}_tokens_sum"]), (sid, kind)
        assert sum(int(r["tool_calls"]) for r in mine) == calls_of[sid] == int(row["tool_calls_sum"])
        assert sum(int(r["tool_errors"]) for r in mine) == errors_of[sid] == int(row["tool_errors_sum"])
        assert sum(r["parent_run_id"] != "" for r in mine) == int(row["member_runs"])
        assert sum(r["parent_run_id"] == "" for r in mine) == int(row["total_runs"])
        top_errors = sum(r["parent_run_id"] == "" and r["status"] == "ERROR" for r in mine)
        assert top_errors == int(row["error_runs"])
        durations = [float(c["duration_s"]) for c in calls if c["session_id"] == sid and c["duration_s"] != ""]
        if durations:
            assert sum(durations) == pytest.approx(float(row["tool_duration_sum_s"]))


def test_every_stored_run_and_tool_call_appears_once(agno_db, out):
    _, db = agno_db
    runs, calls = read_table(out, "runs"), read_table(out, "tool_calls")
    assert len({(r["session_id"], r["run_seq"]) for r in runs}) == len(runs)
    assert len({(c["session_id"], c["run_seq"], c["call_index"]) for c in calls}) == len(calls)
    for sid, stored in stored_runs(db).items():
        mine = [r for r in runs if r["session_id"] == sid]
        assert sorted(r["run_id"] for r in mine) == sorted(s["run_id"] for s in stored), sid
        assert sorted(int(r["run_seq"]) for r in mine) == list(range(len(stored)))
        for r in mine:
            seqs = sorted(int(c["call_index"]) for c in calls if (c["session_id"], c["run_seq"]) == (sid, r["run_seq"]))
            assert seqs == list(range(int(r["tool_calls"])))


def test_parquet_tables_hold_the_csv_values(agno_db, ferretdb, out, tmp_path):
    _, db = agno_db
    pq_out = tmp_path / "pq"
    argv = [
        "--source",
        ferretdb.uri,
        "--database",
        db.name,
        *DATES,
        "--output",
        str(pq_out),
        "--format",
        "parquet",
        *ALL,
    ]
    assert run_pipeline(argv) == 0
    for name, key in (("runs", ("session_id", "run_seq")), ("tool_calls", ("session_id", "run_seq", "call_index"))):
        csv_rows = {tuple(r[k] for k in key): r for r in read_table(out, name)}
        pq_rows = {tuple(str(r[k]) for k in key): r for r in read_table(pq_out, name)}
        assert sorted(pq_rows) == sorted(csv_rows)
        for k, row in pq_rows.items():
            for column, value in row.items():
                text = csv_rows[k][column]
                if value is None:
                    assert text == "", (name, k, column)
                elif isinstance(value, bool):
                    assert text == str(value).lower()
                elif isinstance(value, float):
                    assert float(text) == value
                elif column == "created_at":
                    assert value.strftime("%Y-%m-%dT%H:%M:%S") == text[:19]
                else:
                    assert str(value) == text, (name, k, column)


def test_tables_flag_default_and_unknown_name(agno_db, ferretdb, tmp_path, capsys):
    _, db = agno_db
    base = ["--source", ferretdb.uri, "--database", db.name, *DATES]
    assert run_pipeline([*base, "--output", str(tmp_path / "x"), "--tables", "sessions,turns"]) == 2
    assert capsys.readouterr().err.strip() == (
        "session-features: --tables: unknown table 'turns': choose from sessions, runs, tool_calls"
    )
    assert run_pipeline([*base, "--output", str(tmp_path / "only")]) == 0
    assert list(read_manifest(tmp_path / "only")["tables"]) == ["sessions"]
