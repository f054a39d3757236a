"""A session's feature row: family outputs joined with session facts, and its CSV form."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from transforms.columns import COLUMN_NAMES, COLUMNS
from transforms.encodable import text_problem
from transforms.metrics import ratio
from transforms.records import SessionInfo
from transforms.timestamps import MAX_EPOCH, MIN_EPOCH, from_epoch

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


_EMPTY_ROW = dict.fromkeys(COLUMN_NAMES)


def assemble_row(info: SessionInfo, families: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """One row, the columns in order: the families give every column but the session's facts."""
    values = _EMPTY_ROW.copy()  # the keys in column order, the table sized once
    for family in families:
        values.update(family)
    primary = values.pop("primary_model")
    provider, model_id = primary if primary is not None else (info.model_provider, info.model_id)
    start = from_epoch(info.session_start)
    weekday = start.weekday()
    values.update(
        session_id=info.session_id,
        session_type=info.session_type,
        source_format=info.source_format,
        agent_id=info.agent_id,
        agent_name=info.agent_name,
        model_provider=provider,
        model_id=model_id,
        output_tokens_per_s=ratio(values["output_tokens_sum"], values["duration_sum_s"]),
        has_failure=values["error_runs"] > 0 or values["tool_errors_sum"] > 0,
        session_start=info.session_start,
        start_hour_utc=start.hour,
        start_weekday=weekday,
        is_weekend=weekday >= 5,
    )
    if len(values) != len(COLUMN_NAMES):  # keys that are no column: the row leaves them out
        return {name: values[name] for name in COLUMN_NAMES}
    return values


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float64
        return False


def _value_problem(value: Any, kind: str) -> str | None:
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return "is not an integer"
        return None if INT64_MIN <= value <= INT64_MAX else "does not fit int64"
    if kind == "float":
        return None if _is_number(value) and _finite(value) else "is not a finite float64"
    if kind == "timestamp":
        ok = _is_number(value) and _finite(value) and MIN_EPOCH < value < MAX_EPOCH
        return None if ok else "is not a timestamp between 1970-01-01 and 2200-01-01"
    if kind == "bool":
        return None if isinstance(value, bool) else "is not a boolean"
    if not isinstance(value, str):
        return "is not a string"
    return text_problem(value)


# The common case at a glance, one test per column type; `_value_problem` says why not.
_OK = {
    "int": lambda v: type(v) is int and INT64_MIN <= v <= INT64_MAX,
    "float": lambda v: type(v) is float and v - v == 0.0,  # finite: inf - inf and nan - nan are nan
    "timestamp": lambda v: type(v) is float and MIN_EPOCH < v < MAX_EPOCH,
    "bool": lambda v: type(v) is bool,
    "string": lambda v: type(v) is str and (v.isascii() or text_problem(v) is None),
}
_CHECKS = tuple((c.name, c.type, _OK[c.type]) for c in COLUMNS)


def row_problem(row: dict[str, Any]) -> str | None:
    """Why a value of `row` cannot be written in its column's type, or None (FEATURES.md §5, §6)."""
    for name, kind, ok in _CHECKS:
        value = row[name]
        if value is not None and not ok(value):
            why = _value_problem(value, kind)
            if why is not None:
                shown = ascii(value)
                return f"{name}={shown if len(shown) <= 40 else shown[:37] + '...'} {why}"
    return None


def _string_field(value: Any) -> str:
    field = str(value)
    if "," in field or '"' in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


def _timestamp_field(epoch: float) -> str:
    # format_ts(epoch) (strftime does not pad years below 1000), without strftime's cost;
    # naive, as an aware datetime's isoformat spends as long again on its offset
    try:
        v = _NAIVE_EPOCH + dt.timedelta(microseconds=round(epoch * 1_000_000))
    except (OverflowError, ValueError):  # no datetime holds it: from_epoch says so
        v = from_epoch(epoch)
    if v.year >= 1000:
        return v.isoformat() + "Z"
    text = f"{v.year}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if v.microsecond:
        text += f".{v.microsecond:06d}"
    return text + "Z"


# The CSV form of a non-null value (FEATURES.md §6), one function per column type:
# only strings can hold a comma, a quote or a line break. RFC 4180 quoting, CR
# included (csv.writer leaves a bare CR unquoted unless it ends its lines with one).
# The one CSV formatter: measured 1.4x faster than csv.writer over per-value strings
# (docs/benchmarks.md), so kept.
_FIELD = {
    "string": _string_field,
    "int": lambda v: str(int(v)),
    "float": lambda v: repr(float(v)),  # shortest round-trip form
    "bool": lambda v: "true" if v else "false",
    "timestamp": _timestamp_field,
}


class CsvLine:
    """A row of a table's columns (transforms/tables.py) as one CSV line, without its
    line end; `header` is the header line."""

    def __init__(self, columns):
        self.line = tuple((c.name, _FIELD[c.type]) for c in columns)
        self.header = ",".join(c.name for c in columns)

    def __call__(self, row: dict[str, Any]) -> str:
        return ",".join("" if (v := row[name]) is None else field(v) for name, field in self.line)


to_csv_line = CsvLine(COLUMNS)  # the session table's


def csv_header() -> str:
    return to_csv_line.header
