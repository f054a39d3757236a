"""The profile of a table, computed by one Beam CombineFn over its rows (never by
reading the written files back): per column its type, nulls, distinct values, and
for numbers min, max, mean, p50, p95 and a histogram; for strings and booleans the
top values with their counts; for the session table, sessions per day and per hour.

The accumulator is a mergeable sketch, kept in plain dicts and lists so that it is
also the small JSON file a pipeline run writes (`_profile-….jsonl`): the launcher
merges the files of all slices with the same CombineFn and finishes the profile.

Exact until a column has more than EXACT_VALUES distinct values (a column's values
are counted one by one); past that, for that column (docs/decisions.md, "Profile"):

- numbers: min, max, mean and null counts stay exact; values go into logarithmic
  buckets (DDSketch): p50 and p95 are within a relative error ALPHA (0.5%) of a
  value between the two closest ranks; a histogram count may be off by the values
  lying within ALPHA (relative) of a bin edge.
- distinct: k-minimum-values over a 53-bit hash (KMV_K = 1024 hashes), relative
  standard error about 1/sqrt(KMV_K - 2) ≈ 3%.
- top values: Misra-Gries with EXACT_VALUES counters; a count is never over, and
  under by at most rows / (EXACT_VALUES + 1).

Histograms: HISTOGRAM_BINS equal-width bins from the exact min to the exact max
(numpy.histogram's rule, last bin closed), or one bin per whole number when an int
column spans fewer than HISTOGRAM_BINS of them: one pass, the sketch holds the
distribution, the edges are chosen when the profile is finished.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import heapq
import json
import math
import struct
from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np

from transforms.columns import Column
from transforms.timestamps import format_ts

EXACT_VALUES = 1000
ALPHA = 0.005
GAMMA = (1 + ALPHA) / (1 - ALPHA)
KMV_K = 1024
TOP_VALUES = 10
HISTOGRAM_BINS = 20
NUMERIC = ("int", "float", "timestamp")


# -- one column ----------------------------------------------------------------


_MASK64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64's finalizer: a bijection of 64-bit ints that spreads every bit."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _hash(value: Any) -> float:
    """A hash in [0, 1), the same in every process (Python's hash() of a str is not):
    a number by its float64 bits (1 and 1.0 alike, as the exact counts take them; -0.0
    as 0.0), mixed as `_hash_numbers` does for a whole array; anything else by
    blake2b of its repr."""
    if type(value) is int or type(value) is float:
        bits = int.from_bytes(struct.pack("<d", float(value) + 0.0), "little")
        return (_mix64(bits) >> 11) * 2.0**-53
    digest = hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) * 2.0**-53


def _hash_numbers(values: list[Any]) -> Any:
    """`_hash` of each number, computed over a numpy array (the same integer steps)."""
    x = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _bucket(value: float) -> int:
    """DDSketch key: bucket k holds (GAMMA^(k-1), GAMMA^k]; negatives mirrored as
    negative keys offset by one, 0 as the key 0 of its own dict entry "z"."""
    return math.ceil(math.log(value) / math.log(GAMMA))


def _representative(key: int) -> float:
    return 2 * GAMMA**key / (GAMMA + 1)


def new_column(kind: str) -> dict[str, Any]:
    acc: dict[str, Any] = {"n": 0, "nulls": 0, "exact": {}}
    if kind in NUMERIC:
        acc.update(min=None, max=None, sum=0)
    return acc


def _add_value(acc: dict[str, Any], value: Any, count: int, kind: str) -> None:
    """Count `value` `count` times into the sketch part (exact counter or sketches)."""
    exact = acc["exact"]
    if exact is not None:
        exact[value] = exact.get(value, 0) + count
        if len(exact) > EXACT_VALUES:
            _overflow(acc, kind)
        return
    _kmv_add(acc, _hash(value))
    if kind in NUMERIC:
        _bucket_add(acc, value, count)
    else:
        mg = acc["mg"]
        mg[value] = mg.get(value, 0) + count
        if len(mg) > EXACT_VALUES:
            _mg_prune(acc)


def add_values(acc: dict[str, Any], values: list[Any], kind: str) -> None:
    """Count a batch of one column's values (None: null). Builtins do the per-value
    work (sum, min, max, Counter run in C); each distinct value of the batch then
    enters the sketch once with its count: the same result as one value at a time
    (Misra-Gries takes weighted counts with the same bounds)."""
    present = [v for v in values if v is not None]
    acc["nulls"] += len(values) - len(present)
    if not present:
        return
    acc["n"] += len(present)
    if kind in NUMERIC:
        acc["sum"] = sum(present, acc["sum"])  # left to right, as `+=` one by one
        lo, hi = min(present), max(present)
        if acc["min"] is None or lo < acc["min"]:
            acc["min"] = lo
        if acc["max"] is None or hi > acc["max"]:
            acc["max"] = hi
    counted = Counter(present)
    items = iter(counted.items())
    if acc["exact"] is not None:
        for value, count in items:
            _add_value(acc, value, count, kind)
            if acc["exact"] is None:
                break
    rest = list(items)  # past EXACT_VALUES: the sketches take the rest at once
    if rest:
        _sketch_batch(acc, [v for v, _ in rest], [c for _, c in rest], kind)


def _sketch_batch(acc: dict[str, Any], values: list[Any], counts: list[int], kind: str) -> None:
    """Distinct values with their counts into the sketches, as `_add_value` adds them
    one by one: the KMV hashes merged with numpy, the buckets' keys as `_buckets_add`
    computes them."""
    hashes = _hash_numbers(values) if kind in NUMERIC else np.array([_hash(v) for v in values])
    kmv = np.union1d(np.asarray(acc["kmv"], dtype=np.float64), hashes)[:KMV_K]
    acc["kmv"] = kmv.tolist()
    if kind in NUMERIC:
        _buckets_add(acc, values, counts)
        return
    mg = acc["mg"]
    for value, count in zip(values, counts):
        mg[value] = mg.get(value, 0) + count
        if len(mg) > EXACT_VALUES:
            _mg_prune(acc)
            mg = acc["mg"]


def _overflow(acc: dict[str, Any], kind: str) -> None:
    exact, acc["exact"] = acc["exact"], None
    acc["kmv"] = sorted(heapq.nsmallest(KMV_K, {_hash(v) for v in exact}))
    if kind in NUMERIC:
        acc["pos"], acc["neg"], acc["zero"] = {}, {}, 0
        for value, count in exact.items():
            _bucket_add(acc, value, count)
    else:
        acc["mg"], acc["mg_under"] = dict(exact), 0
        _mg_prune(acc)


def _bucket_add(acc: dict[str, Any], value: float, count: int) -> None:
    if value > 0:
        key = _bucket(value)
        acc["pos"][key] = acc["pos"].get(key, 0) + count
    elif value < 0:
        key = _bucket(-value)
        acc["neg"][key] = acc["neg"].get(key, 0) + count
    else:
        acc["zero"] += count


_LOG_GAMMA = math.log(GAMMA)
_NEAR = 1e-9  # of a whole number: where a last-bit difference of log could move a key


def _buckets_add(acc: dict[str, Any], values: list[Any], counts: list[int]) -> None:
    """`_bucket_add` of each (value, count), the keys computed over arrays: numpy's log
    may differ from `math.log` in the last bit, and a key must not depend on which path
    a value took, so a quotient within _NEAR of a whole number takes `_bucket`'s key."""
    x = np.asarray(values, dtype=np.float64)  # as math.log converts an int
    c = np.asarray(counts, dtype=np.int64)
    acc["zero"] += int(c[x == 0].sum())
    for side, mask in (("pos", x > 0), ("neg", x < 0)):
        if not mask.any():
            continue
        v = np.abs(x[mask])
        q = np.log(v) / _LOG_GAMMA
        keys = np.ceil(q).astype(np.int64)
        below = q - np.floor(q)
        for i in np.flatnonzero((below < _NEAR) | (below > 1 - _NEAR)):
            keys[i] = _bucket(float(v[i]))
        found, where = np.unique(keys, return_inverse=True)
        totals = np.bincount(where, weights=c[mask])  # exact: whole numbers below 2**53
        counter = acc[side]
        for key, n in zip(found.tolist(), totals.tolist()):
            counter[key] = counter.get(key, 0) + int(n)


def _kmv_add(acc: dict[str, Any], h: float) -> None:
    kmv = acc["kmv"]
    if len(kmv) >= KMV_K and h >= kmv[-1]:
        return
    i = bisect.bisect_left(kmv, h)
    if i < len(kmv) and kmv[i] == h:
        return
    kmv.insert(i, h)
    if len(kmv) > KMV_K:
        kmv.pop()


def _mg_prune(acc: dict[str, Any]) -> None:
    """Misra-Gries: subtract the (EXACT_VALUES+1)-th largest count from all, drop the rest."""
    mg = acc["mg"]
    if len(mg) <= EXACT_VALUES:
        return
    cut = heapq.nlargest(EXACT_VALUES + 1, mg.values())[-1]
    acc["mg"] = {v: c - cut for v, c in mg.items() if c > cut}
    acc["mg_under"] += cut


def merge_column(a: dict[str, Any], b: dict[str, Any], kind: str) -> dict[str, Any]:
    """`b` merged into `a` (returned)."""
    a["n"] += b["n"]
    a["nulls"] += b["nulls"]
    if kind in NUMERIC:
        a["sum"] += b["sum"]
        for key, pick in (("min", min), ("max", max)):
            if b[key] is not None:
                a[key] = b[key] if a[key] is None else pick(a[key], b[key])
    if b["exact"] is not None:
        for value, count in b["exact"].items():
            _add_value(a, value, count, kind)
        return a
    if a["exact"] is not None:
        _overflow(a, kind)
    for h in b["kmv"]:
        _kmv_add(a, h)
    if kind in NUMERIC:
        a["zero"] += b["zero"]
        for side in ("pos", "neg"):
            for key, count in b[side].items():
                a[side][key] = a[side].get(key, 0) + count
    else:
        a["mg_under"] += b["mg_under"]
        for value, count in b["mg"].items():
            a["mg"][value] = a["mg"].get(value, 0) + count
        _mg_prune(a)
    return a


def _distribution(acc: dict[str, Any]) -> list[tuple[float, int]]:
    """(value, count) in ascending order: the exact values, or the buckets'
    representatives clamped to [min, max]."""
    if acc["exact"] is not None:
        return sorted(acc["exact"].items())
    lo, hi = acc["min"], acc["max"]
    clamp = lambda v: min(max(v, lo), hi)  # noqa: E731
    items = [(clamp(-_representative(k)), c) for k, c in sorted(acc["neg"].items(), reverse=True)]
    if acc["zero"]:
        items.append((clamp(0.0), acc["zero"]))
    items += [(clamp(_representative(k)), c) for k, c in sorted(acc["pos"].items())]
    return items


def _at_rank(items: list[tuple[float, int]], rank: int) -> float:
    seen = 0
    for value, count in items:
        seen += count
        if seen > rank:
            return value
    return items[-1][0]


def quantile(items: list[tuple[float, int]], q: float) -> float:
    """numpy's default (linear between the closest ranks) over weighted values."""
    n = sum(c for _, c in items)
    position = (n - 1) * q
    below = math.floor(position)
    low, high = _at_rank(items, below), _at_rank(items, min(below + 1, n - 1))
    return float(low + (high - low) * (position - below))


def histogram_edges(kind: str, lo: float, hi: float) -> list[float]:
    if kind == "int" and hi - lo + 1 <= HISTOGRAM_BINS:
        return [lo - 0.5 + i for i in range(int(hi - lo) + 2)]
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5  # numpy's rule for a single value
    return [lo + (hi - lo) * i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS)] + [float(hi)]


def bin_counts(items: Iterable[tuple[float, int]], edges: list[float], clip: bool = False) -> list[int]:
    """Counts per bin [e_i, e_i+1), the last bin closed; with `clip`, values outside
    the edges go to the first or last bin (else they are not counted)."""
    counts = [0] * (len(edges) - 1)
    for value, count in items:
        if value < edges[0] or value > edges[-1]:
            if not clip:
                continue
            i = 0 if value < edges[0] else len(counts) - 1
        else:
            i = min(bisect.bisect_right(edges, value) - 1, len(counts) - 1)
        counts[i] += count
    return counts


def _top(acc: dict[str, Any]) -> list[list[Any]]:
    counts = acc["exact"] if acc["exact"] is not None else acc["mg"]
    ranked = sorted(counts.items(), key=lambda vc: (-vc[1], str(vc[0])))
    return [[v, c] for v, c in ranked[:TOP_VALUES]]


def finish_column(acc: dict[str, Any], kind: str) -> dict[str, Any]:
    exact = acc["exact"] is not None
    kmv = acc.get("kmv") or []
    if exact:
        distinct = len(acc["exact"])
    elif len(kmv) < KMV_K:
        distinct = len(kmv)
    else:
        distinct = round((KMV_K - 1) / kmv[-1])
    out: dict[str, Any] = {"type": kind, "nulls": acc["nulls"], "distinct": distinct, "exact": exact}
    if acc["n"] == 0:
        return out
    if kind == "timestamp":
        out.update(min=format_ts(acc["min"]), max=format_ts(acc["max"]))
    elif kind in NUMERIC:
        items = _distribution(acc)
        edges = histogram_edges(kind, acc["min"], acc["max"])
        out.update(
            min=acc["min"],
            max=acc["max"],
            mean=acc["sum"] / acc["n"],
            p50=quantile(items, 0.5),
            p95=quantile(items, 0.95),
            histogram={"edges": edges, "counts": bin_counts(items, edges)},
        )
    else:
        out["top"] = _top(acc)
    return out


# -- a table --------------------------------------------------------------------


_HOUR_US, _DAY_US = 3_600_000_000, 86_400_000_000
_EPOCH = dt.datetime(1970, 1, 1)


def _add_times(acc: dict[str, Any], epochs: list[Any]) -> None:
    """Sessions per day and hour of the UTC datetimes `from_epoch` gives (whole
    microseconds, rounded): counted by hour number, each hour named once."""
    per_day, per_hour = acc["per_day"], acc["per_hour"]
    for hour, n in Counter(round(e * 1_000_000) // _HOUR_US for e in epochs if e is not None).items():
        day = (_EPOCH + dt.timedelta(microseconds=hour * _HOUR_US)).strftime("%Y-%m-%d")
        per_day[day] = per_day.get(day, 0) + n
        per_hour[hour % 24] += n


class TableProfileFn(beam.CombineFn):
    """Rows of one table → its profile's sketch (a JSON-ready dict); `finish` turns
    sketches (merged with `merge_accumulators`) into the profile.

    Rows are buffered (BATCH_ROWS) and counted a column at a time: measured 4× less
    CPU than one value at a time (docs/benchmarks.md); the buffer is counted before
    an accumulator is merged, compacted or extracted, so none ever leaves it."""

    BATCH_ROWS = 2048

    def __init__(self, columns: tuple[Column, ...], time_column: str | None = None):
        super().__init__()
        self.kinds = tuple((c.name, c.type) for c in columns)
        self.time_column = time_column

    def create_accumulator(self) -> dict[str, Any]:
        acc: dict[str, Any] = {"rows": 0, "columns": {name: new_column(kind) for name, kind in self.kinds}}
        if self.time_column:
            acc["per_day"], acc["per_hour"] = {}, [0] * 24
        return acc

    def add_input(self, acc: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        buffer = acc.setdefault("buffer", [])
        buffer.append(row)
        if len(buffer) >= self.BATCH_ROWS:
            self._count(acc)
        return acc

    def _count(self, acc: dict[str, Any]) -> dict[str, Any]:
        rows = acc.pop("buffer", None)
        if not rows:
            return acc
        acc["rows"] += len(rows)
        columns = acc["columns"]
        for name, kind in self.kinds:
            add_values(columns[name], [row[name] for row in rows], kind)
        if self.time_column:
            _add_times(acc, [row[self.time_column] for row in rows])
        return acc

    def compact(self, acc: dict[str, Any]) -> dict[str, Any]:
        return self._count(acc)

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        accs = iter(accs)
        out = self._count(next(accs))
        for acc in accs:
            acc = self._count(acc)
            out["rows"] += acc["rows"]
            for name, kind in self.kinds:
                merge_column(out["columns"][name], acc["columns"][name], kind)
            if self.time_column:
                for day, n in acc["per_day"].items():
                    out["per_day"][day] = out["per_day"].get(day, 0) + n
                out["per_hour"] = [a + b for a, b in zip(out["per_hour"], acc["per_hour"])]
        return out

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return self._count(acc)

    def finish(self, acc: dict[str, Any]) -> dict[str, Any]:
        acc = self._count(acc)
        out: dict[str, Any] = {
            "rows": acc["rows"],
            "columns": {name: finish_column(acc["columns"][name], kind) for name, kind in self.kinds},
        }
        if self.time_column:
            out["sessions_per_day"] = dict(sorted(acc["per_day"].items()))
            out["sessions_per_hour"] = acc["per_hour"]
        return out


# -- the sketch as JSON (the pipeline's small file) ---------------------------------

_COUNTERS = ("exact", "mg", "pos", "neg")


def sketch_to_json(acc: dict[str, Any]) -> dict[str, Any]:
    """Counters as [value, count] pairs: JSON keys are strings, values are not."""
    out = dict(acc)
    out["columns"] = {
        name: {k: (sorted(v.items(), key=repr) if k in _COUNTERS and v is not None else v) for k, v in col.items()}
        for name, col in acc["columns"].items()
    }
    return out


def sketch_from_json(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["columns"] = {
        name: {k: (dict((x, c) for x, c in v) if k in _COUNTERS and v is not None else v) for k, v in col.items()}
        for name, col in data["columns"].items()
    }
    return out


def sketch_line(table: str, acc: dict[str, Any]) -> str:
    return json.dumps({"table": table, "sketch": sketch_to_json(acc)})


MAX_REASONS = 200  # distinct quarantine reasons listed; the rest are summed as "other reasons"


def _count_reason(acc: dict[str, dict[str, Any]], reason: str, count: int, sample: str | None) -> None:
    if reason not in acc and len(acc) >= MAX_REASONS:
        reason = "other reasons"
    entry = acc.setdefault(reason, {"count": 0, "sample_id": None})
    entry["count"] += count
    if sample is not None and (entry["sample_id"] is None or sample < entry["sample_id"]):
        entry["sample_id"] = sample


class QuarantineReasonsFn(beam.CombineFn):
    """(reason, _id) → {reason: {"count", "sample_id"}}, the smallest _id as the sample
    (the same on every runner)."""

    def create_accumulator(self) -> dict[str, dict[str, Any]]:
        return {}

    def add_input(self, acc, pair):
        _count_reason(acc, pair[0], 1, pair[1])
        return acc

    def merge_accumulators(self, accs):
        out: dict[str, dict[str, Any]] = {}
        for acc in accs:
            for reason, entry in acc.items():
                _count_reason(out, reason, entry["count"], entry["sample_id"])
        return out

    def extract_output(self, acc):
        return acc


# -- in the pipeline ------------------------------------------------------------

PROFILE_PREFIX = "_profile"  # <run folder>/_profile[-<tag>]-00000-of-00001.jsonl, read by the launcher
TIME_COLUMNS = {"sessions": "session_start"}


def table_fn(table) -> TableProfileFn:
    return TableProfileFn(table.columns, TIME_COLUMNS.get(table.name))


class WriteProfile(beam.PTransform):
    """{table name: rows} and the quarantine → one JSON line per table's sketch and
    one with the quarantine by reason, in a file of the run folder."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, pcolls):
        from transforms.tables import TABLES

        tables, quarantine = pcolls
        lines = [
            rows
            | f"Profile[{name}]" >> beam.CombineGlobally(table_fn(TABLES[name]))
            | f"SketchLine[{name}]" >> beam.Map(lambda acc, n=name: sketch_line(n, acc))
            for name, rows in tables.items()
        ]
        lines.append(
            quarantine
            | "ReasonAndId" >> beam.Map(lambda q: (q.reason[:300], q.doc_id))
            | "QuarantineReasons" >> beam.CombineGlobally(QuarantineReasonsFn())
            | "ReasonsLine" >> beam.Map(lambda acc: json.dumps({"quarantine": acc}))
        )
        return (
            lines
            | "ProfileLines" >> beam.Flatten()
            | "WriteProfile"
            >> beam.io.WriteToText(
                self.path, file_name_suffix=".jsonl", num_shards=1, shard_name_template="-SSSSS-of-NNNNN"
            )
        )


def read_sketches(lines: Iterable[str]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The profile files' lines (of every slice) → ({table: [sketches]}, quarantine by reason)."""
    sketches: dict[str, list[dict[str, Any]]] = {}
    reasons: list[dict[str, dict[str, Any]]] = []
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        if "quarantine" in record:
            reasons.append(record["quarantine"])
        else:
            sketches.setdefault(record["table"], []).append(sketch_from_json(record["sketch"]))
    return sketches, QuarantineReasonsFn().merge_accumulators(reasons)


def finish_profile(lines: Iterable[str], tables) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the profile without drift, the merged sketch per table) from the profile
    files' lines; `tables`: the Table records written."""
    sketches, reasons = read_sketches(lines)
    out: dict[str, Any] = {"tables": {}}
    merged = {}
    for table in tables:
        fn = table_fn(table)
        merged[table.name] = fn.merge_accumulators(sketches.get(table.name) or [fn.create_accumulator()])
        out["tables"][table.name] = fn.finish(merged[table.name])
    ranked = sorted(reasons.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
    out["quarantine_by_reason"] = [{"reason": reason, **entry} for reason, entry in ranked]
    return out, merged
