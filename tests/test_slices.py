"""A window run as K slices (pipeline/slices.py, transforms/slicing.py) gives exactly
the rows, quarantine and counts of one unsliced run, from dumps, the simulated
source and a server; a failed slice publishes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
from pathlib import Path

import apache_beam as beam
import bson
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from bson import ObjectId
from dataset_io import DOCUMENTS, dataset_dir, read_dataset, read_manifest, read_quarantine, run_pipeline, write_dump

from pipeline import slices, sources
from pipeline.options import UsageError, parse
from pipeline.sources import source_for
from transforms import read_mongo
from transforms.read_dump import (
    _UNDECIDED,
    QUARANTINE,
    ParseJsonLine,
    ParseLineRange,
    ReadDump,
    _named_session_id,
    line_ranges,
)
from transforms.read_mongo import ReadPlan
from transforms.simulated import ReadSimulated, SimParams
from transforms.slicing import WHOLE, Slice, slice_of
from transforms.window import parse_window

UTC = dt.UTC
T0 = 1733821200  # 2024-12-10T09:00:00Z
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
WINDOW = parse_window("2024-12-01", "2024-12-31")
K = 3


def crc32_by_hand(data: bytes) -> int:
    """CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_the_hash_is_crc32_of_the_utf8_id():
    # 0xCBF43926 is CRC-32's published check value for the ASCII string "123456789";
    # 0xCBF43926 = 3,421,780,262 = 7 × 488,825,751 + 5
    assert crc32_by_hand(b"123456789") == 0xCBF43926
    assert slice_of("123456789", 7) == 5
    for sid in ("sim-7-000000042", "c0ffee00-1234-4bcd-8def-0123456789ab", "séance-ü", "会话"):
        assert slice_of(sid, 10) == crc32_by_hand(sid.encode("utf-8")) % 10
    assert slice_of("\ud800x", 4) == crc32_by_hand(b"\xed\xa0\x80x") % 4  # a lone surrogate hashes too
    # no usable id: slice 0; one slice: everything in it
    assert [slice_of(v, 5) for v in (None, 42, ["a"], {"$oid": "x"}, b"abc")] == [0] * 5
    assert slice_of("123456789", 1) == 0


def test_slice_tags_and_bounds():
    assert [Slice(k, 3).tag for k in range(3)] == ["s000", "s001", "s002"]
    assert Slice(7, 1001).tag == "s0007" and WHOLE.tag == "" and Slice(0, 1).whole
    assert Slice(1, 3).describe() == "slice 2/3"
    with pytest.raises(ValueError):
        Slice(3, 3)


# ----------------------------------------------------------------- dump lines


def _sid_in(k: int, prefix: str) -> str:
    """The first `<prefix>-<n>` id in slice k of K."""
    return next(f"{prefix}-{n}" for n in range(100) if slice_of(f"{prefix}-{n}", K) == k)


SYM = _sid_in(2, "sym")  # a session_id stored as a BSON symbol: joins as the string
LINES = [
    json.dumps({"session_id": "plain-1", "created_at": T0}),
    json.dumps({"session_id": "plain-2", "created_at": {"$date": "2024-12-10T09:00:00Z"}, "_id": {"$oid": "6" * 24}}),
    json.dumps({"session_id": {"$symbol": SYM}, "created_at": T0}),
    json.dumps({"session_id": {"$oid": "5" * 24}, "created_at": T0}),  # an ObjectId: no string, slice 0
    json.dumps({"session_id": {"$symbol": SYM, "extra": 1}}),  # a bad wrapper: a bad line, slice 0
    json.dumps({"session_id": 42}),
    json.dumps({"created_at": T0}),
    json.dumps({"$oid": "7" * 24}),  # the whole line is a wrapper: not an object
    json.dumps({"session_id": _sid_in(1, "bad"), "created_at": {"$date": "garbage"}}),  # bad, in its id's slice
    '{"session_id": "nan-1", "cost": NaN}',  # orjson refuses NaN: json_util reads it
    '{"session_id": "big-1", "n": 12345678901234567890123}',  # beyond 64 bits: json_util reads it
    '{"session\\u005fid": "escaped-key-1"}',
    '{"session_id": "dollar-\\u0024-1", "x": {"\\u0024numberLong": "5"}}',
    "{not json",
    "[1, 2]",
    '"just a string"',
    "   ",
]


def _unsliced(lines: list[str]) -> tuple[list, list]:
    """(session_id of each document, quarantined lines) of an unsliced parse."""
    docs, bad = [], []
    for line in lines:
        for out in ParseJsonLine("session").process(line):
            if isinstance(out, beam.pvalue.TaggedOutput):
                bad.append(base64.b64decode(out.value.raw).decode("utf-8", "surrogatepass"))
            else:
                docs.append(out.get("session_id"))
    return docs, bad


def test_each_dump_line_is_in_exactly_one_slice():
    docs, bad = _unsliced(LINES)
    assert SYM in docs and slice_of(SYM, K) == 2 and len(bad) == 6
    for k in range(K):
        # ascii(): a lone surrogate cannot cross Beam's string coder
        expected_docs = [ascii(sid) for sid in docs if slice_of(sid, K) == k]
        expected_bad = [line for line in bad if (k == 1 if line.startswith('{"session_id": "bad') else k == 0)]
        with TestPipeline() as p:
            out = (
                p
                | beam.Create(LINES)
                | beam.ParDo(ParseJsonLine("session", Slice(k, K))).with_outputs(QUARANTINE, main="docs")
            )
            sids = out.docs | beam.Map(lambda d: ascii(d.get("session_id")))
            assert_that(sids, equal_to(expected_docs))
            bad_lines = out[QUARANTINE] | beam.Map(lambda q: base64.b64decode(q.raw).decode())
            assert_that(bad_lines, equal_to(expected_bad), label="Bad")


def fuzzed_line(rng: random.Random) -> str:
    """A dump line made to trip the slice decision: session_ids that are strings with
    and without escapes, other types, wrappers, absent, repeated; deeper session_ids
    with the same or another value; the text "session_id" inside strings and keys;
    escaped keys; NaN; truncation."""
    ids = ["s1", "s2", 'q"uote', "back\\slash", "é会", "", "session_id"]

    def value():
        return rng.choice([rng.choice(ids), None, 7, ["s1"], {"$symbol": rng.choice(ids)}, {"$oid": "6" * 24}])

    doc: dict = {}
    if rng.random() < 0.4:  # as Agno writes them: the id at the top and in the runs
        sid = rng.choice(ids)
        doc = {"_id": {"$oid": "6" * 24}, "session_id": sid, "runs": [{"session_id": sid, "run_id": "r"}]}
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(["session_id", "run_id", 'say "session_id', "x", "$regex", "text"])
        doc[key] = rng.choice([value(), "session_id", {"session_id": value()}, [{"session_id": value()}]])
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.3, separators=rng.choice([(",", ":"), (", ", ": ")]))
    if rng.random() < 0.15:
        text = text.replace('"session_id"', '"session\\u005fid"', 1)
    if rng.random() < 0.1:
        text = text.replace("}", ', "cost": NaN}', 1) if text != "{}" else '{"cost": NaN}'
    if rng.random() < 0.1 and len(text) > 2:
        text = text[: rng.randrange(1, len(text))]
    if rng.random() < 0.05:
        text = text.replace(": ", " :\t ", 1)
    return text


def plain(out) -> tuple[str, object]:
    """A document, or an unreadable record without its place (file, offset, line)."""
    if isinstance(out, beam.pvalue.TaggedOutput):
        return "bad", out.value._replace(file=None, offset=None, line=None)
    return "doc", out


@pytest.mark.parametrize("count", [2, 3, 5])
def test_fuzzed_lines_are_each_in_exactly_one_slice_the_one_of_their_join_key(tmp_path, count):
    rng = random.Random(count)
    lines = [fuzzed_line(rng) for _ in range(3000)]
    path = tmp_path / "lines.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = path.stat().st_size
    outs: list[list] = [[] for _ in lines]  # (slice, output) of each line
    for k in range(count):
        part = Slice(k, count)
        for i, line in enumerate(lines):
            outs[i] += [(k, plain(out)) for out in ParseJsonLine("session", part).process(line)]
        # the dump reader's ranges (bytes first) decide as the line parser does
        ranged = [
            plain(o) for r in line_ranges(str(path), size, 997) for o in ParseLineRange("session", part).process(r)
        ]
        assert ranged == [out for got in outs for kk, out in got if kk == k]
    decided_early = 0
    for line, got in zip(lines, outs, strict=True):
        whole = [plain(out) for out in ParseJsonLine("session").process(line)]
        assert [out for _, out in got] == whole, line
        if whole and whole[0][0] == "doc" and isinstance(whole[0][1].get("session_id"), str):
            assert got[0][0] == slice_of(whole[0][1]["session_id"], count), line
        decided_early += _named_session_id(line.encode()) is not _UNDECIDED
    assert decided_early > 100  # the byte-level decision is exercised, not only the fallbacks


def test_a_dump_slice_holds_the_sessions_and_runs_of_its_ids(tmp_path):
    sessions = [{"_id": ObjectId(), "session_id": f"d-{i}", "created_at": T0} for i in range(12)]
    runs = [{"_id": ObjectId(), "session_id": f"d-{i % 12}", "run_id": f"r{i}", "created_at": T0} for i in range(30)]
    write_dump(tmp_path, "agno_sessions", sessions)
    (tmp_path / "agno_runs.bson").write_bytes(b"".join(bson.encode(d) for d in runs))
    for k in range(K):
        with TestPipeline() as p:
            read = p | ReadDump(str(tmp_path), "agno_sessions", "agno_runs", WINDOW, Slice(k, K))
            mine = [d["session_id"] for d in sessions if slice_of(d["session_id"], K) == k]
            assert mine, "every slice holds sessions of this set"
            assert_that(read["sessions"] | beam.Map(lambda d: d["session_id"]), equal_to(mine))
            runs_k = [(d["session_id"], d["run_id"]) for d in runs if slice_of(d["session_id"], K) == k]
            assert_that(read["runs"] | beam.MapTuple(lambda sid, d: (sid, d["run_id"])), equal_to(runs_k), label="R")


def test_a_simulated_slice_generates_only_its_sessions():
    params = SimParams(sessions=60, seed=5, formats=("agno3", "agno2"))
    for k in range(K):
        expected = [f"sim-5-{i:09d}" for i in range(60) if slice_of(f"sim-5-{i:09d}", K) == k]
        with TestPipeline() as p:
            read = p | ReadSimulated(params, WINDOW, Slice(k, K))
            assert_that(read["sessions"] | beam.Map(lambda d: d["session_id"]), equal_to(expected))
            run_ids = read["runs"] | beam.MapTuple(lambda sid, d: sid) | beam.Distinct()
            assert_that(run_ids | beam.Filter(lambda sid, k=k: slice_of(sid, K) != k), equal_to([]), label="R")


# ----------------------------------------------------------------- end to end


def agno2(sid, created_at=T0, runs=None, **extra) -> dict:
    doc = {"session_id": sid, "session_type": "agent", "agent_id": "a1", "agent_data": {"name": "A"},
           "runs": runs if runs is not None else [], "updated_at": T0, **extra}  # fmt: skip
    if created_at is not None:
        doc["created_at"] = created_at
    return doc


def run2(at: int, inp: int, status: str = "COMPLETED") -> dict:
    return {"run_id": f"r{at}-{inp}", "created_at": at, "status": status,
            "metrics": {"input_tokens": inp, "output_tokens": 3, "duration": 1.5}}  # fmt: skip


def run3(sid, rid: str, at, inp: int = 10, **extra) -> dict:
    return {"run_id": rid, "session_id": sid, "parent_run_id": None, "status": "COMPLETED", "created_at": at,
            "run_data": {"run_id": rid, "metrics": {"input_tokens": inp, "duration": 1.0}}, **extra}  # fmt: skip


def mixed() -> tuple[list[dict], list[dict]]:
    """Sessions and runs with every per-session rule: duplicates, orphans, runs of sessions
    outside the window, undated sessions, bad documents, documents without a session_id."""
    sessions = [agno2(f"m-{i:02d}", T0 + i, [run2(T0 + i, 10 + i, "ERROR" if i % 7 == 0 else "COMPLETED")])
                for i in range(24)]  # fmt: skip
    sessions += [{"session_id": f"a3-{i}", "session_type": "team", "team_id": "t1", "created_at": T0 + 50 + i,
                  "updated_at": T0} for i in range(9)]  # fmt: skip
    sessions += [
        agno2("m-03", T0 + 3, [run2(T0, 1), run2(T0 + 60, 2)], updated_at=T0 + 99),  # the duplicate that wins
        agno2("m-05", T0 + 5, [], updated_at=T0 - 1),  # a duplicate that loses
        agno2("bad-json", T0, "[{not json"),
        agno2("bad-tokens", T0, [{"run_id": "x", "created_at": T0, "metrics": {"input_tokens": -4}}]),
        agno2("weird-status", T0, [run2(T0, 1, "EXPLODED")]),
        agno2("out-1", dt.datetime(2025, 1, 5, tzinfo=UTC)),  # outside: its window run is no orphan
        agno2("out-2", dt.datetime(2024, 11, 5, tzinfo=UTC)),
        {"session_id": "undated-1", "session_type": "agent", "agent_id": "u"},  # placed by its first run
        {"session_id": "undated-2", "session_type": "agent", "agent_id": "u"},  # its first run is outside
        {"session_type": "agent", "created_at": T0},  # no session_id
        agno2(7, T0),  # a session_id that is no string
        agno2("", T0),
    ]
    runs = [run3(f"a3-{i}", f"a3r-{i}-{j}", T0 + 60 + j, inp=j + i) for i in range(9) for j in range(3)]
    runs += [
        run3("a3-2", "a3r-late", dt.datetime(2025, 1, 3, tzinfo=UTC)),  # after the window: not counted
        run3("a3-4", "a3r-bad", T0 + 90, inp=-1),  # quarantines a3-4
        run3("out-1", "o1", T0 + 300),
        run3("out-2", "o2", T0 + 301),
        run3("undated-1", "u1", T0 + 400),
        run3("undated-2", "u2", dt.datetime(2025, 2, 1, tzinfo=UTC)),
        run3("ghost-1", "g1", T0 + 500),  # orphans
        run3("ghost-1", "g2", T0 + 501),
        run3("ghost-2", "g3", T0 + 502),
        run3("ghost-3", "g4", dt.datetime(2024, 10, 1, tzinfo=UTC)),  # orphan created outside: not counted
        run3(None, "n1", T0),  # no session_id
        run3(["m-01"], "n2", T0),
    ]
    for i, doc in enumerate(sessions + runs):
        doc["_id"] = ObjectId(f"{i:024x}")
    return sessions, runs


SYM_E2E = _sid_in(1, "sym-e2e")  # a BSON symbol session_id, its run's a string
BAD_SESSION_LINES = [
    "{not json",
    "[1, 2]",
    json.dumps({"session_id": {"$symbol": SYM_E2E}, "session_type": "agent", "agent_id": "s", "created_at": T0}),
    json.dumps({"session_id": "m-07", "created_at": {"$date": "garbage"}}),
    '{"session_id": "nan-1", "session_type": "agent", "agent_id": "n", "created_at": 1733821200, "cost": NaN}',
]
BAD_RUN_LINES = [
    "{also not json",
    json.dumps(run3(SYM_E2E, "sym-run", T0, inp=77)),
]


def mixed_dump(folder: Path, fmt: str) -> None:
    sessions, runs = mixed()
    if fmt == "bson":
        folder.mkdir(parents=True)
        for name, docs in (("agno_sessions", sessions), ("agno_runs", runs)):
            (folder / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
        return
    for name, docs, extra in (("agno_sessions", sessions, BAD_SESSION_LINES), ("agno_runs", runs, BAD_RUN_LINES)):
        path = write_dump(folder, name, docs)
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(extra) + "\n")


def dataset(out: Path) -> tuple[dict, list, dict]:
    quarantine = sorted(json.dumps(q, sort_keys=True) for q in read_quarantine(out))
    return read_dataset(out), quarantine, read_manifest(out)["counts"]


def run_both(source: list[str], tmp_path: Path) -> tuple[tuple, tuple]:
    results = []
    for count in (1, K):
        out = tmp_path / f"k{count}"
        assert run_pipeline([*source, *DATES, "--output", str(out), "--slices", str(count)]) == 0
        manifest = read_manifest(out)
        assert manifest["slices"] == count
        names = sorted(f["path"].rsplit("/", 1)[1] for f in manifest["files"])
        if count == 1:
            assert names == ["features-00000-of-00001.csv"]
        else:
            assert names == [f"features-s{k:03d}-00000-of-00001.csv" for k in range(K)]
            assert all(f["rows"] > 0 for f in manifest["files"]), "every slice holds rows"
        results.append(dataset(out))
    return results[0], results[1]


@pytest.mark.parametrize("fmt", ["jsonl", "bson"])
def test_a_sliced_dump_gives_the_unsliced_dataset(tmp_path, fmt):
    mixed_dump(tmp_path / "dump", fmt)
    whole, sliced = run_both(["--source", str(tmp_path / "dump")], tmp_path)
    assert sliced == whole
    rows, quarantine, counts = whole
    assert rows["m-03"]["total_runs"] == "2" and rows["undated-1"]["total_runs"] == "1"
    assert "a3-4" not in rows and "a3-2" in rows and rows["a3-2"]["total_runs"] == "3"
    # orphans: ghost-1 twice, ghost-2, and the two run documents without a usable session_id
    assert (counts["duplicates"], counts["orphaned_runs"], counts["unknown_statuses"]) == (2, 5, 1)
    assert counts["sessions_outside_window"] == 1
    reasons = sorted(json.loads(q)["reason"] for q in quarantine)
    assert reasons.count("no session_id") == 3
    assert counts["quarantined"] == 6
    if fmt == "jsonl":
        assert rows[SYM_E2E]["input_tokens_sum"] == "77"  # the symbol session joined its run in its slice
        assert rows["nan-1"]["session_id"] == "nan-1"
        assert sum("not valid Extended JSON" in r or "not a JSON object" in r for r in reasons) == 4
        assert counts["unreadable_records"] == 4
    else:
        assert counts["unreadable_records"] == 0


def test_a_sliced_simulated_window_gives_the_unsliced_dataset(tmp_path):
    sim = "simulated://?sessions=150&seed=21&formats=agno3,agno2,agno1,phidata&bad_rate=0.05"
    whole, sliced = run_both(["--source", sim], tmp_path)
    assert sliced == whole
    rows, quarantine, counts = whole
    assert len(rows) + len(quarantine) == counts["sessions_read"] == 150 and quarantine


@pytest.mark.parametrize("plan", [ReadPlan(1, "scan"), ReadPlan(2, "lookup")])
def test_a_sliced_server_window_gives_the_unsliced_dataset(ferretdb, mongo_db, tmp_path, monkeypatch, plan):
    sessions, runs = mixed()
    mongo_db["agno_sessions"].insert_many(sessions)
    mongo_db["agno_runs"].insert_many(runs)
    monkeypatch.setattr(read_mongo, "read_plan", lambda *args: plan)
    whole, sliced = run_both(["--source", ferretdb.uri, "--database", mongo_db.name], tmp_path)
    assert sliced == whole
    rows, quarantine, counts = whole
    # orphans as in a dump: ghost-1 twice, ghost-2, and the two runs without a usable session_id
    assert (counts["duplicates"], counts["orphaned_runs"], counts["quarantined"]) == (2, 5, 6)
    assert rows["undated-1"]["total_runs"] == "1"


def test_a_failed_slice_publishes_nothing(tmp_path, monkeypatch, capsys):
    sim = "simulated://?sessions=40&seed=3"
    out = tmp_path / "out"
    assert run_pipeline(["--source", sim, *DATES, "--output", str(out)]) == 0
    before = read_manifest(out)
    real_build = slices.build

    def build(p, cfg, run_dir, part):
        real_build(p, cfg, run_dir, part)
        if part.index == 1:  # the second slice fails after the first wrote its files
            p | "Boom" >> beam.Create([1]) | "Fail" >> beam.Map(lambda _: 1 / 0)

    monkeypatch.setattr(slices, "build", build)
    assert run_pipeline(["--source", sim, *DATES, "--output", str(out), "--slices", "3"]) == 1
    assert "slice 2/3 failed" in capsys.readouterr().err
    assert read_manifest(out) == before  # the earlier dataset stays published
    assert sorted(p.name for p in dataset_dir(out).iterdir()) == sorted(["manifest.json", before["run_id"], *DOCUMENTS])


# ----------------------------------------------------------------- choosing K


def config(*argv: str):
    return parse([*argv, *DATES], {})[0]


def test_auto_slices_on_the_direct_runner_only(caplog):
    caplog.set_level(logging.INFO, logger="session_features")
    big = config("--source", "simulated://?sessions=250001")
    assert slices.choose(big, "DirectRunner")[0] == 3
    assert "3 slices" in caplog.text
    assert slices.choose(big, "apache_beam.runners.direct.direct_runner.SwitchingDirectRunner")[0] == 3
    assert slices.choose(big, "direct")[0] == 3
    assert slices.choose(config("--source", "simulated://?sessions=100000"), "DirectRunner")[0] == 1
    assert slices.choose(big, "SparkRunner")[0] == slices.choose(big, "FlinkRunner")[0] == 1
    assert slices.choose(config("--source", "simulated://?sessions=10", "--slices", "4"), "SparkRunner")[0] == 4
    # one file asked for: one slice, unless slices are asked for too
    assert (
        slices.choose(config("--source", "simulated://?sessions=250001", "--num_shards", "1"), "DirectRunner")[0] == 1
    )
    one_file = config("--source", "simulated://?sessions=250001", "--num_shards", "1", "--slices", "2")
    assert slices.choose(one_file, "DirectRunner")[0] == 2


def test_a_dump_is_estimated_from_its_size(tmp_path, monkeypatch):
    mixed_dump(tmp_path / "dump", "jsonl")
    size = sum(p.stat().st_size for p in (tmp_path / "dump").iterdir())
    monkeypatch.setattr(sources, "BYTES_PER_SESSION", 10)
    monkeypatch.setattr(slices, "SESSIONS_PER_SLICE", 100)
    assert source_for(config("--source", str(tmp_path / "dump"))).estimate()[0] == -(-size // 10)
    assert slices.choose(config("--source", str(tmp_path / "dump")), "DirectRunner")[0] == -(-size // 1000)


def test_a_server_counts_the_window(ferretdb, mongo_db, monkeypatch):
    sessions, _ = mixed()
    mongo_db["agno_sessions"].insert_many(sessions)
    cfg = config("--source", ferretdb.uri, "--database", mongo_db.name)
    # FerretDB v1 answers with no index scan: counting would be another scan, so no count
    assert source_for(cfg).estimate()[0] is None
    assert slices.choose(cfg, "DirectRunner")[0] == 1
    # a server with an index on created_at counts what the window filter fetches:
    # all but out-1 and out-2 (the undated ones are fetched)
    monkeypatch.setattr(read_mongo, "uses_index", lambda *args: True)
    assert source_for(cfg).estimate()[0] == len(sessions) - 2
    monkeypatch.setattr(slices, "SESSIONS_PER_SLICE", 10)
    assert slices.choose(cfg, "DirectRunner")[0] == -(-(len(sessions) - 2) // 10)
    unreachable = config("--source", "mongodb://127.0.0.1:9/db?serverSelectionTimeoutMS=200")
    assert slices.choose(unreachable, "DirectRunner")[0] == 1


@pytest.mark.parametrize("value", ["-1", "two"])
def test_bad_slices_are_usage_errors(value):
    with pytest.raises(UsageError, match="--slices"):
        config("--source", "simulated://", "--slices", value)
