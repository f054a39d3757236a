"""Delivery on a local disk: Parquet equals CSV, each window its own Hive-style dataset
folder, --since_last, and cleanup of what a killed run leaves behind."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_io import COLUMNS, DOCUMENTS, dataset_dir, read_dataset, read_manifest, run_pipeline

SIM = "simulated://?sessions=80&seed=21&formats=agno3,agno2,agno1,phidata&bad_rate=0.05"
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
TYPES = {
    **dict.fromkeys(["session_id", "session_type", "source_format", "agent_id", "agent_name"], "string"),
    **dict.fromkeys(["model_provider", "model_id", "top_tool"], "string"),
    **dict.fromkeys(["has_failure", "is_weekend"], "bool"),
    **dict.fromkeys(["session_start", "first_run_at", "last_run_end"], "timestamp"),
}
INTS = {
    "distinct_models", "total_runs", "member_runs", "input_tokens_sum", "output_tokens_sum", "total_tokens_sum",
    "cache_read_tokens_sum", "reasoning_tokens_sum", "output_tokens_max", "total_tokens_max", "tool_calls_sum",
    "tool_calls_max", "distinct_tools", "tool_errors_sum", "error_runs", "cancelled_runs", "incomplete_runs",
    "first_error_index", "max_consecutive_errors", "start_hour_utc", "start_weekday",
}  # fmt: skip


def csv_typed(column: str, text: str):
    """A CSV field read the way FEATURES.md §6 writes it."""
    if text == "" and column not in ("agent_name",):
        return None
    kind = TYPES.get(column, "int" if column in INTS else "float")
    if kind == "bool":
        return {"true": True, "false": False}[text]
    if kind == "timestamp":
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def test_parquet_holds_the_same_values_as_csv(tmp_path):
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path / "csv")]) == 0
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path / "pq"), "--format", "parquet"]) == 0
    expected = {
        sid: {c: csv_typed(c, v) for c, v in row.items()} for sid, row in read_dataset(tmp_path / "csv").items()
    }
    manifest = read_manifest(tmp_path / "pq")
    tables = [pq.read_table(dataset_dir(tmp_path / "pq") / f["path"]) for f in manifest["files"]]
    assert [f.name for f in tables[0].schema] == COLUMNS
    types = {f.name: str(f.type) for f in tables[0].schema}
    assert types["session_start"] == "timestamp[us, tz=UTC]" and types["total_runs"] == "int64"
    assert types["has_failure"] == "bool" and types["cost_sum"] == "double" and types["top_tool"] == "string"
    got = {r["session_id"]: r for t in tables for r in t.to_pylist()}
    assert sum(t.num_rows for t in tables) == manifest["counts"]["rows_written"] == len(expected)
    assert got == expected


def test_each_window_is_its_own_dataset_folder_with_or_without_hive(tmp_path):
    out = tmp_path / "out"
    assert run_pipeline(["--source", SIM, "--start_date", "2024-12-01", "--end_date", "2024-12-07", "--output",
                         str(out), "--hive"]) == 0  # fmt: skip
    assert run_pipeline(["--source", SIM, "--start_date", "2024-12-08T06:00:00Z", "--end_date", "2024-12-09",
                         "--output", str(out)]) == 0  # fmt: skip
    # the same start, another end: another dataset
    assert run_pipeline(["--source", SIM, "--start_date", "2024-12-01", "--end_date", "2024-12-31", "--output",
                         str(out)]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["window_start=2024-12-01", "window_start=2024-12-08T060000Z"]
    assert sorted(p.name for p in (out / "window_start=2024-12-01").iterdir()) == [
        "window_end=2024-12-08",  # --end_date 2024-12-07 is a whole day: the window ends 2024-12-08 00:00
        "window_end=2025-01-01",
    ]
    part = out / "window_start=2024-12-01" / "window_end=2024-12-08"
    manifest = read_manifest(part)
    assert manifest["partition"] == {"window_start": "2024-12-01", "window_end": "2024-12-08"}
    assert manifest["data_location"] == str(part / manifest["run_id"] / "data") + "/"
    assert [p.name for p in (part / manifest["run_id"] / "data").iterdir()] == ["features-00000-of-00001.csv"]
    late = read_manifest(out / "window_start=2024-12-08T060000Z" / "window_end=2024-12-10")
    assert late["partition"] == {"window_start": "2024-12-08T060000Z", "window_end": "2024-12-10"}
    # every window's dataset stays whole
    for folder in (part, out / "window_start=2024-12-01" / "window_end=2025-01-01"):
        rows = read_dataset(folder)
        assert len(rows) == read_manifest(folder)["counts"]["rows_written"] > 0


def test_since_last_continues_where_the_last_window_ended(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="session_features")
    out = str(tmp_path / "out")
    # first run: no published window yet, so --start_date is needed
    assert run_pipeline(["--source", SIM, "--since_last", "--output", out, "--end_date", "2024-12-10"]) == 2
    assert run_pipeline(["--source", SIM, "--since_last", "--output", out, *DATES[:2], "--end_date", "2024-12-10"]) == 0
    # the next run starts at 2024-12-11 00:00 by itself
    assert run_pipeline(["--source", SIM, "--since_last", "--output", out, "--end_date", "2024-12-20"]) == 0
    second = read_manifest(Path(out) / "window_start=2024-12-11" / "window_end=2024-12-21")["window"]
    assert (second["start"], second["end"]) == ("2024-12-11T00:00:00Z", "2024-12-21T00:00:00Z")
    # nothing new: exit 0, nothing written
    assert run_pipeline(["--source", SIM, "--since_last", "--output", out, "--end_date", "2024-12-20"]) == 0
    assert "up to date" in caplog.text
    assert sorted(p.name for p in Path(out).iterdir()) == ["window_start=2024-12-01", "window_start=2024-12-11"]


def test_the_next_run_removes_what_a_killed_run_left(tmp_path):
    out = tmp_path / "out"
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    rows = read_dataset(out)
    folder = dataset_dir(out)
    # what a run killed mid-write long ago leaves: its own folder with temporary shards and
    # no lease, a manifest never renamed
    dead = folder / "run-20241201T000000Z-dead00" / "data" / "beam-temp-features-1234"
    dead.mkdir(parents=True)
    (dead / "shard.csv").write_text("session_id\nhalf")
    (folder / "manifest.json.run-20241201T000000Z-dead00.tmp").write_text("{")
    assert read_dataset(out) == rows  # a reader following the manifest is not affected
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(out)]) == 0
    run = read_manifest(out)["run_id"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(["manifest.json", run, *DOCUMENTS])
    assert read_dataset(out) == rows


def test_single_file_output(tmp_path):
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path), "--num_shards", "1"]) == 0
    assert [f["path"].rsplit("/", 1)[1] for f in read_manifest(tmp_path)["files"]] == ["features-00000-of-00001.csv"]


@pytest.mark.parametrize("fmt", ["json", "CSVX"])
def test_unknown_format_is_a_usage_error(tmp_path, fmt):
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path), "--format", fmt]) == 2


def test_manifest_window_and_format(tmp_path):
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path), "--format", "parquet"]) == 0
    manifest = read_manifest(tmp_path)
    assert manifest["format"] == "parquet" and manifest["feature_set_version"] == "v1.1"
    assert manifest["window"]["start"] == "2024-12-01T00:00:00Z" and manifest["window"]["end"] == "2025-01-01T00:00:00Z"
