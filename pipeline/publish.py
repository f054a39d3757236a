"""Publishing a finished run: the manifest is written last and is the only entry
point to a dataset; runs it no longer names are removed afterwards.

Layout of an output location:

    manifest.json                      the published dataset (relative paths)
    run-<time>-<id>/features-00000-of-00002.csv
    run-<time>-<id>/quarantine-00000-of-00001.jsonl

A run writes into its own `run-…` folder, so a reader that follows the manifest
never sees a half-written dataset; a killed run leaves a folder that no manifest
names, which the next successful run deletes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import secrets
from typing import Any

from apache_beam.io.filesystems import FileSystems

from transforms.columns import COLUMN_NAMES
from transforms.write import COUNTS_PREFIX, FEATURES_PREFIX, QUARANTINE_PREFIX

MANIFEST = "manifest.json"
RUN_PREFIX = "run-"
COUNT_NAMES = (
    "sessions_read",
    "rows_written",
    "quarantined",
    "duplicates",
    "orphaned_runs",
    "unknown_statuses",
    "sessions_outside_window",
)


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts) if "://" in base else os.path.join(base, *parts)


def new_run_id(now: dt.datetime) -> str:
    return f"{RUN_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read()


def _describe(path: str, base: str, kind: str) -> dict[str, Any]:
    data = _read(path)
    text = data.decode("utf-8")
    if kind == "csv":
        rows = max(0, sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1)
    else:
        rows = sum(1 for line in text.splitlines() if line.strip())
    return {
        "path": path[len(base) :].lstrip("/"),
        "rows": rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _files(run_dir: str, prefix: str) -> list[str]:
    pattern = join(run_dir, prefix + "-*")
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def read_counts(run_dir: str) -> dict[str, int]:
    counts = dict.fromkeys(COUNT_NAMES, 0)
    for path in _files(run_dir, COUNTS_PREFIX):
        for line in _read(path).decode().splitlines():
            if line.strip():
                for key, value in json.loads(line).items():
                    counts[key] = counts.get(key, 0) + value
        FileSystems.delete([path])
    return counts


def write_manifest(output: str, run_dir: str, info: dict[str, Any]) -> dict[str, Any]:
    """Describe the run's files, then write the manifest (atomically), then remove old runs."""
    base = output.rstrip("/") + "/" if "://" in output else os.path.join(output, "")
    manifest = {
        **info,
        "columns": list(COLUMN_NAMES),
        "files": [_describe(p, base, "csv") for p in _files(run_dir, FEATURES_PREFIX)],
        "quarantine": [_describe(p, base, "jsonl") for p in _files(run_dir, QUARANTINE_PREFIX)],
    }
    body = json.dumps(manifest, indent=2).encode()
    target = join(output, MANIFEST)
    if "://" in output:
        with FileSystems.create(target) as handle:  # one object PUT: all or nothing
            handle.write(body)
    else:
        tmp = target + f".{secrets.token_hex(4)}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)  # atomic on POSIX
    remove_stale_runs(output, keep=run_dir)
    return manifest


def remove_stale_runs(output: str, keep: str) -> None:
    """Delete run folders other than `keep`: earlier datasets and killed runs."""
    keep_name = keep.rstrip("/").rsplit("/", 1)[-1]
    if "://" in output:
        matches = FileSystems.match([join(output, RUN_PREFIX + "*")])[0].metadata_list
        stale = [m.path for m in matches if f"/{keep_name}/" not in m.path]
        if stale:
            FileSystems.delete(stale)
        return
    import shutil

    for name in os.listdir(output):
        if name.startswith(RUN_PREFIX) and name != keep_name:
            shutil.rmtree(os.path.join(output, name), ignore_errors=True)
