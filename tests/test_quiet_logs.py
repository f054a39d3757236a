"""A successful run prints its progress lines and summary only; the rest goes to its log file."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from pipeline.main import ConsoleFilter

REPO_ROOT = Path(__file__).resolve().parent.parent


def record(name: str, level: int, message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc else None
    return logging.LogRecord(name, level, __file__, 1, message, None, exc_info)


class Cancelled(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.CANCELLED


class Unavailable(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("rec", "shown"),
    [
        (record("session_features", logging.INFO, "done: 3 rows"), True),
        (record("session_features.slices", logging.INFO, "slice 1 of 2"), True),
        (record("botocore.credentials", logging.INFO, "Found credentials in environment variables."), False),
        (record("SparkJarJobServer", logging.INFO, "\tat org.apache.spark.rdd.RDD.iterator(RDD.scala:328)"), False),
        (record("apache_beam.io.filebasedsink", logging.WARNING, "No shards found to finalize. num_shards: 0"), False),
        (record("root", logging.WARNING, "Waiting for grpc channel to be ready at localhost:1."), False),
        (record("apache_beam.runners.worker.data_plane", logging.ERROR, "Failed to read inputs", Cancelled()), False),
        (record("apache_beam.runners.worker.data_plane", logging.ERROR, "Failed to read inputs", Unavailable()), True),
        (record("apache_beam.io.filesystemio", logging.WARNING, "Retrying upload after a 503"), True),
    ],
)
def test_console_filter(rec, shown):
    assert ConsoleFilter().filter(rec) is shown


def test_a_direct_runner_run_prints_three_lines_and_names_its_log(tmp_path):
    logs = tmp_path / "logs"
    env = {**os.environ, "SESSION_FEATURES_LOG_DIR": str(logs), "TMPDIR": str(tmp_path)}
    env.pop("LOG_LEVEL", None)
    args = ["--source", "simulated://?sessions=40&seed=3", "--start_date", "2024-12-01", "--end_date", "2024-12-31"]
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--output", str(tmp_path / "out")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert [line.split(" INFO session_features: ")[1].split(" ")[0] for line in lines] == ["reading", "done:"]
    (log_file,) = logs.glob("*.log")
    assert lines[-1].endswith(f"(log: {log_file})")  # the summary names the run's log file
    # The file has what the console left out: Beam's own records and the warning about an empty quarantine.
    text = log_file.read_text()
    assert "apache_beam" in text and "No shards found to finalize" in text
    assert proc.stdout.strip().endswith("/manifest.json")  # stdout: the manifest's path alone
