"""Timestamps as Agno and its users store them, turned into UTC epoch seconds."""

from __future__ import annotations

import datetime as dt
import math
import re

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MS_THRESHOLD = 1e11  # a number above this is epoch milliseconds (FEATURES.md §1)
# Readable timestamps lie strictly between these (FEATURES.md §5): 1970-01-01 and 2200-01-01 UTC.
MIN_EPOCH = 0.0
MAX_EPOCH = 7258118400.0


class BadTimestamp(ValueError):
    """A value that is present but is no accepted timestamp."""


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_iso(text: str) -> dt.datetime:
    """An ISO-8601 date or date-time; naive values are UTC."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(s)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # an offset can push year 1 or 9999 out of range
        raise BadTimestamp(f"not an ISO-8601 timestamp: {text!r}") from exc


def in_range(epoch: float) -> bool:
    """Whether `epoch` is a readable moment (FEATURES.md §5)."""
    return MIN_EPOCH < epoch < MAX_EPOCH


def _checked(epoch: float, value: object) -> float:
    if not in_range(epoch):
        raise BadTimestamp(f"outside 1970-01-01..2200-01-01: {value!r}")
    return epoch


def to_epoch(value: object) -> float | None:
    """Epoch seconds for an accepted timestamp, None for a missing one.

    Accepts int/float epoch seconds, epoch milliseconds (above 10^11), BSON dates
    (datetime) and ISO-8601 strings strictly between 1970-01-01 and 2200-01-01 UTC;
    raises BadTimestamp for anything else.
    """
    if type(value) in (int, float) and MIN_EPOCH < value < MAX_EPOCH:  # epoch seconds: the common case
        return float(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadTimestamp(f"a boolean is not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        try:
            x = float(value)
        except OverflowError:  # an int beyond float range
            raise BadTimestamp(f"not a valid epoch timestamp: {value!r}") from None
        if not math.isfinite(x) or x < 0:
            raise BadTimestamp(f"not a valid epoch timestamp: {value!r}")
        return _checked(x / 1000.0 if x > MS_THRESHOLD else x, value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return _checked((value - EPOCH).total_seconds(), value)
        except OverflowError:  # an aware datetime whose offset leaves datetime's range
            raise BadTimestamp(f"not a valid timestamp: {value!r}") from None
    if isinstance(value, str):
        return _checked((parse_iso(value) - EPOCH).total_seconds(), value)
    raise BadTimestamp(f"unsupported timestamp type {type(value).__name__}")


def format_ts(epoch: float | None) -> str:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (FEATURES.md §6)."""
    if epoch is None:
        return ""
    value = from_epoch(epoch)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def from_epoch(epoch: float) -> dt.datetime:
    """The UTC datetime; BadTimestamp (not OverflowError) for a value no datetime holds."""
    try:
        return EPOCH + dt.timedelta(microseconds=round(epoch * 1_000_000))
    except (OverflowError, ValueError):  # beyond year 1..9999, or NaN/Inf
        raise BadTimestamp(f"no date for epoch {epoch!r}") from None


def is_bare_date(text: str) -> bool:
    return bool(_ISO_DATE.match(text.strip()))
