"""What the quarantine output carries, as text any coder and any file can take.

A quarantine record is built from whatever could not be read or normalized: a
document with lone surrogates in its keys or values, one nested deeper than the
runner's coders (pickle) can take, or bytes that do not decode at all. It is
turned into plain ASCII JSON text when it is made (`Quarantined` in
transforms/records.py), so nothing it holds can fail the shuffle or the sink.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import apache_beam as beam
from bson import json_util

from transforms.encodable import text_problem

# Containers nested below a document: MongoDB's own limit ("no more than 100 levels
# of nesting"). Deeper documents cannot cross the runner's coders (pickle fails
# near 500 levels, less when the stack is deep already) and are unreadable records.
MAX_NESTING = 100
_REPR_CHARS = 1000
DOCUMENT, UNREADABLE = "document", "unreadable"


class JsonText(str):
    """Text that is JSON already (made by `document_text`): a record built again from
    its fields does not encode it twice."""

    __slots__ = ()


class BadText(str):
    """Text with lone surrogates (a JSON escape like `\\ud800`, or bytes that were not
    UTF-8 in BSON): the same str, of a type Beam's coders hand to pickle, which carries
    it (their string coder encodes strict UTF-8 and would fail the run). FEATURES.md §5
    makes its document bad; this only gets the document that far."""

    __slots__ = ()

    def __reduce__(self):
        return BadText, (str(self),)


def _bad(text: str) -> bool:
    return text_problem(text) is not None


def mark_bad_text(value: Any) -> Any:
    """`value` with every key and string that holds lone surrogates made a BadText
    (containers rebuilt; call only on values nested at most MAX_NESTING deep)."""
    kind = type(value)
    if kind is str:
        return BadText(value) if _bad(value) else value
    if kind is dict:
        return {(BadText(k) if type(k) is str and _bad(k) else k): mark_bad_text(v) for k, v in value.items()}
    if kind is list:
        return [mark_bad_text(v) for v in value]
    return value


def deeper_than(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether containers are nested more than `limit` levels below `value`."""
    stack = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= limit:
                    return True
                push((child, depth + 1))
    return False


def json_deeper_than(raw: bytes, limit: int = MAX_NESTING) -> bool:
    """Cheap first test for a JSON line: fewer brackets than `limit` cannot nest deeper."""
    return raw.count(b"{") + raw.count(b"[") > limit


def bson_deeper_than(raw: bytes, limit: int = MAX_NESTING) -> bool:
    """Cheap first test for a BSON document: each nested document or array has a type
    byte 3 or 4, so fewer such bytes than `limit` cannot nest deeper."""
    return raw.count(b"\x03") + raw.count(b"\x04") > limit


def document_text(doc: Any) -> tuple[JsonText, str | None]:
    """(the value as relaxed Extended JSON, ASCII only, note): lone surrogates are
    `\\ud800` escapes (JSON allows them), so the text survives any coder. Values too
    deep for json_util are written by an iterative encoder (same text); a value
    Extended JSON cannot write is its truncated repr() as a string, and the note says so."""
    try:
        text, note = json_util.dumps(doc, json_options=json_util.RELAXED_JSON_OPTIONS), None
    except Exception:  # noqa: BLE001 - RecursionError, a value of no BSON type, …
        text, note = _iterative_json(doc)
    return JsonText(text), note


def _leaf(value: Any) -> tuple[str, bool]:
    try:
        return json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS), False
    except Exception:  # noqa: BLE001 - no Extended JSON form: keep what repr() can tell
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001
            text = f"<{type(value).__name__}>"
        return json.dumps(text[:_REPR_CHARS]), True


def _iterative_json(doc: Any) -> tuple[str, str | None]:
    """The same text as json_util.dumps, whatever the nesting (no recursion)."""
    out: list[str] = []
    replaced = False
    # Work items: a value to write, or a literal piece of text (str).
    stack: list[tuple[bool, Any]] = [(False, doc)]
    while stack:
        literal, item = stack.pop()
        if literal:
            out.append(item)
            continue
        if isinstance(item, dict):
            parts: list[tuple[bool, Any]] = [(True, "{")]
            for i, (key, value) in enumerate(item.items()):
                parts += [(True, (", " if i else "") + json.dumps(str(key)) + ": "), (False, value)]
            parts.append((True, "}"))
            stack.extend(reversed(parts))
        elif isinstance(item, (list, tuple)):
            parts = [(True, "[")]
            for i, value in enumerate(item):
                parts += [(True, ", ")] if i else []
                parts.append((False, value))
            parts.append((True, "]"))
            stack.extend(reversed(parts))
        else:
            text, bad = _leaf(item)
            replaced |= bad
            out.append(text)
    note = "values without an Extended JSON form are written as their repr()" if replaced else None
    return "".join(out), note


def raw_text(data: bytes) -> str:
    """The bytes of an unreadable record: standard base64 (with padding)."""
    return base64.b64encode(data).decode("ascii")


def count_quarantine(q: Any) -> tuple[str, int]:
    """A quarantine record's count: `unreadable_records` or `quarantined`."""
    return ("unreadable_records" if q.kind == UNREADABLE else "quarantined", 1)


class CountQuarantine(beam.PTransform):
    """(count name, 1) per quarantine record; the counts sink sums them."""

    def expand(self, pcoll):
        return pcoll | beam.Map(count_quarantine)
