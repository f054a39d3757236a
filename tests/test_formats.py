"""Per-format readers on documents Agno itself wrote (../shared/examples/agno)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from bson import json_util

from transforms.formats import BadDocument, detect_format, normalize_session
from transforms.window import parse_window

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples" / "agno"
# Captured 2026-11-18..19 (wall clock): a window around the capture.
WINDOW = parse_window("2026-11-01", "2026-11-30")


def load(name: str) -> dict:
    data = json_util.loads((EXAMPLES / name).read_text())
    return data if isinstance(data, dict) else {"agno_sessions": data}


def session(name: str, sid: str = "sess-001"):
    data = load(name)
    doc = next(d for d in data["agno_sessions"] if d["session_id"] == sid)
    runs = [r for r in data.get("agno_runs", []) if r["session_id"] == sid]
    return normalize_session(doc, runs, WINDOW)


def test_agno3_agent_runs_come_from_the_runs_collection():
    s = session("agno-3.1.10-agent.json")
    assert s.info.source_format == "agno3" and s.info.session_type == "agent"
    assert (s.info.agent_id, s.info.agent_name) == ("weather-agent", "Weather Agent")
    first, second = s.runs
    assert (first.input_tokens, first.output_tokens, first.total_tokens) == (942, 59, 1001)
    assert (first.cache_read_tokens, first.reasoning_tokens) == (256, 8)
    assert [(t.name, t.error) for t in first.tools] == [("get_weather", False), ("lookup_stock", True)]
    assert first.tools[0].duration_s == 0.020610328999964622
    assert first.duration_s == 0.15113116800000626 and first.ttft_s == 0.06847529900005611
    assert second.status == "ERROR" and second.input_tokens == 0 and second.position == 1


def test_agno3_team_member_run_belongs_to_the_team_run_tree():
    s = session("agno-3.1.10-team-and-workflow.json", "team-sess-001")
    assert s.info.session_type == "team" and s.info.agent_name == "Travel Team"
    team = next(r for r in s.runs if r.top)
    member = next(r for r in s.runs if not r.top)
    assert member.tree == team.tree == 0
    assert (member.model_provider, member.model_id) == ("Anthropic", "claude-sonnet-4-5")


def test_agno3_workflow_run_sums_steps_and_takes_the_first_executor_model():
    s = session("agno-3.1.10-team-and-workflow.json", "wf-sess-001")
    (wf,) = s.runs
    assert s.info.session_type == "workflow" and s.info.agent_name == "Poem Workflow"
    assert (wf.input_tokens, wf.output_tokens, wf.total_tokens) == (50, 10, 60)
    assert (wf.model_provider, wf.model_id) == ("OpenAI", "gpt-4o-mini")
    assert wf.duration_s == 0.05103143700000601 and wf.tools == ()


def test_agno2_runs_array():
    s = session("agno-2.9.0-agent.json")
    assert s.info.source_format == "agno2" and [r.status for r in s.runs] == ["COMPLETED", "ERROR"]
    assert s.runs[0].total_tokens == 1001


def test_agno2_json_strings_are_parsed():
    s = session("agno-2.0.11-agent-json-strings.json")
    assert s.info.source_format == "agno2" and s.info.agent_name == "Weather Agent"
    assert s.runs[0].input_tokens == 942 and len(s.runs[0].tools) == 2


def test_agno1_lists_time_and_status():
    s = session("agno-1.8.4-agent.json")
    (r,) = s.runs
    assert s.info.source_format == "agno1" and r.status == "COMPLETED"
    assert (r.input_tokens, r.output_tokens, r.total_tokens, r.cache_read_tokens) == (942, 59, 1001, 256)
    parts = [0.050149535999935324, 0.05024355600005492, 0.00018287100010638824, 0.010467915999925026]
    assert r.duration_s == math.fsum(parts)  # model time plus tool times


def test_phidata_pairs_tools_from_messages_and_session_provider():
    s = session("phidata-2.7.10-agent.json")
    (r,) = s.runs
    assert s.info.source_format == "phidata"
    assert [(t.name, t.error) for t in r.tools] == [("get_weather", False), ("lookup_stock", True)]
    assert (r.model_provider, r.model_id) == ("OpenAI", "gpt-4o-mini")  # provider from agent_data.model
    assert (r.input_tokens, r.cache_read_tokens) == (942, 256)  # prompt_tokens_details alias
    parts = [0.05014132400003746, 0.05019864999997026, 0.00013899700002184545, 0.009051491000036549]
    assert r.duration_s == math.fsum(parts)


@pytest.mark.parametrize(
    ("doc", "runs_in_collection", "expected"),
    [
        ({"memory": None, "user_data": None}, False, "phidata"),
        ({"memory": None}, False, "agno1"),
        ({"memory": {"runs": [{"message": {}, "response": {}}]}}, False, "phidata"),
        ({"memory": {"runs": [{"run_id": "r"}]}}, False, "agno1"),
        ({"runs": []}, True, "agno3"),
        ({}, False, "agno3"),
        ({"runs": "[]"}, False, "agno2"),
        ({"runs": [{"run_id": "r"}]}, False, "agno2"),
    ],
)
def test_detection_per_document(doc, runs_in_collection, expected):
    assert detect_format(doc, runs_in_collection) == expected


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"session_id": None}, "no session_id"),
        ({"runs": {"a": 1}}, "runs is not a list"),
        ({"runs": "[{not json"}, "JSON string that does not parse"),
        ({"runs": [{"metrics": {"input_tokens": -3}, "created_at": 1763500000}]}, "negative token count"),
        ({"runs": [{"metrics": {"output_tokens": "12"}, "created_at": 1763500000}]}, "non-numeric token count"),
        ({"runs": [{"created_at": "yesterday"}]}, "unreadable timestamp"),
    ],
)
def test_bad_documents_raise_with_a_reason(change, reason):
    doc = {**load("agno-2.9.0-agent.json")["agno_sessions"][0], **change}
    with pytest.raises(BadDocument, match=reason):
        normalize_session(doc, [], WINDOW)
