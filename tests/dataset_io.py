"""Test helpers: write dump folders, run the pipeline, read its dataset back.

The dataset is read ONLY through ``manifest.json``: every data file listed
there is checked against its recorded row count and sha256, its header is
checked against our own copy of the 59 column names (typed in from
FEATURES.md section 4, not imported from the pipeline), and the rows of all
files are unioned and keyed by ``session_id``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bson import json_util

# FEATURES.md section 4, in order. Our own copy: it checks the pipeline's header.
COLUMNS = [
    "session_id",
    "session_type",
    "source_format",
    "agent_id",
    "agent_name",
    "model_provider",
    "model_id",
    "distinct_models",
    "total_runs",
    "member_runs",
    "input_tokens_sum",
    "output_tokens_sum",
    "total_tokens_sum",
    "cache_read_tokens_sum",
    "reasoning_tokens_sum",
    "input_tokens_avg",
    "output_tokens_avg",
    "output_tokens_max",
    "total_tokens_avg",
    "total_tokens_max",
    "output_input_ratio",
    "cache_read_ratio",
    "reasoning_output_ratio",
    "cost_sum",
    "duration_sum_s",
    "duration_avg_s",
    "duration_max_s",
    "duration_p50_s",
    "duration_p95_s",
    "ttft_avg_s",
    "ttft_max_s",
    "output_tokens_per_s",
    "tool_calls_sum",
    "tool_calls_avg",
    "tool_calls_max",
    "distinct_tools",
    "tool_errors_sum",
    "tool_error_rate",
    "tool_duration_sum_s",
    "tool_duration_avg_s",
    "tool_duration_max_s",
    "runs_with_tools_ratio",
    "top_tool",
    "error_runs",
    "cancelled_runs",
    "incomplete_runs",
    "error_rate",
    "first_error_index",
    "max_consecutive_errors",
    "has_failure",
    "session_start",
    "first_run_at",
    "last_run_end",
    "active_span_s",
    "inter_run_gap_avg_s",
    "inter_run_gap_max_s",
    "start_hour_utc",
    "start_weekday",
    "is_weekend",
]
assert len(COLUMNS) == 59 and len(set(COLUMNS)) == 59

COUNT_KEYS = (
    "sessions_read",
    "rows_written",
    "quarantined",
    "duplicates",
    "orphaned_runs",
    "unknown_statuses",
)


def write_dump(
    directory: str | Path,
    collection: str,
    docs: Iterable[dict],
    json_options: json_util.JSONOptions = json_util.RELAXED_JSON_OPTIONS,
) -> Path:
    """Write ``<directory>/<collection>.jsonl``: one Extended JSON document a line."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{collection}.jsonl"
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for doc in docs:
            f.write(json_util.dumps(doc, json_options=json_options))
            f.write("\n")
    return path


def run_pipeline(argv: Sequence[str]) -> int:
    """Run the pipeline in-process; returns its exit code."""
    repo_root = str(Path(__file__).resolve().parent.parent)
    if repo_root not in sys.path:  # when the project is not installed
        sys.path.insert(0, repo_root)
    from pipeline.main import run  # imported late: the pipeline may not exist yet

    rc = run([str(a) for a in argv])
    return 0 if rc is None else rc


def dataset_dir(out_dir: str | Path) -> Path:
    """The folder holding the manifest: `out_dir` itself, or its one window's
    `window_start=…/window_end=…/` folder (FEATURES.md §6: each window its own dataset)."""
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists():
        return out_dir
    found = sorted(out_dir.glob("window_start=*/window_end=*/manifest.json"))
    assert len(found) == 1, f"{out_dir} holds {len(found)} window datasets, not one"
    return found[0].parent


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    with (dataset_dir(out_dir) / "manifest.json").open(encoding="utf-8") as f:
        return json.load(f)


def _checked_bytes(out_dir: Path, entry: dict) -> bytes:
    data = (out_dir / entry["path"]).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest == entry["sha256"].lower(), f"sha256 mismatch for {entry['path']}"
    return data


def read_csv_file(data: bytes) -> tuple[list[str], list[list[str]]]:
    text = data.decode("utf-8")
    assert "\r" not in text, "CSV line ends must be \\n"
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert records, "CSV file without a header row"
    return records[0], records[1:]


def read_dataset(out_dir: str | Path) -> dict[str, dict[str, str]]:
    """Union of the rows of all data files in the manifest, keyed by session_id."""
    out_dir = dataset_dir(out_dir)
    manifest = read_manifest(out_dir)
    rows: dict[str, dict[str, str]] = {}
    for entry in manifest["files"]:
        header, records = read_csv_file(_checked_bytes(out_dir, entry))
        assert header == COLUMNS, f"header of {entry['path']} differs from FEATURES.md"
        assert len(records) == entry["rows"], f"row count mismatch for {entry['path']}"
        for record in records:
            assert len(record) == len(COLUMNS), f"ragged row in {entry['path']}: {record}"
            row = dict(zip(COLUMNS, record))
            sid = row["session_id"]
            assert sid not in rows, f"session_id {sid!r} emitted twice"
            rows[sid] = row
    return rows


def read_quarantine(out_dir: str | Path) -> list[dict[str, Any]]:
    """All quarantine records of the manifest's quarantine files."""
    out_dir = dataset_dir(out_dir)
    manifest = read_manifest(out_dir)
    records: list[dict[str, Any]] = []
    for entry in manifest.get("quarantine") or []:
        data = _checked_bytes(out_dir, entry)
        lines = [ln for ln in data.decode("utf-8").split("\n") if ln.strip()]
        assert len(lines) == entry["rows"], f"row count mismatch for {entry['path']}"
        records.extend(json.loads(ln) for ln in lines)
    return records


# FEATURES.md section 7, in order: our own copies, as COLUMNS above.
RUN_COLUMNS = [
    "session_id",
    "run_seq",
    "run_id",
    "parent_run_id",
    "root_run_id",
    "depth",
    "top_run_index",
    "status",
    "model_provider",
    "model_id",
    "created_at",
    "duration_s",
    "ttft_s",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "cost",
    "tool_calls",
    "tool_errors",
    "tool_duration_s",
]
TOOL_CALL_COLUMNS = ["session_id", "run_seq", "call_index", "tool_name", "error", "duration_s"]
TABLE_COLUMNS = {"sessions": COLUMNS, "runs": RUN_COLUMNS, "tool_calls": TOOL_CALL_COLUMNS}


def read_table(out_dir: str | Path, name: str) -> list[dict[str, Any]]:
    """All rows of one table through the manifest's `tables.<name>` (CSV as strings,
    Parquet as Python values), after checking each file's sha256 and rows, and that
    the table's `location` holds exactly its listed files."""
    out_dir = dataset_dir(out_dir)
    table = read_manifest(out_dir)["tables"][name]
    listed = sorted(e["path"] for e in table["files"])
    location = out_dir / table["location"]
    held = sorted(str(p.relative_to(out_dir)) for p in location.iterdir())
    assert held == listed, f"{table['location']} holds {held}, the manifest lists {listed}"
    rows: list[dict[str, Any]] = []
    for entry in table["files"]:
        data = _checked_bytes(out_dir, entry)
        if entry["path"].endswith(".parquet"):
            import pyarrow.parquet as pq

            t = pq.read_table(io.BytesIO(data))
            assert t.column_names == TABLE_COLUMNS[name]
            records = t.to_pylist()
        else:
            header, lines = read_csv_file(data)
            assert header == TABLE_COLUMNS[name], f"header of {entry['path']}"
            records = [dict(zip(header, line)) for line in lines]
        assert len(records) == entry["rows"], f"row count mismatch for {entry['path']}"
        rows.extend(records)
    return rows


# The documents every published window has beside its manifest (docs/tables.md).
DOCUMENTS = ["README.md", "profile.json", "report.html", "schema.json"]
