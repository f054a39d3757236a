"""Pieces of the job's speed machinery against the plain way, in one process (CPU
seconds, best of 3), for docs/benchmarks.md:

    python -m bench.pieces [--runs FILE]      (default: the 10k bench dump's runs file)

- Extended JSON: `bson.json_util.loads` vs the job's `loads_extended_json` (orjson
  plus json_util's hook where `$` keys are) vs bare orjson, on every run line;
- percentile: `numpy.percentile` vs the job's `_percentile`, p50 and p95 of 20,000
  random lists of 1–12 durations (the same values: checked);
- the join: Beam's `CoGroupByKey` vs the job's `GroupBySession` (values pickled to
  bytes) over the 10k dump's keyed sessions and bundled pre-read runs, each in a
  pipeline of its own on the in-memory FnApiRunner (the same groups: tests/test_fast_paths.py);
- a run line to its (session_id, PreRun): the full path (parse as json_util would,
  key_run, pre_read) vs msgspec's projection (`transforms/run_lines.py`), every line
  of the runs file (the same answers: checked, and tests/test_run_lines.py).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable

from bench import data


def best(f: Callable[[], object], times: int = 3) -> float:
    spent = []
    for _ in range(times):
        t = time.process_time()
        f()
        spent.append(time.process_time() - t)
    return min(spent)


def _join_inputs(folder) -> tuple[list, list]:
    """The 10k dump's (session_id, document) and (session_id, [PreRun]) as the job
    makes them before the join."""
    from transforms.normalize import pre_read
    from transforms.read_dump import loads_extended_json
    from transforms.window import parse_window

    window = parse_window(*data.WINDOW)
    sessions, runs = [], {}
    with open(folder / "agno_sessions.jsonl", encoding="utf-8") as handle:
        for line in handle:
            doc = loads_extended_json(line)
            sessions.append((doc["session_id"], doc))
    with open(folder / "agno_runs.jsonl", encoding="utf-8") as handle:
        for line in handle:
            doc = loads_extended_json(line)
            key, pre = pre_read((doc["session_id"], doc), window)
            runs.setdefault(key, []).append(pre)
    return sessions, list(runs.items())


def _join_cpu(join: str, sessions: list, runs: list) -> float:
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    from transforms.normalize import GroupBySession

    p = beam.Pipeline(runner=fn_runner.FnApiRunner())
    inputs = {
        "sessions": p | "S" >> beam.Create(sessions, reshuffle=False),
        "runs": p | "R" >> beam.Create(runs, reshuffle=False),
        "refs": p | "F" >> beam.Create([]),
        "known": p | "K" >> beam.Create([]),
    }
    grouped = inputs | (GroupBySession() if join == "packed" else beam.CoGroupByKey())
    _ = grouped | beam.combiners.Count.Globally()
    t = time.process_time()
    p.run().wait_until_finish()
    return time.process_time() - t


def _run_lines(lines: list[str]) -> dict[str, float]:
    import apache_beam as beam

    from transforms.normalize import pre_read
    from transforms.read_dump import _UNDECIDED, ParseJsonLine, key_run
    from transforms.run_lines import read_run_line
    from transforms.window import parse_window

    window = parse_window(*data.WINDOW)
    parse = ParseJsonLine("run").parse
    raws = [line.encode() for line in lines]

    def full(raw: bytes) -> list:
        return [
            pre_read(keyed, window)
            for doc in parse(raw, _UNDECIDED, {})
            for keyed in key_run(doc, window)
            if not isinstance(keyed, beam.pvalue.TaggedOutput)
        ]

    fast = [read_run_line(raw, window) for raw in raws]
    assert all(f is None or [f] == full(raw) for f, raw in zip(fast, raws))
    return {
        "run_lines_fast_share": sum(f is not None for f in fast) / len(raws),
        "run_line_full_path_s": best(lambda: [full(raw) for raw in raws]),
        "run_line_msgspec_s": best(lambda: [read_run_line(raw, window) for raw in raws]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pieces")
    p.add_argument("--runs", help="a runs .jsonl file (default: the 10k bench dump's)")
    args = p.parse_args(argv)
    import numpy
    import orjson
    from bson import json_util

    from transforms.metrics import _percentile
    from transforms.read_dump import loads_extended_json

    path = args.runs or str(data.dump_folder(10_000, 2).folder / "agno_runs.jsonl")
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert all(json_util.loads(line) == loads_extended_json(line) for line in lines[:2000])
    rnd = random.Random(1)
    samples = [[rnd.random() * 30 for _ in range(rnd.randint(1, 12))] for _ in range(20_000)]
    assert all(_percentile(x, 95) == float(numpy.percentile(x, 95)) for x in samples[:2000])
    out = {
        "run_lines": len(lines),
        "json_util_loads_s": best(lambda: [json_util.loads(line) for line in lines]),
        "loads_extended_json_s": best(lambda: [loads_extended_json(line) for line in lines]),
        "orjson_loads_s": best(lambda: [orjson.loads(line) for line in lines]),
        "numpy_percentile_s": best(lambda: [(numpy.percentile(x, 50), numpy.percentile(x, 95)) for x in samples]),
        "hand_percentile_s": best(lambda: [(_percentile(x, 50), _percentile(x, 95)) for x in samples]),
    }
    out.update(_run_lines(lines))
    sessions, runs = _join_inputs(data.dump_folder(10_000, 2).folder)
    out["join_sessions"], out["join_run_lists"] = len(sessions), len(runs)
    for _ in range(3):  # alternating, best of 3
        for join in ("cogroupbykey", "packed"):
            key = f"{join}_s"
            out[key] = min(out.get(key, math.inf), _join_cpu(join, sessions, runs))
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
