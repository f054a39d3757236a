"""Delivery to S3 through Beam's own S3 filesystem, against moto's S3 server on
127.0.0.1: layout, replacement, a run killed mid-write, retried faults, secrets."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from dataset_io import DOCUMENTS, dataset_dir, read_dataset, read_manifest, read_quarantine, run_pipeline, write_dump
from s3server import BUCKET, REGION, RESET, FaultProxy, MotoS3

REPO = Path(__file__).resolve().parents[1]
SIM = "simulated://?sessions=60&seed=4&formats=agno3,agno2,agno1,phidata&bad_rate=0.05"
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
WINDOW = "window_start=2024-12-01/window_end=2025-01-01"  # the dataset folder of DATES


def mirror(s3: MotoS3, prefix: str, dest: Path) -> Path:
    """Download everything under `prefix` so the dataset can be read through its manifest."""
    client = s3.client()
    for key in s3.keys(BUCKET, prefix + "/"):
        target = dest / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return dest


def s3_args(endpoint: str, prefix: str) -> list[str]:
    return ["--output", f"s3://{BUCKET}/{prefix}", "--s3_endpoint_url", endpoint, "--s3_region_name", REGION]


def test_dataset_and_manifest_land_where_documented(s3, aws_env, tmp_path):
    assert run_pipeline(["--source", SIM, *DATES, "--num_shards", "2", *s3_args(s3.endpoint, "daily")]) == 0
    keys = s3.keys(BUCKET, "daily/")
    manifest = json.loads(s3.client().get_object(Bucket=BUCKET, Key=f"daily/{WINDOW}/manifest.json")["Body"].read())
    run = manifest["run_id"]
    assert keys == sorted(
        [
            f"daily/{WINDOW}/manifest.json",
            f"daily/{WINDOW}/sagemaker-sessions.manifest",
            f"daily/{WINDOW}/{run}/_lease.json",
            f"daily/{WINDOW}/{run}/data/features-00000-of-00002.csv",
            f"daily/{WINDOW}/{run}/data/features-00001-of-00002.csv",
            f"daily/{WINDOW}/{run}/quarantine/quarantine-00000-of-00001.jsonl",
            *(f"daily/{WINDOW}/{name}" for name in DOCUMENTS),
        ]
    )
    rows = read_dataset(mirror(s3, "daily", tmp_path / "m"))  # sha256 and row counts checked there
    counts = manifest["counts"]
    assert len(rows) == counts["rows_written"] and counts["rows_written"] + counts["quarantined"] == 60
    assert manifest["data_location"] == f"s3://{BUCKET}/daily/{WINDOW}/{run}/data/"


def test_a_sliced_window_lands_as_one_dataset(s3, aws_env, tmp_path):
    assert run_pipeline(["--source", SIM, *DATES, "--slices", "2", *s3_args(s3.endpoint, "sliced")]) == 0
    manifest = json.loads(s3.client().get_object(Bucket=BUCKET, Key=f"sliced/{WINDOW}/manifest.json")["Body"].read())
    run = manifest["run_id"]
    assert [k for k in s3.keys(BUCKET, "sliced/") if "/data/" in k] == [
        f"sliced/{WINDOW}/{run}/data/features-s000-00000-of-00001.csv",
        f"sliced/{WINDOW}/{run}/data/features-s001-00000-of-00001.csv",
    ]
    assert not [k for k in s3.keys(BUCKET, "sliced/") if "_counts" in k]  # read, summed and removed
    rows = read_dataset(mirror(s3, "sliced", tmp_path / "m"))
    assert manifest["slices"] == 2 and len(rows) == manifest["counts"]["rows_written"]
    assert manifest["counts"]["rows_written"] + manifest["counts"]["quarantined"] == 60


def test_rerun_replaces_the_dataset_whole(s3, aws_env, tmp_path):
    args = ["--source", SIM, *DATES, *s3_args(s3.endpoint, "rerun")]
    assert run_pipeline(args) == 0
    first = read_dataset(mirror(s3, "rerun", tmp_path / "a"))
    first_run = read_manifest(tmp_path / "a")["run_id"]
    assert run_pipeline(args) == 0
    second_run = read_manifest(mirror(s3, "rerun", tmp_path / "b"))["run_id"]
    assert read_dataset(tmp_path / "b") == first
    assert second_run != first_run
    assert not [k for k in s3.keys(BUCKET, "rerun/") if first_run in k]  # no stale shards


def test_original_job_environment_names_and_endpoint_variable(s3, aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("S3_BUCKET", BUCKET)
    monkeypatch.setenv("S3_PREFIX", "/from-env/")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert run_pipeline(["--source", SIM, *DATES, "--hive"]) == 0
    assert f"from-env/{WINDOW}/manifest.json" in s3.keys(BUCKET, "from-env/")


def test_throttling_server_errors_and_connection_resets_are_retried(s3, aws_env, tmp_path):
    counter = itertools.count()
    faults = [(503, "SlowDown"), (500, "InternalError"), RESET, (503, "ServiceUnavailable")]

    def every_third(method: str, path: str):
        n = next(counter)
        return faults[n // 3 % 4] if n % 3 == 1 else None

    with FaultProxy(s3.port, every_third) as proxy:
        assert run_pipeline(["--source", SIM, *DATES, *s3_args(proxy.endpoint, "flaky")]) == 0
    codes = {"SlowDown", "InternalError", "ConnectionReset", "ServiceUnavailable"}
    assert {code for _, _, code in proxy.injected} == codes
    # uploads (multipart parts, their completion) and copies were among the answers retried
    assert {method for method, _, _ in proxy.injected} >= {"PUT", "POST"}
    rows = read_dataset(mirror(s3, "flaky", tmp_path / "m"))
    assert len(rows) == read_manifest(tmp_path / "m")["counts"]["rows_written"] > 0


def test_a_run_killed_mid_write_leaves_the_published_dataset_untouched(s3, aws_env, tmp_path):
    args = ["--source", SIM, *DATES]
    assert run_pipeline([*args, *s3_args(s3.endpoint, "killed")]) == 0
    before = read_dataset(mirror(s3, "killed", tmp_path / "before"))
    before_run = read_manifest(tmp_path / "before")["run_id"]

    child: list[subprocess.Popen] = []
    killed = threading.Event()

    def kill_on_first_data_write(method: str, path: str):
        if method in ("PUT", "POST") and "/data/" in path and child and not killed.is_set():
            os.kill(child[0].pid, signal.SIGKILL)  # dies while writing its data files
            killed.set()
            return 503, "SlowDown"
        return None

    with FaultProxy(s3.port, kill_on_first_data_write) as proxy:
        child.append(
            subprocess.Popen(
                [sys.executable, "-m", "pipeline", *args, *s3_args(proxy.endpoint, "killed")],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        assert child[0].wait(timeout=300) == -signal.SIGKILL and killed.is_set()

    # The reader still sees the earlier dataset, whole; the dead run is not published.
    assert read_dataset(mirror(s3, "killed", tmp_path / "during")) == before
    assert read_manifest(tmp_path / "during")["run_id"] == before_run

    # The next run succeeds and removes what the dead run left behind.
    assert run_pipeline([*args, *s3_args(s3.endpoint, "killed")]) == 0
    after = mirror(s3, "killed", tmp_path / "after")
    run = read_manifest(after)["run_id"]
    names = {k.split("/")[3] for k in s3.keys(BUCKET, "killed/")}
    assert names == {"manifest.json", "sagemaker-sessions.manifest", run, *DOCUMENTS}
    assert read_dataset(after) == before


def test_parquet_on_s3_reads_back_with_pyarrow(s3, aws_env, tmp_path):
    import pyarrow.parquet as pq

    assert run_pipeline(["--source", SIM, *DATES, "--format", "parquet", *s3_args(s3.endpoint, "pq")]) == 0
    local = dataset_dir(mirror(s3, "pq", tmp_path / "m"))
    manifest = read_manifest(local)
    (entry,) = manifest["files"]
    table = pq.read_table(local / entry["path"])
    assert table.num_rows == entry["rows"] == manifest["counts"]["rows_written"]
    assert str(table.schema.field("session_start").type) == "timestamp[us, tz=UTC]"


def test_credentials_never_appear_in_logs_manifest_quarantine_or_errors(s3, ferretdb, mongo_db, tmp_path):
    """A Mongo password and AWS keys given as flags: none of them is printed or written."""
    from test_mongo_source import RUNS, SESSIONS

    mongo_db["agno_sessions"].insert_many([dict(d) for d in SESSIONS])
    mongo_db["agno_runs"].insert_many([dict(d) for d in RUNS])
    # FerretDB accepts (and ignores) PLAIN credentials; plain text is fine on 127.0.0.1 only.
    uri = ferretdb.uri.replace("mongodb://", "mongodb://reader:Hunter2Pass@").rstrip("/")
    uri += f"/{mongo_db.name}?authMechanism=PLAIN&authSource=$external"
    secrets = ["Hunter2Pass", "AKIATESTKEY0000", "SeCrEtAcCeSsKeY0000"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "--source",
            uri,
            *DATES,
            *s3_args(s3.endpoint, "secret"),
            "--s3_access_key_id",
            secrets[1],
            "--s3_secret_access_key",
            secrets[2],
        ],  # fmt: skip
        cwd=REPO,
        env={**env, "AWS_DEFAULT_REGION": REGION},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    written = [s3.client().get_object(Bucket=BUCKET, Key=k)["Body"].read().decode() for k in s3.keys(BUCKET, "secret/")]
    assert any('"quarantined": 2' in text for text in written)  # the manifest is among them
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
        assert not any(secret in text for text in written)

    # A failing run's error line is redacted too (nothing listens on this port).
    failed = subprocess.run(
        [sys.executable, "-m", "pipeline", "--source", "mongodb://u:Hunter2Pass@127.0.0.1:9/x", *DATES],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2 and "Hunter2Pass" not in failed.stderr and "***" in failed.stderr


def test_pipeline_display_data_and_options_hold_no_secrets(ferretdb):
    """What a runner UI or job server shows: the options' and transforms' display data."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.transforms.display import DisplayData

    from pipeline.graph import build
    from pipeline.main import take_aws_keys
    from pipeline.options import parse

    saved = dict(os.environ)
    try:
        beam_args = take_aws_keys(["--s3_secret_access_key=SeCrEtAcCeSsKeY0000", "--runner=DirectRunner"])
        cfg, _ = parse(["--source", "mongodb://u:Hunter2Pass@127.0.0.1:27017/agno", *DATES], {})
        options = PipelineOptions(beam_args)
        shown = [str(item) for item in DisplayData.create_from_options(options).items]
        p = beam.Pipeline(options=options)
        build(p, cfg, "/tmp/never-run")
        proto = p.to_runner_api()
        for transform in proto.components.transforms.values():
            shown += [str(d) for d in transform.display_data]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert shown and not any("SeCrEtAcCeSsKeY0000" in s or "Hunter2Pass" in s for s in shown)


def test_dump_folder_on_s3_gives_the_rows_of_the_same_dump_on_disk(s3, aws_env, tmp_path, capsys):
    """mongodump's <folder>/<database>/ layout, sessions as JSON lines (one broken line),
    runs as BSON, read through Beam's S3 filesystem."""
    import bson
    from test_mongo_source import RUNS, SESSIONS

    local = tmp_path / "dump"
    write_dump(local / "agno", "agno_sessions", SESSIONS)
    with (local / "agno" / "agno_sessions.jsonl").open("a") as handle:
        handle.write("{not json at all\n")
    (local / "agno" / "agno_runs.bson").write_bytes(b"".join(bson.encode(d) for d in RUNS))
    client = s3.client()
    for path in sorted((local / "agno").iterdir()):
        client.put_object(Bucket=BUCKET, Key=f"dumps/2024-12/agno/{path.name}", Body=path.read_bytes())
    s3_flags = ["--s3_endpoint_url", s3.endpoint, "--s3_region_name", REGION]

    args = [*DATES, "--database", "agno"]
    assert run_pipeline(["--source", str(local), *args, "--output", str(tmp_path / "disk")]) == 0
    source = f"s3://{BUCKET}/dumps/2024-12"
    assert run_pipeline(["--source", source, *args, "--output", str(tmp_path / "s3"), *s3_flags]) == 0
    expected = read_dataset(tmp_path / "disk")
    assert sorted(expected) == ["s-date", "s-dup", "s-float", "s-int", "s-iso", "s-ms", "s-none"]
    assert read_dataset(tmp_path / "s3") == expected
    # the same records; an unreadable one names its file where it was read
    on_s3_q, on_disk_q = read_quarantine(tmp_path / "s3"), read_quarantine(tmp_path / "disk")
    assert [q.pop("file", "").rsplit("/", 2)[-2:] for q in on_s3_q] == [
        q.pop("file", "").rsplit("/", 2)[-2:] for q in on_disk_q
    ]
    assert on_s3_q == on_disk_q
    on_s3, on_disk = read_manifest(tmp_path / "s3"), read_manifest(tmp_path / "disk")
    assert on_s3["counts"] == on_disk["counts"]
    assert (on_s3["counts"]["quarantined"], on_s3["counts"]["orphaned_runs"]) == (2, 1)
    assert on_s3["counts"]["unreadable_records"] == 1  # the broken line
    assert on_s3["source"] == {**on_disk["source"], "uri": source}

    # The same checks as for a local folder: one line, exit 2.
    capsys.readouterr()
    assert run_pipeline(["--source", f"s3://{BUCKET}/dumps/none", *DATES, *s3_flags]) == 2
    assert run_pipeline(["--source", f"s3://{BUCKET}/dumps/2024-12", *DATES, "--collection", "x", *s3_flags]) == 2
    assert run_pipeline(["--source", "s3://no-such-bucket-here/dump", *DATES, *s3_flags]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("session-features:")]
    assert lines[0] == f"session-features: the dump folder s3://{BUCKET}/dumps/none does not exist"
    assert lines[1] == f"session-features: the dump folder s3://{BUCKET}/dumps/2024-12 has no x.jsonl, .json or .bson"
    assert lines[2] == "session-features: the dump folder s3://no-such-bucket-here/dump does not exist"
    assert len(lines) == 3
