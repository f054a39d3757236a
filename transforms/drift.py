"""Drift of a window against the previous one, per table and column, from the two
profiles (and this window's sketches, which place its values into the previous
window's histogram bins).

Per column: the change (this − previous) of the null share, mean, p50 and p95, and
for numbers and strings a population stability index,

    PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ)

over the previous window's bins (eᵢ: its shares, aᵢ: this window's shares in the
same bins; values beyond the previous min or max get a bin of their own on each
side; shares below PSI_FLOOR count as PSI_FLOOR so an empty bin is finite). Strings
and booleans use the previous window's top values as bins, plus one bin for every
other value, when those top values cover at least CATEGORICAL_SHARE of its rows (a
categorical column; near-unique strings get no PSI), and never for the columns that
name a session or run (transforms/tables.py IDENTIFIERS). Timestamps get none: a
later window holds later times by construction.

A column is flagged when PSI ≥ PSI_THRESHOLD (0.2: the usual "significant shift";
below 0.1 is usually read as no change) or its null share moved by at least
NULL_SHARE_THRESHOLD (0.1, i.e. ten percentage points).
"""

from __future__ import annotations

import math
from typing import Any

from transforms.profile import NUMERIC, _distribution, bin_counts
from transforms.tables import IDENTIFIERS

PSI_THRESHOLD = 0.2
NULL_SHARE_THRESHOLD = 0.1
PSI_FLOOR = 1e-4
CATEGORICAL_SHARE = 0.5


def psi(expected: list[float], actual: list[float]) -> float | None:
    """PSI of two count vectors over the same bins; None when either is empty."""
    n_e, n_a = sum(expected), sum(actual)
    if n_e == 0 or n_a == 0:
        return None
    total = 0.0
    for e, a in zip(expected, actual):
        e_share, a_share = max(e / n_e, PSI_FLOOR), max(a / n_a, PSI_FLOOR)
        total += (a_share - e_share) * math.log(a_share / e_share)
    return total


def _numeric_bins(previous: dict[str, Any], sketch: dict[str, Any]) -> tuple[list[float], list[float]] | None:
    hist = previous.get("histogram")
    if not hist or sketch["n"] == 0:
        return None
    edges = hist["edges"]
    items = _distribution(sketch)
    below = sum(c for v, c in items if v < edges[0])
    above = sum(c for v, c in items if v > edges[-1])
    return [0, *hist["counts"], 0], [below, *bin_counts(items, edges), above]


def _string_bins(previous: dict[str, Any], prev_rows: int, sketch: dict[str, Any]) -> tuple[list, list] | None:
    top = previous.get("top")
    if not top or sketch["n"] == 0:
        return None
    counts = sketch["exact"] if sketch["exact"] is not None else sketch["mg"]
    prev_n = prev_rows - previous["nulls"]
    expected = [c for _, c in top]
    if sum(expected) < CATEGORICAL_SHARE * prev_n:
        return None
    actual = [counts.get(v, 0) for v, _ in top]
    return [*expected, max(prev_n - sum(expected), 0)], [*actual, max(sketch["n"] - sum(actual), 0)]


def _change(now: Any, before: Any) -> float | None:
    if isinstance(now, (int, float)) and isinstance(before, (int, float)):
        return now - before
    return None


def column_drift(
    name: str, now: dict[str, Any], before: dict[str, Any], rows: int, prev_rows: int, sketch: dict[str, Any]
) -> dict[str, Any]:
    kind = now["type"]
    null_share = now["nulls"] / rows if rows else None
    prev_null_share = before["nulls"] / prev_rows if prev_rows else None
    out: dict[str, Any] = {"type": kind, "null_share_change": _change(null_share, prev_null_share)}
    if kind in NUMERIC and kind != "timestamp":
        for key in ("mean", "p50", "p95"):
            out[f"{key}_change"] = _change(now.get(key), before.get(key))
        bins = _numeric_bins(before, sketch)
    elif kind in NUMERIC or name in IDENTIFIERS:
        bins = None
    else:
        bins = _string_bins(before, prev_rows, sketch)
    out["psi"] = psi(*bins) if bins else None
    reasons = []
    if out["psi"] is not None and out["psi"] >= PSI_THRESHOLD:
        reasons.append(f"PSI {out['psi']:.2f} ≥ {PSI_THRESHOLD}")
    if out["null_share_change"] is not None and abs(out["null_share_change"]) >= NULL_SHARE_THRESHOLD:
        reasons.append(f"null share {out['null_share_change']:+.0%}")
    out["flagged"] = bool(reasons)
    out["reasons"] = reasons
    return out


def compare(
    profile: dict[str, Any], sketches: dict[str, dict[str, Any]], previous: dict[str, Any], about: dict[str, Any]
) -> dict[str, Any]:
    """The drift section: `previous` is the previous window's profile, `about` says
    which window it is; `sketches` are this window's merged sketches per table."""
    tables: dict[str, Any] = {}
    for name, table in profile["tables"].items():
        before = previous.get("tables", {}).get(name)
        if before is None:
            continue
        tables[name] = {
            column: column_drift(
                column, now, before["columns"][column], table["rows"], before["rows"], sketches[name]["columns"][column]
            )
            for column, now in table["columns"].items()
            if column in before["columns"] and before["columns"][column].get("type") == now["type"]
        }
    flagged = sum(d["flagged"] for cols in tables.values() for d in cols.values())
    return {
        "previous": about,
        "thresholds": {"psi": PSI_THRESHOLD, "null_share_change": NULL_SHARE_THRESHOLD},
        "flagged": flagged,
        "tables": tables,
    }
