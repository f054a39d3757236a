"""Publishing a finished run: the manifest is written last and is the only entry
point to a dataset; run folders it no longer names are removed afterwards.

Layout of a dataset (the output location, or with --hive its
`window_start=YYYY-MM-DD/` partition under it):

    manifest.json
    run-<time>-<id>/data/features-00000-of-00002.csv       (or .parquet)
    run-<time>-<id>/quarantine/quarantine-00000-of-00001.jsonl

A run writes into its own `run-…` folder, so a reader that follows the manifest
never sees a half-written dataset. A killed run leaves a folder no manifest
names; the next successful run of that dataset deletes it. Works the same on
a local disk and on S3 (Beam's FileSystems); locally the manifest is written
to a temporary name and renamed, on S3 it is one PUT (all or nothing).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import shutil
from typing import Any

from apache_beam.io.filesystems import FileSystems

from transforms.columns import COLUMN_NAMES
from transforms.tables import SESSIONS, TABLES
from transforms.timestamps import from_epoch
from transforms.window import Window
from transforms.write import COUNTS_PREFIX, DATA_DIR, QUARANTINE_DIR, QUARANTINE_PREFIX

MANIFEST = "manifest.json"
PENDING_MANIFEST = "_pending_manifest.json"  # a run built as a jar (--output_executable_path), not yet run
RUN_PREFIX = "run-"
PARTITION_KEY = "window_start"
COUNT_NAMES = (
    "sessions_read",
    "rows_written",
    "quarantined",
    "duplicates",
    "orphaned_runs",
    "unknown_statuses",
    "sessions_outside_window",
    "unreadable_records",
    "internal_errors",
)


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if is_remote(base) else os.path.join(base, *parts)


def partition_value(window: Window) -> str:
    """`2024-12-01` for a window starting at midnight, else `2024-12-01T060000Z`."""
    start = from_epoch(window.start)
    if start.hour == start.minute == start.second == start.microsecond == 0:
        return start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m-%dT%H%M%SZ")


def dataset_root(output: str, window: Window, hive: bool) -> str:
    return join(output, f"{PARTITION_KEY}={partition_value(window)}") if hive else output


def new_run_id(now: dt.datetime) -> str:
    return f"{RUN_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read()


def _rows(data: bytes, path: str) -> int:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    text = data.decode("utf-8")
    if path.endswith(".csv"):
        return max(0, sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1)
    return sum(1 for line in text.splitlines() if line.strip())


def _describe(path: str, root: str) -> dict[str, Any]:
    data = _read(path)
    return {
        "path": relative(path, root),
        "rows": _rows(data, path),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _files(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


class NoCounts(Exception):
    """The run folder holds no counts file: the pipeline's workers wrote elsewhere, or nothing ran."""


def sum_counts(run_dir: str, tag: str = "") -> tuple[dict[str, int], list[str]]:
    """The counts in a run folder's counts files (those of one slice with `tag`), summed,
    and the files' paths."""
    paths = _files(join(run_dir, f"{COUNTS_PREFIX}-{tag}-*" if tag else f"{COUNTS_PREFIX}-*"))
    counts: dict[str, int] = {}
    for path in paths:
        for line in _read(path).decode().splitlines():
            if line.strip():
                for key, value in json.loads(line).items():
                    counts[key] = counts.get(key, 0) + value
    return counts, paths


def read_counts(run_dir: str) -> dict[str, int]:
    """The counts the pipeline wrote (then removed). Raises NoCounts when there are none:
    every run that ran writes them, even for an empty window."""
    counts, paths = sum_counts(run_dir)
    if not paths:
        raise NoCounts(run_dir)
    FileSystems.delete(paths)
    return {**dict.fromkeys(COUNT_NAMES, 0), **counts}


def relative(path: str, root: str) -> str:
    """`path` relative to the dataset root (the manifest's folder), `/`-separated."""
    base = root.rstrip("/") + "/" if is_remote(root) else os.path.join(root, "")
    rel = path[len(base) :] if path.startswith(base) else path
    return rel.replace(os.sep, "/")


def table_files(run_dir: str) -> dict[str, list[str]]:
    """The data files of every table the run wrote (transforms/tables.py), `sessions` always."""
    found = {name: _files(join(run_dir, t.folder, t.prefix + "-*")) for name, t in TABLES.items()}
    return {name: paths for name, paths in found.items() if paths or name == SESSIONS.name}


def write_manifest(
    root: str, run_dir: str, info: dict[str, Any], documents: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Describe the run's files, write the manifest atomically, then remove other runs.

    `files` lists the session table's data files (as in v1); `tables.<name>` gives each
    table's `files` and its `location`: the folder, relative to the manifest, holding
    exactly that table's data files and nothing else (FEATURES.md §6, §7). `documents`:
    the profile, report, schema and card beside the manifest (pipeline/documents.py)."""
    tables = {
        name: {
            "location": relative(join(run_dir, TABLES[name].folder, ""), root),
            "columns": list(TABLES[name].column_names),
            "files": [_describe(p, root) for p in paths],
        }
        for name, paths in table_files(run_dir).items()
    }
    data = tables[SESSIONS.name]["files"]
    manifest = {
        **info,
        "columns": list(COLUMN_NAMES),
        "files": data,
        "tables": tables,
        **({"documents": documents} if documents else {}),
        "quarantine": [_describe(p, root) for p in _files(join(run_dir, QUARANTINE_DIR, QUARANTINE_PREFIX + "-*"))],
        "data_location": join(run_dir, DATA_DIR, ""),
    }
    body = json.dumps(manifest, indent=2).encode()
    target = join(root, MANIFEST)
    if is_remote(root):
        with FileSystems.create(target) as handle:  # one object PUT: all or nothing
            handle.write(body)
    else:
        tmp = target + f".{secrets.token_hex(4)}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)  # atomic on POSIX
    remove_other_runs(root, keep=run_dir)
    return manifest


def remove_other_runs(root: str, keep: str) -> None:
    """Delete run folders other than `keep`: earlier datasets and killed runs."""
    keep_name = keep.rstrip("/").rsplit("/", 1)[-1]
    if is_remote(root):
        stale = [p for p in _files(join(root, RUN_PREFIX + "**")) if f"/{keep_name}/" not in p]
        if stale:
            FileSystems.delete(stale)
        return
    for name in os.listdir(root):
        if name.startswith(RUN_PREFIX) and name != keep_name:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        elif name.startswith(MANIFEST + ".") and name.endswith(".tmp"):
            os.remove(os.path.join(root, name))  # a manifest a killed run never renamed


def discard(run_dir: str) -> None:
    """Remove what a failed run wrote (best effort: the next run removes leftovers)."""
    try:
        if is_remote(run_dir):
            leftovers = _files(join(run_dir, "**"))
            if leftovers:
                FileSystems.delete(leftovers)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    except Exception:  # noqa: BLE001 - never hide the run's own error behind a cleanup error
        pass


def last_published_end(output: str) -> float | None:
    """The end of the latest window published under `output` (its manifests), or None."""
    candidates = _files(join(output, MANIFEST)) + _files(join(output, f"{PARTITION_KEY}=*", MANIFEST))
    ends = []
    for path in candidates:
        window = json.loads(_read(path)).get("window", {})
        if window.get("end_epoch") is not None:
            ends.append(float(window["end_epoch"]))
    return max(ends) if ends else None


def run_root(run_dir: str) -> str:
    """The dataset root a run folder belongs to (its parent)."""
    run_dir = run_dir.rstrip("/")
    return run_dir.rsplit("/", 1)[0] if is_remote(run_dir) else os.path.dirname(os.path.abspath(run_dir))


def write_pending(run_dir: str, info: dict[str, Any]) -> str:
    """The manifest of a run that will run later (everything but counts, files and
    finished_at), kept in the run folder until `session-features publish`."""
    path = join(run_dir, PENDING_MANIFEST)
    if not is_remote(run_dir):
        os.makedirs(run_dir, exist_ok=True)
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(info, indent=2).encode())
    return path


def read_pending(run_dir: str) -> dict[str, Any] | None:
    path = join(run_dir, PENDING_MANIFEST)
    return json.loads(_read(path)) if FileSystems.exists(path) else None


def remove_pending(run_dir: str) -> None:
    FileSystems.delete([join(run_dir, PENDING_MANIFEST)])
