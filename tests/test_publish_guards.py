"""What the launcher publishes when the runner did not run the pipeline where it can
see it: nothing, with one line. The manifest's account of the runner. The
`publish` command's errors (its whole route, a jar built and run on Flink, is in
test_runners.py)."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from dataset_io import DOCUMENTS, dataset_dir, read_dataset, read_manifest, run_pipeline

from pipeline import publish

SIM = "simulated://?sessions=30&seed=8&formats=agno3,agno2,agno1,phidata&bad_rate=0.1"
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("session-features:")]


def test_read_counts_of_a_run_folder_without_counts_raises(tmp_path):
    (tmp_path / "run-x" / "data").mkdir(parents=True)
    with pytest.raises(publish.NoCounts):
        publish.read_counts(str(tmp_path / "run-x"))
    with pytest.raises(publish.NoCounts):  # a folder the workers never created
        publish.read_counts(str(tmp_path / "run-never"))


def test_an_empty_window_still_writes_counts(tmp_path):
    """So a missing counts file always means the pipeline did not write here."""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "agno_sessions.jsonl").write_text("")
    assert run_pipeline(["--source", str(dump), *DATES, "--output", str(tmp_path / "out")]) == 0
    manifest = read_manifest(tmp_path / "out")
    assert manifest["counts"]["sessions_read"] == manifest["counts"]["rows_written"] == 0
    assert manifest["files"] and read_dataset(tmp_path / "out") == {}


def test_a_runner_that_writes_no_counts_publishes_nothing(tmp_path, monkeypatch, capsys):
    """As when a remote cluster is given a local --output: the workers write on their own disks."""
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path / "out")]) == 0
    out = dataset_dir(tmp_path / "out")
    before = (out / "manifest.json").read_bytes()
    rows = read_dataset(out)
    capsys.readouterr()

    def build_writing_nowhere(p, cfg, run_dir, *slice_part):
        p | beam.Create([1, 2, 3]) | beam.Map(lambda n: n * 2)  # runs, writes nothing

    monkeypatch.setattr("pipeline.slices.build", build_writing_nowhere)
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path / "out")]) == 1
    (line,) = error_lines(capsys)
    assert line.startswith(f"session-features: the runner wrote no counts to {out}/run-")
    assert "--output must be storage the workers share, e.g. s3://" in line and "nothing was published" in line
    assert (out / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", json.loads(before)["run_id"], *DOCUMENTS])
    assert read_dataset(out) == rows


def test_manifest_records_the_runner_and_where_it_ran(tmp_path):
    args = ["--source", SIM, *DATES, "--output", str(tmp_path)]
    assert run_pipeline([*args, "--direct_num_workers", "2", "--direct_running_mode", "multi_threading"]) == 0
    manifest = read_manifest(tmp_path)
    assert manifest["runner"] == "DirectRunner"
    assert manifest["runner_details"] == {
        "direct_num_workers": 2,
        "direct_running_mode": "multi_threading",
        "beam_version": importlib.metadata.version("apache-beam"),
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
    }
    assert manifest["runner_details"]["beam_version"] == "2.77.0"


def test_runner_details_redact_masters_and_endpoints():
    from pipeline.runners import runner_details

    details = runner_details([
        "--runner=FlinkRunner",
        "--flink_master=https://admin:Hunter2Pass@flink.internal:8081",
        "--job_endpoint=localhost:8099",
        "--spark_master_url=spark://ops:SeCrEt@m:7077",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
        "--sdk_worker_parallelism=4",
        "--parallelism=32",
    ])  # fmt: skip
    assert details == {
        "job_endpoint": "localhost:8099",
        "spark_master_url": "spark://ops:***@m:7077",
        "flink_master": "https://admin:***@flink.internal:8081",
        "environment_type": "EXTERNAL",
        "sdk_worker_parallelism": 4,
        "parallelism": 32,
        "beam_version": "2.77.0",
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
    }


def test_output_executable_path_needs_a_runner_that_builds_jars(tmp_path, capsys):
    jar = tmp_path / "job.jar"
    args = ["--source", SIM, *DATES, "--output", str(tmp_path / "out"), f"--output_executable_path={jar}"]
    assert run_pipeline(args) == 2
    (line,) = error_lines(capsys)
    assert "--output_executable_path needs --runner=SparkRunner, FlinkRunner or PortableRunner" in line
    assert "docs/runners.md" in line
    assert not jar.exists() and not list((tmp_path / "out").rglob("manifest.json"))


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["publish"], 2, "publish needs the run folder the jar wrote to"),
        (["publish", "--s3_region_name=eu-west-1"], 2, "publish needs the run folder"),
        (["publish", "{tmp}/out"], 2, "is not a run folder (run-<time>-<id>"),
        (["publish", "{tmp}/out/run-20241201T000000Z-abc123"], 2, "holds no _pending_manifest.json"),
    ],
)
def test_publish_usage_errors(argv, code, message, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert run_pipeline(argv) == code
    (line,) = error_lines(capsys)
    assert message in line


def test_publish_of_a_jar_that_did_not_run_fails_and_keeps_the_dataset(tmp_path, capsys):
    assert run_pipeline(["--source", SIM, *DATES, "--output", str(tmp_path / "out")]) == 0
    out = dataset_dir(tmp_path / "out")
    before = (out / "manifest.json").read_bytes()
    pending_run = out / "run-20991231T000000Z-feed00"
    publish.write_pending(str(pending_run), {"run_id": pending_run.name, "started_at": "2099-12-31T00:00:00Z"})
    capsys.readouterr()

    assert run_pipeline(["publish", str(pending_run)]) == 1
    (line,) = error_lines(capsys)
    assert line.startswith(
        f"session-features: the runner wrote no counts to {pending_run}; the jar has not run, or it failed; "
        "nothing was published (log: "
    )
    assert (out / "manifest.json").read_bytes() == before
    assert (pending_run / publish.PENDING_MANIFEST).exists()  # run the jar, then publish again
    assert Path(out / json.loads(before)["run_id"]).is_dir()
