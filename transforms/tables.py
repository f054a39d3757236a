"""The tables a run can write (FEATURES.md §7), defined once: name → folder, file
prefix, columns; and the companion tables' rows, pure functions of a Session.

    <run folder>/data/features-00000-of-00001.csv           sessions
    <run folder>/runs/runs-00000-of-00001.csv               runs
    <run folder>/tool_calls/tool_calls-00000-of-00001.csv   tool_calls

Each table has a folder of its own, so a reader pointed at it reads that table and
nothing else. The companion rows hold exactly what the session row is computed
from: the normalized runs of the Session after the point-in-time cut.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from transforms.columns import COLUMNS, RUN_COLUMNS, TOOL_CALL_COLUMNS, Column
from transforms.records import Run, Session


class Table(NamedTuple):
    name: str
    folder: str  # in the run folder
    prefix: str  # of its files' names
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


SESSIONS = Table("sessions", "data", "features", COLUMNS, ("session_id",))
RUNS = Table("runs", "runs", "runs", RUN_COLUMNS, ("session_id", "run_seq"))
TOOL_CALLS = Table("tool_calls", "tool_calls", "tool_calls", TOOL_CALL_COLUMNS, ("session_id", "run_seq", "call_index"))
TABLES: dict[str, Table] = {t.name: t for t in (SESSIONS, RUNS, TOOL_CALLS)}
COMPANIONS = ("runs", "tool_calls")
# Columns that name a session or run: their values differ from window to window by
# nature, so drift compares no distribution of them (transforms/drift.py).
IDENTIFIERS = frozenset({"session_id", "run_id", "parent_run_id", "root_run_id"})


def parse_tables(text: str | None) -> tuple[str, ...]:
    """`sessions,runs` → the tables in registry order; `sessions` is always written.
    Raises ValueError naming an unknown table."""
    names = {n.strip() for n in (text or "sessions").split(",") if n.strip()}
    unknown = sorted(names - TABLES.keys())
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r}: choose from {', '.join(TABLES)}")
    return tuple(n for n in TABLES if n in names or n == "sessions")


def _depths(runs: tuple[Run, ...]) -> dict[int, int]:
    """Run order → hops from its top-level run, for runs whose chain reaches one."""
    parent = {}
    top_ids = set()
    for r in runs:
        if r.run_id is not None:
            parent.setdefault(r.run_id, r.parent_run_id)
            if r.parent_run_id is None:
                top_ids.add(r.run_id)
    depths = {}
    for r in runs:
        if r.tree < 0:
            continue
        depth, run_id, seen = 0, r.parent_run_id, set()
        while run_id is not None and run_id not in top_ids and run_id not in seen:
            seen.add(run_id)
            run_id, depth = parent.get(run_id), depth + 1
        depths[r.order] = 0 if r.top else depth + 1
    return depths


def run_rows(session: Session) -> list[dict[str, Any]]:
    """One `runs` row per normalized run, in run order."""
    roots = {r.tree: r.run_id for r in session.runs if r.top}
    depths = _depths(session.runs)
    rows = []
    for r in session.runs:
        durations = [t.duration_s for t in r.tools if t.duration_s is not None]
        reached = r.tree >= 0
        rows.append(
            {
                "session_id": session.info.session_id,
                "run_seq": r.order,
                "run_id": r.run_id,
                "parent_run_id": r.parent_run_id,
                "root_run_id": roots[r.tree] if reached else None,
                "depth": depths[r.order] if reached else None,
                "top_run_index": r.tree if reached else None,
                "status": r.status,
                "model_provider": r.model_provider,
                "model_id": r.model_id,
                "created_at": r.created_at,
                "duration_s": r.duration_s,
                "ttft_s": r.ttft_s,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "total_tokens": r.total_tokens,
                "cache_read_tokens": r.cache_read_tokens,
                "reasoning_tokens": r.reasoning_tokens,
                "cost": r.cost,
                "tool_calls": len(r.tools),
                "tool_errors": sum(1 for t in r.tools if t.error),
                "tool_duration_s": sum(durations) if durations else None,
            }
        )
    return rows


def tool_call_rows(session: Session) -> list[dict[str, Any]]:
    """One `tool_calls` row per tool call, by run order then the run's tool list."""
    return [
        {
            "session_id": session.info.session_id,
            "run_seq": r.order,
            "call_index": i,
            "tool_name": t.name,
            "error": t.error,
            "duration_s": t.duration_s,
        }
        for r in session.runs
        for i, t in enumerate(r.tools)
    ]


ROW_BUILDERS = {"runs": run_rows, "tool_calls": tool_call_rows}
