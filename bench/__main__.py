"""Benchmarks: the job against honest baselines on the same data, in one run.

    .venv/bin/python -m bench --quick        the 10k and 100k dump rows and their ratios (< 5 minutes)
    .venv/bin/python -m bench --sizes 10k,100k,1m [--json bench.json] [--mongo_sizes 10k,100k]

For each size: the simulator's agno3 data set, seed 7 (`python -m pipeline.simulate
--sessions N --seed 7 --to DIR`; cached in .cache/bench/) as a dump folder and, up to --mongo_sizes,
loaded into a FerretDB server started on 127.0.0.1. On each source, each run a
separate process under a timeout:

    drain      read and decode the same documents, discard them (bench/drain.py)
    naive      the frozen independent baseline: plain per-document Python from the contract,
               bson.json_util, dicts and loops (bench/baseline.py); `--same_code` adds the job's
               own per-session code in one process (bench/naive.py)
    pipeline   `python -m pipeline` with its default options; `--direct_modes` adds the
               DirectRunner's modes given explicitly; the job runs windows above ~100k sessions
               in slices by itself (1M: 10), or `--slices N` for every run
    stages     the job's transforms cut after read / group / normalize / combine (bench/stages.py)
    spark      SparkRunner local[1] and local[2] (--spark_sizes; needs scripts/fetch_job_servers.sh),
               SDK workers in a worker pool, one per core (--spark_modes pool,loopback)

Reported: wall seconds, sessions/s, runs/s, CPU seconds, peak RSS of the process
tree, the server's CPU seconds, and the ratios the targets are about
(docs/benchmarks.md). `--budget_minutes` bounds the whole run: what does not fit
is reported as not measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import compare, data, measure
from bench.ferret import REPO, Server

log = logging.getLogger("bench")
PY = sys.executable
WINDOW_ARGS = ["--start_date", data.WINDOW[0], "--end_date", data.WINDOW[1]]
STAGES = ("none", "read", "group", "normalize", "combine")
NAIVE = "naive baseline (json_util)"
SAME_CODE = "the job's per-session code, one process (orjson)"
DEFAULT = "pipeline, default options"
SPARK_ROWS = {
    "pool": ("pipeline SparkRunner local[1] (pool×1)", "pipeline SparkRunner local[2] (pool×2)"),
    "loopback": ("pipeline SparkRunner local[1] (LOOPBACK)", "pipeline SparkRunner local[2] (LOOPBACK)"),
}


def size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    for suffix, factor in (("k", 1_000), ("m", 1_000_000)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * factor)
    return int(text)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown"
    )
    mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    import apache_beam

    return {
        "nproc": data.cpu_count(),
        "memory_gib": round(mem / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "apache_beam": apache_beam.__version__,
        "kernel": platform.release(),
    }


class Bench:
    def __init__(self, args):
        self.args = args
        self.results: list[dict] = []
        self.deadline = time.monotonic() + args.budget_minutes * 60
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-", dir=data.CACHE))
        # Spark's driver stays on loopback (as scripts/run_on.sh has it)
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "SPARK_LOCAL_IP": "127.0.0.1"}
        self.stage_sizes = {size(s) for s in args.stage_sizes.split(",") if s}
        self.mongo_stage_sizes = {size(s) for s in args.mongo_stage_sizes.split(",") if s}
        self.mode_sizes = {size(s) for s in args.direct_mode_sizes.split(",") if s}

    def timeout(self, n: int, source: str = "dump") -> float:
        # FerretDB v1 reads about 2,000 documents a second (it scans and decodes in Go);
        # Spark with LOOPBACK ran ~250 sessions/s
        per_session = {"dump": 0.004, "spark": 0.008}.get(source, 0.015)
        per_run = self.args.timeout if self.args.timeout else 120 + n * per_session
        return max(1.0, min(per_run, self.deadline - time.monotonic()))

    def record(
        self, n: int, source: str, what: str, command: list[str], *, runs: int, server=None, timeout_source=None
    ) -> dict:
        entry = {"size": n, "source": source, "what": what}
        if time.monotonic() > self.deadline - 5:
            entry["skipped"] = "budget"
            log.warning("%s %s %s: not measured (over --budget_minutes)", label(n), source, what)
            self.results.append(entry)
            return entry
        log.info("%s %s %s …", label(n), source, what)
        r = measure.run(what, command, self.timeout(n, timeout_source or source), env=self.env, server_pid=server)
        entry.update(r.to_dict())
        entry.pop("label")
        if r.ok():
            entry["sessions_per_s"] = n / r.wall_s
            entry["runs_per_s"] = runs / r.wall_s
            log.info(
                "%s %s %s: %.1f s, %.0f sessions/s, peak RSS %.0f MB%s",
                label(n),
                source,
                what,
                r.wall_s,
                n / r.wall_s,
                r.peak_rss_mb,
                f", server CPU {r.server_cpu_s:.1f} s" if r.server_cpu_s is not None else "",
            )
        else:
            log.warning("%s %s %s failed (rc=%s, timeout=%s): %s", label(n), source, what, r.returncode,
                        r.timed_out, r.stderr_tail[-400:])  # fmt: skip
        self.results.append(entry)
        return entry

    # ------------------------------------------------------------------ one source

    def pipeline(
        self, n, source, src_args, runs, server=None, extra=(), what=DEFAULT, prefix=(),
        timeout_source=None,
    ) -> dict:  # fmt: skip
        out = self.tmp / "out"
        shutil.rmtree(out, ignore_errors=True)
        slices = ["--slices", self.args.slices] if self.args.slices else []
        cmd = [*prefix, PY, "-m", "pipeline", *src_args, *WINDOW_ARGS, "--output", str(out), *slices, *extra]
        entry = self.record(n, source, what, cmd, runs=runs, server=server, timeout_source=timeout_source)
        entry["rows_digest"] = _rows_digest(out) if entry.get("returncode") == 0 else None
        naive_csv = self.tmp / f"naive-{n}.csv"
        if what == DEFAULT and source == "dump" and entry["rows_digest"] and naive_csv.exists():
            diffs = compare.differences(compare.read_rows([naive_csv]), compare.read_rows(out.rglob("*.csv")))
            entry["cells_differing_from_naive"] = len(diffs)
            entry["first_differences_from_naive"] = diffs[:5]
        shutil.rmtree(out, ignore_errors=True)
        return entry

    def stages(self, n, source, src_args, runs, server=None, extra=()):
        for stage in STAGES:
            cmd = [PY, "-m", "bench.stages", "--stage", stage, *src_args, *WINDOW_ARGS, *extra]
            self.record(n, source, f"stage:{stage}", cmd, runs=runs, server=server)

    def naive(self, n, source, src_args, runs, module="bench.baseline", what=NAIVE, extra=()) -> dict:
        csv = self.tmp / (f"naive-{n}.csv" if what == NAIVE else "naive.csv")  # kept for the comparison
        cmd = [PY, "-m", module, *src_args, *WINDOW_ARGS, "--output", str(csv), *extra]
        entry = self.record(n, source, what, cmd, runs=runs)
        entry["rows_digest"] = _lines_digest(csv) if entry.get("returncode") == 0 else None
        if what != NAIVE or entry.get("returncode") != 0:
            csv.unlink(missing_ok=True)
        return entry

    def dump(self, ds: data.DataSet) -> None:
        n, runs, src = ds.sessions, ds.run_docs, ["--source", str(ds.folder)]
        self.record(n, "dump", "drain (orjson)", [PY, "-m", "bench.drain", *src], runs=runs)
        if n <= self.args.naive_max:
            self.naive(n, "dump", src, runs)
            if self.args.same_code:
                self.naive(n, "dump", src, runs, "bench.naive", SAME_CODE, ["--decoder", "orjson"])
        else:
            self.results.append({"size": n, "source": "dump", "what": NAIVE, "skipped": "--naive_max"})
        self.pipeline(n, "dump", src, runs, what=DEFAULT)
        if n in self.mode_sizes:
            for mode in (m for m in self.args.direct_modes.split(",") if m):
                flags = [f"--direct_running_mode={mode}"]
                if mode != "in_memory":
                    flags.append(f"--direct_num_workers={self.args.workers}")
                label_ = f"pipeline DirectRunner {mode}" + ("" if mode == "in_memory" else f"×{self.args.workers}")
                self.pipeline(n, "dump", src, runs, extra=flags, what=label_)
        if n in self.stage_sizes:
            self.stages(n, "dump", src, runs)

    def mongo(self, ds: data.DataSet, uri: str, server_pid: int) -> None:
        n, runs = ds.sessions, ds.run_docs
        try:
            database, seconds = data.load_ferretdb(uri, ds, deadline=self.deadline)
        except TimeoutError as exc:
            log.warning("%s", exc)
            self.results.append({"size": n, "source": "ferretdb", "what": "load", "skipped": "budget"})
            return
        self.results.append(
            {"size": n, "source": "ferretdb", "what": "load", "wall_s": seconds, "cached": seconds is None}
        )
        src = ["--source", uri + database, "--database", database]
        drain = [PY, "-m", "bench.drain", *src, *WINDOW_ARGS]
        self.record(n, "ferretdb", "drain (pymongo, dicts)", drain, runs=runs, server=server_pid)
        self.record(n, "ferretdb", "drain (pymongo, raw BSON)", [*drain, "--raw"], runs=runs, server=server_pid)
        self.pipeline(n, "ferretdb", src, runs, server=server_pid, what=DEFAULT)
        if n in self.mongo_stage_sizes:
            self.stages(n, "ferretdb", src, runs, server=server_pid)

    def spark(self, ds: data.DataSet) -> None:
        """SparkRunner local[1] and local[2] on the dump. `pool` (default): the SDK workers
        are processes of a worker pool (pipeline/worker_pool.py) started inside the
        measured process group, local[N] with --sdk_worker_parallelism=N; `loopback`:
        the workers are threads of the launching process."""
        script = REPO / "scripts" / "fetch_job_servers.sh"
        n, runs = ds.sessions, ds.run_docs
        if not script.exists():
            self.results.append({"size": n, "source": "dump", "what": "spark", "skipped": "no fetch_job_servers.sh"})
            return
        import subprocess

        found = subprocess.run(["bash", str(script), "spark"], capture_output=True, text=True, check=False)
        jar = next((line.split(maxsplit=1)[1] for line in found.stdout.splitlines() if line.startswith("spark ")), None)
        if not jar:
            self.results.append({"size": n, "source": "dump", "what": "spark", "skipped": "no job server jar"})
            return
        from pipeline.worker_pool import external_args

        modes = [m for m in self.args.spark_modes.split(",") if m]
        for mode in modes:
            for cores in (1, 2):
                extra = [
                    "--runner=SparkRunner",
                    f"--spark_job_server_jar={jar}",
                    f"--spark_master_url=local[{cores}]",
                    "--job_server_jvm_properties=-Dspark.ui.enabled=false",
                    "--job_server_jvm_properties=-Dspark.driver.host=127.0.0.1",
                    "--job_server_jvm_properties=-Dspark.driver.bindAddress=127.0.0.1",
                    "--job_server_jvm_properties=-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                    *(f"--job_server_jvm_properties={flag}" for flag in self.args.spark_jvm if flag != "none"),
                ]
                if mode == "pool":
                    # the pool (and its workers) run inside the measured process group:
                    # counted in peak RSS and CPU, killed with it on a timeout
                    prefix = [PY, "-m", "pipeline.worker_pool", "--"]
                    extra += external_args("{pool}", cores)
                    what = f"pipeline SparkRunner local[{cores}] (pool×{cores})"
                else:
                    prefix = []
                    extra.append("--environment_type=LOOPBACK")
                    what = f"pipeline SparkRunner local[{cores}] (LOOPBACK)"
                extra += self.args.spark_env
                src = ["--source", str(ds.folder)]
                self.pipeline(n, "dump", src, runs, extra=extra, what=what, prefix=prefix, timeout_source="spark")

    def run(self) -> dict:
        args = self.args
        sizes = [size(s) for s in args.sizes.split(",") if s]
        mongo_sizes = {size(s) for s in args.mongo_sizes.split(",") if s}
        spark_sizes = {size(s) for s in args.spark_sizes.split(",") if s}
        sets = {n: data.dump_folder(n, args.workers) for n in sizes}
        self.deadline = time.monotonic() + args.budget_minutes * 60  # the budget starts once the data exist
        report = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "data": {label(n): ds.describe() for n, ds in sets.items()}}  # fmt: skip
        for n in sizes:
            if not args.spark_only:
                self.dump(sets[n])
        wanted = [n for n in sizes if n in mongo_sizes and not args.spark_only]
        if wanted:
            server = Server(data.CACHE / "ferretdb")
            with server as uri:
                for n in wanted:
                    self.mongo(sets[n], uri, server.pid)
        for n in sizes:
            if n in spark_sizes:
                self.spark(sets[n])
        report["results"] = self.results
        report["summary"] = summarize(self.results)
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        shutil.rmtree(self.tmp, ignore_errors=True)
        return report


def _lines_digest(path: Path) -> str | None:
    import hashlib

    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def _rows_digest(out: Path) -> str | None:
    """sha256 of the dataset's rows, sorted (headers dropped): compares with the naive CSV."""
    import hashlib

    lines: list[str] = []
    for path in out.rglob("*.csv"):
        lines.extend(path.read_text(encoding="utf-8").splitlines()[1:])
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest() if lines else None


def summarize(results: list[dict]) -> dict:
    """Stage times (differences of the cuts), the target ratios per size and source, and
    `targets`: each target of docs/benchmarks.md with its measured figure."""
    by = {(r["size"], r["source"], r["what"]): r for r in results}

    def wall(n, source, what):
        r = by.get((n, source, what))
        return r["wall_s"] if r and r.get("returncode") == 0 and not r.get("timed_out") else None

    summary: dict = {}
    targets: list[dict] = []

    def target(name: str, value: float | None, bound: float, higher: bool, goal: float | None = None) -> None:
        met = None if value is None else (value >= bound if higher else value <= bound)
        goal_met = None if value is None or goal is None else (value >= goal if higher else value <= goal)
        targets.append({"target": name, "measured": value, "bound": f"{'>=' if higher else '<='} {bound:g}",
                        "met": met, "goal": goal, "goal_met": goal_met})  # fmt: skip

    sizes = sorted({r["size"] for r in results})
    for n in sizes:
        s: dict = {}
        for source in ("dump", "ferretdb"):
            cuts = [wall(n, source, f"stage:{st}") for st in STAGES]
            full = wall(n, source, DEFAULT)
            if all(c is not None for c in cuts) and full is not None:
                s[f"{source}_stages_s"] = {
                    "fixed": cuts[0],
                    "read": cuts[1] - cuts[0],
                    "group": cuts[2] - cuts[1],
                    "normalize": cuts[3] - cuts[2],
                    "combine": cuts[4] - cuts[3],
                    "format+write+publish": full - cuts[4],
                }
        naive, default = wall(n, "dump", NAIVE), wall(n, "dump", DEFAULT)
        drain_d = wall(n, "dump", "drain (orjson)")
        if naive and default:
            s["naive_over_pipeline"] = naive / default
        if drain_d and default:
            s["pipeline_over_drain"] = default / drain_d
        drain_f = wall(n, "ferretdb", "drain (pymongo, dicts)")
        piped = wall(n, "ferretdb", DEFAULT)
        if piped and drain_f:
            s["ferretdb_pipeline_over_drain"] = piped / drain_f
        for mode, (one, two) in SPARK_ROWS.items():
            s1, s2 = wall(n, "dump", one), wall(n, "dump", two)
            if s1 and s2:
                s[f"spark_local2_over_local1_{mode}"] = s1 / s2
        reference = by.get((n, "dump", DEFAULT), {}).get("rows_digest")
        spark = {w: r.get("rows_digest") for (m, src, w), r in by.items() if m == n and "SparkRunner" in w}
        spark = {w: d for w, d in spark.items() if d}
        if spark:
            # every Spark run wrote the same rows (and the DirectRunner's, when it ran)
            s["spark_rows_equal"] = len(set(spark.values()) | ({reference} if reference else set())) == 1
            s["spark_rows_compared_with_direct"] = bool(reference)
        digests = {w: r.get("rows_digest") for (m, src, w), r in by.items() if m == n and src == "dump"}
        cells = by.get((n, "dump", DEFAULT), {}).get("cells_differing_from_naive")
        if cells is not None:
            # cell by cell (bench/compare.py: float sums to 1e-9 relative)
            s["naive_rows_equal_pipeline_rows"] = cells == 0
        modes = {w: d for w, d in digests.items() if d and w.startswith("pipeline DirectRunner")}
        if modes and reference:
            s["direct_modes_rows_equal_default"] = all(d == reference for d in modes.values())
        rss = by.get((n, "dump", DEFAULT), {}).get("peak_rss_mb")
        if rss:
            s["peak_rss_mb"] = rss
        summary[label(n)] = s
    get = {n: summary.get(label(n), {}) for n in (10_000, 100_000, 1_000_000)}
    for n in (10_000, 100_000):
        if n in sizes and "naive_rows_equal_pipeline_rows" in get[n]:
            target(f"{label(n)} dump: naive rows = pipeline rows (cells differing)",
                   by[(n, "dump", DEFAULT)]["cells_differing_from_naive"], 0, False)  # fmt: skip
    if 100_000 in sizes:
        target("100k dump: naive ÷ pipeline", get[100_000].get("naive_over_pipeline"), 3, True, 5)
        target("100k dump: pipeline ÷ orjson drain", get[100_000].get("pipeline_over_drain"), 8, False, 4)
    if 10_000 in sizes:
        target("10k dump: naive ÷ pipeline", get[10_000].get("naive_over_pipeline"), 2, True)
    if 100_000 in sizes and any(r["source"] == "ferretdb" for r in results):
        target("FerretDB 100k: pipeline ÷ pymongo drain", get[100_000].get("ferretdb_pipeline_over_drain"), 1.2, False)
    rss = {n: get[n].get("peak_rss_mb") for n in get}
    if rss[100_000]:
        target("peak RSS at 100k, GB", rss[100_000] / 1024, 1, False)
    if rss[1_000_000] and rss[100_000]:
        target("peak RSS 1M ÷ 100k", rss[1_000_000] / rss[100_000], 1.2, False)
    if get[1_000_000].get("spark_local2_over_local1_pool"):
        target("Spark 1M: local[2] ÷ local[1]", get[1_000_000]["spark_local2_over_local1_pool"], 1.8, True)
    summary["targets"] = targets
    return summary


def targets_table(report: dict) -> str:
    lines = ["| target | measured | bound | met | goal |", "|---|---:|---|---|---|"]
    for t in report["summary"].get("targets", []):
        value = "not measured" if t["measured"] is None else f"{t['measured']:.2f}"
        met = {True: "**met**", False: "not met", None: "—"}[t["met"]]
        goal = "" if t["goal"] is None else f"{t['goal']:g} ({'met' if t['goal_met'] else 'not met'})"
        lines.append(f"| {t['target']} | {value} | {t['bound']} | {met} | {goal} |")
    return "\n".join(lines)


def table(report: dict) -> str:
    lines = [
        "| size | source | run | wall s | sessions/s | runs/s | CPU s | peak RSS MB | server CPU s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        if r.get("skipped"):
            lines.append(f"| {label(r['size'])} | {r['source']} | {r['what']} | not measured ({r['skipped']}) |||||")
            continue
        if r["what"] == "load":
            cached = "loaded before" if r.get("cached") else f"{r['wall_s']:.0f}"
            lines.append(f"| {label(r['size'])} | {r['source']} | load | {cached} |||||")
            continue
        if r.get("returncode") != 0 or r.get("timed_out"):
            why = "timed out" if r.get("timed_out") else f"failed (rc {r.get('returncode')})"
            lines.append(f"| {label(r['size'])} | {r['source']} | {r['what']} | {why} after {r['wall_s']:.0f} s |||||")
            continue
        server = f"{r['server_cpu_s']:.1f}" if r.get("server_cpu_s") is not None else ""
        lines.append(
            f"| {label(r['size'])} | {r['source']} | {r['what']} | {r['wall_s']:.1f} | {r['sessions_per_s']:,.0f} | "
            f"{r['runs_per_s']:,.0f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:,.0f} | {server} |"
        )
    return "\n".join(lines)


def cpu_breakdown(report: dict) -> str:
    """For the runs whose process group had more than one process (Spark, multi_processing):
    the load average around the run and the CPU seconds of each kind of process."""
    lines = ["| size | run | wall s | load before → after | CPU s by process (number of processes) |",
             "|---|---|---:|---|---|"]  # fmt: skip
    for r in report["results"]:
        cpu = r.get("group_cpu_s") or {}
        if len(cpu) < 2 or r.get("returncode") != 0:
            continue
        parts = ", ".join(
            f"{role} {sec:.1f} ({r['group_processes'].get(role, 0)})"
            for role, sec in sorted(cpu.items(), key=lambda kv: -kv[1])
        )
        lines.append(
            f"| {label(r['size'])} | {r['what']} | {r['wall_s']:.1f} | "
            f"{r['load_before']:.1f} → {r.get('load_after', 0):.1f} | {parts} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the 10k and 100k dump rows only (drain, naive baseline, "
                   "pipeline with default options) and their ratios: under 5 minutes once the data exist")  # fmt: skip
    p.add_argument("--sizes", default="10k,100k", help="comma list: 10k, 100k, 1m, …")
    p.add_argument("--mongo_sizes", default="10k,100k", help="sizes also loaded into FerretDB and read from it")
    p.add_argument("--spark_sizes", default="", help="sizes also run on the SparkRunner, local[1] and local[2]")
    p.add_argument("--spark_modes", default="pool", help="comma list: pool (SDK workers in a worker pool, "
                   "--sdk_worker_parallelism = cores), loopback (workers in the launching process)")  # fmt: skip
    p.add_argument("--spark_env", action="append", default=[], help="extra flag for the Spark runs (repeatable)")
    p.add_argument("--spark_jvm", action="append", default=None, help="option for the Spark job server's JVM "
                   "(repeatable; default -XX:TieredStopAtLevel=1: C1 only, the C2 compiler threads took 34 of the "
                   "JVM's 66 CPU seconds at 100k; 'none' for none)")  # fmt: skip
    p.add_argument("--spark_only", action="store_true", help="only the Spark runs (no drain, naive, DirectRunner, "
                   "FerretDB rows): the rows are then compared between the Spark runs only")  # fmt: skip
    p.add_argument("--json", help="write the whole report here")
    p.add_argument("--workers", type=int, default=2, help="multi_processing workers and generator processes")
    p.add_argument("--timeout", type=float, default=0, help="seconds per run (default 120 + 4 ms a session)")
    p.add_argument("--budget_minutes", type=float, default=None, help="bound on the whole run, from when the "
                   "data exist (default 120; --quick: 5)")  # fmt: skip
    p.add_argument("--stage_sizes", default="10k,100k", help="sizes that also get the stage-isolated runs")
    p.add_argument("--mongo_stage_sizes", default="10k", help="FerretDB sizes that also get the stage runs")
    p.add_argument("--direct_modes", default="in_memory,multi_processing", help="DirectRunner modes also run, "
                   "given explicitly (in_memory, multi_threading, multi_processing; --workers workers)")  # fmt: skip
    p.add_argument("--direct_mode_sizes", default="10k,100k", help="sizes that get the --direct_modes runs")
    p.add_argument("--naive_max", type=size, default=100_000, help="largest size for the naive script (it holds "
                   "every document in memory: about 19 GB at 1M)")  # fmt: skip
    p.add_argument("--same_code", action="store_true", help="also the job's own per-session code in one process "
                   "(bench/naive.py, orjson): the job without Beam")  # fmt: skip
    p.add_argument("--slices", default="", help="--slices for every pipeline run (default: the job chooses: one "
                   "slice per ~100,000 sessions on the DirectRunner, 1 on Spark)")  # fmt: skip
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.mongo_sizes, args.spark_sizes = "10k,100k", "", ""
        args.stage_sizes = args.mongo_stage_sizes = args.direct_mode_sizes = ""
    if args.budget_minutes is None:
        args.budget_minutes = 5 if args.quick else 120
    args.spark_jvm = args.spark_jvm or ["-XX:TieredStopAtLevel=1"]
    unknown = {m for m in args.spark_modes.split(",") if m} - set(SPARK_ROWS)
    if unknown:
        p.error(f"--spark_modes: unknown {', '.join(sorted(unknown))} (pool, loopback)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
    data.CACHE.mkdir(parents=True, exist_ok=True)
    report = Bench(args).run()
    text = table(report)
    print(text)
    print(cpu_breakdown(report))
    print(targets_table(report))
    print(json.dumps(report["summary"], indent=1))
    if args.json:
        # Paths relative to the repository: a recorded run names no folder of the machine it ran on.
        body = json.dumps({**report, "table": text}, indent=1).replace(json.dumps(str(REPO) + "/")[1:-1], "")
        Path(args.json).write_text(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
