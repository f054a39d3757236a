"""Per-format readers: the only code that knows Agno's storage formats exist.

`normalize_session` turns one session document (plus its agno3 run documents)
into a `Session` of canonical runs, or raises `BadDocument` with a one-line
reason. Everything downstream sees only `records`.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Mapping
from typing import Any

from bson.objectid import ObjectId

from transforms import encodable
from transforms.records import KNOWN_STATUSES, Run, Session, SessionInfo, ToolCall
from transforms.timestamps import MAX_EPOCH, MIN_EPOCH, BadTimestamp, to_epoch
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


class InternalError(Exception):
    """An error no rule expected, met while a run document was pre-read: its session is
    quarantined and counted as `internal_errors` (FEATURES.md §5); the message is the reason."""


def internal_reason(exc: BaseException) -> str:
    """The one-line reason of an unexpected error."""
    try:
        text = f"internal error: {type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - an exception whose message cannot be written
        text = f"internal error: {type(exc).__name__}"
    return " ".join(encodable.safe_text(text).split())


# ---------------------------------------------------------------- small readers

INT64_MAX = 2**63 - 1
YEAR_S = 31_536_000.0  # the longest duration accepted (FEATURES.md §5)


def _show(value: Any) -> str:
    """A value in a reason: one line, ASCII, short."""
    text = ascii(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _doc(value: Any, what: str) -> Mapping[str, Any]:
    """A field that must be a document when present (FEATURES.md §5 "wrong shape")."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadDocument(f"{what} is not an object ({type(value).__name__})")
    return value


def _list(value: Any, what: str, item: str | None = None) -> list[Any]:
    """A field that must be a list when present, of documents when `item` names them."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadDocument(f"{what} is not a list ({type(value).__name__})")
    if item is not None:
        for v in value:
            if not isinstance(v, Mapping):
                raise BadDocument(f"{what} holds a {type(v).__name__}, not {item}")
    return value


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _timestamp(value: Any, what: str) -> float | None:
    try:
        return to_epoch(value)
    except BadTimestamp as exc:
        raise BadDocument(f"unreadable timestamp in {what}: {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any, key: str) -> int:
    """A token count: an integer 0..2^63-1 (an integral float too), or a list of them
    (summed, the sum in range too); None is 0."""
    if type(value) is int and 0 <= value <= INT64_MAX:  # the common case, at a glance
        return value
    if value is None:
        return 0
    if isinstance(value, list):
        total = sum(_one_count(v, key) for v in value)
        if total > INT64_MAX:
            raise BadDocument(f"token count {key} out of range: the list sums to {total}")
        return total
    return _one_count(value, key)


def _one_count(value: Any, key: str) -> int:
    if value is None:
        return 0
    if not _is_number(value):
        raise BadDocument(f"non-numeric token count {key}={_show(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise BadDocument(f"non-integer token count {key}={_show(value)}")
    if value < 0:
        raise BadDocument(f"negative token count {key}={_show(value)}")
    if value > INT64_MAX:
        raise BadDocument(f"token count {key}={_show(value)} out of range (above 2^63-1)")
    return int(value)


def _amount(value: Any, key: str) -> float:
    """One finite number >= 0 as a float."""
    if not _is_number(value):
        raise BadDocument(f"non-numeric {key}={_show(value)}")
    try:
        x = float(value)
    except OverflowError:  # an int beyond float64
        raise BadDocument(f"{key}={_show(value)} out of range") from None
    if not math.isfinite(x):
        raise BadDocument(f"non-finite {key}={_show(value)}")
    if x < 0:
        raise BadDocument(f"negative {key}={_show(value)}")
    return x


def _fsum(values: list[float], key: str) -> float:
    try:
        total = math.fsum(values)
    except OverflowError:
        total = math.inf
    if not math.isfinite(total):
        raise BadDocument(f"{key} out of range: the values sum beyond float64")
    return total


def _seconds(value: Any, key: str, limit: float = math.inf) -> float | None:
    """A duration (`limit` one year) or a cost: a number, or a list of numbers (summed,
    nulls skipped); None when absent."""
    if type(value) is float and 0.0 <= value <= limit and value != math.inf:  # the common case (NaN fails it)
        return value
    if value is None:
        return None
    if isinstance(value, list):
        known = [_amount(v, key) for v in value if v is not None]
        if not known:
            return None
        total = _fsum(known, key)
    else:
        total = _amount(value, key)
    if total > limit:
        raise BadDocument(f"{key}={_show(total)} is more than one year")
    return total


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
    return _sum_counts([_count(v, key) for v in found], key) if found else None


def _sum_counts(values: Iterable[int], what: str) -> int:
    total = sum(values)
    if total > INT64_MAX:
        raise BadDocument(f"{what} out of range: {total} is above 2^63-1")
    return total


def tokens(metrics: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """(input, output, total, cache_read, reasoning) from one metrics dict."""
    inp = _count(metrics.get("input_tokens"), "input_tokens")
    out = _count(metrics.get("output_tokens"), "output_tokens")
    if metrics.get("total_tokens") is not None:
        total = _count(metrics["total_tokens"], "total_tokens")
    else:
        total = _sum_counts((inp, out), "total_tokens (input + output)")
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
    m = _doc(metrics, "a tool call's metrics")
    if m.get("duration") is not None:
        return _seconds(m["duration"], "tool duration", YEAR_S)
    return _seconds(m.get("time"), "tool time", YEAR_S)


def tool_calls(run: Mapping[str, Any]) -> list[ToolCall]:
    """The run's `tools` when non-empty, else its `role == "tool"` messages not from history."""
    tools = _list(run.get("tools"), "tools", "a tool call object")
    if tools:
        source = tools
    else:
        messages = _list(run.get("messages"), "messages", "a message object")
        source = [m for m in messages if m.get("role") == "tool" and m.get("from_history") is not True]
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
    metrics = _doc(run.get("metrics"), "a run's metrics")
    model_id = _str(run.get("model"))
    provider = _str(run.get("model_provider"))

    if _is_workflow_run(run):
        steps = _doc(metrics.get("steps"), "metrics.steps")
        per_step = [
            tokens(_doc(_doc(step, "a step of metrics.steps").get("metrics"), "a step's metrics"))
            for step in steps.values()
        ]
        inp, out, total, cache, reasoning = (
            (_sum_counts(column, f"{key} over metrics.steps") for key, column in zip(TOKEN_KEYS, zip(*per_step)))
            if per_step
            else (0, 0, 0, 0, 0)
        )
        executors = _list(run.get("step_executor_runs"), "step_executor_runs", "a run object")
        tools = [call for r in executors for call in tool_calls(r)]
        if executors and model_id is None and provider is None:
            model_id = _str(executors[0].get("model"))
            provider = _str(executors[0].get("model_provider"))
    else:
        inp, out, total, cache, reasoning = tokens(metrics)
        tools = tool_calls(run)

    if legacy:
        time = _seconds(metrics.get("time"), "metrics.time", YEAR_S)
        tool_times = [c.duration_s for c in tools if c.duration_s is not None]
        known = ([time] if time is not None else []) + tool_times
        duration = _seconds(known, "duration (metrics.time + tool durations)", YEAR_S) if known else None
        run_status = "COMPLETED"  # agno1 and phidata did not store failed runs
    else:
        duration = _seconds(metrics.get("duration"), "metrics.duration", YEAR_S)
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
    response = _doc(pair.get("response"), "a run's response")
    message = _doc(pair.get("message"), "a run's message")
    if response.get("created_at") is None and message.get("created_at") is not None:
        response = {**response, "created_at": message["created_at"]}
    return response


# ---------------------------------------------------------------- one session


def _loads(text: str, what: str) -> Any:
    """A JSON string field, parsed; its text must be valid too (escapes can write lone surrogates)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise BadDocument(f"{what} is a JSON string that does not parse") from None
    reason = encodable.problem(value)
    if reason is not None:
        raise BadDocument(f"{what} (a JSON string) holds {reason}")
    return value


def _parse_json_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for field in JSON_STRING_FIELDS:
        value = out.get(field)
        if isinstance(value, str):
            out[field] = _loads(value, f"field {field}")
    return out


def _run_list(value: Any, where: str) -> list[Mapping[str, Any]]:
    return _list(value, where, "a run object")


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
# shuffle moves less; every string in it is valid Unicode (the coders carry it).
# A plain tuple, because pickle encodes tuples in C and NamedTuples through Python calls:
#   0 str(_id) or None: run documents are distinct by it,
#   1 (str(_id), str(run_id)): their order in the session,
#   2 the run's created_at in epoch seconds; None when it has none, NaN when unreadable,
#   3 the Run's fields up to `tools` (tool calls as plain tuples; created_at and the
#     models None where the document has none), or None (unreadable, or set aside),
#   4 run_index when it is an int, else None,
#   5 the reason it cannot be read, or None,
#   6 its updated_at in epoch seconds (-inf when absent or unreadable): duplicates,
#   7 its run_id as text, or None: duplicates (FEATURES.md §2)
# A run created at or after the end of the window it was read for is set aside
# (FEATURES.md §3): fields and reason None, only 2 tells.
PreRun = tuple


def _run_data(rd: Mapping[str, Any]) -> Mapping[str, Any]:
    data = rd.get("run_data")
    if isinstance(data, str):
        data = _loads(data, "run_data")
    if data is not None and not isinstance(data, Mapping):
        raise BadDocument(f"run_data is not an object ({type(data).__name__})")
    return data or {}


def _run_index(rd: Mapping[str, Any]) -> int | None:
    index = rd.get("run_index")
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def _epoch_or_oldest(value: Any) -> float:
    try:
        epoch = to_epoch(value)
    except BadTimestamp:
        epoch = None
    return -math.inf if epoch is None else epoch


def _safe_str(value: Any) -> str | None:
    return None if value is None else encodable.safe_text(_str(value))


def pre_read_run(rd: Mapping[str, Any], window: Window | None = None) -> PreRun:
    """`rd` as a PreRun (see there); set aside when created at or after `window`'s end.
    Never raises: an unexpected error is the PreRun's reason (see InternalError)."""
    try:
        return _quick_pre_read(rd, window) or _pre_read_run(rd, window)
    except Exception as exc:  # noqa: BLE001 - a bug must show in the counts, never stop the run (§5)
        return None, ("None", "None"), math.nan, None, None, internal_reason(exc), -math.inf, None


def _plain_count(value: Any) -> int | None:
    """`_count(value)` when it is None or an int in range, else None (only `_count` can tell)."""
    if value is None:
        return 0
    return value if type(value) is int and 0 <= value <= INT64_MAX else None


def _plain_seconds(value: Any, limit: float) -> Any:
    """`_seconds(value, …, limit)` when it is None or a float in range, else False (only
    `_seconds` can tell)."""
    if value is None or (type(value) is float and 0.0 <= value <= limit and value != math.inf):
        return value
    return False


def _quick_pre_read(rd: Mapping[str, Any], window: Window | None) -> PreRun | None:
    """What `_pre_read_run` gives for an agno3 run document of the common shape (plain
    types, every value in range, no workflow), read without its frames per field; None
    when the document is any other: `_pre_read_run` reads it (and any error it raises
    here, so the reason is its own)."""
    try:
        if type(rd) is not dict:
            return None
        oid, run_id, stamp = rd.get("_id"), rd.get("run_id"), rd.get("created_at")
        if type(oid) is ObjectId:
            _id = str(oid)  # 24 hex digits
        elif oid is None or (type(oid) is str and oid.isascii()):
            _id = oid
        else:
            return None
        if type(run_id) is not str or not run_id.isascii() or stamp is None:
            return None
        created = float(stamp) if type(stamp) is int and MIN_EPOCH < stamp < MAX_EPOCH else to_epoch(stamp)
        updated = rd.get("updated_at")
        updated = (
            float(updated) if type(updated) is int and MIN_EPOCH < updated < MAX_EPOCH else _epoch_or_oldest(updated)
        )
        order = (str(_id), run_id)
        index = rd.get("run_index")
        if type(index) is not int:
            index = _run_index(rd)
        if window is not None and created >= window.end:  # set aside
            return (_id, order, created, None, index, None, updated, run_id)
        data = rd.get("run_data")
        if type(data) is not dict or encodable.problem(rd) is not None:
            return None
        metrics = data.get("metrics")
        if metrics is None:
            metrics = {}
        elif type(metrics) is not dict:
            return None
        provider, model, parent = data.get("model_provider"), data.get("model"), rd.get("parent_run_id")
        if parent is None:
            parent = data.get("parent_run_id")
        for text in (provider, model, parent):
            if text is not None and type(text) is not str:
                return None
        if "step_executor_runs" in data or data.get("workflow_id"):
            return None

        get = metrics.get
        inp, out = _plain_count(get("input_tokens")), _plain_count(get("output_tokens"))
        total = get("total_tokens")
        total = (None if inp is None or out is None else inp + out) if total is None else _plain_count(total)
        cache = get("cache_read_tokens")
        if cache is None:
            cache = get("cached_tokens")
            if cache is None and get("prompt_tokens_details") is not None:
                return None
        reasoning = get("reasoning_tokens")
        if reasoning is None and get("completion_tokens_details") is not None:
            return None
        cache, reasoning = _plain_count(cache), _plain_count(reasoning)
        if inp is None or out is None or total is None or total > INT64_MAX or cache is None or reasoning is None:
            return None
        ttft = get("time_to_first_token")
        times = (_plain_seconds(get("cost"), math.inf), _plain_seconds(get("duration"), YEAR_S))
        ttft = False if type(ttft) is list else _plain_seconds(ttft, math.inf)
        if times[0] is False or times[1] is False or ttft is False:
            return None

        calls = data.get("tools")
        if calls is None or calls == []:
            messages = data.get("messages")
            if messages is None:
                messages = []
            elif type(messages) is not list:
                return None
            calls = []
            for m in messages:
                role = m.get("role") if type(m) is dict else False
                if role is not None and type(role) is not str:
                    return None
                if role == "tool" and m.get("from_history") is not True:
                    calls.append(m)
        elif type(calls) is not list:
            return None
        tools = []
        for t in calls:
            if type(t) is not dict:
                return None
            name, tm = t.get("tool_name"), t.get("metrics")
            if tm is None:
                tm = {}
            if (name is not None and type(name) is not str) or type(tm) is not dict:
                return None
            duration = tm.get("duration")
            duration = _plain_seconds(tm.get("time") if duration is None else duration, YEAR_S)
            if duration is False:
                return None
            tools.append((name, t.get("tool_call_error") is True, duration))
        status = rd.get("status")
        if status is None:
            status = data.get("status")
        if type(status) is str and (upper := status.upper()) in KNOWN_STATUSES:
            status = upper
        else:
            status = _status(status)
        fields = (
            run_id, parent, created, 0 if index is None else index, status, provider, model,
            inp, out, total, cache, reasoning, *times, ttft, tuple(tools),
        )  # fmt: skip
        return (_id, order, created, fields, index, None, updated, run_id)
    except Exception:  # noqa: BLE001 - `_pre_read_run` reads it, and gives the reason
        return None


def _pre_read_run(rd: Mapping[str, Any], window: Window | None) -> PreRun:
    _id = _safe_str(rd.get("_id"))
    run_id = _safe_str(rd.get("run_id"))
    fields = error = None
    created: float | None = math.nan
    try:
        # The point-in-time cut comes first (FEATURES.md §3): nothing else is read
        # of a run created at or after the window end.
        stamp = rd.get("created_at")
        created = _timestamp(_run_data(rd).get("created_at") if stamp is None else stamp, "run created_at")
        if window is None or created is None or created < window.end:
            reason = encodable.problem(rd)
            if reason is not None:
                raise BadDocument(f"run document holds {reason}")
            run = _read_run_doc(rd, 0, None, (None, None))
            fields, run_id = (*run[:15], tuple(map(tuple, run.tools))), run.run_id
    except BadDocument as exc:
        error = str(exc)
    order = (str(_id), str(_safe_str(rd.get("run_id"))))
    return (_id, order, created, fields, _run_index(rd), error, _epoch_or_oldest(rd.get("updated_at")), run_id)


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


_make_run, _make_tool_call = Run._make, ToolCall._make
_BY_TIME = operator.itemgetter(2, 3)  # (created_at, position)


def _finish_run(pre: PreRun, position: int, default: float, model: tuple[str | None, str | None]) -> tuple:
    """The fields up to `tools` of the Run `_read_run_doc` would have read from the
    document `pre` was read from (`assign_trees` makes the Run)."""
    fields, index, error = pre[3], pre[4], pre[5]
    if error is not None:
        raise InternalError(error) if error.startswith("internal error: ") else BadDocument(error)
    provider, model_id, tools = fields[5], fields[6], fields[15]
    return (
        *fields[:2],
        default if fields[2] is None else fields[2],
        index if index is not None else position,
        fields[4],
        model[0] if provider is None else provider,
        model[1] if model_id is None else model_id,
        *fields[7:15],
        tuple(map(_make_tool_call, tools)) if tools else (),
    )


def _after_end(created: float | None, window: Window) -> bool:
    return created is not None and created >= window.end


def _collection_runs(pres: list[PreRun], window: Window) -> list[tuple[int, PreRun]]:
    """(position, PreRun) of the runs that count: cut at the window end first, then one
    document per run_id, the latest `updated_at`, then the greater `_id` (FEATURES.md §2)."""
    end = window.end
    kept = [(i, pre) for i, pre in enumerate(pres) if pre[2] is None or not pre[2] >= end]  # NaN is kept
    best: dict[str, tuple[int, PreRun]] = {}
    for i, pre in kept:
        if pre[7] is not None:
            rank = (pre[6], pre[0] is not None, pre[0] or "")
            cur = best.get(pre[7])
            if cur is None or rank > (cur[1][6], cur[1][0] is not None, cur[1][0] or ""):
                best[pre[7]] = (i, pre)
    return [(i, pre) for i, pre in kept if pre[7] is None or best[pre[7]][0] == i]


def _array_runs(items: list[Mapping[str, Any]], window: Window, stamp: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """(position, run) of an array's runs that count: cut at the window end first (by
    `stamp(run)`, the run's created_at), then each run_id's last occurrence (FEATURES.md §2)."""
    kept = [(i, r) for i, r in enumerate(items) if not _after_end(_timestamp(stamp(r), "run created_at"), window)]
    last = {_str(r.get("run_id")): i for i, r in kept}
    return [(i, r) for i, r in kept if r.get("run_id") is None or last[_str(r["run_id"])] == i]


def _position(run: Mapping[str, Any], i: int) -> int:
    index = _run_index(run)
    return i if index is None else index


def normalize_session(
    raw: Mapping[str, Any],
    run_docs: Iterable[Mapping[str, Any] | PreRun],
    window: Window,
    *,
    text_checked: bool = False,
) -> Session | None:
    """The session as canonical runs, cut at the window end; None when it is not in the window.

    Raises BadDocument when any part of it cannot be read (the whole session is quarantined).
    `text_checked`: the caller has checked the document with `encodable.problem`.
    """
    if not text_checked:
        reason = encodable.problem(raw)
        if reason is not None:
            raise BadDocument(f"session document holds {reason}")
    pres = [rd if type(rd) is tuple else pre_read_run(rd, window) for rd in run_docs]
    doc = _parse_json_fields(raw)
    session_id = doc.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise BadDocument("no session_id")
    fmt = detect_format(doc, bool(pres))
    legacy = fmt in ("agno1", "phidata")
    session_type = _session_type(doc, legacy)
    agent_id, agent_name, data = _identity(doc, session_type)
    model_info = _dict(data.get("model"))
    session_model = (_str(model_info.get("provider")), _str(model_info.get("id")))
    _timestamp(doc.get("updated_at"), "updated_at")  # unreadable: bad document
    session_created = _timestamp(doc.get("created_at"), "session created_at")
    if session_created is not None and not window.contains(session_created):
        return None  # its runs are not read: it is in no row of this window

    # Runs without a created_at of their own are placed at the session's start.
    default = session_created if session_created is not None else math.inf
    runs: list[Run | tuple] = []  # Runs, or their fields up to `tools` (see `_finish_run`)
    if legacy:
        memory = _doc(doc.get("memory"), "memory")
        items = _run_list(memory.get("runs"), "memory.runs")
        if fmt == "phidata":
            items = [_phidata_run(r) for r in items]
        for i, r in _array_runs(items, window, lambda r: r.get("created_at")):
            runs.append(read_run(r, legacy=True, position=i, default_created_at=default, session_model=session_model))
    else:
        embedded = _array_runs(_run_list(doc.get("runs"), "runs"), window, lambda r: r.get("created_at"))
        collection = [_finish_run(pre, i, default, session_model) for i, pre in _collection_runs(pres, window)]
        seen = {r[0] for r in collection if r[0] is not None} if embedded else None
        for i, r in embedded:
            if r.get("run_id") is None or _str(r["run_id"]) not in seen:  # the runs collection wins
                position = _position(r, i)
                runs.append(
                    read_run(
                        r, legacy=False, position=position, default_created_at=default, session_model=session_model
                    )
                )
        runs.extend(collection)

    runs.sort(key=_BY_TIME)
    start = session_created if session_created is not None else (runs[0][2] if runs else None)
    if start is None or math.isinf(start) or not window.contains(start):
        return None
    if math.isinf(runs[-1][2] if runs else 0.0):
        raise BadDocument("a run has no created_at and neither has the session")
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
        runs=tuple(assign_trees(runs)),
        unknown_statuses=[r[4] for r in runs].count("UNKNOWN"),
    )


def assign_trees(runs: list[Run | tuple]) -> list[Run]:
    """Order, top-level flag and tree (the order of the top-level run each run's
    `parent_run_id` chain leads to; -1 when it leads nowhere); `runs` may hold only
    the fields up to `tools` (0 run_id, 1 parent_run_id)."""
    top_order: dict[str, int] = {}
    parent: dict[str, str | None] = {}
    n_top = 0
    for r in runs:
        if r[0] is not None:
            parent.setdefault(r[0], r[1])
        if r[1] is None:
            if r[0] is not None:
                top_order.setdefault(r[0], n_top)
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
    for i, r in enumerate(runs):  # `_make`, not `_replace`: a tuple built in C
        if r[1] is None:
            out.append(_make_run((*r[:16], i, True, k)))
            k += 1
        else:
            out.append(_make_run((*r[:16], i, False, root(r[1]))))
    return out
