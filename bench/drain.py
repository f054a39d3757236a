"""The raw drain: read the same documents as the job, decode them, throw them away.
It is the floor for reading: the job cannot be faster than getting its input.

    python -m bench.drain --source DIR [--decoder orjson|json_util]
    python -m bench.drain --source mongodb://… --database DB --start_date … --end_date … [--raw]

Dump folder: every line of agno_sessions.jsonl and agno_runs.jsonl parsed with
orjson (the fastest JSON parser installed; plain JSON, no Extended JSON types).
Server: the window's session documents (the job's filter and projection, one query)
and the runs collection (the job's projection, one query) through pymongo, decoded
into dicts, or with `--raw` left undecoded (RawBSONDocument).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.drain")
    p.add_argument("--source", required=True)
    p.add_argument("--database")
    p.add_argument("--start_date", default="2024-12-01")
    p.add_argument("--end_date", default="2024-12-31")
    p.add_argument("--decoder", choices=("orjson", "json_util"), default="orjson")
    p.add_argument("--raw", action="store_true", help="server: do not decode (RawBSONDocument)")
    args = p.parse_args(argv)

    t0 = time.monotonic()
    counts: dict[str, int] = {}
    if args.source.startswith("mongodb://"):
        import pymongo
        from bson.raw_bson import RawBSONDocument

        from transforms.read_mongo import RUN_FIELDS, SESSION_FIELDS, created_at_filter
        from transforms.window import parse_window

        window = parse_window(args.start_date, args.end_date)
        kwargs = {"document_class": RawBSONDocument} if args.raw else {}
        with pymongo.MongoClient(args.source, directConnection=True, **kwargs) as client:
            db = client[args.database]
            queries = (
                ("agno_sessions", created_at_filter(window, True), SESSION_FIELDS),
                ("agno_runs", {}, RUN_FIELDS),
            )
            for name, query, fields in queries:
                n = 0
                for _ in db[name].find(query, {f: 1 for f in fields}, batch_size=1000):
                    n += 1
                counts[name] = n
    else:
        if args.decoder == "orjson":
            from orjson import loads
        else:
            from bson.json_util import loads
        for name in ("agno_sessions", "agno_runs"):
            n = 0
            with open(os.path.join(args.source, name + ".jsonl"), "rb") as handle:
                for line in handle:
                    loads(line)
                    n += 1
            counts[name] = n
    json.dump({**counts, "seconds": time.monotonic() - t0}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
