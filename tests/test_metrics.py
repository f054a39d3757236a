"""Metric-family CombineFns: hand-worked values, and merging in any order equals one pass."""

from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.formats import assign_trees, normalize_session
from transforms.metrics import FAMILIES, session_combine_fn
from transforms.records import Run, ToolCall
from transforms.simulated import SimParams, generate
from transforms.window import parse_window

WINDOW = parse_window("2024-12-01", "2024-12-31")


def run(**kw) -> Run:
    base = dict(
        run_id=None, parent_run_id=None, created_at=0.0, position=0, status="COMPLETED",
        model_provider=None, model_id=None, input_tokens=0, output_tokens=0, total_tokens=0,
        cache_read_tokens=0, reasoning_tokens=0, cost=None, duration_s=None, ttft_s=None, tools=(),
    )  # fmt: skip
    base.update(kw)
    return Run(**base)


def team_session() -> list[Run]:
    """Top-level A (with member M), B (ERROR), C (ERROR, no model, no duration)."""
    return assign_trees(
        [
            run(run_id="A", created_at=1000.0, input_tokens=100, output_tokens=10, total_tokens=110,
                cache_read_tokens=20, reasoning_tokens=2, duration_s=2.0, ttft_s=0.5,
                model_provider="OpenAI", model_id="gpt-4o", tools=(ToolCall("get_weather", False, 0.1),)),
            run(run_id="M", parent_run_id="A", created_at=1001.0, position=1, input_tokens=50,
                output_tokens=5, total_tokens=55, model_provider="Anthropic", model_id="claude",
                tools=(ToolCall("search", True, 0.2), ToolCall("search", False, None))),
            run(run_id="B", created_at=1010.0, input_tokens=200, output_tokens=30, total_tokens=230,
                duration_s=4.0, status="ERROR", model_provider="OpenAI", model_id="gpt-4o"),
            run(run_id="C", created_at=1030.0, status="ERROR"),
        ]
    )  # fmt: skip


def combined(runs: list[Run]) -> dict:
    fn = session_combine_fn()
    out: dict = {}
    for family in fn.extract_output(fn.add_inputs(fn.create_accumulator(), runs)):
        out.update(family)
    return out


def test_team_session_values_worked_by_hand():
    out = combined(team_session())
    # trees: A+M = (150, 15, 165), B = (200, 30, 230), C = (0, 0, 0)
    assert out["total_runs"] == 3 and out["member_runs"] == 1
    assert (out["input_tokens_sum"], out["output_tokens_sum"], out["total_tokens_sum"]) == (350, 45, 395)
    assert (out["cache_read_tokens_sum"], out["reasoning_tokens_sum"]) == (20, 2)
    assert out["input_tokens_avg"] == pytest.approx(350 / 3)
    assert out["output_tokens_avg"] == 15.0 and out["output_tokens_max"] == 30
    assert out["total_tokens_avg"] == pytest.approx(395 / 3) and out["total_tokens_max"] == 230
    assert out["output_input_ratio"] == 45 / 350 and out["cache_read_ratio"] == 20 / 350
    assert out["reasoning_output_ratio"] == 2 / 45 and out["cost_sum"] is None
    # durations of top-level runs: [2.0, 4.0] (C has none); p95 = 2 + 0.95 * 2
    assert (out["duration_sum_s"], out["duration_avg_s"], out["duration_max_s"]) == (6.0, 3.0, 4.0)
    assert out["duration_p50_s"] == 3.0 and out["duration_p95_s"] == pytest.approx(3.9)
    assert (out["ttft_avg_s"], out["ttft_max_s"]) == (0.5, 0.5)
    # tools: A 1, M 2 (tree A = 3 calls), B 0, C 0
    assert out["tool_calls_sum"] == 3 and out["tool_calls_avg"] == 1.0 and out["tool_calls_max"] == 3
    assert out["distinct_tools"] == 2 and out["top_tool"] == "search"
    assert out["tool_errors_sum"] == 1 and out["tool_error_rate"] == 1 / 3
    assert out["tool_duration_sum_s"] == pytest.approx(0.3) and out["tool_duration_avg_s"] == pytest.approx(0.15)
    assert out["tool_duration_max_s"] == 0.2 and out["runs_with_tools_ratio"] == 1 / 3
    # statuses in order: COMPLETED, ERROR, ERROR
    assert (out["error_runs"], out["cancelled_runs"], out["incomplete_runs"]) == (2, 0, 0)
    assert out["error_rate"] == 2 / 3 and out["first_error_index"] == 1 and out["max_consecutive_errors"] == 2
    assert out["primary_model"] == ("OpenAI", "gpt-4o") and out["distinct_models"] == 2
    # starts 1000, 1010, 1030; ends 1002, 1014, 1030
    assert (out["first_run_at"], out["last_run_end"], out["active_span_s"]) == (1000.0, 1030.0, 30.0)
    assert (out["inter_run_gap_avg_s"], out["inter_run_gap_max_s"]) == (15.0, 20.0)


def test_no_runs_gives_zero_sums_and_null_averages():
    out = combined([])
    assert out["total_runs"] == 0 and out["input_tokens_sum"] == 0 and out["tool_calls_sum"] == 0
    assert out["input_tokens_avg"] is None and out["output_tokens_max"] is None
    assert out["output_input_ratio"] is None and out["error_rate"] is None and out["first_error_index"] is None
    assert out["duration_sum_s"] == 0 and out["duration_p50_s"] is None and out["top_tool"] is None
    assert out["first_run_at"] is None and out["primary_model"] is None and out["distinct_models"] == 0


def test_ties_primary_model_earliest_run_and_top_tool_smallest_name():
    runs = assign_trees(
        [
            run(created_at=1.0, model_provider="B", model_id="b", tools=(ToolCall("zeta", False, None),)),
            run(created_at=2.0, model_provider="A", model_id="a", tools=(ToolCall("alpha", False, None),)),
        ]
    )
    out = combined(runs)
    assert out["primary_model"] == ("B", "b")  # one run each: the earliest wins
    assert out["top_tool"] == "alpha"  # one call each: the smallest name wins


def simulated_runs(n: int) -> list[list[Run]]:
    params = SimParams(sessions=n, seed=3, formats=("agno3", "agno2", "agno1", "phidata"), error_rate=0.3)
    sessions = []
    for i in range(n):
        doc, run_docs = generate(i, params, WINDOW)
        session = normalize_session(doc, run_docs, WINDOW)
        assert session is not None
        sessions.append(list(session.runs))
    return sessions


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: type(f).__name__)
def test_accumulators_merge_in_any_order(family):
    rng = random.Random(11)
    for runs in simulated_runs(60):
        one_pass = family.extract_output(family.add_inputs(family.create_accumulator(), runs))
        shuffled = runs[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(len(shuffled) + 1), k=min(3, len(shuffled) + 1)))
        parts = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)])]
        accs = [family.add_inputs(family.create_accumulator(), p) for p in parts]
        rng.shuffle(accs)
        merged = family.merge_accumulators(accs)
        assert family.extract_output(merged) == one_pass


def test_combine_per_key_over_runs_in_a_pipeline_matches_one_pass():
    """The same CombineFn, used per run element with CombinePerKey (runner splits and merges)."""
    sessions = simulated_runs(20)
    expected = [(i, combined(runs)) for i, runs in enumerate(sessions)]

    def flatten(families):
        out: dict = {}
        for family in families:
            out.update(family)
        return out

    with TestPipeline() as p:
        result = (
            p
            | beam.Create([(i, r) for i, runs in enumerate(sessions) for r in runs])
            | beam.CombinePerKey(session_combine_fn())
            | beam.MapTuple(lambda k, families: (k, flatten(families)))
        )
        # sessions without runs produce no key in CombinePerKey
        assert_that(result, equal_to([e for e in expected if sessions[e[0]]]))
