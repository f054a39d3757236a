"""Command-line flags and environment variables (a flag wins), as one Config.

Our flags are parsed here; everything else (`--runner`, `--direct_num_workers`,
…) passes through to Beam untouched. The original Glue job's environment
names keep working.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transforms.read_mongo import runs_collection_name
from transforms.window import Window, parse_window

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
}


class UsageError(ValueError):
    """A mistake in the flags or environment; the message is one sentence."""


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
    add("output", "output folder (default ./output)")
    add("num_shards", "CSV shards, 0 = the runner decides (default 0)")
    add("read_ranges", "time ranges the window's sessions are read in, in parallel; 0 = one per week, at most 16")
    return p


def parse(argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """(Config, the arguments left for Beam). Raises UsageError."""
    env = os.environ if env is None else env
    parser = _parser()
    args, beam_args = parser.parse_known_args(list(argv))
    values = vars(args)
    for name, names in ENV.items():
        if values.get(name) is None:
            values[name] = next((env[n] for n in names if env.get(n)), None)

    if not values["source"]:
        raise UsageError("--source is required: a MongoDB URI, a dump folder or simulated:// (env MONGO_URI)")
    try:
        window = parse_window(values["start_date"], values["end_date"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    collection = values["collection"] or "agno_sessions"
    try:
        num_shards = int(values["num_shards"] or 0)
        read_ranges = int(values["read_ranges"] or 0)
    except ValueError:
        raise UsageError("--num_shards and --read_ranges take whole numbers") from None
    if num_shards < 0 or read_ranges < 0:
        raise UsageError("--num_shards and --read_ranges cannot be negative")
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
        start_date=values["start_date"],
        end_date=values["end_date"],
        window=window,
        output=values["output"] or "output",
        num_shards=num_shards,
        read_ranges=read_ranges,
    )
    return config, beam_args
