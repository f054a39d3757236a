"""A session's feature row: family outputs joined with session facts, and its CSV form."""

from __future__ import annotations

from typing import Any

from transforms.columns import COLUMN_NAMES, COLUMNS
from transforms.metrics import ratio
from transforms.records import SessionInfo
from transforms.timestamps import format_ts, from_epoch


def assemble_row(info: SessionInfo, families: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """One row, the columns in order."""
    values: dict[str, Any] = {}
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
    return {name: values[name] for name in COLUMN_NAMES}


_TYPES = {c.name: c.type for c in COLUMNS}


def csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "timestamp":
        return format_ts(value)
    if kind == "float":
        return repr(float(value))  # shortest round-trip form
    if kind == "int":
        return str(int(value))
    return str(value)


def csv_header() -> str:
    return ",".join(COLUMN_NAMES)


def _quote(field: str) -> str:
    # RFC 4180: quote fields holding a comma, a quote or a line break (CR too,
    # which the csv module leaves bare)
    if any(ch in field for ch in ',"\r\n'):
        return '"' + field.replace('"', '""') + '"'
    return field


def _string_field(value: Any) -> str:
    field = str(value)
    if "," in field or '"' in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def _timestamp_field(epoch: float) -> str:
    # format_ts(epoch) (strftime does not pad years below 1000), without strftime's cost
    v = from_epoch(epoch)
    text = f"{v.year}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if v.microsecond:
        text += f".{v.microsecond:06d}"
    return text + "Z"


# What `_quote(csv_value(value, kind))` gives for a non-null value, one function per
# column type: only strings can hold a comma, a quote or a line break.
_FIELD = {
    "string": _string_field,
    "int": lambda v: str(int(v)),
    "float": lambda v: repr(float(v)),
    "bool": lambda v: "true" if v else "false",
    "timestamp": _timestamp_field,
}
_LINE = tuple((name, _FIELD[_TYPES[name]]) for name in COLUMN_NAMES)


def to_csv_line(row: dict[str, Any]) -> str:
    return ",".join("" if (v := row[name]) is None else field(v) for name, field in _LINE)


class CsvLine:
    """`to_csv_line` for any table's columns (transforms/tables.py)."""

    def __init__(self, columns):
        self.line = tuple((c.name, _FIELD[c.type]) for c in columns)
        self.header = ",".join(c.name for c in columns)

    def __call__(self, row: dict[str, Any]) -> str:
        return ",".join("" if (v := row[name]) is None else field(v) for name, field in self.line)
