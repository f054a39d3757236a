"""Command-line flags and environment variables (a flag wins), as one Config.

Our flags are parsed here; the options Beam defines (`--runner`,
`--direct_num_workers`, …: any registered PipelineOptions class's) pass through
to Beam untouched, and anything else is a usage error with a close match
suggested. The original Glue job's environment names keep working.

A flag is one `add(...)` line in `_parser()`; the unknown-flag check and
docs/cli.md (scripts/gen_cli_doc.py) pick it up from the parser.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from transforms.read_mongo import runs_collection_name
from transforms.tables import parse_tables
from transforms.timestamps import EPOCH, format_ts
from transforms.window import Window, WindowError, parse_bound, parse_window

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
    "glue_table": ("GLUE_TABLE",),
    "max_quarantined_share": ("MAX_QUARANTINED_SHARE",),
}


OUTPUT_ENV = "OUTPUT, or S3_BUCKET + S3_PREFIX"  # _s3_output


class UsageError(ValueError):
    """A mistake in the flags or environment; the message is one sentence."""


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes are UsageErrors (one line), not a usage text and an exit."""

    def error(self, message: str):
        raise UsageError(message)


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
    tables: tuple[str, ...] = ("sessions",)  # transforms/tables.py
    glue_table: str | None = None  # DATABASE.TABLE: register each window in the Glue catalog
    max_quarantined_share: float | None = None  # None: no guard
    verbose: bool = False

    @property
    def source_kind(self) -> str:
        if self.source.startswith("simulated://"):
            return "simulated"
        if self.source.startswith(("mongodb://", "mongodb+srv://")):
            return "mongodb"
        return "dump"


def _parser() -> Parser:
    p = Parser(
        prog="session-features",
        description="Agno sessions in MongoDB → one row of features per session (FEATURES.md v1.1).",
        epilog="Beam's own options (--runner, --direct_num_workers, --s3_endpoint_url, …) pass to Apache Beam.",
        allow_abbrev=False,  # `--out` is a typo, not --output
    )

    def add(name: str, help: str, *aliases: str, doc_default: str | None = None, env_text: str | None = None, **kw):
        """`--name` (and `--na-me`), its help, environment variables from ENV, and the default it stands for."""
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else []) + list(aliases)
        env = env_text or " / ".join(ENV.get(name, ()))
        notes = [f"default {doc_default}"] if doc_default else []
        notes += [f"env {env}"] if env else []
        action = p.add_argument(*flags, dest=name, help=f"{help} ({'; '.join(notes)})" if notes else help, **kw)
        action.doc, action.env, action.doc_default = help, env, doc_default  # for docs/cli.md

    add("source", "a MongoDB URI, a dump folder (path, file://, s3://) or simulated://?sessions=N&…", metavar="URI")
    add("database", "MongoDB database", doc_default="the one named in the URI", metavar="NAME")
    add("collection", "sessions collection", doc_default="agno_sessions", metavar="NAME")
    add("runs_collection", "agno3 runs collection", doc_default="agno_runs, or <collection>_runs", metavar="NAME")
    add("start_date", "window start: YYYY-MM-DD (the whole UTC day) or an ISO-8601 date-time", metavar="DATE")
    add("end_date", "window end: YYYY-MM-DD (the whole day) or an ISO-8601 date-time (exclusive)", metavar="DATE")
    add("output", "folder or s3://bucket/prefix", doc_default="./output", env_text=OUTPUT_ENV, metavar="PATH")
    add("format", "csv or parquet", doc_default="csv", metavar="FORMAT")
    add("num_shards", "data files (per slice); 0 = the runner decides, 1 = one file", doc_default="0", metavar="N")
    add("hive", "no effect, kept for old schedules: every window is written under window_start=…/window_end=…/",
        action="store_true")  # fmt: skip
    add("since_last", "start where the last published window under --output ended; --end_date defaults to "
        "today 00:00 UTC", action="store_true")  # fmt: skip
    add("read_ranges", "time ranges read in parallel", doc_default="0: one per week, at most 16", metavar="N")
    add("slices", "run the window as N pipeline runs one after another, each on the sessions with "
        "crc32(session_id) mod N = k, one manifest over all", doc_default="0: about one per 100,000 sessions on the "
        "DirectRunner, 1 elsewhere and with --num_shards 1", metavar="N")  # fmt: skip
    add("glue_table", "register each published window in this Glue table", metavar="DATABASE.TABLE")
    add("max_quarantined_share", "fail the run, publishing nothing, when more than this share (0..1) of the "
        "window's input is quarantined or unreadable: (quarantined + unreadable_records) / (those + rows_written)",
        doc_default="no guard", metavar="SHARE")  # fmt: skip
    add("verbose", "show details (DEBUG, tracebacks) on the console too", "-v", action="store_true")
    add("tables", "tables to write, comma-separated: sessions, runs, tool_calls", doc_default="sessions",
        metavar="NAMES")  # fmt: skip
    return p


def our_flags(parser: argparse.ArgumentParser | None = None) -> list[argparse.Action]:
    """The flags a parser defines (ours by default), help excluded: for the docs and the typo check."""
    actions = (parser or _parser())._actions
    return [a for a in actions if not isinstance(a, argparse._HelpAction)]


def beam_parser() -> argparse.ArgumentParser:
    """Every option Beam would parse: those of each registered PipelineOptions subclass,
    collected as PipelineOptions.get_all_options does."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class BeamParser(_BeamArgumentParser, Parser):
        pass

    parser = BeamParser(allow_abbrev=False, add_help=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    return parser


def unknown_flag(arg: str, known: Iterable[str]) -> UsageError:
    """One sentence for an argument no parser took, with the closest flag when there is one."""
    if not arg.startswith("-"):
        return UsageError(f"unexpected argument {arg!r}: every value follows its flag (see --help)")
    flag, known = arg.split("=", 1)[0], list(known)
    underscored = "--" + flag.lstrip("-").replace("-", "_")  # Beam's options have no dashed spellings
    match = [underscored] if underscored in known else difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
    hint = f"; did you mean {match[0]}?" if match else " (see --help)"
    return UsageError(f"unknown flag {flag}{hint}")


def check_beam_args(args: Sequence[str], ours: argparse.ArgumentParser | None = None) -> None:
    """Raise a UsageError for the first argument that is neither ours nor an option Beam defines
    (Beam would discard it with a warning); the values of Beam's options are checked as Beam would."""
    beam = beam_parser()
    _, rest = beam.parse_known_args(list(args))
    rest = [a for a in rest if a != "--"]
    if rest:
        known = [f for a in our_flags(ours) + our_flags(beam) for f in a.option_strings]
        raise unknown_flag(rest[0], known)


def beam_args_of(argv: Sequence[str]) -> list[str]:
    """The arguments that are not ours: Beam's; none when any argument is wrong (parse()
    says which, and Beam does not warn about it first)."""
    parser = _parser()
    try:
        rest = parser.parse_known_args(list(argv))[1]
        check_beam_args(rest, parser)
    except UsageError:
        return []
    return rest


def _s3_output(env: Mapping[str, str]) -> str | None:
    """The original job's S3_BUCKET + S3_PREFIX."""
    bucket = env.get("S3_BUCKET")
    if not bucket:
        return None
    prefix = env.get("S3_PREFIX", "").strip("/")
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def _window(values: dict, last_end: Callable[[str], float | None] | None, label: dict[str, str]) -> Window:
    start_name, end_name = label["start_date"], label["end_date"]
    if not values["since_last"]:
        return parse_window(values["start_date"], values["end_date"], (start_name, end_name))
    start = last_end(values["output"]) if last_end else None
    if start is None:
        if not values["start_date"]:
            raise UsageError("--since_last found no published window under --output: give --start_date")
        start = parse_bound(values["start_date"], start_name, False)
    if values["end_date"]:
        end = parse_bound(values["end_date"], end_name, True)
    else:
        end = (dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - EPOCH).total_seconds()
    if start >= end:
        raise UpToDate(f"up to date: the last published window ends at {format_ts(start)}, not before {format_ts(end)}")
    return Window(start, end)


MOST = 10_000  # shards, read ranges, slices: more is a slip (each is a file, a query or a whole pipeline run)


def whole_number(value: str, label: str, most: int = MOST) -> int:
    """A whole number from 0 to `most`, or a UsageError naming `label` (`--num_shards`, …)."""
    text = value.strip()
    if not re.fullmatch(r"[0-9]+", text) or int(text) > most:
        raise UsageError(f"{label} must be a whole number from 0 to {most:,}, not {value!r}")
    return int(text)


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
    check_beam_args(beam_args, parser)
    values = vars(args)
    label = {name: f"--{name}" for name in values}  # where a value came from, for the error
    for name, names in ENV.items():
        if values.get(name) is None:
            found = next((n for n in names if env.get(n)), None)
            values[name] = env[found] if found else None
            label[name] = f"--{name} (env {found})" if found else label[name]
    values["output"] = values["output"] or _s3_output(env) or "output"
    fmt = (values["format"] or "csv").strip().lower()
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"{label['format']} must be csv or parquet, not {values['format']!r}")

    if not values["source"]:
        raise UsageError("--source is required: a MongoDB URI, a dump folder or simulated:// (env MONGO_URI)")
    try:
        window = _window(values, last_end, label)
    except WindowError as exc:
        raise UsageError(str(exc)) from None
    collection = values["collection"] or "agno_sessions"
    num_shards, read_ranges, slices = (
        whole_number(values[name] or "0", label[name]) for name in ("num_shards", "read_ranges", "slices")
    )
    guard = _share(values["max_quarantined_share"])
    if read_ranges == 0:
        read_ranges = max(1, min(16, math.ceil((window.end - window.start) / (7 * 86_400))))
    database = values["database"]
    if database is None and values["source"].startswith(("mongodb://", "mongodb+srv://")):
        from pymongo.uri_parser import parse_uri

        try:
            database = parse_uri(values["source"], validate=False).get("database")
        except Exception:  # noqa: BLE001 - reported by the connection check with a clear line
            database = None
    try:
        tables = parse_tables(values["tables"])
    except ValueError as exc:
        raise UsageError(f"--tables: {exc}") from None
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
        hive=values["hive"] or values["since_last"] or bool(values["glue_table"]),
        since_last=values["since_last"],
        slices=slices,
        tables=tables,
        glue_table=values["glue_table"],
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
# name → (usage, what it does): for docs/cli.md
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "publish": (PUBLISH_USAGE, "publish a run built with `--output_executable_path` once its jar has run"),
}


def parse_publish(argv: Sequence[str]) -> tuple[str, list[str]]:
    """`publish RUN_DIR [Beam file system flags]` → (RUN_DIR, the flags). Raises UsageError."""
    if not argv or argv[0].startswith("-"):
        raise UsageError(f"publish needs the run folder the jar wrote to: {PUBLISH_USAGE}")
    run_dir = argv[0].rstrip("/")
    if not run_dir.rsplit("/", 1)[-1].startswith("run-"):
        raise UsageError(f"{run_dir} is not a run folder (run-<time>-<id>, as the launcher logged it)")
    check_beam_args(argv[1:])
    return run_dir, list(argv[1:])
