"""Rows, bytes and sha256 of every file a sink writes, recorded as it writes them
(issue #11: publishing never reads the data back).

Beam's own text and Parquet sinks, with one layer between them and FileBasedSink:
its `open` wraps the file handle Beam creates in one that counts and hashes the
bytes going through it (the header, every line or row group, the footer), and its
writer counts the records. A writer closing its temporary file leaves the figures in
a small file beside it, in the sink's temporary folder. `finalize_write`, where Beam
gives the temporary files their final names (shard i of the sorted writer results),
maps the figures to those names and writes them, one JSON object a line, into

    <run folder>/_files-<folder>.<prefix>.jsonl     e.g. _files-data.features-s003.jsonl

in the run folder itself, never in a table's folder (a query engine reads whole
folders). The launcher reads and removes them when it publishes (pipeline/publish.py).

Beam's text sink (`textio._TextSink`, what WriteToText writes with) and Parquet sink
(`parquetio._ParquetSink`, WriteToParquetBatched's) are private classes: the public
transforms give no hook on the bytes they write, and writing the same bytes with a
sink of our own would no longer be Beam's text sink. tests/test_write_stats.py fails
when Beam changes them: our sinks must be configured exactly as the public transforms
configure theirs, and write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from apache_beam.io import iobase
from apache_beam.io.filebasedsink import FileBasedSink
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import _ParquetSink
from apache_beam.io.textio import _TextSink

STATS_PREFIX = "_files"
_SIDE = ".stats.json"  # beside a writer's temporary file, until finalize_write


class HashingHandle:
    """A write-only file handle that counts and hashes the bytes written through it."""

    def __init__(self, inner: Any):
        self.inner, self.bytes, self._sha = inner, 0, hashlib.sha256()

    def write(self, data: Any) -> Any:
        view = memoryview(data)  # pyarrow hands over its own buffers
        self._sha.update(view)
        self.bytes += view.nbytes
        return self.inner.write(data)

    def tell(self) -> int:  # the handle only appends: its position is what went through
        return self.bytes

    def sha256(self) -> str:
        return self._sha.hexdigest()

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _RecordingWriter(iobase.Writer):
    """Beam's writer of one temporary file, counting its records; on close the figures
    go beside the file."""

    def __init__(self, inner: iobase.Writer, handle: HashingHandle, rows_of: Callable[[Any], int]):
        self.inner, self.handle, self.rows_of, self.rows = inner, handle, rows_of, 0

    def write(self, value: Any) -> None:
        self.rows += self.rows_of(value)
        self.inner.write(value)

    def at_capacity(self) -> bool:
        return self.inner.at_capacity()

    def close(self) -> str:
        path = self.inner.close()
        figures = {"rows": self.rows, "bytes": self.handle.bytes, "sha256": self.handle.sha256()}
        _write_text(path + _SIDE, json.dumps(figures))
        return path


class RecordingSink(FileBasedSink):
    """Sits between Beam's sink and FileBasedSink in the class order, so the `open` that
    Beam's sink calls through super() is this one. `stats_dir` is the run folder."""

    stats_dir: str

    def rows_of(self, value: Any) -> int:
        return 1

    def open(self, temp_path: str) -> HashingHandle:
        self._opened = HashingHandle(super().open(temp_path))
        return self._opened

    def open_writer(self, init_result: Any, uid: str) -> iobase.Writer:
        writer = super().open_writer(init_result, uid)  # opens the file: self._opened
        handle, self._opened = self._opened, None
        return _RecordingWriter(writer, handle, self.rows_of)

    def stats_path(self) -> str:
        return f"{self.stats_dir}/{STATS_PREFIX}-{self._relative(self.file_path_prefix.get()).replace('/', '.')}.jsonl"

    def _relative(self, path: str) -> str:
        return path[len(self.stats_dir) + 1 :]

    def _final_names(self, count: int) -> list[str]:
        # what FileBasedSink.finalize_write names shard i of `count` sorted results
        prefix, suffix = self.file_path_prefix.get(), self.file_name_suffix.get()
        return [prefix + self.shard_name_format % {"shard_num": i, "num_shards": count} + suffix for i in range(count)]

    def finalize_write(self, init_result: Any, writer_results: Any, pre_finalize_results: Any) -> list[str]:
        temp = sorted(writer_results)
        figures = [_read_json(path + _SIDE) for path in temp]
        if temp and all(f is not None for f in figures):  # a retried finalize found them gone: kept from the first
            lines = [
                json.dumps({"path": self._relative(name), **f})
                for name, f in zip(self._final_names(len(temp)), figures)
            ]
            _write_text(self.stats_path(), "\n".join(lines) + "\n")
        final = list(super().finalize_write(init_result, writer_results, pre_finalize_results))
        # on a local disk the temporary folder went with its side files; an object store keeps them
        left = [path + _SIDE for path in temp if FileSystems.exists(path + _SIDE)]
        if left:
            FileSystems.delete(left)
        return final


class RecordedTextSink(_TextSink, RecordingSink):
    """Beam's text sink (WriteToText's), recording each file's lines, bytes and sha256."""

    def __init__(self, file_path_prefix: str, stats_dir: str, **kwargs: Any):
        super().__init__(file_path_prefix, **kwargs)
        self.stats_dir, self._opened = stats_dir.rstrip("/"), None


class RecordedParquetSink(_ParquetSink, RecordingSink):
    """Beam's Parquet sink (WriteToParquetBatched's, with its defaults), recording each
    file's rows, bytes and sha256; its elements are pyarrow tables."""

    def __init__(
        self,
        file_path_prefix: str,
        stats_dir: str,
        schema: Any,
        file_name_suffix: str,
        num_shards: int,
        shard_name_template: str,
    ):
        super().__init__(
            file_path_prefix,
            schema,
            "none",  # codec
            False,  # use_deprecated_int96_timestamps
            False,  # use_compliant_nested_type
            file_name_suffix,
            num_shards,
            shard_name_template,
            "application/x-parquet",
            None,  # triggering_frequency
        )
        self.stats_dir, self._opened = stats_dir.rstrip("/"), None

    def rows_of(self, table: Any) -> int:
        return table.num_rows


def _write_text(path: str, text: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write(text.encode())


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None
