"""The sinks record each file's rows, bytes and sha256 as they write it
(transforms/filestats.py): the figures equal those computed from the files, the files
are the bytes Beam's own WriteToText / WriteToParquetBatched write, and the private
Beam classes the sinks build on are configured as those public transforms configure
them (this fails when Beam changes them)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.parquetio import _ParquetSink
from apache_beam.io.textio import _TextSink
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.filestats import STATS_PREFIX, RecordedParquetSink, RecordedTextSink
from transforms.write import SHARDS

HEADER = "id,text"
LINES = [f'{i},"x,{i}"' for i in range(40)] + ['41,"cr\ronly"', '42,"a\nb"', "43,caf\u00e9"]
SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("text", pa.string())])
OUR_ATTRS = {"stats_dir", "_opened"}


def recorded(run: Path) -> dict[str, dict]:
    """The run folder's stats files: relative path → figures."""
    found = {}
    for path in sorted(run.glob(f"{STATS_PREFIX}-*")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            found[record.pop("path")] = record
    return found


def data_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write_text(run: Path, lines: list[str], shards: int, **kwargs) -> None:
    with TestPipeline() as p:
        sink = RecordedTextSink(
            str(run / "data" / "t"),
            str(run),
            file_name_suffix=".csv",
            num_shards=shards,
            shard_name_template=SHARDS,
            **kwargs,
        )
        _ = p | beam.Create(lines) | beam.io.Write(sink)


@pytest.mark.parametrize("shards", [1, 3, 60])  # 60 > lines: empty shards (header only) are recorded too
def test_text_figures_are_those_of_the_files(tmp_path, shards):
    run = tmp_path / "run"
    write_text(run, LINES, shards, header=HEADER)
    stats = recorded(run)
    names = data_files(run / "data")
    assert names == [f"t-{i:05d}-of-{shards:05d}.csv" for i in range(shards)]  # no side files left there
    assert sorted(stats) == [f"data/{n}" for n in names]
    rows = 0
    for name in names:
        data = (run / "data" / name).read_bytes()
        got = stats[f"data/{name}"]
        records = list(csv.reader(io.StringIO(data.decode(), newline="")))
        assert records[0] == ["id", "text"]
        assert got == {"rows": len(records) - 1, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        rows += got["rows"]
    assert rows == len(LINES)


def test_text_files_are_the_bytes_of_write_to_text(tmp_path):
    write_text(tmp_path / "ours", LINES, 1, header=HEADER)
    with TestPipeline() as p:
        _ = (
            p
            | beam.Create(LINES)
            | beam.io.WriteToText(
                str(tmp_path / "beams" / "t"),
                file_name_suffix=".csv",
                num_shards=1,
                shard_name_template=SHARDS,
                header=HEADER,
            )
        )
    name = "t-00000-of-00001.csv"
    assert (tmp_path / "ours" / "data" / name).read_bytes() == (tmp_path / "beams" / name).read_bytes()


def test_an_empty_skipped_output_has_no_file_and_no_figures(tmp_path):
    run = tmp_path / "run"
    write_text(run, [], 1, skip_if_empty=True)
    assert not (run / "data").exists() or data_files(run / "data") == []
    assert recorded(run) == {}


def tables(n: int, size: int) -> list[pa.Table]:
    return [
        pa.Table.from_pylist([{"id": k * size + i, "text": f"r,{i}\r"} for i in range(size)], schema=SCHEMA)
        for k in range(n)
    ]


def test_parquet_figures_are_those_of_the_files_and_beams_bytes(tmp_path):
    run = tmp_path / "run"
    with TestPipeline() as p:
        sink = RecordedParquetSink(
            str(run / "data" / "t"),
            str(run),
            schema=SCHEMA,
            file_name_suffix=".parquet",
            num_shards=2,
            shard_name_template=SHARDS,
        )
        _ = p | beam.Create(tables(1, 30)) | beam.io.Write(sink)
    with TestPipeline() as p:
        _ = (
            p
            | beam.Create(tables(1, 30))
            | beam.io.WriteToParquetBatched(
                str(tmp_path / "beams" / "t"),
                schema=SCHEMA,
                file_name_suffix=".parquet",
                num_shards=2,
                shard_name_template=SHARDS,
            )
        )
    stats = recorded(run)
    names = data_files(run / "data")
    assert sorted(stats) == [f"data/{n}" for n in names] and len(names) == 2
    for name in names:
        data = (run / "data" / name).read_bytes()
        rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        assert stats[f"data/{name}"] == {"rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert sum(s["rows"] for s in stats.values()) == 30
    # one table: one shard holds it, the other is empty; Beam's sink writes the same two files
    ours = sorted((run / "data" / n).read_bytes() for n in names)
    assert ours == sorted(p.read_bytes() for p in (tmp_path / "beams").iterdir())


def settings(sink) -> dict:
    return {k: v for k, v in vars(sink).items() if k not in OUR_ATTRS}


def test_our_sinks_are_configured_as_beams_public_transforms_configure_theirs(tmp_path):
    """Fails when Beam renames or changes its private sinks or how the public transforms build them."""
    prefix = str(tmp_path / "data" / "t")
    text = dict(file_name_suffix=".csv", num_shards=2, shard_name_template=SHARDS, header=HEADER, skip_if_empty=True)
    beams = beam.io.WriteToText(prefix, **text)._sink
    assert type(beams) is _TextSink
    ours = RecordedTextSink(prefix, str(tmp_path), **text)
    assert isinstance(ours, _TextSink) and settings(ours) == settings(beams)
    parquet = dict(schema=SCHEMA, file_name_suffix=".parquet", num_shards=2, shard_name_template=SHARDS)
    beams = beam.io.WriteToParquetBatched(prefix, **parquet)._sink
    assert type(beams) is _ParquetSink
    ours = RecordedParquetSink(prefix, str(tmp_path), **parquet)
    assert isinstance(ours, _ParquetSink) and settings(ours) == settings(beams)
    # the final names our figures are filed under are Beam's
    assert ours._final_names(3) == [ours._get_final_name(i, 3) for i in range(3)]
    assert ours.stats_path() == f"{tmp_path}/{STATS_PREFIX}-data.t.jsonl"
