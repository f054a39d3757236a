"""The half-open date window `[start, end)` a run reads (FEATURES.md §3)."""

from __future__ import annotations

import datetime as dt
import re
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


# `YYYY-MM-DD`, or an ISO-8601 date-time in extended form (`-` and `:` separators):
# `20241231` or `2024-W01-1`, which Python would also read, are more likely slips.
_DATE_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)
# Timestamps are readable from 1970-01-01 up to 2200-01-01 (FEATURES.md §5): so are window bounds.
FIRST, LAST = EPOCH, dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def parse_bound(text: str, name: str, is_end: bool) -> float:
    """One bound in epoch seconds; a bare end date is its whole day (inclusive).
    `name` (`--start_date`, …) starts the one-sentence WindowError."""
    s = text.strip()
    try:
        if not _DATE_TEXT.fullmatch(s):
            raise BadTimestamp(s)
        moment = parse_iso(s)
    except BadTimestamp:
        raise WindowError(
            f"{name} {text!r} is not a date (YYYY-MM-DD) or an ISO-8601 date-time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])"
        ) from None
    if not FIRST <= moment < LAST:
        raise WindowError(f"{name} {text!r} is outside 1970-01-01 .. 2199-12-31, the dates a timestamp can have")
    if is_end and is_bare_date(s):
        moment += dt.timedelta(days=1)  # a bare end date is a whole, inclusive day
    return (moment - EPOCH).total_seconds()


def parse_window(start: str | None, end: str | None, names: tuple[str, str] = ("--start_date", "--end_date")) -> Window:
    """Bare dates are whole UTC days with both ends inclusive; date-times are instants."""
    if not start or not end:
        missing = names[0] if not start else names[1]
        raise WindowError(f"{missing} is required (or set START_DATE / END_DATE)")
    window = Window(parse_bound(start, names[0], False), parse_bound(end, names[1], True))
    if window.start >= window.end:
        raise WindowError(f"{names[0]} {start} is not before {names[1]} {end}")
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
