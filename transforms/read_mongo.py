"""Reading a window of sessions and their runs from MongoDB (6–8, Atlas) or FerretDB.

Beam's `ReadFromMongoDB` splits a whole collection by `_id` with `splitVector`
or `$bucketAuto` (absent on Atlas and FerretDB) and fails on empty
collections. We read the window instead: it is split into time ranges, each a
plain `find` with the window filter and a projection, so every server that
speaks the wire protocol can answer, and an index on `created_at` is used.
agno3 runs are read by `session_id $in` batches of the window's sessions (the
runs collection's `session_id` index), which also finds a session's runs that
started before the window.

A slice of the window (transforms/slicing.py) is filtered here, client-side, right
after each document is read: every slice reads the window's sessions (and, with the
`scan` plan, the whole runs collection) from the server again, so K slices cost K
reads. A hash of session_id cannot be computed by the server portably (`$function`
is absent on Atlas' lower tiers and FerretDB, `$toHashedIndexKey` is MongoDB 7+).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam

from transforms.formats import pre_read_run
from transforms.read_dump import ORPHANS, QUARANTINE, decode_bson, usable_session_id
from transforms.secrets import redact
from transforms.slicing import WHOLE, Slice
from transforms.window import Window, considered

log = logging.getLogger(__name__)

SESSION_FIELDS = (
    "_id", "session_id", "session_type", "agent_id", "team_id", "workflow_id",
    "agent_data", "team_data", "workflow_data", "session_data", "metadata", "summary",
    "runs", "memory", "user_data", "created_at", "updated_at",
)  # fmt: skip
RUN_FIELDS = (
    "_id", "run_id", "session_id", "parent_run_id", "status", "run_index", "created_at", "run_data",
)  # fmt: skip
# Session ids per `$in` query for agno3 runs: large batches keep the number of
# queries low (each is a full scan on servers without an index on session_id).
RUN_BATCH_MIN, RUN_BATCH_MAX = 500, 5_000


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def created_at_filter(part: Window, untyped: bool) -> dict[str, Any]:
    """`created_at` in `part` as epoch seconds, epoch ms or a BSON date; with
    `untyped`, also documents without one or with a string (parsed afterwards)."""
    start, end = dt.datetime.fromtimestamp(part.start, dt.UTC), dt.datetime.fromtimestamp(part.end, dt.UTC)
    ors: list[dict[str, Any]] = [
        {"created_at": {"$gte": _number(part.start), "$lt": _number(part.end)}},
        {"created_at": {"$gte": _number(part.start * 1000), "$lt": _number(part.end * 1000)}},
        {"created_at": {"$gte": start, "$lt": end}},
    ]
    if untyped:
        ors += [{"created_at": None}, {"created_at": {"$type": "string"}}]
    return {"$or": ors}


def count_window_sessions(uri: str, database: str, collection: str, window: Window, max_ms: int) -> int | None:
    """How many session documents the window's server filter fetches (a superset of
    those it considers), counted by the server in at most `max_ms` with an index on
    created_at; None when the server cannot tell in time, or has no such index (the
    count would be one more scan of the collection: FerretDB v1 spent ~15 s on it at
    10k sessions in the benchmark)."""
    import pymongo.errors

    try:
        with client(uri) as mongo:
            if not uses_index(mongo[database], collection, created_at_filter(window, False)):
                return None
            return mongo[database][collection].count_documents(created_at_filter(window, True), maxTimeMS=max_ms)
    except pymongo.errors.PyMongoError:
        return None


def runs_collection_name(collection: str, runs_collection: str | None) -> str:
    """FEATURES.md §1: the flag, else `agno_runs` beside `agno_sessions`, else `<collection>_runs`."""
    if runs_collection:
        return runs_collection
    return "agno_runs" if collection == "agno_sessions" else f"{collection}_runs"


# Frozen or lost connections: every network operation of a read gives up after
# SOCKET_TIMEOUT_MS (unless the URI sets socketTimeoutMS), and the read is retried
# READ_ATTEMPTS times in all, RETRY_WAIT_S × 2^n apart, without emitting twice what an
# earlier attempt emitted. The pre-flight check gives up on a server after CHECK_TIMEOUT_MS.
SOCKET_TIMEOUT_MS, SELECTION_TIMEOUT_MS, CHECK_TIMEOUT_MS = 120_000, 10_000, 4_000
READ_ATTEMPTS, RETRY_WAIT_S = 4, 0.5


def _uri_options(uri: str) -> set[str]:
    """The option names a URI sets (lower case), read without resolving anything."""
    import urllib.parse

    query = urllib.parse.urlsplit(uri).query
    return {name.lower() for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}


def client(uri: str, check: bool = False):
    """A client for reads, or (`check`) for the pre-flight check: its timeouts are the
    defaults above unless the URI sets them."""
    import pymongo

    if check:
        defaults = {"serverSelectionTimeoutMS": CHECK_TIMEOUT_MS, "connectTimeoutMS": CHECK_TIMEOUT_MS}
    else:
        defaults = {"serverSelectionTimeoutMS": SELECTION_TIMEOUT_MS, "socketTimeoutMS": SOCKET_TIMEOUT_MS}
    given = _uri_options(uri)
    options = {k: v for k, v in defaults.items() if k.lower() not in given}
    return pymongo.MongoClient(uri, appname="session-features", **options)


class MongoReadError(RuntimeError):
    """A read that failed READ_ATTEMPTS times: the run fails with this one line."""


def _retryable() -> tuple[type[BaseException], ...]:
    import pymongo.errors

    return pymongo.errors.ConnectionFailure, pymongo.errors.CursorNotFound


def _id_key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:  # a document or array as _id
        import bson

        return "bson", bson.encode({"": value})
    return type(value).__name__, value


class _MongoFn(beam.DoFn):
    def __init__(self, uri: str, database: str, collection: str):
        self.uri, self.database, self.collection = uri, database, collection

    def setup(self) -> None:
        from bson.codec_options import CodecOptions
        from bson.raw_bson import RawBSONDocument

        self._client = client(self.uri)
        # Raw documents, decoded one by one (transforms.read_dump.decode_bson): one that
        # does not decode is an unreadable record, not a failed batch.
        raw = CodecOptions(document_class=RawBSONDocument)
        self._coll = self._client[self.database][self.collection].with_options(codec_options=raw)

    def teardown(self) -> None:
        self._client.close()

    def read(self, find: Callable[[], Iterable[Any]], what: str, part: Slice = WHOLE) -> Iterator[Any]:
        """The documents (and unreadable records) of `find()`'s cursor, of the slice;
        a lost or frozen connection re-runs the query, skipping what was emitted (by
        `_id`), up to READ_ATTEMPTS times; then MongoReadError."""
        where = f"{self.database}.{self.collection}"
        seen: set[Any] = set()
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                for raw in find():
                    data = bytes(raw.raw)  # a memoryview of the reply for some servers' batches
                    for out in decode_bson(data, what, part, collection=where):
                        key = ("raw", data) if isinstance(out, beam.pvalue.TaggedOutput) else _id_key(out.get("_id"))
                        if key not in seen:
                            seen.add(key)
                            yield out
                return
            except _retryable() as exc:
                reason = (str(exc) or type(exc).__name__).split(", Timeout: ")[0].splitlines()[0][:300]
                if attempt == READ_ATTEMPTS:
                    raise MongoReadError(
                        f"reading {what} documents from MongoDB failed {attempt} times, the last: {redact(reason)}"
                    ) from None
                log.warning("reading %s documents from MongoDB failed (%s); trying again", what, redact(reason))
                time.sleep(RETRY_WAIT_S * 2 ** (attempt - 1))


class _Progress:
    """Log lines with counts and rates while a long read goes on."""

    def __init__(self, what: str, every: int = 50_000):
        self.what, self.every, self.n, self.t0 = what, every, 0, time.monotonic()

    def tick(self) -> None:
        self.n += 1
        if self.n % self.every == 0:
            rate = self.n / max(time.monotonic() - self.t0, 1e-9)
            log.info("read %s %s so far (%.0f/s)", f"{self.n:,}", self.what, rate)


class ReadSessionRange(_MongoFn):
    """The session documents of one time range that the window considers (of the slice)."""

    def __init__(self, uri: str, database: str, collection: str, window: Window, part: Slice = WHOLE):
        super().__init__(uri, database, collection)
        self.window, self.part = window, part

    def process(self, part: tuple[Window, bool]) -> Iterator[dict]:
        rng, untyped = part
        progress = _Progress("sessions")

        def find():
            return self._coll.find(created_at_filter(rng, untyped), {f: 1 for f in SESSION_FIELDS}, batch_size=1000)

        for doc in self.read(find, "session", self.part):
            # The server filter may fetch a superset; the exact test is made here.
            if isinstance(doc, beam.pvalue.TaggedOutput) or considered(doc.get("created_at"), self.window):
                progress.tick()
                yield doc


class ReadRunsOfSessions(_MongoFn):
    """agno3 run documents of a batch of session ids, keyed by session_id."""

    def process(self, session_ids: list[str]) -> Iterator[Any]:
        query = {"session_id": {"$in": list(dict.fromkeys(session_ids))}}
        for doc in self.read(lambda: self._coll.find(query, {f: 1 for f in RUN_FIELDS}, batch_size=1000), "run"):
            yield doc if isinstance(doc, beam.pvalue.TaggedOutput) else (doc["session_id"], doc)


class ReadRunRefs(_MongoFn):
    """(session_id, 1) for each run document created in the window or undated (of the
    slice; a run without created_at has its run_data's): the orphan check's input; 1 on
    the ORPHANS output for each such run document without a usable session_id (absent,
    null, empty, not a string: no session has it; dated by created_at alone, as key_run)."""

    def __init__(self, uri: str, database: str, collection: str, window: Window, part: Slice = WHOLE):
        super().__init__(uri, database, collection)
        self.window, self.part = window, part

    def process(self, part: tuple[Window, bool]) -> Iterator[Any]:
        rng, _ = part
        fields = {"session_id": 1, "created_at": 1}
        undated: list[Any] = []
        for doc in self.read(lambda: self._coll.find(created_at_filter(rng, True), fields), "run", self.part):
            if isinstance(doc, beam.pvalue.TaggedOutput) or not considered(doc.get("created_at"), self.window):
                continue  # a projection that does not decode: the run is read whole by the lookup
            sid = doc.get("session_id")
            if not usable_session_id(sid):
                yield beam.pvalue.TaggedOutput(ORPHANS, 1)
            elif doc.get("created_at") is None:
                undated.append(doc.get("_id"))
            else:
                yield sid, 1
        for start in range(0, len(undated), RUN_BATCH_MAX):
            yield from self._dated_by_run_data(undated[start : start + RUN_BATCH_MAX])

    def _dated_by_run_data(self, ids: list[Any]) -> Iterator[tuple[str, int]]:
        """A run without created_at is dated by its run_data's, as the join dates the runs
        of a dump or a scan (formats.pre_read_run): those few are read whole."""
        find = lambda: self._coll.find({"_id": {"$in": ids}}, {f: 1 for f in RUN_FIELDS})  # noqa: E731
        for doc in self.read(find, "run"):
            if isinstance(doc, dict):
                created = pre_read_run(doc, self.window)[2]
                if created is None or self.window.contains(created):
                    yield doc["session_id"], 1


class CountMissingSessions(_MongoFn):
    """For (session_id, runs) candidates: the runs whose session exists nowhere."""

    def process(self, batch: list[tuple[str, int]]) -> Iterator[int]:
        ids = [sid for sid, _ in batch if usable_session_id(sid)]
        find = lambda: self._coll.find({"session_id": {"$in": ids}}, {"session_id": 1})  # noqa: E731
        found = {d["session_id"] for d in self.read(find, "session") if isinstance(d, dict)}
        for sid, n in batch:
            if sid not in found:
                yield n


def window_parts(window: Window, parts: int) -> list[tuple[Window, bool]]:
    """Sub-ranges of the window; the first also reads undated and string-dated documents."""
    return [(part, i == 0) for i, part in enumerate(window.split(parts))]


class ScanRuns(_MongoFn):
    """Every run document of the collection, keyed by session_id, in one query. The join
    keeps exactly the runs the `$in` lookups would find (those of the window's sessions),
    and counts the orphan candidates among the others (no refs query needed): the plan
    for servers that cannot use an index on session_id, where each lookup batch would
    be a full scan."""

    def __init__(self, uri: str, database: str, collection: str, window: Window, part: Slice = WHOLE):
        super().__init__(uri, database, collection)
        self.window, self.part = window, part

    def process(self, _: Any) -> Iterator[tuple[str, dict]]:
        progress = _Progress("run documents")
        find = lambda: self._coll.find({}, {f: 1 for f in RUN_FIELDS}, batch_size=1000)  # noqa: E731
        for doc in self.read(find, "run", self.part):
            if isinstance(doc, beam.pvalue.TaggedOutput):
                yield doc
                continue
            sid = doc.get("session_id")
            if usable_session_id(sid):  # in the slice (read() filters): a lookup by session id finds no other
                progress.tick()
                yield sid, doc
            elif considered(doc.get("created_at"), self.window):
                yield beam.pvalue.TaggedOutput(ORPHANS, 1)  # read() kept it in slice 0 only


class ReadPlan(NamedTuple):
    """How a window is read: `session_ranges` time ranges of sessions, and agno3 runs by
    `lookup` (session_id `$in` batches, plus a refs query) or one `scan` of the runs."""

    session_ranges: int
    runs: str  # "lookup" or "scan"


def uses_index(db, collection: str, query: dict[str, Any]) -> bool | None:
    """Whether the server answers `query` with an index scan (explain's winning plan
    names IXSCAN and no COLLSCAN); None when it cannot tell."""
    import pymongo.errors

    try:
        plan = db.command("explain", {"find": collection, "filter": query}, verbosity="queryPlanner")
    except pymongo.errors.PyMongoError:
        return None
    text = str(plan.get("queryPlanner", plan))
    return "IXSCAN" in text and "COLLSCAN" not in text


def read_plan(uri: str, database: str, collection: str, runs_collection: str, window: Window, parts: int) -> ReadPlan:
    """Index-backed servers (MongoDB with indexes on created_at and session_id) read the
    window's sessions in `parts` parallel ranges and look their runs up by id. A server
    that scans the whole collection for every query (FerretDB v1; MongoDB without those
    indexes) would scan once per range and once per lookup batch: it gets one range and
    one scan of the runs collection instead, the same documents in the fewest scans."""
    try:
        with client(uri) as mongo:
            db = mongo[database]
            sessions_indexed = uses_index(db, collection, created_at_filter(window, False))
            runs_indexed = uses_index(db, runs_collection, {"session_id": {"$in": ["", "-"]}})
    except Exception:  # noqa: BLE001 - unknown server: keep the plan for indexed servers
        sessions_indexed = runs_indexed = None
    plan = ReadPlan(parts if sessions_indexed is not False else 1, "scan" if runs_indexed is False else "lookup")
    if sessions_indexed is False or runs_indexed is False:
        log.info(
            "the server uses no index on %s: reading sessions in %d range(s), runs by %s",
            " and ".join(
                name
                for name, indexed in (
                    (f"{collection}.created_at", sessions_indexed),
                    (f"{runs_collection}.session_id", runs_indexed),
                )
                if indexed is False
            ),
            plan.session_ranges,
            "one scan of the collection" if plan.runs == "scan" else "session_id lookups",
        )
    return plan


class ReadMongo(beam.PTransform):
    """sessions, runs (keyed), refs (keyed) and an orphan counter for a MongoDB source,
    of the whole window or one slice of it (`part`).

    `plan` (a ReadPlan) is chosen from the server's query plans when not given."""

    def __init__(
        self,
        uri: str,
        database: str,
        collection: str,
        runs_collection: str,
        window: Window,
        parts: int,
        plan: ReadPlan | None = None,
        part: Slice = WHOLE,
    ):
        super().__init__()
        self.uri, self.database, self.collection = uri, database, collection
        self.runs_collection, self.window, self.parts, self.plan = runs_collection, window, parts, plan
        self.part = part

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        plan = self.plan or read_plan(
            self.uri, self.database, self.collection, self.runs_collection, self.window, self.parts
        )
        parts = window_parts(self.window, plan.session_ranges)
        ranges = pbegin | "Ranges" >> beam.Create(parts) | "SpreadRanges" >> beam.Reshuffle()
        sessions = ranges | "ReadSessions" >> beam.ParDo(
            ReadSessionRange(self.uri, self.database, self.collection, self.window, self.part)
        ).with_outputs(QUARANTINE, main="docs")
        if plan.runs == "scan":
            runs = (
                pbegin
                | "RunsCollection" >> beam.Create([None])
                | "ScanRuns"
                >> beam.ParDo(
                    ScanRuns(self.uri, self.database, self.runs_collection, self.window, self.part)
                ).with_outputs(QUARANTINE, ORPHANS, main="docs")
            )
            refs = pbegin | "NoRefs" >> beam.Create([])
            orphans = runs[ORPHANS]
        else:
            runs = (
                sessions.docs
                | "SessionIds" >> beam.FlatMap(_session_id)
                | "BatchIds" >> beam.BatchElements(min_batch_size=RUN_BATCH_MIN, max_batch_size=RUN_BATCH_MAX)
                | "ReadRuns"
                >> beam.ParDo(ReadRunsOfSessions(self.uri, self.database, self.runs_collection)).with_outputs(
                    QUARANTINE, main="docs"
                )
            )
            # One query: refs are few (session_id and created_at only).
            refs = (
                pbegin
                | "WholeWindow" >> beam.Create([(self.window, False)])
                | "ReadRunRefs"
                >> beam.ParDo(
                    ReadRunRefs(self.uri, self.database, self.runs_collection, self.window, self.part)
                ).with_outputs(ORPHANS, main="refs")
            )
            orphans, refs = refs[ORPHANS], refs.refs
        self._unkeyed = orphans
        return {
            "sessions": sessions.docs,
            "runs": runs.docs,
            "refs": refs,
            "known": pbegin | "NoKnown" >> beam.Create([]),
            "quarantine": (sessions[QUARANTINE], runs[QUARANTINE]) | "Unreadable" >> beam.Flatten(),
            ORPHANS: orphans,
        }

    def orphans(self, candidates: beam.PCollection) -> beam.PCollection:
        missing = (
            candidates
            | "BatchCandidates" >> beam.BatchElements(min_batch_size=1, max_batch_size=RUN_BATCH_MAX)
            | "LookUpSessions" >> beam.ParDo(CountMissingSessions(self.uri, self.database, self.collection))
        )
        return (missing, self._unkeyed) | "AllOrphans" >> beam.Flatten()


def _session_id(doc: dict) -> Iterable[str]:
    sid = doc.get("session_id")
    if usable_session_id(sid):
        yield sid
