"""The canonical records every storage format is normalized into (FEATURES.md §2).

NamedTuples: cheap to pickle between workers and to build per run.
"""

from __future__ import annotations

from typing import NamedTuple

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


class Quarantined(NamedTuple):
    doc_id: str | None
    session_id: str | None
    reason: str
    document: str  # the whole document as relaxed Extended JSON
