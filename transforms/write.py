"""WriteDataset: feature rows as sharded CSV, quarantine as JSON lines, and the
run's counts, all inside one run folder; the launcher publishes it (manifest last)."""

from __future__ import annotations

import json

import apache_beam as beam

from transforms.records import Quarantined
from transforms.rows import csv_header, to_csv_line

FEATURES_PREFIX, QUARANTINE_PREFIX, COUNTS_PREFIX = "features", "quarantine", "_counts"
SHARDS = "-SSSSS-of-NNNNN"


def quarantine_line(q: Quarantined) -> str:
    from bson import json_util

    record = {"_id": q.doc_id, "session_id": q.session_id, "reason": q.reason, "document": q.document}
    return json_util.dumps(record, json_options=json_util.RELAXED_JSON_OPTIONS)


class WriteDataset(beam.PTransform):
    def __init__(self, run_dir: str, num_shards: int):
        super().__init__()
        self.run_dir, self.num_shards = run_dir, num_shards

    def _path(self, prefix: str) -> str:
        return self.run_dir.rstrip("/") + "/" + prefix

    def expand(self, pcolls):
        rows, quarantine, counts = pcolls
        (
            rows
            | "CsvLines" >> beam.Map(to_csv_line)
            | "WriteCsv"
            >> beam.io.WriteToText(
                self._path(FEATURES_PREFIX),
                file_name_suffix=".csv",
                num_shards=self.num_shards,
                shard_name_template=SHARDS,
                header=csv_header(),
            )
        )
        (
            quarantine
            | "QuarantineLines" >> beam.Map(quarantine_line)
            | "WriteQuarantine"
            >> beam.io.WriteToText(
                self._path(QUARANTINE_PREFIX), file_name_suffix=".jsonl", num_shards=1, shard_name_template=SHARDS
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
