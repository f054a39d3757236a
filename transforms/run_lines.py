"""A run document's JSON line read straight into its PreRun: msgspec decodes only the
fields the rules read into typed Structs (everything else is skipped, never built;
a field of another type makes msgspec refuse the line), and `_pre_read` reads them.

For a line that takes this path the PreRun is the one the full path gives (parse the
line with json_util's semantics, key it by session_id, pre-read it): the line is
plain (valid UTF-8, no `\\u` escape, few brackets, no Extended JSON wrapper but an
`_id`'s `$oid`), every field read has the type and value range the quick reader
(`formats._quick_pre_read`) takes, and a value that only some decoders accept (NaN,
1e400) makes msgspec refuse the line. Any other line returns None and takes the full
path (tests/test_run_lines.py holds the two equal on generated and mutated lines)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec

from transforms.formats import (
    INT64_MAX,
    YEAR_S,
    PreRun,
    _epoch_or_oldest,
    _plain_seconds,
    _status,
)
from transforms.quarantine import MAX_NESTING
from transforms.records import KNOWN_STATUSES
from transforms.timestamps import MAX_EPOCH, MIN_EPOCH, to_epoch
from transforms.window import Window

# A token count the quick reader takes as it is: an int (not a bool) in 0..INT64_MAX.
_Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]


class _Oid(msgspec.Struct, forbid_unknown_fields=True):
    oid: str = msgspec.field(name="$oid")


class _ToolMetrics(msgspec.Struct):
    duration: Any = None
    time: Any = None


class _Entry(msgspec.Struct):
    """A tool call of `run_data.tools`, or a message of `run_data.messages` (a tool's
    result among them): the fields either is read by."""

    role: str | None = None
    from_history: Any = None
    tool_name: str | None = None
    metrics: _ToolMetrics | None = None
    tool_call_error: Any = None


class _Metrics(msgspec.Struct):
    input_tokens: _Count | None = None
    output_tokens: _Count | None = None
    total_tokens: _Count | None = None
    cache_read_tokens: _Count | None = None
    cached_tokens: _Count | None = None
    prompt_tokens_details: Any = None
    reasoning_tokens: _Count | None = None
    completion_tokens_details: Any = None
    time_to_first_token: Any = None
    cost: Any = None
    duration: Any = None


_NO_METRICS = _Metrics()


class _RunData(msgspec.Struct):
    metrics: _Metrics | None = None
    model_provider: str | None = None
    model: str | None = None
    parent_run_id: str | None = None
    workflow_id: Any = None
    status: Any = None
    tools: list[_Entry] | None = None
    messages: list[_Entry] | None = None
    step_executor_runs: Any = msgspec.UNSET  # its presence makes a workflow run


class _RunLine(msgspec.Struct):
    id: _Oid | str | None = msgspec.field(name="_id", default=None)
    session_id: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    status: Any = None
    run_index: Any = None
    created_at: Any = None
    updated_at: Any = None
    run_data: _RunData | None = None


_DECODE = msgspec.json.Decoder(_RunLine).decode
_REFUSED = (msgspec.DecodeError, msgspec.ValidationError)


def _quoted_dollars(raw: bytes) -> int:
    """`raw.count(b'"$')`, with a byte search (memchr) when the line has at most one `$`."""
    at = raw.find(b"$")
    if at < 0:
        return 0
    if raw.find(b"$", at + 1) < 0:
        return 1 if raw[at - 1 : at] == b'"' else 0
    return raw.count(b'"$')


def _epoch(value: Any) -> float:
    return float(value) if type(value) is int and MIN_EPOCH < value < MAX_EPOCH else to_epoch(value)


def _pre_read(line: _RunLine, _id: str | None, window: Window | None) -> PreRun | None:
    """What `formats._quick_pre_read` gives for the document `line` was decoded from,
    step for step; the types it checks are msgspec's here (a line of other types never
    gets this far). It skips `encodable.problem`: a plain line has no text the coders
    cannot carry, and its nesting is within their bound."""
    run_id, stamp = line.run_id, line.created_at
    if run_id is None or not run_id.isascii() or stamp is None:
        return None
    created = _epoch(stamp)
    updated = line.updated_at
    updated = float(updated) if type(updated) is int and MIN_EPOCH < updated < MAX_EPOCH else _epoch_or_oldest(updated)
    order = (str(_id), run_id)
    index = line.run_index
    if type(index) is not int:
        index = None
    if window is not None and created >= window.end:  # set aside
        return (_id, order, created, None, index, None, updated, run_id)
    data = line.run_data
    if data is None or data.step_executor_runs is not msgspec.UNSET or data.workflow_id:
        return None
    parent = line.parent_run_id
    if parent is None:
        parent = data.parent_run_id

    m = _NO_METRICS if data.metrics is None else data.metrics
    inp, out, total = m.input_tokens or 0, m.output_tokens or 0, m.total_tokens
    if total is None:
        total = inp + out
        if total > INT64_MAX:
            return None
    cache = m.cache_read_tokens
    if cache is None:
        cache = m.cached_tokens
        if cache is None:
            if m.prompt_tokens_details is not None:
                return None
            cache = 0
    reasoning = m.reasoning_tokens
    if reasoning is None:
        if m.completion_tokens_details is not None:
            return None
        reasoning = 0
    times = (_plain_seconds(m.cost, math.inf), _plain_seconds(m.duration, YEAR_S))
    ttft = _plain_seconds(m.time_to_first_token, math.inf)
    if times[0] is False or times[1] is False or ttft is False:
        return None

    calls = data.tools
    if not calls:
        calls = [e for e in data.messages or () if e.role == "tool" and e.from_history is not True]
    tools = []
    for t in calls:
        tm = t.metrics
        if tm is None:
            duration = None
        else:
            duration = _plain_seconds(tm.time if tm.duration is None else tm.duration, YEAR_S)
            if duration is False:
                return None
        tools.append((t.tool_name, t.tool_call_error is True, duration))
    status = line.status
    if status is None:
        status = data.status
    if type(status) is str and (upper := status.upper()) in KNOWN_STATUSES:
        status = upper
    else:
        status = _status(status)
    fields = (
        run_id, parent, created, 0 if index is None else index, status, data.model_provider, data.model,
        inp, out, total, cache, reasoning, *times, ttft, tuple(tools),
    )  # fmt: skip
    return (_id, order, created, fields, index, None, updated, run_id)


def read_run_line(raw: bytes, window: Window | None) -> tuple[str, PreRun] | None:
    """(session_id, PreRun) of a plain run line (see the module's text), else None."""
    if (b"\\" in raw and b"\\u" in raw) or raw.count(b"{") + raw.count(b"[") > MAX_NESTING:
        return None  # escapes can hide a `$` key or a lone surrogate; deep lines are checked whole
    if not raw.isascii():
        try:
            raw.decode("utf-8")  # msgspec does not check the text of fields it skips
        except UnicodeDecodeError:
            return None
    try:
        line = _DECODE(raw)
    except _REFUSED:
        return None
    doc_id = line.id
    dollars = _quoted_dollars(raw)
    if type(doc_id) is _Oid:
        # json_util's ObjectId(text), and str() of it
        hex_id = doc_id.oid
        if dollars != 1 or len(hex_id) != 24:
            return None
        try:
            oid = bytes.fromhex(hex_id)
        except ValueError:
            return None
        if len(oid) != 12:  # fromhex skips spaces; the full path refuses them
            return None
        doc_id = oid.hex()
    elif dollars or (doc_id is not None and not doc_id.isascii()):
        return None
    sid = line.session_id
    if not sid:
        return None
    try:
        pre = _pre_read(line, doc_id, window)
    except Exception:  # noqa: BLE001 - the full path reads it, and gives the reason
        return None
    return None if pre is None else (sid, pre)
