"""Reading dump folders (mongoexport JSON lines, mongodump BSON) and shaping any
in-memory stream of documents like a server read: same documents, same rows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.records import Quarantined
from transforms.timestamps import BadTimestamp, to_epoch
from transforms.window import Window, considered

QUARANTINE = "quarantine"


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


class ParseJsonLine(beam.DoFn):
    """One Extended JSON (relaxed or canonical) line as a document; a line that does
    not parse goes to the quarantine output whole."""

    def __init__(self, what: str):
        self.what = what

    def process(self, line: str) -> Iterator[Any]:
        from bson import json_util

        if not line.strip():
            return
        try:
            doc = json_util.loads(line)
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


class ReadDumpCollection(beam.PTransform):
    """Every document of one collection in a dump folder (JSON lines are read in
    parallel splits by Beam's text source; BSON files sequentially)."""

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
                    | f"Lines{i}" >> beam.io.ReadFromText(path)
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
    """(session_id, run document), and a (session_id, 1) ref when it was created in the window."""
    sid = doc.get("session_id")
    if not isinstance(sid, str):
        yield beam.pvalue.TaggedOutput(
            QUARANTINE,
            Quarantined(_id_text(doc.get("_id")), None, "run document without a session_id", doc),
        )
        return
    yield sid, doc
    try:
        inside = window.contains(to_epoch(doc.get("created_at")))
    except BadTimestamp:
        inside = False
    if inside:
        yield beam.pvalue.TaggedOutput("refs", (sid, 1))


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
