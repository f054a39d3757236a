"""The metric families' bulk `add_inputs` give exactly what the families gave one run at a
time (tests/plain_rows.py, the code before them), on crafted runs full of edge cases (None,
empty, ints for floats, NaN/inf, -0.0, bool, huge ints, Int64, unicode), in any merge order;
the row keeps every family value in column order; timestamps are written as format_ts
writes them."""

from __future__ import annotations

import math
import random

import pytest
from bson import Int64
from plain_rows import PLAIN_FAMILIES
from test_fast_paths import same

from transforms.columns import COLUMN_NAMES
from transforms.formats import assign_trees
from transforms.metrics import FAMILIES, combine_runs
from transforms.records import Run, SessionInfo, ToolCall
from transforms.rows import _timestamp_field, assemble_row
from transforms.timestamps import format_ts

NAN, INF = math.nan, math.inf


class Text(str):
    """A str subclass."""


def pick(rng: random.Random, choices: list):
    return choices[rng.randrange(len(choices))]


def crafted_runs(rng: random.Random) -> list[Run]:
    counts = [0, 0, 1, 7, 2**63 - 1, 2**70, True, Int64(5)]
    seconds = [None, None, 0.0, -0.0, 1.5, 2, 1e-9, NAN, INF, 1e308, 0.1, 31_536_000.0]
    texts = [None, "OpenAI", "gpt-4o", "\u00e9\u4e2d\U0001f600", "", "a,b", Text("x")]
    statuses = ["COMPLETED", "ERROR", "ERROR", "CANCELLED", "PENDING", "RUNNING", "PAUSED", "UNKNOWN"]
    runs = []
    for i in range(rng.randrange(9)):
        parent = None if rng.random() < 0.6 else pick(rng, [f"r{j}" for j in range(i)] + ["gone", None])
        tools = tuple(
            ToolCall(pick(rng, [None, "search", "get", "\u4e2d", "b", "a"]), rng.random() < 0.3, pick(rng, seconds))
            for _ in range(pick(rng, [0, 0, 1, 2, 4]))
        )
        runs.append(
            Run(
                run_id=pick(rng, [f"r{i}", f"r{i}", None, "r0"]), parent_run_id=parent,
                created_at=pick(rng, [1.7e9 + rng.randrange(100), 1.7e9 + rng.random(), 1_700_000_000, -0.0, NAN]),
                position=i, status=pick(rng, statuses), model_provider=pick(rng, texts), model_id=pick(rng, texts),
                input_tokens=pick(rng, counts), output_tokens=pick(rng, counts), total_tokens=pick(rng, counts),
                cache_read_tokens=pick(rng, counts), reasoning_tokens=pick(rng, counts),
                cost=pick(rng, [None, 0.5, 3, -0.0, 1e308, NAN, 1e-300]), duration_s=pick(rng, seconds),
                ttft_s=pick(rng, seconds), tools=tools,
            )
        )  # fmt: skip
    runs = assign_trees(runs)
    if rng.random() < 0.3:
        rng.shuffle(runs)  # a combiner may see the runs in any order
    return runs


def one_pass(fn, runs):
    return fn.extract_output(fn.add_inputs(fn.create_accumulator(), runs))


def plain_pass(fn, runs):
    acc = fn.create_accumulator()
    for run in runs:
        acc = fn.add_input(acc, run)
    return fn.extract_output(acc)


SESSIONS = [crafted_runs(random.Random(seed)) for seed in range(400)]


@pytest.mark.parametrize("index", range(len(FAMILIES)), ids=lambda i: type(FAMILIES[i]).__name__)
def test_families_give_what_the_plain_families_give(index):
    fn, plain = FAMILIES[index], PLAIN_FAMILIES[index]
    rng = random.Random(index)
    for runs in SESSIONS:
        expected = plain_pass(plain, runs)
        assert same(one_pass(fn, runs), expected), runs
        assert same(plain_pass(fn, runs), expected), runs
        assert same(one_pass(fn, iter(runs)), expected), runs
        # Parts merged in some order: the plain families' merge of the same parts, in the same order.
        cuts = sorted(rng.sample(range(len(runs) + 1), k=min(3, len(runs) + 1)))
        parts = [runs[a:b] for a, b in zip([0, *cuts], [*cuts, len(runs)])]
        rng.shuffle(parts)
        merged = fn.merge_accumulators([fn.add_inputs(fn.create_accumulator(), p) for p in parts])
        plain_merged = plain.merge_accumulators([plain_pass_acc(plain, p) for p in parts])
        assert same(fn.extract_output(merged), plain.extract_output(plain_merged)), runs


def plain_pass_acc(fn, runs):
    acc = fn.create_accumulator()
    for run in runs:
        acc = fn.add_input(acc, run)
    return acc


def test_combine_runs_and_the_row_are_the_plain_ones():
    rng = random.Random(5)
    for runs in SESSIONS:
        families = combine_runs(runs)
        assert same(list(families), [plain_pass(fn, runs) for fn in PLAIN_FAMILIES])
        info = SessionInfo(
            "s\u00e9", "team", "agno3", pick(rng, [None, "a"]), pick(rng, [None, "n,1"]),
            pick(rng, [None, "P"]), pick(rng, [None, "m"]), pick(rng, [0.5, 1.7e9, 1_700_000_000, 7e9]),
        )  # fmt: skip
        row = assemble_row(info, families)
        assert list(row) == list(COLUMN_NAMES)
        for family in families:
            for name, value in family.items():
                if name != "primary_model":
                    assert same(row[name], value), name


def outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return "error", type(exc), str(exc)


def test_timestamp_field_is_format_ts():
    rng = random.Random(4)
    epochs = [0.0, 1e-6, 4.9e-7, -1e-6, 86399.9999995, 1733821200.000001, -6.2e10, -3.0e10, -3.1e10, -62135596800.0]
    epochs += [253402300799.999999, 253402300800.0, -62135596801.0, NAN, INF, -INF, 1e300, 7, -7, True]
    epochs += [rng.uniform(-6.3e10, 2.6e11) for _ in range(3000)] + [rng.uniform(0, 7.3e9) for _ in range(3000)]
    for epoch in epochs:
        assert outcome(_timestamp_field, epoch) == outcome(format_ts, epoch), epoch
