"""NormalizeSessions: join each session with its run documents, pick the winner among
duplicates, normalize it (or quarantine it whole), and count what happened."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from transforms import encodable
from transforms.features import RowOutOfRange, session_row
from transforms.formats import BadDocument, InternalError, PreRun, internal_reason, normalize_session, pre_read_run
from transforms.quarantine import document_text
from transforms.records import Quarantined
from transforms.timestamps import BadTimestamp, to_epoch
from transforms.window import Window

QUARANTINE, COUNTS, CANDIDATES = "quarantine", "counts", "candidates"
NS = "session_features"


class Unencodable(NamedTuple):
    """A session document the runner's coders cannot carry (FEATURES.md §5 "Text"), as
    it crosses the shuffle: still one of its session_id's documents (it may win over a
    duplicate), with a copy that the coders carry to quarantine."""

    doc_id: str | None
    updated: float
    reason: str
    document: str  # JSON text (transforms/quarantine.py document_text)


def _id_text(doc: Any) -> str | None:
    if isinstance(doc, Unencodable):
        return doc.doc_id
    value = doc.get("_id") if isinstance(doc, dict) else None
    try:
        return None if value is None else encodable.safe_text(str(value))
    except Exception:  # noqa: BLE001 - an _id without text: the record says null
        return None


def _updated(doc: Any) -> float:
    if isinstance(doc, Unencodable):
        return doc.updated
    try:
        value = to_epoch(doc.get("updated_at"))
    except BadTimestamp:
        value = None
    return float("-inf") if value is None else value


def _rank(doc: Any) -> tuple[float, bool, str]:
    """Latest `updated_at` wins (absent or unreadable: the oldest), then the greater `_id`
    (ObjectIds as their hex strings, other ids as strings; no `_id` loses)."""
    doc_id = _id_text(doc)
    return _updated(doc), doc_id is not None, doc_id or ""


def key_session(doc: dict) -> Iterator[Any]:
    """(session_id, document); a document without a usable session_id is quarantined here,
    one whose text the coders cannot carry crosses the shuffle as an `Unencodable`."""
    sid = doc.get("session_id")
    if not (isinstance(sid, str) and sid):
        yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(_id_text(doc), None, "no session_id", doc))
        return
    reason = encodable.problem(doc)
    if reason is None:
        yield sid, doc
    else:
        # The whole document as ASCII JSON text (lone surrogates as `\ud800` escapes,
        # any nesting): what its quarantine record holds, and what the coders carry.
        text, _ = document_text(doc)
        yield encodable.safe_text(sid), Unencodable(_id_text(doc), _updated(doc), f"document holds {reason}", text)


def _one_line(text: str) -> str:
    return " ".join(encodable.safe_text(text).split())


class JoinAndNormalize(beam.DoFn):
    """One session_id's documents → a normalized Session, a quarantine record, or nothing."""

    def __init__(self, window: Window):
        self.window = window
        self.rows = Metrics.counter(NS, "sessions_normalized")
        self.bad = Metrics.counter(NS, "quarantined")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[Any]:
        sid, groups = element
        docs = list(groups["sessions"])
        # pre-read before the join, in lists of one session's runs (BundleRuns) or one by one
        runs: list[PreRun] = [pre for item in groups["runs"] for pre in (item if type(item) is list else (item,))]
        if not docs:
            # Orphan candidates: run documents created in the window, or undated (§5),
            # whose session is not in it. `refs` counts those a source read apart from
            # `runs` (a server's runs found by session id); a source whose `runs` holds
            # every run document keyed by a string id (dumps, a scan) sends no refs:
            # they are counted here.
            refs = sum(groups["refs"])
            if isinstance(sid, str):
                refs += sum(1 for pre in runs if pre[2] is None or self.window.contains(pre[2]))
            if refs and not list(groups["known"]):
                yield beam.pvalue.TaggedOutput(CANDIDATES, (sid, refs))
            return
        # The choice never depends on read order (FEATURES.md §3).
        winner = max(docs, key=_rank)
        if len(docs) > 1:
            yield beam.pvalue.TaggedOutput(COUNTS, ("duplicates", len(docs) - 1))
        if isinstance(winner, Unencodable):
            self.bad.inc()
            yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(winner.doc_id, sid, winner.reason, winner.document))
            return
        try:
            session = normalize_session(winner, _distinct_runs(runs), self.window, text_checked=True)
            # The row is computed here, where a value that does not fit its column can
            # still quarantine the document; ComputeFeatures takes it from the session.
            session = session if session is None else session._replace(row=session_row(session))
        except (BadDocument, RowOutOfRange) as exc:
            self.bad.inc()
            yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(_id_text(winner), sid, _one_line(str(exc)), winner))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must show in the counts, never stop the run (§5)
            self.bad.inc()
            reason = str(exc) if isinstance(exc, InternalError) else internal_reason(exc)
            yield beam.pvalue.TaggedOutput(COUNTS, ("internal_errors", 1))
            yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(_id_text(winner), sid, reason, winner))
            return
        if session is None:  # an undated session whose first run is outside the window
            yield beam.pvalue.TaggedOutput(COUNTS, ("sessions_outside_window", 1))
            return
        if session.unknown_statuses:
            yield beam.pvalue.TaggedOutput(COUNTS, ("unknown_statuses", session.unknown_statuses))
        self.rows.inc()
        yield session


def pre_read(element: tuple[Any, dict], window: Window | None = None) -> tuple[Any, PreRun]:
    """(session_id, run document) → (session_id, PreRun), before the join; the key as
    `key_session` writes it (a lone surrogate escaped, so the coders carry it)."""
    sid, doc = element
    return (encodable.safe_text(sid) if isinstance(sid, str) else sid), pre_read_run(doc, window)


class BundleRuns(beam.DoFn):
    """(session_id, run document) → (session_id, [PreRun, …]): the runs of a session
    that arrive in one bundle cross the shuffle as one element (a source reads a
    session's runs together: a dump in insertion order, a server by session id), so
    the join moves one element and one pickle per session instead of per run — the
    pre-combining a lifted CombinePerKey does, before a join that needs every run.
    At most MAX_SESSIONS are held at once."""

    MAX_SESSIONS = 2048

    def __init__(self, window: Window):
        self.window = window

    def start_bundle(self) -> None:
        self.held: dict[Any, list[PreRun]] = {}

    def process(self, element: tuple[Any, Any]) -> Iterator[tuple[Any, list[PreRun]]]:
        if type(element[1]) is list:  # a dump's run lines, pre-read and bundled as here (ParseLineRange)
            yield element
            return
        key, pre = pre_read(element, self.window)
        try:
            runs = self.held.get(key)
        except TypeError:  # a key that is no dict key: it crosses alone
            yield key, [pre]
            return
        if runs is not None:
            runs.append(pre)
            return
        if len(self.held) >= self.MAX_SESSIONS:
            yield from self.held.items()
            self.held = {}
        self.held[key] = [pre]

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for element in self.held.items():
            yield GlobalWindows.windowed_value(element)
        self.held = {}


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
            "runs": read["runs"] | "PreReadRuns" >> beam.ParDo(BundleRuns(self.window)),
            "refs": read["refs"],
            "known": read["known"],
        } | "GroupBySession" >> GroupBySession()
        out = joined | "Normalize" >> beam.ParDo(JoinAndNormalize(self.window)).with_outputs(
            QUARANTINE, COUNTS, CANDIDATES, main="sessions"
        )
        quarantine = (keyed[QUARANTINE], out[QUARANTINE], read["quarantine"]) | "AllQuarantine" >> beam.Flatten()
        return out.sessions, quarantine, out[COUNTS], out[CANDIDATES]
