"""Metric families as CombineFns over a session's canonical runs (FEATURES.md §4).

Accumulators merge in any order: families that need order (per-tree figures,
first error, streaks, gaps, percentiles) keep small per-run tuples and sort in
`extract_output`. Float sums use `math.fsum`, exact whatever the merge order.
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any

import apache_beam as beam

from transforms.records import INCOMPLETE_STATUSES, Run


def fsum(values: list[float]) -> float:
    """`math.fsum`, infinite (not OverflowError) beyond float64: the row check
    (transforms.rows.row_problem) then quarantines the session with the column's name."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf if sum(values) > 0 else -math.inf


def _avg(values: list[float]) -> float | None:
    return fsum(values) / len(values) if values else None


def _max(values: list[Any]) -> Any:
    return max(values) if values else None


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    try:
        return num / den
    except OverflowError:  # an int quotient beyond float64
        return math.inf


def _percentile(values: list[float], q: float) -> float | None:
    """numpy's default percentile (linear interpolation between closest ranks),
    step for step in float64 as `np.percentile` computes it, without its ~50 µs
    per call (tests/test_fast_paths.py compares the two)."""
    return _ranked(sorted(values), q) if values else None


def _ranked(ordered: list[float], q: float) -> float:
    """`_percentile` of values already sorted (not empty)."""
    n = len(ordered)
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:
        return float(ordered[-1])
    i = math.floor(virtual)
    a, b = float(ordered[i]), float(ordered[i + 1])
    gamma = virtual - i
    diff = b - a
    # numpy's _lerp: from the nearer end
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


class _ListCombineFn(beam.CombineFn):
    """Families whose accumulator is a list of small per-run tuples."""

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, run: Run) -> list:
        acc.extend(self.items((run,)))
        return acc

    def add_inputs(self, acc: list, runs) -> list:
        acc.extend(self.items(runs))
        return acc

    def merge_accumulators(self, accs) -> list:
        merged: list = []
        for a in accs:
            merged.extend(a)
        return merged

    def items(self, runs) -> list:
        """The tuples of `runs`, in their order."""
        raise NotImplementedError


class RunCountsFn(beam.CombineFn):
    """Top-level and member runs."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, run: Run):
        return (acc[0] + 1, acc[1]) if run.top else (acc[0], acc[1] + 1)

    def add_inputs(self, acc, runs):
        flags = [run.top for run in runs]
        top = len([f for f in flags if f])
        return acc[0] + top, acc[1] + len(flags) - top

    def merge_accumulators(self, accs):
        accs = list(accs)
        return sum(a[0] for a in accs), sum(a[1] for a in accs)

    def extract_output(self, acc) -> dict[str, Any]:
        return {"total_runs": acc[0], "member_runs": acc[1]}


class TokensFn(beam.CombineFn):
    """Token sums over all runs, per-tree avg/max, ratios and cost."""

    def create_accumulator(self):
        # sums of the five counts, cost parts, per-tree [input, output, total]
        return [0, 0, 0, 0, 0], [], {}

    def add_input(self, acc, run: Run):
        return self.add_inputs(acc, (run,))

    def add_inputs(self, acc, runs):
        sums, costs, trees = acc
        inp, out, total, cache, reasoning = sums
        for run in runs:
            inp += run.input_tokens
            out += run.output_tokens
            total += run.total_tokens
            cache += run.cache_read_tokens
            reasoning += run.reasoning_tokens
            if run.cost is not None:
                costs.append(run.cost)
            if run.tree >= 0:
                t = trees.get(run.tree)
                if t is None:
                    t = trees[run.tree] = [0, 0, 0]
                t[0] += run.input_tokens
                t[1] += run.output_tokens
                t[2] += run.total_tokens
        sums[:] = inp, out, total, cache, reasoning
        return acc

    def merge_accumulators(self, accs):
        sums, costs, trees = [0, 0, 0, 0, 0], [], {}
        for s, c, t in accs:
            for i in range(5):
                sums[i] += s[i]
            costs.extend(c)
            for k, v in t.items():
                cur = trees.setdefault(k, [0, 0, 0])
                for i in range(3):
                    cur[i] += v[i]
        return sums, costs, trees

    def extract_output(self, acc) -> dict[str, Any]:
        sums, costs, trees = acc
        inputs, outputs, totals = zip(*trees.values()) if trees else ((), (), ())
        return {
            "input_tokens_sum": sums[0],
            "output_tokens_sum": sums[1],
            "total_tokens_sum": sums[2],
            "cache_read_tokens_sum": sums[3],
            "reasoning_tokens_sum": sums[4],
            "input_tokens_avg": _avg(inputs),
            "output_tokens_avg": _avg(outputs),
            "output_tokens_max": _max(outputs),
            "total_tokens_avg": _avg(totals),
            "total_tokens_max": _max(totals),
            "output_input_ratio": ratio(sums[1], sums[0]),
            "cache_read_ratio": ratio(sums[3], sums[0]),
            "reasoning_output_ratio": ratio(sums[4], sums[1]),
            "cost_sum": fsum(costs) if costs else None,
        }


class TimingFn(beam.CombineFn):
    """Durations and time to first token of top-level runs."""

    def create_accumulator(self):
        # the known durations and times to first token
        return [], []

    def add_input(self, acc, run: Run):
        return self.add_inputs(acc, (run,))

    def add_inputs(self, acc, runs):
        durations, ttfts = acc
        for run in runs:
            if run.top:
                if run.duration_s is not None:
                    durations.append(run.duration_s)
                if run.ttft_s is not None:
                    ttfts.append(run.ttft_s)
        return acc

    def merge_accumulators(self, accs):
        durations, ttfts = [], []
        for d, t in accs:
            durations.extend(d)
            ttfts.extend(t)
        return durations, ttfts

    def extract_output(self, acc) -> dict[str, Any]:
        durations, ttfts = acc
        total = fsum(durations)
        ordered = sorted(durations)
        return {
            "duration_sum_s": total,
            "duration_avg_s": total / len(durations) if durations else None,
            "duration_max_s": _max(durations),
            "duration_p50_s": _ranked(ordered, 50) if durations else None,
            "duration_p95_s": _ranked(ordered, 95) if durations else None,
            "ttft_avg_s": _avg(ttfts),
            "ttft_max_s": _max(ttfts),
        }


class ToolsFn(beam.CombineFn):
    """Tool calls over all runs and per top-level tree."""

    def create_accumulator(self):
        # calls per name, errors, durations, per-tree call counts
        return {}, 0, [], {}

    def add_input(self, acc, run: Run):
        return self.add_inputs(acc, (run,))

    def add_inputs(self, acc, runs):
        names, errors, durations, trees = acc
        for run in runs:
            tools = run.tools
            for call in tools:
                names[call.name] = names.get(call.name, 0) + 1
                errors += call.error
                if call.duration_s is not None:
                    durations.append(call.duration_s)
            if run.tree >= 0:
                trees[run.tree] = trees.get(run.tree, 0) + len(tools)
        return names, errors, durations, trees

    def merge_accumulators(self, accs):
        names, errors, durations, trees = {}, 0, [], {}
        for n, e, d, t in accs:
            for k, v in n.items():
                names[k] = names.get(k, 0) + v
            errors += e
            durations.extend(d)
            for k, v in t.items():
                trees[k] = trees.get(k, 0) + v
        return names, errors, durations, trees

    def extract_output(self, acc) -> dict[str, Any]:
        names, errors, durations, trees = acc
        calls = sum(names.values())
        per_tree = list(trees.values())
        named = [(-count, name) for name, count in names.items() if name is not None]
        return {
            "tool_calls_sum": calls,
            "tool_calls_avg": _avg(per_tree),
            "tool_calls_max": _max(per_tree),
            "distinct_tools": len(named),
            "tool_errors_sum": errors,
            "tool_error_rate": ratio(errors, calls),
            "tool_duration_sum_s": fsum(durations),
            "tool_duration_avg_s": _avg(durations),
            "tool_duration_max_s": _max(durations),
            "runs_with_tools_ratio": ratio(len([c for c in per_tree if c > 0]), len(per_tree)),
            "top_tool": min(named)[1] if named else None,
        }


class FailuresFn(_ListCombineFn):
    """Statuses of top-level runs, in run order."""

    def items(self, runs) -> list:
        return [(run.order, run.status) for run in runs if run.top]

    def extract_output(self, acc) -> dict[str, Any]:
        statuses = [s for _, s in sorted(acc)]
        errors = [i for i, s in enumerate(statuses) if s == "ERROR"]
        longest = 0
        if errors:
            streak = 0
            for s in statuses:
                streak = streak + 1 if s == "ERROR" else 0
                longest = max(longest, streak)
        return {
            "error_runs": len(errors),
            "cancelled_runs": statuses.count("CANCELLED"),
            "incomplete_runs": len([s for s in statuses if s in INCOMPLETE_STATUSES]),
            "error_rate": ratio(len(errors), len(statuses)),
            "first_error_index": errors[0] if errors else None,
            "max_consecutive_errors": longest,
        }


class ModelsFn(beam.CombineFn):
    """The primary (provider, id) pair and the number of distinct pairs."""

    def create_accumulator(self):
        # the pairs of all runs, (order, pair) of top-level runs with one
        return set(), []

    def add_input(self, acc, run: Run):
        return self.add_inputs(acc, (run,))

    def add_inputs(self, acc, runs):
        pairs, tops = acc
        for run in runs:
            if run.model_provider is not None or run.model_id is not None:
                pair = (run.model_provider, run.model_id)
                pairs.add(pair)
                if run.top:
                    tops.append((run.order, pair))
        return acc

    def merge_accumulators(self, accs):
        pairs, tops = set(), []
        for p, t in accs:
            pairs |= p
            tops.extend(t)
        return pairs, tops

    def extract_output(self, acc) -> dict[str, Any]:
        pairs, tops = acc
        counts: dict = {}
        first_seen: dict = {}
        for order, pair in sorted(tops, key=itemgetter(0)):
            if pair in counts:
                counts[pair] += 1
            else:
                counts[pair] = 1
                first_seen[pair] = order
        if len(counts) > 1:
            primary = min(counts, key=lambda p: (-counts[p], first_seen[p]))
        else:
            primary = next(iter(counts), None)
        return {"primary_model": primary, "distinct_models": len(pairs)}


class TemporalFn(_ListCombineFn):
    """Start and end times of top-level runs."""

    def items(self, runs) -> list:
        return [(run.order, run.created_at, run.duration_s) for run in runs if run.top]

    def extract_output(self, acc) -> dict[str, Any]:
        runs = sorted(acc)
        if not runs:
            return {
                "first_run_at": None,
                "last_run_end": None,
                "active_span_s": None,
                "inter_run_gap_avg_s": None,
                "inter_run_gap_max_s": None,
            }
        starts = [c for _, c, _ in runs]
        first = min(starts)
        # Offsets from the first start keep sub-second durations exact at epoch scale.
        span = max([(c - first) + (d or 0.0) for _, c, d in runs])
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        return {
            "first_run_at": first,
            "last_run_end": first + span,
            "active_span_s": span,
            "inter_run_gap_avg_s": _avg(gaps),
            "inter_run_gap_max_s": _max(gaps),
        }


FAMILIES: tuple[beam.CombineFn, ...] = (
    RunCountsFn(),
    TokensFn(),
    TimingFn(),
    ToolsFn(),
    FailuresFn(),
    ModelsFn(),
    TemporalFn(),
)


def session_combine_fn() -> beam.CombineFn:
    """All families over the same runs, as one CombineFn (a tuple of their outputs)."""
    return beam.transforms.combiners.SingleInputTupleCombineFn(*FAMILIES)


def combine_runs(runs) -> tuple[dict[str, Any], ...]:
    """What `session_combine_fn()` gives over `runs` in one pass (one accumulator per
    family, each taking all the runs in order), without the tuple combiner's per-run dispatch."""
    return tuple([fn.extract_output(fn.add_inputs(fn.create_accumulator(), runs)) for fn in FAMILIES])
