"""Publishing takes each file's rows, bytes and sha256 from what the sinks recorded
while writing it (issue #11): it never opens a data or quarantine file, the manifest
holds the figures the files' contents give, the stats files go, and a file that is
gone, changed in size or not written by the run stops publishing (FilesMissing)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.test_pipeline import TestPipeline
from dataset_io import dataset_dir, read_dataset, read_manifest, read_quarantine, run_pipeline

from pipeline import publish
from transforms.columns import COLUMNS
from transforms.filestats import STATS_PREFIX
from transforms.write import WriteDataset

SIM = "simulated://?sessions=120&seed=3&bad_rate=0.05"
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
DATA_FOLDERS = ("/data/", "/runs/", "/tool_calls/", "/quarantine/")


@pytest.fixture
def no_data_reads(monkeypatch):
    """FileSystems.open fails for any file in a table's or the quarantine's folder (the
    sinks' own temporary folders aside: Beam's writers read their side files there)."""
    opened = []
    real = FileSystems.open

    def guarded(path, *args, **kwargs):
        posix = path.replace("\\", "/")
        if any(folder in posix for folder in DATA_FOLDERS) and "/beam-temp-" not in posix:
            opened.append(path)
            raise AssertionError(f"publishing read {path}")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(FileSystems, "open", staticmethod(guarded))
    return opened


def figures(path: Path) -> dict:
    data = path.read_bytes()
    if path.suffix == ".parquet":
        rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    elif path.suffix == ".csv":
        rows = len(list(csv.reader(io.StringIO(data.decode(), newline="")))) - 1
    else:
        rows = len([line for line in data.decode().split("\n") if line.strip()])
    return {"rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_run_publishes_the_figures_of_its_files_without_reading_them(tmp_path, no_data_reads, fmt):
    args = ["--source", SIM, *DATES, "--output", str(tmp_path), "--num_shards", "2", "--format", fmt]
    assert run_pipeline([*args, "--tables", "sessions,runs,tool_calls"]) == 0
    assert no_data_reads == []
    folder = dataset_dir(tmp_path)
    manifest = read_manifest(folder)
    entries = [*manifest["quarantine"], *(f for t in manifest["tables"].values() for f in t["files"])]
    assert {e["path"].split("/")[1] for e in entries} == {"data", "runs", "tool_calls", "quarantine"}
    for entry in entries:
        assert set(entry) == {"path", "rows", "bytes", "sha256"}
        assert {k: entry[k] for k in ("rows", "bytes", "sha256")} == figures(folder / entry["path"]), entry["path"]
    assert manifest["files"] == manifest["tables"]["sessions"]["files"]
    assert sum(f["rows"] for f in manifest["files"]) == manifest["counts"]["rows_written"] > 0
    assert len(read_quarantine(folder)) == manifest["counts"]["quarantined"] > 0
    if fmt == "csv":
        assert len(read_dataset(folder)) == manifest["counts"]["rows_written"]
    # the stats files are gone, and a table's folder holds its data files alone
    run = folder / manifest["run_id"]
    assert not list(folder.rglob(f"{STATS_PREFIX}-*")) and not list(folder.rglob("*.stats.json"))
    for table in manifest["tables"].values():
        listed = sorted(p.relative_to(folder).as_posix() for p in (folder / table["location"]).iterdir())
        assert listed == sorted(f["path"] for f in table["files"])
    assert sorted(p.name for p in run.iterdir()) == ["_lease.json", "data", "quarantine", "runs", "tool_calls"]


def row(i: int) -> dict:
    values = {c.name: None for c in COLUMNS}
    values.update(session_id=f"s,{i}", total_runs=i, session_start=1733011200.0 + i)
    return values


def written_run(tmp_path: Path, n: int = 25) -> tuple[str, str]:
    """A run folder as a pipeline leaves it: data files and the sinks' stats files."""
    root = tmp_path / "window"
    run = root / "run-20241201T000000Z-abcdef"
    with TestPipeline() as p:
        rows = p | "Rows" >> beam.Create([row(i) for i in range(n)])
        quarantine = p | "Quarantine" >> beam.Create([])
        counts = p | "Counts" >> beam.Create([("rows_written", n)])
        _ = (rows, quarantine, counts) | WriteDataset(str(run), 3)
    return str(root), str(run)


def test_write_manifest_uses_the_records_and_removes_them(tmp_path, no_data_reads):
    root, run = written_run(tmp_path)
    assert len(list(Path(run).glob(f"{STATS_PREFIX}-*"))) == 1
    manifest = publish.write_manifest(root, run, {"counts": {"rows_written": 25}})
    assert no_data_reads == []
    assert [Path(f["path"]).name for f in manifest["files"]] == [f"features-0000{i}-of-00003.csv" for i in range(3)]
    for entry in manifest["files"]:
        assert {k: entry[k] for k in ("rows", "bytes", "sha256")} == figures(Path(root) / entry["path"])
    assert manifest["quarantine"] == []  # nothing quarantined: no file, no record
    assert not list(Path(run).glob(f"{STATS_PREFIX}-*"))
    assert json.loads((Path(root) / publish.MANIFEST).read_text())["files"] == manifest["files"]


def gone(run: str) -> None:
    (Path(run) / "data" / "features-00001-of-00003.csv").unlink()


def grown(run: str) -> None:
    with (Path(run) / "data" / "features-00002-of-00003.csv").open("a") as handle:
        handle.write("x\n")


def stranger(run: str) -> None:
    (Path(run) / "data" / "features-00009-of-00010.csv").write_text("session_id\n")


def unrecorded(run: str) -> None:
    for path in Path(run).glob(f"{STATS_PREFIX}-*"):
        path.unlink()


@pytest.mark.parametrize(
    "damage, message",
    [
        (gone, "1 files the run wrote are gone from"),
        (grown, "features-00002-of-00003.csv holds"),
        (stranger, "features-00009-of-00010.csv has no record"),
        (unrecorded, "features-00000-of-00003.csv has no record"),
    ],
)
def test_a_file_gone_changed_or_not_written_by_the_run_publishes_nothing(tmp_path, damage, message):
    root, run = written_run(tmp_path)
    damage(run)
    with pytest.raises(publish.FilesMissing, match=message):
        publish.write_manifest(root, run, {"counts": {"rows_written": 25}})
    assert not (Path(root) / publish.MANIFEST).exists()


def test_fewer_rows_than_counted_publishes_nothing(tmp_path):
    root, run = written_run(tmp_path)
    with pytest.raises(publish.FilesMissing, match="hold 25 rows, the run wrote 26"):
        publish.write_manifest(root, run, {"counts": {"rows_written": 26}})
    assert not (Path(root) / publish.MANIFEST).exists()
