"""WriteDataset: feature rows as sharded CSV (or Parquet), quarantine as JSON lines,
and the run's counts, all inside one run folder; the launcher publishes it
(manifest last).

    <run folder>/data/features-00000-of-00002.csv      (or .parquet)
    <run folder>/quarantine/quarantine-00000-of-00001.jsonl
    <run folder>/_counts-00000-of-00001.jsonl          (read and removed by the launcher)
    <run folder>/_files-data.features.jsonl            (each file's rows, bytes, sha256: the same)

Every data and quarantine file's rows, bytes and sha256 are recorded as it is written
(transforms/filestats.py): publishing lists the files, it does not read them.

Data and quarantine live in folders of their own, so a query engine pointed at
`data/` (Athena, Spark, pandas) reads features and nothing else.

A window run as slices (pipeline/slices.py) writes every slice into the same run
folder, its tag in each file name: `data/features-s003-00000-of-00001.csv`,
`quarantine/quarantine-s003-…`, `_counts-s003-…`.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam

from transforms.columns import COLUMNS, Column
from transforms.filestats import RecordedParquetSink, RecordedTextSink
from transforms.quarantine import DOCUMENT
from transforms.records import Quarantined
from transforms.rows import CsvLine
from transforms.tables import SESSIONS, TABLES, Table

DATA_DIR, QUARANTINE_DIR = "data", "quarantine"
FEATURES_PREFIX, QUARANTINE_PREFIX, COUNTS_PREFIX = "features", "quarantine", "_counts"
SHARDS = "-SSSSS-of-NNNNN"
FORMATS = ("csv", "parquet")


def quarantine_line(q: Quarantined) -> str:
    """One JSON object a line (ASCII): `_id`, `session_id`, `reason`, `document` (the
    document as relaxed Extended JSON, embedded as an object; null for bytes that did
    not decode), then only the fields that are set: `note`, and for an unreadable
    record `"kind": "unreadable"`, `file` or `collection`, `line`, `offset` and `bytes`
    (base64)."""
    head = json.dumps({"_id": q.doc_id, "session_id": q.session_id, "reason": q.reason})
    extra = {"note": q.note}
    if q.kind != DOCUMENT:
        extra.update(kind=q.kind, file=q.file, collection=q.collection, line=q.line, offset=q.offset, bytes=q.raw)
    tail = json.dumps({k: v for k, v in extra.items() if v is not None})
    document = "null" if q.document is None else q.document
    return head[:-1] + ', "document": ' + document + ("" if tail == "{}" else ", " + tail[1:-1]) + "}"


def parquet_schema(columns: tuple[Column, ...] = COLUMNS):
    """FEATURES.md §6: string, int64, float64, bool, timestamp(us, UTC)."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(c.name, types[c.type]) for c in columns])


class ParquetRecord:
    """A row as pyarrow takes it for the table's columns."""

    def __init__(self, columns: tuple[Column, ...] = COLUMNS):
        self.timestamps = tuple(c.name for c in columns if c.type == "timestamp")
        self.floats = tuple(c.name for c in columns if c.type == "float")

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        record = dict(row)
        for name in self.timestamps:  # epoch seconds → microseconds, as pyarrow stores them
            if record[name] is not None:
                record[name] = round(record[name] * 1_000_000)
        for name in self.floats:
            if record[name] is not None:
                record[name] = float(record[name])
        return record


parquet_record = ParquetRecord(COLUMNS)


class ParquetTables(beam.DoFn):
    """Feature rows → pyarrow tables, `shards` tables of equal size per flush.

    Beam's file sink deals its elements out to `num_shards` writers round-robin, from a
    random start in each bundle. WriteToParquet's elements are tables, one per bundle
    of rows (64 MB), so a small dataset was one table: one file with every row and
    N − 1 empty ones. Cut into `shards` tables, every flush gives each writer a share,
    as CSV lines are dealt out: each shard holds rows when a bundle has at least N."""

    BATCH_ROWS = 1_000  # rows per record batch (as Beam's own converter)
    FLUSH_ROWS = 100_000  # rows a bundle holds before its tables are emitted

    def __init__(self, shards: int, columns: tuple[Column, ...] = COLUMNS):
        self.shards, self.columns = max(1, shards), columns

    def setup(self) -> None:
        self._schema = parquet_schema(self.columns)
        self._record = ParquetRecord(self.columns)

    def start_bundle(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._batches: list = []
        self._count = 0

    def process(self, row: dict[str, Any]):
        self._rows.append(self._record(row))
        self._count += 1
        if len(self._rows) >= self.BATCH_ROWS:
            self._batch()
        if self._count >= self.FLUSH_ROWS:
            yield from self._flush()

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindows

        for table in self._flush():
            yield GlobalWindows.windowed_value(table)

    def _batch(self) -> None:
        import pyarrow as pa

        self._batches.append(pa.RecordBatch.from_pylist(self._rows, schema=self._schema))
        self._rows = []

    def _flush(self):
        import pyarrow as pa

        if self._rows:
            self._batch()
        table, self._batches, self._count = pa.Table.from_batches(self._batches, self._schema), [], 0
        n = table.num_rows
        offset = 0
        for k in range(min(self.shards, n)):
            size = n // self.shards + (k < n % self.shards)
            yield table.slice(offset, size)
            offset += size


class WriteDataset(beam.PTransform):
    """`tag` (a slice's, e.g. `s003`) goes into every file name after the prefix."""

    def __init__(self, run_dir: str, num_shards: int, fmt: str = "csv", tag: str = ""):
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.run_dir, self.num_shards, self.fmt, self.tag = run_dir.rstrip("/"), num_shards, fmt, tag

    def _path(self, *parts: str) -> str:
        *folders, prefix = parts
        return "/".join([self.run_dir, *folders, f"{prefix}-{self.tag}" if self.tag else prefix])

    def write_table(self, rows, table: Table, label: str = "") -> None:
        """One table's rows into its own folder (`label` keeps the step names unique)."""
        data = self._path(table.folder, table.prefix)
        if self.fmt == "parquet":
            (
                rows
                | f"ParquetTables{label}" >> beam.ParDo(ParquetTables(self.num_shards, table.columns))
                | f"WriteParquet{label}"
                >> beam.io.Write(
                    RecordedParquetSink(
                        data,
                        self.run_dir,
                        schema=parquet_schema(table.columns),
                        file_name_suffix=".parquet",
                        num_shards=self.num_shards,
                        shard_name_template=SHARDS,
                    )
                )
            )
        else:
            line = CsvLine(table.columns)
            (
                rows
                | f"CsvLines{label}" >> beam.Map(line)
                | f"WriteCsv{label}"
                >> beam.io.Write(
                    RecordedTextSink(
                        data,
                        self.run_dir,
                        file_name_suffix=".csv",
                        num_shards=self.num_shards,
                        shard_name_template=SHARDS,
                        header=line.header,
                    )
                )
            )

    def expand(self, pcolls):
        """(session rows, quarantine, counts[, {companion table: rows}])"""
        rows, quarantine, counts, *rest = pcolls
        self.write_table(rows, SESSIONS)
        for name, table_rows in (rest[0] if rest else {}).items():
            self.write_table(table_rows, TABLES[name], label=f"[{name}]")
        (
            quarantine
            | "QuarantineLines" >> beam.Map(quarantine_line)
            | "WriteQuarantine"
            >> beam.io.Write(
                RecordedTextSink(
                    self._path(QUARANTINE_DIR, QUARANTINE_PREFIX),
                    self.run_dir,
                    file_name_suffix=".jsonl",
                    num_shards=1,
                    shard_name_template=SHARDS,
                    # no bad input, no file: an empty object cannot be uploaded to S3 by Beam's
                    # multipart writer (no parts), and an empty file tells a reader nothing
                    skip_if_empty=True,
                )
            )
        )
        return (
            counts
            | "SumCounts" >> beam.CombinePerKey(sum)
            | "CountLines" >> beam.MapTuple(lambda k, v: json.dumps({k: v}))
            | "WriteCounts"
            >> beam.io.WriteToText(
                self._path(COUNTS_PREFIX), file_name_suffix=".jsonl", num_shards=1, shard_name_template=SHARDS
            )
        )
