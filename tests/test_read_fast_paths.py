"""The reading fast paths give exactly what the plain code gives: a run document's
quick pre-read = `_pre_read_run`, `_finish_run` = `_read_run_doc`'s fields, `assign_trees`
= its `_replace` form, and the one-ObjectId line = `bson.json_util.loads`."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import random

import pytest
from bson import ObjectId, json_util

from transforms import formats
from transforms.read_dump import loads_extended_json
from transforms.records import Run, ToolCall
from transforms.simulated import SimParams, generate
from transforms.window import parse_window

WINDOW = parse_window("2024-12-01", "2024-12-31")


def same(a, b) -> bool:
    """Equal values of the same types (NaN equal to NaN, -0.0 told from 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def run_docs(seed: int, sessions: int = 200) -> list[dict]:
    params = SimParams(sessions=sessions, seed=seed, runs=3.0, tools=1.5)
    return [rd for i in range(sessions) for rd in generate(i, params, WINDOW)[1]]


# Values a field can hold that the quick path must either read exactly or leave alone.
ODD = [
    None, True, False, 0, -1, 7, 2**63 - 1, 2**63, 2**70, -(2**70), 0.0, -0.0, 1.5, 3.0, -2.5, math.nan,
    math.inf, -math.inf, 1e300, 31_536_000.0, 31_536_000.5, "", "x", "12", "COMPLETED", "error",
    "d\u00e9j\u00e0", "\ud800", [], [1, 2], [None], [1.5, None], {}, {"a": 1}, {"$oid": "x"},
    ObjectId(b"0123456789ab"), dt.datetime(2024, 12, 5, 10), dt.datetime(2024, 12, 5, 10, tzinfo=dt.UTC),
    dt.datetime(1969, 1, 1), dt.datetime(2024, 12, 31), "2024-12-05T10:00:00Z", "not a date", 1733750816,
    1733750816.5, 1733750816000, 9e9,
]  # fmt: skip
METRICS = [
    "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens", "cached_tokens", "reasoning_tokens",
    "prompt_tokens_details", "completion_tokens_details", "duration", "cost", "time_to_first_token", "time",
]  # fmt: skip
TOP = ["_id", "run_id", "parent_run_id", "status", "run_index", "created_at", "updated_at", "run_data"]
DATA = ["run_id", "parent_run_id", "model", "model_provider", "created_at", "status", "metrics", "tools",
        "messages", "workflow_id", "step_executor_runs"]  # fmt: skip


def mutated(rng: random.Random, rd: dict) -> dict:
    rd = copy.deepcopy(rd)
    data = rd["run_data"]
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(5)
        if where == 0:
            rd[rng.choice(TOP)] = rng.choice(ODD)
        elif where == 1 and isinstance(data, dict):
            data[rng.choice(DATA)] = rng.choice(ODD)
        elif where == 2 and isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            data["metrics"][rng.choice(METRICS)] = rng.choice(ODD)
        elif where == 3 and isinstance(data, dict) and isinstance(data.get("tools"), list) and data["tools"]:
            tool = rng.choice(data["tools"])
            if not isinstance(tool, dict):  # an earlier change made the list odd
                continue
            key = rng.choice(["tool_name", "tool_call_error", "metrics", "metrics.duration", "metrics.time"])
            if key.startswith("metrics.") and isinstance(tool.get("metrics"), dict):
                tool["metrics"][key[8:]] = rng.choice(ODD)
            else:
                tool[key] = rng.choice(ODD)
        elif where == 4 and isinstance(data, dict):
            data["tools"] = []
            roles, history = ["tool", "user", None, 3, "TOOL"], [True, False, None, 1]
            messages = [
                {"role": rng.choice(roles), "from_history": rng.choice(history), "tool_name": rng.choice(ODD),
                 "metrics": rng.choice([{"time": rng.choice(ODD)}, None, {}])}
                for _ in range(rng.randint(0, 3))
            ]  # fmt: skip
            data["messages"] = messages + rng.choice([[], [3], ["x"]])
    return rd


def check(rd, window) -> bool:
    """The quick pre-read equals the plain one; whether it read the document."""
    quick = formats._quick_pre_read(rd, window)
    if quick is None:
        return False
    try:
        plain = formats._pre_read_run(rd, window)
    except Exception:  # noqa: BLE001 - an error the quick path must not have read past
        pytest.fail(f"the quick path read a document the plain one fails on: {rd!r}")
    assert same(quick, plain), (rd, quick, plain)
    return True


def test_quick_pre_read_is_the_plain_one_on_generated_documents():
    docs = run_docs(1) + run_docs(2)
    hits = sum(check(rd, window) for rd in docs for window in (WINDOW, None))
    assert hits > 0.9 * 2 * len(docs)  # the common document takes the quick path


@pytest.mark.parametrize("seed", range(4))
def test_quick_pre_read_is_the_plain_one_on_odd_values(seed):
    rng = random.Random(seed)
    docs = run_docs(seed + 10, 100)
    hits = total = 0
    for _ in range(3000):
        rd = mutated(rng, rng.choice(docs))
        for window in (WINDOW, None):
            hits += check(rd, window)
            total += 1
    assert 0.2 * total < hits < 0.9 * total  # odd values both read quickly and left alone


@pytest.mark.parametrize(
    "change",
    [
        lambda rd: rd.update(_id=None),
        lambda rd: rd.update(_id="an-id"),
        lambda rd: rd.update(parent_run_id=None) or rd["run_data"].update(parent_run_id="p1"),
        lambda rd: rd.update(status=None) or rd["run_data"].update(status="error"),
        lambda rd: rd.update(created_at=dt.datetime(2024, 12, 5, 10)),
        lambda rd: rd.update(updated_at=dt.datetime(2024, 12, 5, 10)),
        lambda rd: rd.update(created_at=1735689600),  # the window end: set aside
        lambda rd: rd["run_data"].update(metrics=None),
        lambda rd: rd["run_data"].update(tools=None),
        lambda rd: rd["run_data"]["metrics"].update(total_tokens=None, input_tokens=3, output_tokens=None),
        lambda rd: rd["run_data"]["metrics"].update(cache_read_tokens=None, cached_tokens=5),
        lambda rd: rd["run_data"]["metrics"].update(duration=None, cost=0.0, time_to_first_token=-0.0),
        lambda rd: rd["run_data"].update(
            tools=[{"tool_name": None, "tool_call_error": True, "metrics": {"duration": None, "time": 2.5}}]
        ),
        lambda rd: rd["run_data"].update(
            tools=[], messages=[{"role": "tool", "tool_name": "t", "metrics": {"time": 1.0}}, {"role": "user"}]
        ),
    ],
)
def test_quick_pre_read_reads_these_variants(change):
    rd = copy.deepcopy(run_docs(5, 5)[0])
    change(rd)
    assert check(rd, WINDOW) and check(rd, None)


def test_finish_run_is_the_document_read_at_the_join():
    rng = random.Random(7)
    docs = run_docs(3) + [mutated(rng, rd) for rd in run_docs(4, 100) for _ in range(3)]
    read = 0
    for rd in docs:
        pre = formats.pre_read_run(rd)
        for model in ((None, None), ("P", "M")):
            for default in (math.inf, 1733750000.0):
                try:
                    want = formats._read_run_doc(rd, 4, default, model)
                except Exception:  # noqa: BLE001 - then the PreRun holds a reason
                    assert pre[5] is not None
                    continue
                if pre[5] is None:  # else the document holds bad text, which only the PreRun checks
                    read += 1
                    got = formats._finish_run(pre, 4, default, model)
                    assert same(got, tuple(want[:16])), (rd, got, want)
                    assert all(type(t) is ToolCall for t in got[15])
                    assert same(formats.assign_trees([got]), formats.assign_trees([want]))
    assert read > len(docs)


def test_assign_trees_is_its_replace_form():
    def plain(runs):
        parent = {}
        top_order = {}
        n_top = 0
        for r in runs:
            if r.run_id is not None:
                parent.setdefault(r.run_id, r.parent_run_id)
            if r.parent_run_id is None:
                if r.run_id is not None:
                    top_order.setdefault(r.run_id, n_top)
                n_top += 1

        def root(run_id):
            seen = set()
            while run_id is not None and run_id not in seen:
                if run_id in top_order:
                    return top_order[run_id]
                seen.add(run_id)
                run_id = parent.get(run_id)
            return -1

        out, k = [], 0
        for i, r in enumerate(runs):
            if r.parent_run_id is None:
                out.append(r._replace(order=i, top=True, tree=k))
                k += 1
            else:
                out.append(r._replace(order=i, top=False, tree=root(r.parent_run_id)))
        return out

    rng = random.Random(3)
    ids = [None, "a", "b", "c", "d"]
    for _ in range(500):
        runs = [
            Run(rng.choice(ids), rng.choice(ids), 1.0, i, "COMPLETED", None, None, 1, 2, 3, 0, 0, None, 1.5, None,
                (ToolCall("t", False, None),), order=rng.randrange(9), top=rng.random() < 0.5, tree=rng.randrange(9))
            for i in range(rng.randint(0, 6))
        ]  # fmt: skip
        assert same(formats.assign_trees(runs), plain(runs))
        assert all(type(r) is Run for r in formats.assign_trees(runs))


ONE_WRAPPER_LINES = [
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "a": 1}',
    '{"_id": {"$oid": "0123456789abcdef0123456"}, "a": 1}',
    '{"_id": {"$oid": 5}}',
    '{"_id": {"$date": 5}, "a": [1, {"b": null}]}',
    '{"_id": {"$date": "2024-01-01T00:00:00Z"}}',
    '{"_id": {"$date": "bad"}}',
    '{"_id": {"$numberLong": "12"}, "x": 1}',
    '{"_id": {"$numberInt": "x"}}',
    '{"_id": {"$minKey": 1}}',
    '{"_id": {"$undefined": true}}',
    '{"_id": {"$symbol": "s"}}',
    '{"_id": {"$foo": 1}}',
    '{"_id": {"$": 1}}',
    '{"_id": {"$date": {"$numberLong": "5"}}}',
    '{"_id": {"$oid": []}}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "d": {"$date": 5}}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "d": "$x"}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "d": "a\\"$b"}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "\\u0024d": 1}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "_id": 1}',
    '{"_id": 1, "_id": {"$oid": "0123456789abcdef01234567"}}',
    '{"_id": {"x": "$"}}',
    '{"_id": {"x": 1, "$oid": "0123456789abcdef01234567"}}',
    '{"_id": {"$oid": "0123456789abcdef01234567", "x": 1}}',
    '{"a": {"$oid": "0123456789abcdef01234567"}}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "a": "\u00e9\U0001f600"}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "a": 12345678901234567890123}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "a": NaN}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}, "a": "\\ud800"}',
    '{"_id": {"$oid": "0123456789abcdef01234567"}}x',
]


@pytest.mark.parametrize("line", ONE_WRAPPER_LINES)
def test_a_line_with_one_wrapper_reads_as_json_util(line):
    def outcome(fn):
        try:
            return "ok", fn(line)
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            return "error", type(exc), str(exc)

    want, got = outcome(json_util.loads), outcome(loads_extended_json)
    assert want[0] == got[0]
    assert (same(want[1], got[1]) and json.dumps(want[1], default=repr) == json.dumps(got[1], default=repr)
            if want[0] == "ok" else want[1:] == got[1:])  # fmt: skip


class _Unprintable:
    def __str__(self):
        raise ValueError("no text")


class _Key(str):
    pass


def _nested(levels: int, leaf, key="k"):
    doc = leaf
    for i in range(levels):
        doc = {key: doc} if i % 2 else [doc]
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        {"a": 1},
        {1: "x"},
        {None: 1, "b": [1]},
        {1.5: 2, True: 3},
        {(1, 2): 1},
        {_Key("k"): 1},
        {"\ud800": 1},
        {1: "\ud800"},
        {"a": ["\udfff"]},
        {"a": 2**64, "b": -(2**63) - 1},
        {1: 2**70},
        {"a": ObjectId(b"0123456789ab"), "d": dt.datetime(2024, 1, 1), "f": [math.nan, math.inf]},
        {"a": _Unprintable()},
        {1: _Unprintable()},
        {"a": b"\xff", "s": {1, 2}},
        _nested(253, 1),
        _nested(254, 1),
        _nested(255, 1),
        _nested(300, "\ud800"),
        _nested(200, {1: "x"}),
        _nested(300, {1: "x"}),
        {2: _nested(260, 2**70)},
    ],
)
def test_text_problem_is_the_one_pass_answer(doc):
    import orjson

    from transforms import encodable

    def one_pass(doc):
        try:
            orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS)
            return None
        except TypeError as exc:
            if "surrogates" in str(exc):
                return encodable._UNICODE
            if "Recursion limit" in str(exc):
                return encodable._TOO_DEEP
        return encodable._json_problem(doc)

    assert encodable.problem(doc) == one_pass(doc)
