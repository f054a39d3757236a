"""Documents written by agno's own MongoDb storage (3.1.10 and 2.9.0, driven offline
by a scripted model; see docs/agno-test-data.md), read from FerretDB and from a dump.

Token counts, tools, statuses and times are fixed by the script; durations are
wall-clock, so they are checked against the stored values rather than constants.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from agno_docs import write_agno_sessions
from dataset_io import read_dataset, read_manifest, run_pipeline, write_dump

DATES = ["--start_date", "2024-12-10", "--end_date", "2024-12-10"]
LAYOUT = {"3.1.10": "agno3", "2.9.0": "agno2"}


@pytest.fixture(scope="module", params=["3.1.10", "2.9.0"])
def agno_db(request, ferretdb):
    version = request.param
    client = ferretdb.client()
    name = f"agno_{version.replace('.', '_')}_{uuid.uuid4().hex[:8]}"
    summary = write_agno_sessions(version, ferretdb.uri, name, "2024-12-10T09:00:00Z")
    assert summary["runs_per_session"] == {"agent-sess-1": 3, "team-sess-1": 2, "wf-sess-1": 1}
    yield version, client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="module")
def rows(agno_db, ferretdb, tmp_path_factory):
    _, db = agno_db
    out = tmp_path_factory.mktemp("agno-out")
    assert run_pipeline(["--source", ferretdb.uri, "--database", db.name, *DATES, "--output", str(out)]) == 0
    return out, read_dataset(out)


def stored_durations(db, session_id: str) -> list[float]:
    """Top-level runs' metrics.duration as agno stored them, in run order."""
    runs = list(db["agno_runs"].find({"session_id": session_id, "parent_run_id": None}))
    if runs:
        runs = [r["run_data"] for r in sorted(runs, key=lambda r: r["created_at"])]
    else:
        doc = db["agno_sessions"].find_one({"session_id": session_id})
        runs = sorted((r for r in doc["runs"] if not r.get("parent_run_id")), key=lambda r: r["created_at"])
    return [r["metrics"]["duration"] for r in runs]


def test_agent_session(agno_db, rows):
    version, db = agno_db
    r = rows[1]["agent-sess-1"]
    assert (r["session_type"], r["source_format"]) == ("agent", LAYOUT[version])
    assert (r["agent_id"], r["agent_name"]) == ("weather-agent", "Weather Agent")
    assert (r["model_provider"], r["model_id"], r["distinct_models"]) == ("OpenAI", "gpt-4o-mini", "1")
    assert (r["total_runs"], r["member_runs"]) == ("3", "0")
    # runs: 942/59/1001 (cache 256, reasoning 8), ERROR with no tokens, 100/10/110
    sums = [r[f"{k}_tokens_sum"] for k in ("input", "output", "total", "cache_read", "reasoning")]
    assert sums == ["1042", "69", "1111", "256", "8"]
    assert float(r["input_tokens_avg"]) == pytest.approx(1042 / 3) and r["output_tokens_avg"] == "23.0"
    assert (r["output_tokens_max"], r["total_tokens_max"]) == ("59", "1001")
    assert float(r["total_tokens_avg"]) == pytest.approx(1111 / 3)
    assert float(r["output_input_ratio"]) == pytest.approx(69 / 1042)
    assert float(r["cache_read_ratio"]) == pytest.approx(256 / 1042)
    assert float(r["reasoning_output_ratio"]) == pytest.approx(8 / 69)
    assert r["cost_sum"] == ""
    # tools: get_weather ok, lookup_stock failed, both in run 1
    assert (r["tool_calls_sum"], r["tool_calls_max"], r["distinct_tools"], r["tool_errors_sum"]) == ("2", "2", "2", "1")
    assert float(r["tool_calls_avg"]) == pytest.approx(2 / 3) and r["tool_error_rate"] == "0.5"
    assert float(r["runs_with_tools_ratio"]) == pytest.approx(1 / 3) and r["top_tool"] == "get_weather"
    # statuses: COMPLETED, ERROR, COMPLETED
    assert (r["error_runs"], r["first_error_index"], r["max_consecutive_errors"]) == ("1", "1", "1")
    assert float(r["error_rate"]) == pytest.approx(1 / 3) and r["has_failure"] == "true"
    assert (r["cancelled_runs"], r["incomplete_runs"]) == ("0", "0")
    # times: runs at 09:00:00, 09:01:00, 09:02:00 on Tuesday 2024-12-10
    assert (r["session_start"], r["first_run_at"]) == ("2024-12-10T09:00:00Z", "2024-12-10T09:00:00Z")
    assert (r["inter_run_gap_avg_s"], r["inter_run_gap_max_s"]) == ("60.0", "60.0")
    assert (r["start_hour_utc"], r["start_weekday"], r["is_weekend"]) == ("9", "1", "false")
    durations = stored_durations(db, "agent-sess-1")
    assert float(r["duration_sum_s"]) == pytest.approx(sum(durations))
    assert float(r["duration_p95_s"]) == pytest.approx(np.percentile(durations, 95))
    assert float(r["active_span_s"]) == pytest.approx(120 + durations[2])
    assert float(r["output_tokens_per_s"]) == pytest.approx(69 / sum(durations))


def test_team_session(agno_db, rows):
    version, db = agno_db
    r = rows[1]["team-sess-1"]
    assert (r["session_type"], r["agent_id"], r["agent_name"]) == ("team", "travel-team", "Travel Team")
    # the member run (claude-sonnet-4-5) is inside the team run's tree
    assert (r["total_runs"], r["member_runs"], r["distinct_models"]) == ("1", "1", "2")
    assert (r["model_provider"], r["model_id"]) == ("OpenAI", "gpt-4o")
    assert (r["input_tokens_sum"], r["output_tokens_sum"], r["total_tokens_sum"]) == ("1760", "66", "1826")
    assert (r["input_tokens_avg"], r["total_tokens_max"], r["output_tokens_max"]) == ("1760.0", "1826", "66")
    # leader delegates (1 call), member calls get_weather (1 call): one tree with 2 calls
    assert (r["tool_calls_sum"], r["tool_calls_avg"], r["tool_calls_max"]) == ("2", "2.0", "2")
    assert (r["top_tool"], r["runs_with_tools_ratio"]) == ("delegate_task_to_member", "1.0")
    assert (r["error_runs"], r["has_failure"], r["session_start"]) == ("0", "false", "2024-12-10T10:00:00Z")
    assert r["inter_run_gap_avg_s"] == "" and float(r["duration_sum_s"]) == pytest.approx(
        stored_durations(db, "team-sess-1")[0]
    )


def test_workflow_session(agno_db, rows):
    r = rows[1]["wf-sess-1"]
    assert (r["session_type"], r["agent_id"], r["agent_name"]) == ("workflow", "poem-wf", "Poem Workflow")
    assert (r["model_provider"], r["model_id"]) == ("OpenAI", "gpt-4o-mini")
    assert (r["total_runs"], r["member_runs"]) == ("1", "0")
    assert (r["input_tokens_sum"], r["output_tokens_sum"], r["total_tokens_sum"]) == ("50", "10", "60")
    assert (r["tool_calls_sum"], r["top_tool"], r["session_start"]) == ("0", "", "2024-12-10T11:00:00Z")


def test_counts_and_dump_parity(agno_db, rows, tmp_path):
    _, db = agno_db
    out, server_rows = rows
    assert sorted(server_rows) == ["agent-sess-1", "team-sess-1", "wf-sess-1"]
    counts = read_manifest(out)["counts"]
    assert (counts["sessions_read"], counts["quarantined"], counts["orphaned_runs"]) == (3, 0, 0)
    folder = tmp_path / "dump"
    folder.mkdir()
    for name in db.list_collection_names():
        write_dump(folder, name, list(db[name].find()))
    dump_out = tmp_path / "out"
    assert run_pipeline(["--source", str(folder), *DATES, "--output", str(dump_out)]) == 0
    assert read_dataset(dump_out) == server_rows
