"""Per-format readers: the only code that knows Agno's storage formats exist.

`normalize_session` turns one session document (plus its agno3 run documents)
into a `Session` of canonical runs, or raises `BadDocument` with a one-line
reason. Everything downstream sees only `records`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from transforms.records import KNOWN_STATUSES, Run, Session, SessionInfo, ToolCall
from transforms.timestamps import BadTimestamp, to_epoch
from transforms.window import Window

# agno 2.0.x–2.1.0 stored these session fields as JSON strings.
JSON_STRING_FIELDS = (
    "runs",
    "agent_data",
    "team_data",
    "workflow_data",
    "session_data",
    "metadata",
    "summary",
)
TOKEN_KEYS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_tokens", "reasoning_tokens")


class BadDocument(ValueError):
    """A session document that cannot be normalized; the message is the reason."""


# ---------------------------------------------------------------- small readers


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _timestamp(value: Any, what: str) -> float | None:
    try:
        return to_epoch(value)
    except BadTimestamp as exc:
        raise BadDocument(f"unreadable timestamp in {what}: {exc}") from None


def _count(value: Any, key: str) -> int:
    """A token count: a number or a list of numbers (summed); negative or non-numeric is bad."""
    if value is None:
        return 0
    if isinstance(value, list):
        return sum(_count(v, key) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadDocument(f"non-numeric token count {key}={value!r}")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise BadDocument(f"non-integer token count {key}={value!r}")
    if value < 0:
        raise BadDocument(f"negative token count {key}={value!r}")
    return int(value)


def _seconds(value: Any, key: str) -> float | None:
    """A duration or cost: a number, or a list of numbers (summed); None when absent."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [_seconds(v, key) for v in value]
        known = [p for p in parts if p is not None]
        return math.fsum(known) if known else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadDocument(f"non-numeric {key}={value!r}")
    return float(value)


def _first(value: Any, key: str) -> float | None:
    if isinstance(value, list):
        return _seconds(value[0], key) if value else None
    return _seconds(value, key)


def _detail_sum(details: Any, key: str) -> int | None:
    """`prompt_tokens_details[].cached_tokens`-style aliases (a dict or a list of dicts)."""
    if isinstance(details, Mapping):
        details = [details]
    if not isinstance(details, list):
        return None
    found = [d[key] for d in details if isinstance(d, Mapping) and d.get(key) is not None]
    return sum(_count(v, key) for v in found) if found else None


def tokens(metrics: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """(input, output, total, cache_read, reasoning) from one metrics dict."""
    inp = _count(metrics.get("input_tokens"), "input_tokens")
    out = _count(metrics.get("output_tokens"), "output_tokens")
    if metrics.get("total_tokens") is not None:
        total = _count(metrics["total_tokens"], "total_tokens")
    else:
        total = inp + out
    if metrics.get("cache_read_tokens") is not None:
        cache = _count(metrics["cache_read_tokens"], "cache_read_tokens")
    elif metrics.get("cached_tokens") is not None:
        cache = _count(metrics["cached_tokens"], "cached_tokens")
    else:
        cache = _detail_sum(metrics.get("prompt_tokens_details"), "cached_tokens") or 0
    if metrics.get("reasoning_tokens") is not None:
        reasoning = _count(metrics["reasoning_tokens"], "reasoning_tokens")
    else:
        reasoning = _detail_sum(metrics.get("completion_tokens_details"), "reasoning_tokens") or 0
    return inp, out, total, cache, reasoning


def _tool_duration(metrics: Any) -> float | None:
    m = _dict(metrics)
    if m.get("duration") is not None:
        return _seconds(m["duration"], "tool duration")
    return _seconds(m.get("time"), "tool time")


def tool_calls(run: Mapping[str, Any]) -> list[ToolCall]:
    """The run's `tools` when non-empty, else its `role == "tool"` messages not from history."""
    tools = run.get("tools")
    if isinstance(tools, list) and tools:
        source = [t for t in tools if isinstance(t, Mapping)]
    else:
        messages = run.get("messages")
        source = [
            m
            for m in (messages if isinstance(messages, list) else [])
            if isinstance(m, Mapping) and m.get("role") == "tool" and m.get("from_history") is not True
        ]
    return [
        ToolCall(_str(t.get("tool_name")), t.get("tool_call_error") is True, _tool_duration(t.get("metrics")))
        for t in source
    ]


def _status(value: Any) -> str:
    status = value.upper() if isinstance(value, str) else None
    return status if status in KNOWN_STATUSES else "UNKNOWN"


def _is_workflow_run(run: Mapping[str, Any]) -> bool:
    return "step_executor_runs" in run or bool(run.get("workflow_id"))


# ---------------------------------------------------------------- one run


def read_run(
    run: Mapping[str, Any],
    *,
    legacy: bool,
    position: int,
    default_created_at: float,
    session_model: tuple[str | None, str | None],
    run_id: Any = None,
    parent_run_id: Any = None,
    status: Any = None,
    created_at: Any = None,
) -> Run:
    """One run dict (agno 1–3 shape) as a canonical Run. Keyword overrides come from
    an agno3 run document's top level, which wins over its `run_data`."""
    metrics = _dict(run.get("metrics"))
    model_id = _str(run.get("model"))
    provider = _str(run.get("model_provider"))
    tools = tool_calls(run)

    if _is_workflow_run(run):
        steps = _dict(metrics.get("steps"))
        sums = [0, 0, 0, 0, 0]
        for step in steps.values():
            for i, n in enumerate(tokens(_dict(_dict(step).get("metrics")))):
                sums[i] += n
        inp, out, total, cache, reasoning = sums
        executors = [r for r in run.get("step_executor_runs") or [] if isinstance(r, Mapping)]
        tools = [call for r in executors for call in tool_calls(r)]
        if executors and model_id is None and provider is None:
            model_id = _str(executors[0].get("model"))
            provider = _str(executors[0].get("model_provider"))
    else:
        inp, out, total, cache, reasoning = tokens(metrics)

    if legacy:
        time = _seconds(metrics.get("time"), "metrics.time")
        tool_times = [c.duration_s for c in tools if c.duration_s is not None]
        known = ([time] if time is not None else []) + tool_times
        duration = math.fsum(known) if known else None
        run_status = "COMPLETED"  # agno1 and phidata did not store failed runs
    else:
        duration = _seconds(metrics.get("duration"), "metrics.duration")
        run_status = _status(status if status is not None else run.get("status"))

    stamp = created_at if created_at is not None else run.get("created_at")
    when = _timestamp(stamp, "run created_at")
    return Run(
        run_id=_str(run_id if run_id is not None else run.get("run_id")),
        parent_run_id=_str(parent_run_id if parent_run_id is not None else run.get("parent_run_id")),
        created_at=default_created_at if when is None else when,
        position=position,
        status=run_status,
        model_provider=provider if provider is not None else session_model[0],
        model_id=model_id if model_id is not None else session_model[1],
        input_tokens=inp,
        output_tokens=out,
        total_tokens=total,
        cache_read_tokens=cache,
        reasoning_tokens=reasoning,
        cost=_seconds(metrics.get("cost"), "metrics.cost"),
        duration_s=duration,
        ttft_s=_first(metrics.get("time_to_first_token"), "metrics.time_to_first_token"),
        tools=tuple(tools),
    )


def _phidata_run(pair: Mapping[str, Any]) -> Mapping[str, Any]:
    """phidata's `{message, response}`: the response is the run."""
    response = _dict(pair.get("response"))
    if response.get("created_at") is None and _dict(pair.get("message")).get("created_at") is not None:
        response = {**response, "created_at": pair["message"]["created_at"]}
    return response


# ---------------------------------------------------------------- one session


def _parse_json_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for field in JSON_STRING_FIELDS:
        value = out.get(field)
        if isinstance(value, str):
            try:
                out[field] = json.loads(value)
            except ValueError:
                raise BadDocument(f"field {field} is a JSON string that does not parse") from None
    return out


def _run_list(value: Any, where: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadDocument(f"{where} is not a list ({type(value).__name__})")
    for item in value:
        if not isinstance(item, Mapping):
            raise BadDocument(f"{where} holds a {type(item).__name__}, not a run object")
    return value


def detect_format(doc: Mapping[str, Any], has_collection_runs: bool) -> str:
    """FEATURES.md §1 detection, per document."""
    if "memory" in doc:
        memory = doc["memory"]
        runs = memory.get("runs") if isinstance(memory, Mapping) else None
        if isinstance(runs, list) and runs:
            first = runs[0]
            if isinstance(first, Mapping) and ("response" in first or "message" in first):
                return "phidata"
            return "agno1"
        return "phidata" if "user_data" in doc else "agno1"
    if has_collection_runs or "runs" not in doc:
        return "agno3"
    return "agno2"


def _identity(doc: Mapping[str, Any], session_type: str) -> tuple[str | None, str | None, Mapping]:
    key = {"team": "team", "workflow": "workflow"}.get(session_type, "agent")
    data = _dict(doc.get(f"{key}_data"))
    ident = doc.get(f"{key}_id")
    if ident is None:
        ident = data.get(f"{key}_id")
    return _str(ident), _str(data.get("name")), data


def _session_type(doc: Mapping[str, Any], legacy: bool) -> str:
    if legacy:
        return "agent"
    value = doc.get("session_type")
    if isinstance(value, str) and value.lower() in ("agent", "team", "workflow"):
        return value.lower()
    if doc.get("team_id") is not None:
        return "team"
    if doc.get("workflow_id") is not None:
        return "workflow"
    return "agent"


# An agno3 run document read before the join, without its session: what
# `_read_run_doc` computes, with the session-dependent parts (position, default
# `created_at`, model fallback) left open, or the reason it cannot be read. Much
# smaller than the document (real run documents carry messages), so the join's
# shuffle moves less; the reason is raised only where reading the document would
# have raised it, so quarantine reasons do not change. A plain tuple, because
# pickle encodes tuples in C and NamedTuples through Python calls:
#   (str(_id) or None: run documents are distinct by it,
#    (str(_id), str(run_id)): their order in the session,
#    the document's created_at: for the orphan check,
#    the Run's fields up to `tools` (tool calls as plain tuples; created_at and the
#    models None where the document has none), or None,
#    run_index when it is an int, else None,
#    the reason it cannot be read, or None)
PreRun = tuple


def _run_data(rd: Mapping[str, Any]) -> Mapping[str, Any]:
    data = rd.get("run_data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            raise BadDocument("run_data is a JSON string that does not parse") from None
    if data is not None and not isinstance(data, Mapping):
        raise BadDocument(f"run_data is not an object ({type(data).__name__})")
    return data or {}


def _run_index(rd: Mapping[str, Any]) -> int | None:
    index = rd.get("run_index")
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def _read_run_doc(rd: Mapping[str, Any], position: int, default: Any, model: tuple[str | None, str | None]) -> Run:
    index = _run_index(rd)
    return read_run(
        _run_data(rd),
        legacy=False,
        position=index if index is not None else position,
        default_created_at=default,
        session_model=model,
        run_id=rd.get("run_id"),
        parent_run_id=rd.get("parent_run_id"),
        status=rd.get("status"),
        created_at=rd.get("created_at"),
    )


def pre_read_run(rd: Mapping[str, Any]) -> PreRun:
    """`rd` as a PreRun (see there)."""
    _id = rd.get("_id")
    try:
        run = _read_run_doc(rd, 0, None, (None, None))
        fields, error = (*run[:15], tuple(map(tuple, run.tools))), None
    except BadDocument as exc:
        fields, error = None, str(exc)
    return (None if _id is None else str(_id), (str(_id), str(rd.get("run_id"))), rd.get("created_at"), fields,
            _run_index(rd), error)  # fmt: skip


def _finish_run(pre: PreRun, position: int, default: float, model: tuple[str | None, str | None]) -> Run:
    """The Run `_read_run_doc` would have read from the document `pre` was read from."""
    _, _, _, fields, index, error = pre
    if error is not None:
        raise BadDocument(error)
    run_id, parent, created_at, _, status, provider, model_id, *numbers, tools = fields
    return Run(
        run_id,
        parent,
        default if created_at is None else created_at,
        index if index is not None else position,
        status,
        model[0] if provider is None else provider,
        model[1] if model_id is None else model_id,
        *numbers,
        tuple(ToolCall(*t) for t in tools),
    )


def _collection_run(rd: Any, position: int, default: float, model: tuple[str | None, str | None]) -> Run:
    if type(rd) is tuple:
        return _finish_run(rd, position, default, model)
    return _read_run_doc(rd, position, default, model)


def normalize_session(
    raw: Mapping[str, Any], run_docs: Iterable[Mapping[str, Any] | PreRun], window: Window
) -> Session | None:
    """The session as canonical runs, cut at the window end; None when it is not in the window.

    Raises BadDocument when any part of it cannot be read (the whole session is quarantined).
    """
    run_docs = list(run_docs)
    doc = _parse_json_fields(raw)
    session_id = doc.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise BadDocument("no session_id")
    fmt = detect_format(doc, bool(run_docs))
    legacy = fmt in ("agno1", "phidata")
    session_type = _session_type(doc, legacy)
    agent_id, agent_name, data = _identity(doc, session_type)
    model_info = _dict(data.get("model"))
    session_model = (_str(model_info.get("provider")), _str(model_info.get("id")))
    _timestamp(doc.get("updated_at"), "updated_at")  # unreadable: bad document
    session_created = _timestamp(doc.get("created_at"), "session created_at")

    # Runs without a created_at of their own are placed at the session's start.
    default = session_created if session_created is not None else math.inf
    runs: list[Run] = []
    if legacy:
        memory = doc.get("memory")
        if memory is not None and not isinstance(memory, Mapping):
            raise BadDocument(f"memory is not an object ({type(memory).__name__})")
        raw_runs = _run_list(_dict(memory).get("runs"), "memory.runs")
        for i, r in enumerate(raw_runs):
            runs.append(
                read_run(
                    _phidata_run(r) if fmt == "phidata" else r,
                    legacy=True,
                    position=i,
                    default_created_at=default,
                    session_model=session_model,
                )
            )
    else:
        embedded = _run_list(doc.get("runs"), "runs")
        from_collection = [_collection_run(rd, i, default, session_model) for i, rd in enumerate(run_docs)]
        seen = {r.run_id for r in from_collection if r.run_id is not None}
        for i, r in enumerate(embedded):
            run = read_run(r, legacy=False, position=i, default_created_at=default, session_model=session_model)
            if run.run_id is None or run.run_id not in seen:  # the runs collection wins
                runs.append(run)
        runs.extend(from_collection)

    runs.sort(key=lambda r: (r.created_at, r.position))
    start = session_created if session_created is not None else (runs[0].created_at if runs else None)
    if start is None or math.isinf(start) or not window.contains(start):
        return None
    if math.isinf(runs[-1].created_at if runs else 0.0):
        raise BadDocument("a run has no created_at and neither has the session")

    # Point in time: only runs that had started before the window end count.
    kept = [r for r in runs if r.created_at < window.end]
    return Session(
        info=SessionInfo(
            session_id=session_id,
            session_type=session_type,
            source_format=fmt,
            agent_id=agent_id,
            agent_name=agent_name,
            model_provider=session_model[0],
            model_id=session_model[1],
            session_start=start,
        ),
        runs=tuple(assign_trees(kept)),
        unknown_statuses=sum(r.status == "UNKNOWN" for r in kept),
    )


def assign_trees(runs: list[Run]) -> list[Run]:
    """Order, top-level flag and tree (the order of the top-level run each run's
    `parent_run_id` chain leads to; -1 when it leads nowhere)."""
    top_order: dict[str, int] = {}
    parent: dict[str, str | None] = {}
    n_top = 0
    for r in runs:
        if r.run_id is not None:
            parent.setdefault(r.run_id, r.parent_run_id)
        if r.parent_run_id is None:
            if r.run_id is not None:
                top_order.setdefault(r.run_id, n_top)
            n_top += 1

    def root(run_id: str | None) -> int:
        seen: set[str] = set()
        while run_id is not None and run_id not in seen:
            if run_id in top_order:
                return top_order[run_id]
            seen.add(run_id)
            run_id = parent.get(run_id)
        return -1

    out: list[Run] = []
    k = 0
    for i, r in enumerate(runs):
        if r.parent_run_id is None:
            out.append(r._replace(order=i, top=True, tree=k))
            k += 1
        else:
            out.append(r._replace(order=i, top=False, tree=root(r.parent_run_id)))
    return out
