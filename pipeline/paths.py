"""Paths on a local disk or an object store (Beam's FileSystems), joined the same way."""

from __future__ import annotations

import os


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if is_remote(base) else os.path.join(base, *parts)
