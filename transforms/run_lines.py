"""A run document's JSON line read straight into its PreRun: msgspec decodes only the
fields the rules read (typed Structs; everything else is skipped, never built), and
`_quick_pre_read` reads them as it reads a whole document.

For a line that takes this path the PreRun is the one the full path gives (parse the
line with json_util's semantics, key it by session_id, pre-read it): the line is
plain (valid UTF-8, no `\\u` escape, few brackets, no Extended JSON wrapper but an
`_id`'s `$oid`), every field read has the type and value range the quick reader
takes, and a value that only some decoders accept (NaN, 1e400) makes msgspec refuse
the line. Any other line returns None and takes the full path (tests/test_run_lines.py
holds the two equal on generated and mutated lines)."""

from __future__ import annotations

from typing import Any

import msgspec
from bson import ObjectId
from msgspec.structs import asdict

from transforms.formats import PreRun, _quick_pre_read
from transforms.quarantine import MAX_NESTING
from transforms.window import Window


class _Oid(msgspec.Struct, forbid_unknown_fields=True):
    oid: str = msgspec.field(name="$oid")


class _Entry(msgspec.Struct):
    """A tool call of `run_data.tools`, or a message of `run_data.messages` (a tool's
    result among them): the fields either is read by."""

    role: Any = None
    from_history: Any = None
    tool_name: Any = None
    metrics: Any = None
    tool_call_error: Any = None


class _RunData(msgspec.Struct):
    metrics: Any = None
    model_provider: Any = None
    model: Any = None
    parent_run_id: Any = None
    workflow_id: Any = None
    status: Any = None
    tools: list[_Entry] | None = None
    messages: list[_Entry] | None = None
    step_executor_runs: Any = msgspec.UNSET  # its presence makes a workflow run


class _RunLine(msgspec.Struct):
    id: _Oid | str | None = msgspec.field(name="_id", default=None)
    session_id: Any = None
    run_id: Any = None
    parent_run_id: Any = None
    status: Any = None
    run_index: Any = None
    created_at: Any = None
    updated_at: Any = None
    run_data: _RunData | None = None


_DECODE = msgspec.json.Decoder(_RunLine).decode
_REFUSED = (msgspec.DecodeError, msgspec.ValidationError)


def _entries(entries: list[_Entry] | None) -> list[dict[str, Any]] | None:
    return None if entries is None else [asdict(e) for e in entries]


def _quoted_dollars(raw: bytes) -> int:
    """`raw.count(b'"$')`, with a byte search (memchr) when the line has at most one `$`."""
    at = raw.find(b"$")
    if at < 0:
        return 0
    if raw.find(b"$", at + 1) < 0:
        return 1 if raw[at - 1 : at] == b'"' else 0
    return raw.count(b'"$')


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
        if dollars != 1:
            return None
        try:
            doc_id = ObjectId(doc_id.oid)
        except Exception:  # noqa: BLE001 - json_util refuses it: the full path says how
            return None
    elif dollars:
        return None
    sid = line.session_id
    if type(sid) is not str or not sid:
        return None
    data = line.run_data
    if data is not None:
        if data.step_executor_runs is not msgspec.UNSET:
            return None
        data = asdict(data)
        del data["step_executor_runs"]  # absent, as the quick reader must see it
        data["tools"], data["messages"] = _entries(data["tools"]), _entries(data["messages"])
    # the document as the quick reader reads it: the read fields, by their JSON names
    doc = asdict(line)
    del doc["id"]
    doc["_id"], doc["run_data"] = doc_id, data
    pre = _quick_pre_read(doc, window)
    return None if pre is None else (sid, pre)
