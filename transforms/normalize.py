"""NormalizeSessions: join each session with its run documents, pick the winner among
duplicates, normalize it (or quarantine it whole), and count what happened."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.formats import BadDocument, PreRun, normalize_session, pre_read_run
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
        runs: list[PreRun] = list(groups["runs"])  # pre-read before the join (NormalizeSessions)
        if not docs:
            # Orphan candidates: run documents created in the window whose session is
            # not in it. `refs` counts those a source read apart from `runs` (a server's
            # runs found by session id); a source whose `runs` holds every run document
            # keyed by a string id (dumps, a scan) sends no refs: they are counted here.
            refs = sum(groups["refs"])
            if isinstance(sid, str):
                refs += sum(1 for pre in runs if _created_inside(self.window, pre[2]))
            if refs and not list(groups["known"]):
                yield beam.pvalue.TaggedOutput(CANDIDATES, (sid, refs))
            return
        # The document with the latest updated_at wins; ties go to the larger _id, so
        # the choice never depends on read order.
        docs.sort(key=lambda d: (_updated(d), str(d.get("_id"))))
        winner = docs[-1]
        if len(docs) > 1:
            yield beam.pvalue.TaggedOutput(COUNTS, ("duplicates", len(docs) - 1))
        run_docs = _distinct_runs(runs)
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


def _created_inside(window: Window, created_at: Any) -> bool:
    try:
        return window.contains(to_epoch(created_at))
    except BadTimestamp:
        return False


def pre_read(element: tuple[Any, dict]) -> tuple[Any, PreRun]:
    """(session_id, run document) → (session_id, PreRun), before the join."""
    sid, doc = element
    return sid, pre_read_run(doc)


def _distinct_runs(runs: list[PreRun]) -> list[PreRun]:
    """Run documents once each (a session id read twice reads its runs twice), in
    `_id` order (a collection's insertion order for ObjectIds): a run without
    `run_index` takes its position from this order, which must not be the order
    a runner's shuffle happens to deliver them in."""
    seen: set[str] = set()
    out = []
    for pre in runs:
        if pre[0] is not None:
            if pre[0] in seen:
                continue
            seen.add(pre[0])
        out.append(pre)
    out.sort(key=lambda pre: pre[1])
    return out


GROUPS = ("sessions", "runs", "refs", "known")
# What crosses the shuffle: (session_id, (group number, pickled value)).
_PACKED = tuple[Any, tuple[int, bytes]]


def _pack(element: tuple[Any, Any], group: int) -> tuple[Any, tuple[int, bytes]]:
    key, value = element
    return key, (group, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def _unpack(element: tuple[Any, Any]) -> tuple[Any, dict[str, list]]:
    key, tagged = element
    groups: dict[str, list] = {name: [] for name in GROUPS}
    lists = [groups[name] for name in GROUPS]
    for group, payload in tagged:
        lists[group].append(pickle.loads(payload))
    return key, groups


class GroupBySession(beam.PTransform):
    """`CoGroupByKey` of {sessions, runs, refs, known}, the same (key, {group: list})
    elements, with every value pickled to bytes for the shuffle. Beam's CoGroupByKey
    sends documents through `FastPrimitivesCoder`, which walks each nested dict in
    Python-level steps and pickles its ObjectIds one by one: with bytes the shuffle's
    coders do almost nothing, and pickle (C) encodes a document faster. Measured in
    bench/ (docs/benchmarks.md)."""

    def expand(self, pcolls: dict[str, beam.PCollection]) -> beam.PCollection:
        tagged = [
            pcolls[name] | f"Pack{name.title()}" >> beam.Map(_pack, i).with_output_types(_PACKED)
            for i, name in enumerate(GROUPS)
        ]
        return tagged | "Tagged" >> beam.Flatten() | "Group" >> beam.GroupByKey() | "Unpack" >> beam.Map(_unpack)


class NormalizeSessions(beam.PTransform):
    """{sessions, runs, refs, known} → sessions; tagged quarantine, counts, orphan candidates."""

    def __init__(self, window: Window):
        super().__init__()
        self.window = window

    def expand(self, read: dict[str, beam.PCollection]):
        keyed = read["sessions"] | "KeyBySession" >> beam.FlatMap(key_session).with_outputs(QUARANTINE, main="keyed")
        joined = {
            "sessions": keyed.keyed,
            "runs": read["runs"] | "PreReadRuns" >> beam.Map(pre_read),
            "refs": read["refs"],
            "known": read["known"],
        } | "GroupBySession" >> GroupBySession()
        out = joined | "Normalize" >> beam.ParDo(JoinAndNormalize(self.window)).with_outputs(
            QUARANTINE, COUNTS, CANDIDATES, main="sessions"
        )
        quarantine = (keyed[QUARANTINE], out[QUARANTINE], read["quarantine"]) | "AllQuarantine" >> beam.Flatten()
        return out.sessions, quarantine, out[COUNTS], out[CANDIDATES]
