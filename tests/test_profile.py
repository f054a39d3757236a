"""profile.json against the same statistics computed with numpy/pyarrow from the rows
the run wrote (read through the manifest), within the documented error where the
profile is approximate (transforms/profile.py); and its sketch as a Beam combiner."""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from dataset_io import TABLE_COLUMNS, dataset_dir, read_manifest, run_pipeline

# Documented in transforms/profile.py (our copies: the test checks the promise).
ALPHA, KMV_K, EXACT_VALUES, BINS, TOP = 0.005, 1024, 1000, 20, 10
ARROW_TYPES = {
    pa.string(): "string",
    pa.int64(): "int",
    pa.float64(): "float",
    pa.bool_(): "bool",
    pa.timestamp("us", tz="UTC"): "timestamp",
}
SOURCE = "simulated://?sessions=400&seed=7&formats=agno3,agno2,agno1,phidata&bad_rate=0.05"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("profile-out")
    argv = ["--source", SOURCE, "--start_date", "2024-01-01", "--end_date", "2024-12-31", "--output", str(out)]
    assert run_pipeline([*argv, "--format", "parquet", "--tables", "sessions,runs,tool_calls"]) == 0
    return out


def arrow_table(out: Path, name: str) -> pa.Table:
    manifest = read_manifest(out)
    folder = dataset_dir(out)
    parts = [pq.read_table(io.BytesIO((folder / f["path"]).read_bytes())) for f in manifest["tables"][name]["files"]]
    table = pa.concat_tables(parts)
    assert table.column_names == TABLE_COLUMNS[name]
    return table


def profile_of(out: Path) -> dict:
    manifest = read_manifest(out)
    assert manifest["documents"]["profile"]["path"] == "profile.json"
    return json.loads((dataset_dir(out) / "profile.json").read_text())


def expected_edges(kind: str, lo: float, hi: float) -> list[float]:
    if kind == "int" and hi - lo + 1 <= BINS:
        return [lo - 0.5 + i for i in range(int(hi - lo) + 2)]
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return list(np.linspace(lo, hi, BINS + 1))


def near_an_edge(values: np.ndarray, a: float, b: float) -> int:
    """Values a sketch may put in a neighbouring bin: within ALPHA (relative) of a or b."""
    return int(sum(np.sum(np.abs(values - e) <= ALPHA * np.abs(values)) for e in (a, b)))


def check_numeric(col: dict, values: np.ndarray, kind: str) -> None:
    assert col["min"] == pytest.approx(values.min()) and col["max"] == pytest.approx(values.max())
    assert col["mean"] == pytest.approx(values.mean(), rel=1e-9)
    edges = col["histogram"]["edges"]
    assert edges == pytest.approx(expected_edges(kind, values.min(), values.max()))
    exact_counts = np.histogram(values, bins=edges)[0]
    if col["exact"]:
        for q in (50, 95):
            assert col[f"p{q}"] == pytest.approx(np.percentile(values, q), rel=1e-12)
        assert col["histogram"]["counts"] == list(exact_counts)
        return
    ordered = np.sort(values)
    for q in (50, 95):
        position = (len(values) - 1) * q / 100
        lo, hi = ordered[math.floor(position)], ordered[math.ceil(position)]
        assert lo * (1 - ALPHA) - 1e-12 <= col[f"p{q}"] <= hi * (1 + ALPHA) + 1e-12, q
    assert sum(col["histogram"]["counts"]) == len(values)
    for i, (got, want) in enumerate(zip(col["histogram"]["counts"], exact_counts)):
        assert abs(got - want) <= near_an_edge(values, edges[i], edges[i + 1]), i


def check_column(name: str, col: dict, column: pa.ChunkedArray) -> None:
    values = column.to_pylist()
    present = [v for v in values if v is not None]
    assert col["type"] == ARROW_TYPES[column.type], name
    assert col["nulls"] == len(values) - len(present), name
    distinct = len(set(present))
    assert col["exact"] == (distinct <= EXACT_VALUES), name
    if col["exact"]:
        assert col["distinct"] == distinct, name
    else:  # KMV: relative standard error 1/sqrt(k - 2); 4 of them
        assert abs(col["distinct"] - distinct) <= 4 * distinct / math.sqrt(KMV_K - 2), name
    if not present:
        assert "min" not in col and "top" not in col
        return
    kind = col["type"]
    if kind == "timestamp":
        stamps = sorted(v.strftime("%Y-%m-%dT%H:%M:%S") for v in present)
        assert (col["min"][:19], col["max"][:19]) == (stamps[0], stamps[-1]), name
        assert "mean" not in col
    elif kind in ("int", "float"):
        check_numeric(col, np.array(present, dtype=float), kind)
        assert "top" not in col
    else:
        counts = Counter(present)
        if col["exact"]:
            want = sorted(counts.items(), key=lambda vc: (-vc[1], str(vc[0]).lower() if kind == "bool" else vc[0]))
            assert [tuple(p) for p in col["top"]] == want[:TOP], name
        else:  # Misra-Gries: never over, under by at most rows / (EXACT_VALUES + 1)
            for value, count in col["top"]:
                assert counts[value] - len(present) / (EXACT_VALUES + 1) <= count <= counts[value], name
        assert "mean" not in col and "histogram" not in col


def test_profile_matches_the_written_rows(published):
    profile = profile_of(published)
    assert list(profile["tables"]) == ["sessions", "runs", "tool_calls"]
    sketched = 0
    for name, table_profile in profile["tables"].items():
        table = arrow_table(published, name)
        assert table_profile["rows"] == table.num_rows > 0
        assert list(table_profile["columns"]) == TABLE_COLUMNS[name]
        for column in TABLE_COLUMNS[name]:
            check_column(column, table_profile["columns"][column], table.column(column))
            sketched += not table_profile["columns"][column]["exact"]
    assert sketched >= 3  # the approximate paths are exercised too (runs' ids, durations)


def test_sessions_per_day_and_hour(published):
    sessions = profile_of(published)["tables"]["sessions"]
    starts = arrow_table(published, "sessions").column("session_start").to_pylist()
    assert sessions["sessions_per_day"] == dict(sorted(Counter(s.strftime("%Y-%m-%d") for s in starts).items()))
    assert sessions["sessions_per_hour"] == [sum(s.hour == h for s in starts) for h in range(24)]


def test_quarantine_by_reason(published):
    profile, manifest = profile_of(published), read_manifest(published)
    records = [
        json.loads(line)
        for entry in manifest["quarantine"]
        for line in (dataset_dir(published) / entry["path"]).read_text().splitlines()
        if line.strip()
    ]
    assert manifest["counts"]["quarantined"] == len(records) > 0
    by_reason: dict[str, list] = {}
    for r in records:
        by_reason.setdefault(r["reason"][:300], []).append(r["_id"])
    got = {q["reason"]: (q["count"], q["sample_id"]) for q in profile["quarantine_by_reason"]}
    assert got == {reason: (len(ids), min(ids)) for reason, ids in by_reason.items()}


def test_sketch_merges_as_a_beam_combiner():
    """The CombineFn over 3,000 distinct values (sketch mode) in a TestPipeline: min,
    max, mean exact; p50 within ALPHA of numpy's."""
    from transforms.columns import Column
    from transforms.profile import TableProfileFn

    values = [1.5 + (i * 7919 % 3000) / 10 for i in range(3000)]
    fn = TableProfileFn((Column("x", "float", ""),))
    median = float(np.percentile(values, 50))

    def summary(acc):
        col = fn.finish(acc)["columns"]["x"]
        return (
            col["exact"],
            col["min"],
            col["max"],
            round(col["mean"], 9),
            abs(col["p50"] - median) <= ALPHA * median,
            sum(col["histogram"]["counts"]),
        )

    with TestPipeline() as p:
        out = p | beam.Create([{"x": v} for v in values]) | beam.CombineGlobally(fn) | beam.Map(summary)
        assert_that(out, equal_to([(False, 1.5, 301.4, round(float(np.mean(values)), 9), True, 3000)]))


def test_sliced_run_has_the_profile_of_one_pass(tmp_path):
    """Three slices write three sketches; the launcher merges them into the profile
    of the unsliced run (the slices' sketches hold exact values here)."""
    argv = ["--source", "simulated://?sessions=90&seed=3", "--start_date", "2024-01-01", "--end_date", "2024-12-31"]
    assert run_pipeline([*argv, "--output", str(tmp_path / "one"), "--tables", "sessions,runs"]) == 0
    assert run_pipeline([*argv, "--output", str(tmp_path / "three"), "--tables", "sessions,runs", "--slices", "3"]) == 0
    one, three = profile_of(tmp_path / "one"), profile_of(tmp_path / "three")
    assert read_manifest(tmp_path / "three")["slices"] == 3
    assert not list(dataset_dir(tmp_path / "three").glob("run-*/_profile*"))  # read and removed

    def rounded(value):
        if isinstance(value, float):
            return round(value, 9)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    assert one["tables"]["runs"]["rows"] > 90
    assert rounded(three) == rounded(one)


def test_batches_count_as_one_value_at_a_time(monkeypatch):
    """Rows counted in batches give the sketch and profile of rows counted one by one
    (BATCH_ROWS = 1), across the switch from exact counts to sketches (3,000 distinct
    ints and strings), with nulls, ties of 1 and 1.0, and an epoch that rounds into
    the next hour (3599.9999996 s is 01:00:00 at whole microseconds)."""
    import random

    from transforms.columns import Column
    from transforms.profile import TableProfileFn

    rnd = random.Random(5)
    columns = (
        Column("a", "int", ""),
        Column("b", "float", ""),
        Column("c", "string", ""),
        Column("t", "timestamp", ""),
    )
    rows = [
        {
            "a": rnd.choice([None, rnd.randrange(-50, 3000), 1]),
            "b": rnd.choice([None, rnd.random() * 100, 1.0, 0.0, -rnd.random()]),
            "c": rnd.choice([None, f"s{rnd.randrange(30)}", f"u{i}"]),
            "t": rnd.choice([None, 1733000000 + rnd.random() * 3e6, 3599.9999996]),
        }
        for i in range(6000)
    ]

    def profile(batch: int):
        monkeypatch.setattr(TableProfileFn, "BATCH_ROWS", batch)
        fn = TableProfileFn(columns, "t")
        halves = [fn.create_accumulator(), fn.create_accumulator()]
        for i, row in enumerate(rows):
            fn.add_input(halves[i % 2], row)
        return fn.finish(fn.merge_accumulators(halves))

    one, batched = profile(1), profile(2048)
    assert one == batched
    assert one["columns"]["a"]["exact"] is False and one["columns"]["c"]["exact"] is False
    assert one["sessions_per_day"]["1970-01-01"] == sum(1 for r in rows if r["t"] == 3599.9999996) > 0
    fn = TableProfileFn(columns, "t")
    single = fn.finish(fn.add_input(fn.create_accumulator(), {"a": None, "b": None, "c": None, "t": 3599.9999996}))
    assert single["sessions_per_hour"][1] == 1 and single["sessions_per_day"] == {"1970-01-01": 1}


def test_number_hash_is_the_same_one_by_one_and_over_an_array():
    """The sketches hash a batch with numpy and a merged value alone: the two must agree
    bit for bit, take 1 and 1.0 (and 0.0 and -0.0) as one value, as the exact counts
    do, and stay in [0, 1). The mix is splitmix64's: seeded with 0, the reference
    generator's first output is 0xE220A8397B1DCDAF (the finalizer of its first state,
    0x9E3779B97F4A7C15)."""
    from transforms.profile import _hash, _hash_numbers, _mix64

    assert _mix64(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF

    values = [0.0, -0.0, 1, 1.0, 2**63 - 1, -3, 0.1, 1e-300, 1733154774.25]
    one_by_one = [_hash(v) for v in values]
    assert one_by_one == _hash_numbers(values).tolist()
    assert one_by_one[0] == one_by_one[1] and one_by_one[2] == one_by_one[3]
    assert all(0.0 <= h < 1.0 for h in one_by_one) and len(set(one_by_one)) == len(values) - 2


def test_bucket_keys_over_an_array_are_the_keys_one_by_one():
    """A batch's DDSketch keys come from numpy's log, a merged value's from math.log:
    they must be the same for every value, also where the two logs could differ in the
    last bit and move a key: at the bucket edges GAMMA**k and a few ulps around them,
    for ints beyond 2**53, subnormals, the largest floats, negatives, and zeros."""
    import random

    from transforms.profile import GAMMA, _bucket_add, _buckets_add

    rnd = random.Random(11)
    edges = [GAMMA**k for k in range(-3000, 3000, 7)]
    values = [
        *edges,
        *(math.nextafter(e, math.inf) for e in edges),
        *(math.nextafter(e, 0.0) for e in edges),
        *(-e for e in edges[::5]),
        *(rnd.lognormvariate(0, 20) for _ in range(5000)),
        2**53 + 1, 2**63 - 1, -(2**63), 7, 1, -1, 0, 0.0, -0.0, 5e-324, 1.7976931348623157e308,
    ]  # fmt: skip
    counts = [rnd.randrange(1, 50) for _ in values]
    one_by_one = {"pos": {}, "neg": {}, "zero": 0}
    for value, count in zip(values, counts):
        _bucket_add(one_by_one, value, count)
    batched = {"pos": {}, "neg": {}, "zero": 0}
    _buckets_add(batched, values, counts)
    assert batched == one_by_one
    assert one_by_one["zero"] == sum(c for v, c in zip(values, counts) if v == 0)
    assert len(one_by_one["pos"]) > 1000 and len(one_by_one["neg"]) > 100
