"""Publishing on a local disk when runs overlap, fail or are stopped: windows stay
separate datasets, cleanup removes only what no run needs (leases), a killed or
stopped run leaves the published dataset whole, and the quarantine-share guard."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dataset_io import DOCUMENTS, dataset_dir, read_dataset, read_manifest, run_pipeline, write_dump

from pipeline import lease, publish, slices
from pipeline.options import UsageError, parse
from transforms.window import Window

REPO = Path(__file__).resolve().parents[1]
SIM = "simulated://?sessions=200&seed=1"
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
WINDOW = ("window_start=2024-12-01", "window_end=2025-01-01")  # the dataset folder of DATES
DEC = Window(1733011200.0, 1735689600.0)  # 2024-12-01 .. 2025-01-01
NOW = 1764590400.0  # 2025-12-01T12:00:00Z, the cleanup's clock in the rule tests


def published_listing(*runs: str) -> list[str]:
    """What a window's folder holds once published: the manifest, its documents, the run folders."""
    return sorted(["manifest.json", *runs, *DOCUMENTS])


def assert_whole(folder: Path) -> dict:
    """The published dataset: every file the manifest names exists with its sha256 and
    rows (read_dataset checks them), and the rows are all the run wrote."""
    rows = read_dataset(folder)
    manifest = read_manifest(folder)
    assert len(rows) == manifest["counts"]["rows_written"]
    assert manifest["counts"]["rows_written"] + manifest["counts"]["quarantined"] == manifest["counts"]["sessions_read"]
    return rows


def error_lines(text: str) -> list[str]:
    assert "Traceback" not in text
    return [line for line in text.splitlines() if line.startswith("session-features:")]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: no process has this id now
    return proc.pid


def make_run(root: Path, name: str, held: dict | None = None, pending: bool = False) -> Path:
    folder = root / name
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "features-00000-of-00001.csv").write_text("session_id\n")
    if held is not None:
        (folder / lease.LEASE).write_text(json.dumps(held))
    if pending:
        (folder / publish.PENDING_MANIFEST).write_text("{}")
    return folder


def held_by(pid: int, age_s: float, machine: str | None = None, run_id: str = "x") -> dict:
    return {"run_id": run_id, "heartbeat_epoch": NOW - age_s, "machine": machine or lease.machine_id(), "pid": pid}


# ----------------------------------------------------------------- the rules


def test_cleanup_removes_the_replaced_and_abandoned_runs_only(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    gone, other_host = dead_pid(), "elsewhere|boot|pid:[1]"
    monkeypatch.setattr(lease, "_HELD", {"run-20251201T115000Z-000001", "run-20251201T115000Z-000008"})
    runs = {
        "run-20251201T115000Z-000001": make_run(root, "run-20251201T115000Z-000001", held_by(os.getpid(), 1)),
        "run-20251201T115000Z-000002": make_run(root, "run-20251201T115000Z-000002", held_by(gone, 1)),
        "run-20251201T115000Z-000003": make_run(root, "run-20251201T115000Z-000003", held_by(1, 599, other_host)),
        "run-20251201T115000Z-000004": make_run(root, "run-20251201T115000Z-000004", held_by(1, 601, other_host)),
        "run-20251201T114900Z-000005": make_run(root, "run-20251201T114900Z-000005"),  # no lease, 11 min old
        "run-20251201T115500Z-000006": make_run(root, "run-20251201T115500Z-000006"),  # no lease, 5 min old
        "run-20241201T000000Z-000007": make_run(root, "run-20241201T000000Z-000007", pending=True),  # a jar's
        "run-20251201T115000Z-000008": make_run(
            root, "run-20251201T115000Z-000008", held_by(os.getpid(), 1, run_id="run-20251201T115000Z-000008")
        ),
        # this process ran it and is done with it
        "run-20251201T115000Z-00000b": make_run(
            root, "run-20251201T115000Z-00000b", held_by(os.getpid(), 1, run_id="run-20251201T115000Z-00000b")
        ),
        "run-20251201T115000Z-000009": make_run(root, "run-20251201T115000Z-000009", held_by(gone, 700)),
        "run-by-hand": make_run(root, "run-by-hand"),  # not a name this tool makes
        "run-20251201T115000Z-00000a": make_run(root, "run-20251201T115000Z-00000a", held_by(gone, 1)),
    }
    # the current manifest names run …0a, whose process is gone: a published dataset is kept
    (root / publish.MANIFEST).write_text(json.dumps({"run_id": "run-20251201T115000Z-00000a"}))
    (root / f"{publish.MANIFEST}.run-20251201T115000Z-000002.tmp").write_text("{")  # its run is gone
    (root / f"{publish.MANIFEST}.run-20251201T115000Z-000001.tmp").write_text("{")  # its run is live
    removed = publish.remove_other_runs(
        str(root), keep=str(runs["run-20251201T115000Z-000001"]), replaced="run-20251201T115000Z-000008", now=NOW
    )
    expected = ["run-20251201T114900Z-000005"] + [f"run-20251201T115000Z-00000{n}" for n in "2489b"]
    assert removed == expected
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [*(set(runs) - set(expected)), publish.MANIFEST, f"{publish.MANIFEST}.run-20251201T115000Z-000001.tmp"]
    )


def test_published_windows_reads_every_layout(tmp_path):
    def manifest(path: Path, start: float, end: float) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"window": {"start_epoch": start, "end_epoch": end}}))
        return str(path)

    out = tmp_path / "out"
    day = 86_400.0
    flat = manifest(out / "manifest.json", DEC.start - 30 * day, DEC.start)  # v1 without --hive
    hive = manifest(out / "window_start=2024-11-01" / "manifest.json", DEC.start - 30 * day, DEC.start - day)
    new = manifest(out / "window_start=2024-12-01" / "window_end=2025-01-01" / "manifest.json", DEC.start, DEC.end)
    late = manifest(
        out / "window_start=2024-12-01" / "window_end=2025-01-02" / "manifest.json", DEC.start, DEC.end + day
    )
    manifest(out / "window_start=2024-12-01" / "run-x" / "manifest.json", 0, 9e9)  # not a dataset's place
    assert publish.published_windows(str(out)) == [
        (Window(DEC.start - 30 * day, DEC.start - day), hive),
        (Window(DEC.start - 30 * day, DEC.start), flat),
        (DEC, new),
        (Window(DEC.start, DEC.end + day), late),
    ]
    assert publish.last_published_end(str(out)) == DEC.end + day
    assert publish.published_windows(str(tmp_path / "none")) == []


def test_dataset_folders_are_named_by_the_window():
    assert publish.dataset_root("s3://b/p", DEC) == "s3://b/p/window_start=2024-12-01/window_end=2025-01-01"
    six = Window(DEC.start + 6 * 3600, DEC.start + 86_400 + 90)
    assert publish.partition(six) == {"window_start": "2024-12-01T060000Z", "window_end": "2024-12-02T000130Z"}


# ------------------------------------------------------ windows and overlapping runs


def test_a_new_run_never_touches_datasets_of_older_layouts(tmp_path):
    out = tmp_path / "out"
    old = {
        out / "manifest.json": '{"run_id": "run-20241101T000000Z-aaaaaa"}',
        out / "run-20241101T000000Z-aaaaaa" / "data" / "features-00000-of-00001.csv": "session_id\n",
        out / "window_start=2024-12-01" / "manifest.json": '{"run_id": "run-20241102T000000Z-bbbbbb"}',
        out / "window_start=2024-12-01" / "run-20241102T000000Z-bbbbbb" / "data" / "f.csv": "session_id\n",
        out / "window_start=2024-12-01" / "run-20241103T000000Z-cccccc" / "data" / "f.csv": "killed\n",
    }
    for path, text in old.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    assert {path: path.read_text() for path in old} == old
    assert_whole(out / WINDOW[0] / WINDOW[1])


def test_two_runs_of_one_window_started_together_end_with_one_whole_dataset(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline", "--source", SIM, *DATES, "--output", str(out)]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    for code, _, err in results:
        assert code == 0, err
    folder = out / WINDOW[0] / WINDOW[1]
    rows = assert_whole(folder)
    assert (
        len(rows) == read_manifest(folder)["counts"]["sessions_read"] - read_manifest(folder)["counts"]["quarantined"]
    )
    # the run that published last keeps its folder; the other one's is gone or goes with the next run
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == published_listing(read_manifest(folder)["run_id"])
    assert read_dataset(folder) == rows


def test_a_short_run_publishing_between_the_slices_of_a_long_run(tmp_path, monkeypatch):
    """The short run's cleanup must leave the sliced run's files; the sliced run then
    publishes all of its rows."""
    out = tmp_path / "out"
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path / "alone")]) == 0
    expected = read_dataset(tmp_path / "alone")
    real_log_slice = slices._log_slice
    short: list[str] = []

    def log_slice(part, *args):
        real_log_slice(part, *args)
        if part.index == 0:  # the long run is between its first and second slice
            assert run_pipeline(["--source", SIM, *DATES, "--output", str(out), "--slices", "1"]) == 0
            short.append(read_manifest(out)["run_id"])

    monkeypatch.setattr(slices, "_log_slice", log_slice)
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out), "--slices", "3"]) == 0
    manifest = read_manifest(out)
    assert short and manifest["run_id"] != short[0] and manifest["slices"] == 3
    assert read_dataset(out) == expected  # all 3 slices' rows, every file present
    # the sliced run replaced the short run's dataset and removed its folder
    assert sorted(p.name for p in dataset_dir(out).iterdir()) == published_listing(manifest["run_id"])


# ----------------------------------------------------------------- faults


def wait_for(proc: subprocess.Popen, ready) -> bool:
    """Poll until `ready()` or the process ends; whether `ready()` came first."""
    while proc.poll() is None:
        if ready():
            return True
        time.sleep(0.05)
    return False


def new_run_folder(folder: Path, old: str) -> Path | None:
    found = [p for p in folder.glob("run-*") if p.name != old] if folder.exists() else []
    return found[0] if found else None


@pytest.mark.parametrize("point", ["running", "data_written"])
def test_kill_9_over_a_published_dataset_leaves_it_whole_and_the_next_run_clean(tmp_path, point):
    out = tmp_path / "out"
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    folder = out / WINDOW[0] / WINDOW[1]
    before, old = read_dataset(folder), read_manifest(folder)["run_id"]

    def ready() -> bool:
        run = new_run_folder(folder, old)
        if point == "running":
            return run is not None and (run / lease.LEASE).exists()
        return run is not None and any((run / "data").glob("features-*"))

    cmd = [sys.executable, "-m", "pipeline", "--source", SIM, *DATES, "--output", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(proc, ready)
    proc.kill()
    proc.wait()
    # whichever manifest is published names files that all exist, with their sha256 and rows
    assert read_dataset(folder) == before
    assert_whole(folder)
    # the next run succeeds and removes the killed run's folder (its process is gone)
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == published_listing(read_manifest(folder)["run_id"])
    assert read_dataset(folder) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_in_one_line_and_removes_the_runs_folder(tmp_path, signum):
    out = tmp_path / "out"
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    folder = out / WINDOW[0] / WINDOW[1]
    published = (folder / "manifest.json").read_bytes()
    old = json.loads(published)["run_id"]
    big = "simulated://?sessions=50000&seed=1"  # long enough to be stopped while it runs
    cmd = [sys.executable, "-m", "pipeline", "--source", big, *DATES, "--output", str(out)]
    env = {**os.environ, "SESSION_FEATURES_LOG_DIR": str(tmp_path / "logs")}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(proc, lambda: (lambda run: run is not None and (run / lease.LEASE).exists())(
        new_run_folder(folder, old)))  # fmt: skip
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum
    (line,) = error_lines(err)
    name = signal.Signals(signum).name
    assert line.startswith(f"session-features: stopped by {name}: the run's folder was removed, nothing was published")
    log_file = Path(line.rsplit("(log: ", 1)[1].rstrip(")"))
    assert log_file.parent == tmp_path / "logs" and f"stopped by {name}" in log_file.read_text()
    assert sorted(p.name for p in folder.iterdir()) == published_listing(old)
    assert (folder / "manifest.json").read_bytes() == published


def test_a_cleanup_failure_after_publishing_is_a_warning(tmp_path, monkeypatch, caplog):
    out = tmp_path / "out"
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    first = read_manifest(out)["run_id"]

    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(publish, "remove_other_runs", fail)
    caplog.set_level(logging.WARNING, logger="session_features")
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    second = read_manifest(out)["run_id"]
    assert second != first and assert_whole(out)
    assert "published, but removing earlier runs failed (the next run of this window removes them)" in caplog.text
    assert (dataset_dir(out) / first).is_dir()
    monkeypatch.undo()
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    third = read_manifest(out)["run_id"]
    assert sorted(p.name for p in dataset_dir(out).iterdir()) == published_listing(third)


def test_a_failed_run_prints_one_line_naming_its_log_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SESSION_FEATURES_LOG_DIR", str(tmp_path / "logs"))

    def build(p, cfg, run_dir, part):
        raise RuntimeError("the runner broke\nsecond line of detail")

    monkeypatch.setattr(slices, "build", build)
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path / "out")]) == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("session-features: the run failed, nothing was published: the runner broke (log: ")
    log_file = Path(line.rsplit("(log: ", 1)[1].rstrip(")"))
    assert log_file.parent == tmp_path / "logs"
    assert "Traceback" in log_file.read_text() and "second line of detail" in log_file.read_text()
    assert not list((tmp_path / "out").rglob("run-*"))


@pytest.mark.parametrize("verbose", [False, True])
def test_a_transform_failing_shows_its_traceback_only_in_the_log_file_unless_verbose(tmp_path, verbose):
    dump = tmp_path / "dump"
    (dump / "agno_sessions.jsonl").mkdir(parents=True)  # found by the check, unreadable by the pipeline
    cmd = [sys.executable, "-m", "pipeline", "--source", str(dump), *DATES, "--output", str(tmp_path / "out")]
    env = {**os.environ, "SESSION_FEATURES_LOG_DIR": str(tmp_path / "logs")}
    result = subprocess.run([*cmd, *(["-v"] if verbose else [])], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("session-features:")]
    assert len(lines) == 1 and "Is a directory" in lines[0]
    (log_file,) = (tmp_path / "logs").glob("run-*.log")
    assert lines[0].endswith(f"(log: {log_file})") and "Traceback" in log_file.read_text()
    assert ("Traceback" in result.stderr) == verbose


# ----------------------------------------------------------------- the guard


def guard_dump(folder: Path) -> None:
    """3 good sessions, 1 quarantined (runs that do not parse), 1 line that is not JSON."""
    t0 = 1733821200  # 2024-12-10T09:00:00Z
    docs = [
        {"session_id": f"s{i}", "session_type": "agent", "agent_id": "a", "created_at": t0 + i, "runs": [
            {"run_id": f"r{i}", "created_at": t0 + i, "status": "COMPLETED", "metrics": {"input_tokens": 1}}]}
        for i in range(3)
    ] + [{"session_id": "bad", "session_type": "agent", "created_at": t0, "runs": "[{not json"}]  # fmt: skip
    path = write_dump(folder, "agno_sessions", docs)
    with path.open("a") as handle:
        handle.write("{not json at all\n")


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [(["--max_quarantined_share", "0.3"], {}, 1), ([], {"MAX_QUARANTINED_SHARE": "0.3"}, 1),
     (["--max_quarantined_share", "0.4"], {}, 0), ([], {}, 0)],
)  # fmt: skip
def test_the_quarantined_share_guard(tmp_path, monkeypatch, capsys, args, env, code):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    guard_dump(tmp_path / "dump")
    out = tmp_path / "out"
    assert run_pipeline(["--source", str(tmp_path / "dump"), *DATES, "--output", str(out), *args]) == code
    if code:
        (line,) = error_lines(capsys.readouterr().err)
        # (1 quarantined + 1 unreadable) / (those + 3 rows) = 40%
        assert line.startswith(
            "session-features: 40.0% of the window's input was quarantined or unreadable (2 of 5), "
            "above --max_quarantined_share 0.3; nothing was published (log: "
        )
        assert not list(out.rglob("manifest.json")) and not list(out.rglob("run-*"))
    else:
        counts = read_manifest(out)["counts"]
        assert counts["rows_written"] == 3 and counts["quarantined"] + counts["unreadable_records"] == 2


def test_the_share_definition_and_its_option():
    assert publish.quarantined_share({"quarantined": 1, "unreadable_records": 1, "rows_written": 3}) == 0.4
    assert publish.quarantined_share({"quarantined": 0, "unreadable_records": 0, "rows_written": 0}) == 0.0
    assert parse(["--source", SIM, *DATES], {"MAX_QUARANTINED_SHARE": "0.25"})[0].max_quarantined_share == 0.25
    assert parse(["--source", SIM, *DATES], {})[0].max_quarantined_share is None
    for bad in ("1.5", "-0.1", "lots", "nan"):
        with pytest.raises(UsageError, match="--max_quarantined_share takes a number from 0 to 1"):
            parse(["--source", SIM, *DATES, "--max_quarantined_share", bad], {})
