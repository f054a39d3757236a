"""Benchmark data: simulated agno3 sessions as a dump folder (the same documents
`python -m pipeline.simulate` writes) and loaded into a FerretDB database.

Data sets are cached under `.cache/bench/` (git-ignored) and reused: a folder is
complete when its `meta.json` exists.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.ferret import REPO

log = logging.getLogger("bench")
CACHE = REPO / ".cache" / "bench"
WINDOW = ("2024-12-01", "2024-12-31")
# The data: `python -m pipeline.simulate --sessions N --seed 7 --to DIR`, the
# simulator's defaults (about 5.4 run documents and 2.0 tool calls a session).
RUNS, TOOLS, SEED = 4.0, 0.75, 7


@dataclass(frozen=True)
class DataSet:
    sessions: int
    folder: Path
    run_docs: int
    tool_calls: int
    bytes: int

    def describe(self) -> dict:
        d = asdict(self)
        d["folder"] = str(self.folder)
        d["runs_per_session"] = round(self.run_docs / self.sessions, 3)
        d["tool_calls_per_session"] = round(self.tool_calls / self.sessions, 3)
        return d


def _params(n: int):
    from transforms.simulated import SimParams

    return SimParams(sessions=n, seed=SEED, formats=("agno3",), runs=RUNS, tools=TOOLS)


def _write_part(args: tuple[int, int, int, str]) -> tuple[int, int]:
    """Sessions [a, b) of the n-session set as JSON lines: (run documents, tool calls)."""
    a, b, n, prefix = args
    from bson import json_util

    from transforms.simulated import generate
    from transforms.window import parse_window

    params, window = _params(n), parse_window(*WINDOW)
    opts = json_util.RELAXED_JSON_OPTIONS
    runs = tools = 0
    with open(prefix + ".sessions", "w") as s_out, open(prefix + ".runs", "w") as r_out:
        for i in range(a, b):
            session, run_docs = generate(i, params, window)
            s_out.write(json_util.dumps(session, json_options=opts) + "\n")
            for doc in run_docs:
                r_out.write(json_util.dumps(doc, json_options=opts) + "\n")
                data = doc["run_data"]
                tools += len(data.get("tools") or [])
                tools += sum(len(r.get("tools") or []) for r in data.get("step_executor_runs") or [])
            runs += len(run_docs)
    return runs, tools


def dump_folder(n: int, workers: int) -> DataSet:
    """The n-session dump folder (agno_sessions.jsonl, agno_runs.jsonl), generated once
    in `workers` processes; the files are byte for byte what `pipeline.simulate` writes."""
    folder = CACHE / f"agno3-{n}-seed{SEED}-runs{RUNS}-tools{TOOLS}"
    meta = folder / "meta.json"
    if meta.exists():
        return _dataset(json.loads(meta.read_text()), folder)
    shutil.rmtree(folder, ignore_errors=True)
    parts_dir = folder / "parts"
    parts_dir.mkdir(parents=True)
    t0 = time.monotonic()
    chunk = max(1, -(-n // (workers * 8)))
    tasks = [(a, min(a + chunk, n), n, str(parts_dir / f"{a:010d}")) for a in range(0, n, chunk)]
    log.info("generating %s sessions into %s (%d processes)", f"{n:,}", folder, workers)
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_write_part, tasks))
    for kind, name in (("sessions", "agno_sessions.jsonl"), ("runs", "agno_runs.jsonl")):
        with open(folder / name, "wb") as out:
            for _, _, _, prefix in tasks:
                with open(f"{prefix}.{kind}", "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
    shutil.rmtree(parts_dir)
    info = {
        "sessions": n,
        "run_docs": sum(r for r, _ in results),
        "tool_calls": sum(t for _, t in results),
        "bytes": sum(f.stat().st_size for f in folder.glob("*.jsonl")),
        "generate_seconds": round(time.monotonic() - t0, 1),
    }
    meta.write_text(json.dumps(info, indent=1))
    log.info("generated %s in %.0f s", folder.name, info["generate_seconds"])
    return _dataset(info, folder)


def _dataset(info: dict, folder: Path) -> DataSet:
    return DataSet(info["sessions"], folder, info["run_docs"], info["tool_calls"], info["bytes"])


def load_ferretdb(uri: str, data: DataSet, deadline: float) -> tuple[str, float | None]:
    """(database name, load seconds or None when it was loaded before). The dump's
    documents are inserted in batches, as `pipeline.simulate --to mongodb://…` does."""
    import pymongo
    from bson import json_util

    name = f"bench_{data.sessions}"
    with pymongo.MongoClient(uri, directConnection=True) as client:
        db = client[name]
        marker = db["bench_meta"].find_one({"_id": "loaded"})
        if marker and marker.get("sessions") == data.sessions and marker.get("runs") == data.run_docs:
            return name, None
        client.drop_database(name)
        t0 = time.monotonic()
        for coll, file in (("agno_sessions", "agno_sessions.jsonl"), ("agno_runs", "agno_runs.jsonl")):
            batch: list[dict] = []
            with open(data.folder / file) as handle:
                for line in handle:
                    batch.append(json_util.loads(line))
                    if len(batch) == 2000:
                        db[coll].insert_many(batch, ordered=False)
                        batch = []
                        if time.monotonic() > deadline:
                            client.drop_database(name)
                            raise TimeoutError(f"loading {name} into FerretDB did not finish in time")
            if batch:
                db[coll].insert_many(batch, ordered=False)
        db["bench_meta"].insert_one({"_id": "loaded", "sessions": data.sessions, "runs": data.run_docs})
        return name, time.monotonic() - t0


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
