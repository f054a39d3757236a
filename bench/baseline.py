"""The independent naive baseline: the session features as a plain per-document
Python script, written from the contract (FEATURES.md v1.1, §1–§5) the way the
original Glue job worked: every line of the dump decoded with `bson.json_util`
into dicts, the runs grouped by session in a dict, one loop over the sessions,
one CSV.

    python -m bench.baseline --source DIR --start_date 2024-12-01 --end_date 2024-12-31 --output rows.csv

FROZEN (2026-12-01). This is the yardstick the benchmark ratios are measured
against: it imports nothing from `pipeline/` or `transforms/`, and it must not be
made faster, or follow the job's code, or the ratios stop meaning anything. Change
it only to follow a change of the contract's values, and say so in
docs/benchmarks.md; tests/test_bench_baseline.py checks that its rows equal the
job's.

It reads a dump folder (`agno_sessions.jsonl`, `agno_runs.jsonl`); a document it
cannot use is skipped and counted (the job quarantines it), with the same rules.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from bson import json_util
from bson.objectid import ObjectId

COLUMNS = (
    "session_id session_type source_format agent_id agent_name model_provider model_id distinct_models "
    "total_runs member_runs input_tokens_sum output_tokens_sum total_tokens_sum cache_read_tokens_sum "
    "reasoning_tokens_sum input_tokens_avg output_tokens_avg output_tokens_max total_tokens_avg "
    "total_tokens_max output_input_ratio cache_read_ratio reasoning_output_ratio cost_sum duration_sum_s "
    "duration_avg_s duration_max_s duration_p50_s duration_p95_s ttft_avg_s ttft_max_s output_tokens_per_s "
    "tool_calls_sum tool_calls_avg tool_calls_max distinct_tools tool_errors_sum tool_error_rate "
    "tool_duration_sum_s tool_duration_avg_s tool_duration_max_s runs_with_tools_ratio top_tool error_runs "
    "cancelled_runs incomplete_runs error_rate first_error_index max_consecutive_errors has_failure "
    "session_start first_run_at last_run_end active_span_s inter_run_gap_avg_s inter_run_gap_max_s "
    "start_hour_utc start_weekday is_weekend"
).split()
STATUSES = {"COMPLETED", "ERROR", "CANCELLED", "PAUSED", "PENDING", "RUNNING", "REGENERATED"}
TOKENS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_tokens", "reasoning_tokens")
JSON_STRING_FIELDS = ("runs", "agent_data", "team_data", "workflow_data", "session_data", "metadata", "summary")
INT64_MAX = 2**63 - 1
YEAR_S = 31_536_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TS_MAX = (datetime(2200, 1, 1, tzinfo=UTC) - EPOCH) // US


class Bad(Exception):
    """The document is quarantined (no row)."""


# ---------------------------------------------------------------- values


def timestamp(value):
    """Epoch microseconds (int) of an accepted timestamp; None when absent; Bad when unreadable."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Bad("timestamp is a boolean")
    if isinstance(value, datetime):
        t = ((value if value.tzinfo else value.replace(tzinfo=UTC)) - EPOCH) // US
    elif isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise Bad("timestamp is not finite")
        t = round(value * 1000) if abs(value) > 1e11 else round(value * 1_000_000)
    elif isinstance(value, str):
        try:
            d = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise Bad(f"unreadable timestamp {value!r}") from exc
        t = ((d if d.tzinfo else d.replace(tzinfo=UTC)) - EPOCH) // US
    else:
        raise Bad(f"timestamp of type {type(value).__name__}")
    if not 0 < t < TS_MAX:
        raise Bad("timestamp out of range")
    return t


def readable(value) -> bool:
    try:
        timestamp(value)
    except Bad:
        return False
    return True


def token(value) -> int:
    """A token count (a list is summed); a missing key is 0."""
    if value is None:
        return 0
    if isinstance(value, list):
        return sum(token(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Bad(f"token count {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise Bad(f"token count {value!r}")
        value = int(value)
    if not 0 <= value <= INT64_MAX:
        raise Bad(f"token count {value!r} out of range")
    return value


def number(value, limit: float | None = None) -> float | None:
    """A duration, ttft or cost: a finite number >= 0 (at most `limit`), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Bad(f"not a number: {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (limit is not None and value > limit):
        raise Bad(f"number out of range: {value!r}")
    return value


def number_sum(value, limit: float | None = None) -> float | None:
    if isinstance(value, list):
        parts = [number(v, limit) for v in value]
        parts = [p for p in parts if p is not None]
        return math.fsum(parts) if parts else None
    return number(value, limit)


def first(value, limit: float | None = None) -> float | None:
    if isinstance(value, list):
        return number(value[0], limit) if value else None
    return number(value, limit)


def doc(value, what: str) -> dict:
    """A sub-document the rules read: {} when absent or null, Bad when not a document."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Bad(f"{what} is not a document")
    return value


def array(value, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Bad(f"{what} is not a list")
    return value


def text(value):
    """A string column: None stays None; other values as text; lone surrogates are bad."""
    if value is None:
        return None
    value = value if isinstance(value, str) else str(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Bad("text is not valid Unicode") from exc
    return value


def updated_key(d: dict):
    """Duplicate order: latest updated_at, then the greater _id (as a string)."""
    try:
        t = timestamp(d.get("updated_at"))
    except Bad:
        t = None
    oid = d.get("_id")
    oid = str(oid) if isinstance(oid, ObjectId) else str(oid)
    return (-math.inf if t is None else t, oid)


# ---------------------------------------------------------------- runs


def tool_calls(run: dict) -> list[tuple]:
    """(name, error, duration) of a run's calls: its `tools`, else its tool messages."""
    tools = array(run.get("tools"), "tools")
    if not tools:
        tools = [
            m
            for m in array(run.get("messages"), "messages")
            if isinstance(m, dict) and m.get("role") == "tool" and m.get("from_history") is not True
        ]
    calls = []
    for call in tools:
        call = doc(call, "tool call")
        metrics = doc(call.get("metrics"), "tool metrics")
        duration = number(metrics.get("duration"), YEAR_S)
        if duration is None:
            duration = number_sum(metrics.get("time"), YEAR_S)
        calls.append((text(call.get("tool_name")), call.get("tool_call_error") is True, duration))
    return calls


def tokens_of(metrics: dict) -> list[int]:
    values = {k: token(metrics.get(k)) for k in TOKENS}
    if metrics.get("cache_read_tokens") is None:
        if metrics.get("cached_tokens") is not None:
            values["cache_read_tokens"] = token(metrics.get("cached_tokens"))
        else:
            values["cache_read_tokens"] = sum(
                token(doc(d, "prompt_tokens_details").get("cached_tokens"))
                for d in _details(metrics.get("prompt_tokens_details"))
            )
    if metrics.get("reasoning_tokens") is None:
        values["reasoning_tokens"] = sum(
            token(doc(d, "completion_tokens_details").get("reasoning_tokens"))
            for d in _details(metrics.get("completion_tokens_details"))
        )
    if metrics.get("total_tokens") is None and (
        metrics.get("input_tokens") is not None or metrics.get("output_tokens") is not None
    ):
        values["total_tokens"] = values["input_tokens"] + values["output_tokens"]
    return [values[k] for k in TOKENS]


def _details(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def normalize_run(run: dict, fmt: str, kind: str, position: int, session_model, session_time, top: dict) -> dict:
    """One normalized run. `top` holds the agno3 run document's own fields (run_id,
    parent_run_id, status, run_index, created_at) that win over run_data's."""
    legacy = fmt in ("agno1", "phidata")
    metrics = doc(run.get("metrics"), "metrics")

    def field(name):
        return top[name] if top.get(name) is not None else run.get(name)

    created = timestamp(field("created_at"))
    if kind == "workflow":
        steps = array(run.get("step_executor_runs"), "step_executor_runs")
        steps = [doc(s, "step executor run") for s in steps]
        step_metrics = metrics.get("steps")
        if step_metrics is not None:
            step_metrics = doc(step_metrics, "metrics.steps")
            sums = [0] * len(TOKENS)
            for step in step_metrics.values():
                values = tokens_of(doc(doc(step, "step").get("metrics"), "step metrics"))
                sums = [a + b for a, b in zip(sums, values, strict=True)]
            tokens = sums
        else:
            tokens = tokens_of(metrics)
        calls = [c for s in steps for c in tool_calls(s)]
        # the run's own model when it has one, else its first step executor run's
        step_model = next(((s.get("model_provider"), s.get("model")) for s in steps[:1]), (None, None))
        model = tuple(
            a if a is not None else b
            for a, b in zip((run.get("model_provider"), run.get("model")), step_model, strict=True)
        )
    else:
        tokens = tokens_of(metrics)
        calls = tool_calls(run)
        model = (run.get("model_provider"), run.get("model"))
    provider = model[0] if model[0] is not None else session_model[0]
    model_id = model[1] if model[1] is not None else session_model[1]
    cost = number_sum(metrics.get("cost"))
    ttft = first(metrics.get("time_to_first_token"))
    if legacy:
        model_time = number_sum(metrics.get("time"), YEAR_S)
        tool_times = [c[2] for c in calls if c[2] is not None]
        if model_time is None and not tool_times:
            duration = None
        else:
            duration = math.fsum([model_time or 0.0, *tool_times])
        status = "COMPLETED"
    else:
        duration = number_sum(metrics.get("duration"), YEAR_S)
        status = field("status")
        status = status.upper() if isinstance(status, str) else None
        status = status if status in STATUSES else "UNKNOWN"
    index = field("run_index")
    parent = field("parent_run_id")
    return {
        "run_id": text(field("run_id")),
        "parent": text(parent) if parent not in (None, "") else None,
        "created": created if created is not None else session_time,
        "position": index if isinstance(index, int) and not isinstance(index, bool) else position,
        "status": status,
        "provider": text(provider),
        "model": text(model_id),
        "tokens": tokens,
        "cost": cost,
        "duration": duration,
        "ttft": ttft,
        "calls": calls,
    }


# ---------------------------------------------------------------- sessions


def decode_strings(d: dict) -> dict:
    """agno 2.0.x–2.1.0 stored some fields as JSON strings."""
    out = dict(d)
    for name in JSON_STRING_FIELDS:
        if isinstance(out.get(name), str):
            try:
                out[name] = json.loads(out[name])
            except ValueError as exc:
                raise Bad(f"{name} is a string that is not JSON") from exc
    return out


def is_phidata(memory) -> bool:
    if memory is None:
        return False
    runs = memory.get("runs") if isinstance(memory, dict) else None
    if isinstance(runs, list) and runs:
        return isinstance(runs[0], dict) and ("message" in runs[0] or "response" in runs[0])
    return False


def source_format(d: dict, has_collection_runs: bool) -> str:
    if "memory" in d:
        memory = d["memory"]
        if is_phidata(memory):
            return "phidata"
        runs = memory.get("runs") if isinstance(memory, dict) else None
        if not runs and "user_data" in d:
            return "phidata"
        return "agno1"
    if has_collection_runs or "runs" not in d:
        return "agno3"
    return "agno2"


def session_row(d: dict, run_docs: list[dict], end: int, window_start: int) -> list | None:
    """The row of one session document (None when it is not in the window), or Bad."""
    sid = d.get("session_id")
    if not isinstance(sid, str) or not sid:
        raise Bad("no session_id")
    text(sid)
    fmt = source_format(d, bool(run_docs))
    if fmt in ("agno2", "agno3"):
        d = decode_strings(d)
    kind = d.get("session_type") if fmt in ("agno2", "agno3") else "agent"
    if kind not in ("agent", "team", "workflow"):
        kind = "team" if d.get("team_id") is not None else "workflow" if d.get("workflow_id") is not None else "agent"
    data = doc(d.get(f"{kind}_data"), f"{kind}_data")
    model = data.get("model")
    session_model = (model.get("provider"), model.get("id")) if isinstance(model, dict) else (None, None)
    created = timestamp(d.get("created_at"))

    # (run dict, agno3 top-level fields, position, from the runs collection, dedup key)
    sources: list[tuple] = []
    if fmt in ("agno1", "phidata"):
        memory = doc(d.get("memory"), "memory")
        for i, r in enumerate(array(memory.get("runs"), "memory.runs")):
            r = doc(r, "run")
            if fmt == "phidata":
                response = doc(r.get("response"), "response")
                message = doc(r.get("message"), "message")
                top = {"created_at": response.get("created_at", message.get("created_at"))}
                sources.append((response, top, i, False, None))
            else:
                sources.append((r, {}, i, False, None))
    else:
        for i, r in enumerate(array(d.get("runs"), "runs")):
            sources.append((doc(r, "run"), {}, i, False, None))
        for i, rd in enumerate(run_docs):
            top = {k: rd.get(k) for k in ("run_id", "parent_run_id", "status", "run_index", "created_at")}
            sources.append((doc(rd.get("run_data"), "run_data"), top, i, True, updated_key(rd)))

    # the point-in-time cut comes first: runs at or after `end` are never read
    kept = []
    for run, top, i, collection, key in sources:
        raw = top.get("created_at") if top.get("created_at") is not None else run.get("created_at")
        t = timestamp(raw)
        if t is not None and t >= end:
            continue
        kept.append((run, top, i, collection, key, t))

    if created is None:
        times = [k[5] for k in kept if k[5] is not None]
        created = min(times) if times else None
    if created is None or not window_start <= created < end:
        return None

    # the same run_id twice: the runs collection wins, then the latest updated_at
    # (then greater _id); within one array its last occurrence
    chosen: dict = {}
    unnamed = []
    for order, (run, top, i, collection, key, _) in enumerate(kept):
        rid = top.get("run_id") if top.get("run_id") is not None else run.get("run_id")
        if rid is None:
            unnamed.append((order, run, top, i))
            continue
        rank = (1, key) if collection else (0, (order,))
        old = chosen.get(rid)
        if old is None or rank >= old[0]:
            chosen[rid] = (rank, order, run, top, i)
    picked = sorted([(o, r, t, i) for _, o, r, t, i in chosen.values()] + unnamed, key=lambda x: x[0])
    runs = [normalize_run(r, fmt, kind, i, session_model, created, t) for _, r, t, i in picked]
    runs.sort(key=lambda r: (r["created"] if r["created"] is not None else -math.inf, r["position"]))
    info = {
        "session_id": sid,
        "session_type": kind,
        "source_format": fmt,
        "agent_id": text(d.get(f"{kind}_id")),
        "agent_name": text(data.get("name")),
        "session_model": (text(session_model[0]), text(session_model[1])),
        "created": created,
    }
    return features(info, runs)


def percentile(values: list[float], q: float) -> float:
    """numpy's default (linear) percentile, computed as numpy computes it."""
    xs = sorted(values)
    index = (len(xs) - 1) * (q / 100)
    lo = math.floor(index)
    hi = min(lo + 1, len(xs) - 1)
    t = index - lo
    a, b = xs[lo], xs[hi]
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def ratio(a, b):
    return a / b if b else None


def mean(xs):
    return math.fsum(xs) / len(xs) if xs else None


def features(info: dict, runs: list[dict]) -> list:
    ids = {r["run_id"] for r in runs if r["run_id"] is not None}
    by_id = {r["run_id"]: r for r in runs if r["run_id"] is not None}
    top = [r for r in runs if r["parent"] is None]

    def root(r):
        seen = set()
        while r["parent"] is not None:
            if r["parent"] not in ids or r["parent"] in seen:
                return None
            seen.add(r["parent"])
            r = by_id[r["parent"]]
        return r["run_id"] if r["run_id"] is not None else id(r)

    trees: dict = {(r["run_id"] if r["run_id"] is not None else id(r)): [] for r in top}
    for r in runs:
        key = root(r)
        if key in trees:
            trees[key].append(r)
    tree_list = [trees[(r["run_id"] if r["run_id"] is not None else id(r))] for r in top]

    sums = [sum(r["tokens"][k] for r in runs) for k in range(5)]
    tree_tokens = [[sum(r["tokens"][k] for r in tree) for tree in tree_list] for k in range(5)]
    pairs = [(r["provider"], r["model"]) for r in runs if (r["provider"], r["model"]) != (None, None)]
    counts: dict = {}
    firsts: dict = {}
    for i, r in enumerate(top):
        pair = (r["provider"], r["model"])
        if pair == (None, None):
            continue
        counts[pair] = counts.get(pair, 0) + 1
        firsts.setdefault(pair, i)
    primary = min(counts, key=lambda p: (-counts[p], firsts[p])) if counts else info["session_model"]
    costs = [r["cost"] for r in runs if r["cost"] is not None]
    durations = [r["duration"] for r in top if r["duration"] is not None]
    ttfts = [r["ttft"] for r in top if r["ttft"] is not None]
    calls = [c for r in runs for c in r["calls"]]
    tree_calls = [sum(len(r["calls"]) for r in tree) for tree in tree_list]
    names = [c[0] for c in calls if c[0] is not None]
    name_counts: dict = defaultdict(int)
    for n in names:
        name_counts[n] += 1
    tool_errors = sum(1 for c in calls if c[1])
    tool_durations = [c[2] for c in calls if c[2] is not None]
    statuses = [r["status"] for r in top]
    error_runs = statuses.count("ERROR")
    streak = longest = 0
    for s in statuses:
        streak = streak + 1 if s == "ERROR" else 0
        longest = max(longest, streak)
    starts = [r["created"] for r in top if r["created"] is not None]
    ends = [r["created"] + round((r["duration"] or 0.0) * 1_000_000) for r in top if r["created"] is not None]
    first_run = min(starts) if starts else None
    last_end = max(ends) if ends else None
    ordered = [r["created"] for r in top]
    gaps = [(b - a) / 1_000_000 for a, b in zip(ordered, ordered[1:], strict=False) if a is not None and b is not None]
    duration_sum = math.fsum(durations)
    start = info["created"]
    start_dt = EPOCH + start * US
    n_top = len(top)
    return [
        info["session_id"],
        info["session_type"],
        info["source_format"],
        info["agent_id"],
        info["agent_name"],
        primary[0],
        primary[1],
        len(set(pairs)),
        n_top,
        sum(1 for r in runs if r["parent"] is not None),
        *sums,
        mean(tree_tokens[0]),
        mean(tree_tokens[1]),
        max(tree_tokens[1]) if tree_list else None,
        mean(tree_tokens[2]),
        max(tree_tokens[2]) if tree_list else None,
        ratio(sums[1], sums[0]),
        ratio(sums[3], sums[0]),
        ratio(sums[4], sums[1]),
        math.fsum(costs) if costs else None,
        duration_sum,
        mean(durations),
        max(durations) if durations else None,
        percentile(durations, 50) if durations else None,
        percentile(durations, 95) if durations else None,
        mean(ttfts),
        max(ttfts) if ttfts else None,
        ratio(sums[1], duration_sum),
        len(calls),
        mean(tree_calls),
        max(tree_calls) if tree_calls else None,
        len(set(names)),
        tool_errors,
        ratio(tool_errors, len(calls)),
        math.fsum(tool_durations),
        mean(tool_durations),
        max(tool_durations) if tool_durations else None,
        ratio(sum(1 for c in tree_calls if c), n_top),
        min(name_counts, key=lambda n: (-name_counts[n], n)) if name_counts else None,
        error_runs,
        statuses.count("CANCELLED"),
        sum(1 for s in statuses if s in ("PENDING", "RUNNING", "PAUSED")),
        ratio(error_runs, n_top),
        statuses.index("ERROR") if error_runs else None,
        longest,
        error_runs > 0 or tool_errors > 0,
        Stamp(start),
        Stamp(first_run) if first_run is not None else None,
        Stamp(last_end) if last_end is not None else None,
        (last_end - first_run) / 1_000_000 if first_run is not None else None,
        mean(gaps) if len(ordered) >= 2 else None,
        max(gaps) if len(ordered) >= 2 and gaps else None,
        start_dt.hour,
        start_dt.weekday(),
        start_dt.weekday() >= 5,
    ]


class Stamp(int):
    """A timestamp column (epoch microseconds), written as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`."""

    def __str__(self) -> str:
        d = EPOCH + int(self) * US
        return d.strftime("%Y-%m-%dT%H:%M:%S") + (f".{d.microsecond:06d}" if d.microsecond else "") + "Z"


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Stamp):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


# ---------------------------------------------------------------- the script


def window(start: str, end: str) -> tuple[int, int]:
    """[start, end) in epoch microseconds: a bare date is a whole UTC day, both ends inclusive."""

    def parse(text: str, is_end: bool) -> int:
        if len(text) == 10:
            d = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            return (d + timedelta(days=1) - EPOCH if is_end else d - EPOCH) // US
        d = datetime.fromisoformat(text)
        return ((d if d.tzinfo else d.replace(tzinfo=UTC)) - EPOCH) // US

    return parse(start, False), parse(end, True)


def read_lines(path: str, counts: dict):
    if not os.path.exists(path):
        return
    with open(path, "rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                d = json_util.loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                counts["unreadable"] += 1
                continue
            if isinstance(d, dict):
                yield d
            else:
                counts["unreadable"] += 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, help="a dump folder")
    p.add_argument("--start_date", required=True)
    p.add_argument("--end_date", required=True)
    p.add_argument("--output", required=True, help="the CSV file to write")
    p.add_argument("--collection", default="agno_sessions")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    start, end = window(args.start_date, args.end_date)
    runs_name = "agno_runs" if args.collection == "agno_sessions" else f"{args.collection}_runs"
    counts = defaultdict(int)

    runs: dict[str, list[dict]] = defaultdict(list)
    for d in read_lines(os.path.join(args.source, runs_name + ".jsonl"), counts):
        counts["run_docs"] += 1
        sid = d.get("session_id")
        if isinstance(sid, str) and sid:
            runs[sid].append(d)

    winners: dict[str, dict] = {}
    for d in read_lines(os.path.join(args.source, args.collection + ".jsonl"), counts):
        counts["session_docs"] += 1
        created = d.get("created_at")
        if created is not None and not readable(created):
            continue  # in no window
        if created is not None and not start <= timestamp(created) < end:
            continue
        sid = d.get("session_id")
        if not isinstance(sid, str) or not sid:
            counts["bad"] += 1
            continue
        old = winners.get(sid)
        if old is not None:
            counts["duplicates"] += 1
        if old is None or updated_key(d) > updated_key(old):
            winners[sid] = d

    with open(args.output, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for sid, d in winners.items():
            try:
                row = session_row(d, runs.get(sid, []), end, start)
            except Bad:
                counts["bad"] += 1
                continue
            except Exception:  # noqa: BLE001 - the job counts these apart (internal_errors)
                counts["internal_errors"] += 1
                continue
            if row is not None:
                writer.writerow([cell(v) for v in row])
                counts["rows"] += 1
    json.dump({**counts, "seconds": time.monotonic() - t0}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
