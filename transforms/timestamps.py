"""Timestamps as Agno and its users store them, turned into UTC epoch seconds."""

from __future__ import annotations

import datetime as dt
import math
import re

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MS_THRESHOLD = 1e11  # a number above this is epoch milliseconds (FEATURES.md §1)


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
    except ValueError as exc:
        raise BadTimestamp(f"not an ISO-8601 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_epoch(value: object) -> float | None:
    """Epoch seconds for an accepted timestamp, None for a missing one.

    Accepts int/float epoch seconds, epoch milliseconds (above 10^11), BSON dates
    (datetime) and ISO-8601 strings; raises BadTimestamp for anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadTimestamp(f"a boolean is not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        x = float(value)
        if not math.isfinite(x) or x < 0:
            raise BadTimestamp(f"not a valid epoch timestamp: {value!r}")
        return x / 1000.0 if x > MS_THRESHOLD else x
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - EPOCH).total_seconds()
    if isinstance(value, str):
        return (parse_iso(value) - EPOCH).total_seconds()
    raise BadTimestamp(f"unsupported timestamp type {type(value).__name__}")


def format_ts(epoch: float | None) -> str:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (FEATURES.md §6)."""
    if epoch is None:
        return ""
    value = EPOCH + dt.timedelta(microseconds=round(epoch * 1_000_000))
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def from_epoch(epoch: float) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=round(epoch * 1_000_000))


def is_bare_date(text: str) -> bool:
    return bool(_ISO_DATE.match(text.strip()))
