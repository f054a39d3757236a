"""The command line as a user meets it: options, environment, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dataset_io import DOCUMENTS

from pipeline.options import UsageError, parse

REPO = Path(__file__).resolve().parents[1]
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "START_DATE", "END_DATE")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("session-features:")]
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_flags_win_over_environment_and_dashed_aliases_work():
    env = {"MONGO_URI": "simulated://", "START_DATE": "2024-01-01", "END_DATE": "2024-01-31"}
    cfg, rest = parse(["--start-date", "2024-12-01", "--end_date", "2024-12-02", "--runner", "DirectRunner"], env)
    assert cfg.source == "simulated://" and cfg.start_date == "2024-12-01" and cfg.end_date == "2024-12-02"
    assert cfg.window.end - cfg.window.start == 2 * 86_400  # a bare end date is inclusive
    assert rest == ["--runner", "DirectRunner"]


def test_original_job_environment_names():
    env = {"MONGO_URI": "mongodb://h/x", "DATABASE_NAME": "agno", "COLLECTION_NAME": "sessions",
           "START_DATE": "2024-12-01T00:00:00Z", "END_DATE": "2024-12-01T12:00:00Z"}  # fmt: skip
    cfg, _ = parse([], env)
    assert (cfg.database, cfg.collection, cfg.runs_collection) == ("agno", "sessions", "sessions_runs")
    assert cfg.window.end - cfg.window.start == 12 * 3600  # date-times: the end is exclusive


def test_database_defaults_to_the_one_in_the_uri():
    cfg, _ = parse(["--source", "mongodb://user:pw@h:27017/agno?authSource=admin", *DATES], {})
    assert cfg.database == "agno" and cfg.runs_collection == "agno_runs"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "simulated://", "--start_date", "2024-13-01", "--end_date", "2024-12-31"], "is not a date"),
        (["--source", "simulated://", "--start_date", "2024-12-31", "--end_date", "2024-12-01"], "is not before"),
        (["--source", "simulated://", "--end_date", "2024-12-01"], "--start_date is required"),
        ([*DATES], "--source is required"),
    ],
)
def test_bad_options_are_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        parse(argv, {})


def test_malformed_date_is_one_line_and_exit_2():
    result = cli("--source", "simulated://", "--start_date", "2024-12-xx", "--end_date", "2024-12-31")
    assert result.returncode == 2
    assert_one_line_error(result, "--start_date '2024-12-xx' is not a date")


def test_unreachable_server_fails_within_seconds_without_leaking_the_password():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    result = cli("--source", f"mongodb://alice:s3cret@127.0.0.1:{port}/agno?serverSelectionTimeoutMS=2000", *DATES)
    assert time.monotonic() - t0 < 60
    assert_one_line_error(result, "cannot reach MongoDB")
    assert "s3cret" not in result.stderr + result.stdout


def test_missing_collection_is_one_line(ferretdb, mongo_db):
    mongo_db["other"].insert_one({"x": 1})
    result = cli("--source", ferretdb.uri, "--database", mongo_db.name, *DATES, "--output", "/tmp/never")
    assert_one_line_error(result, f"database '{mongo_db.name}' has no collection 'agno_sessions'")


def test_missing_dump_folder_is_one_line(tmp_path):
    result = cli("--source", str(tmp_path / "nope"), *DATES)
    assert_one_line_error(result, "does not exist")


def test_unwritable_output_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("--source", "simulated://?sessions=5", *DATES, "--output", str(blocker / "out"))
    assert_one_line_error(result, "cannot write to the output location")


def test_simulated_run_publishes_a_dataset_and_a_summary(tmp_path):
    args = ["--source", "simulated://?sessions=40&seed=5&bad_rate=0.1", *DATES, "--output", str(tmp_path / "out")]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out" / "window_start=2024-12-01" / "window_end=2025-01-01"
    assert result.stdout == f"{out / 'manifest.json'}\n"  # the manifest's path alone, for scripts
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["sessions_read"] == 40 and counts["rows_written"] + counts["quarantined"] == 40
    assert counts["quarantined"] > 0
    (done,) = [line for line in result.stderr.splitlines() if "done:" in line]
    assert f"{counts['rows_written']} rows, {counts['quarantined']} quarantined, 0 unreadable records in " in done
    assert f"→ {out / 'manifest.json'} (log: " in done and done.endswith(f"{manifest['run_id']}.log)")
    # a re-run of the same window replaces the dataset with the same rows
    first = [(out / f["path"]).read_text() for f in manifest["files"]]
    assert cli(*args).returncode == 0
    again = json.loads((out / "manifest.json").read_text())
    assert [(out / f["path"]).read_text() for f in again["files"]] == first
    assert again["run_id"] != manifest["run_id"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", again["run_id"], *DOCUMENTS])
