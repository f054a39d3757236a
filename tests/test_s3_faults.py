"""S3 faults at moments of a run over an already published dataset (moto's server
behind a proxy on 127.0.0.1): kill -9 while the launcher describes the files (reads
the sinks' records of them), writes the manifest or cleans up; throttling and
connection resets for ever (one line, the old dataset untouched). Faults for a
while, retried: test_s3.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dataset_io import DOCUMENTS, read_dataset, read_manifest, run_pipeline
from s3server import BUCKET, RESET, FaultProxy
from test_s3 import DATES, WINDOW, mirror, s3_args

REPO = Path(__file__).resolve().parents[1]
SIM = "simulated://?sessions=200&seed=1"


def published(s3, prefix: str, dest: Path) -> tuple[dict, dict]:
    """(rows, manifest) of what is published under `prefix`, read through the manifest:
    every file it names exists, with its sha256 and rows."""
    local = mirror(s3, prefix, dest)
    rows, manifest = read_dataset(local), read_manifest(local)
    assert len(rows) == manifest["counts"]["rows_written"] == 200
    return rows, manifest


def run_folders(s3, prefix: str) -> set[str]:
    return {k.split("/")[3] for k in s3.keys(BUCKET, f"{prefix}/{WINDOW}/")}


class KillAt:
    """A proxy fault: SIGKILL the child at the first request `moment` picks."""

    def __init__(self, moment: str):
        self.moment, self.child, self.killed = moment, None, threading.Event()
        self.manifest_written = False

    def __call__(self, method: str, path: str):
        if self.child is None or self.killed.is_set():
            return None
        if self.moment == "cleanup" and method == "POST" and "manifest.json" in path and "uploadId=" in path:
            self.manifest_written = True  # the upload's completion: forwarded, the dataset is published
            return None
        if self._now(method, path):
            os.kill(self.child.pid, signal.SIGKILL)
            self.killed.set()
            return 503, "SlowDown"
        return None

    def _now(self, method: str, path: str) -> bool:
        if self.moment == "describe":  # the launcher reads the sinks' records of the files (never the files)
            return method == "GET" and "/_files-" in path
        if self.moment == "manifest":
            return method in ("PUT", "POST") and "manifest.json" in path
        deleting = method == "DELETE" or (method == "POST" and "delete" in path.split("?", 1)[-1])
        return self.manifest_written and deleting


@pytest.mark.parametrize("moment", ["describe", "manifest", "cleanup"])
def test_kill_9_at_a_moment_of_publishing_leaves_a_whole_dataset_and_a_clean_next_run(s3, aws_env, tmp_path, moment):
    prefix = f"kill-{moment}"
    assert run_pipeline(["--source", SIM, *DATES, *s3_args(s3.endpoint, prefix)]) == 0
    before, first = published(s3, prefix, tmp_path / "before")

    fault = KillAt(moment)
    with FaultProxy(s3.port, fault) as proxy:
        cmd = [sys.executable, "-m", "pipeline", "--source", SIM, *DATES, *s3_args(proxy.endpoint, prefix)]
        fault.child = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert fault.child.wait(timeout=600) == -signal.SIGKILL and fault.killed.is_set()

    rows, manifest = published(s3, prefix, tmp_path / "during")
    assert rows == before
    # killed before the manifest was written: the old one; during cleanup: the new one
    assert (manifest["run_id"] == first["run_id"]) == (moment != "cleanup")

    assert run_pipeline(["--source", SIM, *DATES, *s3_args(s3.endpoint, prefix)]) == 0
    rows, manifest = published(s3, prefix, tmp_path / "after")
    assert rows == before
    # the killed run's folder is gone
    assert run_folders(s3, prefix) == {"manifest.json", "sagemaker-sessions.manifest", manifest["run_id"], *DOCUMENTS}


@pytest.mark.parametrize("fault", [(503, "SlowDown"), RESET])
def test_s3_failing_for_ever_fails_the_run_in_one_line_and_keeps_the_old_dataset(
    s3, aws_env, tmp_path, monkeypatch, capsys, fault
):
    prefix = f"for-ever-{fault[1]}"
    assert run_pipeline(["--source", SIM, *DATES, *s3_args(s3.endpoint, prefix)]) == 0
    before, first = published(s3, prefix, tmp_path / "before")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")  # retries run out sooner than with the default 10
    capsys.readouterr()

    def manifest_writes(method: str, path: str):
        return fault if method in ("PUT", "POST") and "manifest.json" in path else None

    with FaultProxy(s3.port, manifest_writes) as proxy:
        assert run_pipeline(["--source", SIM, *DATES, *s3_args(proxy.endpoint, prefix)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("session-features:")]
    assert line.startswith("session-features: the run failed, nothing was published: ") and "(log: " in line
    assert len(proxy.injected) >= 3  # retried before giving up
    rows, manifest = published(s3, prefix, tmp_path / "after")
    assert rows == before and manifest == first
    # the failed run's folder removed
    assert run_folders(s3, prefix) == {"manifest.json", "sagemaker-sessions.manifest", first["run_id"], *DOCUMENTS}
