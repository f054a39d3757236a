"""ComputeFeatures: every metric family over each session's runs, then the row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms.metrics import combine_runs
from transforms.records import Session
from transforms.rows import assemble_row, row_problem


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

    def process(self, session: Session) -> Iterator[dict[str, Any]]:
        # NormalizeSessions computed and checked it; a Session made elsewhere has none yet.
        yield session.row if session.row is not None else assemble_row(session.info, combine_runs(session.runs))


class ComputeFeatures(beam.PTransform):
    """Session → feature row (a dict, the columns in order)."""

    def expand(self, sessions):
        return sessions | "CombineFamilies" >> beam.ParDo(CombineSessionRuns())
