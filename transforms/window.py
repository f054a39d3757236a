"""The half-open date window `[start, end)` a run reads (FEATURES.md §3)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from transforms.timestamps import EPOCH, BadTimestamp, format_ts, is_bare_date, parse_iso, to_epoch


class Window(NamedTuple):
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive

    def contains(self, epoch: float | None) -> bool:
        return epoch is not None and self.start <= epoch < self.end

    def describe(self) -> dict[str, str]:
        return {"start": format_ts(self.start), "end": format_ts(self.end)}

    def split(self, parts: int) -> list[Window]:
        """Equal sub-ranges covering the window exactly (the last ends at `end`)."""
        parts = max(1, parts)
        step = (self.end - self.start) / parts
        edges = [self.start + round(i * step) for i in range(parts)] + [self.end]
        return [Window(a, b) for a, b in zip(edges, edges[1:]) if b > a]


class WindowError(ValueError):
    """A user-supplied window that cannot be used; the message is one sentence."""


def _bound(text: str, name: str, is_end: bool) -> float:
    try:
        moment = parse_iso(text)
    except BadTimestamp:
        raise WindowError(f"--{name} {text!r} is not a date (YYYY-MM-DD) or an ISO-8601 date-time") from None
    if is_end and is_bare_date(text):
        moment += dt.timedelta(days=1)  # a bare end date is a whole, inclusive day
    return (moment - EPOCH).total_seconds()


def parse_window(start: str | None, end: str | None) -> Window:
    """Bare dates are whole UTC days with both ends inclusive; date-times are instants."""
    if not start or not end:
        missing = "--start_date" if not start else "--end_date"
        raise WindowError(f"{missing} is required (or set START_DATE / END_DATE)")
    window = Window(_bound(start, "start_date", False), _bound(end, "end_date", True))
    if window.start >= window.end:
        raise WindowError(f"--start_date {start} is not before --end_date {end}")
    return window


def considered(created_at: object, window: Window) -> bool:
    """Whether a document is one the window considers (FEATURES.md §3): its
    `created_at` is in the window, or it has none; an unreadable one is in no window."""
    if created_at is None:
        return True
    try:
        return window.contains(to_epoch(created_at))
    except BadTimestamp:
        return False
