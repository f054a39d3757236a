"""A large window as K slices, one pipeline run after another (issue #5).

The in-memory DirectRunner holds the whole shuffle of the join in one process, so
its memory grows with the window (measured: docs/benchmarks.md). Run as K slices — slice k holds the sessions with
crc32(session_id) mod K = k (transforms/slicing.py) — a window needs the memory of
one slice. Each slice is a run of the same graph (pipeline/graph.py) writing into
the same run folder under file names of its own (`features-s003-…`); the launcher
publishes one manifest over all of them, and only when every slice succeeded.

Every session's documents (duplicates, runs, the proof it exists outside the
window, orphan candidates) share its session_id, so every per-session rule of
FEATURES.md holds per slice, and each input document is in exactly one slice: the
rows, quarantine and counts are those of one unsliced run.

`--slices N` forces N; 0 (the default) chooses: on the DirectRunner about one slice
per 100,000 sessions (from a cheap estimate of the window's size), elsewhere 1
(Spark and Flink spill their shuffles to disk). The cost is reading the input once
per slice: cheap for dumps and the simulated source, one more server read per slice
for MongoDB.
"""

from __future__ import annotations

import logging
import math
import time

from pipeline.graph import build
from pipeline.options import Config
from pipeline.publish import sum_counts
from pipeline.runners import new_pipeline, short_name
from pipeline.sources import source_for
from transforms.slicing import Slice

log = logging.getLogger("session_features")

SESSIONS_PER_SLICE = 100_000
_DIRECT = ("direct", "switchingdirect", "bundlebaseddirect")


def is_direct(runner: str) -> bool:
    """The in-memory DirectRunner, by any of the names Beam accepts for it."""
    return short_name(runner) in _DIRECT


def choose(cfg: Config, runner: str) -> tuple[int, int | None]:
    """(how many slices the window is run in, about how many sessions it holds, None
    when unknown or not asked): --slices, else see the module's docstring. The
    estimate also picks the DirectRunner's default mode (pipeline/runners.py)."""
    if not is_direct(runner):
        return cfg.slices or 1, None
    n, how = source_for(cfg).estimate()
    if cfg.slices:
        return cfg.slices, n
    if cfg.num_shards == 1:
        # One file was asked for; slices would write one per slice.
        log.info("one slice (--num_shards 1 asks for one file); --slices N bounds the memory, with N files")
        return 1, n
    if n is None:
        log.info("one slice: %s (--slices N runs the window in N)", how)
        return 1, n
    count = max(1, math.ceil(n / SESSIONS_PER_SLICE))
    if count > 1:
        log.info("%d slices, one after another: %s (at most %s a slice)", count, how, f"{SESSIONS_PER_SLICE:,}")
    return count, n


class SliceFailed(RuntimeError):
    """A slice of a sliced window failed; the message names it."""


def run(cfg: Config, beam_args: list[str], run_dir: str, count: int, sessions: int | None = None) -> None:
    """Run the window's `count` slices into `run_dir`, one after another; raises on the
    first failure (the caller publishes nothing then). `sessions`: the window's
    estimated size, for the DirectRunner's default mode."""
    t0 = time.monotonic()
    for k in range(count):
        part = Slice(k, count)
        started = time.monotonic()
        try:
            with new_pipeline(beam_args, None if sessions is None else math.ceil(sessions / count)) as p:
                build(p, cfg, run_dir, part)
        except Exception as exc:
            if part.whole:
                raise
            first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise SliceFailed(f"{part.describe()} failed: {first}") from exc
        if not part.whole:
            _log_slice(part, slice_counts(run_dir, part), time.monotonic() - started, time.monotonic() - t0)


def slice_counts(run_dir: str, part: Slice) -> dict[str, int]:
    """The counts one slice wrote (the launcher sums all slices' files when it publishes)."""
    return sum_counts(run_dir, part.tag)[0]


def _log_slice(part: Slice, counts: dict[str, int], seconds: float, elapsed: float) -> None:
    done = part.index + 1
    left = elapsed / done * (part.count - done)
    log.info(
        "%s: %s sessions read, %s rows, %s quarantined in %.1f s (%.0f sessions/s)%s",
        part.describe(),
        f"{counts.get('sessions_read', 0):,}",
        f"{counts.get('rows_written', 0):,}",
        f"{counts.get('quarantined', 0):,}",
        seconds,
        counts.get("sessions_read", 0) / max(seconds, 1e-9),
        f"; about {left:.0f} s left" if done < part.count else "",
    )
