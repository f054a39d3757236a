"""Per-format readers on documents Agno itself wrote (tests/data/agno, see its README).

Expected values are read off the documents by hand: token sums are the
scripted model calls (scripts/agno_write_sessions.py,
scripts/agno_legacy_write_sessions.py), durations the floats Agno stored.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from bson import json_util

from transforms.formats import BadDocument, detect_format, normalize_session
from transforms.window import parse_window

DATA = Path(__file__).resolve().parent / "data" / "agno"
# The writers put the first session at 2024-12-10T09:00:00Z (1733821200), the others an hour apart.
WINDOW = parse_window("2024-12-01", "2024-12-31")
T0 = 1733821200


def load(name: str) -> dict:
    return json_util.loads((DATA / name).read_text())


def session(name: str, sid: str = "agent-sess-1"):
    data = load(name)
    doc = next(d for d in data["agno_sessions"] if d["session_id"] == sid)
    runs = [r for r in data.get("agno_runs", []) if r["session_id"] == sid]
    return normalize_session(doc, runs, WINDOW)


def test_every_file_is_named_in_the_readme_with_its_writer():
    readme = (DATA / "README.md").read_text()
    for path in DATA.glob("*.json"):
        row = next(line for line in readme.splitlines() if f"`{path.name}`" in line)
        assert "scripts/agno_" in row and "_write_sessions.py" in row


def test_agno3_agent_runs_come_from_the_runs_collection():
    s = session("agno-3.1.10-sessions.json")
    assert s.info.source_format == "agno3" and s.info.session_type == "agent"
    assert (s.info.agent_id, s.info.agent_name) == ("weather-agent", "Weather Agent")
    first, second, third = s.runs
    # Two model calls: 412 + 530 in, 38 + 21 out, 450 + 551 total; 256 cached, 8 reasoning.
    assert (first.input_tokens, first.output_tokens, first.total_tokens) == (942, 59, 1001)
    assert (first.cache_read_tokens, first.reasoning_tokens) == (256, 8)
    assert [(t.name, t.error) for t in first.tools] == [("get_weather", False), ("lookup_stock", True)]
    assert first.tools[0].duration_s == 0.00041938000003938214
    assert first.duration_s == 0.2300662039999679 and first.ttft_s == 0.12665667399994618
    assert (first.model_provider, first.model_id) == ("OpenAI", "gpt-4o-mini")
    assert second.status == "ERROR" and second.input_tokens == 0 and second.position == 1
    assert second.duration_s == 0.050797914999975546 and second.tools == ()
    assert (third.total_tokens, third.created_at - first.created_at) == (110, 120)
    assert s.info.session_start == T0


def test_agno3_team_member_run_belongs_to_the_team_run_tree():
    s = session("agno-3.1.10-sessions.json", "team-sess-1")
    assert s.info.session_type == "team" and s.info.agent_name == "Travel Team"
    team = next(r for r in s.runs if r.top)
    member = next(r for r in s.runs if not r.top)
    assert member.tree == team.tree == 0 and member.parent_run_id == team.run_id
    assert (member.model_provider, member.model_id) == ("Anthropic", "claude-sonnet-4-5")
    # Leader: 600 + 700 in, 30 + 12 out; member: 200 + 260 in, 15 + 9 out.
    assert (team.input_tokens, team.output_tokens, team.total_tokens) == (1300, 42, 1342)
    assert (member.input_tokens, member.output_tokens, member.total_tokens) == (460, 24, 484)
    assert [t.name for t in team.tools] == ["delegate_task_to_member"]
    assert [t.name for t in member.tools] == ["get_weather"]


def test_agno3_workflow_run_sums_steps_and_takes_the_first_executor_model():
    s = session("agno-3.1.10-sessions.json", "wf-sess-1")
    (wf,) = s.runs
    assert s.info.session_type == "workflow" and s.info.agent_name == "Poem Workflow"
    assert s.info.agent_id == "poem-wf"
    assert (wf.input_tokens, wf.output_tokens, wf.total_tokens) == (50, 10, 60)
    assert (wf.model_provider, wf.model_id) == ("OpenAI", "gpt-4o-mini")
    assert wf.duration_s == 0.05105360400000336 and wf.tools == ()


def test_agno2_runs_array():
    s = session("agno-2.9.0-sessions.json")
    assert s.info.source_format == "agno2"
    assert [r.status for r in s.runs] == ["COMPLETED", "ERROR", "COMPLETED"]
    assert [r.total_tokens for r in s.runs] == [1001, 0, 110]
    assert s.runs[0].tools[1].duration_s == 0.02959864399997514


def test_agno2_team_member_run_stored_first_sorts_after_its_team_run():
    s = session("agno-2.9.0-sessions.json", "team-sess-1")
    team, member = s.runs  # time order; agno stored the member run first in the array
    assert (team.top, member.top, team.position, member.position) == (True, False, 1, 0)
    assert member.parent_run_id == team.run_id and member.created_at == team.created_at + 1
    assert member.tree == team.tree == 0 and team.total_tokens == 1342


def test_agno2_json_strings_are_parsed():
    s = session("agno-2.0.11-sessions.json")
    assert s.info.source_format == "agno2" and s.info.agent_name == "Weather Agent"
    # agno 2.0.11 lets the failing run's error out of run() and stores only the other two.
    first, second = s.runs
    assert [first.status, second.status] == ["COMPLETED", "COMPLETED"]
    assert (first.input_tokens, first.cache_read_tokens, first.reasoning_tokens) == (942, 256, 8)
    assert [(t.name, t.error, t.duration_s) for t in first.tools] == [
        ("get_weather", False, None),  # this version stored no tool metrics
        ("lookup_stock", True, None),
    ]
    assert first.duration_s == 0.16340752799999336 and first.ttft_s is None
    assert (second.total_tokens, second.created_at - first.created_at) == (110, 60)


def test_agno2_json_string_team_and_workflow():
    team = session("agno-2.0.11-sessions.json", "team-sess-1")
    leader = next(r for r in team.runs if r.top)
    (member,) = (r for r in team.runs if not r.top)
    assert team.info.session_type == "team" and member.tree == leader.tree == 0
    assert (leader.total_tokens, member.total_tokens) == (1342, 484)
    (wf,) = session("agno-2.0.11-sessions.json", "wf-sess-1").runs
    assert (wf.total_tokens, wf.model_id, wf.duration_s) == (60, "gpt-4o-mini", None)  # no run duration stored


def test_agno1_lists_time_and_status():
    s = session("agno-1.8.4-agent.json")
    first, second = s.runs  # the failing run was not stored
    assert s.info.source_format == "agno1" and s.info.session_type == "agent"
    assert (first.status, second.status) == ("COMPLETED", "COMPLETED")
    # Per-call lists: input [412, 530], output [38, 21], total [450, 551], cached [256, 0].
    assert (first.input_tokens, first.output_tokens, first.total_tokens) == (942, 59, 1001)
    assert (first.cache_read_tokens, first.reasoning_tokens) == (256, 8)
    assert [(t.name, t.error) for t in first.tools] == [("get_weather", False), ("lookup_stock", True)]
    model_times = [0.05709207899997182, 0.051571474999946076]
    tool_times = [0.0001869380000698584, 0.06107792399996015]
    assert first.duration_s == math.fsum(model_times + tool_times)  # model time plus tool times
    assert second.duration_s == 0.05020244100001037 and second.created_at == T0 + 60


def test_phidata_pairs_tools_from_messages_and_session_provider():
    s = session("phidata-2.7.10-agent.json")
    first, second = s.runs
    assert s.info.source_format == "phidata"
    assert [(t.name, t.error) for t in first.tools] == [("get_weather", False), ("lookup_stock", True)]
    assert (first.model_provider, first.model_id) == ("OpenAI", "gpt-4o-mini")  # provider from agent_data.model
    # prompt_tokens_details / completion_tokens_details aliases
    assert (first.input_tokens, first.cache_read_tokens, first.reasoning_tokens) == (942, 256, 8)
    parts = [0.05249808700000358, 0.050223858999970616, 0.00013738299992382963, 0.04255394800009071]
    assert first.duration_s == math.fsum(parts)
    assert (second.total_tokens, second.tools, second.created_at) == (110, (), T0 + 60)


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


def test_detection_of_each_written_file():
    found = {}
    for path in sorted(DATA.glob("*.json")):
        data = load(path.name)
        for doc in data["agno_sessions"]:
            has_runs = any(r["session_id"] == doc["session_id"] for r in data.get("agno_runs", []))
            parsed = {**doc, "runs": json.loads(doc["runs"])} if isinstance(doc.get("runs"), str) else doc
            found.setdefault(path.name, set()).add(detect_format(parsed, has_runs))
    assert found == {
        "agno-1.8.4-agent.json": {"agno1"},
        "agno-2.0.11-sessions.json": {"agno2"},
        "agno-2.9.0-sessions.json": {"agno2"},
        "agno-3.1.10-sessions.json": {"agno3"},
        "phidata-2.7.10-agent.json": {"phidata"},
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"session_id": None}, "no session_id"),
        ({"runs": {"a": 1}}, "runs is not a list"),
        ({"runs": "[{not json"}, "JSON string that does not parse"),
        ({"runs": [{"metrics": {"input_tokens": -3}, "created_at": T0 + 5}]}, "negative token count"),
        ({"runs": [{"metrics": {"output_tokens": "12"}, "created_at": T0 + 5}]}, "non-numeric token count"),
        ({"runs": [{"created_at": "yesterday"}]}, "unreadable timestamp"),
    ],
)
def test_bad_documents_raise_with_a_reason(change, reason):
    doc = {**load("agno-2.9.0-sessions.json")["agno_sessions"][0], **change}
    with pytest.raises(BadDocument, match=reason):
        normalize_session(doc, [], WINDOW)
