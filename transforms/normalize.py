"""NormalizeSessions: join each session with its run documents, pick the winner among
duplicates, normalize it (or quarantine it whole), and count what happened."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.formats import BadDocument, normalize_session
from transforms.records import Quarantined
from transforms.timestamps import BadTimestamp, to_epoch
from transforms.window import Window

QUARANTINE, COUNTS, CANDIDATES = "quarantine", "counts", "candidates"
NS = "session_features"


def _id_text(doc: Any) -> str | None:
    value = doc.get("_id") if isinstance(doc, dict) else None
    return None if value is None else str(value)


def _updated(doc: dict) -> float:
    try:
        value = to_epoch(doc.get("updated_at"))
    except BadTimestamp:
        value = None
    return float("-inf") if value is None else value


def key_session(doc: dict) -> Iterator[Any]:
    """(session_id, document); a document without a usable session_id is quarantined here."""
    sid = doc.get("session_id")
    if isinstance(sid, str) and sid:
        yield sid, doc
    else:
        yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(_id_text(doc), None, "no session_id", doc))


class JoinAndNormalize(beam.DoFn):
    """One session_id's documents → a normalized Session, a quarantine record, or nothing."""

    def __init__(self, window: Window):
        self.window = window
        self.rows = Metrics.counter(NS, "sessions_normalized")
        self.bad = Metrics.counter(NS, "quarantined")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[Any]:
        sid, groups = element
        docs = list(groups["sessions"])
        refs = sum(groups["refs"])
        if not docs:
            if refs and not list(groups["known"]):
                yield beam.pvalue.TaggedOutput(CANDIDATES, (sid, refs))
            return
        # The document with the latest updated_at wins; ties go to the larger _id, so
        # the choice never depends on read order.
        docs.sort(key=lambda d: (_updated(d), str(d.get("_id"))))
        winner = docs[-1]
        if len(docs) > 1:
            yield beam.pvalue.TaggedOutput(COUNTS, ("duplicates", len(docs) - 1))
        run_docs = _distinct_runs(groups["runs"])
        try:
            session = normalize_session(winner, run_docs, self.window)
        except BadDocument as exc:
            self.bad.inc()
            yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(_id_text(winner), sid, str(exc), winner))
            return
        if session is None:  # an undated session whose first run is outside the window
            yield beam.pvalue.TaggedOutput(COUNTS, ("sessions_outside_window", 1))
            return
        if session.unknown_statuses:
            yield beam.pvalue.TaggedOutput(COUNTS, ("unknown_statuses", session.unknown_statuses))
        self.rows.inc()
        yield session


def _distinct_runs(run_docs) -> list[dict]:
    """Run documents once each (a session id read twice reads its runs twice)."""
    seen: set[str] = set()
    out = []
    for doc in run_docs:
        key = str(doc.get("_id")) if doc.get("_id") is not None else None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(doc)
    return out


class NormalizeSessions(beam.PTransform):
    """{sessions, runs, refs, known} → sessions; tagged quarantine, counts, orphan candidates."""

    def __init__(self, window: Window):
        super().__init__()
        self.window = window

    def expand(self, read: dict[str, beam.PCollection]):
        keyed = read["sessions"] | "KeyBySession" >> beam.FlatMap(key_session).with_outputs(QUARANTINE, main="keyed")
        joined = {
            "sessions": keyed.keyed,
            "runs": read["runs"],
            "refs": read["refs"],
            "known": read["known"],
        } | "GroupBySession" >> beam.CoGroupByKey()
        out = joined | "Normalize" >> beam.ParDo(JoinAndNormalize(self.window)).with_outputs(
            QUARANTINE, COUNTS, CANDIDATES, main="sessions"
        )
        quarantine = (keyed[QUARANTINE], out[QUARANTINE], read["quarantine"]) | "AllQuarantine" >> beam.Flatten()
        return out.sessions, quarantine, out[COUNTS], out[CANDIDATES]
