"""Where a run's detailed log goes: a file per run, named in the run's last line.

The console gets progress lines and the summary; everything else (DEBUG detail,
tracebacks of a failed run, job-server and worker output) goes to the run's log file.
`SESSION_FEATURES_LOG_DIR` moves the folder (default `~/.cache/session-features/logs`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

KEEP = 50  # log files kept; older ones are removed when a run starts


def log_dir() -> Path:
    base = os.environ.get("SESSION_FEATURES_LOG_DIR")
    return Path(base) if base else Path.home() / ".cache" / "session-features" / "logs"


def log_path(name: str) -> Path:
    """The path of a log file called `name` (a run id, or `<run id>-spark-job-server`)."""
    return log_dir() / f"{name}.log"


def _prune(folder: Path) -> None:
    """Keep the newest KEEP logs; another run may be pruning the same folder at once."""
    aged = []
    for log in folder.glob("*.log"):
        try:
            aged.append((log.stat().st_mtime, log))
        except FileNotFoundError:  # removed by a concurrent run between listing and stat
            continue
    aged.sort()
    for _, stale in aged[: max(0, len(aged) - KEEP)]:
        stale.unlink(missing_ok=True)


def open_run_log(run_id: str) -> Path:
    """Send every log record (DEBUG and up) of this process to the run's log file too."""
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder)
    path = log_path(run_id)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in root.handlers:  # the console keeps the level it had
        if existing.level == logging.NOTSET:
            existing.setLevel(root.level or logging.WARNING)
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, logging.DEBUG))
    return path


def close_run_log(path: Path) -> None:
    """Stop writing to the run's log file (a process may run several runs, as tests do)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == Path(path).absolute():
            root.removeHandler(handler)
            handler.close()
