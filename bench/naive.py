"""The job's own per-session code in one process, without Beam (`python -m bench
--same_code`): decode every document into a dict, group the runs by session in a
dict, loop over the sessions, write one CSV. Not the baseline of the ratios: it
runs the job's code, so it speeds up with the job; the independent, frozen
baseline is bench/baseline.py.

    python -m bench.naive --source DIR|mongodb://… [--database DB] --start_date … --end_date …
                          --output rows.csv [--decoder json_util|orjson]

Per session it calls the pipeline's own logic (transforms.formats.normalize_session,
the metric families through transforms.metrics.combine_runs, transforms.rows), so
both produce the same rows and the comparison is about everything around it:
decoding, grouping, the runner. Documents are decoded with `bson.json_util.loads`
(the standard reader of mongoexport's Extended JSON) unless `--decoder orjson`,
or by pymongo for a server. Duplicates and bad documents are handled as the job
handles them (latest `updated_at` wins; a bad document is skipped and counted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator


def _lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line


def dump_documents(folder: str, collection: str, decoder: str) -> Iterator[dict]:
    if decoder == "orjson":
        from transforms.read_dump import loads_extended_json as loads
    else:
        from bson.json_util import loads
    for line in _lines(os.path.join(folder, collection + ".jsonl")):
        yield loads(line)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.naive")
    p.add_argument("--source", required=True)
    p.add_argument("--database")
    p.add_argument("--start_date", required=True)
    p.add_argument("--end_date", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--decoder", choices=("json_util", "orjson"), default="json_util")
    args = p.parse_args(argv)

    from transforms.formats import BadDocument, normalize_session
    from transforms.metrics import combine_runs
    from transforms.normalize import _updated
    from transforms.read_mongo import SESSION_FIELDS, created_at_filter
    from transforms.rows import assemble_row, csv_header, to_csv_line
    from transforms.window import considered, parse_window

    t0 = time.monotonic()
    window = parse_window(args.start_date, args.end_date)
    if args.source.startswith("mongodb://"):
        import pymongo

        client = pymongo.MongoClient(args.source, directConnection=True)
        db = client[args.database]
        sessions = db["agno_sessions"].find(created_at_filter(window, True), {f: 1 for f in SESSION_FIELDS})
        runs_iter: Iterator[dict] = db["agno_runs"].find({})
    else:
        sessions = dump_documents(args.source, "agno_sessions", args.decoder)
        runs_iter = dump_documents(args.source, "agno_runs", args.decoder)

    runs: dict[str, list[dict]] = defaultdict(list)
    n_runs = 0
    for doc in runs_iter:
        n_runs += 1
        sid = doc.get("session_id")
        if isinstance(sid, str):
            runs[sid].append(doc)

    winners: dict[str, dict] = {}
    n_sessions = bad = 0
    for doc in sessions:
        if not considered(doc.get("created_at"), window):
            continue
        n_sessions += 1
        sid = doc.get("session_id")
        if not isinstance(sid, str) or not sid:
            bad += 1
            continue
        old = winners.get(sid)
        key = (_updated(doc), str(doc.get("_id")))
        if old is None or key > (_updated(old), str(old.get("_id"))):
            winners[sid] = doc

    rows = 0
    with open(args.output, "w", encoding="utf-8", newline="\n") as out:
        out.write(csv_header() + "\n")
        for sid, doc in winners.items():
            try:
                session = normalize_session(doc, runs.get(sid, []), window)
            except BadDocument:
                bad += 1
                continue
            if session is None:
                continue
            out.write(to_csv_line(assemble_row(session.info, combine_runs(session.runs))) + "\n")
            rows += 1
    result = {"sessions": n_sessions, "run_docs": n_runs, "rows": rows, "bad": bad, "seconds": time.monotonic() - t0}
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
