"""Two sets of feature rows, keyed by session_id, compared cell by cell as the CSV
writes them; the float columns that are sums of floats (and what is computed from
them) to 1e-9 relative, because the order of addition is not part of the contract."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

FLOAT_SUMS = frozenset(
    {
        "cost_sum",
        "duration_sum_s",
        "duration_avg_s",
        "ttft_avg_s",
        "output_tokens_per_s",
        "tool_duration_sum_s",
        "tool_duration_avg_s",
        "active_span_s",
        "inter_run_gap_avg_s",
    }
)


def same(column: str, a: str, b: str) -> bool:
    if a == b:
        return True
    return column in FLOAT_SUMS and bool(a) and bool(b) and math.isclose(float(a), float(b), rel_tol=1e-9)


def read_rows(paths: Iterable[Path]) -> dict[str, dict[str, str]]:
    """The rows of CSV files (each with its header), keyed by session_id."""
    rows: dict[str, dict[str, str]] = {}
    for path in paths:
        with open(path, encoding="utf-8", newline="") as handle:
            records = csv.reader(handle)
            header = next(records)
            for record in records:
                rows[record[0]] = dict(zip(header, record, strict=True))
    return rows


def differences(a: dict[str, dict[str, str]], b: dict[str, dict[str, str]]) -> list[tuple]:
    """(session_id, column, a's cell, b's cell) for each cell that differs; a row only
    one side has shows as (session_id, None, …)."""
    out: list[tuple] = [(sid, None, "row", None) for sid in sorted(set(a) - set(b))]
    out += [(sid, None, None, "row") for sid in sorted(set(b) - set(a))]
    for sid in sorted(set(a) & set(b)):
        out += [(sid, c, a[sid][c], b[sid].get(c)) for c in a[sid] if not same(c, a[sid][c], b[sid].get(c, ""))]
    return out
