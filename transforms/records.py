"""The canonical records every storage format is normalized into (FEATURES.md §2).

NamedTuples: cheap to pickle between workers and to build per run.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from transforms.quarantine import DOCUMENT, UNREADABLE, JsonText, document_text, raw_text

KNOWN_STATUSES = frozenset({"COMPLETED", "ERROR", "CANCELLED", "PAUSED", "PENDING", "RUNNING", "REGENERATED"})
INCOMPLETE_STATUSES = frozenset({"PENDING", "RUNNING", "PAUSED"})


class ToolCall(NamedTuple):
    name: str | None
    error: bool
    duration_s: float | None


class Run(NamedTuple):
    run_id: str | None
    parent_run_id: str | None
    created_at: float
    position: int
    status: str
    model_provider: str | None
    model_id: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    cost: float | None
    duration_s: float | None
    ttft_s: float | None
    tools: tuple[ToolCall, ...]
    # Set when the session is assembled: order in the session, whether the run is
    # top-level, and the order of the top-level run whose tree holds it (-1: none).
    order: int = 0
    top: bool = True
    tree: int = -1


class SessionInfo(NamedTuple):
    session_id: str
    session_type: str
    source_format: str
    agent_id: str | None
    agent_name: str | None
    model_provider: str | None  # the session's own model: the fallback for runs
    model_id: str | None
    session_start: float


class Session(NamedTuple):
    info: SessionInfo
    runs: tuple[Run, ...]
    unknown_statuses: int
    # Its feature row (transforms.features.session_row), once computed and checked.
    row: dict | None = None


class _QuarantinedFields(NamedTuple):
    doc_id: str | None
    session_id: str | None
    reason: str
    document: str | None  # JSON text (ASCII): the whole document as relaxed Extended JSON
    note: str | None = None  # how `document` departs from plain Extended JSON, if it does
    kind: str = DOCUMENT  # or UNREADABLE: bytes that did not decode to a document
    file: str | None = None  # an unreadable record's dump file …
    collection: str | None = None  # … or server collection (database.collection)
    line: int | None = None  # 1-based line of a JSON-lines file
    offset: int | None = None  # byte offset in the file
    raw: str | None = None  # the record's bytes, base64


class Quarantined(_QuarantinedFields):
    """A quarantine record, built as text any coder can carry: `document` is given as
    the document itself and turned into ASCII JSON text here (transforms/quarantine.py),
    whatever its nesting or lone surrogates (the other fields are str or None; pickle,
    the coder a NamedTuple subclass gets, carries lone surrogates in them, and the
    quarantine line escapes them). Building it again from its fields gives the same record."""

    __slots__ = ()

    def __new__(
        cls,
        doc_id: Any,
        session_id: Any,
        reason: Any,
        document: Any,
        note: str | None = None,
        kind: str = DOCUMENT,
        file: str | None = None,
        collection: str | None = None,
        line: int | None = None,
        offset: int | None = None,
        raw: str | None = None,
    ):
        if document is not None and type(document) is not JsonText:
            document, found = document_text(document)
            note = note or found
        texts = (doc_id, session_id, reason, note, kind, file, collection)
        doc_id, session_id, reason, note, kind, file, collection = (
            t if t is None or type(t) is str else str(t) for t in texts
        )
        fields = (doc_id, session_id, reason, document, note, kind, file, collection, line, offset, raw)
        return super().__new__(cls, *fields)

    def __reduce__(self):
        return _rebuild, (tuple(self),)

    @classmethod
    def unreadable(cls, reason: str, data: bytes | None, **where: Any) -> Quarantined:
        """Bytes that decode to no document (or to one no coder can carry): `where` names
        file or collection, line, offset; `doc_id`/`session_id` when they could still be
        read; `document` when there is one."""
        raw = None if data is None else raw_text(data)
        return cls(
            where.pop("doc_id", None), where.pop("session_id", None), reason, where.pop("document", None),
            kind=UNREADABLE, raw=raw, **where,
        )  # fmt: skip


def _rebuild(fields: tuple) -> Quarantined:
    return tuple.__new__(Quarantined, fields)
