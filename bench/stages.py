"""Stage-isolated sub-pipelines: the job's own transforms, cut after one stage.

    python -m bench.stages --stage group --source DIR --start_date … --end_date … [beam flags]

Each cut ends in a cheap sink (a global count), so the time of stage k is
t(cut k) − t(cut k−1), and t(cut "none") is the fixed cost (interpreter, imports,
graph construction, runner start-up) on the same input.

    none       the graph is built and run on no input (`Create([])`)
    read       ReadSessions (every output of the source)       → count
    group      + key by session_id and join (GroupBySession)     → count
    normalize  + join, winner, per-format readers (NormalizeSessions) → count
    combine    + metric families and the row (ComputeFeatures)  → count
The full job (`python -m pipeline`) adds formatting, writing, counts and publishing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

STAGES = ("none", "read", "group", "normalize", "combine")


def build(p, cfg, stage: str) -> list:
    """The PCollections where the cut ends (each is counted on its own: a Flatten of
    several stages' outputs would make the runner encode every element again)."""
    import apache_beam as beam

    from pipeline.sources import source_for
    from transforms.features import ComputeFeatures
    from transforms.normalize import QUARANTINE, GroupBySession, NormalizeSessions, key_session

    if stage == "none":
        return [p | beam.Create([])]
    read = p | "ReadSessions" >> source_for(cfg).read()
    if stage == "read":
        return [read[k] for k in ("sessions", "runs", "refs", "known", "quarantine")]
    if stage == "group":
        keyed = read["sessions"] | beam.FlatMap(key_session).with_outputs(QUARANTINE, main="keyed")
        groups = {
            "sessions": keyed.keyed,
            "runs": read["runs"],
            "refs": read["refs"],
            "known": read["known"],
        } | GroupBySession()
        return [groups, keyed[QUARANTINE], read["quarantine"]]
    sessions, quarantine, counts, candidates = read | NormalizeSessions(cfg.window)
    if stage == "combine":
        sessions = sessions | ComputeFeatures()
    return [sessions, quarantine, counts, candidates]


def _count_bundle_fn():
    import apache_beam as beam
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.timestamp import MIN_TIMESTAMP
    from apache_beam.utils.windowed_value import WindowedValue

    class CountBundle(beam.DoFn):
        """One count per bundle: the cut's elements go nowhere (no shuffle of them, nor
        of a 1 per element, whatever the runner lifts)."""

        def start_bundle(self):
            self.n = 0

        def process(self, element):
            self.n += 1
            return ()

        def finish_bundle(self):
            yield WindowedValue(self.n, MIN_TIMESTAMP, [GlobalWindow()])

    return CountBundle


def _save(n: int, path: str) -> None:
    with open(path, "w") as handle:
        handle.write(str(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages")
    parser.add_argument("--stage", choices=STAGES, required=True)
    args, rest = parser.parse_known_args(argv)

    import apache_beam as beam

    from pipeline.options import parse
    from pipeline.runners import new_pipeline

    t0 = time.monotonic()
    cfg, beam_args = parse(rest)
    with tempfile.TemporaryDirectory(prefix="bench-stage-") as tmp:
        path = os.path.join(tmp, "count")
        with new_pipeline(beam_args) as p:
            cut = build(p, cfg, args.stage)
            counts = [pcoll | f"Count{i}" >> beam.ParDo(_count_bundle_fn()()) for i, pcoll in enumerate(cut)]
            # The count comes back through a file: it works with any local runner.
            counts | "Counts" >> beam.Flatten() | "Sum" >> beam.CombineGlobally(sum) | "Save" >> beam.Map(_save, path)
        with open(path) as handle:
            elements = int(handle.read())
    json.dump({"stage": args.stage, "elements": elements, "seconds": time.monotonic() - t0}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
