"""The metric-family CombineFns as a CombinePerKey over run elements, on any runner.

    python tests/runner_combine.py OUT_PREFIX [Beam flags…]

writes `OUT_PREFIX*.jsonl`: one `[session_id, result, accumulators merged]` line per
session of `simulated_sessions()`, whose runs arrive shuffled and spread over
bundles. test_runners.py runs it on Spark and Flink (in its own process, so the
LOOPBACK workers' threads end with it) and compares with one pass.
"""

from __future__ import annotations

import json
import random
import sys

import apache_beam as beam


class CountParts(beam.CombineFn):
    """A CombineFn and the number of accumulators merged into each key's result, so
    a test can tell that the runner did split and merge."""

    def __init__(self, fn: beam.CombineFn):
        self.fn = fn

    def create_accumulator(self):
        return self.fn.create_accumulator(), 1

    def add_input(self, acc, element):
        return self.fn.add_input(acc[0], element), acc[1]

    def merge_accumulators(self, accs):
        accs = list(accs)
        return self.fn.merge_accumulators([a for a, _ in accs]), sum(n for _, n in accs)

    def compact(self, acc):
        return self.fn.compact(acc[0]), acc[1]

    def extract_output(self, acc):
        return self.fn.extract_output(acc[0]), acc[1]


def simulated_sessions(n: int = 300) -> list:
    """Normalized sessions with at least two runs, of every storage format."""
    from transforms.formats import normalize_session
    from transforms.simulated import SimParams, generate
    from transforms.window import parse_window

    window = parse_window("2024-12-01", "2024-12-31")
    params = SimParams(sessions=n, seed=11, formats=("agno3", "agno2", "agno1", "phidata"), runs=6.0, tools=1.5)
    sessions = [normalize_session(*generate(i, params, window), window) for i in range(n)]
    return [s for s in sessions if s is not None and len(s.runs) > 1]


def run(out_prefix: str, beam_args: list[str]) -> int:
    from pipeline.runners import new_pipeline
    from transforms.metrics import session_combine_fn

    elements = [(s.info.session_id, r) for s in simulated_sessions() for r in s.runs]
    random.Random(5).shuffle(elements)
    with new_pipeline(beam_args) as p:
        (
            p
            | beam.Create(elements, reshuffle=True)
            | "Spread" >> beam.Reshuffle()
            | beam.CombinePerKey(CountParts(session_combine_fn()))
            | beam.MapTuple(lambda sid, result: json.dumps([sid, result[0], result[1]]))
            | beam.io.WriteToText(out_prefix, file_name_suffix=".jsonl")
        )
    return len(elements)


if __name__ == "__main__":
    print(f"combined {run(sys.argv[1], sys.argv[2:])} runs")
