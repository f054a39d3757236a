"""Reading dump folders (mongoexport JSON lines, mongodump BSON) and shaping any
in-memory stream of documents like a server read: same documents, same rows."""

from __future__ import annotations

import os
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


def loads_extended_json(line: str) -> Any:
    """Exactly `bson.json_util.loads(line)` (the same value, or the same error), faster
    (13 µs instead of 17–28 µs for a run document of the benchmarks): orjson parses,
    then json_util's own hook converts the Extended JSON wrappers. Anything orjson would
    read differently (integers beyond 64 bits, which it makes floats) or refuses (NaN,
    invalid text), and any error in a wrapper, are left to json_util itself."""
    if orjson is None:
        return json_util.loads(line)
    try:
        raw = line.encode()
    except UnicodeEncodeError:  # lone surrogates
        return json_util.loads(line)
    # 19 digits in a row (also inside strings, harmlessly) may be an integer beyond 64 bits.
    if _NINETEEN_DIGITS in raw.translate(_DIGITS_TO_ZERO):
        return json_util.loads(line)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json_util.loads(line)
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


class ParseJsonLine(beam.DoFn):
    """One Extended JSON (relaxed or canonical) line as a document; a line that does
    not parse goes to the quarantine output whole."""

    def __init__(self, what: str):
        self.what = what

    def process(self, line: str) -> Iterator[Any]:
        if not line.strip():
            return
        try:
            doc = loads_extended_json(line)
        except (ValueError, TypeError) as exc:
            reason = f"{self.what} line is not valid Extended JSON: {str(exc).splitlines()[0][:200]}"
            yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(None, None, reason, line))
            return
        if not isinstance(doc, dict):
            reason = f"{self.what} line is not a JSON object"
            yield beam.pvalue.TaggedOutput(QUARANTINE, Quarantined(None, None, reason, line))
            return
        yield doc


def _read_bson(path: str) -> Iterator[dict]:
    import bson

    with FileSystems.open(path) as handle:
        yield from bson.decode_file_iter(handle)


def _split_size(path: str) -> int:
    """Bytes per split of a JSON-lines file: Beam's own choice for a source of that size
    (`Read.get_desired_chunk_size`: 1 MB at least, ~5.5 MB for 30 MB, ~55 MB for 3 GB)."""
    from apache_beam.io.iobase import Read

    return Read.get_desired_chunk_size(FileSystems.match([path])[0].metadata_list[0].size_in_bytes)


class ReadDumpCollection(beam.PTransform):
    """Every document of one collection in a dump folder. A JSON-lines file is cut into
    byte ranges that are reshuffled before they are read (`ReadAllFromText`), so the
    ranges of one file are read and parsed by as many workers as there are: with
    `ReadFromText` the portable Spark runner reads every split of a file in the task
    that read its name, one worker per file. BSON files are read sequentially."""

    def __init__(self, folder: str, collection: str, what: str):
        super().__init__()
        self.folder, self.collection, self.what = folder, collection, what

    def expand(self, pbegin):
        parts = []
        quarantine = []
        for i, path in enumerate(dump_files(self.folder, self.collection)):
            if path.endswith(".bson"):
                parts.append(pbegin | f"File{i}" >> beam.Create([path]) | f"Bson{i}" >> beam.FlatMap(_read_bson))
            else:
                parsed = (
                    pbegin
                    | f"Path{i}" >> beam.Create([path])
                    | f"Lines{i}" >> beam.io.ReadAllFromText(desired_bundle_size=_split_size(path))
                    | f"Parse{i}" >> beam.ParDo(ParseJsonLine(self.what)).with_outputs(QUARANTINE, main="docs")
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
    def __init__(self, folder: str, collection: str, runs_collection: str, window: Window):
        super().__init__()
        self.folder, self.collection, self.runs_collection, self.window = (
            folder,
            collection,
            runs_collection,
            window,
        )

    def expand(self, pbegin):
        sessions, bad_sessions = pbegin | "SessionFiles" >> ReadDumpCollection(self.folder, self.collection, "session")
        runs, bad_runs = pbegin | "RunFiles" >> ReadDumpCollection(self.folder, self.runs_collection, "run")
        out = (sessions, runs) | "Shape" >> ShapeDocuments(self.window)
        out["quarantine"] = (out["quarantine"], bad_sessions, bad_runs) | "AllBadInput" >> beam.Flatten()
        return out

    def orphans(self, candidates):
        # every session of the dump was seen, so a candidate is an orphan
        return candidates | "OrphanRuns" >> beam.Values()


def resolve_dump_folder(source: str, database: str | None) -> str:
    """A plain path or file:// URL; mongodump's `<dir>/<db>/` layout is followed when present."""
    folder = local_path(source)
    if database and os.path.isdir(os.path.join(folder, database)):
        return os.path.join(folder, database)
    return folder
