"""Documents no coder can carry as they are, from every source, end to end: nested
deeper than the runner's coders take (unreadable records), and text with lone
surrogates (JSON escapes, or BSON bytes that are not UTF-8) in keys, values and
session_id (bad documents, FEATURES.md §5). The run finishes, the document is in the
quarantine output, the other sessions' rows are unchanged.

FerretDB replaces text that is not UTF-8 when it stores it and refuses documents nested
500 levels deep, so the server is given what it keeps: 150 levels (MongoDB itself
stops at 100)."""

from __future__ import annotations

import base64
import json

import apache_beam as beam
import bson
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from bson import json_util
from dataset_io import read_dataset, read_manifest, read_quarantine, run_pipeline

from transforms.read_dump import ReadDumpCollection

T0 = 1733821200  # 2024-12-10T09:00:00Z
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def session(sid: str, tokens: int, **extra) -> dict:
    return {"session_id": sid, "session_type": "agent", "agent_id": "a1", "agent_data": {"name": "A"},
            "created_at": T0, "updated_at": T0,
            "runs": [{"run_id": "r", "created_at": T0, "status": "COMPLETED",
                      "metrics": {"input_tokens": tokens, "output_tokens": 2}}], **extra}  # fmt: skip


def nested(levels: int) -> dict | list:
    value: dict | list = {"leaf": 1}
    for i in range(levels - 1):
        value = {"a": value} if i % 2 else [value]
    return value


GOOD = [session("g-1", 10), session("g-2", 20)]


def check_good_rows(out) -> None:
    rows = read_dataset(out)
    assert sorted(rows) == ["g-1", "g-2"]
    assert (rows["g-1"]["input_tokens_sum"], rows["g-2"]["input_tokens_sum"]) == ("10", "20")
    assert rows["g-1"]["agent_name"] == "A" and rows["g-2"]["total_runs"] == "1"


def write(folder, fmt: str, sessions: list, runs: list) -> None:
    folder.mkdir()
    for name, docs in (("agno_sessions", sessions), ("agno_runs", runs)):
        if fmt == "jsonl":
            (folder / f"{name}.jsonl").write_bytes(b"".join(d if isinstance(d, bytes) else _line(d) for d in docs))
        else:
            (folder / f"{name}.bson").write_bytes(b"".join(d if isinstance(d, bytes) else bson.encode(d) for d in docs))


def _line(doc: dict) -> bytes:
    return json_util.dumps(doc).encode() + b"\n"


def deep_line(levels: int, sid: str) -> bytes:
    """A session line 500+ levels deep, written by hand (json.dumps recurses)."""
    head = json.dumps(session(sid, 1))[:-1] + ', "metadata": '
    return (head + '{"a": ' * levels + "1" + "}" * levels + "}\n").encode()


# ----------------------------------------------------------------- deep nesting


@pytest.mark.parametrize("fmt", ["jsonl", "bson"])
def test_documents_nested_500_levels_deep_are_unreadable_records_of_a_dump(tmp_path, fmt):
    if fmt == "jsonl":
        sessions = [*GOOD, deep_line(600, "deep-s")]
    else:
        sessions = [*GOOD, session("deep-s", 1, metadata=nested(600))]
    run = {"run_id": "deep-r", "session_id": "ghost", "created_at": T0}
    if fmt == "jsonl":
        runs = [(json.dumps(run)[:-1] + ', "run_data": ' + "[" * 520 + "]" * 520 + "}\n").encode()]
    else:
        runs = [{**run, "run_data": {"x": nested(520)}}]
    write(tmp_path / "dump", fmt, sessions, runs)
    out = tmp_path / "out"
    assert run_pipeline(["--source", str(tmp_path / "dump"), *DATES, "--output", str(out)]) == 0
    check_good_rows(out)
    records = read_quarantine(out)
    assert sorted((q["kind"], q["file"].rsplit("/", 1)[1]) for q in records) == [
        ("unreadable", f"agno_runs.{fmt}"),
        ("unreadable", f"agno_sessions.{fmt}"),
    ]
    assert all("deeper than 100 levels" in q["reason"] or "recursion" in q["reason"] for q in records)
    counts = read_manifest(out)["counts"]
    assert (counts["unreadable_records"], counts["quarantined"], counts["rows_written"]) == (2, 0, 2)


def test_documents_nested_past_mongodbs_limit_are_unreadable_records_of_a_server(ferretdb, mongo_db, tmp_path):
    mongo_db["agno_sessions"].insert_many([*[dict(d) for d in GOOD], session("deep-s", 1, metadata=nested(150))])
    mongo_db["agno_runs"].insert_one({"run_id": "deep-r", "session_id": "ghost", "created_at": T0,
                                      "run_data": {"x": nested(150)}})  # fmt: skip
    out = tmp_path / "out"
    assert run_pipeline(["--source", ferretdb.uri, "--database", mongo_db.name, *DATES, "--output", str(out)]) == 0
    check_good_rows(out)
    records = read_quarantine(out)
    assert sorted((q["kind"], q["collection"], q["session_id"]) for q in records) == [
        ("unreadable", f"{mongo_db.name}.agno_runs", "ghost"),
        ("unreadable", f"{mongo_db.name}.agno_sessions", "deep-s"),
    ]
    # the bytes are the document as the server sent it
    deep = next(q for q in records if q["session_id"] == "deep-s")
    assert bson.decode(base64.b64decode(deep["bytes"]))["metadata"] == nested(150)
    counts = read_manifest(out)["counts"]
    assert (counts["unreadable_records"], counts["rows_written"]) == (2, 2)


# ----------------------------------------------------------------- lone surrogates


def not_utf8(doc: dict, text: str) -> bytes:
    """`doc`'s BSON with the UTF-8 of `text` (2 bytes) replaced by two bytes that are not UTF-8."""
    data = bson.encode(doc)
    assert len(text.encode()) == 2 and data.count(text.encode()) == 1
    return data.replace(text.encode(), b"\xff\xfe")


def test_a_dump_line_with_lone_surrogates_is_read_and_crosses_the_shuffle(tmp_path):
    line = b'{"session_id": "v", "metadata": {"k\\ud800": "x\\udfff"}}\n'
    (tmp_path / "agno_sessions.jsonl").write_bytes(line)
    with TestPipeline() as p:
        docs, _ = p | ReadDumpCollection(str(tmp_path), "agno_sessions", "session")
        got = docs | beam.Reshuffle() | beam.Map(lambda d: ascii(d["metadata"]))
        assert_that(got, equal_to(["{'k\\ud800': 'x\\udfff'}"]))


@pytest.mark.parametrize("fmt", ["jsonl", "bson"])
def test_lone_surrogates_quarantine_their_document_and_nothing_else(tmp_path, fmt):
    if fmt == "jsonl":
        bad = [
            _line(session("in-value", 1, metadata={"k": "x"})).replace(b'"x"', b'"x\\ud800"'),
            _line(session("in-key", 1, metadata={"kk": 1})).replace(b'"kk"', b'"k\\udfff"'),
            _line(session("in-name", 1)).replace(b'"A"', b'"A\\ud800"'),
            _line(session("in-sid-xx", 1)).replace(b"in-sid-xx", b"in-sid-\\udc80"),
        ]
    else:
        bad = [
            not_utf8(session("in-value", 1, metadata={"k": "é"}), "é"),
            not_utf8(session("in-key", 1, metadata={"é": 1}), "é"),
            not_utf8(session("in-name", 1, agent_data={"name": "é"}), "é"),
            not_utf8(session("in-sid-é", 1), "é"),
        ]
    write(tmp_path / "dump", fmt, [*GOOD, *bad], [])
    out = tmp_path / "out"
    assert run_pipeline(["--source", str(tmp_path / "dump"), *DATES, "--output", str(out)]) == 0
    check_good_rows(out)
    records = read_quarantine(out)
    assert len(records) == 4 and all(q.get("kind") is None for q in records)
    assert read_manifest(out)["counts"]["quarantined"] == 4
