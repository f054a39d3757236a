"""Publishing a finished run: the manifest is written last and is the only entry
point to a dataset; run folders no manifest needs are removed afterwards.

Every window is a dataset of its own, whatever the options (FEATURES.md §6):

    <output>/window_start=2024-12-01/window_end=2025-01-01/manifest.json
    <output>/window_start=…/window_end=…/run-<time>-<id>/data/features-00000-of-00002.csv   (or .parquet)
    <output>/window_start=…/window_end=…/run-<time>-<id>/quarantine/quarantine-00000-of-00001.jsonl

A run writes into its own `run-…` folder, so a reader that follows the manifest
never sees a half-written dataset. The folder holds the run's lease
(pipeline/lease.py) while it runs. After publishing, a run removes the run
folder of the manifest it replaced and the folders of its window whose runs are
gone (stale lease); never a live run's, never the one the current manifest names,
never another window's, never a dataset of an older layout. Works the same on a
local disk and on S3 (Beam's FileSystems); locally the manifest is written to a
temporary name and renamed, on S3 it is one PUT (all or nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import time
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import lease
from pipeline.paths import is_remote, join
from transforms.columns import COLUMN_NAMES
from transforms.filestats import STATS_PREFIX
from transforms.tables import SESSIONS, TABLES
from transforms.timestamps import from_epoch
from transforms.window import Window
from transforms.write import COUNTS_PREFIX, DATA_DIR, QUARANTINE_DIR, QUARANTINE_PREFIX

MANIFEST = "manifest.json"
PENDING_MANIFEST = "_pending_manifest.json"  # a run built as a jar (--output_executable_path), not yet run
RUN_PREFIX = "run-"
RUN_ID = re.compile(r"run-(\d{8}T\d{6}Z)-[0-9a-f]{6}")
PARTITION_KEY, END_KEY = "window_start", "window_end"
# Where manifests are, relative to --output: this layout, and two older ones (read, never touched).
_LAYOUTS = re.compile(rf"(?:{PARTITION_KEY}=[^/]+/(?:{END_KEY}=[^/]+/)?)?{re.escape(MANIFEST)}")
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


log = logging.getLogger("session_features")


def window_value(epoch: float) -> str:
    """`2024-12-01` for midnight, else `2024-12-01T060000Z`: a folder name's value."""
    moment = from_epoch(epoch)
    if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H%M%SZ")


def partition_value(window: Window) -> str:
    """The window's start as a folder name's value."""
    return window_value(window.start)


def partition(window: Window) -> dict[str, str]:
    """The manifest's `partition`: the values of the window's folder names (its end is exclusive)."""
    return {PARTITION_KEY: window_value(window.start), END_KEY: window_value(window.end)}


def dataset_root(output: str, window: Window, hive: bool | None = None) -> str:
    """The window's dataset folder. `hive` is accepted for older callers: the layout is always this one."""
    values = partition(window)
    return join(output, f"{PARTITION_KEY}={values[PARTITION_KEY]}", f"{END_KEY}={values[END_KEY]}")


def new_run_id(now: dt.datetime) -> str:
    return f"{RUN_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read()


def _sizes(pattern: str) -> dict[str, int]:
    """The files matching `pattern` → their sizes, as listed (their content is not read)."""
    found = FileSystems.match([pattern])[0].metadata_list
    return {m.path: m.size_in_bytes for m in sorted(found, key=lambda m: m.path)}


def _files(pattern: str) -> list[str]:
    return list(_sizes(pattern))


class NoCounts(Exception):
    """The run folder holds no counts file: the pipeline's workers wrote elsewhere, or nothing ran."""


class FilesMissing(Exception):
    """Files the run wrote are gone (the message says which): nothing may be published."""


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


def read_counts(run_dir: str, files: int | None = None) -> dict[str, int]:
    """The counts the pipeline wrote (then removed). Raises NoCounts when there are none:
    every run that ran writes them, even for an empty window; FilesMissing when there
    are fewer than `files` (one a slice)."""
    counts, paths = sum_counts(run_dir)
    if not paths:
        raise NoCounts(run_dir)
    if files is not None and len(paths) != files:
        raise FilesMissing(f"{len(paths)} of the {files} slices' counts files are in {run_dir}")
    FileSystems.delete(paths)
    return {**dict.fromkeys(COUNT_NAMES, 0), **counts}


def relative(path: str, root: str) -> str:
    """`path` relative to the dataset root (the manifest's folder), `/`-separated."""
    base = root.rstrip("/") + "/" if is_remote(root) else os.path.join(root, "")
    rel = path[len(base) :] if path.startswith(base) else path
    return rel.replace(os.sep, "/")


def _table_pattern(run_dir: str, name: str) -> str:
    return join(run_dir, TABLES[name].folder, TABLES[name].prefix + "-*")


def table_files(run_dir: str) -> dict[str, list[str]]:
    """The data files of every table the run wrote (transforms/tables.py), `sessions` always."""
    found = {name: _files(_table_pattern(run_dir, name)) for name in TABLES}
    return {name: paths for name, paths in found.items() if paths or name == SESSIONS.name}


def read_file_stats(run_dir: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """What the sinks recorded of each file they wrote (transforms/filestats.py): its path
    relative to the run folder → rows, bytes, sha256; and the stats files' paths."""
    paths = _files(join(run_dir, STATS_PREFIX + "-*"))
    stats: dict[str, dict[str, Any]] = {}
    for path in paths:
        for line in _read(path).decode().splitlines():
            if line.strip():
                record = json.loads(line)
                stats[record.pop("path")] = record
    return stats, paths


class _Described:
    """Manifest entries of listed files from the sinks' records; FilesMissing when a
    file has no record or its listed size is not what was written."""

    def __init__(self, run_dir: str, root: str, stats: dict[str, dict[str, Any]]):
        self.run_dir, self.root, self.stats, self.seen = run_dir, root, stats, set()

    def __call__(self, sizes: dict[str, int]) -> list[dict[str, Any]]:
        return [self.entry(path, size) for path, size in sizes.items()]

    def entry(self, path: str, size: int) -> dict[str, Any]:
        key = relative(path, self.run_dir)
        record = self.stats.get(key)
        if record is None:
            raise FilesMissing(f"{path} has no record of what was written to it: this run's sinks did not write it")
        if record["bytes"] != size:
            raise FilesMissing(f"{path} holds {size:,} bytes, the run wrote {record['bytes']:,}")
        self.seen.add(key)
        return {"path": relative(path, self.root), "rows": record["rows"], "bytes": size, "sha256": record["sha256"]}

    def check_none_missing(self) -> None:
        gone = sorted(set(self.stats) - self.seen)
        if gone:
            raise FilesMissing(f"{len(gone)} files the run wrote are gone from {self.run_dir}: {', '.join(gone[:5])}")


def write_manifest(
    root: str, run_dir: str, info: dict[str, Any], documents: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Describe the run's files and write the manifest atomically; the sinks' stats
    files are removed first (they are not data).

    `files` lists the session table's data files (as in v1); `tables.<name>` gives each
    table's `files` and its `location`: the folder, relative to the manifest, holding
    exactly that table's data files and nothing else (FEATURES.md §6, §7). `documents`:
    the profile, report, schema and card beside the manifest (pipeline/documents.py).
    Rows, bytes and sha256 are those the sinks recorded as they wrote each file; the
    files are listed, never read. Raises FilesMissing, publishing nothing, when a file
    the run wrote is gone or differs in size from what was written, or when the data
    files hold fewer rows than the counts."""
    stats, stats_paths = read_file_stats(run_dir)
    describe = _Described(run_dir, root, stats)
    listed = {name: _sizes(_table_pattern(run_dir, name)) for name in TABLES}
    tables = {
        name: {
            "location": relative(join(run_dir, TABLES[name].folder, ""), root),
            "columns": list(TABLES[name].column_names),
            "files": describe(sizes),
        }
        for name, sizes in listed.items()
        if sizes or name == SESSIONS.name
    }
    quarantine = describe(_sizes(join(run_dir, QUARANTINE_DIR, QUARANTINE_PREFIX + "-*")))
    describe.check_none_missing()
    data = tables[SESSIONS.name]["files"]
    expected = info.get("counts", {}).get("rows_written")
    if expected is not None and sum(f["rows"] for f in data) != expected:
        raise FilesMissing(
            f"the data files in {run_dir} hold {sum(f['rows'] for f in data):,} rows, the run wrote {expected:,}"
        )
    if stats_paths:
        FileSystems.delete(stats_paths)
    manifest = {
        **info,
        "columns": list(COLUMN_NAMES),
        "files": data,
        "tables": tables,
        **({"documents": documents} if documents else {}),
        "quarantine": quarantine,
        "data_location": join(run_dir, DATA_DIR, ""),
    }
    body = json.dumps(manifest, indent=2).encode()
    target = join(root, MANIFEST)
    if is_remote(root):
        with FileSystems.create(target) as handle:  # one object PUT: all or nothing
            handle.write(body)
    else:
        tmp = f"{target}.{_name(run_dir)}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)  # atomic on POSIX
    return manifest


def _name(run_dir: str) -> str:
    return run_dir.rstrip("/").replace(os.sep, "/").rsplit("/", 1)[-1]


def current_run(root: str) -> str | None:
    """The run folder the window's manifest names, or None."""
    path = join(root, MANIFEST)
    try:
        return json.loads(_read(path)).get("run_id") if FileSystems.exists(path) else None
    except (OSError, ValueError):
        return None


def _run_folders(root: str) -> dict[str, list[str]]:
    """Run folders of one window's dataset folder → their files (remote) or [] (local)."""
    if not is_remote(root):
        if not os.path.isdir(root):
            return {}
        return {n: [] for n in os.listdir(root) if n.startswith(RUN_PREFIX) and os.path.isdir(join(root, n))}
    folders: dict[str, list[str]] = {}
    for path in _files(join(root, RUN_PREFIX + "**")):
        folders.setdefault(relative(path, root).split("/", 1)[0], []).append(path)
    return folders


def _read_lease(path: str) -> dict[str, Any] | None:
    try:
        return json.loads(_read(path)) if FileSystems.exists(path) else None
    except (OSError, ValueError):
        return None  # half written by an older tool, or unreadable: judged by its age


def abandoned(root: str, name: str, now: float) -> bool:
    """Whether run folder `name` belongs to a run that is gone: its lease is stale, or it
    has none and started longer than lease.TIMEOUT_S ago. A run built as a jar (a pending
    manifest) is waiting for `session-features publish`: never abandoned."""
    folder = join(root, name)
    if FileSystems.exists(join(folder, PENDING_MANIFEST)):
        return False
    held = _read_lease(join(folder, lease.LEASE))
    if held is not None:
        return not lease.is_live(held, now)
    match = RUN_ID.fullmatch(name)
    started = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC) if match else None
    return started is not None and now - started.timestamp() > lease.TIMEOUT_S


def remove_other_runs(root: str, keep: str, replaced: str | None = None, now: float | None = None) -> list[str]:
    """Remove run folders of this window's dataset that no one needs any more: the one the
    manifest this run replaced named (`replaced`), and abandoned ones. Never `keep`, the
    folder the manifest names now, a live run's, or a folder this tool did not make.
    Returns the names removed."""
    now = time.time() if now is None else now
    folders = _run_folders(root)
    gone = [
        name
        for name in sorted(folders)
        if RUN_ID.fullmatch(name) and name != _name(keep) and (name == replaced or abandoned(root, name, now))
    ]
    # Read after judging the runs: a run found gone wrote its last manifest (if any)
    # before it died, so that manifest is the one read here, and its folder is kept.
    current = current_run(root)
    removed = []
    for name in gone:
        if name == current:
            continue
        if folders[name]:
            FileSystems.delete(folders[name])
        else:
            shutil.rmtree(join(root, name), ignore_errors=True)
        removed.append(name)
    if not is_remote(root):
        for entry in os.listdir(root):  # manifests a killed run never renamed
            run = entry[len(MANIFEST) + 1 : -len(".tmp")] if entry.startswith(MANIFEST + ".") else ""
            if entry.endswith(".tmp") and RUN_ID.fullmatch(run) and (run in removed or run not in folders):
                os.remove(join(root, entry))
    return removed


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


def published_windows(output: str) -> list[tuple[Window, str]]:
    """Every window published under `output`, in any layout this tool has written
    (`manifest.json` in `output`, under `window_start=S/`, under `window_start=S/window_end=E/`),
    with its manifest's path, sorted by window."""
    found = set()
    for pattern in (MANIFEST, f"{PARTITION_KEY}=*/{MANIFEST}", f"{PARTITION_KEY}=*/{END_KEY}=*/{MANIFEST}"):
        found.update(p for p in _files(join(output, *pattern.split("/"))) if _LAYOUTS.fullmatch(relative(p, output)))
    windows = []
    for path in sorted(found):
        try:
            window = json.loads(_read(path)).get("window", {})
            windows.append((Window(float(window["start_epoch"]), float(window["end_epoch"])), path))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("skipping %s: not a manifest this tool can read", path)
    return sorted(windows)


def last_published_end(output: str) -> float | None:
    """The end of the latest window published under `output` (any layout), or None."""
    ends = [window.end for window, _ in published_windows(output)]
    return max(ends) if ends else None


def quarantined_share(counts: dict[str, int]) -> float:
    """(quarantined + unreadable_records) ÷ (those + rows_written): the share of the
    window's input that gave no row; 0 for a window without input."""
    bad = counts.get("quarantined", 0) + counts.get("unreadable_records", 0)
    total = bad + counts.get("rows_written", 0)
    return bad / total if total else 0.0


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
