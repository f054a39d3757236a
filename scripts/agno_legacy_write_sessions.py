"""Write test sessions through agno 1.x's or phidata's own MongoDB storage, offline.

The older sibling of scripts/agno_write_sessions.py (agno 2.x/3.x). Run with
the python of ``.cache/agno-1.8.4`` or ``.cache/phidata-2.7.10`` (made by
``scripts/setup_agno_envs.sh``)::

    python scripts/agno_legacy_write_sessions.py --uri MONGO_URI --db DBNAME \
        [--shift-to 2024-12-10T09:00:00Z] [--drop]

Nothing talks to a model API: the model is the library's own ``OpenAIChat``
with only ``invoke`` replaced, returning canned ``openai`` ``ChatCompletion``
objects (or raising), so the library's own response parsing, tool calling,
metrics and storage code write the documents (agno 1.x:
``agno.storage.mongodb.MongoDbStorage``; phidata:
``phi.storage.agent.mongodb.MongoAgentStorage``), into ``agno_sessions``.

Scenario: agent session "agent-sess-1" (user "user-42"), agent
"weather-agent" / "Weather Agent", model gpt-4o-mini / OpenAI:

* run 1: call 1 asks for get_weather(Paris) and lookup_stock(ACME) (prompt 412,
  completion 38, total 450, prompt_tokens_details.cached_tokens 256);
  get_weather answers, lookup_stock raises; call 2 answers (prompt 530,
  completion 21, total 551, completion_tokens_details.reasoning_tokens 8).
* run 2: the model raises (a 503 from the provider): these versions raise out
  of ``run()`` and store nothing for it.
* run 3: plain answer (prompt 100, completion 10, total 110).

Timestamps: the session's created_at becomes T (the --shift-to instant, else
the wall clock Agno wrote) and run k's ``created_at`` stamps (its messages'
included) move to T + 60 * k, keeping sub-second gaps inside a run; plain
pymongo after the library has written, like the newer script.

stdout gets one line: a JSON summary (library and version, runs stored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import deque
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

import pymongo
from agno_tools import get_weather, lookup_stock, tool_call  # scripts/, beside this file
from openai.types.chat import ChatCompletion

try:  # agno 1.x
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from agno.storage.mongodb import MongoDbStorage

    LIBRARY = "agno"

    def storage(client: Any, db: str) -> Any:
        return MongoDbStorage(collection_name=COLLECTION, client=client, db_name=db)
except ImportError:  # phidata 2.x
    from phi.agent import Agent
    from phi.model.openai import OpenAIChat
    from phi.storage.agent.mongodb import MongoAgentStorage

    LIBRARY = "phidata"

    def storage(client: Any, db: str) -> Any:
        return MongoAgentStorage(collection_name=COLLECTION, client=client, db_name=db)


COLLECTION = "agno_sessions"
SESSION_ID = "agent-sess-1"
USER_ID = "user-42"
RUN_SPACING_S = 60
EPOCH_FLOOR = 1_000_000_000
MODEL_LATENCY_S = 0.05


def completion(content: str | None = None, tool_calls: list[dict] | None = None, **usage: Any) -> dict:
    return {"content": content, "tool_calls": tool_calls or [], "usage": usage}


STEPS: deque[dict] = deque(
    [
        completion(
            tool_calls=[
                tool_call("call_w1", "get_weather", city="Paris"),
                tool_call("call_s1", "lookup_stock", ticker="ACME"),
            ],
            prompt_tokens=412,
            completion_tokens=38,
            total_tokens=450,
            prompt_tokens_details={"cached_tokens": 256},
        ),
        completion(
            "It is sunny in Paris (22C). I could not fetch the ACME quote.",
            prompt_tokens=530,
            completion_tokens=21,
            total_tokens=551,
            completion_tokens_details={"reasoning_tokens": 8},
        ),
        {"error": "Simulated provider failure: 503 Service Unavailable"},
        completion("You're welcome!", prompt_tokens=100, completion_tokens=10, total_tokens=110),
    ]
)


class ScriptedOpenAIChat(OpenAIChat):
    """The library's OpenAIChat; only the HTTP call is replaced by STEPS."""

    def invoke(self, *args: Any, **kwargs: Any) -> ChatCompletion:
        if not STEPS:
            raise RuntimeError("scripted model has no response left")
        step = STEPS.popleft()
        time.sleep(MODEL_LATENCY_S)
        if "error" in step:
            raise RuntimeError(step["error"])
        message: dict[str, Any] = {"role": "assistant", "content": step["content"]}
        if step["tool_calls"]:
            message["tool_calls"] = step["tool_calls"]
        finish = "tool_calls" if step["tool_calls"] else "stop"
        return ChatCompletion.model_validate(
            {
                "id": f"chatcmpl-{len(STEPS)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.id,
                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                "usage": step["usage"],
            }
        )


def run_agent_session(client: Any, db: str) -> list[str]:
    agent = Agent(
        agent_id="weather-agent",
        name="Weather Agent",
        model=ScriptedOpenAIChat(id="gpt-4o-mini", api_key="offline"),
        tools=[get_weather, lookup_stock],
        storage=storage(client, db),
        session_id=SESSION_ID,
        user_id=USER_ID,
        telemetry=False,
        monitoring=False,
    )
    outcomes = []
    for prompt in ("What's the weather in Paris and the ACME stock price?", "Try again please", "Thanks, that's all."):
        try:
            agent.run(prompt)
            outcomes.append("COMPLETED")
        except RuntimeError:
            outcomes.append("RAISED")
    return outcomes


def shifted(obj: Any, delta: float) -> Any:
    """obj with every epoch-like created_at/updated_at moved by delta seconds."""
    if isinstance(obj, dict):
        return {
            k: (v + delta if k in ("created_at", "updated_at") and _epoch(v) else shifted(v, delta))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [shifted(v, delta) for v in obj]
    return obj


def _epoch(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > EPOCH_FLOOR


def _run_stamp(run: dict) -> float | None:
    """The run's own created_at (agno 1.x), else its first message's (phidata)."""
    response = run.get("response") if LIBRARY == "phidata" else run
    stamp = (response or {}).get("created_at")
    if _epoch(stamp):
        return stamp
    message = run.get("message") or {}
    return message.get("created_at") if _epoch(message.get("created_at")) else None


def space_runs(collection: Any, target: int | None) -> None:
    doc = collection.find_one({"session_id": SESSION_ID})
    base = target if target is not None else int(doc["created_at"])
    runs = (doc.get("memory") or {}).get("runs") or []
    new_runs = []
    for k, run in enumerate(runs):
        stamp = _run_stamp(run)
        new_runs.append(shifted(run, base + RUN_SPACING_S * k - int(stamp)) if stamp is not None else run)
    last = base + RUN_SPACING_S * max(len(runs) - 1, 0)
    collection.update_one(
        {"_id": doc["_id"]},
        {"$set": {"created_at": base, "updated_at": last + 1, "memory.runs": new_runs}},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--shift-to", help="ISO-8601 instant for the session's created_at")
    parser.add_argument("--drop", action="store_true", help=f"drop {COLLECTION} first")
    args = parser.parse_args(argv)
    target = None
    if args.shift_to:
        instant = datetime.fromisoformat(args.shift_to)
        target = int((instant if instant.tzinfo else instant.replace(tzinfo=UTC)).timestamp())
    try:
        lib_version = dist_version(LIBRARY)
    except PackageNotFoundError:
        lib_version = "unknown"

    os.environ.setdefault("AGNO_TELEMETRY", "false")
    os.environ.setdefault("PHI_TELEMETRY", "false")
    client: Any = pymongo.MongoClient(args.uri)
    if args.drop:
        client[args.db].drop_collection(COLLECTION)
    with contextlib.redirect_stdout(sys.stderr):
        outcomes = run_agent_session(client, args.db)
    if outcomes != ["COMPLETED", "RAISED", "COMPLETED"] or STEPS:
        print(f"unexpected outcomes {outcomes}, {len(STEPS)} scripted responses left", file=sys.stderr)
        return 1
    collection = client[args.db][COLLECTION]
    space_runs(collection, target)
    doc = collection.find_one({"session_id": SESSION_ID})
    summary = {
        "library": LIBRARY,
        "agno_version": lib_version,
        "collections": sorted(client[args.db].list_collection_names()),
        "session_ids": [SESSION_ID],
        "outcomes": outcomes,
        "runs_stored": len((doc.get("memory") or {}).get("runs") or []),
    }
    print(json.dumps(summary, sort_keys=True))
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
