"""Slices at the same time, each in a process of its own (pipeline/slice_pool.py): the
plan the launcher makes, the dataset it writes (that of one in-memory pipeline), and
what a failing, killed or stopped slice process does to the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import pytest
from dataset_io import read_manifest, run_pipeline
from test_slices import DATES, dataset, mixed_dump

from pipeline import graph, runners, slice_pool, slices, sources
from pipeline.options import parse

REPO = Path(__file__).resolve().parent.parent


def config(*argv: str):
    return parse([*argv, *DATES], {})[0]


@pytest.fixture
def two_idle_cores(monkeypatch):
    monkeypatch.setattr(runners, "idle_cores", lambda: 2)


def test_the_plan_runs_slices_at_once_for_sources_read_again_cheaply(two_idle_cores, monkeypatch):
    """From SLICES_AT_ONCE_MIN_SESSIONS sessions on, with two idle cores and no running mode
    given: a multiple of two slices, two at a time, each of at most half of
    SESSIONS_PER_SLICE; otherwise what it was."""
    assert runners.SLICES_AT_ONCE_MIN_SESSIONS == 10_000

    def plan(sessions: int, *argv: str, beam_args: tuple[str, ...] = ()):
        cfg = config("--source", f"simulated://?sessions={sessions}", *argv)
        return tuple(slices.choose(cfg, "DirectRunner", beam_args))

    assert plan(10_000) == (2, 10_000, 2)
    assert plan(100_000) == (2, 100_000, 2)
    assert plan(250_001) == (6, 250_001, 2)  # two at a time of at most 50,000: 100,000 held at once
    assert plan(9_999) == (1, 9_999, 1)
    assert plan(100_000, "--slices", "3") == (3, 100_000, 2)
    assert plan(100_000, "--num_shards", "1") == (1, 100_000, 1)
    assert plan(250_001, beam_args=("--direct_running_mode=in_memory",)) == (3, 250_001, 1)
    assert plan(100_000, beam_args=("--direct_num_workers=2",)) == (1, 100_000, 1)
    monkeypatch.setattr(runners, "idle_cores", lambda: 1)
    assert plan(100_000) == (1, 100_000, 1)
    # a server is read once per slice: its work would grow with the slices
    monkeypatch.setattr(runners, "idle_cores", lambda: 2)
    monkeypatch.setattr(sources.MongoSource, "estimate", lambda self: (100_000, "counted"))
    mongo = config("--source", "mongodb://127.0.0.1:9/db")
    assert tuple(slices.choose(mongo, "DirectRunner", [])) == (1, 100_000, 1)
    assert not sources.MongoSource.rereads_cheaply and sources.DumpSource.rereads_cheaply
    doc = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert "processes of their own" in doc and "10,000 sessions" in doc


def test_slices_at_once_write_the_dataset_of_one_in_memory_pipeline(tmp_path, two_idle_cores, monkeypatch, caplog):
    """The default mode through the launcher on a dump with bad lines, duplicates and
    orphans: two slice processes (no pipeline in the launcher), the rows, quarantine and
    counts of one in-memory run, and the processes' log records in the run's log."""
    mixed_dump(tmp_path / "dump", "jsonl")
    source = ["--source", str(tmp_path / "dump"), *DATES]
    assert run_pipeline([*source, "--output", tmp_path / "one", "--direct_running_mode=in_memory"]) == 0
    assert read_manifest(tmp_path / "one")["slices"] == 1
    monkeypatch.setattr(runners, "SLICES_AT_ONCE_MIN_SESSIONS", 1)
    monkeypatch.setattr(slices, "new_pipeline", lambda *a, **k: pytest.fail("a pipeline ran in the launcher"))
    caplog.set_level("INFO", logger="session_features")
    assert run_pipeline([*source, "--output", tmp_path / "two"]) == 0
    manifest = read_manifest(tmp_path / "two")
    assert manifest["slices"] == 2
    names = sorted(f["path"].rsplit("/", 1)[1] for f in manifest["files"])
    assert names == ["features-s000-00000-of-00001.csv", "features-s001-00000-of-00001.csv"]
    assert dataset(tmp_path / "two") == dataset(tmp_path / "one")
    assert "2 slices, 2 at a time in processes of their own" in caplog.text
    assert "slice 1/2:" in caplog.text and "slice 2/2:" in caplog.text


def _failing_build(how: str):
    real = graph.build

    def build(p, cfg, run_dir, part):
        real(p, cfg, run_dir, part)
        if part.index == 1:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            p | "Boom" >> beam.Create([1]) | "Fail" >> beam.Map(lambda _: 1 / 0)

    return build


@pytest.mark.parametrize(
    ("how", "line"),
    [
        ("raise", "slice 2/2 failed: "),
        ("kill", "slice 2/2 failed: its process was killed by SIGKILL (out of memory?)"),
    ],
)
def test_a_failing_slice_process_publishes_nothing(tmp_path, two_idle_cores, monkeypatch, capsys, how, line):
    """Forked instead of spawned, so the slice processes run this test's failing build."""
    sim = "simulated://?sessions=60&seed=4"
    out = tmp_path / "out"
    assert run_pipeline(["--source", sim, *DATES, "--output", str(out), "--direct_running_mode=in_memory"]) == 0
    before = read_manifest(out)
    monkeypatch.setenv("SESSION_FEATURES_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(runners, "SLICES_AT_ONCE_MIN_SESSIONS", 1)
    monkeypatch.setattr(slice_pool, "START_METHOD", "fork")
    monkeypatch.setattr(graph, "build", _failing_build(how))
    capsys.readouterr()
    assert run_pipeline(["--source", sim, *DATES, "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (message,) = [x for x in err.splitlines() if x.startswith("session-features:")]
    assert message.startswith(f"session-features: the run failed, nothing was published: {line}")
    assert read_manifest(out) == before
    log_file = Path(message.rsplit("(log: ", 1)[1].rstrip(")"))
    if how == "raise":
        assert "division by zero" in message
        text = log_file.read_text()
        assert "Traceback" in text and "ZeroDivisionError" in text  # the slice's traceback, from its process
    assert "division by zero" not in err.replace(message, "")  # the console shows no error records of its own


def _slice_processes(pid: int) -> set[int]:
    """The children of `pid` that multiprocessing spawned (not its resource tracker)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and b"spawn_main" in command:
            found.add(int(status.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="the slice processes are found in /proc")
@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)])
def test_a_stop_signal_ends_every_slice_process(tmp_path, signum, group):
    """To the launcher, once the slices run; or Ctrl-C (SIGINT to the whole process
    group, the slice processes too) while they start: one line, no traceback, no
    slice process left."""
    out = tmp_path / "out"
    code = (
        "import sys; from pipeline import runners; runners.SLICES_AT_ONCE_MIN_SESSIONS = 1; "
        "runners.idle_cores = lambda: 2; from pipeline.main import main; sys.argv[0] = 'session-features'; main()"
    )
    sim = "simulated://?sessions=40000&seed=2"
    cmd = [sys.executable, "-c", code, "--source", sim, *DATES, "--output", str(out)]
    env = {**os.environ, "SESSION_FEATURES_LOG_DIR": str(tmp_path / "logs")}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group
    )
    deadline = time.monotonic() + 120
    while len(kids := _slice_processes(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(kids) == 2, "two slice processes"
    if group:
        time.sleep(0.5)  # the slice processes are setting up their pipelines
        os.killpg(proc.pid, signum)
    else:
        time.sleep(2)  # well into the slices
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    assert f"stopped by {signal.Signals(signum).name}" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    for pid in kids:
        assert not Path(f"/proc/{pid}").exists(), "a slice process outlived the launcher"
    folder = out / "window_start=2024-12-01" / "window_end=2025-01-01"
    assert not folder.exists() or not any(folder.glob("run-*"))


def test_run_at_once_reports_each_slice_and_stops_at_the_first_failure(monkeypatch):
    """The pool itself, on tasks that run no pipeline: each slice's outcome in order of
    ending; a failed one raises what `failed` makes of it."""
    monkeypatch.setattr(slice_pool, "START_METHOD", "fork")
    outcomes = {0: (None, 1.5), 1: ("boom", 0.5), 2: (None, 9.0)}

    def fake_main(task, conn, logs, levels, launcher):
        conn.send(outcomes[task[3]])
        conn.close()

    monkeypatch.setattr(slice_pool, "_slice_main", fake_main)
    seen = []

    def failed(index, why):
        return RuntimeError(f"{index}: {why}")

    with pytest.raises(RuntimeError, match="1: boom"):
        tasks = [(None, [], "", k, 3) for k in range(3)]
        slice_pool.run_at_once(tasks, 1, lambda k, s: seen.append((k, s)), failed)
    assert seen == [(0, 1.5)]  # the third never started
