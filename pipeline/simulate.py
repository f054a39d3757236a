"""Write simulated Agno sessions to a dump folder or a MongoDB database.

    python -m pipeline.simulate --sessions 10000 --seed 7 --to ./demo-dump \
        --start_date 2024-12-01 --end_date 2024-12-31
    python -m pipeline.simulate --sessions 10000 --to mongodb://localhost:27017/agno
    python -m pipeline.simulate --sessions 100000 --seed 7 --runs 2.8 --tools 1.2 --to DIR   (the bench's data)

The documents are exactly those `--source simulated://?sessions=N&seed=S&…`
generates, so a dump or a database loaded this way gives the same rows.

A destination that already holds them (the same seed's sessions in the database,
the collection's files in the dump folder) is left alone with a one-line error;
`--replace` replaces them. Other documents are never touched.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence

from pipeline.options import Parser, UsageError, our_flags, unknown_flag
from transforms.read_dump import dump_files, local_path
from transforms.read_mongo import runs_collection_name
from transforms.secrets import redact
from transforms.simulated import FORMATS, SimParams, generate, session_id, sim_params
from transforms.window import WindowError, parse_window

log = logging.getLogger("session_features.simulate")
BATCH = 2_000
# the flags that are SimParams fields, read as a simulated:// URI's parameters are
SIM_FLAGS = ("sessions", "seed", "formats", "runs", "tools", "error_rate", "tool_error_rate", "bad_rate")


def documents(params: SimParams, window) -> Iterator[tuple[dict, list[dict]]]:
    for i in range(params.sessions):
        yield generate(i, params, window)


def _progress(done: int, total: int, t0: float) -> None:
    if done % 50_000 == 0 or done == total:
        log.info("wrote %s / %s sessions (%.0f/s)", f"{done:,}", f"{total:,}", done / max(time.monotonic() - t0, 1e-9))


def existing_dump_files(folder: str, collection: str, runs_collection: str) -> list[str]:
    """The files of the two collections a dump folder holds already (any of .jsonl, .json, .bson:
    the pipeline would read them all)."""
    if not os.path.isdir(folder):
        return []
    return dump_files(folder, collection) + dump_files(folder, runs_collection)


def to_dump(
    folder: str, collection: str, runs_collection: str, params: SimParams, window, replace: bool = False
) -> None:
    from bson import json_util

    folder = local_path(folder)
    existing = existing_dump_files(folder, collection, runs_collection)
    if existing and not replace:
        names = ", ".join(os.path.basename(f) for f in existing)
        raise UsageError(f"the dump folder {folder} already holds {names}; --replace replaces them")
    try:
        os.makedirs(folder, exist_ok=True)
        for path in existing:
            os.remove(path)
        opts = json_util.RELAXED_JSON_OPTIONS
        t0 = time.monotonic()
        with (
            open(os.path.join(folder, f"{collection}.jsonl"), "w") as sessions,
            open(os.path.join(folder, f"{runs_collection}.jsonl"), "w") as runs,
        ):
            for n, (session, run_docs) in enumerate(documents(params, window), 1):
                sessions.write(json_util.dumps(session, json_options=opts) + "\n")
                for doc in run_docs:
                    runs.write(json_util.dumps(doc, json_options=opts) + "\n")
                _progress(n, params.sessions, t0)
    except OSError as exc:
        raise UsageError(f"cannot write the dump folder {folder}: {exc.strerror or exc}") from None


def simulated_ids(params: SimParams) -> dict:
    """A filter on exactly the session ids `params` generates: `sim-<seed>-<9 digits>`
    sort as their numbers do, and no other seed's ids fall between."""
    return {"session_id": {"$gte": session_id(0, params), "$lte": session_id(params.sessions - 1, params)}}


def to_mongo(
    uri: str,
    database: str,
    collection: str,
    runs_collection: str,
    params: SimParams,
    window,
    replace: bool = False,
) -> None:
    import pymongo.errors

    from transforms.read_mongo import client

    if params.sessions == 0:
        return
    ids = simulated_ids(params)
    t0 = time.monotonic()
    try:
        with client(uri) as mongo:
            db = mongo[database]
            held = [name for name in (collection, runs_collection) if db[name].find_one(ids, {"_id": 1})]
            if held and not replace:
                raise UsageError(
                    f"{redact(uri)} already holds sessions {session_id(0, params)} … "
                    f"{session_id(params.sessions - 1, params)} in {' and '.join(held)}; --replace replaces them"
                )
            for name in held:
                removed = db[name].delete_many(ids).deleted_count
                log.info("removed %s documents of these sessions from %s", f"{removed:,}", name)
            sessions, runs = [], []
            for n, (session, run_docs) in enumerate(documents(params, window), 1):
                sessions.append(session)
                runs.extend(run_docs)
                if len(sessions) >= BATCH or n == params.sessions:
                    db[collection].insert_many(sessions, ordered=False)
                    if runs:
                        db[runs_collection].insert_many(runs, ordered=False)
                    sessions, runs = [], []
                _progress(n, params.sessions, t0)
    except pymongo.errors.PyMongoError as exc:
        first = redact(str(exc)).split(",")[0].splitlines()[0][:200]
        raise UsageError(f"cannot write to MongoDB at {redact(uri)}: {first}") from None


def parser() -> Parser:
    p = Parser(prog="python -m pipeline.simulate", description=__doc__.split("\n\n")[0], allow_abbrev=False)

    def add(name: str, help: str, doc_default: str | None = None, **kw) -> None:
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        shown = f"{help} (default {doc_default})" if doc_default else help
        action = p.add_argument(*flags, dest=name, help=shown, **kw)
        action.doc, action.env, action.doc_default = help, "", doc_default  # for docs/cli.md

    defaults = SimParams()
    add("to", "a dump folder, or a MongoDB URI naming its database", required=True)
    add("sessions", "sessions to write", "1000")
    add("seed", "the seed the documents follow from", "42")
    add("formats", f"comma list among {', '.join(FORMATS)}, used in turn", "agno3")
    add("runs", "runs a session draws, on average", str(defaults.runs))
    add("tools", "tool calls a top-level run draws, on average", str(defaults.tools))
    add("error_rate", "share of runs that end in ERROR", str(defaults.error_rate))
    add("tool_error_rate", "share of tool calls that fail", str(defaults.tool_error_rate))
    add("bad_rate", "share of session documents the pipeline must quarantine", str(defaults.bad_rate))
    add("start_date", "sessions start on or after this day (YYYY-MM-DD or ISO-8601)", "2024-12-01")
    add("end_date", "… and before the end of this day (or this instant)", "2024-12-31")
    add("collection", "sessions collection", "agno_sessions")
    add("runs_collection", "agno3 runs collection", "agno_runs, or <collection>_runs beside another")
    add("replace", "replace the documents (or dump files) the destination already holds", action="store_true")
    return p


def _parse(argv: Sequence[str]):
    p = parser()
    args, rest = p.parse_known_args(list(argv))
    if rest:
        raise unknown_flag(rest[0], [f for a in our_flags(p) for f in a.option_strings])
    given = {name: getattr(args, name) for name in SIM_FLAGS if getattr(args, name) is not None}
    try:
        params = sim_params(given, label=lambda k: f"--{k}")
        window = parse_window(args.start_date or "2024-12-01", args.end_date or "2024-12-31")
    except (ValueError, WindowError) as exc:
        raise UsageError(str(exc)) from None
    return args, params, window


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, params, window = _parse(argv)
        collection = args.collection or "agno_sessions"
        runs_collection = runs_collection_name(collection, args.runs_collection)
        if args.to.startswith(("mongodb://", "mongodb+srv://")):
            from pymongo.errors import ConfigurationError
            from pymongo.uri_parser import parse_uri

            try:
                database = parse_uri(args.to, validate=False).get("database")
            except ConfigurationError as exc:
                raise UsageError(f"bad MongoDB URI: {redact(str(exc))}") from None
            if not database:
                raise UsageError("the MongoDB URI must name a database (mongodb://host/DB)")
            to_mongo(args.to, database, collection, runs_collection, params, window, args.replace)
        elif "://" in args.to and not args.to.startswith("file://"):
            raise UsageError(f"--to takes a local folder or a MongoDB URI, not {redact(args.to)}")
        else:
            to_dump(args.to, collection, runs_collection, params, window, args.replace)
    except UsageError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
