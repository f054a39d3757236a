"""Slices of a window: slice k of K holds the sessions whose session_id hashes to k.

The launcher (pipeline/slices.py) may run a large window as K pipeline runs, one
slice after another, so that the in-memory DirectRunner holds one slice's join at a
time. Every document that takes part in a session's rules — the session documents
(duplicates included), its run documents, the documents that prove it exists outside
the window, its orphan candidates — carries the same session_id, so each slice
applies every per-session rule of FEATURES.md by itself.

A document is in exactly one slice: the one of the session_id the join keys it by
(a string), or slice 0 when it has none (no session_id, a non-string one, a dump
line that does not parse). Quarantine and counts are therefore the same as one
unsliced run's.

The hash is CRC-32 (zlib) of the id's UTF-8 bytes: the same in every process, run and
Python version (Python's `hash()` of a string is salted per process).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any


def slice_of(session_id: Any, count: int) -> int:
    """The slice (0 ≤ k < count) of a session_id as the join keys it; 0 for no string id."""
    if count <= 1 or not isinstance(session_id, str):
        return 0
    # surrogatepass: a lone surrogate (valid in a JSON string) still has bytes to hash
    return zlib.crc32(session_id.encode("utf-8", "surrogatepass")) % count


@dataclass(frozen=True)
class Slice:
    """Slice `index` of `count`; `Slice()` is the whole window."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"no slice {self.index} of {self.count}")

    @property
    def whole(self) -> bool:
        return self.count == 1

    def holds(self, session_id: Any) -> bool:
        """Whether a document with this session_id (as the join keys it) is in the slice."""
        return self.count == 1 or slice_of(session_id, self.count) == self.index

    def holds_doc(self, doc: Any) -> bool:
        return self.holds(doc.get("session_id") if isinstance(doc, dict) else None)

    @property
    def tag(self) -> str:
        """`s003`, part of the slice's file names; empty for the whole window (the
        file names of an unsliced run)."""
        if self.whole:
            return ""
        return f"s{self.index:0{max(3, len(str(self.count - 1)))}d}"

    def describe(self) -> str:
        return f"slice {self.index + 1}/{self.count}"


WHOLE = Slice()
