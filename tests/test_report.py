"""Two windows of the same sessions, a week apart, where only run costs moved (×100):
drift flags exactly the cost columns; report.html opens offline in a real headless
Chromium; schema.json and the dataset card come from the column definitions."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from bson import ObjectId
from chromium import Page, find_chromium
from dataset_io import TABLE_COLUMNS, read_manifest, run_pipeline, write_dump

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
