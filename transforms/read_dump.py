"""Reading dump folders (mongoexport JSON lines, mongodump BSON) and shaping any
in-memory stream of documents like a server read: same documents, same rows."""

from __future__ import annotations

import functools
import itertools
import operator
import os
import re
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import bson
import bson.errors
from apache_beam.io.filesystems import FileSystems
from bson import json_util
from bson.codec_options import CodecOptions

try:
    import orjson
except ImportError:  # optional: json_util alone gives the same documents, slower
    orjson = None

from transforms.quarantine import MAX_NESTING, bson_deeper_than, deeper_than, json_deeper_than, mark_bad_text
from transforms.records import Quarantined
from transforms.run_lines import read_run_line
from transforms.slicing import WHOLE, Slice
from transforms.window import Window, considered

QUARANTINE = "quarantine"
ORPHANS = "orphans"  # run documents without a usable session_id, counted by the reader
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
            # Each counted key is its own `"$` in the line, so when they account for all
            # of them, no top-level key starts with `$` either.
            seen = 0
            for k, v in doc.items():
                if type(v) is dict and v:
                    first = next(iter(v))
                    if first[:1] == "$":
                        if len(v) == 1 and type(inner := v[first]) is not dict and type(inner) is not list:
                            seen += 1  # {"$oid": "…"}, {"$date": "…"}: the hook alone
                            doc[k] = json_util.object_hook(v, _JSON_OPTIONS)
                        else:
                            seen += _dollar_keys(v)
                            doc[k] = _extended(v)
            if seen == wrappers:
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
    at = raw.find(b'"session_id"')
    if at < 0 or (b"\\" in raw and b"\\u" in raw):  # `\\` first: a byte is found faster than two
        return _UNDECIDED
    # The common `"session_id": "value"` found with bytes methods, each `"session_id"`
    # where `raw.count` would find it: then these matches are the regex's own (a match
    # elsewhere would be one more `"session_id"` apart from them, which count finds too).
    key = at + 15
    end = raw.find(b'"', key) + 1
    if not end or not raw.startswith(b': "', at + 12):
        return _regex_session_id(raw)
    value = raw[key : end - 1]
    same = b': "' + value + b'"'
    while (at := raw.find(b'"session_id"', at + 12)) >= 0:
        if at < end or not raw.startswith(same, at + 12):
            return _regex_session_id(raw)
        end = at + 12 + len(same)
    if b"\\" in value:
        return _regex_session_id(raw)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return _UNDECIDED


def _regex_session_id(raw: bytes) -> Any:
    """`_named_session_id` for any line (without its `\\u` test)."""
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
    not decode (not UTF-8, not JSON, not an object, nested deeper than the runner's
    coders take) is an unreadable record on the quarantine output, and reading goes on.

    With a slice of the window, only the lines of that slice, decided as early as the
    line allows: by the session_id its bytes name (`_named_session_id`), else right
    after orjson parsed it, else after the Extended JSON conversion (a wrapper as
    session_id). A line with no usable session_id is in slice 0."""

    def __init__(self, what: str, part: Slice = WHOLE):
        self.what, self.part = what, part

    def process(self, line: str) -> Iterator[Any]:
        raw = line.encode("utf-8", "surrogatepass")
        key = _UNDECIDED if self.part.whole else _named_session_id(raw)
        if key is _UNDECIDED or self.part.holds(key):
            yield from self.parse(raw, key, {})

    def parse(self, raw: bytes, key: Any, where: dict[str, Any]) -> Iterator[Any]:
        """The line's document or unreadable record, if in the slice; `key`: the
        session_id its bytes name, or `_UNDECIDED`; `where`: file, offset and line
        number for the record (a callable giving them, called only for a bad line)."""
        if not raw.strip():
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield from self._unreadable(key, f"is not UTF-8 ({exc.reason} at byte {exc.start})", raw, where)
            return
        fast = _fast_parse(line, raw)
        if key is _UNDECIDED and fast is not None and not self.part.whole:
            key = _plain_session_id(fast[1])
            if key is not _UNDECIDED and not self.part.holds(key):
                return
        try:
            doc = json_util.loads(line) if fast is None else _convert(*fast, line)
            bad = None if isinstance(doc, dict) else "is not a JSON object"
        except Exception as exc:  # noqa: BLE001 - ValueError, RecursionError, bson's errors: the line is unreadable
            doc, bad = None, f"is not valid Extended JSON: {(str(exc) or type(exc).__name__).splitlines()[0][:200]}"
        if bad is None and json_deeper_than(raw) and deeper_than(doc):
            if key is _UNDECIDED and not self.part.holds_doc(doc):
                return
            bad, key = f"nests containers deeper than {MAX_NESTING} levels", doc.get("session_id")
            where = {**where, "doc_id": _id_text(doc.get("_id"))}
            if isinstance(key, str):
                where["session_id"] = key
        if bad is not None:
            yield from self._unreadable(key, bad, raw, where)
            return
        if key is _UNDECIDED and not self.part.holds_doc(doc):
            return
        # orjson refuses lone surrogates, so only json_util's documents can hold them
        yield mark_bad_text(doc) if fast is None and b"\\u" in raw else doc

    def _unreadable(self, key: Any, bad: str, raw: bytes, where: dict[str, Any]) -> Iterator[Any]:
        if self.part.holds(None if key is _UNDECIDED else key):
            place = where.get("place")
            where = {**{k: v for k, v in where.items() if k != "place"}, **(place() if place else {})}
            yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined.unreadable(f"{self.what} line {bad}", raw, **where))


def _id_text(value: Any) -> str | None:
    return None if value is None else str(value)


# BSON text that is not UTF-8 keeps its bytes as lone surrogates (FEATURES.md §5
# makes such a document bad), the same from a dump or a server.
_ESCAPED = CodecOptions(unicode_decode_error_handler="surrogateescape")
_BEST_EFFORT = CodecOptions(unicode_decode_error_handler="replace")


def _decode(data: bytes) -> dict:
    try:
        return bson.decode(data)  # strict UTF-8: no lone surrogates
    except bson.errors.InvalidBSON:
        return mark_bad_text(bson.decode(data, _ESCAPED))


def decode_bson(data: bytes, what: str, part: Slice = WHOLE, **where: Any) -> Iterator[Any]:
    """One BSON document's bytes as a document (of the slice), or an unreadable record
    (with its `_id` and session_id when they can still be read) when they do not decode
    or nest deeper than the runner's coders take."""
    try:
        doc = _decode(data)
    except Exception as exc:  # noqa: BLE001 - InvalidBSON, RecursionError, …: this document is unreadable
        doc, bad = None, f"{what} document does not decode: {(str(exc) or type(exc).__name__).splitlines()[0][:200]}"
    else:
        if not (bson_deeper_than(data) and deeper_than(doc)):
            if part.holds_doc(doc):
                yield doc
            return
        bad = f"{what} document nests containers deeper than {MAX_NESTING} levels"
    ids = _best_effort_ids(data) if doc is None else doc
    sid = ids.get("session_id") if isinstance(ids.get("session_id"), str) else None
    if part.holds(sid):
        yield beam.pvalue.TaggedOutput(
            QUARANTINE, Quarantined.unreadable(bad, data, doc_id=_id_text(ids.get("_id")), session_id=sid, **where)
        )


def _best_effort_ids(data: bytes) -> dict[str, Any]:
    try:
        doc = bson.decode(data, _BEST_EFFORT)
    except Exception:  # noqa: BLE001 - nothing can be read of it
        return {}
    return {k: doc.get(k) for k in ("_id", "session_id")}


def read_bson_file(path: str, what: str, part: Slice = WHOLE) -> Iterator[Any]:
    """The documents (of the slice) of a mongodump `.bson` file, read one length prefix
    at a time: a document that does not decode is one unreadable record and reading
    goes on; a length prefix that cannot be right (too short, past the end of the
    file, no terminating zero) makes the rest of the file one unreadable record
    (slice 0)."""
    from apache_beam.io.filesystem import CompressionTypes

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        offset = 0
        while head := handle.read(4):
            size = int.from_bytes(head, "little", signed=True) if len(head) == 4 else 0
            data = head + (handle.read(size - 4) if size >= 5 else b"")
            if size < 5 or len(data) < size or data[-1] != 0:
                rest = data + handle.read()
                why = (
                    f"a length prefix of {size}" if size < 5 or len(data) == size else
                    f"a document of {size} bytes where {len(rest)} are left"
                )  # fmt: skip
                if part.holds(None):
                    reason = f"{what} file is unreadable from here on: {why}"
                    record = Quarantined.unreadable(reason, rest, file=path, offset=offset)
                    yield beam.pvalue.TaggedOutput(QUARANTINE, record)
                return
            yield from decode_bson(data, what, part, file=path, offset=offset)
            offset += size


LINE_RANGE_BYTES = 16 << 20


def line_ranges(path: str, size: int, step: int = LINE_RANGE_BYTES) -> list[tuple[str, int, int]]:
    """(path, start, end): byte ranges of a file; each line belongs to the range it starts in."""
    return [(path, start, min(start + step, size)) for start in range(0, size, step)]


def read_line_range(path: str, start: int, end: int) -> Iterator[bytes]:
    """The lines that start in [start, end) of a file, as Beam's text source splits them
    (at `\\n`, a `\\r\\n` ending removed whole, a last line without an ending kept), as bytes."""
    for _, raw in read_lines_at(path, start, end):
        yield raw


READ_BLOCK_BYTES = 1 << 20


def read_lines_at(path: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) of the lines that start in [start, end) (see read_line_range),
    read in blocks of READ_BLOCK_BYTES and split with bytes methods."""
    from apache_beam.io.filesystem import CompressionTypes

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        pos = start
        if start > 0:
            handle.seek(start - 1)
            pos += len(handle.readline()) - 1  # the rest of a line that started before `start`
        left = end - pos  # bytes up to `end` not read yet
        head: list[bytes] = []  # the start of a line the blocks so far did not end
        while left > 0:
            block = handle.read(min(READ_BLOCK_BYTES, left))
            if not block:
                break
            left -= len(block)
            if b"\n" not in block:
                head.append(block)
                continue
            lines = block.split(b"\n")
            if head:
                head.append(lines[0])
                lines[0] = b"".join(head)
                head = []
            tail = lines.pop()
            # offset of line i: pos + the lengths of the lines before it + i newlines
            offsets = map(operator.add, itertools.accumulate(map(len, lines), initial=pos), itertools.count())
            if b"\r" in block or b"\r" in lines[0]:  # (`offsets` keep reading the unstripped lines)
                lines = [raw[:-1] if raw[-1:] == b"\r" else raw for raw in lines]
            yield from zip(offsets, lines)
            pos = end - left - len(tail)
            if tail:
                head.append(tail)
        if head:  # a line that starts before `end` and ends after it (or at the file's end)
            raw = b"".join(head) + handle.readline()
            if raw[-1:] == b"\n":
                raw = raw[:-2] if raw[-2:-1] == b"\r" else raw[:-1]
            yield pos, raw


def lines_before(path: str, offset: int) -> int:
    """How many lines end before byte `offset` of a file (the line number of a line
    starting there is this + 1)."""
    from apache_beam.io.filesystem import CompressionTypes

    count, left = 0, offset
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        while left > 0:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


class ParseLineRange(ParseJsonLine):
    """The documents (of the slice) of the lines that start in a byte range of a JSON-lines
    file. Lines are read and filtered here, not handed to the runner one by one: a line
    of another slice costs a search of its bytes (or an orjson parse) and nothing more.
    An unreadable line's record names the file, its byte offset and line number.

    With `runs_window`, a file of run documents: a plain run line becomes its PreRun
    here, read for that window (transforms/run_lines.py), and the PreRuns of a session
    that a range holds leave together as one (session_id, [PreRun, …]) element (at
    most HELD_SESSIONS held at once), as BundleRuns would make them; only the other
    lines are documents."""

    HELD_SESSIONS = 2048

    def __init__(self, what: str, part: Slice = WHOLE, runs_window: Window | None = None):
        super().__init__(what, part)
        self.runs_window = runs_window

    def process(self, element: tuple[str, int, int]) -> Iterator[Any]:
        path = element[0]
        whole, holds = self.part.whole, self.part.holds
        window, quick = self.runs_window, self.runs_window is not None
        first: list[int] = []  # (offset of the range's first line, lines before it), once needed
        held: dict[str, list] = {}

        for i, (offset, raw) in enumerate(read_lines_at(*element)):
            key = _UNDECIDED if whole else _named_session_id(raw)
            if key is _UNDECIDED or holds(key):
                # a sliced run's undecided line is the full path's to place
                if quick and (whole or key is not _UNDECIDED) and (run := read_run_line(raw, window)) is not None:
                    runs = held.get(run[0])
                    if runs is not None:
                        runs.append(run[1])
                        continue
                    if len(held) >= self.HELD_SESSIONS:
                        yield from held.items()
                        held = {}
                    held[run[0]] = [run[1]]
                    continue
                yield from self.parse(raw, key, {"place": functools.partial(_place, path, first, i, offset)})
        yield from held.items()


def _place(path: str, first: list[int], i: int, offset: int) -> dict[str, Any]:
    """Where the `i`-th line of a range (at `offset`) is; `first` caches the number of
    lines before the range, counted the first time a line of the range needs it."""
    if not first:
        first.append(lines_before(path, offset) - i)
    return {"file": path, "offset": offset, "line": first[0] + i + 1}


class ReadDumpCollection(beam.PTransform):
    """Every document of one collection in a dump folder (JSON-lines files in parallel
    byte ranges; BSON files sequentially), or those of one slice of the window."""

    def __init__(self, folder: str, collection: str, what: str, part: Slice = WHOLE, runs_window: Window | None = None):
        super().__init__()
        self.folder, self.collection, self.what, self.part = folder, collection, what, part
        self.runs_window = runs_window  # see ParseLineRange

    def expand(self, pbegin):
        parts = []
        quarantine = []
        for i, path in enumerate(dump_files(self.folder, self.collection)):
            if path.endswith(".bson"):
                parsed = (
                    pbegin
                    | f"File{i}" >> beam.Create([path])
                    | f"Bson{i}"
                    >> beam.FlatMap(read_bson_file, self.what, self.part).with_outputs(QUARANTINE, main="docs")
                )
            else:
                size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
                parsed = (
                    pbegin
                    | f"Ranges{i}" >> beam.Create(line_ranges(path, size))
                    | f"Spread{i}" >> beam.Reshuffle()
                    | f"Parse{i}"
                    >> beam.ParDo(ParseLineRange(self.what, self.part, self.runs_window)).with_outputs(
                        QUARANTINE, main="docs"
                    )
                )
            parts.append(parsed.docs)
            quarantine.append(parsed[QUARANTINE])
        docs = (parts or [pbegin | "NoFiles" >> beam.Create([])]) | "AllDocs" >> beam.Flatten()
        bad = (quarantine or [pbegin | "NoBadLines" >> beam.Create([])]) | "AllBadLines" >> beam.Flatten()
        return docs, bad


def usable_session_id(sid: Any) -> bool:
    """A session_id a session can have, a shuffle can key by and a query can name: a
    non-empty string of valid Unicode (text that was not UTF-8 in BSON decodes to lone
    surrogates, and a JSON line can hold them as escapes)."""
    if not isinstance(sid, str) or not sid:
        return False
    try:
        sid.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def split_sessions(doc: dict, window: Window) -> Iterator[Any]:
    """Considered sessions on the main output; others as `known` ids (they exist,
    outside the window, so their runs are not orphans)."""
    if considered(doc.get("created_at"), window):
        yield doc
    elif usable_session_id(doc.get("session_id")):
        yield beam.pvalue.TaggedOutput("known", (doc["session_id"], None))


def key_run(doc: dict, window: Window) -> Iterator[Any]:
    """(session_id, run document). Every run document with a usable session_id (a
    non-empty string) goes to the join, so the orphan check counts the ones created in
    the window there (no separate refs: see transforms.normalize.JoinAndNormalize). One
    without (absent, null, empty, not a string, not valid Unicode) belongs to no session that exists: an
    orphan, counted here when its created_at is in the window or absent (FEATURES.md §5).
    A dump's plain run lines arrive keyed and pre-read, a (session_id, [PreRun, …])
    tuple (see ParseLineRange): it goes on as it is."""
    if type(doc) is tuple:
        yield doc
        return
    sid = doc.get("session_id")
    if usable_session_id(sid):
        yield sid, doc
    elif considered(doc.get("created_at"), window):
        yield beam.pvalue.TaggedOutput(ORPHANS, 1)


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
        runs = run_docs | "KeyRuns" >> beam.FlatMap(key_run, self.window).with_outputs(
            "refs", QUARANTINE, ORPHANS, main="runs"
        )
        return {
            "sessions": sessions.sessions,
            "known": sessions.known,
            "runs": runs.runs,
            "refs": runs.refs,
            "quarantine": runs[QUARANTINE],
            ORPHANS: runs[ORPHANS],
        }


def orphan_counts(read: dict[str, Any], candidates: Any) -> Any:
    """A source's orphan counts: the join's candidates (every session of the source was
    seen, so each is an orphan) and the run documents without a usable session_id."""
    return (candidates | "OrphanRuns" >> beam.Values(), read[ORPHANS]) | "AllOrphans" >> beam.Flatten()


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
        runs, bad_runs = pbegin | "RunFiles" >> ReadDumpCollection(
            self.folder, self.runs_collection, "run", self.part, runs_window=self.window
        )
        out = (sessions, runs) | "Shape" >> ShapeDocuments(self.window)
        out["quarantine"] = (out["quarantine"], bad_sessions, bad_runs) | "AllBadInput" >> beam.Flatten()
        self._read = out
        return out

    def orphans(self, candidates):
        return orphan_counts(self._read, candidates)


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
