"""The same pipeline on the SparkRunner and the FlinkRunner gives the DirectRunner's
dataset: row for row, value for value, with the same quarantine and counts.

Inputs: documents written by agno's own storage (3.1.10 and 2.9.0) and the
hand-made documents of test_mongo_source.py, read from the FerretDB test server
and from dump folders (JSON lines and BSON). The job servers are Beam's, fetched
by scripts/fetch_job_servers.sh and started once per runner for the module
(tests/job_servers.py); workers run in the launching process (LOOPBACK), and in
one case as processes of pipeline/worker_pool.py (EXTERNAL, two of them). The
metric-family CombineFns also run as a CombinePerKey over run elements on both
runners, which split and merge accumulators, and must equal one pass.

Deselect with `-m "not runners"`; nothing here is skipped when Java or a jar is
missing: the fixtures raise.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from agno_docs import write_agno_sessions
from dataset_io import (
    DOCUMENTS,
    TABLE_COLUMNS,
    dataset_dir,
    read_dataset,
    read_manifest,
    read_quarantine,
    read_table,
    run_pipeline,
)
from job_servers import REPO_ROOT, JobServer, WorkerPool, fetch_jars, run_jar_command
from runner_combine import simulated_sessions
from test_mongo_source import RUNS, SESSIONS, dump_from_server

pytestmark = pytest.mark.runners

PIPELINE_TIMEOUT_S = 10 * 60
AGNO_DATES = ["--start_date", "2024-12-10", "--end_date", "2024-12-10"]
HAND_DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
CASES = ("agno-3.1.10", "agno-2.9.0", "hand-made")
BROKEN_LINE = "{not json at all\n"


# -- job servers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def job_server_jars() -> dict[str, Path]:
    t0 = time.monotonic()
    jars = fetch_jars()
    print(f"job server jars ready in {time.monotonic() - t0:.1f} s: {jars}")
    return jars


@pytest.fixture(scope="module")
def spark(job_server_jars) -> JobServer:
    with JobServer("spark", job_server_jars["spark"]) as server:
        print(f"spark job server started in {server.start_seconds:.1f} s at {server.endpoint}")
        yield server


@pytest.fixture(scope="module")
def flink(job_server_jars) -> JobServer:
    with JobServer("flink", job_server_jars["flink"]) as server:
        print(f"flink job server started in {server.start_seconds:.1f} s at {server.endpoint}")
        yield server


def run_on(server: JobServer, args: list[str], out: Path, environment: list[str] | None = None) -> float:
    """`python -m pipeline ARGS --output OUT` on the server's runner (or, when ARGS start
    with a script, `python SCRIPT …`), in its own process; the seconds it took."""
    log = out.with_suffix(".log")
    if args and args[0].endswith(".py"):
        cmd = [sys.executable, *args, *server.pipeline_args(environment)]
    else:
        cmd = [sys.executable, "-m", "pipeline", *args, "--output", str(out), *server.pipeline_args(environment)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    t0 = time.monotonic()
    try:
        proc = _run_logged(cmd, log, env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{server.runner_name} run timed out after {PIPELINE_TIMEOUT_S}s:\n{_tail(log)}")
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        pytest.fail(
            f"{server.runner_name} run failed (exit {proc.returncode}):\n{_tail(log)}\n"
            f"--- job server log ---\n{server.log_tail()}"
        )
    print(f"{server.runner_name}: {' '.join(args[:2])} in {seconds:.1f} s")
    return seconds


def _run_logged(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    with open(log, "wb") as handle:
        return subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=PIPELINE_TIMEOUT_S,
            check=False,
        )


def _tail(path: Path, chars: int = 6000) -> str:
    return path.read_bytes()[-chars:].decode("utf-8", errors="replace")


# -- inputs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(ferretdb, tmp_path_factory) -> dict[str, dict[str, list[str]]]:
    """case → {"server": args, "dump": args}: the same documents on FerretDB and in a dump."""
    base = tmp_path_factory.mktemp("runner-inputs")
    client = ferretdb.client()
    databases = []
    cases: dict[str, dict[str, list[str]]] = {}
    try:
        for case in CASES:
            name = f"runners_{case.replace('.', '_').replace('-', '_')}_{uuid.uuid4().hex[:8]}"
            databases.append(name)
            db = client[name]
            if case.startswith("agno-"):
                version = case.removeprefix("agno-")
                summary = write_agno_sessions(version, ferretdb.uri, name, "2024-12-10T09:00:00Z")
                assert summary["runs_per_session"] == {"agent-sess-1": 3, "team-sess-1": 2, "wf-sess-1": 1}
                dates = AGNO_DATES
            else:
                db["agno_sessions"].insert_many([dict(d) for d in SESSIONS])
                db["agno_runs"].insert_many([dict(d) for d in RUNS])
                dates = HAND_DATES
            folder = base / case
            dump_from_server(db, folder, "bson" if case == "agno-2.9.0" else "jsonl")
            if case == "hand-made":  # a dump line that does not parse: the dump reader's quarantine
                with (folder / "agno_sessions.jsonl").open("a") as handle:
                    handle.write(BROKEN_LINE)
            cases[case] = {
                "server": ["--source", ferretdb.uri, "--database", name, *dates],
                "dump": ["--source", str(folder), *dates],
            }
        yield cases
    finally:
        for name in databases:
            client.drop_database(name)
        client.close()


# -- what is compared ---------------------------------------------------------------


def dataset(out: Path) -> dict[str, Any]:
    """Everything a reader of the dataset gets, read through the manifest."""
    manifest = read_manifest(out)
    return {
        "rows": read_dataset(out),
        "counts": manifest["counts"],
        "rows_in_files": sum(f["rows"] for f in manifest["files"]),
        "quarantine": sorted(json.dumps(q, sort_keys=True) for q in read_quarantine(out)),
        "columns": manifest["columns"],
        "window": manifest["window"],
        "runner": manifest["runner"],
    }


def check_direct(case: str, source: str, d: dict[str, Any]) -> None:
    """The DirectRunner's dataset is the one the other tests pin down (so parity is not vacuous)."""
    counts = d["counts"]
    assert d["rows_in_files"] == counts["rows_written"] == len(d["rows"])
    if case.startswith("agno-"):
        assert sorted(d["rows"]) == ["agent-sess-1", "team-sess-1", "wf-sess-1"]
        assert (counts["quarantined"], counts["orphaned_runs"]) == (0, 0)
        assert d["rows"]["agent-sess-1"]["total_tokens_sum"] == "1111"
        return
    assert sorted(d["rows"]) == ["s-date", "s-dup", "s-float", "s-int", "s-iso", "s-ms", "s-none"]
    assert (counts["duplicates"], counts["orphaned_runs"]) == (1, 1)
    assert counts["quarantined"] == 2
    assert counts["unreadable_records"] == (1 if source == "dump" else 0)  # the broken dump line


@pytest.mark.parametrize("source", ["server", "dump"])
@pytest.mark.parametrize("case", CASES)
def test_spark_and_flink_give_the_direct_runners_dataset(case, source, inputs, spark, flink, tmp_path):
    args = inputs[case][source]
    assert run_pipeline([*args, "--output", str(tmp_path / "direct")]) == 0
    expected = dataset(tmp_path / "direct")
    assert expected["runner"] == "DirectRunner"
    check_direct(case, source, expected)

    for server in (spark, flink):
        out = tmp_path / server.runner
        run_on(server, args, out)
        got = dataset(out)
        assert got["runner"] == server.runner_name
        for key in ("counts", "quarantine", "rows_in_files", "columns", "window"):
            assert got[key] == expected[key], f"{server.runner_name}: {key} differs from the DirectRunner's"
        assert sorted(got["rows"]) == sorted(expected["rows"]), f"{server.runner_name}: other sessions"
        for sid, row in expected["rows"].items():
            diff = {c: (v, got["rows"][sid][c]) for c, v in row.items() if got["rows"][sid][c] != v}
            assert not diff, f"{server.runner_name}: {sid}: (direct, {server.runner}) {diff}"


# -- SDK workers as processes of an EXTERNAL worker pool ----------------------------------


@pytest.fixture(scope="module")
def worker_pool():
    """pipeline/worker_pool.py on 127.0.0.1, in this process; its workers are processes."""
    from pipeline.worker_pool import WorkerPool

    with WorkerPool() as pool:
        yield pool


def test_spark_with_an_external_worker_pool_gives_the_direct_runners_dataset(inputs, spark, worker_pool, tmp_path):
    """local[2] with --sdk_worker_parallelism=2: two SDK worker processes, not the launcher,
    run the Python work; the rows, counts and quarantine are the DirectRunner's."""
    from pipeline.worker_pool import external_args

    args = inputs["hand-made"]["dump"]  # a broken line, a duplicate, an orphan run
    assert run_pipeline([*args, "--output", str(tmp_path / "direct")]) == 0
    expected = dataset(tmp_path / "direct")
    check_direct("hand-made", "dump", expected)

    before = len(worker_pool.started)
    run_on(spark, args, tmp_path / "spark", environment=external_args(worker_pool.address, 2))
    got = dataset(tmp_path / "spark")
    assert worker_pool.address.startswith("127.0.0.1:")
    assert len(worker_pool.started) - before == 2, worker_pool.started  # one worker per environment
    assert got["runner"] == "SparkRunner"
    for key in ("rows", "counts", "quarantine", "rows_in_files", "columns", "window"):
        assert got[key] == expected[key], f"SparkRunner with a worker pool: {key} differs from the DirectRunner's"


# -- CombineFns under the runners' splitting and merging ------------------------------


@pytest.mark.parametrize("runner", ["spark", "flink"])
def test_combine_fns_split_and_merged_by_the_runner_equal_one_pass(runner, request, tmp_path):
    from transforms.metrics import session_combine_fn

    server: JobServer = request.getfixturevalue(runner)
    fn = session_combine_fn()
    expected = {
        s.info.session_id: json.loads(json.dumps(fn.extract_output(fn.add_inputs(fn.create_accumulator(), s.runs))))
        for s in simulated_sessions()
    }
    script = str(Path(__file__).with_name("runner_combine.py"))
    run_on(server, [script, str(tmp_path / "combined")], tmp_path / "combine")

    got, parts = {}, {}
    for path in sorted(tmp_path.glob("combined*.jsonl")):
        for line in path.read_text().splitlines():
            sid, result, n = json.loads(line)
            got[sid], parts[sid] = result, n
    assert got == expected
    # The runner did split sessions' runs over bundles and merge their accumulators.
    assert max(parts.values()) > 1, f"{server.runner_name} merged no accumulators"


# -- the developer's command: Beam starts the job server from the fetched jar ---------


@pytest.mark.parametrize(("runner", "workers"), [("spark", "loopback"), ("flink", "loopback"), ("spark", "pool")])
def test_run_on_script_starts_the_job_server_itself_and_gives_the_direct_runners_dataset(
    runner, workers, job_server_jars, tmp_path
):
    """scripts/run_on.sh: --spark_job_server_jar / --flink_job_server_jar, local master,
    LOOPBACK or (WORKERS=pool) a worker pool the script starts and stops."""
    source = "simulated://?sessions=60&seed=4&formats=agno3,agno2,agno1,phidata&bad_rate=0.05"
    args = ["--source", source, *HAND_DATES]
    assert run_pipeline([*args, "--output", str(tmp_path / "direct")]) == 0
    expected = dataset(tmp_path / "direct")
    assert expected["counts"]["rows_written"] > 50 and expected["counts"]["quarantined"] > 0

    out, log = tmp_path / runner, tmp_path / f"{runner}.log"
    t0 = time.monotonic()
    with open(log, "wb") as handle:
        proc = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "run_on.sh"), runner, *args, "--output", str(out)],
            cwd=REPO_ROOT,
            env={**os.environ, "WORKERS": workers},
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=PIPELINE_TIMEOUT_S,
            check=False,
        )
    assert proc.returncode == 0, _tail(log)
    print(f"run_on.sh {runner} in {time.monotonic() - t0:.1f} s")
    got = dataset(out)
    assert got["runner"] == {"spark": "SparkRunner", "flink": "FlinkRunner"}[runner]
    # Beam's job-server lines are in the run's log file, which the console's last line names.
    run_log = Path(re.findall(r"\(log: ([^)]+)\)", log.read_text())[-1])
    started = [line for line in run_log.read_text().splitlines() if "Really starting service" in line]
    assert started and str(job_server_jars[runner]) in started[0]  # Beam started the fetched jar, downloaded none
    workers_started = [line for line in log.read_text().splitlines() if "started SDK worker" in line]
    assert len(workers_started) == (2 if workers == "pool" else 0)  # CORES (2) worker processes
    if workers == "pool":
        assert "worker pool listening on 127.0.0.1:" in log.read_text()
    for key in ("rows", "counts", "quarantine", "rows_in_files"):
        assert got[key] == expected[key], f"run_on.sh {runner}: {key} differs from the DirectRunner's"


# -- the EMR route: a jar built now, run by a cluster step, published afterwards -------


def test_flink_jar_built_then_run_then_published_gives_the_direct_runners_dataset(flink, job_server_jars, tmp_path):
    """--output_executable_path: the launcher builds the jar (workers: a Beam worker pool,
    EXTERNAL) and publishes nothing; the jar runs the pipeline with its options baked in;
    `session-features publish RUN_DIR` then publishes it like a normal run."""
    source = "simulated://?sessions=60&seed=4&formats=agno3,agno2,agno1,phidata&bad_rate=0.05"
    args = ["--source", source, *HAND_DATES]
    out, jar = tmp_path / "out", tmp_path / "job.jar"
    assert run_pipeline([*args, "--output", str(tmp_path / "direct")]) == 0
    expected = dataset(tmp_path / "direct")
    assert expected["counts"]["rows_written"] > 50 and expected["counts"]["quarantined"] > 0
    # A dataset is already published where the jar will write: it stays until the jar's run is published.
    assert run_pipeline([*args, "--output", str(out)]) == 0
    folder = dataset_dir(out)  # the window's dataset folder: the jar's run goes there too
    before = (folder / "manifest.json").read_bytes()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with WorkerPool() as pool:
        build = [
            sys.executable, "-m", "pipeline", *args, "--output", str(out),
            "--runner=FlinkRunner", f"--job_endpoint={flink.endpoint}", "--parallelism=2",
            "--environment_type=EXTERNAL", f"--environment_config={pool.address}",
            f"--output_executable_path={jar}",
        ]  # fmt: skip
        proc = _run_logged(build, tmp_path / "build.log", env)
        log = (tmp_path / "build.log").read_text()
        assert proc.returncode == 0, log + flink.log_tail()
        assert jar.is_file() and (folder / "manifest.json").read_bytes() == before  # nothing published
        old_run = json.loads(before)["run_id"]
        (run_dir,) = [p for p in folder.iterdir() if p.name.startswith("run-") and p.name != old_run]
        assert [p.name for p in run_dir.iterdir()] == ["_pending_manifest.json"]
        assert f"flink run {jar}" in log and f"session-features publish {run_dir}" in log

        # Published before the jar ran: one line, exit 1, the dataset untouched.
        publish_cmd = [sys.executable, "-m", "pipeline", "publish", str(run_dir)]
        early = subprocess.run(publish_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert early.returncode == 1, early.stderr
        assert f"session-features: the runner wrote no counts to {run_dir}; the jar has not run" in early.stderr
        assert (folder / "manifest.json").read_bytes() == before

        t0 = time.monotonic()
        main_class = "org.apache.beam.runners.flink.FlinkPipelineRunner"
        ran = _run_logged(run_jar_command(jar, job_server_jars["flink"], main_class), tmp_path / "jar.log")
        assert ran.returncode == 0, _tail(tmp_path / "jar.log") + "\n--- worker pool ---\n" + pool.log_tail()
        print(f"the jar ran in {time.monotonic() - t0:.1f} s")

    published = subprocess.run(publish_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert published.returncode == 0, published.stderr
    assert "done: " in published.stderr and f"{expected['counts']['rows_written']} rows" in published.stderr
    got = dataset(out)
    assert got["runner"] == "FlinkRunner"
    for key in ("rows", "counts", "quarantine", "rows_in_files", "columns", "window"):
        assert got[key] == expected[key], f"the jar's run: {key} differs from the DirectRunner's"
    manifest = read_manifest(out)
    assert manifest["run_id"] == run_dir.name and manifest["finished_at"] > manifest["started_at"]
    assert manifest["runner_details"] == {
        "job_endpoint": flink.endpoint,
        "environment_type": "EXTERNAL",
        "parallelism": 2,
        "output_executable_path": str(jar),
        "beam_version": "2.77.0",
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
    }
    # Published like a normal run: the earlier run removed, no pending manifest left; not twice.
    assert sorted(p.name for p in folder.iterdir()) == sorted(["manifest.json", run_dir.name, *DOCUMENTS])
    assert not (run_dir / "_pending_manifest.json").exists()
    again = subprocess.run(publish_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "published already" in again.stderr


# -- companion tables and the profile (FEATURES.md §7) ----------------------------------


def _close(a: Any, b: Any) -> bool:
    """Equal, floats within 1e-9 (sums taken in another order)."""
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def test_tables_and_profile_equal_on_spark_and_flink(inputs, spark, flink, tmp_path):
    args = [*inputs["agno-3.1.10"]["dump"], "--tables", "sessions,runs,tool_calls"]
    assert run_pipeline([*args, "--output", str(tmp_path / "direct")]) == 0

    def published(out: Path) -> tuple[dict[str, list], dict]:
        tables = {n: sorted(json.dumps(r, sort_keys=True) for r in read_table(out, n)) for n in TABLE_COLUMNS}
        return tables, json.loads((dataset_dir(out) / "profile.json").read_text())

    tables, profile = published(tmp_path / "direct")
    assert [len(tables[n]) > 0 for n in TABLE_COLUMNS] == [True, True, True]
    for server in (spark, flink):
        run_on(server, args, tmp_path / server.runner)
        got_tables, got_profile = published(tmp_path / server.runner)
        assert got_tables == tables, f"{server.runner_name}: the tables differ from the DirectRunner's"
        assert _close(got_profile, profile), f"{server.runner_name}: the profile differs from the DirectRunner's"
