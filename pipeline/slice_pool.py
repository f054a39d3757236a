"""Slices of a window run at the same time, each in a process of its own (pipeline/slices.py).

Each process is a fresh interpreter (spawn: none of the launcher's threads, clients
or locks) that runs one slice on Beam's in-memory DirectRunner and ends, so its
memory goes back to the system before the next slice starts. Its log records go to
the launcher, whose handlers filter, redact and write them as they do its own; the
slice's outcome comes back over a pipe, and a process that dies without one (killed,
out of memory) fails the run. Stopping the launcher stops every slice: it terminates
them, and a slice whose launcher is gone ends itself (Linux).

Measured against one pipeline in Beam's multi_processing mode on the same cores
(docs/benchmarks.md): no gRPC between a runner and its workers, no coders at every
stage boundary.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

log = logging.getLogger("session_features")

START_METHOD = "spawn"
# Loggers whose levels a slice's process takes from the launcher's.
_LEVELS = ("", "session_features", "apache_beam", "pymongo", "botocore", "urllib3", "grpc")


class _ToLauncher(logging.handlers.QueueHandler):
    """Records as plain text for the launcher. A traceback travels as text, its
    exception as (None, None, None): the launcher's console hides a record with a
    traceback as it hides its own (shown with -v), its run log writes the text."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        trace = logging.Formatter().formatException(record.exc_info) if record.exc_info else record.exc_text
        fields = {**record.__dict__, "msg": record.getMessage(), "args": None, "exc_text": trace}
        fields["exc_info"] = (None, None, None) if trace else None
        return logging.makeLogRecord(fields)


def _end_with_launcher(launcher: int) -> None:
    """Linux: the kernel sends SIGTERM when the launcher dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != launcher:  # it died before the request was made
        os._exit(1)


def _slice_main(task: tuple, conn: Any, logs: Any, levels: dict[str, int], launcher: int) -> None:
    """A slice's process: set up, run the slice, send (first line of the error or None, seconds)."""
    started = time.monotonic()
    # Ctrl-C signals the whole process group: the launcher ends the slices. Blocked since
    # the launcher started this process (no KeyboardInterrupt while it imports), ignored now.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _end_with_launcher(launcher)
    root = logging.getLogger()
    root.handlers[:] = [_ToLauncher(logs)]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    error = None
    try:
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.options.pipeline_options import PipelineOptions

        from pipeline.graph import build
        from pipeline.runners import new_pipeline
        from transforms.slicing import Slice

        cfg, beam_args, run_dir, index, count = task
        FileSystems.set_options(PipelineOptions(beam_args))  # the launcher's file systems (S3 endpoint, …)
        with new_pipeline([*beam_args, "--direct_running_mode=in_memory"]) as p:
            build(p, cfg, run_dir, Slice(index, count))
    except Exception as exc:  # noqa: BLE001 - the launcher fails the run with this line
        log.debug("slice failure", exc_info=True)
        error = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    conn.send((error, time.monotonic() - started))
    conn.close()


def _ended(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        return f"its process was killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"its process ended with exit code {code}"


def run_at_once(
    tasks: list[tuple], at_once: int, done: Callable[[int, float], None], failed: Callable[[int, str], Exception]
) -> None:
    """Run `tasks` ((cfg, beam_args, run_dir, index, count) each), `at_once` at a time;
    `done(index, seconds)` as each ends; on the first failure, stop the others and
    raise `failed(index, first line)`."""
    ctx = multiprocessing.get_context(START_METHOD)
    logs = ctx.Queue()
    listener = logging.handlers.QueueListener(logs, *logging.getLogger().handlers, respect_handler_level=True)
    levels = {name: logging.getLogger(name).level for name in _LEVELS}
    pending, running = list(tasks), {}  # pipe's read end → (index, process)
    listener.start()
    try:
        while pending or running:
            while pending and len(running) < at_once:
                task = pending.pop(0)
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_slice_main, args=(task, writer, logs, levels, os.getpid()), daemon=True)
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # inherited by the process
                try:
                    proc.start()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                writer.close()
                running[reader] = (task[3], proc)
            for reader in wait(list(running)):
                index, proc = running.pop(reader)
                try:
                    error, seconds = reader.recv()
                except EOFError:  # it ended without an answer
                    proc.join()
                    raise failed(index, _ended(proc)) from None
                proc.join()
                if error is not None:
                    raise failed(index, error)
                done(index, seconds)
    finally:
        for _, proc in running.values():
            proc.terminate()
        for _, proc in running.values():
            proc.join()
        listener.stop()
