"""ComputeFeatures: every metric family over each session's runs, then the row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms.metrics import combine_runs
from transforms.records import Session
from transforms.rows import assemble_row, row_problem
from transforms.tables import ROW_BUILDERS


class RowOutOfRange(ValueError):
    """A row holding a value its column type cannot hold; the message is the reason."""


def session_row(session: Session) -> dict[str, Any]:
    """The session's feature row; RowOutOfRange when a value does not fit its column
    (FEATURES.md §5: int64, finite float64, timestamps 1970..2200)."""
    row = assemble_row(session.info, combine_runs(session.runs))
    reason = row_problem(row)
    if reason is not None:
        raise RowOutOfRange(reason)
    return row


class CombineSessionRuns(beam.DoFn):
    """The families' CombineFn applied to the runs a session carries.

    Runs travel inside their session (measured faster than runs as elements on
    the DirectRunner, and no second shuffle after the join), so one accumulator
    per session takes them all; the same CombineFns serve `CombinePerKey` over
    runs unchanged. Beam's `CombineValues` is not used: it splits every input
    three ways to exercise merging, and fails on a session with no runs.
    """

    def __init__(self, companions: tuple[str, ...] = ()):
        super().__init__()
        self.companions = companions

    def process(self, session: Session) -> Iterator[dict[str, Any]]:
        # NormalizeSessions computed and checked the row; a Session made elsewhere has none yet.
        row = session.row if session.row is not None else assemble_row(session.info, combine_runs(session.runs))
        # The companion tables' rows (FEATURES.md §7) come from the same Session, and
        # only with its row: a session that emits no row emits none of them.
        companions = [(name, ROW_BUILDERS[name](session)) for name in self.companions]
        yield row
        for name, rows in companions:
            for companion in rows:
                yield beam.pvalue.TaggedOutput(name, companion)


class ComputeFeatures(beam.PTransform):
    """Session → feature row (a dict, the columns in order); with `companions`
    (`runs`, `tool_calls`) a dict {"sessions": rows, <companion>: its rows}."""

    def __init__(self, companions: tuple[str, ...] = ()):
        super().__init__()
        self.companions = tuple(companions)

    def expand(self, sessions):
        fn = CombineSessionRuns(self.companions)
        if not self.companions:
            return sessions | "CombineFamilies" >> beam.ParDo(fn)
        out = sessions | "CombineFamilies" >> beam.ParDo(fn).with_outputs(*self.companions, main="sessions")
        return {"sessions": out.sessions, **{name: out[name] for name in self.companions}}
