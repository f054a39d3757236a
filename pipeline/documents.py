"""The documents published beside the manifest: profile.json (with drift against the
previous window), report.html, schema.json and the dataset card README.md.

The launcher writes them just before the manifest, which lists them (`documents`):
the profile from the sketches the pipeline wrote (`_profile-….jsonl`, read and
removed like the counts), never from the data files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import card, publish, report
from transforms.drift import compare
from transforms.profile import PROFILE_PREFIX, finish_profile
from transforms.tables import TABLES

log = logging.getLogger("session_features")

PROFILE, REPORT, SCHEMA, CARD = "profile.json", "report.html", "schema.json", "README.md"
_LAYOUT_KEYS = ("window_end=", publish.PARTITION_KEY + "=")


def _write(root: str, name: str, data: bytes) -> dict[str, Any]:
    with FileSystems.create(publish.join(root, name)) as handle:
        handle.write(data)
    return {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _read_json(path: str) -> dict[str, Any]:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return json.loads(handle.read())


def output_of(root: str) -> str:
    """The output location a dataset root belongs to: the root without its window folders."""
    while True:
        head, _, last = root.rstrip("/").rpartition("/")
        if not head or not last.startswith(_LAYOUT_KEYS):
            return root
        root = head


def previous_profile(output: str, start: float) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(profile, about) of the latest published window ending at or before `start`."""
    best = None
    for window, path in publish.published_windows(output):
        if window.end > start or (best is not None and window.end <= best[0]):
            continue
        try:
            manifest = _read_json(path)
        except (OSError, ValueError):
            continue  # an unreadable manifest is no baseline
        doc = (manifest.get("documents") or {}).get("profile")
        if doc is not None:
            best = (window.end, manifest, path, doc["path"])
    if best is None:
        return None
    _, manifest, path, profile_path = best
    folder = path[: -len(publish.MANIFEST)].rstrip("/")
    try:
        profile = _read_json(publish.join(folder, profile_path))
    except (OSError, ValueError):
        return None
    window = manifest["window"]
    about = {"start": window.get("start"), "end": window.get("end"), "manifest": publish.relative(path, output)}
    return profile, about


def read_profile_lines(run_dir: str) -> list[str]:
    """The sketches every slice of the run wrote; the files are removed (not data)."""
    paths = publish._files(publish.join(run_dir, PROFILE_PREFIX + "-*"))
    lines = []
    for path in paths:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            lines += handle.read().decode("utf-8").splitlines()
    if paths:
        FileSystems.delete(paths)
    return lines


def write_documents(root: str, run_dir: str, info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Write the documents beside the manifest; (the manifest's `documents`, the
    drift section, None without an earlier window)."""
    files = publish.table_files(run_dir)
    lines = read_profile_lines(run_dir)
    # The manifest as it will be published, for the card and the report.
    manifest = {
        **info,
        "tables": {
            name: {
                "location": publish.relative(publish.join(run_dir, TABLES[name].folder, ""), root),
                "rows": None,  # from the profile below
            }
            for name, paths in files.items()
        },
    }
    documents = {"schema": _write(root, SCHEMA, json.dumps(card.schema(list(files)), indent=2).encode())}
    drift = None
    if lines:
        profile, sketches = finish_profile(lines, [TABLES[name] for name in files])
        for name, table in profile["tables"].items():
            manifest["tables"][name]["rows"] = table["rows"]
        previous = previous_profile(output_of(root), float(info["window"]["start_epoch"]))
        if previous is not None:
            drift = profile["drift"] = compare(profile, sketches, *previous)
        documents["profile"] = _write(root, PROFILE, json.dumps(profile, indent=1).encode())
        # listed without a digest: `session-features report` may rebuild it
        documents["report"] = {"path": _write(root, REPORT, report.render(manifest, profile).encode())["path"]}
    documents["card"] = _write(root, CARD, card.card(manifest).encode())
    return documents, drift


def rebuild_report(output: str) -> str:
    """`session-features report OUTPUT`: report.html of the dataset published at OUTPUT
    again, from its manifest and profile.json; the path written."""
    manifest = _read_json(publish.join(output, publish.MANIFEST))
    doc = (manifest.get("documents") or {}).get("profile")
    if doc is None:
        raise FileNotFoundError(f"the dataset at {output} has no profile.json")
    profile = _read_json(publish.join(output, doc["path"]))
    _write(output, REPORT, report.render(manifest, profile).encode())
    return publish.join(output, REPORT)
