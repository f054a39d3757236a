"""report.html: one self-contained page (no script, nothing fetched) rendered from
the manifest and profile.json with a Jinja2 template and SVG charts (pipeline/charts.py)
inlined."""

from __future__ import annotations

import re
from typing import Any

from pipeline.charts import bars_svg, histogram_svg, top_svg
from transforms.tables import TABLES


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def _stats(col: dict[str, Any]) -> str:
    parts = [f"nulls {_number(col['nulls'])}", f"distinct {'' if col.get('exact') else '≈'}{_number(col['distinct'])}"]
    for key in ("min", "max", "mean", "p50", "p95"):
        if key in col:
            parts.append(f"{key} {_number(col[key])}")
    return " · ".join(parts)


def _column(table: str, name: str, col: dict[str, Any], rows: int) -> dict[str, Any]:
    spec = next(c for c in TABLES[table].columns if c.name == name)
    svg, no_chart = None, "no values"
    if "histogram" in col:
        svg = histogram_svg(col["histogram"], col["type"])
    elif col.get("top") and col.get("exact") and col["distinct"] == rows:
        no_chart = "every value is distinct"
    elif col.get("top"):
        svg = top_svg(col["top"])
    elif col["type"] == "timestamp" and "min" in col:
        no_chart = f"{col['min']} … {col['max']} (sessions over time: above)"
    return {
        "name": name,
        "type": col["type"],
        "unit": spec.unit,
        "doc": spec.doc,
        "stats": _stats(col),
        "svg": svg,
        "no_chart": no_chart,
    }


def _time_charts(sessions: dict[str, Any]) -> list[dict[str, str]]:
    per_day = sessions.get("sessions_per_day") or {}
    if not per_day:
        return []
    return [
        {
            "wide": True,
            "title": "sessions per day (UTC)",
            "svg": bars_svg(list(per_day), list(per_day.values()), "day", wide=True),
        },
        {
            "title": "sessions per hour of day (UTC)",
            "svg": bars_svg([str(h) for h in range(24)], sessions["sessions_per_hour"], "hour"),
        },
    ]


def _drift_rows(drift: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        {"table": table, "column": column, **d}
        for table, columns in drift["tables"].items()
        for column, d in columns.items()
    ]
    rows.sort(key=lambda d: (not d["flagged"], -(d["psi"] or 0)))
    keys = ("psi", "null_share_change", "mean_change", "p50_change", "p95_change")
    return [{**d, **{k: _signed(d.get(k), k) for k in keys}} for d in rows]


def _signed(value: Any, key: str) -> str:
    if value is None:
        return "—"
    if key == "psi":
        return f"{value:.3f}"
    value = value or 0.0  # no "-0"
    if key == "null_share_change":
        return f"{value + 0.0:+.1%}" if abs(value) >= 0.0005 else "0"
    return f"{value:+,.4g}"


def render(manifest: dict[str, Any], profile: dict[str, Any]) -> str:
    """The page: `manifest` as published (or about to be), `profile` as in profile.json."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=select_autoescape(["html"]))
    tables = [
        {
            "name": name,
            "rows": table["rows"],
            "columns": [_column(name, column, col, table["rows"]) for column, col in table["columns"].items()],
        }
        for name, table in profile["tables"].items()
    ]
    drift = profile.get("drift")
    window = manifest["window"]
    html = env.get_template("report.html").render(
        title=f"Session features {window.get('start')} .. {window.get('end')}",
        window=window,
        source=manifest["source"],
        runner=manifest.get("runner"),
        fmt=manifest.get("format"),
        run_id=manifest.get("run_id"),
        counts=list(manifest["counts"].items()),
        unreadable=manifest["counts"].get("unreadable_records", 0),
        quarantine=profile.get("quarantine_by_reason") or [],
        time_charts=_time_charts(profile["tables"].get("sessions", {})),
        tables=tables,
        drift={**drift, "rows": _drift_rows(drift)} if drift else None,
    )
    return re.sub(r"\n\s*\n", "\n", html)
