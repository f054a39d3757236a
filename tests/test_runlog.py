"""The run-log folder is shared by every run on the machine, including concurrent ones."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline import runlog


def _logs(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"run-{i:03d}.log"
        path.write_text("x")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
        paths.append(path)
    return paths


def test_pruning_keeps_the_newest_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("SESSION_FEATURES_LOG_DIR", str(tmp_path))
    paths = _logs(tmp_path, runlog.KEEP + 3)
    log = runlog.open_run_log("run-new")
    runlog.close_run_log(log)
    assert [p.exists() for p in paths[:3]] == [False, False, False]
    assert all(p.exists() for p in paths[3:])
    assert log.exists()


def test_a_log_removed_by_a_concurrent_run_while_pruning_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("SESSION_FEATURES_LOG_DIR", str(tmp_path))
    paths = _logs(tmp_path, runlog.KEEP + 2)
    gone = paths[0]
    real_glob = Path.glob

    def glob_then_other_run_prunes(self, pattern):
        listed = list(real_glob(self, pattern))
        gone.unlink()  # the other run removes it after our listing, before our stat
        return iter(listed)

    monkeypatch.setattr(Path, "glob", glob_then_other_run_prunes)
    log = runlog.open_run_log("run-new")
    runlog.close_run_log(log)
    assert not paths[1].exists()  # the oldest log still there was pruned
    assert all(p.exists() for p in paths[2:])
