"""The dump reader's line filter: `_named_session_id` (bytes.find instead of a regex for
the common form) and `read_lines_at` (blocks split with bytes methods instead of a
`readline()` loop) give exactly what the plain code they replaced gives, frozen here as
the oracle, on generated lines, files and byte ranges."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms import read_dump
from transforms.read_dump import _UNDECIDED, _named_session_id, line_ranges, read_lines_at

_OLD_SESSION_ID = re.compile(rb'"session_id"\s*:\s*"([^"\\]*)"')


def old_named_session_id(raw: bytes) -> Any:
    if b"\\u" in raw:
        return _UNDECIDED
    found = _OLD_SESSION_ID.findall(raw)
    if not found or len(found) != raw.count(b'"session_id"') or found.count(found[0]) != len(found):
        return _UNDECIDED
    try:
        return found[0].decode("utf-8")
    except UnicodeDecodeError:
        return _UNDECIDED


def old_read_lines_at(path: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        pos = start
        if start > 0:
            handle.seek(start - 1)
            pos += len(handle.readline()) - 1
        while pos < end:
            at = pos
            raw = handle.readline()
            if not raw:
                return
            pos += len(raw)
            if raw[-1:] == b"\n":
                raw = raw[:-2] if raw[-2:-1] == b"\r" else raw[:-1]
            yield at, raw


VALUES = [b"s1", b"s2", b"", b"sim-7-000000123", b"session_id", b'"session_id"', b"a\\", b'a\\"b', b"\\\\"]
VALUES += [b"\\u005f", b"\\n", b"\xff", b"\xc3\xa9t\xc3\xa9", "日本".encode(), b"s 1", b":", b'", "session_id": "']
KEYS = [b'"session_id"', b'"session_id": "', b'"session_id":"', b'"session_id" : "', b'"session_id"\t:\n"']
KEYS += [
    b'"session\\u005fid": "',
    b'"parent_session_id": "',
    b'"session_id"session_id": "',
    b"session_id",
    b'"session_',
]
GLUE = [b'"', b":", b" ", b"{", b"}", b",", b'"x": ', b"\\", b"\\u", b"\\\\", b"null", b"[", b"]", b'id"', b"\n", b"\r"]


def fragments(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(12)):
        pick = rng.random()
        if pick < 0.45:
            parts.append(rng.choice(KEYS) + rng.choice(VALUES) + rng.choice([b'"', b'"', b"", b'\\"']))
        elif pick < 0.6:
            parts.append(rng.choice(VALUES))
        else:
            parts.append(rng.choice(GLUE))
    return b"".join(parts)


def run_line(rng: random.Random) -> bytes:
    """A run line as the dumps write it: the session_id at top level and in run_data."""
    top, inner = rng.choice(VALUES[:4]), rng.choice(VALUES[:4] if rng.random() < 0.2 else [b"sim-7-000000123"])
    top = top if rng.random() < 0.7 else b"sim-7-000000123"
    return (
        b'{"_id": {"$oid": "aa6d"}, "run_id": "r1", "session_id": "' + top + b'", "run_data": {"run_id": "r1", '
        b'"session_id": "' + inner + b'", "content": "' + rng.choice(VALUES + GLUE) + b'", "tools": []}}'
    )


@pytest.mark.parametrize("seed", range(4))
def test_named_session_id_equals_the_regex(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(5000):
        raw = fragments(rng) if rng.random() < 0.7 else run_line(rng)
        assert _named_session_id(raw) is old_named_session_id(raw) or _named_session_id(raw) == old_named_session_id(
            raw
        ), raw


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b'"session_id"',
        b'"session_id": "s1"',
        b'"session_id": "s1',
        b'"session_id": "s1", "session_id": "s1"',
        b'"session_id": "s1", "session_id": "s2"',
        b'"session_id": "s1", "session_id": 3',
        b'"session_id": "s1", "session_id" : "s1"',
        b'"session_id" : "s1", "session_id": "s1"',
        b'"session_id": "session_id"',  # the value is itself a `"session_id"`
        b'"session_id": "s1"session_id": "s1"',  # one starts at the closing quote
        b'"session_id"session_id": "s1"',  # overlapping occurrences
        b'"session_id": "a\\"b"',
        b'"session_id": "a\\\\", "x": "\\\\"',
        b'"session_id": "s1", "x": "\\u005f"',
        b'"session\\u005fid": "s2", "session_id": "s1"',
        b'"session_id": "\xff"',
        b'"session_id": ""',
        b'"session_id": "", "session_id": "s1"',
        '"session_id": "日本"'.encode(),
    ],
)
def test_named_session_id_edge_cases(raw: bytes) -> None:
    new, old = _named_session_id(raw), old_named_session_id(raw)
    assert new is old or (type(new) is str and new == old)


def test_named_session_id_reads_the_common_form() -> None:
    line = b'{"session_id": "sim-7-1", "run_data": {"session_id": "sim-7-1"}}'
    assert _named_session_id(line) == "sim-7-1"


ALPHABET = [b"a", b"bc", b"\n", b"\n", b"\r", b"\r\n", b"\r\n", b"\n\n", b"\xff", b'{"s": 1}']


def random_file(rng: random.Random, tmp_path: Any, i: int) -> tuple[str, int]:
    data = b"".join(rng.choice(ALPHABET) for _ in range(rng.randrange(30)))
    path = tmp_path / f"f{i}.jsonl"
    path.write_bytes(data)
    return str(path), len(data)


@pytest.mark.parametrize("seed", range(3))
def test_read_lines_at_equals_readline(seed: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    for i in range(700):
        path, size = random_file(rng, tmp_path, i)
        monkeypatch.setattr(read_dump, "READ_BLOCK_BYTES", rng.choice([1, 2, 3, 7, 1 << 20]))
        whole = list(old_read_lines_at(path, 0, size))
        for _ in range(6):
            start = rng.randrange(size + 3)
            end = start + rng.randrange(size + 3 - start) if rng.random() < 0.8 else size + 5
            assert list(read_lines_at(path, start, end)) == list(old_read_lines_at(path, start, end)), (
                path,
                start,
                end,
            )
        # Ranges of any step, end to end, hold every line once.
        step = rng.randrange(1, size + 2)
        assert [line for r in line_ranges(path, size, step) for line in read_lines_at(*r)] == whole


def test_read_lines_at_boundary_cases(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b'{"a": 1}\r\n\n{"b": 2}\nlast\r'
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    for block in (1, 2, 7, 1 << 20):
        monkeypatch.setattr(read_dump, "READ_BLOCK_BYTES", block)
        for start in range(len(data) + 2):
            for end in range(start, len(data) + 3):
                assert list(read_lines_at(str(path), start, end)) == list(old_read_lines_at(str(path), start, end))
        assert list(read_lines_at(str(empty), 0, 1)) == []
    assert list(read_lines_at(str(path), 0, len(data))) == [
        (0, b'{"a": 1}'),
        (10, b""),
        (11, b'{"b": 2}'),
        (20, b"last\r"),
    ]
