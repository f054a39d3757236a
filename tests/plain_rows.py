"""The metric families as they were before their bulk `add_inputs`, frozen as an oracle:
tests/test_fast_rows.py holds the families to it on crafted edge cases (the FEATURES.md
tests hold both to hand-worked values)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import apache_beam as beam

from transforms.metrics import _avg, _max, _percentile, fsum, ratio
from transforms.records import INCOMPLETE_STATUSES, Run


class _ListCombineFn(beam.CombineFn):
    """Families whose accumulator is a list of small per-run tuples."""

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, run: Run) -> list:
        acc.extend(self.items(run))
        return acc

    def merge_accumulators(self, accs) -> list:
        merged: list = []
        for a in accs:
            merged.extend(a)
        return merged

    def items(self, run: Run) -> list:
        raise NotImplementedError


class RunCountsFn(beam.CombineFn):
    """Top-level and member runs."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, run: Run):
        return (acc[0] + 1, acc[1]) if run.top else (acc[0], acc[1] + 1)

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
        sums, costs, trees = acc
        sums[0] += run.input_tokens
        sums[1] += run.output_tokens
        sums[2] += run.total_tokens
        sums[3] += run.cache_read_tokens
        sums[4] += run.reasoning_tokens
        if run.cost is not None:
            costs.append(run.cost)
        if run.tree >= 0:
            t = trees.setdefault(run.tree, [0, 0, 0])
            t[0] += run.input_tokens
            t[1] += run.output_tokens
            t[2] += run.total_tokens
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
        per_tree = list(trees.values())
        inputs = [t[0] for t in per_tree]
        outputs = [t[1] for t in per_tree]
        totals = [t[2] for t in per_tree]
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


class TimingFn(_ListCombineFn):
    """Durations and time to first token of top-level runs."""

    def items(self, run: Run) -> list:
        return [(run.duration_s, run.ttft_s)] if run.top else []

    def extract_output(self, acc) -> dict[str, Any]:
        durations = [d for d, _ in acc if d is not None]
        ttfts = [t for _, t in acc if t is not None]
        return {
            "duration_sum_s": fsum(durations),
            "duration_avg_s": _avg(durations),
            "duration_max_s": _max(durations),
            "duration_p50_s": _percentile(durations, 50),
            "duration_p95_s": _percentile(durations, 95),
            "ttft_avg_s": _avg(ttfts),
            "ttft_max_s": _max(ttfts),
        }


class ToolsFn(beam.CombineFn):
    """Tool calls over all runs and per top-level tree."""

    def create_accumulator(self):
        # names counter, errors, durations, per-tree call counts
        return Counter(), 0, [], {}

    def add_input(self, acc, run: Run):
        names, errors, durations, trees = acc
        for call in run.tools:
            names[call.name] += 1
            errors += call.error
            if call.duration_s is not None:
                durations.append(call.duration_s)
        if run.tree >= 0:
            trees[run.tree] = trees.get(run.tree, 0) + len(run.tools)
        return names, errors, durations, trees

    def merge_accumulators(self, accs):
        names, errors, durations, trees = Counter(), 0, [], {}
        for n, e, d, t in accs:
            names.update(n)
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
            "distinct_tools": sum(1 for name in names if name is not None),
            "tool_errors_sum": errors,
            "tool_error_rate": ratio(errors, calls),
            "tool_duration_sum_s": fsum(durations),
            "tool_duration_avg_s": _avg(durations),
            "tool_duration_max_s": _max(durations),
            "runs_with_tools_ratio": ratio(sum(1 for c in per_tree if c > 0), len(per_tree)),
            "top_tool": min(named)[1] if named else None,
        }


class FailuresFn(_ListCombineFn):
    """Statuses of top-level runs, in run order."""

    def items(self, run: Run) -> list:
        return [(run.order, run.status)] if run.top else []

    def extract_output(self, acc) -> dict[str, Any]:
        statuses = [s for _, s in sorted(acc)]
        errors = [i for i, s in enumerate(statuses) if s == "ERROR"]
        streak = longest = 0
        for s in statuses:
            streak = streak + 1 if s == "ERROR" else 0
            longest = max(longest, streak)
        return {
            "error_runs": len(errors),
            "cancelled_runs": statuses.count("CANCELLED"),
            "incomplete_runs": sum(s in INCOMPLETE_STATUSES for s in statuses),
            "error_rate": ratio(len(errors), len(statuses)),
            "first_error_index": errors[0] if errors else None,
            "max_consecutive_errors": longest,
        }


class ModelsFn(_ListCombineFn):
    """The primary (provider, id) pair and the number of distinct pairs."""

    def items(self, run: Run) -> list:
        if run.model_provider is None and run.model_id is None:
            return [(run.order, run.top, None)]
        return [(run.order, run.top, (run.model_provider, run.model_id))]

    def extract_output(self, acc) -> dict[str, Any]:
        pairs = {p for _, _, p in acc if p is not None}
        counts: Counter = Counter()
        first_seen: dict = {}
        for order, top, pair in sorted(acc, key=lambda x: x[0]):
            if top and pair is not None:
                counts[pair] += 1
                first_seen.setdefault(pair, order)
        primary = min(counts, key=lambda p: (-counts[p], first_seen[p])) if counts else None
        return {"primary_model": primary, "distinct_models": len(pairs)}


class TemporalFn(_ListCombineFn):
    """Start and end times of top-level runs."""

    def items(self, run: Run) -> list:
        return [(run.order, run.created_at, run.duration_s)] if run.top else []

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
        first = min(c for _, c, _ in runs)
        # Offsets from the first start keep sub-second durations exact at epoch scale.
        span = max((c - first) + (d or 0.0) for _, c, d in runs)
        starts = [c for _, c, _ in runs]
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        return {
            "first_run_at": first,
            "last_run_end": first + span,
            "active_span_s": span,
            "inter_run_gap_avg_s": _avg(gaps),
            "inter_run_gap_max_s": _max(gaps),
        }


PLAIN_FAMILIES: tuple[beam.CombineFn, ...] = (
    RunCountsFn(),
    TokensFn(),
    TimingFn(),
    ToolsFn(),
    FailuresFn(),
    ModelsFn(),
    TemporalFn(),
)
