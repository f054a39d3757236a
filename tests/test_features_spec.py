"""End-to-end oracle for docs/features.md (the contract, FEATURES.md; feature set v1).

Every expected value below is worked out by hand from docs/features.md
(the arithmetic is in the comments), never copied from the pipeline's output.
Documents follow the shapes Agno itself writes (tests/data/agno).

Window used unless a test says otherwise: --start_date 2024-12-01
--end_date 2024-12-31 = [2024-12-01T00:00:00Z, 2025-01-01T00:00:00Z).

CSV values are compared as strings exactly ('' = null).  Where the float's
repr is awkward (1/3, numpy's lerp for p95, ...) the value is compared with
``close(x)``: float(value) == pytest.approx(x, rel=1e-12).

Places where FEATURES.md is ambiguous are marked ``# SPEC-AMBIGUITY:``.
"""

from __future__ import annotations

import itertools
import json
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import ObjectId, json_util
from bson import encode as bson_encode

try:
    from tests.dataset_io import (
        COLUMNS,
        COUNT_KEYS,
        dataset_dir,
        read_dataset,
        read_manifest,
        read_quarantine,
        run_pipeline,
        write_dump,
    )
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from dataset_io import (
        COLUMNS,
        COUNT_KEYS,
        dataset_dir,
        read_dataset,
        read_manifest,
        read_quarantine,
        run_pipeline,
        write_dump,
    )

# --------------------------------------------------------------------------
# Epoch seconds used below (all UTC; weekday 0 = Monday)
# --------------------------------------------------------------------------
T_DEC10 = 1733821200  # 2024-12-10T09:00:00Z Tuesday (1)
T_DEC11 = 1733907600  # 2024-12-11T09:00:00Z Wednesday (2)
T_DEC12 = 1734004800  # 2024-12-12T12:00:00Z Thursday (3)
T_DEC12_13H = 1734008400  # 2024-12-12T13:00:00Z Thursday (3)
T_DEC13 = 1734076800  # 2024-12-13T08:00:00Z Friday (4)
T_DEC13_20H = 1734120000  # 2024-12-13T20:00:00Z Friday (4)
T_DEC14 = 1734172200  # 2024-12-14T10:30:00Z Saturday (5)
T_DEC15 = 1734220800  # 2024-12-15T00:00:00Z Sunday (6)
T_DEC16 = 1734361200  # 2024-12-16T15:00:00Z Monday (0)
T_DEC17 = 1734458400  # 2024-12-17T18:00:00Z Tuesday (1)
T_DEC18 = 1734505200  # 2024-12-18T07:00:00Z Wednesday (2)
T_DEC20 = 1734674400  # 2024-12-20T06:00:00Z Friday (4)
T_DEC01 = 1733011200  # 2024-12-01T00:00:00Z Sunday (6): window start
T_DEC31_23H = 1735686000  # 2024-12-31T23:00:00Z Tuesday (1)
T_JAN01 = 1735689600  # 2025-01-01T00:00:00Z: window end (exclusive)
T_DEC05 = 1733356800  # 2024-12-05T00:00:00Z
T_NOV20 = 1732060800  # 2024-11-20T00:00:00Z

WINDOW = ("2024-12-01", "2024-12-31")


# --------------------------------------------------------------------------
# Comparison helpers
# --------------------------------------------------------------------------
class close:  # noqa: N801 - reads like pytest.approx in expectation tables
    """Matches a CSV float string whose value is approx(x, rel=1e-12)."""

    def __init__(self, x: float):
        self.x = x

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                return float(other) == pytest.approx(self.x, rel=1e-12)
            except ValueError:
                return False
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"close({self.x!r})"


def assert_row(row: dict | None, expected: dict) -> None:
    assert row is not None, "session has no row"
    got = {column: row[column] for column in expected}
    assert got == expected


# --------------------------------------------------------------------------
# Document builders (shapes as Agno writes them)
# --------------------------------------------------------------------------
_oid_counter = itertools.count(1)


def new_oid() -> ObjectId:
    return ObjectId(f"{next(_oid_counter):024x}")


MISSING = object()
ENTITY_KEYS = {
    "agent": ("agent_id", "agent_data"),
    "team": ("team_id", "team_data"),
    "workflow": ("workflow_id", "workflow_data"),
}


def session_doc(
    session_id,
    created_at,
    *,
    kind="agent",
    entity_id="weather-agent",
    name="Weather Agent",
    model=("OpenAI", "gpt-4o-mini"),
    updated_at=None,
    **fields,
):
    """An agno2/agno3 session document (agno3 when no ``runs`` is passed)."""
    id_key, data_key = ENTITY_KEYS[kind]
    data = {"name": name, id_key: entity_id}
    if model is not None:
        data["model"] = {"provider": model[0], "id": model[1], "name": "OpenAIChat"}
    doc = {
        "_id": new_oid(),
        "session_id": session_id,
        "session_type": kind,
        id_key: entity_id,
        "user_id": "user-42",
        data_key: data,
        "session_data": {"session_state": {}},
        "summary": None,
        "metadata": None,
    }
    if created_at is not MISSING:
        doc["created_at"] = created_at
        doc["updated_at"] = created_at if updated_at is None else updated_at
    doc.update(fields)
    return doc


def user_msg(at, text="hello"):
    return {"role": "user", "content": text, "from_history": False, "stop_after_tool_call": False, "created_at": at}


def assistant_msg(at, metrics=None):
    return {
        "role": "assistant",
        "content": "answer",
        "from_history": False,
        "stop_after_tool_call": False,
        "metrics": metrics or {},
        "created_at": at,
    }


def tool(name, at, *, error=False, duration=None, time=None):
    """An entry of a run's ``tools`` list."""
    metrics = {}
    if duration is not None:
        metrics["duration"] = duration
    if time is not None:
        metrics["time"] = time
    return {
        "tool_call_id": f"call_{name}",
        "tool_name": name,
        "tool_args": {},
        "tool_call_error": error,
        "result": "failed" if error else "ok",
        "metrics": metrics,
        "child_run_id": None,
        "stop_after_tool_call": False,
        "created_at": at,
        "requires_confirmation": None,
        "confirmed": None,
        "answered": None,
        "external_execution_required": None,
    }


def tool_msg(name, at, *, error=False, time=None, from_history=False):
    """A ``role: tool`` message."""
    return {
        "role": "tool",
        "content": "failed" if error else "ok",
        "tool_call_id": f"call_{name}",
        "tool_name": name,
        "tool_args": {},
        "tool_call_error": error,
        "from_history": from_history,
        "stop_after_tool_call": False,
        "metrics": {} if time is None else {"time": time},
        "created_at": at,
    }


def run_dict(
    run_id,
    session_id,
    at,
    *,
    status="COMPLETED",
    model=("OpenAI", "gpt-4o-mini"),
    metrics=None,
    tools=None,
    messages=None,
    parent_run_id=None,
    **fields,
):
    """A run dict as agno 2.x/3.x stores it (agno2 ``runs[]`` / agno3 ``run_data``)."""
    d = {"run_id": run_id, "session_id": session_id, "user_id": "user-42", "content": "answer", "content_type": "str"}
    if parent_run_id is not None:
        d["parent_run_id"] = parent_run_id
    if model is not None:
        d["model"] = model[1]
        d["model_provider"] = model[0]
    d["session_state"] = {}
    d["created_at"] = at
    d["status"] = status
    d["metrics"] = {} if metrics is None else metrics
    d["messages"] = [user_msg(at)] if messages is None else messages
    if tools is not None:
        d["tools"] = tools
    d["input"] = {"input_content": "hello"}
    d.update(fields)
    return d


def agno3_run(rd, run_index, run_type="agent"):
    """A document of the agno3 runs collection wrapping run dict ``rd``."""
    return {
        "_id": new_oid(),
        "run_id": rd["run_id"],
        "session_id": rd["session_id"],
        "run_type": run_type,
        "user_id": "user-42",
        "parent_run_id": rd.get("parent_run_id"),
        "status": rd.get("status"),
        "run_index": run_index,
        "run_data": rd,
        "created_at": rd["created_at"],
        "updated_at": rd["created_at"],
    }


def agno1_session(
    session_id, created_at, runs, *, agent_id, name, model=("OpenAI", "gpt-4o-mini"), memory=MISSING, **fields
):
    doc = {
        "_id": new_oid(),
        "session_id": session_id,
        "user_id": "user-42",
        "team_session_id": None,
        "workflow_session_id": None,
        "memory": {"summaries": {}, "memories": {}, "runs": runs} if memory is MISSING else memory,
        "session_data": {"session_state": {}},
        "extra_data": None,
        "created_at": created_at,
        "updated_at": created_at,
        "agent_id": agent_id,
        "agent_data": {
            "name": name,
            "agent_id": agent_id,
            "model": {"provider": model[0], "id": model[1], "name": "OpenAIChat"},
        },
        "_version": 1,
    }
    doc.update(fields)
    return doc


def phidata_session(session_id, created_at, runs, *, agent_id, name, memory=MISSING, **fields):
    doc = {
        "_id": new_oid(),
        "session_id": session_id,
        "agent_id": agent_id,
        "user_id": "user-42",
        "memory": {"runs": runs, "messages": []} if memory is MISSING else memory,
        "agent_data": {"name": name, "model": {"id": "gpt-4o-mini", "name": "OpenAIChat", "provider": "OpenAI"}},
        "user_data": None,
        "session_data": {},
        "created_at": created_at,
        "updated_at": created_at,
        "_version": 1,
    }
    doc.update(fields)
    return doc


# --------------------------------------------------------------------------
# Running the pipeline on a dump folder
# --------------------------------------------------------------------------
Result = namedtuple("Result", "out rows manifest quarantine")


def build_and_run(
    base: Path,
    sessions,
    runs=None,
    *,
    start=WINDOW[0],
    end=WINDOW[1],
    extra_args=(),
    json_options=json_util.RELAXED_JSON_OPTIONS,
) -> Result:
    dump, out = base / "dump", base / "out"
    write_dump(dump, "agno_sessions", sessions, json_options)
    if runs is not None:
        write_dump(dump, "agno_runs", runs, json_options)
    rc = run_pipeline(
        [
            "--source",
            dump,
            "--collection",
            "agno_sessions",
            "--start_date",
            start,
            "--end_date",
            end,
            "--output",
            out,
            *extra_args,
        ]
    )
    assert rc == 0, f"pipeline exit code {rc}"
    return Result(out, read_dataset(out), read_manifest(out), read_quarantine(out))


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


# ==========================================================================
# Dataset "formats": one session per storage format / shape, all in December
# ==========================================================================


# ---- s-agent3: agno3 agent session, 3 runs in the runs collection --------
def agent3_docs():
    s = session_doc("s-agent3", T_DEC10, updated_at=T_DEC10 + 300)
    at1, at2, at3 = T_DEC10 + 10, T_DEC10 + 70, T_DEC10 + 190
    r1 = run_dict(
        "a3-r1",
        "s-agent3",
        at1,
        metrics={
            "input_tokens": 1100,
            "output_tokens": 300,
            "total_tokens": 1400,
            "cache_read_tokens": 450,
            "reasoning_tokens": 60,
            "cost": 0.25,
            "time_to_first_token": 0.5,
            "duration": 4.0,
            "details": {
                "model": [
                    {
                        "input_tokens": 1100,
                        "output_tokens": 300,
                        "total_tokens": 1400,
                        "cache_read_tokens": 450,
                        "reasoning_tokens": 60,
                        "id": "gpt-4o-mini",
                        "provider": "OpenAI",
                    }
                ]
            },
        },
        tools=[tool("get_weather", at1, duration=0.25), tool("lookup_stock", at1, error=True, duration=0.5)],
        # Agno also mirrors the calls as tool messages: the tools list wins.
        messages=[
            user_msg(at1),
            assistant_msg(at1),
            tool_msg("get_weather", at1),
            tool_msg("lookup_stock", at1, error=True),
            assistant_msg(at1),
        ],
    )
    r2 = run_dict("a3-r2", "s-agent3", at2, status="ERROR", metrics={"duration": 2.0})
    r3 = run_dict(
        "a3-r3",
        "s-agent3",
        at3,
        # no total_tokens -> input + output = 700 + 150 = 850
        metrics={
            "input_tokens": 700,
            "output_tokens": 150,
            "reasoning_tokens": 30,
            "cost": 0.5,
            "time_to_first_token": 1.5,
            "duration": 3.0,
        },
        tools=[tool("get_weather", at3)],  # metrics {} -> duration null
    )
    runs = [agno3_run(r1, 0), agno3_run(r2, 1), agno3_run(r3, 2)]
    return [s], runs


# Runs (ordered by created_at): r1 @09:00:10, r2 @09:01:10 (ERROR), r3 @09:03:10.
# No member runs, so every tree is one run.
EXPECTED_AGENT3 = {
    "session_id": "s-agent3",
    "session_type": "agent",
    "source_format": "agno3",
    "agent_id": "weather-agent",
    "agent_name": "Weather Agent",
    "model_provider": "OpenAI",
    "model_id": "gpt-4o-mini",  # all 3 top-level runs
    "distinct_models": "1",
    "total_runs": "3",
    "member_runs": "0",
    "input_tokens_sum": "1800",  # 1100 + 0 + 700
    "output_tokens_sum": "450",  # 300 + 0 + 150
    "total_tokens_sum": "2250",  # 1400 + 0 + (700+150)
    "cache_read_tokens_sum": "450",  # 450 + 0 + 0
    "reasoning_tokens_sum": "90",  # 60 + 0 + 30
    "input_tokens_avg": "600.0",  # 1800 / 3
    "output_tokens_avg": "150.0",  # 450 / 3
    "output_tokens_max": "300",
    "total_tokens_avg": "750.0",  # 2250 / 3
    "total_tokens_max": "1400",
    "output_input_ratio": "0.25",  # 450 / 1800
    "cache_read_ratio": "0.25",  # 450 / 1800
    "reasoning_output_ratio": "0.2",  # 90 / 450
    "cost_sum": "0.75",  # 0.25 + 0.5 (r2 has no cost)
    "duration_sum_s": "9.0",  # 4 + 2 + 3
    "duration_avg_s": "3.0",  # 9 / 3
    "duration_max_s": "4.0",
    "duration_p50_s": "3.0",  # sorted [2, 3, 4], rank 0.5*2 = 1 -> 3
    "duration_p95_s": close(3.9),  # rank 0.95*2 = 1.9 -> 3 + 0.9*(4-3)
    "ttft_avg_s": "1.0",  # (0.5 + 1.5) / 2, r2 has none
    "ttft_max_s": "1.5",
    "output_tokens_per_s": "50.0",  # 450 / 9
    "tool_calls_sum": "3",  # r1: 2 (tools list, not the messages), r3: 1
    "tool_calls_avg": "1.0",  # 3 / 3 trees
    "tool_calls_max": "2",
    "distinct_tools": "2",  # get_weather, lookup_stock
    "tool_errors_sum": "1",
    "tool_error_rate": close(1 / 3),  # 1 / 3
    "tool_duration_sum_s": "0.75",  # 0.25 + 0.5, r3's null skipped
    "tool_duration_avg_s": "0.375",  # 0.75 / 2 calls with a duration
    "tool_duration_max_s": "0.5",
    "runs_with_tools_ratio": close(2 / 3),  # r1, r3 of 3
    "top_tool": "get_weather",  # 2 vs 1
    "error_runs": "1",
    "cancelled_runs": "0",
    "incomplete_runs": "0",
    "error_rate": close(1 / 3),  # 1 / 3
    "first_error_index": "1",  # order r1, r2, r3 -> r2 is index 1
    "max_consecutive_errors": "1",
    "has_failure": "true",
    "session_start": "2024-12-10T09:00:00Z",
    "first_run_at": "2024-12-10T09:00:10Z",
    # r1 09:00:10+4 = 09:00:14, r2 09:01:10+2 = 09:01:12, r3 09:03:10+3 = 09:03:13
    "last_run_end": "2024-12-10T09:03:13Z",
    "active_span_s": "183.0",  # 09:03:13 - 09:00:10
    "inter_run_gap_avg_s": "90.0",  # gaps 60, 120 -> 90
    "inter_run_gap_max_s": "120.0",
    "start_hour_utc": "9",
    "start_weekday": "1",  # Tuesday
    "is_weekend": "false",
}


# ---- s-team: agno3 team session: 2 team runs, 3 member runs --------------
def team_docs():
    s = session_doc(
        "s-team",
        T_DEC11,
        kind="team",
        entity_id="travel-team",
        name="Travel Team",
        model=("OpenAI", "gpt-4o"),
        updated_at=T_DEC11 + 100,
    )
    gpt4o, claude = ("OpenAI", "gpt-4o"), ("Anthropic", "claude-sonnet-4-5")
    t1 = run_dict(
        "team-t1",
        "s-team",
        T_DEC11,
        model=gpt4o,
        metrics={
            "input_tokens": 1000,
            "output_tokens": 40,
            "total_tokens": 1040,
            "time_to_first_token": 0.5,
            "duration": 6.0,
        },
        tools=[tool("delegate_task_to_member", T_DEC11, duration=3.0)],
        team_id="travel-team",
        team_name="Travel Team",
        member_responses=[],
    )
    m1 = run_dict(
        "team-m1",
        "s-team",
        T_DEC11 + 1,
        model=claude,
        parent_run_id="team-t1",
        metrics={
            "input_tokens": 400,
            "output_tokens": 20,
            "total_tokens": 420,
            "time_to_first_token": 0.25,
            "duration": 2.5,
        },
        tools=[
            tool("get_weather", T_DEC11 + 1, duration=0.5),
            tool("get_weather", T_DEC11 + 1, error=True, duration=0.25),
        ],
    )
    # a member of a member: its chain m1a -> m1 -> t1 leads to t1's tree
    m1a = run_dict(
        "team-m1a",
        "s-team",
        T_DEC11 + 2,
        model=claude,
        parent_run_id="team-m1",
        status="ERROR",
        metrics={"input_tokens": 200, "output_tokens": 20, "total_tokens": 220, "duration": 1.0},
    )
    t2 = run_dict(
        "team-t2",
        "s-team",
        T_DEC11 + 60,
        model=gpt4o,
        metrics={"input_tokens": 600, "output_tokens": 20, "total_tokens": 620, "duration": 2.0},
        tools=[],
        team_id="travel-team",
        team_name="Travel Team",
    )
    m2 = run_dict(
        "team-m2",
        "s-team",
        T_DEC11 + 61,
        model=claude,
        parent_run_id="team-t2",
        metrics={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110, "duration": 1.0},
        tools=[tool("get_weather", T_DEC11 + 61, duration=0.5)],
    )
    # as Agno saves them: the member run is stored before its team run
    runs = [agno3_run(m1, 0), agno3_run(t1, 1, "team"), agno3_run(m1a, 2), agno3_run(t2, 3, "team"), agno3_run(m2, 4)]
    return [s], runs


# Trees: T1 = t1 + m1 + m1a, T2 = t2 + m2.
#   T1 tokens in/out/total: 1000+400+200 = 1600 / 40+20+20 = 80 / 1040+420+220 = 1680
#   T2 tokens in/out/total: 600+100 = 700 / 20+10 = 30 / 620+110 = 730
#   T1 tools: delegate(3.0), get_weather(0.5), get_weather error(0.25) = 3 calls
#   T2 tools: get_weather(0.5) = 1 call
# Models over all runs: gpt-4o x2, claude x3; over top-level runs: gpt-4o x2.
EXPECTED_TEAM = {
    "session_id": "s-team",
    "session_type": "team",
    "source_format": "agno3",
    "agent_id": "travel-team",
    "agent_name": "Travel Team",
    "model_provider": "OpenAI",  # primary counts top-level runs only: gpt-4o 2
    "model_id": "gpt-4o",
    "distinct_models": "2",  # (OpenAI, gpt-4o), (Anthropic, claude-sonnet-4-5)
    "total_runs": "2",  # t1, t2
    "member_runs": "3",  # m1, m1a, m2
    "input_tokens_sum": "2300",  # 1600 + 700
    "output_tokens_sum": "110",  # 80 + 30
    "total_tokens_sum": "2410",  # 1680 + 730
    "cache_read_tokens_sum": "0",
    "reasoning_tokens_sum": "0",
    "input_tokens_avg": "1150.0",  # 2300 / 2 trees
    "output_tokens_avg": "55.0",  # 110 / 2
    "output_tokens_max": "80",  # tree T1
    "total_tokens_avg": "1205.0",  # 2410 / 2
    "total_tokens_max": "1680",  # tree T1
    "output_input_ratio": close(110 / 2300),
    "cache_read_ratio": "0.0",  # 0 / 2300
    "reasoning_output_ratio": "0.0",  # 0 / 110
    "cost_sum": "",  # no run has a cost
    "duration_sum_s": "8.0",  # top-level runs' own: 6 + 2
    "duration_avg_s": "4.0",
    "duration_max_s": "6.0",
    "duration_p50_s": "4.0",  # [2, 6], rank 0.5 -> 2 + 0.5*4
    "duration_p95_s": close(5.8),  # rank 0.95 -> 2 + 0.95*4
    "ttft_avg_s": "0.5",  # top-level runs with a ttft: t1 only
    "ttft_max_s": "0.5",
    "output_tokens_per_s": "13.75",  # 110 / 8
    "tool_calls_sum": "4",  # 3 + 1
    "tool_calls_avg": "2.0",  # 4 / 2 trees
    "tool_calls_max": "3",  # tree T1
    "distinct_tools": "2",  # delegate_task_to_member, get_weather
    "tool_errors_sum": "1",
    "tool_error_rate": "0.25",  # 1 / 4
    "tool_duration_sum_s": "4.25",  # 3 + 0.5 + 0.25 + 0.5
    "tool_duration_avg_s": "1.0625",  # 4.25 / 4
    "tool_duration_max_s": "3.0",
    "runs_with_tools_ratio": "1.0",  # both trees have a call
    "top_tool": "get_weather",  # 3 vs 1
    "error_runs": "0",  # m1a's ERROR is a member run's
    "cancelled_runs": "0",
    "incomplete_runs": "0",
    "error_rate": "0.0",  # 0 / 2
    "first_error_index": "",
    "max_consecutive_errors": "0",
    "has_failure": "true",  # a tool error
    "session_start": "2024-12-11T09:00:00Z",
    "first_run_at": "2024-12-11T09:00:00Z",
    "last_run_end": "2024-12-11T09:01:02Z",  # max(09:00:00+6, 09:01:00+2)
    "active_span_s": "62.0",
    "inter_run_gap_avg_s": "60.0",  # t1 -> t2
    "inter_run_gap_max_s": "60.0",
    "start_hour_utc": "9",
    "start_weekday": "2",  # Wednesday
    "is_weekend": "false",
}


# ---- s-wf: agno3 workflow session (shape of agno 3.1.10) ------------------
def workflow_docs():
    s = session_doc("s-wf", T_DEC14, kind="workflow", entity_id="poem-wf", name="Poem Workflow", model=None)
    s["workflow_data"]["steps"] = [{"name": "write", "type": "Step"}, {"name": "critique", "type": "Step"}]
    at = T_DEC14 + 5
    e1 = run_dict(
        "wf-e1",
        "s-wf",
        at,
        parent_run_id="wf-run",
        model=("OpenAI", "gpt-4o-mini"),
        metrics={
            "input_tokens": 50,
            "output_tokens": 10,
            "total_tokens": 60,
            "cache_read_tokens": 5,
            "time_to_first_token": 0.25,
            "duration": 1.0,
        },
        tools=[tool("search", at, duration=0.5)],
        agent_id="writer-agent",
        agent_name="Writer",
    )
    e2 = run_dict(
        "wf-e2",
        "s-wf",
        at + 1,
        parent_run_id="wf-run",
        model=("Anthropic", "claude-sonnet-4-5"),
        metrics={"input_tokens": 30, "output_tokens": 6, "total_tokens": 36, "reasoning_tokens": 4, "duration": 0.75},
        tools=[
            tool("search", at + 1, error=True, duration=0.25),
            tool("score", at + 1, time=0.125),
        ],  # metrics.time fallback
        messages=[user_msg(at + 1), tool_msg("search", at + 1, error=True), tool_msg("score", at + 1)],
        agent_id="critic-agent",
        agent_name="Critic",
    )
    rd = {
        "input": "Write a poem about Oslo",
        "content": "A poem.",
        "content_type": "str",
        "workflow_id": "poem-wf",
        "workflow_name": "Poem Workflow",
        "run_id": "wf-run",
        "session_id": "s-wf",
        "user_id": "user-42",
        "created_at": at,
        "status": "COMPLETED",
        "metadata": {},
        "step_results": [
            {
                "step_name": "write",
                "executor_type": "agent",
                "executor_name": "Writer",
                "step_run_id": "wf-e1",
                "metrics": e1["metrics"],
                "success": True,
            },
            {
                "step_name": "critique",
                "executor_type": "agent",
                "executor_name": "Critic",
                "step_run_id": "wf-e2",
                "metrics": e2["metrics"],
                "success": True,
            },
        ],
        "step_executor_runs": [e1, e2],
        "metrics": {
            "steps": {
                "write": {
                    "step_name": "write",
                    "executor_type": "agent",
                    "executor_name": "Writer",
                    "metrics": e1["metrics"],
                },
                "critique": {
                    "step_name": "critique",
                    "executor_type": "agent",
                    "executor_name": "Critic",
                    "metrics": e2["metrics"],
                },
            },
            "duration": 2.0,
        },
    }
    return [s], [agno3_run(rd, 0, "workflow")]


# One normalized run (the workflow run); its step executor runs are nested in it.
EXPECTED_WORKFLOW = {
    "session_id": "s-wf",
    "session_type": "workflow",
    "source_format": "agno3",
    "agent_id": "poem-wf",
    "agent_name": "Poem Workflow",
    "model_provider": "OpenAI",  # model of the first step executor run (e1)
    "model_id": "gpt-4o-mini",
    # SPEC-AMBIGUITY: step executor runs are parts of the workflow run, not
    # normalized runs of their own (their tokens are already in metrics.steps;
    # counting them as member runs would double count), so distinct_models
    # counts the workflow run's model only and member_runs is 0.
    "distinct_models": "1",
    "total_runs": "1",
    "member_runs": "0",
    "input_tokens_sum": "80",  # steps: 50 + 30
    "output_tokens_sum": "16",  # 10 + 6
    "total_tokens_sum": "96",  # 60 + 36
    "cache_read_tokens_sum": "5",  # 5 + 0
    "reasoning_tokens_sum": "4",  # 0 + 4
    "input_tokens_avg": "80.0",
    "output_tokens_avg": "16.0",
    "output_tokens_max": "16",
    "total_tokens_avg": "96.0",
    "total_tokens_max": "96",
    "output_input_ratio": "0.2",  # 16 / 80
    "cache_read_ratio": "0.0625",  # 5 / 80
    "reasoning_output_ratio": "0.25",  # 4 / 16
    "cost_sum": "",
    "duration_sum_s": "2.0",  # the workflow run's metrics.duration
    "duration_avg_s": "2.0",
    "duration_max_s": "2.0",
    "duration_p50_s": "2.0",
    "duration_p95_s": "2.0",
    # SPEC-AMBIGUITY: the workflow run's metrics carry no time_to_first_token
    # (only its steps do); FEATURES.md says metrics.time_to_first_token else
    # null, so ttft is null (not the first step's ttft).
    "ttft_avg_s": "",
    "ttft_max_s": "",
    "output_tokens_per_s": "8.0",  # 16 / 2
    "tool_calls_sum": "3",  # e1: search; e2: search (error), score
    "tool_calls_avg": "3.0",
    "tool_calls_max": "3",
    "distinct_tools": "2",
    "tool_errors_sum": "1",
    "tool_error_rate": close(1 / 3),
    "tool_duration_sum_s": "0.875",  # 0.5 + 0.25 + 0.125 (score: metrics.time)
    "tool_duration_avg_s": close(0.875 / 3),
    "tool_duration_max_s": "0.5",
    "runs_with_tools_ratio": "1.0",
    "top_tool": "search",  # 2 vs 1
    "error_runs": "0",
    "cancelled_runs": "0",
    "incomplete_runs": "0",
    "error_rate": "0.0",
    "first_error_index": "",
    "max_consecutive_errors": "0",
    "has_failure": "true",
    "session_start": "2024-12-14T10:30:00Z",
    "first_run_at": "2024-12-14T10:30:05Z",
    "last_run_end": "2024-12-14T10:30:07Z",  # 10:30:05 + 2
    "active_span_s": "2.0",
    "inter_run_gap_avg_s": "",  # < 2 runs
    "inter_run_gap_max_s": "",
    "start_hour_utc": "10",
    "start_weekday": "5",  # Saturday
    "is_weekend": "true",
}


# ---- s-agno2: agno 2.x, runs array in the session document ----------------
def agno2_docs():
    at1, at2 = T_DEC12, T_DEC12 + 30
    r1 = run_dict(
        "a2-r1",
        "s-agno2",
        at1,
        model=None,  # -> agent_data.model
        metrics={
            "input_tokens": 300,
            "output_tokens": 100,
            "total_tokens": 400,
            "cache_read_tokens": 30,
            "time_to_first_token": 0.5,
            "duration": 5.0,
        },
        tools=[tool("get_weather", at1)],  # no duration
        messages=[user_msg(at1), assistant_msg(at1), tool_msg("get_weather", at1), assistant_msg(at1)],
    )
    r2 = run_dict(
        "a2-r2",
        "s-agno2",
        at2,
        status="cancelled",  # upper-cased
        model=("OpenAI", "o3-mini"),
        metrics={"input_tokens": 100, "output_tokens": 0, "total_tokens": 100, "duration": 1.0},
        tools=[],  # empty -> the tool messages count
        messages=[
            user_msg(at2),
            assistant_msg(at2),
            tool_msg("old_tool", at2, from_history=True),
            tool_msg("calc", at2),
            assistant_msg(at2),
        ],
    )
    s = session_doc("s-agno2", T_DEC12, entity_id="agno2-agent", name="Agno2 Agent", runs=[r1, r2])
    return [s], []


EXPECTED_AGNO2 = {
    "session_id": "s-agno2",
    "session_type": "agent",
    "source_format": "agno2",
    "agent_id": "agno2-agent",
    "agent_name": "Agno2 Agent",
    # r1 has no model -> session's (OpenAI, gpt-4o-mini); r2 (OpenAI, o3-mini):
    # a 1-1 tie, the earliest run (r1) wins
    "model_provider": "OpenAI",
    "model_id": "gpt-4o-mini",
    "distinct_models": "2",
    "total_runs": "2",
    "member_runs": "0",
    "input_tokens_sum": "400",  # 300 + 100
    "output_tokens_sum": "100",  # 100 + 0
    "total_tokens_sum": "500",  # 400 + 100
    "cache_read_tokens_sum": "30",
    "reasoning_tokens_sum": "0",
    "input_tokens_avg": "200.0",
    "output_tokens_avg": "50.0",
    "output_tokens_max": "100",
    "total_tokens_avg": "250.0",
    "total_tokens_max": "400",
    "output_input_ratio": "0.25",  # 100 / 400
    "cache_read_ratio": "0.075",  # 30 / 400
    "reasoning_output_ratio": "0.0",  # 0 / 100
    "cost_sum": "",
    "duration_sum_s": "6.0",  # 5 + 1
    "duration_avg_s": "3.0",
    "duration_max_s": "5.0",
    "duration_p50_s": "3.0",  # [1, 5] -> 1 + 0.5*4
    "duration_p95_s": close(4.8),  # 1 + 0.95*4
    "ttft_avg_s": "0.5",
    "ttft_max_s": "0.5",
    "output_tokens_per_s": close(100 / 6),
    "tool_calls_sum": "2",  # r1: get_weather (list); r2: calc (message,
    # old_tool is from_history)
    "tool_calls_avg": "1.0",
    "tool_calls_max": "1",
    "distinct_tools": "2",
    "tool_errors_sum": "0",
    "tool_error_rate": "0.0",  # 0 / 2
    # SPEC-AMBIGUITY: no call has a duration; "sums over an empty set are 0"
    # -> tool_duration_sum_s is 0.0 (not null), avg and max null.
    "tool_duration_sum_s": "0.0",
    "tool_duration_avg_s": "",
    "tool_duration_max_s": "",
    "runs_with_tools_ratio": "1.0",  # 2 / 2
    "top_tool": "calc",  # calc 1, get_weather 1 -> smallest name
    "error_runs": "0",
    "cancelled_runs": "1",  # "cancelled" -> CANCELLED
    "incomplete_runs": "0",
    "error_rate": "0.0",
    "first_error_index": "",
    "max_consecutive_errors": "0",
    "has_failure": "false",
    "session_start": "2024-12-12T12:00:00Z",
    "first_run_at": "2024-12-12T12:00:00Z",
    "last_run_end": "2024-12-12T12:00:31Z",  # max(12:00:00+5, 12:00:30+1)
    "active_span_s": "31.0",
    "inter_run_gap_avg_s": "30.0",
    "inter_run_gap_max_s": "30.0",
    "start_hour_utc": "12",
    "start_weekday": "3",  # Thursday
    "is_weekend": "false",
}


# ---- s-agno2-json: agno 2.0.11 stored runs/agent_data/... as JSON strings --
def agno2_json_docs():
    at = T_DEC12_13H
    r1 = run_dict(
        "j-r1",
        "s-agno2-json",
        at,
        model=None,  # -> agent_data (a JSON string)
        metrics={
            "input_tokens": 800,
            "output_tokens": 200,
            "total_tokens": 1000,
            "cache_read_tokens": 200,
            "reasoning_tokens": 50,
            "duration": 0.5,
        },
        tools=[tool("lookup_stock", at, error=True), tool("get_weather", at)],
    )
    s = {
        "_id": new_oid(),
        "session_id": "s-agno2-json",
        "session_type": "agent",
        "agent_id": "json-agent",
        "user_id": "user-42",
        "runs": json.dumps([r1]),
        "agent_data": json.dumps(
            {
                "name": "JSON Agent",
                "agent_id": "json-agent",
                "model": {"name": "OpenAIChat", "provider": "OpenAI", "id": "gpt-4o-mini"},
            }
        ),
        "session_data": json.dumps(
            {"session_state": {}, "session_metrics": {"input_tokens": 800, "output_tokens": 200, "total_tokens": 1000}}
        ),
        "summary": None,
        "metadata": None,
        "created_at": T_DEC12_13H,
        "updated_at": T_DEC12_13H,
    }
    return [s], []


EXPECTED_AGNO2_JSON = {
    "session_id": "s-agno2-json",
    "session_type": "agent",
    "source_format": "agno2",
    "agent_id": "json-agent",
    "agent_name": "JSON Agent",  # from the agent_data JSON string
    "model_provider": "OpenAI",  # run has none -> agent_data JSON string
    "model_id": "gpt-4o-mini",
    "distinct_models": "1",
    "total_runs": "1",
    "member_runs": "0",
    "input_tokens_sum": "800",
    "output_tokens_sum": "200",
    "total_tokens_sum": "1000",
    "cache_read_tokens_sum": "200",
    "reasoning_tokens_sum": "50",
    "input_tokens_avg": "800.0",
    "output_tokens_avg": "200.0",
    "output_tokens_max": "200",
    "total_tokens_avg": "1000.0",
    "total_tokens_max": "1000",
    "output_input_ratio": "0.25",  # 200 / 800
    "cache_read_ratio": "0.25",  # 200 / 800
    "reasoning_output_ratio": "0.25",  # 50 / 200
    "cost_sum": "",
    "duration_sum_s": "0.5",
    "duration_avg_s": "0.5",
    "duration_max_s": "0.5",
    "duration_p50_s": "0.5",
    "duration_p95_s": "0.5",
    "ttft_avg_s": "",
    "ttft_max_s": "",
    "output_tokens_per_s": "400.0",  # 200 / 0.5
    "tool_calls_sum": "2",
    "tool_calls_avg": "2.0",
    "tool_calls_max": "2",
    "distinct_tools": "2",
    "tool_errors_sum": "1",
    "tool_error_rate": "0.5",
    "tool_duration_sum_s": "0.0",  # SPEC-AMBIGUITY: see s-agno2 (empty sum = 0)
    "tool_duration_avg_s": "",
    "tool_duration_max_s": "",
    "runs_with_tools_ratio": "1.0",
    "top_tool": "get_weather",  # 1-1 tie -> smallest name
    "error_runs": "0",
    "cancelled_runs": "0",
    "incomplete_runs": "0",
    "error_rate": "0.0",
    "first_error_index": "",
    "max_consecutive_errors": "0",
    "has_failure": "true",
    "session_start": "2024-12-12T13:00:00Z",
    "first_run_at": "2024-12-12T13:00:00Z",
    "last_run_end": "2024-12-12T13:00:00.500000Z",  # 13:00:00 + 0.5
    "active_span_s": "0.5",
    "inter_run_gap_avg_s": "",
    "inter_run_gap_max_s": "",
    "start_hour_utc": "13",
    "start_weekday": "3",
    "is_weekend": "false",
}


# ---- s-agno1: agno 1.x, memory.runs[], list metrics, `time`, RUNNING -------
def agno1_docs():
    at1, at2 = T_DEC13, T_DEC13 + 100
    r1 = run_dict(
        "a1-r1",
        "s-agno1",
        at1,
        status="RUNNING",
        metrics={
            "input_tokens": [400, 500],
            "output_tokens": [40, 20],
            "total_tokens": [440, 520],
            # SPEC-AMBIGUITY: the real 1.8.4 shape carries both aliases
            # (cached_tokens and prompt_tokens_details[].cached_tokens) with the
            # same numbers; "or" is read as one source: cache_read = 100, not 200.
            "cached_tokens": [100, 0],
            "prompt_tokens": [400, 500],
            "completion_tokens": [40, 20],
            "prompt_tokens_details": [
                {"audio_tokens": 0, "cached_tokens": 100},
                {"audio_tokens": 0, "cached_tokens": 0},
            ],
            "completion_tokens_details": [
                {"audio_tokens": 0, "reasoning_tokens": 5},
                {"audio_tokens": 0, "reasoning_tokens": 3},
            ],
            "time": [1.5, 0.5],
            "time_to_first_token": [0.25, 0.75],
        },
        tools=[tool("get_weather", at1, time=0.25), tool("lookup_stock", at1, error=True, time=0.5)],
        messages=[
            user_msg(at1),
            assistant_msg(at1),
            tool_msg("get_weather", at1, time=0.25),
            tool_msg("lookup_stock", at1, error=True, time=0.5),
            assistant_msg(at1),
        ],
        agent_id="agno1-agent",
        agent_name="Agno1 Agent",
    )
    r2 = run_dict(
        "a1-r2",
        "s-agno1",
        at2,
        status="RUNNING",
        metrics={"input_tokens": [100], "output_tokens": [20], "total_tokens": [120], "time": [1.0]},
        tools=None,  # no tools list -> tool messages
        messages=[
            user_msg(at2),
            assistant_msg(at2),
            tool_msg("calc", at2, time=0.25),
            tool_msg("old_tool", at2, time=9.0, from_history=True),
            assistant_msg(at2),
        ],
    )
    s = agno1_session("s-agno1", T_DEC13, [r1, r2], agent_id="agno1-agent", name="Agno1 Agent")
    return [s], []


EXPECTED_AGNO1 = {
    "session_id": "s-agno1",
    "session_type": "agent",  # legacy formats: agent
    "source_format": "agno1",
    "agent_id": "agno1-agent",
    "agent_name": "Agno1 Agent",
    "model_provider": "OpenAI",
    "model_id": "gpt-4o-mini",
    "distinct_models": "1",
    "total_runs": "2",
    "member_runs": "0",
    "input_tokens_sum": "1000",  # (400+500) + 100
    "output_tokens_sum": "80",  # (40+20) + 20
    "total_tokens_sum": "1080",  # (440+520) + 120
    "cache_read_tokens_sum": "100",  # cached_tokens 100+0 (alias, counted once)
    "reasoning_tokens_sum": "8",  # completion_tokens_details 5+3
    "input_tokens_avg": "500.0",
    "output_tokens_avg": "40.0",
    "output_tokens_max": "60",
    "total_tokens_avg": "540.0",
    "total_tokens_max": "960",
    "output_input_ratio": "0.08",  # 80 / 1000
    "cache_read_ratio": "0.1",  # 100 / 1000
    "reasoning_output_ratio": "0.1",  # 8 / 80
    "cost_sum": "",
    # r1: sum(time) 2.0 + tools 0.25 + 0.5 = 2.75; r2: 1.0 + calc 0.25 = 1.25
    # (old_tool is from_history: not a call of this run)
    "duration_sum_s": "4.0",
    "duration_avg_s": "2.0",
    "duration_max_s": "2.75",
    "duration_p50_s": "2.0",  # [1.25, 2.75] -> midpoint
    "duration_p95_s": close(2.675),  # 1.25 + 0.95*1.5
    "ttft_avg_s": "0.25",  # first element of [0.25, 0.75]; r2 none
    "ttft_max_s": "0.25",
    "output_tokens_per_s": "20.0",  # 80 / 4
    "tool_calls_sum": "3",  # get_weather, lookup_stock, calc
    "tool_calls_avg": "1.5",
    "tool_calls_max": "2",
    "distinct_tools": "3",
    "tool_errors_sum": "1",
    "tool_error_rate": close(1 / 3),
    "tool_duration_sum_s": "1.0",  # metrics.time: 0.25 + 0.5 + 0.25
    "tool_duration_avg_s": close(1 / 3),
    "tool_duration_max_s": "0.5",
    "runs_with_tools_ratio": "1.0",
    "top_tool": "calc",  # 1-1-1 tie -> smallest name
    "error_runs": "0",
    "cancelled_runs": "0",
    "incomplete_runs": "0",  # agno1 RUNNING -> COMPLETED
    "error_rate": "0.0",
    "first_error_index": "",
    "max_consecutive_errors": "0",
    "has_failure": "true",
    "session_start": "2024-12-13T08:00:00Z",
    "first_run_at": "2024-12-13T08:00:00Z",
    # max(08:00:00 + 2.75, 08:01:40 + 1.25)
    "last_run_end": "2024-12-13T08:01:41.250000Z",
    "active_span_s": "101.25",
    "inter_run_gap_avg_s": "100.0",
    "inter_run_gap_max_s": "100.0",
    "start_hour_utc": "8",
    "start_weekday": "4",  # Friday
    "is_weekend": "false",
}


# ---- s-phidata: phidata 2.x, memory.runs[] of {message, response} ---------
def phidata_docs():
    at1, at2 = T_DEC13_20H, T_DEC13_20H + 60
    p1 = {
        "message": user_msg(at1),
        "response": {
            "content": "answer",
            "content_type": "str",
            "event": "RunResponse",
            "messages": [
                user_msg(at1),
                assistant_msg(at1),
                tool_msg("get_weather", at1, time=0.25),
                tool_msg("lookup_stock", at1, error=True, time=0.5),
                assistant_msg(at1),
            ],
            "metrics": {
                "time": [1.0, 0.5],
                "input_tokens": [400, 500],
                "prompt_tokens": [400, 500],
                "output_tokens": [40, 20],
                "completion_tokens": [40, 20],
                "total_tokens": [440, 520],
                "prompt_tokens_details": [
                    {"audio_tokens": 0, "cached_tokens": 256},
                    {"audio_tokens": 0, "cached_tokens": 0},
                ],
                "completion_tokens_details": [
                    {"audio_tokens": 0, "reasoning_tokens": 0},
                    {"audio_tokens": 0, "reasoning_tokens": 4},
                ],
            },
            "model": "gpt-4o-mini",
            "run_id": "phi-r1",
            "agent_id": "phi-agent",
            "session_id": "s-phidata",
            "created_at": at1,
        },
    }
    p2 = {
        "message": user_msg(at2),
        "response": {
            "content": "answer",
            "content_type": "str",
            "event": "RunResponse",
            "messages": [user_msg(at2), tool_msg("old_tool", at2, time=5.0, from_history=True), assistant_msg(at2)],
            "metrics": {"time": [0.75], "input_tokens": [100], "output_tokens": [10]},
            "model": "gpt-4o-mini",
            "run_id": "phi-r2",
            "agent_id": "phi-agent",
            "session_id": "s-phidata",
            "created_at": at2,
        },
    }
    s = phidata_session("s-phidata", T_DEC13_20H, [p1, p2], agent_id="phi-agent", name="Phi Agent")
    return [s], []


EXPECTED_PHIDATA = {
    "session_id": "s-phidata",
    "session_type": "agent",
    "source_format": "phidata",
    "agent_id": "phi-agent",
    "agent_name": "Phi Agent",
    # SPEC-AMBIGUITY: phidata runs have `model` but no `model_provider`; we
    # take the fallback per field: provider from agent_data.model.provider.
    "model_provider": "OpenAI",
    "model_id": "gpt-4o-mini",
    "distinct_models": "1",  # (OpenAI, gpt-4o-mini) on both runs
    "total_runs": "2",
    "member_runs": "0",
    "input_tokens_sum": "1000",  # (400+500) + 100
    "output_tokens_sum": "70",  # (40+20) + 10
    "total_tokens_sum": "1070",  # (440+520) + (100+10: total missing)
    "cache_read_tokens_sum": "256",  # prompt_tokens_details[].cached_tokens
    "reasoning_tokens_sum": "4",  # completion_tokens_details[].reasoning_tokens
    "input_tokens_avg": "500.0",
    "output_tokens_avg": "35.0",
    "output_tokens_max": "60",
    "total_tokens_avg": "535.0",
    "total_tokens_max": "960",
    "output_input_ratio": "0.07",  # 70 / 1000
    "cache_read_ratio": "0.256",  # 256 / 1000
    "reasoning_output_ratio": close(4 / 70),
    "cost_sum": "",
    # p1: sum(time) 1.5 + tool messages 0.25 + 0.5 = 2.25; p2: 0.75
    "duration_sum_s": "3.0",
    "duration_avg_s": "1.5",
    "duration_max_s": "2.25",
    "duration_p50_s": "1.5",
    "duration_p95_s": close(2.175),  # 0.75 + 0.95*1.5
    "ttft_avg_s": "",
    "ttft_max_s": "",
    "output_tokens_per_s": close(70 / 3),
    "tool_calls_sum": "2",  # role tool messages of p1 (p2's is from_history)
    "tool_calls_avg": "1.0",
    "tool_calls_max": "2",
    "distinct_tools": "2",
    "tool_errors_sum": "1",
    "tool_error_rate": "0.5",
    "tool_duration_sum_s": "0.75",
    "tool_duration_avg_s": "0.375",
    "tool_duration_max_s": "0.5",
    "runs_with_tools_ratio": "0.5",  # 1 of 2
    "top_tool": "get_weather",  # 1-1 tie -> smallest name
    "error_runs": "0",
    "cancelled_runs": "0",
    "incomplete_runs": "0",
    "error_rate": "0.0",
    "first_error_index": "",
    "max_consecutive_errors": "0",
    "has_failure": "true",
    "session_start": "2024-12-13T20:00:00Z",
    "first_run_at": "2024-12-13T20:00:00Z",
    # max(20:00:00 + 2.25, 20:01:00 + 0.75)
    "last_run_end": "2024-12-13T20:01:00.750000Z",
    "active_span_s": "60.75",
    "inter_run_gap_avg_s": "60.0",
    "inter_run_gap_max_s": "60.0",
    "start_hour_utc": "20",
    "start_weekday": "4",
    "is_weekend": "false",
}


# ---- s-empty: agno3 session without any run -------------------------------
def empty_docs():
    s = session_doc("s-empty", T_DEC15, entity_id="idle-agent", name="Idle Agent")
    return [s], []


EXPECTED_EMPTY = {
    "session_id": "s-empty",
    "session_type": "agent",
    "source_format": "agno3",  # no runs field -> agno3
    "agent_id": "idle-agent",
    "agent_name": "Idle Agent",
    "model_provider": "OpenAI",  # no run has a model -> the session's
    "model_id": "gpt-4o-mini",
    "distinct_models": "0",  # over all runs: none
    "total_runs": "0",
    "member_runs": "0",
    "input_tokens_sum": "0",
    "output_tokens_sum": "0",
    "total_tokens_sum": "0",
    "cache_read_tokens_sum": "0",
    "reasoning_tokens_sum": "0",
    "input_tokens_avg": "",
    "output_tokens_avg": "",
    "output_tokens_max": "",
    "total_tokens_avg": "",
    "total_tokens_max": "",
    "output_input_ratio": "",  # 0 / 0
    "cache_read_ratio": "",
    "reasoning_output_ratio": "",
    "cost_sum": "",
    # SPEC-AMBIGUITY: "sums over an empty set are 0" applied to the float sums
    # too: duration_sum_s and tool_duration_sum_s are 0.0, not null.
    "duration_sum_s": "0.0",
    "duration_avg_s": "",
    "duration_max_s": "",
    "duration_p50_s": "",
    "duration_p95_s": "",
    "ttft_avg_s": "",
    "ttft_max_s": "",
    "output_tokens_per_s": "",  # 0 / 0.0
    "tool_calls_sum": "0",
    "tool_calls_avg": "",
    "tool_calls_max": "",
    "distinct_tools": "0",
    "tool_errors_sum": "0",
    "tool_error_rate": "",
    "tool_duration_sum_s": "0.0",
    "tool_duration_avg_s": "",
    "tool_duration_max_s": "",
    "runs_with_tools_ratio": "",  # 0 / 0
    "top_tool": "",
    "error_runs": "0",
    "cancelled_runs": "0",
    "incomplete_runs": "0",
    "error_rate": "",  # 0 / 0
    "first_error_index": "",
    "max_consecutive_errors": "0",
    "has_failure": "false",
    "session_start": "2024-12-15T00:00:00Z",
    "first_run_at": "",
    "last_run_end": "",
    "active_span_s": "",
    "inter_run_gap_avg_s": "",
    "inter_run_gap_max_s": "",
    "start_hour_utc": "0",
    "start_weekday": "6",  # Sunday
    "is_weekend": "true",
}


# ---- small sessions for single rules ---------------------------------------
def legacy_empty_docs():
    # memory present (even null) -> legacy; no runs and no user_data -> agno1
    a = agno1_session("s-legacy-agno1-empty", T_DEC15 + 3600, [], agent_id="legacy-1", name="Legacy One", memory=None)
    # memory with no runs + a user_data field -> phidata
    p = phidata_session(
        "s-legacy-phidata-empty",
        T_DEC15 + 7200,
        [],
        agent_id="legacy-2",
        name="Legacy Two",
        memory={"runs": [], "messages": []},
        user_data={"name": "Ada"},
    )
    return [a, p], []


def ties_docs():
    # Array order B, C, A, D; created_at order A, B, C, D.
    claude, gpt = ("Anthropic", "claude-a"), ("OpenAI", "gpt-b")
    tok = {"input_tokens": 10, "output_tokens": 1, "total_tokens": 11, "duration": 1.0}
    rb = run_dict(
        "ties-b",
        "s-ties",
        T_DEC16 + 10,
        model=claude,
        metrics=dict(tok),
        tools=[tool("zeta", T_DEC16 + 10), tool("zeta", T_DEC16 + 10)],
    )
    rc = run_dict("ties-c", "s-ties", T_DEC16 + 20, model=claude, metrics=dict(tok), tools=[tool("mid", T_DEC16 + 20)])
    ra = run_dict("ties-a", "s-ties", T_DEC16, model=gpt, metrics=dict(tok), tools=[tool("alpha", T_DEC16)])
    rd = run_dict("ties-d", "s-ties", T_DEC16 + 30, model=gpt, metrics=dict(tok), tools=[tool("alpha", T_DEC16 + 30)])
    s = session_doc(
        "s-ties", T_DEC16, entity_id="ties-agent", name="Ties", model=("Google", "gemini-x"), runs=[rb, rc, ra, rd]
    )
    return [s], []


def errors_docs():
    # agno2 statuses are kept (only agno1/phidata force COMPLETED).
    # position: status @ seconds after T_DEC17
    plan = [
        ("REGENERATED", 0),
        ("ERROR", 10),
        ("ERROR", 20),
        ("PENDING", 30),
        ("ERROR", 30),  # same created_at as the PENDING run: position decides
        ("CANCELLED", 40),
        ("PAUSED", 50),
        ("RUNNING", 60),
    ]
    runs = [run_dict(f"err-{i}", "s-errors", T_DEC17 + dt, status=status) for i, (status, dt) in enumerate(plan)]
    return [session_doc("s-errors", T_DEC17, entity_id="err-agent", name="Err", runs=runs)], []


def nodur_docs():
    n1 = run_dict(
        "nd-1",
        "s-nodur",
        T_DEC18,
        metrics={"input_tokens": 100, "output_tokens": 40, "total_tokens": 140},
        tools=[tool("search", T_DEC18)],
    )
    n2 = run_dict(
        "nd-2",
        "s-nodur",
        T_DEC18 + 50,
        metrics={"input_tokens": 100, "output_tokens": 60, "total_tokens": 160},
        tools=[],
    )
    s = session_doc("s-nodur", T_DEC18, entity_id="nd-agent", name="NoDur", runs=[n1, n2])
    # agno1 run with neither metrics.time nor tool durations -> duration null
    r = run_dict(
        "nd1-1", "s-agno1-nodur", T_DEC18 + 3600, status="RUNNING", metrics={"input_tokens": [10], "output_tokens": [5]}
    )
    a = agno1_session("s-agno1-nodur", T_DEC18 + 3600, [r], agent_id="nd1", name="NoDur1")
    return [s, a], []


def migrated_docs():
    at = T_DEC20
    legacy = [
        run_dict(
            "mig-1",
            "s-mig",
            at,
            metrics={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110, "duration": 1.0},
        ),
        run_dict(
            "mig-2",
            "s-mig",
            at + 60,  # stale copy: the runs collection wins
            metrics={"input_tokens": 50, "output_tokens": 5, "total_tokens": 55, "duration": 0.5},
        ),
    ]
    s = session_doc("s-mig", T_DEC20, entity_id="mig-agent", name="Migrated", runs=legacy)
    collection = [
        agno3_run(
            run_dict(
                "mig-2",
                "s-mig",
                at + 60,
                status="ERROR",
                metrics={"input_tokens": 70, "output_tokens": 7, "total_tokens": 77, "duration": 0.75},
            ),
            1,
        ),
        agno3_run(
            run_dict(
                "mig-3",
                "s-mig",
                at + 120,
                metrics={"input_tokens": 30, "output_tokens": 3, "total_tokens": 33, "duration": 0.25},
            ),
            2,
        ),
    ]
    return [s], collection


def quoting_docs():
    s = session_doc("s-quoting", T_DEC20 + 3600, entity_id="meteo,agent", name='Météo, "Pro" Agent', runs=[])
    return [s], []


FORMAT_BUILDERS = [
    agent3_docs,
    team_docs,
    workflow_docs,
    agno2_docs,
    agno2_json_docs,
    agno1_docs,
    phidata_docs,
    empty_docs,
    legacy_empty_docs,
    ties_docs,
    errors_docs,
    nodur_docs,
    migrated_docs,
    quoting_docs,
]
FORMAT_SESSION_IDS = {
    "s-agent3",
    "s-team",
    "s-wf",
    "s-agno2",
    "s-agno2-json",
    "s-agno1",
    "s-phidata",
    "s-empty",
    "s-legacy-agno1-empty",
    "s-legacy-phidata-empty",
    "s-ties",
    "s-errors",
    "s-nodur",
    "s-agno1-nodur",
    "s-mig",
    "s-quoting",
}


def formats_docs():
    sessions, runs = [], []
    for build in FORMAT_BUILDERS:
        s, r = build()
        sessions += s
        runs += r
    return sessions, runs


@pytest.fixture(scope="module")
def formats(tmp_path_factory):
    sessions, runs = formats_docs()
    return build_and_run(tmp_path_factory.mktemp("formats"), sessions, runs)


# ---- the output contract ----------------------------------------------------
def test_manifest_describes_the_run(formats):
    m = formats.manifest
    assert m["feature_set_version"] == "v1.1"
    # bare dates 2024-12-01..2024-12-31 -> [2024-12-01T00:00Z, 2025-01-01T00:00Z)
    assert utc(m["window"]["start"]) == datetime(2024, 12, 1, tzinfo=UTC)
    assert utc(m["window"]["end"]) == datetime(2025, 1, 1, tzinfo=UTC)
    assert set(COUNT_KEYS) <= set(m["counts"])
    assert m["files"], "no data file in the manifest"


def test_counts_of_a_clean_run(formats):
    c = formats.manifest["counts"]
    # 16 documents, all in December, none bad, no duplicate/orphan/unknown status
    assert c["sessions_read"] == 16
    assert c["rows_written"] == 16
    assert c["quarantined"] == 0
    assert c["duplicates"] == 0
    assert c["orphaned_runs"] == 0
    assert c["unknown_statuses"] == 0
    assert formats.quarantine == []


def test_one_row_per_session_in_window(formats):
    assert set(formats.rows) == FORMAT_SESSION_IDS


def test_rows_in_manifest_add_up(formats):
    assert sum(f["rows"] for f in formats.manifest["files"]) == len(formats.rows)


# ---- full rows: every one of the 59 columns ---------------------------------
@pytest.mark.parametrize(
    "expected",
    [
        pytest.param(EXPECTED_AGENT3, id="agno3-agent"),
        pytest.param(EXPECTED_TEAM, id="agno3-team"),
        pytest.param(EXPECTED_WORKFLOW, id="agno3-workflow"),
        pytest.param(EXPECTED_AGNO2, id="agno2"),
        pytest.param(EXPECTED_AGNO2_JSON, id="agno2-json-strings"),
        pytest.param(EXPECTED_AGNO1, id="agno1"),
        pytest.param(EXPECTED_PHIDATA, id="phidata"),
        pytest.param(EXPECTED_EMPTY, id="zero-runs"),
    ],
)
def test_every_column_matches_hand_computation(formats, expected):
    assert list(expected) == COLUMNS  # all 59 columns are asserted, in order
    assert_row(formats.rows.get(expected["session_id"]), expected)


# ---- single rules, named (these overlap the full rows on purpose) ----------
def test_agno3_tools_list_wins_over_tool_messages(formats):
    # s-agent3 r1 has 2 tools and mirrors them as 2 tool messages: 2, not 4
    assert formats.rows["s-agent3"]["tool_calls_max"] == "2"


def test_missing_total_tokens_is_input_plus_output(formats):
    # s-agent3 r3: 700 + 150 = 850; with r1's 1400: max stays 1400, sum 2250
    assert formats.rows["s-agent3"]["total_tokens_sum"] == "2250"


def test_cost_sum_skips_runs_without_cost(formats):
    assert formats.rows["s-agent3"]["cost_sum"] == "0.75"  # 0.25 + 0.5
    assert formats.rows["s-team"]["cost_sum"] == ""  # no run has a cost


def test_team_tokens_are_summed_per_tree(formats):
    row = formats.rows["s-team"]
    assert row["output_tokens_max"] == "80"  # t1 40 + m1 20 + m1a 20
    assert row["total_tokens_max"] == "1680"  # 1040 + 420 + 220
    assert row["input_tokens_avg"] == "1150.0"  # (1600 + 700) / 2


def test_team_member_runs_counted_apart(formats):
    row = formats.rows["s-team"]
    assert (row["total_runs"], row["member_runs"]) == ("2", "3")


def test_team_tool_calls_per_tree(formats):
    row = formats.rows["s-team"]
    # T1: delegate + 2 member calls = 3, T2: 1 member call
    assert (row["tool_calls_sum"], row["tool_calls_avg"], row["tool_calls_max"]) == ("4", "2.0", "3")


def test_team_durations_are_top_level_runs_own(formats):
    # 6 + 2, the members' 2.5 + 1 + 1 happen inside them
    assert formats.rows["s-team"]["duration_sum_s"] == "8.0"


def test_primary_model_counts_top_level_runs_only(formats):
    row = formats.rows["s-team"]
    # all runs: claude 3 > gpt-4o 2; top-level runs: gpt-4o 2
    assert (row["model_provider"], row["model_id"]) == ("OpenAI", "gpt-4o")
    assert row["distinct_models"] == "2"


def test_member_run_error_is_not_an_error_run(formats):
    row = formats.rows["s-team"]
    assert (row["error_runs"], row["first_error_index"]) == ("0", "")


def test_workflow_tokens_come_from_step_metrics(formats):
    row = formats.rows["s-wf"]
    assert (row["input_tokens_sum"], row["output_tokens_sum"], row["total_tokens_sum"]) == (
        "80",
        "16",
        "96",
    )  # 50+30, 10+6, 60+36


def test_workflow_model_is_first_step_executor_model(formats):
    row = formats.rows["s-wf"]
    assert (row["model_provider"], row["model_id"]) == ("OpenAI", "gpt-4o-mini")


def test_workflow_tools_come_from_step_executor_runs(formats):
    row = formats.rows["s-wf"]
    assert (row["tool_calls_sum"], row["tool_errors_sum"], row["top_tool"]) == ("3", "1", "search")
    assert row["tool_duration_sum_s"] == "0.875"  # 0.5 + 0.25 + 0.125 (metrics.time)


def test_run_without_model_takes_session_model(formats):
    row = formats.rows["s-agno2"]
    assert row["distinct_models"] == "2"  # session's gpt-4o-mini (r1) + o3-mini (r2)


def test_status_is_upper_cased(formats):
    assert formats.rows["s-agno2"]["cancelled_runs"] == "1"  # "cancelled"


def test_tool_messages_from_history_are_ignored(formats):
    assert formats.rows["s-agno2"]["tool_calls_sum"] == "2"  # calc, not old_tool
    assert formats.rows["s-agno1"]["duration_max_s"] == "2.75"  # old_tool's 9.0 not added


def test_agno2_json_strings_are_parsed(formats):
    row = formats.rows["s-agno2-json"]
    assert (row["source_format"], row["agent_name"], row["model_id"], row["total_runs"]) == (
        "agno2",
        "JSON Agent",
        "gpt-4o-mini",
        "1",
    )


def test_agno1_running_status_means_completed(formats):
    row = formats.rows["s-agno1"]
    assert (row["incomplete_runs"], row["error_runs"]) == ("0", "0")


def test_agno1_list_metrics_are_summed(formats):
    row = formats.rows["s-agno1"]
    assert (row["input_tokens_sum"], row["cache_read_tokens_sum"], row["reasoning_tokens_sum"]) == ("1000", "100", "8")


def test_legacy_duration_adds_tool_times(formats):
    assert formats.rows["s-agno1"]["duration_sum_s"] == "4.0"  # (2.0+0.75) + (1.0+0.25)
    assert formats.rows["s-phidata"]["duration_sum_s"] == "3.0"  # (1.5+0.75) + 0.75


def test_ttft_takes_first_list_element(formats):
    assert formats.rows["s-agno1"]["ttft_max_s"] == "0.25"  # [0.25, 0.75]


def test_phidata_tools_only_from_tool_messages(formats):
    row = formats.rows["s-phidata"]
    assert (row["tool_calls_sum"], row["tool_errors_sum"], row["distinct_tools"]) == ("2", "1", "2")


def test_phidata_cached_and_reasoning_aliases(formats):
    row = formats.rows["s-phidata"]
    assert (row["cache_read_tokens_sum"], row["reasoning_tokens_sum"]) == ("256", "4")


def test_legacy_document_without_runs_is_detected(formats):
    assert formats.rows["s-legacy-agno1-empty"]["source_format"] == "agno1"
    assert formats.rows["s-legacy-phidata-empty"]["source_format"] == "phidata"
    for sid in ("s-legacy-agno1-empty", "s-legacy-phidata-empty"):
        row = formats.rows[sid]
        assert (row["session_type"], row["total_runs"], row["first_run_at"]) == ("agent", "0", "")


def test_zero_run_session_has_null_averages_and_zero_sums(formats):
    row = formats.rows["s-empty"]
    assert (
        row["total_runs"],
        row["input_tokens_sum"],
        row["input_tokens_avg"],
        row["error_rate"],
        row["first_run_at"],
    ) == ("0", "0", "", "", "")


def test_primary_model_tie_goes_to_earliest_run(formats):
    row = formats.rows["s-ties"]
    # top-level runs: (Anthropic, claude-a) x2 (B, C), (OpenAI, gpt-b) x2 (A, D);
    # the earliest run by created_at is A (third in the array) -> gpt-b.
    # (smallest-name would give claude-a; first-in-array would give claude-a)
    assert (row["model_provider"], row["model_id"]) == ("OpenAI", "gpt-b")
    assert row["distinct_models"] == "2"


def test_top_tool_tie_goes_to_smallest_name(formats):
    row = formats.rows["s-ties"]
    # zeta 2 (seen first), alpha 2, mid 1 -> alpha
    assert row["top_tool"] == "alpha"
    assert (row["tool_calls_sum"], row["distinct_tools"]) == ("5", "3")  # 2 + 2 + 1


def test_run_order_is_by_created_at_not_array_position(formats):
    row = formats.rows["s-ties"]
    assert row["first_run_at"] == "2024-12-16T15:00:00Z"  # run A
    assert row["last_run_end"] == "2024-12-16T15:00:31Z"  # run D: 15:00:30 + 1
    assert row["inter_run_gap_avg_s"] == "10.0"  # 0, 10, 20, 30


def test_error_streaks_and_status_families(formats):
    row = formats.rows["s-errors"]
    # order: REGENERATED, ERROR, ERROR, PENDING, ERROR (same second as PENDING,
    # later position), CANCELLED, PAUSED, RUNNING
    assert row["total_runs"] == "8"
    assert row["error_runs"] == "3"
    assert row["cancelled_runs"] == "1"
    assert row["incomplete_runs"] == "3"  # PENDING, PAUSED, RUNNING
    assert row["error_rate"] == "0.375"  # 3 / 8
    assert row["first_error_index"] == "1"
    assert row["max_consecutive_errors"] == "2"  # the PENDING at position 3 breaks it
    assert row["has_failure"] == "true"


def test_inter_run_gaps_with_equal_start_times(formats):
    row = formats.rows["s-errors"]
    # starts 0, 10, 20, 30, 30, 40, 50, 60 -> gaps 10,10,10,0,10,10,10 -> 60 / 7
    assert row["inter_run_gap_avg_s"] == close(60 / 7)
    assert row["inter_run_gap_max_s"] == "10.0"
    assert row["last_run_end"] == "2024-12-17T18:01:00Z"  # no durations: + 0


def test_all_durations_null(formats):
    row = formats.rows["s-nodur"]
    # SPEC-AMBIGUITY: empty sums are 0 -> duration_sum_s "0.0"; the rest null;
    # output_tokens_per_s = 100 / 0.0 -> null (zero denominator)
    assert_row(
        row,
        {
            "duration_sum_s": "0.0",
            "duration_avg_s": "",
            "duration_max_s": "",
            "duration_p50_s": "",
            "duration_p95_s": "",
            "ttft_avg_s": "",
            "ttft_max_s": "",
            "output_tokens_per_s": "",
            "tool_duration_sum_s": "0.0",
            "tool_duration_avg_s": "",
            "tool_duration_max_s": "",
            "first_run_at": "2024-12-18T07:00:00Z",
            "last_run_end": "2024-12-18T07:00:50Z",  # max(07:00:00+0, 07:00:50+0)
            "active_span_s": "50.0",
            "tool_calls_avg": "0.5",  # 1 call / 2 trees
            "runs_with_tools_ratio": "0.5",
            "output_tokens_sum": "100",
        },
    )


def test_legacy_run_without_time_has_null_duration(formats):
    row = formats.rows["s-agno1-nodur"]
    assert_row(
        row,
        {
            "duration_sum_s": "0.0",
            "duration_avg_s": "",
            "duration_max_s": "",
            "total_tokens_sum": "15",  # no total_tokens: 10 + 5
            "last_run_end": "2024-12-18T08:00:00Z",
        },
    )


def test_migrated_agno3_takes_union_and_runs_collection_wins(formats):
    row = formats.rows["s-mig"]
    # mig-1 (legacy only) + mig-2 (collection copy: ERROR, 70/7/77, 0.75s) + mig-3
    assert_row(
        row,
        {
            "source_format": "agno3",
            "total_runs": "3",
            "input_tokens_sum": "200",  # 100 + 70 + 30
            "output_tokens_sum": "20",  # 10 + 7 + 3
            "total_tokens_sum": "220",  # 110 + 77 + 33
            "error_runs": "1",
            "first_error_index": "1",
            "duration_sum_s": "2.0",  # 1.0 + 0.75 + 0.25
            "last_run_end": "2024-12-20T06:02:00.250000Z",  # 06:02:00 + 0.25
        },
    )


def test_csv_quoting_round_trips(formats):
    row = formats.rows["s-quoting"]
    assert (row["agent_id"], row["agent_name"]) == ("meteo,agent", 'Météo, "Pro" Agent')
    assert (row["source_format"], row["total_runs"]) == ("agno2", "0")  # runs: [] -> agno2


def test_csv_files_have_unix_line_ends(formats):
    # (read_dataset already checked each file's header against COLUMNS)
    for entry in formats.manifest["files"]:
        data = (dataset_dir(formats.out) / entry["path"]).read_bytes()
        assert b"\r" not in data
        assert data.endswith(b"\n")


# ---- same documents, other encodings / sharding -------------------------------
def test_canonical_extended_json_reads_the_same(tmp_path):
    sessions, runs = [], []
    for build in (agent3_docs, agno2_docs):
        s, r = build()
        sessions += s
        runs += r
    res = build_and_run(tmp_path, sessions, runs, json_options=json_util.CANONICAL_JSON_OPTIONS)
    assert_row(res.rows.get("s-agent3"), EXPECTED_AGENT3)
    assert_row(res.rows.get("s-agno2"), EXPECTED_AGNO2)


def test_sharded_output_has_the_same_rows(tmp_path, formats):
    sessions, runs = formats_docs()
    res = build_and_run(tmp_path, sessions, runs, extra_args=("--num_shards", "3"))
    assert res.rows == formats.rows
    assert res.manifest["counts"]["rows_written"] == 16


# ---- where the runs are: runs collection naming, mongodump files --------------
def _one_agno3_session(session_id):
    s = session_doc(session_id, T_DEC10)
    r = agno3_run(run_dict(f"{session_id}-1", session_id, T_DEC10, metrics={"input_tokens": 4, "output_tokens": 2}), 0)
    return s, r


def _run_dump(tmp_path, collection, extra_args=()):
    out = tmp_path / "out"
    rc = run_pipeline(
        [
            "--source",
            tmp_path / "dump",
            "--collection",
            collection,
            "--start_date",
            WINDOW[0],
            "--end_date",
            WINDOW[1],
            "--output",
            out,
            *extra_args,
        ]
    )
    assert rc == 0
    return read_dataset(out), read_manifest(out)


def test_runs_collection_defaults_to_sessions_collection_plus_runs(tmp_path):
    s, r = _one_agno3_session("s-named")
    write_dump(tmp_path / "dump", "my_sessions", [s])
    write_dump(tmp_path / "dump", "my_sessions_runs", [r])  # <collection>_runs
    write_dump(tmp_path / "dump", "agno_runs", [])  # not this one's runs collection
    rows, manifest = _run_dump(tmp_path, "my_sessions")
    assert (rows["s-named"]["total_runs"], rows["s-named"]["total_tokens_sum"]) == ("1", "6")
    assert manifest["counts"]["orphaned_runs"] == 0


def test_runs_collection_option_overrides_the_default(tmp_path):
    s, r = _one_agno3_session("s-custom")
    write_dump(tmp_path / "dump", "agno_sessions", [s])
    write_dump(tmp_path / "dump", "custom_runs", [r])
    rows, _ = _run_dump(tmp_path, "agno_sessions", ("--runs_collection", "custom_runs"))
    assert (rows["s-custom"]["total_runs"], rows["s-custom"]["total_tokens_sum"]) == ("1", "6")


def test_mongodump_bson_files_are_read(tmp_path):
    s, r = _one_agno3_session("s-bson")
    s["created_at"] = datetime(2024, 12, 10, 9, 0, tzinfo=UTC)  # a real BSON date
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "agno_sessions.bson").write_bytes(bson_encode(s))
    (tmp_path / "dump" / "agno_runs.bson").write_bytes(bson_encode(r))
    rows, _ = _run_dump(tmp_path, "agno_sessions")
    assert_row(
        rows.get("s-bson"),
        {
            "source_format": "agno3",
            "total_runs": "1",
            "total_tokens_sum": "6",  # 4 + 2
            "session_start": "2024-12-10T09:00:00Z",
        },
    )


# ==========================================================================
# Dataset "window": which sessions, which runs
# ==========================================================================
def window_docs():
    sessions, runs = [], []
    # point in time (agno3): runs at 23:30 (in), 2025-01-01T00:00:00 (= end, out),
    # 2025-01-02T10:00 (out); the session went on after the window
    s = session_doc("s-pit", T_DEC31_23H, updated_at=T_JAN01 + 122400)
    sessions.append(s)
    runs += [
        agno3_run(
            run_dict(
                "pit-1",
                "s-pit",
                T_DEC31_23H + 1800,
                metrics={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "duration": 1.0},
            ),
            0,
        ),
        agno3_run(
            run_dict(
                "pit-2",
                "s-pit",
                T_JAN01,
                status="ERROR",
                metrics={"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500, "duration": 1.0},
            ),
            1,
        ),
        agno3_run(
            run_dict(
                "pit-3",
                "s-pit",
                T_JAN01 + 122400,
                status="ERROR",
                metrics={"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500, "duration": 1.0},
            ),
            2,
        ),
    ]
    # point in time (agno2): 23:20 in, 2025-01-01T00:00:01 out
    sessions.append(
        session_doc(
            "s-pit-agno2",
            T_DEC31_23H + 600,
            runs=[
                run_dict(
                    "pit2-1",
                    "s-pit-agno2",
                    T_DEC31_23H + 1200,
                    metrics={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
                ),
                run_dict(
                    "pit2-2",
                    "s-pit-agno2",
                    T_JAN01 + 1,
                    metrics={"input_tokens": 700, "output_tokens": 300, "total_tokens": 1000},
                ),
            ],
        )
    )
    # window edges
    sessions.append(session_doc("s-nov-last", T_DEC01 - 1))  # 2024-11-30T23:59:59Z out
    sessions.append(session_doc("s-dec-first", T_DEC01))  # 2024-12-01T00:00:00Z in
    sessions.append(session_doc("s-dec-last", T_JAN01 - 1))  # 2024-12-31T23:59:59Z in
    sessions.append(session_doc("s-jan", T_JAN01))  # 2025-01-01T00:00:00Z out
    runs.append(agno3_run(run_dict("jan-1", "s-jan", T_JAN01 + 5), 0))
    # no created_at: the first run's decides
    sessions.append(
        session_doc(
            "s-no-created",
            MISSING,
            runs=[
                run_dict("nc-1", "s-no-created", T_DEC20, metrics={"duration": 1.0}),
                run_dict("nc-2", "s-no-created", T_DEC20 + 60, metrics={"duration": 1.0}),
            ],
        )
    )
    sessions.append(session_doc("s-no-created-nov", MISSING, runs=[run_dict("ncn-1", "s-no-created-nov", T_NOV20)]))
    # created_at in every accepted type
    sessions.append(session_doc("s-ts-int", T_DEC10))
    sessions.append(session_doc("s-ts-float", T_DEC10 + 0.25))
    sessions.append(
        session_doc("s-ts-ms", T_DEC10 * 1000 + 500, runs=[run_dict("ms-1", "s-ts-ms", (T_DEC10 + 30) * 1000)])
    )
    sessions.append(session_doc("s-ts-ms-nov", (T_DEC01 - 1) * 1000))
    bson_at = datetime(2024, 12, 10, 9, 0, 0, 123000, tzinfo=UTC)
    sessions.append(session_doc("s-ts-bson", bson_at))
    run_at = datetime(2024, 12, 10, 9, 0, 10, tzinfo=UTC)
    runs.append(agno3_run(run_dict("bson-1", "s-ts-bson", run_at, metrics={"duration": 1.5}), 0))
    sessions.append(session_doc("s-ts-bson-nov", datetime(2024, 11, 30, 23, 59, 59, tzinfo=UTC)))
    sessions.append(
        session_doc(
            "s-ts-iso",
            "2024-12-10T09:00:00Z",
            runs=[run_dict("iso-1", "s-ts-iso", "2024-12-10T09:00:20Z", metrics={"duration": 0.5})],
        )
    )
    sessions.append(session_doc("s-ts-iso-offset", "2024-12-10T10:30:00+01:00"))
    sessions.append(session_doc("s-ts-iso-naive", "2024-12-10T09:15:00"))
    sessions.append(session_doc("s-ts-iso-jan", "2025-01-01T00:00:00Z"))
    # not a timestamp: in no window, so neither a row nor quarantined
    sessions.append(session_doc("s-ts-garbage", "next tuesday"))
    return sessions, runs


WINDOW_IN = {
    "s-pit",
    "s-pit-agno2",
    "s-dec-first",
    "s-dec-last",
    "s-no-created",
    "s-ts-int",
    "s-ts-float",
    "s-ts-ms",
    "s-ts-bson",
    "s-ts-iso",
    "s-ts-iso-offset",
    "s-ts-iso-naive",
}


@pytest.fixture(scope="module")
def window(tmp_path_factory):
    sessions, runs = window_docs()
    return build_and_run(tmp_path_factory.mktemp("window"), sessions, runs)


def test_only_sessions_created_in_window_are_emitted(window):
    assert set(window.rows) == WINDOW_IN
    assert window.manifest["counts"]["rows_written"] == len(WINDOW_IN)


def test_bare_end_date_includes_its_whole_day(window):
    assert window.rows["s-dec-last"]["session_start"] == "2024-12-31T23:59:59Z"
    assert "s-jan" not in window.rows  # 2025-01-01T00:00:00Z = end, exclusive


def test_bare_start_date_is_inclusive(window):
    row = window.rows["s-dec-first"]
    assert (row["session_start"], row["start_hour_utc"], row["start_weekday"], row["is_weekend"]) == (
        "2024-12-01T00:00:00Z",
        "0",
        "6",
        "true",
    )
    assert "s-nov-last" not in window.rows


def test_runs_after_window_end_are_excluded(window):
    row = window.rows["s-pit"]
    # only pit-1 (23:30:00) counts; pit-2 starts exactly at the end
    assert_row(
        row,
        {
            "total_runs": "1",
            "input_tokens_sum": "10",
            "output_tokens_sum": "5",
            "total_tokens_sum": "15",
            "error_runs": "0",
            "has_failure": "false",
            "duration_sum_s": "1.0",
            "session_start": "2024-12-31T23:00:00Z",
            "first_run_at": "2024-12-31T23:30:00Z",
            "last_run_end": "2024-12-31T23:30:01Z",
            "start_hour_utc": "23",
            "start_weekday": "1",
            "is_weekend": "false",
        },
    )


def test_embedded_runs_after_window_end_are_excluded(window):
    row = window.rows["s-pit-agno2"]
    assert (row["total_runs"], row["total_tokens_sum"]) == ("1", "10")


def test_runs_of_sessions_outside_window_are_not_orphans(window):
    c = window.manifest["counts"]
    assert (c["orphaned_runs"], c["quarantined"]) == (0, 0)


def test_session_without_created_at_uses_first_run(window):
    row = window.rows["s-no-created"]
    # SPEC-AMBIGUITY: FEATURES.md says the first run's created_at decides the
    # window; we assume session_start (and its hour/weekday) is that time too.
    assert (row["session_start"], row["first_run_at"], row["start_hour_utc"], row["start_weekday"]) == (
        "2024-12-20T06:00:00Z",
        "2024-12-20T06:00:00Z",
        "6",
        "4",
    )
    assert "s-no-created-nov" not in window.rows


@pytest.mark.parametrize(
    ("session_id", "session_start"),
    [
        ("s-ts-int", "2024-12-10T09:00:00Z"),  # 1733821200
        ("s-ts-float", "2024-12-10T09:00:00.250000Z"),  # 1733821200.25
        ("s-ts-ms", "2024-12-10T09:00:00.500000Z"),  # 1733821200500 ms (> 1e11)
        ("s-ts-bson", "2024-12-10T09:00:00.123000Z"),  # {"$date": ...}
        ("s-ts-iso", "2024-12-10T09:00:00Z"),  # "2024-12-10T09:00:00Z"
        ("s-ts-iso-offset", "2024-12-10T09:30:00Z"),  # 10:30+01:00 = 09:30Z
        # SPEC-AMBIGUITY: an ISO string without offset is read as UTC ("All times are UTC")
        ("s-ts-iso-naive", "2024-12-10T09:15:00Z"),
    ],
)
def test_created_at_in_every_accepted_type(window, session_id, session_start):
    row = window.rows.get(session_id)
    assert row is not None
    assert row["session_start"] == session_start
    assert (row["start_hour_utc"], row["start_weekday"]) == ("9", "1")


def test_run_timestamps_in_other_types(window):
    assert window.rows["s-ts-ms"]["first_run_at"] == "2024-12-10T09:00:30Z"  # ms
    assert_row(
        window.rows["s-ts-bson"],
        {
            "first_run_at": "2024-12-10T09:00:10Z",
            "last_run_end": "2024-12-10T09:00:11.500000Z",  # + 1.5
        },
    )
    assert_row(
        window.rows["s-ts-iso"],
        {
            "first_run_at": "2024-12-10T09:00:20Z",
            "last_run_end": "2024-12-10T09:00:20.500000Z",  # + 0.5
        },
    )


def test_created_at_outside_window_in_any_type_is_not_emitted(window):
    for sid in ("s-ts-ms-nov", "s-ts-bson-nov", "s-ts-iso-jan"):
        assert sid not in window.rows


def test_unreadable_session_created_at_is_in_no_window(window):
    assert "s-ts-garbage" not in window.rows
    assert not any(q.get("session_id") == "s-ts-garbage" for q in window.quarantine)


# ---- window ends given as date-times ----------------------------------------
def test_datetime_end_is_exclusive(tmp_path):
    end = 1734264000  # 2024-12-15T12:00:00Z
    sessions = [
        session_doc("e-before", T_DEC01 - 1),
        session_doc("e-first", T_DEC01),
        session_doc("e-just-before-end", end - 1),
        session_doc("e-at-end", end),
        session_doc(
            "e-pit",
            end - 3600,
            runs=[
                run_dict("ep-1", "e-pit", end - 1, metrics={"duration": 0.5}),
                run_dict("ep-2", "e-pit", end, metrics={"duration": 0.5}),
            ],
        ),
    ]
    res = build_and_run(
        tmp_path,
        sessions,
        None,  # no runs collection: not an error
        start="2024-12-01",
        end="2024-12-15T12:00:00Z",
    )
    assert set(res.rows) == {"e-first", "e-just-before-end", "e-pit"}
    assert res.rows["e-pit"]["total_runs"] == "1"  # run at 12:00:00 excluded
    assert utc(res.manifest["window"]["start"]) == datetime(2024, 12, 1, tzinfo=UTC)
    assert utc(res.manifest["window"]["end"]) == datetime(2024, 12, 15, 12, tzinfo=UTC)


def test_single_bare_day_window_is_that_whole_day(tmp_path):
    sessions = [
        session_doc("d-prev", T_DEC15 - 1),  # 2024-12-14T23:59:59Z
        session_doc("d-start", T_DEC15),  # 2024-12-15T00:00:00Z
        session_doc("d-end", T_DEC15 + 86399),  # 2024-12-15T23:59:59Z
        session_doc("d-next", T_DEC15 + 86400),  # 2024-12-16T00:00:00Z
    ]
    res = build_and_run(tmp_path, sessions, None, start="2024-12-15", end="2024-12-15")
    assert set(res.rows) == {"d-start", "d-end"}
    assert utc(res.manifest["window"]["end"]) == datetime(2024, 12, 16, tzinfo=UTC)


# ==========================================================================
# Dataset "report": duplicates, orphaned runs, unknown statuses
# ==========================================================================
def report_docs():
    sessions, runs = [], []
    # s-dup stored twice; the newer document is first in the file
    new = session_doc(
        "s-dup",
        T_DEC10,
        name="New Name",
        updated_at=T_DEC10 + 7200,
        runs=[run_dict("dup-1", "s-dup", T_DEC10 + 10), run_dict("dup-2", "s-dup", T_DEC10 + 20)],
    )
    old = session_doc(
        "s-dup", T_DEC10, name="Old Name", updated_at=T_DEC10 + 3600, runs=[run_dict("dup-1", "s-dup", T_DEC10 + 10)]
    )
    sessions += [new, old]
    # orphans
    sessions.append(session_doc("s-home", T_DEC10))
    runs.append(agno3_run(run_dict("home-1", "s-home", T_DEC10 + 5), 0))
    sessions.append(session_doc("s-nov", T_NOV20))  # exists, outside the window
    runs.append(agno3_run(run_dict("nov-1", "s-nov", T_DEC05), 0))  # not an orphan
    runs.append(agno3_run(run_dict("ghost-1", "ghost", T_DEC05), 0))  # orphan
    # unknown status
    sessions.append(session_doc("s-unk", T_DEC11))
    runs.append(agno3_run(run_dict("unk-1", "s-unk", T_DEC11, metrics={"duration": 1.0}), 0))
    runs.append(agno3_run(run_dict("unk-2", "s-unk", T_DEC11 + 10, status="WEIRD", metrics={"duration": 1.0}), 1))
    return sessions, runs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    sessions, runs = report_docs()
    return build_and_run(tmp_path_factory.mktemp("report"), sessions, runs)


def test_report_rows(report):
    assert set(report.rows) == {"s-dup", "s-home", "s-unk"}
    assert report.manifest["counts"]["quarantined"] == 0


def test_duplicate_session_latest_updated_at_wins(report):
    row = report.rows["s-dup"]
    assert (row["agent_name"], row["total_runs"]) == ("New Name", "2")
    assert report.manifest["counts"]["duplicates"] == 1


def test_run_of_missing_session_is_orphaned(report):
    # ghost-1 has no session at all; nov-1's session exists outside the window
    assert report.manifest["counts"]["orphaned_runs"] == 1
    assert report.rows["s-home"]["total_runs"] == "1"


def test_unknown_status_is_counted_and_not_a_failure(report):
    assert report.manifest["counts"]["unknown_statuses"] == 1
    assert_row(
        report.rows["s-unk"],
        {
            "total_runs": "2",  # the WEIRD run is still a top-level run
            "error_runs": "0",
            "cancelled_runs": "0",
            "incomplete_runs": "0",
            "error_rate": "0.0",
            "first_error_index": "",
            "max_consecutive_errors": "0",
            "has_failure": "false",
            "duration_sum_s": "2.0",
            "last_run_end": "2024-12-11T09:00:11Z",  # 09:00:10 + 1
        },
    )


# ==========================================================================
# Dataset "quarantine": bad documents (FEATURES.md section 5)
# ==========================================================================
Q_IDS = {
    name: ObjectId(f"{0xBAD000 + i:024x}")
    for i, name in enumerate(
        ["no-sid", "runs-dict", "bad-json", "neg-tokens", "nonnum-tokens", "bad-run-ts", "agno3-bad-run", "nov-bad"]
    )
}


def quarantine_docs():
    at = T_DEC10
    sessions = [
        session_doc(
            "q-good", at, runs=[run_dict("good-1", "q-good", at, metrics={"input_tokens": 5, "output_tokens": 1})]
        )
    ]

    def bad(key, session_id, created_at=at, **fields):
        d = session_doc(session_id, created_at, **fields)
        d["_id"] = Q_IDS[key]
        if session_id is None:
            del d["session_id"]
        sessions.append(d)

    bad("no-sid", None, runs=[])
    bad("runs-dict", "q-runs-dict", runs={"0": run_dict("rd-1", "q-runs-dict", at)})
    bad("bad-json", "q-bad-json", runs='[{"run_id": "bj-1", "status": "COMPLETED"')
    bad(
        "neg-tokens",
        "q-neg-tokens",
        runs=[
            run_dict("nt-1", "q-neg-tokens", at, metrics={"input_tokens": 10}),
            run_dict("nt-2", "q-neg-tokens", at + 1, metrics={"input_tokens": -5}),
        ],
    )
    bad(
        "nonnum-tokens",
        "q-nonnum-tokens",
        runs=[run_dict("nn-1", "q-nonnum-tokens", at, metrics={"output_tokens": "lots"})],
    )
    bad(
        "bad-run-ts",
        "q-bad-run-ts",
        runs=[run_dict("bt-1", "q-bad-run-ts", at), run_dict("bt-2", "q-bad-run-ts", "not a timestamp")],
    )
    # its bad run is in the runs collection.
    # SPEC-AMBIGUITY: the quarantine record carries the SESSION document's _id
    # (the session is what is quarantined whole), not the bad run document's.
    bad("agno3-bad-run", "q-agno3-bad-run")
    runs = [
        agno3_run(run_dict("a3b-1", "q-agno3-bad-run", at, metrics={"input_tokens": 3}), 0),
        agno3_run(run_dict("a3b-2", "q-agno3-bad-run", at + 1, metrics={"input_tokens": -1}), 1),
    ]
    # bad, but created in November: outside the window -> not considered
    bad("nov-bad", "q-nov-bad", created_at=T_NOV20, runs=42)
    return sessions, runs


Q_EXPECTED = {  # _id string -> session_id
    str(Q_IDS["no-sid"]): None,
    str(Q_IDS["runs-dict"]): "q-runs-dict",
    str(Q_IDS["bad-json"]): "q-bad-json",
    str(Q_IDS["neg-tokens"]): "q-neg-tokens",
    str(Q_IDS["nonnum-tokens"]): "q-nonnum-tokens",
    str(Q_IDS["bad-run-ts"]): "q-bad-run-ts",
    str(Q_IDS["agno3-bad-run"]): "q-agno3-bad-run",
}


@pytest.fixture(scope="module")
def quarantine(tmp_path_factory):
    sessions, runs = quarantine_docs()
    return build_and_run(tmp_path_factory.mktemp("quarantine"), sessions, runs)


def test_bad_documents_do_not_stop_good_ones(quarantine):
    # build_and_run already asserted exit code 0
    assert set(quarantine.rows) == {"q-good"}
    row = quarantine.rows["q-good"]
    assert (row["input_tokens_sum"], row["total_tokens_sum"]) == ("5", "6")  # 5 + 1


def test_quarantine_is_counted(quarantine):
    c = quarantine.manifest["counts"]
    assert c["quarantined"] == 7
    assert c["rows_written"] == 1
    assert c["orphaned_runs"] == 0  # the bad agno3 session exists


@pytest.mark.parametrize(
    "key", ["no-sid", "runs-dict", "bad-json", "neg-tokens", "nonnum-tokens", "bad-run-ts", "agno3-bad-run"]
)
def test_each_bad_document_is_quarantined_with_a_reason(quarantine, key):
    oid = str(Q_IDS[key])
    records = [q for q in quarantine.quarantine if q.get("_id") == oid]
    assert len(records) == 1, f"{key}: expected one quarantine record for _id {oid}"
    q = records[0]
    assert q["session_id"] == Q_EXPECTED[oid]
    assert isinstance(q["reason"], str) and q["reason"].strip()
    assert "\n" not in q["reason"]
    if q["session_id"] is not None:
        assert q["session_id"] not in quarantine.rows


def test_quarantine_holds_nothing_else(quarantine):
    assert sorted(q["_id"] for q in quarantine.quarantine) == sorted(Q_EXPECTED)


def test_bad_document_outside_window_is_not_quarantined(quarantine):
    assert str(Q_IDS["nov-bad"]) not in {q["_id"] for q in quarantine.quarantine}


def test_only_bad_documents_still_exit_zero(tmp_path):
    d = session_doc("only-bad", T_DEC10, runs=[run_dict("ob-1", "only-bad", T_DEC10, metrics={"input_tokens": -1})])
    res = build_and_run(tmp_path, [d], None)  # asserts exit code 0
    assert res.rows == {}
    assert res.manifest["counts"]["quarantined"] == 1
    assert [q["session_id"] for q in res.quarantine] == ["only-bad"]
