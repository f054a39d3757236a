"""Unreadable records (FEATURES.md §5): a dump line that is not UTF-8, not JSON, not an
object or nested deeper than the runner's coders take; a `.bson` document that does not
decode; the rest of a `.bson` file after a broken length prefix. Each is one record of
the quarantine output (file, line or byte offset, reason, bytes in base64), counted as
`unreadable_records`, and reading goes on with the next record."""

from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import apache_beam as beam
import bson
from apache_beam.coders import coders
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from dataset_io import read_dataset, read_manifest, read_quarantine, run_pipeline

from transforms.quarantine import BadText
from transforms.read_dump import ReadDumpCollection
from transforms.records import Quarantined
from transforms.write import quarantine_line

T0 = 1733821200  # 2024-12-10T09:00:00Z
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def nested(levels: int) -> dict | list:
    """`levels` containers, one inside the other (dicts and lists in turn)."""
    value: dict | list = {"leaf": 1}
    for i in range(levels - 1):
        value = {"a": value} if i % 2 else [value]
    return value


def nested_json(below: int) -> bytes:
    """A JSON line whose containers nest `below` levels below the document."""
    return b'{"session_id": "deep", "a": ' + b'{"a": ' * below + b"1" + b"}" * (below + 1)


def record(q: Quarantined) -> tuple:
    """What a test compares of an unreadable record: place, reason's start, the bytes."""
    return q.kind, q.file is not None, q.line, q.offset, base64.b64decode(q.raw), q.reason.split(":")[0]


def read_collection(folder: Path, collection: str, what: str) -> tuple:
    """(documents' session_ids, unreadable records) of the real dump reader, in a pipeline."""
    p = TestPipeline()
    docs, bad = p | ReadDumpCollection(str(folder), collection, what)
    return p, docs | "Ids" >> beam.Map(lambda d: d.get("session_id")), bad | "Records" >> beam.Map(record)


# ----------------------------------------------------------------- JSON lines

LINE_OK_1 = b'{"session_id": "ok-1", "created_at": 1733821200}'
LINE_LATIN1 = b'{"session_id": "latin-1", "name": "caf\xe9"}'  # é in Latin-1: not UTF-8
LINE_CUT = b'{"session_id": "cut", "runs": [{"run_id"'
LINE_ARRAY = b"[1, 2]"
LINE_DEEP = nested_json(150)  # orjson parses it; pickle at the shuffle would not
LINE_DEEPER = nested_json(1500)  # no JSON decoder takes it
LINE_OK_2 = b'{"session_id": "ok-2"}'
NOT_UTF8 = "invalid continuation byte"  # 0xe9 followed by a quote


def test_each_unreadable_dump_line_is_a_record_and_reading_goes_on(tmp_path):
    lines = [LINE_OK_1, LINE_LATIN1, LINE_CUT, b"", LINE_ARRAY, LINE_DEEP, LINE_DEEPER, LINE_OK_2]
    (tmp_path / "agno_sessions.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    offsets = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    p, ids, bad = read_collection(tmp_path, "agno_sessions", "session")
    assert_that(ids, equal_to(["ok-1", "ok-2"]))
    assert_that(
        bad,
        equal_to(
            [
                ("unreadable", True, 2, offsets[1], LINE_LATIN1, f"session line is not UTF-8 ({NOT_UTF8} at byte 38)"),
                ("unreadable", True, 3, offsets[2], LINE_CUT, "session line is not valid Extended JSON"),
                ("unreadable", True, 5, offsets[4], LINE_ARRAY, "session line is not a JSON object"),
                ("unreadable", True, 6, offsets[5], LINE_DEEP, "session line nests containers deeper than 100 levels"),
                ("unreadable", True, 7, offsets[6], LINE_DEEPER, "session line is not valid Extended JSON"),
            ]
        ),  # fmt: skip
        label="Unreadable",
    )
    p.run()


def test_a_line_nested_as_deep_as_mongodb_allows_is_a_document(tmp_path):
    # 100 levels below the document is MongoDB's own limit: still read
    (tmp_path / "agno_sessions.jsonl").write_bytes(nested_json(100) + b"\n" + nested_json(101) + b"\n")
    p, ids, bad = read_collection(tmp_path, "agno_sessions", "session")
    assert_that(ids, equal_to(["deep"]))
    assert_that(bad | beam.Map(lambda r: r[2]), equal_to([2]), label="Line2")
    p.run()


# ----------------------------------------------------------------- BSON


def garbled_string(doc: dict, text: str) -> bytes:
    """`doc`'s BSON with the length of string `text` made 99 (its document length intact)."""
    data = bytearray(bson.encode(doc))
    at = data.index(text.encode()) - 4
    data[at : at + 4] = (99).to_bytes(4, "little")
    return bytes(data)


def test_each_undecodable_bson_document_is_a_record_and_reading_goes_on(tmp_path):
    ok_1, ok_2 = bson.encode({"session_id": "ok-1", "n": 1}), bson.encode({"session_id": "ok-2"})
    garbled = garbled_string({"_id": 7, "session_id": "garbled", "s": "abc"}, "abc")
    deep = bson.encode({"_id": 8, "session_id": "deep", "a": nested(150)})
    cut = bson.encode({"session_id": "cut", "text": "x" * 40})[:30]  # the file ends inside it
    parts = [ok_1, garbled, deep, ok_2, cut]
    (tmp_path / "agno_runs.bson").write_bytes(b"".join(parts))
    offsets = [sum(map(len, parts[:i])) for i in range(len(parts))]
    p, ids, bad = read_collection(tmp_path, "agno_runs", "run")
    assert_that(ids, equal_to(["ok-1", "ok-2"]))
    assert_that(
        bad,
        equal_to(
            [
                ("unreadable", True, None, offsets[1], garbled, "run document does not decode"),
                ("unreadable", True, None, offsets[2], deep, "run document nests containers deeper than 100 levels"),
                ("unreadable", True, None, offsets[4], cut, "run file is unreadable from here on"),
            ]
        ),  # fmt: skip
        label="Unreadable",
    )
    p.run()


def test_a_broken_length_prefix_makes_the_rest_of_the_bson_file_one_record(tmp_path):
    ok = bson.encode({"session_id": "ok-1"})
    rest = b"\x03\x00\x00\x00" + bson.encode({"session_id": "never-read"})  # length 3: impossible
    no_zero = bson.encode({"session_id": "x"})[:-1] + b"\x01"  # a length that ends on no terminator
    for name, body, tail in (("short", ok + rest, rest), ("unterminated", ok + no_zero + ok, no_zero + ok)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "agno_sessions.bson").write_bytes(body)
        p, ids, bad = read_collection(folder, "agno_sessions", "session")
        assert_that(ids, equal_to(["ok-1"]))
        why = "session file is unreadable from here on"
        assert_that(bad, equal_to([("unreadable", True, None, len(ok), tail, why)]), label="Rest")
        p.run()


def test_bson_text_that_is_not_utf8_is_read_with_its_bytes_as_lone_surrogates(tmp_path):
    # invalid UTF-8 with an intact structure is a document (FEATURES.md §5 makes it bad),
    # as a server read gives it: the bytes 0xff 0xfe are the lone surrogates \udcff \udcfe
    data = bson.encode({"session_id": "s-1", "name": "ab"}).replace(b"ab", b"\xff\xfe")
    (tmp_path / "agno_sessions.bson").write_bytes(data)
    with TestPipeline() as p:
        docs, bad = p | ReadDumpCollection(str(tmp_path), "agno_sessions", "session")
        crossed = docs | beam.Reshuffle() | beam.Map(lambda d: (ascii(d["name"]), type(d["name"]) is BadText))
        assert_that(crossed, equal_to([("'\\udcff\\udcfe'", True)]))
        assert_that(bad, equal_to([]), label="NoRecords")


# ----------------------------------------------------------------- the records themselves

LONE = {"k\ud800": "v\udfff", "session_id": "s\udc80", "list": ["\ud83d"]}


def test_a_quarantine_record_carries_lone_surrogates_and_any_nesting_as_ascii_json():
    deep = nested(800)  # beyond what json_util (500) and pickle take
    for doc in (LONE, deep, {"_id": bson.ObjectId("6" * 24), "deep": nested(600)}):
        q = Quarantined("id\ud800", "s\udc80", "reason \udfff", doc)
        line = quarantine_line(q)
        assert line.isascii()
        back = json.loads(line)
        assert (back["_id"], back["session_id"], back["reason"]) == ("id\ud800", "s\udc80", "reason \udfff")
        if doc is LONE:
            assert back["document"] == LONE  # JSON's \ud800 escapes give the same text back
        # pickle (the coder Beam gives the record) and a rebuild from its fields keep it whole
        assert pickle.loads(pickle.dumps(q)) == q == Quarantined(*q)
        coder = coders.FastPrimitivesCoder()
        assert coder.decode(coder.encode(q)) == q
    back = json.loads(quarantine_line(Quarantined(None, None, "deep", deep)))["document"]
    for _ in range(799):  # the same 800 levels, written without recursion
        back = back["a"] if isinstance(back, dict) else back[0]
    assert back == {"leaf": 1}


def test_a_value_without_an_extended_json_form_is_its_repr_with_a_note():
    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    back = json.loads(quarantine_line(Quarantined("1", None, "x", {"o": Odd(), "n": 2})))
    assert back["document"] == {"o": "<odd>", "n": 2}
    assert back["note"] == "values without an Extended JSON form are written as their repr()"


def test_an_unreadable_record_line_names_its_place_and_bytes():
    where = {"file": "dump/agno_sessions.jsonl", "line": 4, "offset": 96}
    q = Quarantined.unreadable("session line is not UTF-8", b"\xff{", **where)
    assert json.loads(quarantine_line(q)) == {
        "_id": None,
        "session_id": None,
        "reason": "session line is not UTF-8",
        "document": None,
        "kind": "unreadable",
        "file": "dump/agno_sessions.jsonl",
        "line": 4,
        "offset": 96,
        "bytes": "/3s=",  # base64 of ff 7b
    }


def test_records_with_lone_surrogates_cross_a_shuffle_and_reach_the_sink(tmp_path):
    out = tmp_path / "q"
    with TestPipeline() as p:
        records = p | beam.Create([0, 1]) | beam.Map(lambda i: Quarantined(str(i), "s\ud800", "r", {**LONE, "i": i}))
        lines = records | beam.Reshuffle() | beam.Map(quarantine_line)
        lines | beam.io.WriteToText(str(out), num_shards=1, shard_name_template="")
    got = sorted(json.loads(x)["document"]["i"] for x in out.read_text().splitlines())
    assert got == [0, 1]


# ----------------------------------------------------------------- end to end


def session(sid: str, tokens: int) -> dict:
    return {"session_id": sid, "session_type": "agent", "agent_id": "a1", "created_at": T0, "updated_at": T0,
            "runs": [{"run_id": f"{sid}-r", "created_at": T0, "status": "COMPLETED",
                      "metrics": {"input_tokens": tokens, "output_tokens": 1}}]}  # fmt: skip


def test_a_dump_with_unreadable_records_runs_to_the_end(tmp_path):
    dump, out = tmp_path / "dump", tmp_path / "out"
    dump.mkdir()
    good = [json.dumps(session(f"s-{i}", 10 + i)).encode() for i in range(3)]
    lines = [good[0], LINE_LATIN1, good[1], LINE_CUT, LINE_DEEP, good[2]]
    (dump / "agno_sessions.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    run_ok = bson.encode({"run_id": "a3", "session_id": "s-3", "created_at": T0, "run_data": {}})
    broken = b"\xff\xff\xff\x7f" + b"garbage"
    (dump / "agno_runs.bson").write_bytes(run_ok + broken)
    assert run_pipeline(["--source", str(dump), *DATES, "--output", str(out)]) == 0
    rows = read_dataset(out)
    assert sorted(rows) == ["s-0", "s-1", "s-2"]
    assert [rows[f"s-{i}"]["input_tokens_sum"] for i in range(3)] == ["10", "11", "12"]
    counts = read_manifest(out)["counts"]
    assert (counts["rows_written"], counts["quarantined"], counts["unreadable_records"]) == (3, 0, 4)
    # s-3 exists nowhere: its run is an orphan
    assert counts["orphaned_runs"] == 1
    found = sorted(
        (Path(q["file"]).name, q.get("line"), q["offset"], base64.b64decode(q["bytes"])) for q in read_quarantine(out)
    )
    at = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    assert found == [
        ("agno_runs.bson", None, len(run_ok), broken),
        ("agno_sessions.jsonl", 2, at[1], LINE_LATIN1),
        ("agno_sessions.jsonl", 4, at[3], LINE_CUT),
        ("agno_sessions.jsonl", 5, at[4], LINE_DEEP),
    ]
    assert all(q["kind"] == "unreadable" and q["document"] is None for q in read_quarantine(out))
