"""The fast paths give exactly what the straightforward code gives: Extended JSON
through orjson = `bson.json_util.loads`, the percentile = `numpy.percentile`, the CSV
line = the column formatters, the pickled join = CoGroupByKey."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import re
import uuid

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from bson import (
    Binary,
    Code,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
    json_util,
)

from transforms.columns import COLUMNS
from transforms.metrics import _percentile
from transforms.normalize import GroupBySession
from transforms.read_dump import line_ranges, loads_extended_json, read_line_range
from transforms.rows import CsvLine, to_csv_line
from transforms.tables import TABLES
from transforms.timestamps import format_ts


def same(a, b) -> bool:
    """Equal values of the same types, keys in the same order, -0.0 told from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def outcome(fn, line: str):
    try:
        return "ok", fn(line)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return "error", type(exc), str(exc)


def value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(22 if depth < 3 else 14)
    if kind == 0:
        return rng.randint(-(2**70), 2**70)
    if kind == 1:
        return rng.randint(-1000, 1000)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.choice([0.0, -0.0, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3, 1e22, 1e23])
    if kind == 4:
        return "".join(rng.choice('ab$"\\\n\t\u00e9\u4e2d\U0001f600,{}[]:\x01') for _ in range(rng.randint(0, 10)))
    if kind == 5:
        return rng.choice([True, False, None])
    if kind == 6:
        return ObjectId(rng.randbytes(12))
    if kind == 7:
        return dt.datetime(rng.randint(1900, 2100), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23))
    if kind == 8:
        return Int64(rng.randint(-(2**63), 2**63 - 1))
    if kind == 9:
        return Decimal128(str(rng.uniform(-1e5, 1e5)))
    if kind == 10:
        return Binary(rng.randbytes(rng.randint(0, 8)), rng.choice([0, 4, 5, 128]))
    if kind == 11:
        return Regex("a.*b", rng.choice([0, re.IGNORECASE]))
    if kind == 12:
        return rng.choice([MinKey(), MaxKey(), Timestamp(rng.randint(0, 2**31), 1), Code("x=1")])
    if kind == 13:
        return uuid.UUID(bytes=rng.randbytes(16))
    if kind < 18:
        keys = ["a", "$x", "run_id", "metrics", "d\u00e9"]
        return {rng.choice(keys) + str(i): value(rng, depth + 1) for i in range(rng.randint(0, 4))}
    return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def json_lines(seed: int, n: int):
    rng = random.Random(seed)
    options = [json_util.RELAXED_JSON_OPTIONS, json_util.CANONICAL_JSON_OPTIONS, json_util.LEGACY_JSON_OPTIONS]
    for _ in range(n):
        doc = {"_id": ObjectId(rng.randbytes(12)), **{f"k{j}": value(rng) for j in range(rng.randint(0, 5))}}
        try:
            line = json_util.dumps(doc, json_options=rng.choice(options))
        except Exception:  # noqa: BLE001 - a value json_util cannot write
            continue
        yield line
        yield line.replace('"$', '"\\u0024', 1)  # an escaped wrapper key
        yield line[: rng.randint(0, len(line))]  # cut short: an error
        yield line.replace(":", ': NaN, "z":', 1)  # NaN: json_util reads it, orjson does not


EDGE_LINES = [
    '{"a": 1e400}',
    '{"a": 123456789012345678901234567890}',
    '{"a": 18446744073709551615}',
    '{"a": -9223372036854775809}',
    '{"a": "\\ud800"}',
    '\ufeff{"a": 1}',
    '{"a": 1}\r',
    '{"a": 1, "a": 2}',
    '{"$oid": "0123456789abcdef01234567"}',
    '{"$oid": "5f"}',
    "[1, 2]",
    '{"x": {"$numberLong": "12", "extra": 1}}',
    '{"x": [{"$oid": "bad"}, {"$date": "bad"}]}',
    '{"a": {"$date": {"$numberLong": "-5"}}, "b": {"$regex": {"$regex": "a"}}}',
    '{"\\u0024oid": "0123456789abcdef01234567"}',
    '{"a": 1.0000000000000002, "b": 2.2250738585072014e-308, "c": -0, "d": -0.0, "e": 1E2}',
    '{"a": "\x01"}',
    '{"a": 01}',
]


@pytest.mark.parametrize("seed", range(4))
def test_extended_json_reads_exactly_as_json_util(seed):
    lines = [*json_lines(seed, 1500), *EDGE_LINES]
    for line in lines:
        want, got = outcome(json_util.loads, line), outcome(loads_extended_json, line)
        assert want[0] == got[0], line
        assert same(want[1], got[1]) if want[0] == "ok" else want[1:] == got[1:], line


def test_floats_read_exactly_as_json_util():
    rng = random.Random(3)
    for _ in range(20_000):
        x = rng.choice([rng.uniform(-1e300, 1e300), rng.random() * 10 ** rng.randint(-320, 300)])
        text = rng.choice([repr(x), f"{x:.17g}", f"{x:.25e}", f"{x:.3f}"])
        line = '{"v": ' + text + "}"
        assert same(loads_extended_json(line), json_util.loads(line)), line


def test_percentile_is_numpys():
    rng = random.Random(1)
    for i in range(20_000):
        n = rng.randint(1, 30)
        pick = i % 3
        if pick == 0:
            values = [round(rng.uniform(0.01, 30), 6) for _ in range(n)]
        elif pick == 1:
            values = [rng.choice([0.0, 1.5, 2.25, 1e-9]) for _ in range(n)]
        else:
            values = [rng.expovariate(0.1) * 10 ** rng.randint(-5, 5) for _ in range(n)]
        for q in (50, 95):
            assert repr(_percentile(values, q)) == repr(float(np.percentile(values, q)))
    assert _percentile([], 95) is None


def plain_value(value, kind: str) -> str:
    """FEATURES.md §6's form of a value, the straightforward way."""
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "timestamp":
        return format_ts(value)
    if kind == "float":
        return repr(float(value))
    return str(int(value)) if kind == "int" else str(value)


def plain_line(row, columns) -> str:
    """csv.writer's line, QUOTE_MINIMAL. Its lines end in CR LF here only so that it quotes
    a field holding a bare CR (with lineterminator="" it leaves CR and LF bare)."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").writerow(
        [plain_value(row[c.name], c.type) for c in columns]
    )
    return out.getvalue()[:-2]


TRICKY = {
    "string": [
        "a",
        'q"uote',
        '"',
        "com,ma",
        "line\nbreak",
        "cr\ronly",
        "\r\n",
        "",
        " sp ",
        "\u00e9\u4e2d\U0001f600",
        "\t",
    ],
    "int": [0, -1, 2**63 - 1, -(2**63), 10**12],
    "float": [1e-07, 0.1, 1 / 3, -0.0, 1e-300, 5, 1e16, 123456789.125, 2.5e-05],
    "bool": [True, False],
    "timestamp": [0.0, 1733821200.5, 1733821200.000001, -6.2e10, -3.0e10, 253402300799.0, 1e9],
}


def test_csv_line_is_csv_writer_over_the_value_forms():
    rng = random.Random(2)
    samples = {
        "string": lambda: rng.choice(TRICKY["string"]),
        "int": lambda: rng.choice([rng.randint(-5, 10**12), *TRICKY["int"]]),
        "float": lambda: rng.choice([rng.uniform(-1e9, 1e9), *TRICKY["float"]]),
        "bool": lambda: rng.random() < 0.5,
        "timestamp": lambda: rng.choice([rng.uniform(0, 4e9), float(rng.randint(0, 2**33)), *TRICKY["timestamp"]]),
    }
    for _ in range(3000):
        row = {c.name: None if rng.random() < 0.2 else samples[c.type]() for c in COLUMNS}
        assert to_csv_line(row) == plain_line(row, COLUMNS)
    for table in TABLES.values():  # the companion tables' columns, each tricky value in every column
        line = CsvLine(table.columns)
        for c in table.columns:
            for value in [None, *TRICKY[c.type]]:
                row = {o.name: (value if o is c else None) for o in table.columns}
                assert line(row) == plain_line(row, table.columns), (c.name, value)
    # the exact forms, typed in (FEATURES.md §6): quoting, CR, floats, timestamps before year 1000
    kinds = ("string", "string", "string", "float", "float", "int", "timestamp", "timestamp", "bool", "string")
    cols = [type(COLUMNS[0])(f"c{i}", kind, "") for i, kind in enumerate(kinds)]
    row = dict(
        zip([c.name for c in cols], ['a,"b"', "cr\ronly", "x\ny", 1e-07, 0.1, 2**63 - 1, -6.2e10, 0.5, False, None])
    )
    assert CsvLine(cols)(row) == (
        '"a,""b""","cr\ronly","x\ny",1e-07,0.1,9223372036854775807,5-04-19T09:46:40Z,1970-01-01T00:00:00.500000Z,false,'
    )
    for epoch in (-6.2e10, 0.0, 1733821200.000001, 253402300799.0):
        row = {c.name: (epoch if c.type == "timestamp" else None) for c in COLUMNS}
        assert to_csv_line(row).split(",")[COLUMNS.index(next(c for c in COLUMNS if c.type == "timestamp"))] == (
            format_ts(epoch)
        )


def test_group_by_session_is_cogroupbykey():
    sessions = [("s1", {"_id": ObjectId(b"a" * 12), "v": [1, 2.5, None]}), ("s2", {"x": Int64(7)})]
    runs = [("s1", {"r": 1}), ("s1", {"r": 2}), ("s3", {"r": 3})]
    refs = [("s3", 1), ("s3", 1)]
    known = [("s4", None)]

    def normal(element):
        key, groups = element
        return key, {name: sorted(map(repr, values)) for name, values in groups.items()}

    with TestPipeline() as p:
        inputs = {
            name: p | f"Create{name}" >> beam.Create(data)
            for name, data in (("sessions", sessions), ("runs", runs), ("refs", refs), ("known", known))
        }
        ours = inputs | "Ours" >> GroupBySession() | "NormalOurs" >> beam.Map(normal)
        beams = inputs | "Beams" >> beam.CoGroupByKey() | "NormalBeams" >> beam.Map(normal)
        expected = [
            normal(("s1", {"sessions": [sessions[0][1]], "runs": [{"r": 1}, {"r": 2}], "refs": [], "known": []})),
            normal(("s2", {"sessions": [sessions[1][1]], "runs": [], "refs": [], "known": []})),
            normal(("s3", {"sessions": [], "runs": [{"r": 3}], "refs": [1, 1], "known": []})),
            normal(("s4", {"sessions": [], "runs": [], "refs": [], "known": [None]})),
        ]
        assert_that(ours, equal_to(expected), label="OursAsExpected")
        assert_that(beams, equal_to(expected), label="BeamsAsExpected")


def _mutate_run(rng: random.Random, rd: dict) -> None:
    data = rd["run_data"]
    choice = rng.randrange(14)
    if choice == 0:
        del rd["run_index"]
    elif choice == 1:
        rd["run_index"] = rng.choice([True, "3", 2.0, None])
    elif choice == 2:
        del rd["created_at"]
        data.pop("created_at", None)
    elif choice == 3:
        rd["created_at"] = rng.choice(["not a date", "2024-12-05T10:00:00Z", -5, None])
    elif choice == 4:
        rd["run_data"] = json.dumps(data)
    elif choice == 5:
        rd["run_data"] = rng.choice(["{not json", [1, 2], 7])
    elif choice == 6:
        data.pop("model", None)
        data.pop("model_provider", None)
    elif choice == 7:
        data["metrics"]["input_tokens"] = rng.choice([-1, "12", 3.5, None])
    elif choice == 8:
        for tool in data.get("tools") or []:
            tool["metrics"] = {"duration": rng.choice(["slow", -1.0, None, 0])}
    elif choice == 9:
        rd["status"] = rng.choice(["weird", None, 3])
    elif choice == 10:
        rd.pop("_id", None)
    elif choice == 11:
        rd["parent_run_id"] = rng.choice([None, 5, "nope"])
    elif choice == 12:
        data["metrics"] = rng.choice([None, "x", {}])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pre_read_runs_read_as_the_documents(seed):
    """A run document read before the join (PreRun) gives the session exactly the runs,
    or exactly the quarantine reason, that reading the document at the join gives."""
    from transforms.formats import BadDocument, normalize_session, pre_read_run
    from transforms.simulated import SimParams, generate
    from transforms.window import parse_window

    window = parse_window("2024-12-01", "2024-12-31")
    params = SimParams(sessions=400, seed=seed, runs=3.0, tools=1.5)
    rng = random.Random(seed)
    outcomes = {"rows": 0, "bad": 0}
    for i in range(params.sessions):
        session, run_docs = generate(i, params, window)
        if run_docs and rng.random() < 0.4:
            _mutate_run(rng, rng.choice(run_docs))
        if rng.random() < 0.2:
            session.pop("created_at")
        if rng.random() < 0.2:
            for key in ("agent_data", "team_data"):
                if isinstance(session.get(key), dict):
                    session[key].pop("model", None)
        if run_docs and rng.random() < 0.1:
            run_docs.append(dict(run_docs[0]))  # the same document read twice
        results = []
        for runs in (run_docs, [pre_read_run(rd) for rd in run_docs]):
            try:
                results.append(normalize_session(session, runs, window))
            except BadDocument as exc:
                results.append(("bad", str(exc)))
        assert results[0] == results[1]
        outcomes["rows" if type(results[0]).__name__ == "Session" else "bad"] += 1
    assert outcomes["bad"] > 20 and outcomes["rows"] > 200, outcomes  # both paths exercised


def test_line_ranges_read_the_lines_beams_text_source_reads(tmp_path):
    """The dump reader's byte ranges (read and filtered in one step) = ReadFromText's lines,
    wherever the range boundaries fall: CRLF endings, empty lines, multi-byte characters,
    a last line without an ending."""
    body = '{"a": 1}\r\n\n{"b": "é—会"}\nplain\r\n\r\n{"c": "\\r"}\r' + "x" * 40 + "\n\n" + '{"last": true}'
    path = tmp_path / "lines.jsonl"
    path.write_bytes(body.encode("utf-8"))
    size = path.stat().st_size
    by_range = {
        step: [line.decode() for rng in line_ranges(str(path), size, step) for line in read_line_range(*rng)]
        for step in (1, 2, 3, 5, 7, 11, size, size + 9)
    }
    first = by_range[1]
    assert all(lines == first for lines in by_range.values())
    assert first[:3] == ['{"a": 1}', "", '{"b": "é—会"}'] and first[-1] == '{"last": true}'
    with TestPipeline() as p:
        assert_that(p | beam.io.ReadFromText(str(path)), equal_to(first))


def test_bundle_runs_carries_every_run_once(monkeypatch):
    """BundleRuns sends each session's runs as lists (at most MAX_SESSIONS sessions
    held, so one session's runs may cross in several lists); grouped and flattened
    they are exactly the runs pre-read one by one, each once."""
    from transforms.normalize import BundleRuns, pre_read
    from transforms.window import Window

    monkeypatch.setattr(BundleRuns, "MAX_SESSIONS", 2)
    window = Window(
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp(), dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()
    )
    sids = ["s1", "s1", "s2", "s3", "s1", "s4", "s2", "s2"]
    runs = [
        (sid, {"_id": f"r{i}", "run_id": f"run{i}", "session_id": sid, "created_at": 1720000000 + i, "run_data": {}})
        for i, sid in enumerate(sids)
    ]
    expected = {}
    for element in runs:
        key, pre = pre_read(element, window)
        expected.setdefault(key, []).append(pre)

    with TestPipeline() as p:
        got = (
            p
            | beam.Create(runs, reshuffle=False)
            | beam.ParDo(BundleRuns(window))
            | beam.GroupByKey()
            | beam.MapTuple(lambda k, lists: (k, sorted(pre for lst in lists for pre in lst)))
        )
        assert_that(got, equal_to([(k, sorted(v)) for k, v in expected.items()]))
    assert sorted(len(v) for v in expected.values()) == [1, 1, 3, 3]
