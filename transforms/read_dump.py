"""Reading dump folders (mongoexport JSON lines, mongodump BSON) and shaping any
in-memory stream of documents like a server read: same documents, same rows."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from bson import json_util

try:
    import orjson
except ImportError:  # optional: json_util alone gives the same documents, slower
    orjson = None

from transforms.records import Quarantined
from transforms.slicing import WHOLE, Slice
from transforms.window import Window, considered

QUARANTINE = "quarantine"
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
_JSON_OPTIONS = json_util.DEFAULT_JSON_OPTIONS


def dump_files(folder: str, collection: str) -> list[str]:
    """The files holding `collection` in a dump folder: `<collection>.jsonl`/`.json`
    (one Extended JSON document per line) and/or `<collection>.bson`."""
    found = []
    for ext in (".jsonl", ".json", ".bson"):
        path = FileSystems.join(folder, collection + ext)
        if FileSystems.exists(path):
            found.append(path)
    return found


def local_path(source: str) -> str:
    return source[len("file://") :] if source.startswith("file://") else source


def _extended(value: Any) -> Any:
    """json_util's object hook applied bottom-up to orjson's output, as `json.loads(…,
    object_hook=…)` applies it: children first. The hook changes only objects with a
    `$` key (the Extended JSON wrappers)."""
    if type(value) is dict:
        for k, v in value.items():
            if type(v) is dict or type(v) is list:
                value[k] = _extended(v)
        for k in value:
            if k[:1] == "$":
                return json_util.object_hook(value, _JSON_OPTIONS)
        return value
    for i, v in enumerate(value):
        if type(v) is dict or type(v) is list:
            value[i] = _extended(v)
    return value


def _dollar_keys(value: Any) -> int:
    """How many keys starting with `$` the containers in `value` hold."""
    if type(value) is dict:
        return sum(k[:1] == "$" for k in value) + sum(_dollar_keys(v) for v in value.values())
    if type(value) is list:
        return sum(_dollar_keys(v) for v in value)
    return 0


def _fast_parse(line: str, raw: bytes | None = None) -> tuple[bytes, Any] | None:
    """(the line's bytes, orjson's value) when orjson reads the line as json_util would,
    Extended JSON wrappers not yet converted; None when json_util must read it: no
    orjson, lone surrogates, 19 digits in a row (also inside strings, harmlessly: an
    integer beyond 64 bits, which orjson makes a float), or text orjson refuses (NaN,
    invalid text). `raw`: the line's UTF-8 bytes when the caller has them."""
    if orjson is None:
        return None
    if raw is None:
        try:
            raw = line.encode()
        except UnicodeEncodeError:  # lone surrogates
            return None
    if _NINETEEN_DIGITS in raw.translate(_DIGITS_TO_ZERO):
        return None
    try:
        return raw, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _convert(raw: bytes, doc: Any, line: str) -> Any:
    """orjson's value of `raw` with its Extended JSON wrappers converted as json_util
    converts them; any error in a wrapper is left to json_util itself."""
    try:
        wrappers = raw.count(b'"$')  # every `$` key is one of these, unless escaped
        if not wrappers and b"\\u0024" not in raw:
            return doc
        if type(doc) is dict and b"\\u0024" not in raw:
            # Usually the wrappers are top-level values (`_id`, dates): convert those and
            # stop when they hold every `"$` of the line.
            seen = 0
            for k, v in doc.items():
                if type(v) is dict and v and next(iter(v))[:1] == "$":
                    seen += _dollar_keys(v)
                    doc[k] = _extended(v)
            if seen == wrappers and not any(k[:1] == "$" for k in doc):
                return doc
            doc = orjson.loads(raw)
        return _extended(doc)
    except Exception:  # noqa: BLE001 - json_util raises the error it always raised
        return json_util.loads(line)


def loads_extended_json(line: str) -> Any:
    """Exactly `bson.json_util.loads(line)` (the same value, or the same error), faster
    (13 µs instead of 17–28 µs for a run document of the benchmarks): orjson parses,
    then json_util's own hook converts the Extended JSON wrappers."""
    fast = _fast_parse(line)
    return json_util.loads(line) if fast is None else _convert(*fast, line)


_UNDECIDED = object()
_SESSION_ID = re.compile(rb'"session_id"\s*:\s*"([^"\\]*)"')


def _named_session_id(raw: bytes) -> Any:
    """The session_id a line names, read from its bytes without parsing them, or
    `_UNDECIDED`. Decided when every `"session_id"` in the line is a key with a string
    value without escapes, all the same, and the line has no `\\u` escape (a key could
    hide as `"session\\u005fid"`): a string inside a string has its quotes escaped, so
    the document's top-level session_id, if it has a string one, is that value. (A
    line without one, but naming one deeper down, is still in exactly one slice.)"""
    if b"\\u" in raw:
        return _UNDECIDED
    found = _SESSION_ID.findall(raw)
    if not found or len(found) != raw.count(b'"session_id"') or found.count(found[0]) != len(found):
        return _UNDECIDED
    try:
        return found[0].decode("utf-8")
    except UnicodeDecodeError:
        return _UNDECIDED


def _plain_session_id(value: Any) -> Any:
    """The session_id the join will key a line's document by, read from orjson's value
    before any Extended JSON conversion; `_UNDECIDED` when only the conversion can
    tell: a top-level `$` key (the whole document may be a wrapper) or a session_id
    that is an object (`{"$symbol": "s1"}` becomes the string "s1"). A value that is
    not an object stays no document (slice 0); a session_id that is neither a string
    nor an object stays no string."""
    if type(value) is not dict:
        return None
    for k in value:
        if k[:1] == "$":
            return _UNDECIDED
    sid = value.get("session_id")
    return _UNDECIDED if type(sid) is dict else sid


class ParseJsonLine(beam.DoFn):
    """One Extended JSON (relaxed or canonical) line as a document; a line that does
    not parse goes to the quarantine output whole.

    With a slice of the window, only the lines of that slice, decided as early as the
    line allows: by the session_id its bytes name (a regular expression), else right
    after orjson parsed it, else after the Extended JSON conversion (a wrapper as
    session_id). A line with no usable session_id is in slice 0."""

    def __init__(self, what: str, part: Slice = WHOLE):
        self.what, self.part = what, part

    def process(self, line: str) -> Iterator[Any]:
        key = _UNDECIDED if self.part.whole else _named_session_id(line.encode("utf-8", "surrogatepass"))
        if key is _UNDECIDED or self.part.holds(key):
            yield from self.parse(line, key)

    def parse(self, line: str, key: Any, raw: bytes | None = None) -> Iterator[Any]:
        """The line's document or quarantine record, if in the slice; `key`: the
        session_id its bytes name, or `_UNDECIDED`; `raw`: the line's UTF-8 bytes, if read
        as bytes."""
        if not line.strip():
            return
        fast = _fast_parse(line, raw)
        if key is _UNDECIDED and fast is not None and not self.part.whole:
            key = _plain_session_id(fast[1])
            if key is not _UNDECIDED and not self.part.holds(key):
                return
        try:
            doc = json_util.loads(line) if fast is None else _convert(*fast, line)
            bad = None if isinstance(doc, dict) else "line is not a JSON object"
        except (ValueError, TypeError) as exc:
            doc, bad = None, f"line is not valid Extended JSON: {str(exc).splitlines()[0][:200]}"
        if bad is not None:
            if self.part.holds(None if key is _UNDECIDED else key):
                yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(None, None, f"{self.what} {bad}", line))
            return
        if key is _UNDECIDED and not self.part.holds_doc(doc):
            return
        yield doc


def _read_bson(path: str, part: Slice = WHOLE) -> Iterator[dict]:
    import bson

    with FileSystems.open(path) as handle:
        for doc in bson.decode_file_iter(handle):
            if part.holds_doc(doc):
                yield doc


LINE_RANGE_BYTES = 16 << 20


def line_ranges(path: str, size: int, step: int = LINE_RANGE_BYTES) -> list[tuple[str, int, int]]:
    """(path, start, end): byte ranges of a file; each line belongs to the range it starts in."""
    return [(path, start, min(start + step, size)) for start in range(0, size, step)]


def read_line_range(path: str, start: int, end: int) -> Iterator[bytes]:
    """The lines that start in [start, end) of a file, as Beam's text source splits them
    (at `\\n`, a `\\r\\n` ending removed whole, a last line without an ending kept), as bytes."""
    from apache_beam.io.filesystem import CompressionTypes

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        pos = start
        if start > 0:
            handle.seek(start - 1)
            pos += len(handle.readline()) - 1  # the rest of a line that started before `start`
        while pos < end:
            raw = handle.readline()
            if not raw:
                return
            pos += len(raw)
            if raw[-1:] == b"\n":
                raw = raw[:-2] if raw[-2:-1] == b"\r" else raw[:-1]
            yield raw


class ParseLineRange(ParseJsonLine):
    """The documents (of the slice) of the lines that start in a byte range of a JSON-lines
    file. Lines are read and filtered here, not handed to the runner one by one: a line
    of another slice costs a regular expression (or an orjson parse) and nothing more.
    Kept lines are UTF-8 (strict: a file that is not fails the run, as with ReadFromText)."""

    def process(self, element: tuple[str, int, int]) -> Iterator[Any]:
        whole, holds = self.part.whole, self.part.holds
        for raw in read_line_range(*element):
            key = _UNDECIDED if whole else _named_session_id(raw)
            if key is _UNDECIDED or holds(key):
                yield from self.parse(raw.decode("utf-8"), key, raw)


class ReadDumpCollection(beam.PTransform):
    """Every document of one collection in a dump folder (JSON-lines files in parallel
    byte ranges; BSON files sequentially), or those of one slice of the window."""

    def __init__(self, folder: str, collection: str, what: str, part: Slice = WHOLE):
        super().__init__()
        self.folder, self.collection, self.what, self.part = folder, collection, what, part

    def expand(self, pbegin):
        parts = []
        quarantine = []
        for i, path in enumerate(dump_files(self.folder, self.collection)):
            if path.endswith(".bson"):
                parts.append(
                    pbegin | f"File{i}" >> beam.Create([path]) | f"Bson{i}" >> beam.FlatMap(_read_bson, self.part)
                )
            else:
                size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
                parsed = (
                    pbegin
                    | f"Ranges{i}" >> beam.Create(line_ranges(path, size))
                    | f"Spread{i}" >> beam.Reshuffle()
                    | f"Parse{i}"
                    >> beam.ParDo(ParseLineRange(self.what, self.part)).with_outputs(QUARANTINE, main="docs")
                )
                parts.append(parsed.docs)
                quarantine.append(parsed[QUARANTINE])
        docs = (parts or [pbegin | "NoFiles" >> beam.Create([])]) | "AllDocs" >> beam.Flatten()
        bad = (quarantine or [pbegin | "NoBadLines" >> beam.Create([])]) | "AllBadLines" >> beam.Flatten()
        return docs, bad


def split_sessions(doc: dict, window: Window) -> Iterator[Any]:
    """Considered sessions on the main output; others as `known` ids (they exist,
    outside the window, so their runs are not orphans)."""
    if considered(doc.get("created_at"), window):
        yield doc
    elif isinstance(doc.get("session_id"), str):
        yield beam.pvalue.TaggedOutput("known", (doc["session_id"], None))


def key_run(doc: dict, window: Window) -> Iterator[Any]:
    """(session_id, run document). Every run document goes to the join, so the orphan
    check counts the ones created in the window there (no separate refs: see
    transforms.normalize.JoinAndNormalize)."""
    sid = doc.get("session_id")
    if not isinstance(sid, str):
        yield beam.pvalue.TaggedOutput(
            QUARANTINE,
            Quarantined(_id_text(doc.get("_id")), None, "run document without a session_id", doc),
        )
        return
    yield sid, doc


def _id_text(value: Any) -> str | None:
    return None if value is None else str(value)


class ShapeDocuments(beam.PTransform):
    """Session and run documents (all of them) shaped like a server read of the window."""

    def __init__(self, window: Window):
        super().__init__()
        self.window = window

    def expand(self, pcolls):
        session_docs, run_docs = pcolls
        sessions = session_docs | "Consider" >> beam.FlatMap(split_sessions, self.window).with_outputs(
            "known", main="sessions"
        )
        runs = run_docs | "KeyRuns" >> beam.FlatMap(key_run, self.window).with_outputs("refs", QUARANTINE, main="runs")
        return {
            "sessions": sessions.sessions,
            "known": sessions.known,
            "runs": runs.runs,
            "refs": runs.refs,
            "quarantine": runs[QUARANTINE],
        }


class ReadDump(beam.PTransform):
    """A dump folder's sessions and runs, or those of one slice of the window (each
    slice reads the whole dump and keeps its own lines)."""

    def __init__(self, folder: str, collection: str, runs_collection: str, window: Window, part: Slice = WHOLE):
        super().__init__()
        self.folder, self.collection, self.runs_collection, self.window = folder, collection, runs_collection, window
        self.part = part

    def expand(self, pbegin):
        sessions, bad_sessions = pbegin | "SessionFiles" >> ReadDumpCollection(
            self.folder, self.collection, "session", self.part
        )
        runs, bad_runs = pbegin | "RunFiles" >> ReadDumpCollection(self.folder, self.runs_collection, "run", self.part)
        out = (sessions, runs) | "Shape" >> ShapeDocuments(self.window)
        out["quarantine"] = (out["quarantine"], bad_sessions, bad_runs) | "AllBadInput" >> beam.Flatten()
        return out

    def orphans(self, candidates):
        # every session of the dump was seen, so a candidate is an orphan
        return candidates | "OrphanRuns" >> beam.Values()


def dump_folder_exists(folder: str) -> bool:
    """A local folder, or a prefix of a remote store (s3://…) with at least one file under it.
    Raises what Beam's file system raises when it cannot look (credentials, network)."""
    if "://" not in folder:
        return os.path.isdir(folder)
    return bool(FileSystems.match([folder.rstrip("/") + "/**"], limits=[1])[0].metadata_list)


def resolve_dump_folder(source: str, database: str | None) -> str:
    """A plain path, a file:// URL, or a folder on any file system Beam knows (s3://bucket/prefix);
    mongodump's `<dir>/<db>/` layout is followed when present."""
    folder = local_path(source)
    if database and dump_folder_exists(FileSystems.join(folder, database)):
        return FileSystems.join(folder, database)
    return folder
