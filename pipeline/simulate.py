"""Write simulated Agno sessions to a dump folder or a MongoDB database.

    python -m pipeline.simulate --sessions 10000 --seed 7 --to ./demo-dump \
        --start_date 2024-12-01 --end_date 2024-12-31
    python -m pipeline.simulate --sessions 10000 --to mongodb://localhost:27017/agno
    python -m pipeline.simulate --sessions 100000 --seed 7 --runs 2.8 --tools 1.2 --to DIR   (the bench's data)

The documents are exactly those `--source simulated://?sessions=N&seed=S&…`
generates, so a dump or a database loaded this way gives the same rows.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence

from transforms.read_mongo import runs_collection_name
from transforms.simulated import FORMATS, SimParams, generate
from transforms.window import WindowError, parse_window

log = logging.getLogger("session_features.simulate")
BATCH = 2_000


def documents(params: SimParams, window) -> Iterator[tuple[dict, list[dict]]]:
    for i in range(params.sessions):
        yield generate(i, params, window)


def _progress(done: int, total: int, t0: float) -> None:
    if done % 50_000 == 0 or done == total:
        log.info("wrote %s / %s sessions (%.0f/s)", f"{done:,}", f"{total:,}", done / max(time.monotonic() - t0, 1e-9))


def to_dump(folder: str, collection: str, runs_collection: str, params: SimParams, window) -> None:
    from bson import json_util

    os.makedirs(folder, exist_ok=True)
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


def to_mongo(uri: str, database: str, collection: str, runs_collection: str, params: SimParams, window) -> None:
    from transforms.read_mongo import client

    t0 = time.monotonic()
    with client(uri) as mongo:
        db = mongo[database]
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


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    p = argparse.ArgumentParser(prog="python -m pipeline.simulate", description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--formats", default="agno3", help=f"comma list among {', '.join(FORMATS)}, used in turn")
    p.add_argument("--runs", type=float, default=SimParams.runs, help="runs a session draws, on average "
                   "(SimParams.runs, default %(default)s)")  # fmt: skip
    p.add_argument("--tools", type=float, default=SimParams.tools, help="tool calls a top-level run draws, on "
                   "average (SimParams.tools, default %(default)s)")  # fmt: skip
    p.add_argument("--error_rate", "--error-rate", type=float, default=0.05)
    p.add_argument("--tool_error_rate", "--tool-error-rate", type=float, default=0.05)
    p.add_argument("--bad_rate", "--bad-rate", type=float, default=0.0, help="share of documents to quarantine")
    p.add_argument("--start_date", "--start-date", default="2024-12-01")
    p.add_argument("--end_date", "--end-date", default="2024-12-31")
    p.add_argument("--to", required=True, help="a dump folder, or a MongoDB URI naming its database")
    p.add_argument("--collection", default="agno_sessions")
    p.add_argument("--runs_collection", "--runs-collection", default=None)
    args = p.parse_args(argv)
    try:
        window = parse_window(args.start_date, args.end_date)
    except WindowError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    params = SimParams(
        sessions=args.sessions,
        seed=args.seed,
        formats=tuple(f for f in args.formats.split(",") if f),
        runs=args.runs,
        tools=args.tools,
        error_rate=args.error_rate,
        tool_error_rate=args.tool_error_rate,
        bad_rate=args.bad_rate,
    )
    if set(params.formats) - set(FORMATS):
        print(f"simulate: --formats must be among {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    runs_collection = runs_collection_name(args.collection, args.runs_collection)
    if args.to.startswith(("mongodb://", "mongodb+srv://")):
        from pymongo.uri_parser import parse_uri

        database = parse_uri(args.to, validate=False).get("database")
        if not database:
            print("simulate: the MongoDB URI must name a database (mongodb://host/DB)", file=sys.stderr)
            return 2
        to_mongo(args.to, database, args.collection, runs_collection, params, window)
    else:
        to_dump(args.to, args.collection, runs_collection, params, window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
