"""A dump's run line read by msgspec into its PreRun (transforms/run_lines.py) is what
the full path gives: the line parsed with json_util's semantics, keyed by session_id
(key_run) and pre-read (pre_read). On generated lines, on lines whose read fields hold
odd values, and on lines changed as text (duplicate keys, escapes, wrappers, numbers
only some decoders take, bad UTF-8, deep nesting) — where the fast path must either
give the same PreRun or leave the line alone."""

from __future__ import annotations

import json
import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from bson import json_util
from test_fast_paths import same
from test_read_fast_paths import WINDOW, mutated, run_docs

from transforms import read_dump, run_lines
from transforms.features import ComputeFeatures
from transforms.normalize import BundleRuns, NormalizeSessions, pre_read
from transforms.read_dump import _UNDECIDED, ParseJsonLine, ReadDump, key_run
from transforms.window import Window

EARLY = Window(WINDOW.start, WINDOW.start + 5 * 86400)  # most runs of the window created after it: set aside


def full_path(raw: bytes, window: Window) -> list:
    """The (session_id, PreRun) elements the reader, key_run and BundleRuns make of a line."""
    out = []
    for doc in ParseJsonLine("run").parse(raw, _UNDECIDED, {}):
        if isinstance(doc, beam.pvalue.TaggedOutput):
            continue  # an unreadable line
        for keyed in key_run(doc, window):
            if not isinstance(keyed, beam.pvalue.TaggedOutput):
                out.append(pre_read(keyed, window))
    return out


def check(raw: bytes, window: Window) -> bool:
    """The fast path's answer for `raw` is the full path's; whether it gave one."""
    fast = run_lines.read_run_line(raw, window)
    if fast is None:
        return False
    want = full_path(raw, window)
    assert len(want) == 1 and same(fast, want[0]), (raw, fast, want)
    return True


def line(doc: dict, rng: random.Random) -> bytes:
    """The document as mongoexport-like relaxed Extended JSON, non-ASCII text raw or escaped."""
    text = json_util.dumps(doc, json_options=json_util.RELAXED_JSON_OPTIONS, ensure_ascii=rng.random() < 0.3)
    return text.encode("utf-8", "surrogatepass")


# Text put into a line as an unread field: values only some decoders take, wrappers,
# escapes, bytes that are not UTF-8, nesting past the readers' bound.
UNREAD = [
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"123456789012345678901234567890", b"-0", b"1E2",
    b'"\\ud800"', b'"\\u0041"', b'"\\n\\"q\\""', b'{"$date": "bad"}', b'{"$numberLong": "5"}', b'{"$oid": 1}',
    b'"a$b"', b'"$x"', b'"\\"$q"', b'"\xff\xfe"', b'"d\xc3\xa9j\xc3\xa0"', b"[" * 101 + b"]" * 101,
    b"[" * 60 + b"]" * 60, b'{"a": [1, {"b": null}]}', b"true", b"null", b'"a\x01b"', b'"a\tb"', b'"a\x7fb"',
    b"1e-400", b"01", b"1.", b"+1", b"0x10",
]  # fmt: skip
READ_KEYS = [b"_id", b"run_id", b"session_id", b"created_at", b"updated_at", b"run_index", b"status", b"run_data",
             b"metrics", b"input_tokens", b"tools", b"tool_name", b"model", b"parent_run_id", b"duration",
             b"time_to_first_token", b"cost", b"total_tokens"]  # fmt: skip
VALUES = [b"5", b"null", b'"x"', b"1.5", b"[]", b"{}", b'{"$oid": "0123456789abcdef01234567"}', b"NaN", b"1e400",
          b"-3", b"9223372036854775808", b'"\\u0041"', b'"COMPLETED"', b"true", b"1e-400", b"4.9e-324", b"-0.0",
          b"2.2250738585072014e-308", b"1.7976931348623157e308", b"0.1e1", b"1E+2", b"123.456e-2", b"31536000.5",
          b'"a\x01"', b"1733750816.25", b"2e9"]  # fmt: skip


def text_mutated(raw: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    if kind == 0:  # an unread field, first or last
        field = b'"x": ' + rng.choice(UNREAD)
        return raw[:1] + field + b", " + raw[1:] if rng.random() < 0.5 else raw[:-1] + b", " + field + b"}"
    if kind == 1:  # a read key given twice: json_util and orjson keep the last
        key = rng.choice(READ_KEYS)
        at = raw.find(b'"' + key + b'": ')
        if at < 0:
            return raw
        return raw[:at] + b'"' + key + b'": ' + rng.choice(VALUES) + b", " + raw[at:]
    if kind == 2:  # a read key's value replaced as text
        key = rng.choice(READ_KEYS)
        at = raw.find(b'"' + key + b'": ')
        if at < 0:
            return raw
        start = at + len(key) + 4
        end = start
        while end < len(raw) and raw[end : end + 1] not in b",}":
            end += 1
        if raw[start : start + 1] in b"{[":
            return raw
        return raw[:start] + rng.choice(VALUES) + raw[end:]
    if kind == 3:  # a key spelt with an escape
        return raw.replace(b'"session_id"', b'"\\u0073ession_id"', 1)
    if kind == 4:  # the $oid wrapper changed
        return raw.replace(b'{"$oid": "', rng.choice([b'{"$oid": "A', b'{"x": 1, "$oid": "', b'{"$oid": "zz']), 1)
    if kind == 5:  # broken JSON
        return rng.choice([raw[:-1], raw + b" x", raw[: len(raw) // 2], raw.replace(b", ", b",, ", 1), b"  "])
    if kind == 6:  # the whole line a wrapper, or not an object
        return rng.choice([b'{"$oid": "0123456789abcdef01234567"}', b"[" + raw + b"]", b'"text"'])
    if kind == 7:  # whitespace JSON allows
        return b" " + raw.replace(b": ", b" :\t", 3) + b" \r"
    return raw.replace(b'"run_data": {', b'"run_data": {"step_executor_runs": [], ', 1)


def test_generated_lines_take_the_fast_path_and_read_the_same():
    rng = random.Random(1)
    docs = run_docs(1) + run_docs(2)
    hits = sum(check(line(rd, rng), window) for rd in docs for window in (WINDOW, EARLY))
    assert hits > 0.9 * 2 * len(docs)


@pytest.mark.parametrize("seed", range(3))
def test_odd_values_are_read_the_same_or_left_alone(seed):
    rng = random.Random(seed)
    docs = run_docs(seed + 20, 100)
    hits = total = 0
    for _ in range(2500):
        raw = line(mutated(rng, rng.choice(docs)), rng)
        for window in (WINDOW, EARLY):
            hits += check(raw, window)
            total += 1
    assert 0.1 * total < hits < 0.9 * total


@pytest.mark.parametrize("seed", range(3))
def test_lines_changed_as_text_are_read_the_same_or_left_alone(seed):
    rng = random.Random(100 + seed)
    docs = run_docs(seed + 30, 100)
    hits = total = 0
    for _ in range(3000):
        raw = line(rng.choice(docs), rng)
        for _ in range(rng.randint(1, 3)):
            raw = text_mutated(raw, rng)
        for window in (WINDOW, EARLY):
            hits += check(raw, window)
            total += 1
    assert 0.1 * total < hits < 0.9 * total


@pytest.mark.parametrize(
    "raw",
    [
        b'{"_id": {"$oid": "0123456789abcdef01234567"}, "session_id": "s", "run_id": "r", "created_at": 1733750816,'
        b' "run_data": {"metrics": {"input_tokens": 1, "output_tokens": 2}}, "x": NaN}',
        b'{"session_id": "s", "run_id": "r", "created_at": 1733750816, "run_data": {}, "x": "\\ud800"}',
        b'{"session_id": "s", "run_id": "r", "created_at": 1733750816, "run_data": {}, "x": "\xff"}',
        b'{"session_id": "s", "run_id": "r", "created_at": 1733750816, "run_data": {}, "x": {"$date": "no"}}',
        b'{"session_id": "s", "run_id": "r", "created_at": 1733750816, "run_data": {}, "x": '
        + b"[" * 101
        + b"]" * 101
        + b"}",
        b'{"\\u0073ession_id": "s", "run_id": "r", "created_at": 1733750816, "run_data": {}}',
        b'{"_id": {"$oid": "0123456789abcdef01234567", "x": 1}, "session_id": "s", "run_id": "r", "created_at": 1}',
        b'{"session_id": "", "run_id": "r", "created_at": 1733750816, "run_data": {}}',
        b'{"session_id": "s", "run_id": "r", "created_at": 1733750816, "run_data": {"step_executor_runs": []}}',
    ],
)
def test_lines_the_fast_path_leaves_to_the_full_one(raw):
    assert run_lines.read_run_line(raw, WINDOW) is None


_LINE = b'{"_id": %s, "session_id": "s", "run_id": "r", "created_at": %d, "run_data": {%s}}'


@pytest.mark.parametrize(
    ("oid", "created", "data", "fast"),
    [
        # counts the quick reader leaves to the full one: OpenAI's nested details
        (b"null", 1733750816, b'"metrics": {"input_tokens": 9, "output_tokens": 2,'
                              b' "prompt_tokens_details": {"cached_tokens": 3}}', False),
        (b"null", 1733750816, b'"metrics": {"input_tokens": 9, "output_tokens": 2,'
                              b' "completion_tokens_details": {"reasoning_tokens": 1}}', False),
        (b"null", 1733750816, b'"metrics": {"input_tokens": 9, "output_tokens": 2, "cached_tokens": 4}', True),
        # an ObjectId's text with spaces: bytes.fromhex skips them, the full path refuses the line
        (b'{"$oid": "0123456789abcdef  234567"}', 1733750816, b'"metrics": {}', False),
        # a workflow run created after the window: set aside before it is read
        (b'{"$oid": "0123456789abcdef01234567"}', 1736000000, b'"workflow_id": "w", "step_executor_runs": []', True),
        (b"null", 1733750816, b'"messages": [{"role": "tool", "tool_name": "t", "from_history": true},'
                              b' {"role": "tool", "tool_name": "u", "metrics": {"time": 2.0}},'
                              b' {"role": "user"}]', True),
    ],
)  # fmt: skip
def test_metrics_ids_and_messages_the_quick_reader_knows_read_the_same(oid, created, data, fast):
    assert check(_LINE % (oid, created, data), WINDOW) is fast


def test_a_plain_line_is_read_fast():
    raw = (
        b'{"_id": {"$oid": "0123456789ABCDEF01234567"}, "session_id": "s1", "run_id": "r1", "created_at": 1733750816,'
        b' "run_data": {"model": "m", "model_provider": "p", "metrics": {"input_tokens": 3, "output_tokens": 4},'
        b' "tools": [{"tool_name": "search", "metrics": {"time": 0.5}, "tool_args": {"q": "\xc3\xa9"}}]},'
        b' "notes": "x\\ny", "extra": {"a": [1, 2, {"b": null}]}}'
    )
    fast = run_lines.read_run_line(raw, WINDOW)
    assert fast is not None and fast[0] == "s1"
    pre = fast[1]
    assert pre[0] == "0123456789abcdef01234567"  # the ObjectId's text, as json_util gives it
    assert pre[3][7:10] == (3, 4, 7)  # input, output, total (their sum) tokens
    assert pre[3][15] == (("search", False, 0.5),)
    assert check(raw, WINDOW)


def _dump(folder, rng: random.Random) -> None:
    """A dump whose run lines are plain, odd, changed as text, or unreadable."""
    docs = run_docs(41, 60)
    sessions = {rd["session_id"] for rd in docs}
    lines = []
    for rd in docs:
        raw = line(rd, rng) if rng.random() < 0.6 else line(mutated(rng, rd), rng)
        lines.append(raw if rng.random() < 0.7 else text_mutated(raw, rng))
    (folder / "agno_runs.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    session_lines = [
        json.dumps({"session_id": sid, "session_type": "agent", "created_at": 1733100000 + i, "agent_id": "a"})
        for i, sid in enumerate(sorted(sessions))
    ]
    (folder / "agno_sessions.jsonl").write_text("\n".join(session_lines) + "\n")


def _outcome(p, folder):
    """Every row, quarantine record and count the job makes of the dump, as text."""
    read = p | ReadDump(str(folder), "agno_sessions", "agno_runs", WINDOW)
    sessions, quarantine, counts, _ = read | NormalizeSessions(WINDOW)
    rows = sessions | ComputeFeatures() | "Rows" >> beam.Map(lambda r: json.dumps(r, sort_keys=True, default=str))
    bad = quarantine | "Bad" >> beam.Map(lambda q: f"quarantined {q.session_id} {q.reason}")
    return (rows, bad, counts | "Counts" >> beam.Map(repr)) | beam.Flatten()


def test_a_dump_reads_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch):
    folder = tmp_path / "dump"
    folder.mkdir()
    _dump(folder, random.Random(5))
    raws = (folder / "agno_runs.jsonl").read_bytes().splitlines()
    fast = sum(run_lines.read_run_line(raw, WINDOW) is not None for raw in raws)
    assert 0.3 * len(raws) < fast < 0.95 * len(raws)  # both paths in one file

    with monkeypatch.context() as m:
        m.setattr(read_dump, "read_run_line", lambda raw, window: None)  # every line the full path's
        with TestPipeline() as p:
            _outcome(p, folder) | beam.io.WriteToText(str(tmp_path / "plain"))
    plain = [t for f in tmp_path.glob("plain*") for t in f.read_text().splitlines()]
    assert sum(t.startswith("{") for t in plain) > 30 and any(t.startswith("quarantined") for t in plain)

    with TestPipeline() as p:
        assert_that(_outcome(p, folder), equal_to(plain))


def test_quoted_dollars_count_as_bytes_count():
    rng = random.Random(3)
    for _ in range(20000):
        raw = bytes(rng.choice(b'"$ab\\{') for _ in range(rng.randint(0, 12)))
        assert run_lines._quoted_dollars(raw) == raw.count(b'"$'), raw


def test_the_reader_bundles_a_sessions_plain_run_lines(tmp_path, monkeypatch):
    """ParseLineRange sends the PreRuns of plain run lines as (session_id, [PreRun, …])
    lists (at most HELD_SESSIONS sessions held, so one session's runs may leave in
    several lists) and every other line as its document: grouped and flattened, the
    runs are exactly those the full path reads, each once."""
    monkeypatch.setattr(read_dump.ParseLineRange, "HELD_SESSIONS", 2)
    sids = ["s1", "s1", "s2", "s3", "s1", "s4", "s2", "s2", "s5"]
    lines = [
        json.dumps(
            {"_id": {"$oid": f"{i:024x}"}, "run_id": f"run{i}", "session_id": sid, "created_at": 1733100000 + i,
             "run_data": {"metrics": {"input_tokens": i}}}
            | ({"note": "\\u00e9"} if i == 4 else {})  # an escape: the full path's
        )
        for i, sid in enumerate(sids)
    ]  # fmt: skip
    path = tmp_path / "agno_runs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    expected = {}
    for raw in path.read_bytes().splitlines():
        for key, pre in full_path(raw, WINDOW):
            expected.setdefault(key, []).append(pre)

    with TestPipeline() as p:
        read = (
            p
            | beam.Create([(str(path), 0, path.stat().st_size)])
            | beam.ParDo(read_dump.ParseLineRange("run", runs_window=WINDOW))
        )
        kinds = read | "Kinds" >> beam.Map(lambda e: type(e[1]).__name__ if type(e) is tuple else "document")
        assert_that(kinds | beam.combiners.Count.PerElement(), equal_to([("list", 6), ("document", 1)]), label="Kinds")
        got = (
            read
            | beam.FlatMap(key_run, WINDOW)
            | "Bundle" >> beam.ParDo(BundleRuns(WINDOW))
            | beam.GroupByKey()
            | beam.MapTuple(lambda k, lists: (k, sorted(pre for lst in lists for pre in lst)))
        )
        assert_that(got, equal_to([(k, sorted(v)) for k, v in expected.items()]))
