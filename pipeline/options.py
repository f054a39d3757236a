"""Command-line flags and environment variables (a flag wins), as one Config.

Our flags are parsed here; everything else (`--runner`, `--direct_num_workers`,
…) passes through to Beam untouched. The original Glue job's environment
names keep working.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from transforms.read_mongo import runs_collection_name
from transforms.timestamps import EPOCH, format_ts
from transforms.window import Window, WindowError, parse_window

# flag → environment variables, first found wins
ENV: dict[str, tuple[str, ...]] = {
    "source": ("MONGO_URI",),
    "database": ("MONGO_DATABASE", "DATABASE_NAME"),
    "collection": ("MONGO_COLLECTION", "COLLECTION_NAME"),
    "runs_collection": ("MONGO_RUNS_COLLECTION",),
    "start_date": ("START_DATE",),
    "end_date": ("END_DATE",),
    "output": ("OUTPUT",),
    "num_shards": ("NUM_SHARDS",),
    "format": ("OUTPUT_FORMAT",),
    "max_quarantined_share": ("MAX_QUARANTINED_SHARE",),
}


class UsageError(ValueError):
    """A mistake in the flags or environment; the message is one sentence."""


class UpToDate(Exception):
    """--since_last found nothing new to read; the message says why."""


@dataclass(frozen=True)
class Config:
    source: str
    database: str | None
    collection: str
    runs_collection: str
    start_date: str
    end_date: str
    window: Window
    output: str
    num_shards: int
    read_ranges: int
    format: str = "csv"
    hive: bool = False
    since_last: bool = False
    slices: int = 0  # 0: chosen by pipeline/slices.py
    max_quarantined_share: float | None = None  # None: no guard
    verbose: bool = False

    @property
    def source_kind(self) -> str:
        if self.source.startswith("simulated://"):
            return "simulated"
        if self.source.startswith(("mongodb://", "mongodb+srv://")):
            return "mongodb"
        return "dump"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="session-features",
        description="Agno sessions in MongoDB → one row of features per session (FEATURES.md v1).",
        epilog="Any other flag (--runner, --direct_num_workers, …) is passed to Apache Beam.",
    )

    def add(name: str, help: str, **kw) -> None:
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        env = ENV.get(name)
        if env:
            help += f" (env {' / '.join(env)})"
        p.add_argument(*flags, dest=name, help=help, **kw)

    add("source", "a MongoDB URI, a dump folder (path or file://), or simulated://?sessions=N&seed=S")
    add("database", "MongoDB database (default: the one named in the URI)")
    add("collection", "sessions collection (default agno_sessions)")
    add("runs_collection", "agno3 runs collection (default agno_runs beside agno_sessions, else <collection>_runs)")
    add("start_date", "window start: YYYY-MM-DD (whole day) or an ISO-8601 instant")
    add("end_date", "window end: YYYY-MM-DD (inclusive day) or an ISO-8601 instant (exclusive)")
    add("output", "output folder or s3://bucket/prefix (default ./output; env OUTPUT, or S3_BUCKET + S3_PREFIX)")
    add("num_shards", "CSV shards, 0 = the runner decides (default 0)")
    add("format", "csv (default) or parquet")
    p.add_argument("--hive", action="store_true", help="accepted, no effect: every window is its own folder")
    p.add_argument(
        "--since_last",
        "--since-last",
        action="store_true",
        help="start where the last published window under --output ended (implies --hive); "
        "--end_date defaults to today 00:00 UTC",
    )
    add("read_ranges", "time ranges the window's sessions are read in, in parallel; 0 = one per week, at most 16")
    add(
        "slices",
        "run the window as N pipeline runs one after another, each on the sessions with "
        "crc32(session_id) mod N = k, one manifest over all; 0 (default) = about one per 100,000 sessions "
        "on the DirectRunner, 1 elsewhere and with --num_shards 1",
    )
    add(
        "max_quarantined_share",
        "fail the run, publishing nothing, when more than this share (0..1) of the window's input is "
        "quarantined or unreadable: (quarantined + unreadable_records) / (those + rows_written)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show details (DEBUG) on the console too")
    return p


def beam_args_of(argv: Sequence[str]) -> list[str]:
    """The arguments that are not ours: Beam's."""
    return _parser().parse_known_args(list(argv))[1]


def _s3_output(env: Mapping[str, str]) -> str | None:
    """The original job's S3_BUCKET + S3_PREFIX."""
    bucket = env.get("S3_BUCKET")
    if not bucket:
        return None
    prefix = env.get("S3_PREFIX", "").strip("/")
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def _window(values: dict, last_end: Callable[[str], float | None] | None) -> Window:
    if not values["since_last"]:
        return parse_window(values["start_date"], values["end_date"])
    start = last_end(values["output"]) if last_end else None
    if start is None:
        if not values["start_date"]:
            raise UsageError("--since_last found no published window under --output: give --start_date")
        start = parse_window(values["start_date"], values["start_date"]).start
    if values["end_date"]:
        end = parse_window(values["end_date"], values["end_date"]).end
    else:
        end = (dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - EPOCH).total_seconds()
    if start >= end:
        raise UpToDate(f"up to date: the last published window ends at {format_ts(start)}, not before {format_ts(end)}")
    return Window(start, end)


def parse(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    last_end: Callable[[str], float | None] | None = None,
) -> tuple[Config, list[str]]:
    """(Config, the arguments left for Beam). Raises UsageError (or UpToDate with --since_last).

    `last_end(output)` gives the end of the last published window, for --since_last.
    """
    env = os.environ if env is None else env
    parser = _parser()
    args, beam_args = parser.parse_known_args(list(argv))
    values = vars(args)
    for name, names in ENV.items():
        if values.get(name) is None:
            values[name] = next((env[n] for n in names if env.get(n)), None)
    values["output"] = values["output"] or _s3_output(env) or "output"
    fmt = (values["format"] or "csv").lower()
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"--format must be csv or parquet, not {values['format']!r}")

    if not values["source"]:
        raise UsageError("--source is required: a MongoDB URI, a dump folder or simulated:// (env MONGO_URI)")
    try:
        window = _window(values, last_end)
    except WindowError as exc:
        raise UsageError(str(exc)) from None
    collection = values["collection"] or "agno_sessions"
    try:
        num_shards = int(values["num_shards"] or 0)
        read_ranges = int(values["read_ranges"] or 0)
        slices = int(values["slices"] or 0)
    except ValueError:
        raise UsageError("--num_shards, --read_ranges and --slices take whole numbers") from None
    guard = _share(values["max_quarantined_share"])
    if num_shards < 0 or read_ranges < 0 or slices < 0:
        raise UsageError("--num_shards, --read_ranges and --slices cannot be negative")
    if read_ranges == 0:
        read_ranges = max(1, min(16, math.ceil((window.end - window.start) / (7 * 86_400))))
    database = values["database"]
    if database is None and values["source"].startswith(("mongodb://", "mongodb+srv://")):
        from pymongo.uri_parser import parse_uri

        try:
            database = parse_uri(values["source"], validate=False).get("database")
        except Exception:  # noqa: BLE001 - reported by the connection check with a clear line
            database = None
    config = Config(
        source=values["source"],
        database=database,
        collection=collection,
        runs_collection=runs_collection_name(collection, values["runs_collection"]),
        start_date=format_ts(window.start) if values["since_last"] else values["start_date"],
        end_date=format_ts(window.end) if values["since_last"] else values["end_date"],
        window=window,
        output=values["output"],
        num_shards=num_shards,
        read_ranges=read_ranges,
        format=fmt,
        hive=values["hive"] or values["since_last"],
        since_last=values["since_last"],
        slices=slices,
        max_quarantined_share=guard,
        verbose=values["verbose"],
    )
    return config, beam_args


def _share(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        share = float(text)
    except ValueError:
        share = math.nan
    if not 0 <= share <= 1:
        raise UsageError(f"--max_quarantined_share takes a number from 0 to 1, not {text!r}")
    return share


PUBLISH_USAGE = "session-features publish RUN_DIR [file system flags such as --s3_endpoint_url]"


def parse_publish(argv: Sequence[str]) -> tuple[str, list[str]]:
    """`publish RUN_DIR [Beam file system flags]` → (RUN_DIR, the flags). Raises UsageError."""
    if not argv or argv[0].startswith("-"):
        raise UsageError(f"publish needs the run folder the jar wrote to: {PUBLISH_USAGE}")
    run_dir = argv[0].rstrip("/")
    if not run_dir.rsplit("/", 1)[-1].startswith("run-"):
        raise UsageError(f"{run_dir} is not a run folder (run-<time>-<id>, as the launcher logged it)")
    return run_dir, list(argv[1:])
