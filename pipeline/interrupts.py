"""SIGTERM and SIGINT as an exception in the launcher's main thread, so a stopped run
removes its folder and ends with one line (pipeline/main.py); held back while the
manifest is written, so a run is published whole or not at all."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """Raised by SIGTERM/SIGINT (a BaseException: `except Exception` does not swallow it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name


_held: list[int] | None = None  # signals that arrived while held back, or None: raise at once


def _handler(signum: int, frame: object) -> None:
    if _held is not None:
        _held.append(signum)
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def raised() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise Interrupted (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def held() -> Iterator[list[int]]:
    """Within the block, signals are recorded (in the list yielded), not raised."""
    global _held
    outer, _held = _held, []
    try:
        yield _held
    finally:
        arrived, _held = _held, outer
        if outer is not None:
            outer.extend(arrived)
