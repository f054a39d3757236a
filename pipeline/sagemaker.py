"""SageMaker's S3 `ManifestFile` of each table of a published dataset, beside its
`manifest.json` (`sagemaker-sessions.manifest`): the window folder as the prefix,
then the key of each data file under it, so a training job reads exactly the
published files."""

from __future__ import annotations

import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import publish


def manifest_file(root: str, manifest: dict[str, Any], table: str) -> list[Any]:
    """SageMaker's S3 ManifestFile: the prefix (the manifest's folder), then each data file's key under it."""
    return [{"prefix": root.rstrip("/") + "/"}, *(f["path"] for f in manifest["tables"][table]["files"])]


def manifest_path(root: str, table: str) -> str:
    return publish.join(root, f"sagemaker-{table}.manifest")


def write_manifests(root: str, manifest: dict[str, Any]) -> list[str]:
    """One ManifestFile per table beside manifest.json (one PUT each); S3 only, as SageMaker reads S3."""
    if not root.startswith("s3://"):
        return []
    paths = []
    for table in manifest["tables"]:
        path = manifest_path(root, table)
        with FileSystems.create(path) as handle:
            handle.write(json.dumps(manifest_file(root, manifest, table), indent=1).encode())
        paths.append(path)
    return paths
