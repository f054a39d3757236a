"""One source abstraction (issue #11): MongoDB, dump folders and the simulator.

The launcher (pipeline/main.py), the slicer (pipeline/slices.py) and the graph
(pipeline/graph.py) ask a `Source` — chosen once from the config by `source_for` —
and never switch on the source kind. A source checks itself before any work starts
(one sentence on failure), estimates the window's size, and builds the read
PTransform of the window or of one slice of it. That transform counts the orphans
(`read.orphans(candidates)`, FEATURES.md §5) the same way for every source."""

from __future__ import annotations

import math

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.catalog import first_line
from pipeline.options import Config, UsageError
from transforms.read_dump import ReadDump, dump_files, dump_folder_exists, resolve_dump_folder
from transforms.read_mongo import ReadMongo, client, count_window_sessions
from transforms.secrets import redact
from transforms.simulated import ReadSimulated, SimParams, parse_sim_uri
from transforms.slicing import WHOLE, Slice

# Dump bytes (session and run documents as JSON lines) per session: the benchmark
# data (the simulator's defaults) has 4,486 (about 5.4 run documents and 2 tool calls
# a session: 448,609,421 bytes for 100,000 sessions), rounded up so that such a dump
# of 100,000 sessions is one slice (two slices read it twice: +34 % CPU at 100k,
# docs/benchmarks.md). A dump of larger sessions counts as more sessions, as its memory does.
BYTES_PER_SESSION = 4_500
COUNT_MAX_MS = 5_000  # how long the server may count the window's sessions


class Source:
    """What the launcher and the graph need of a source of the window."""

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def describe(self) -> str:
        """The source for the log line, credentials removed."""
        return f"{redact(self.cfg.source)} ({self.cfg.collection})"

    def check(self) -> None:
        """Fail fast, with a one-sentence UsageError, on a source that cannot be read."""

    def estimate(self) -> tuple[int | None, str]:
        """(about how many sessions the window holds, how that was found); None: unknown."""
        raise NotImplementedError

    def read(self, part: Slice = WHOLE) -> beam.PTransform:
        """The read of the window, or of one slice of it (the readers filter it); the
        transform's `orphans(candidates)` gives the orphan counts after the join."""
        raise NotImplementedError


class SimulatedSource(Source):
    def params(self) -> SimParams:
        return parse_sim_uri(self.cfg.source)

    def check(self) -> None:
        try:
            self.params()
        except ValueError as exc:
            raise UsageError(f"bad simulated source: {exc}") from None

    def estimate(self) -> tuple[int | None, str]:
        n = self.params().sessions
        return n, f"the simulated source has {n:,} sessions"

    def read(self, part: Slice = WHOLE) -> beam.PTransform:
        return ReadSimulated(self.params(), self.cfg.window, part)


class DumpSource(Source):
    def folder(self) -> str:
        return resolve_dump_folder(self.cfg.source, self.cfg.database)

    def check(self) -> None:
        cfg = self.cfg
        try:
            folder = self.folder()
            exists, files = dump_folder_exists(folder), dump_files(folder, cfg.collection)
        except Exception as exc:  # noqa: BLE001 - storage the user named (credentials, bucket, network)
            raise UsageError(f"cannot read the dump folder {redact(cfg.source)}: {redact(first_line(exc))}") from None
        if not exists:
            raise UsageError(f"the dump folder {redact(folder)} does not exist")
        if not files:
            raise UsageError(f"the dump folder {redact(folder)} has no {cfg.collection}.jsonl, .json or .bson")

    def estimate(self) -> tuple[int | None, str]:
        """The files' size ÷ BYTES_PER_SESSION (a dump holds every session, not only the
        window's: an upper bound)."""
        folder = self.folder()
        files = dump_files(folder, self.cfg.collection) + dump_files(folder, self.cfg.runs_collection)
        size = sum(m.size_in_bytes for r in FileSystems.match(files) for m in r.metadata_list) if files else 0
        n = math.ceil(size / BYTES_PER_SESSION)
        return n, f"the dump holds {size / 1e6:,.0f} MB, about {n:,} sessions"

    def read(self, part: Slice = WHOLE) -> beam.PTransform:
        cfg = self.cfg
        return ReadDump(self.folder(), cfg.collection, cfg.runs_collection, cfg.window, part)


class MongoSource(Source):
    def check(self) -> None:
        import pymongo.errors

        cfg = self.cfg
        if not cfg.database:
            raise UsageError("--database is required when the MongoDB URI names none (env MONGO_DATABASE)")
        try:
            mongo = client(cfg.source, check=True)
            with mongo:
                mongo.admin.command("ping")
                names = mongo[cfg.database].list_collection_names()
        except pymongo.errors.ConfigurationError as exc:
            raise UsageError(f"bad MongoDB URI: {redact(str(exc))}") from None
        except pymongo.errors.OperationFailure as exc:
            raise UsageError(f"MongoDB refused the request: {redact(str(exc.details or exc))[:300]}") from None
        except pymongo.errors.PyMongoError as exc:
            # pymongo's text: "<host>: <reason> (configured timeouts: …), Timeout: 4.0s, Topology
            # Description: …"; the reason for each host, whole, is what a user needs.
            first = redact(first_line(exc)).split(", Timeout: ")[0]
            raise UsageError(f"cannot reach MongoDB at {redact(cfg.source)}: {first}") from None
        if cfg.collection not in names:
            raise UsageError(f"database {cfg.database!r} has no collection {cfg.collection!r}")

    def estimate(self) -> tuple[int | None, str]:
        """The server counts the documents its window filter fetches, when an index lets
        it within COUNT_MAX_MS."""
        cfg = self.cfg
        n = count_window_sessions(cfg.source, cfg.database, cfg.collection, cfg.window, COUNT_MAX_MS)
        if n is None:
            return None, (
                "the server has no index on created_at to count the window's sessions with, "
                f"or did not count them within {COUNT_MAX_MS / 1000:.0f} s"
            )
        return n, f"the window holds {n:,} session documents"

    def read(self, part: Slice = WHOLE) -> beam.PTransform:
        cfg = self.cfg
        return ReadMongo(
            cfg.source, cfg.database, cfg.collection, cfg.runs_collection, cfg.window, cfg.read_ranges, part=part
        )


_KINDS: dict[str, type[Source]] = {"simulated": SimulatedSource, "dump": DumpSource, "mongodb": MongoSource}


def source_for(cfg: Config) -> Source:
    """The source the config names (Config.source_kind)."""
    return _KINDS[cfg.source_kind](cfg)
