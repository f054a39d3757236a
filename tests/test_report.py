"""Two windows of the same sessions, a week apart, where only run costs moved (×100):
drift flags exactly the cost columns; report.html opens offline in a real headless
Chromium; schema.json and the dataset card come from the column definitions."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from bson import ObjectId
from chromium import Page, find_chromium
from dataset_io import TABLE_COLUMNS, read_manifest, run_pipeline, write_dump

from pipeline import charts

DAYS = {"before": "2024-12-02", "after": "2024-12-09"}  # both Mondays: same weekday columns
SESSIONS = 40
ALL = ["--tables", "sessions,runs,tool_calls"]


def agno2_session(day: str, i: int, cost_scale: float) -> dict:
    """Session i of a day; everything but the costs is the same on every day."""
    t0 = dt.datetime.fromisoformat(f"{day}T{i % 24:02d}:{i % 60:02d}:00+00:00").timestamp()
    runs = []
    for k in range(1 + i % 3):
        tools = [
            {
                "tool_name": ("get_weather", "search_web")[(i + j) % 2],
                "tool_call_error": (i + j) % 7 == 0,
                "metrics": {"duration": 0.1 * (1 + (i + j) % 5)},
            }
            for j in range(i % 4)
        ]
        runs.append(
            {
                "run_id": f"{day}-{i}-{k}",
                "session_id": f"{day}-s{i}",
                "status": "ERROR" if (i + k) % 9 == 0 else "COMPLETED",
                "created_at": t0 + 60 * k,
                "model": ("gpt-4o-mini", "gpt-4o")[i % 2],
                "model_provider": "OpenAI",
                "metrics": {
                    "input_tokens": 100 + 37 * ((i * 3 + k) % 20),
                    "output_tokens": 10 + 7 * ((i + k) % 13),
                    "total_tokens": 110 + 37 * ((i * 3 + k) % 20) + 7 * ((i + k) % 13),
                    "duration": 1.0 + 0.25 * ((i + 2 * k) % 17),
                    "cost": cost_scale * (1 + (i * 5 + k) % 23),
                },
                "tools": tools,
            }
        )
    return {
        "_id": ObjectId(),
        "session_id": f"{day}-s{i}",
        "session_type": "agent",
        "agent_id": f"agent-{i % 4}",
        "agent_data": {
            "name": f"Agent {i % 4}",
            "agent_id": f"agent-{i % 4}",
            "model": {"provider": "OpenAI", "id": "gpt-4o-mini"},
        },
        "created_at": t0,
        "updated_at": t0 + 600,
        "runs": runs,
    }


def dataset_of(out: Path, day: str) -> Path:
    """The folder holding the manifest of the window starting on `day`, in whatever
    window layout the output has."""
    for path in out.glob("**/manifest.json"):
        if json.loads(path.read_text())["window"]["start"].startswith(day):
            return path.parent
    raise AssertionError(f"no published window starts on {day}")


@pytest.fixture(scope="module")
def windows(tmp_path_factory) -> Path:
    """The Dec 9 window's dataset, published after the Dec 2 window (with one document
    to quarantine) to the same output location, each window a dataset of its own."""
    base = tmp_path_factory.mktemp("drift")
    docs = [agno2_session(DAYS["before"], i, 0.001) for i in range(SESSIONS)]
    docs += [agno2_session(DAYS["after"], i, 0.1) for i in range(SESSIONS)]
    bad = agno2_session(DAYS["after"], 99, 0.1)
    bad["runs"][0]["metrics"]["input_tokens"] = -5
    write_dump(base / "dump", "agno_sessions", [*docs, bad])
    out = base / "out"
    for day in DAYS.values():
        argv = ["--source", str(base / "dump"), "--start_date", day, "--end_date", day, "--output", str(out), *ALL]
        assert run_pipeline([*argv, "--hive"]) == 0
    return dataset_of(out, DAYS["after"])


def test_drift_flags_the_shifted_columns_only(windows):
    drift = json.loads((windows / "profile.json").read_text())["drift"]
    assert (drift["previous"]["start"], drift["previous"]["end"]) == ("2024-12-02T00:00:00Z", "2024-12-03T00:00:00Z")
    flagged = {(t, c) for t, cols in drift["tables"].items() for c, d in cols.items() if d["flagged"]}
    assert flagged == {("sessions", "cost_sum"), ("runs", "cost")}
    assert drift["flagged"] == 2
    cost = drift["tables"]["runs"]["cost"]
    # every cost is 100× its counterpart: mean and percentiles scale by 100 (Δ = 99×)
    before = [0.001 * (1 + (i * 5 + k) % 23) for i in range(SESSIONS) for k in range(1 + i % 3)]
    assert cost["mean_change"] == pytest.approx(99 * sum(before) / len(before))
    assert cost["psi"] > 5  # all of this window's values lie above the previous max
    same = drift["tables"]["runs"]["input_tokens"]
    assert (same["psi"], same["mean_change"], same["p50_change"], same["null_share_change"]) == (0, 0, 0, 0)
    assert drift["tables"]["sessions"]["session_id"]["psi"] is None  # an id: no PSI


def test_summary_prints_the_flagged_count(tmp_path, windows, caplog):
    # publishing the later window again compares with the same earlier one
    source = read_manifest(windows)["source"]["uri"]
    out = windows.parent
    caplog.set_level(logging.INFO, logger="session_features")
    argv = ["--source", source, "--start_date", DAYS["after"], "--end_date", DAYS["after"], "--output", str(out), *ALL]
    assert run_pipeline([*argv, "--hive"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("drift")]
    assert lines == [
        "drift against the window 2024-12-02T00:00:00Z .. 2024-12-03T00:00:00Z: 2 columns flagged (report.html)"
    ]


def test_report_is_self_contained(windows):
    html = (windows / "report.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\((?!#)", html)  # only references inside the page (SVG clip paths)
    assert read_manifest(windows)["documents"]["report"] == {"path": "report.html"}


def test_report_in_headless_chromium(windows, tmp_path):
    executable = find_chromium()
    if executable is None:
        pytest.skip("no chromium on this machine (run_tests.sh installs Debian's package when apt-get is available)")
    url = (windows / "report.html").resolve().as_uri()
    with Page(executable) as page:
        page.open(url)
        charts = page.evaluate("document.querySelectorAll('.chart svg').length")
        sections = page.evaluate("[...document.querySelectorAll('section[id^=table-]')].map(s => s.id)")
        drawn = page.evaluate("[...document.querySelectorAll('.chart svg')].filter(s => s.getBBox().width > 0).length")
        first_drift = page.evaluate("document.querySelector('#drift tr.flagged code').textContent")
        quarantine = page.evaluate("document.querySelector('#quarantine td').textContent")
        shot = page.screenshot(tmp_path / "report.png")
        requests, errors = page.requests(), page.errors()
    assert requests == [url]  # the page itself, nothing else
    assert errors == []
    assert sections == ["table-sessions", "table-runs", "table-tool_calls"]
    # a chart per numeric or text column with values (ids with only distinct values and
    # timestamps excepted), plus the two time charts
    assert charts == drawn >= 60
    assert first_drift in ("cost_sum", "cost")
    assert "negative" in quarantine or "token" in quarantine
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 50_000


def test_report_command_rebuilds_the_page(windows, capsys):
    before = (windows / "report.html").read_text()
    (windows / "report.html").unlink()
    assert run_pipeline(["report", str(windows)]) == 0
    assert (windows / "report.html").read_text() == before
    assert run_pipeline(["report", str(windows / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("session-features: cannot rebuild the report at ")


def test_schema_and_card(windows):
    manifest = read_manifest(windows)
    schema = json.loads((windows / "schema.json").read_text())
    assert {n: [c["name"] for c in t["columns"]] for n, t in schema["tables"].items()} == TABLE_COLUMNS
    runs = {c["name"]: c for c in schema["tables"]["runs"]["columns"]}
    assert runs["duration_s"] == {
        "name": "duration_s",
        "type": "float",
        "unit": "seconds",
        "definition": "the run's duration; null when unknown",
    }
    assert runs["input_tokens"]["unit"] == "tokens" and runs["run_seq"]["unit"] is None
    card = (windows / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in front["configs"]] == ["sessions", "runs", "tool_calls"]
    assert front["configs"][1]["data_files"] == [{"split": "train", "path": f"{manifest['run_id']}/runs/*.csv"}]
    features = {i["config_name"]: i["features"] for i in front["dataset_info"]}
    assert features["tool_calls"] == [
        {"name": "session_id", "dtype": "string"},
        {"name": "run_seq", "dtype": "int64"},
        {"name": "call_index", "dtype": "int64"},
        {"name": "tool_name", "dtype": "string"},
        {"name": "error", "dtype": "bool"},
        {"name": "duration_s", "dtype": "float64"},
    ]
    rows = {i["config_name"]: i["splits"][0]["num_examples"] for i in front["dataset_info"]}
    assert rows["sessions"] == SESSIONS and rows["runs"] == sum(1 + i % 3 for i in range(SESSIONS))
    assert "[2024-12-09T00:00:00Z, 2024-12-10T00:00:00Z)" in card
    for loader in ("import pandas as pd", "import polars as pl", "read_csv_auto("):
        assert loader in card
    docs = manifest["documents"]
    assert {k: v["path"] for k, v in docs.items()} == {
        "schema": "schema.json",
        "profile": "profile.json",
        "report": "report.html",
        "card": "README.md",
    }


SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[dict]:
    """The bars of a chart: their geometry and tooltip."""
    root = ET.fromstring(svg)
    return [
        {**{k: float(r.get(k)) for k in ("x", "y", "width", "height")}, "tip": r.find(f"{SVG}title").text}
        for r in root.iter(f"{SVG}rect")
    ]


def _texts(svg: str) -> list[str]:
    return [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_histogram_bars_are_as_high_as_their_counts():
    svg = charts.histogram_svg({"edges": [0.0, 1.0, 2.0, 3.0, 4.0], "counts": [10, 0, 5, 20]}, "float")
    root = ET.fromstring(svg)
    # 4.2 × 1.7 in at 72 units an inch, as the matplotlib figures were
    assert (root.get("viewBox"), root.get("width")) == ("0 0 302.4 122.4", "302.4pt")
    bars = _bars(svg)
    assert [b["tip"] for b in bars] == ["[0, 1): 10", "[2, 3): 5", "[3, 4): 20"]  # no bar for an empty bin
    # plot area: x 39.312 .. 293.328 (13 % .. 97 %), y 6.12 .. 97.92 (5 % .. 80 % from the top);
    # counts 0 .. 21 (5 % above the largest): 91.8 / 21 units a count, 63.504 units a bin
    assert [b["height"] for b in bars] == pytest.approx([43.71, 21.86, 87.43], abs=0.01)
    assert [b["y"] + b["height"] for b in bars] == pytest.approx([97.92] * 3, abs=0.01)  # on the x axis
    assert [b["x"] for b in bars] == pytest.approx([39.31, 166.32, 229.82], abs=0.01)
    assert [b["width"] for b in bars] == pytest.approx([63.50] * 3, abs=0.01)
    assert _texts(svg) == ["0", "1", "2", "3", "4", "0", "10", "20"]  # x ticks, then count ticks


def test_histogram_of_whole_numbers_labels_the_numbers():
    edges = [k - 0.5 for k in range(6)]  # a bin per number 0 .. 4
    svg = charts.histogram_svg({"edges": edges, "counts": [1, 4, 2, 0, 1]}, "int")
    assert _texts(svg)[:5] == ["0", "1", "2", "3", "4"]
    assert [b["tip"] for b in _bars(svg)] == ["[-0.5, 0.5): 1", "[0.5, 1.5): 4", "[1.5, 2.5): 2", "[3.5, 4.5): 1"]


def test_top_values_bars_and_escaped_labels():
    long = "x" * 40
    svg = charts.top_svg([["agent", 8000], ["<b>&co", 2000], [long, 400], [True, 200]])
    assert "&lt;b&gt;&amp;co" in svg and "<b>" not in svg
    bars = _bars(svg)
    assert [b["tip"] for b in bars] == ["agent: 8,000", "<b>&co: 2,000", "x" * 27 + "…: 400", "true: 200"]
    # counts 0 .. 8400 over 127.008 .. 293.328 (42 % .. 97 % of 302.4): widths ∝ counts
    assert [b["width"] for b in bars] == pytest.approx([158.4, 39.6, 7.92, 3.96], abs=0.01)
    assert [b["x"] for b in bars] == pytest.approx([127.01] * 4, abs=0.01)  # from the y axis
    assert [b["y"] for b in bars] == sorted(b["y"] for b in bars)  # the most frequent at the top
    assert _texts(svg) == ["agent", "<b>&co", "x" * 27 + "…", "true", "0", "2000", "4000", "6000", "8000"]


def test_bars_label_every_other_hour():
    values = [h * 10 for h in range(24)]
    svg = charts.bars_svg([str(h) for h in range(24)], values, "hour")
    bars = _bars(svg)
    assert len(bars) == 23 and bars[0]["tip"] == "1: 10" and bars[-1]["tip"] == "23: 230"
    # 2.2 in high: plot area 7.92 .. 123.552 (5 % .. 78 % from the top), counts 0 .. 241.5
    assert [b["height"] for b in bars] == pytest.approx([10 * h * 115.632 / 241.5 for h in range(1, 24)], abs=0.01)
    texts = _texts(svg)
    assert texts[:12] == [str(h) for h in range(0, 24, 2)] and texts[-1] == "hour"
    assert texts[12:-1] == ["0", "100", "200"]  # 241.5 / 4 ticks: steps of 100, not 50 (5 steps)


def test_nice_ticks_and_their_labels():
    assert charts.nice_ticks(0, 0.37, 5) == [0.0, 0.1, 0.2, 0.3]
    assert charts.nice_ticks(-3, 7, 4) == [-2.5, 0.0, 2.5, 5.0]
    assert charts.nice_ticks(0, 3.15, 4, integer=True) == [0, 1, 2, 3]
    assert [charts.tick_label(t, 0.1) for t in (0.0, 0.1, 0.3)] == ["0.0", "0.1", "0.3"]
    assert [charts.tick_label(t, 2.5) for t in (-2.5, 5.0)] == ["-2.5", "5.0"]
    assert charts.tick_label(2_500_000, 500_000) == "2.5e+06"


def test_report_charts_show_the_profiles_counts(windows):
    profile = json.loads((windows / "profile.json").read_text())
    html = (windows / "report.html").read_text()
    hours = html.split("sessions per hour of day (UTC)", 1)[1].split("</svg>", 1)[0] + "</svg>"
    svg = hours[hours.index("<svg") :]
    per_hour = profile["tables"]["sessions"]["sessions_per_hour"]
    assert [b["tip"] for b in _bars(svg)] == [f"{h}: {n:,}" for h, n in enumerate(per_hour) if n]
