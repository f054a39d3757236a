"""Glue Data Catalog registration and SageMaker manifests, against moto's server (S3 and
Glue on one port) on 127.0.0.1: the table's columns, a window's partition and its moves,
a killed run, a catalog failure after publish and its repair, a refused schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest
from dataset_io import run_pipeline
from s3server import REGION, FaultProxy, MotoS3, kill_on_first_data_write

from pipeline import catalog, sagemaker
from transforms.window import Window

REPO = Path(__file__).resolve().parents[1]
BUCKET, DATABASE = "lake", "ml"
SIM = "simulated://?sessions=12&seed=3"
DEC_1 = ["--start_date", "2024-12-01", "--end_date", "2024-12-01"]  # the whole day
DEC_2 = ["--start_date", "2024-12-02", "--end_date", "2024-12-02"]


@pytest.fixture(scope="module")
def moto():
    with MotoS3() as server:
        server.client().create_bucket(Bucket=BUCKET)
        glue_of(server.endpoint).create_database(DatabaseInput={"Name": DATABASE})
        yield server


def glue_of(endpoint: str):
    return boto3.client(
        "glue", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def glue(moto, monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_GLUE": moto.endpoint,  # restored afterwards, whatever a run set
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return glue_of(moto.endpoint)


def args(endpoint: str, prefix: str, table: str, *extra: str) -> list[str]:
    name = table if "." in table else f"{DATABASE}.{table}"
    return [
        "--source", SIM, "--output", f"s3://{BUCKET}/{prefix}", "--glue_table", name,
        "--s3_endpoint_url", endpoint, "--s3_region_name", REGION, *extra,
    ]  # fmt: skip


def manifest_of(moto: MotoS3, key: str) -> dict:
    return json.loads(moto.client().get_object(Bucket=BUCKET, Key=key)["Body"].read())


def partition(glue, table: str, values: list[str]) -> dict:
    return glue.get_partition(DatabaseName=DATABASE, TableName=table, PartitionValues=values)["Partition"]


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("session-features:")]


def test_parquet_table_columns_partition_and_sagemaker_manifest(moto, glue):
    assert (
        run_pipeline([*args(moto.endpoint, "pq", "features", "--format", "parquet", "--num_shards", "2"), *DEC_1]) == 0
    )
    table = glue.get_table(DatabaseName=DATABASE, Name="features")["Table"]
    columns = table["StorageDescriptor"]["Columns"]
    types = {c["Name"]: c["Type"] for c in columns}
    assert len(columns) == 59 and columns[0]["Name"] == "session_id" and columns[-1]["Name"] == "is_weekend"
    assert (types["session_id"], types["total_runs"], types["cost_sum"]) == ("string", "bigint", "double")
    assert (types["has_failure"], types["session_start"]) == ("boolean", "timestamp")
    assert columns[8] == {"Name": "total_runs", "Type": "bigint", "Comment": "int: top-level runs (no parent_run_id)"}
    assert [k["Name"] for k in table["PartitionKeys"]] == ["window_start", "window_end"]
    serde = table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert table["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/pq/"

    root = "pq/window_start=2024-12-01/window_end=2024-12-02"
    manifest = manifest_of(moto, f"{root}/manifest.json")
    run = manifest["run_id"]
    assert manifest["tables"]["sessions"]["location"] == f"{run}/data/"
    # A day's window ends (exclusively) at the next midnight.
    part = partition(glue, "features", ["2024-12-01", "2024-12-02"])
    assert part["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/{root}/{run}/data/"
    assert part["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == serde

    listed = manifest_of(moto, f"{root}/sagemaker-sessions.manifest")
    data_keys = moto.keys(BUCKET, f"{root}/{run}/data/")
    assert listed == [
        {"prefix": f"s3://{BUCKET}/{root}/"},
        f"{run}/data/features-00000-of-00002.parquet",
        f"{run}/data/features-00001-of-00002.parquet",
    ]
    assert [f"{root}/{key}" for key in listed[1:]] == data_keys


def test_a_rerun_moves_its_partition_a_killed_run_does_not_and_other_windows_stay(moto, glue):
    assert run_pipeline([*args(moto.endpoint, "daily", "daily"), *DEC_1]) == 0
    assert run_pipeline([*args(moto.endpoint, "daily", "daily"), *DEC_2]) == 0
    first = partition(glue, "daily", ["2024-12-01", "2024-12-02"])
    other = partition(glue, "daily", ["2024-12-02", "2024-12-03"])
    table = glue.get_table(DatabaseName=DATABASE, Name="daily")["Table"]
    assert {c["Type"] for c in table["StorageDescriptor"]["Columns"]} == {"string"}  # CSV: OpenCSVSerde
    assert table["StorageDescriptor"]["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
        "Parameters": {"separatorChar": ",", "quoteChar": '"', "escapeChar": '"'},
    }
    assert table["Parameters"]["skip.header.line.count"] == "1"

    assert run_pipeline([*args(moto.endpoint, "daily", "daily"), *DEC_1]) == 0
    run = manifest_of(moto, "daily/window_start=2024-12-01/window_end=2024-12-02/manifest.json")["run_id"]
    moved = partition(glue, "daily", ["2024-12-01", "2024-12-02"])
    assert (
        moved["StorageDescriptor"]["Location"]
        == f"s3://{BUCKET}/daily/window_start=2024-12-01/window_end=2024-12-02/{run}/data/"
    )
    assert moved["StorageDescriptor"]["Location"] != first["StorageDescriptor"]["Location"]
    assert partition(glue, "daily", ["2024-12-02", "2024-12-03"]) == other
    listed = glue.get_partitions(DatabaseName=DATABASE, TableName="daily")["Partitions"]
    assert sorted(p["Values"][0] for p in listed) == ["2024-12-01", "2024-12-02"]

    kill_on_first_data_write(
        moto.port,
        lambda endpoint: [sys.executable, "-m", "pipeline", *args(endpoint, "daily", "daily"), *DEC_1],
        cwd=REPO,
        env={**os.environ},  # Glue straight to moto: the run dies before any catalog call
    )
    assert partition(glue, "daily", ["2024-12-01", "2024-12-02"]) == moved
    assert partition(glue, "daily", ["2024-12-02", "2024-12-03"]) == other


def test_a_catalog_failure_after_publish_is_one_line_and_the_next_run_repairs_it(moto, glue):
    assert run_pipeline([*args(moto.endpoint, "flaky", "flaky"), *DEC_1]) == 0
    before = partition(glue, "flaky", ["2024-12-01", "2024-12-02"])
    published = threading.Event()

    def refuse_glue_after_the_manifest(method: str, path: str):
        if method == "PUT" and path.startswith(f"/{BUCKET}/flaky/") and path.split("?")[0].endswith("/manifest.json"):
            published.set()
        if path == "/" and published.is_set():  # Glue's JSON API is POST /; S3 paths name the bucket
            return 400, "AccessDeniedException"
        return None

    with FaultProxy(moto.port, refuse_glue_after_the_manifest) as proxy:
        failed = subprocess.run(
            [sys.executable, "-m", "pipeline", *args(proxy.endpoint, "flaky", "flaky"), *DEC_1],
            cwd=REPO,
            env={**os.environ, "AWS_ENDPOINT_URL_GLUE": proxy.endpoint},
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert failed.returncode == 3 and "Traceback" not in failed.stderr
    assert proxy.injected and {code for _, _, code in proxy.injected} == {"AccessDeniedException"}
    (line,) = [ln for ln in failed.stderr.splitlines() if ln.startswith("session-features:")]
    day = "window_start=2024-12-01/window_end=2024-12-02"
    manifest = manifest_of(moto, f"flaky/{day}/manifest.json")
    assert line.startswith(
        f"session-features: the dataset is published (s3://{BUCKET}/flaky/{day}/manifest.json) "
        "but the Glue catalog was not updated: "
    )
    assert line.endswith("; the next run of this window updates it")
    assert manifest["run_id"] not in before["StorageDescriptor"]["Location"]  # published anew
    assert partition(glue, "flaky", ["2024-12-01", "2024-12-02"]) == before  # the catalog was refused

    assert run_pipeline([*args(moto.endpoint, "flaky", "flaky"), *DEC_1]) == 0
    run = manifest_of(moto, f"flaky/{day}/manifest.json")["run_id"]
    repaired = partition(glue, "flaky", ["2024-12-01", "2024-12-02"])
    assert repaired["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/flaky/{day}/{run}/data/"
    assert moto.keys(BUCKET, f"flaky/{day}/{run}/data/")  # it points at live files


def test_published_windows_without_a_partition_are_registered_and_others_skipped(moto, glue):
    """A window published before --glue_table (or whose catalog call failed) gets its partition
    from the next run with --glue_table; one of another format does not."""
    base = ["--source", SIM, "--output", f"s3://{BUCKET}/backfill", "--s3_endpoint_url", moto.endpoint]
    assert run_pipeline([*base, "--s3_region_name", REGION, "--hive", *DEC_1]) == 0
    dec_3 = ["--start_date", "2024-12-03", "--end_date", "2024-12-03"]
    assert run_pipeline([*base, "--s3_region_name", REGION, "--hive", "--format", "parquet", *dec_3]) == 0
    assert run_pipeline([*args(moto.endpoint, "backfill", "backfill"), *DEC_2]) == 0
    folder = {day: f"backfill/window_start=2024-12-0{day}/window_end=2024-12-0{day + 1}" for day in (1, 2)}
    runs = {day: manifest_of(moto, f"{folder[day]}/manifest.json")["run_id"] for day in (1, 2)}
    listed = glue.get_partitions(DatabaseName=DATABASE, TableName="backfill")["Partitions"]
    assert sorted((p["Values"], p["StorageDescriptor"]["Location"]) for p in listed) == [
        (["2024-12-01", "2024-12-02"], f"s3://{BUCKET}/{folder[1]}/{runs[1]}/data/"),
        (["2024-12-02", "2024-12-03"], f"s3://{BUCKET}/{folder[2]}/{runs[2]}/data/"),
    ]


def test_a_table_of_another_feature_set_or_format_is_refused_before_any_work(moto, glue, capsys):
    older = catalog.table_input("older", "sessions", "parquet", "v1.0", f"s3://{BUCKET}/older/")
    columns = older["StorageDescriptor"]["Columns"]
    older["StorageDescriptor"]["Columns"] = [c for c in columns if c["Name"] != "is_weekend"]
    glue.create_table(DatabaseName=DATABASE, TableInput=older)
    csv_made = catalog.table_input("csv_made", "sessions", "csv", "v1.1", f"s3://{BUCKET}/csv_made/")
    glue.create_table(DatabaseName=DATABASE, TableInput=csv_made)

    capsys.readouterr()
    assert run_pipeline([*args(moto.endpoint, "older", "older", "--format", "parquet"), *DEC_1]) == 2
    assert run_pipeline([*args(moto.endpoint, "csv_made", "csv_made", "--format", "parquet"), *DEC_1]) == 2
    assert error_lines(capsys) == [
        f"session-features: the Glue table {DATABASE}.older holds feature set v1.0, this run writes v1.1 parquet "
        "(new columns is_weekend): give a new --glue_table",
        f"session-features: the Glue table {DATABASE}.csv_made holds feature set v1.1, this run writes v1.1 parquet "
        "(SerDe org.apache.hadoop.hive.serde2.OpenCSVSerde instead of "
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe): give a new --glue_table",
    ]
    assert moto.keys(BUCKET, "older/") == moto.keys(BUCKET, "csv_made/") == []  # nothing ran
    assert glue.get_partitions(DatabaseName=DATABASE, TableName="older")["Partitions"] == []


def test_usage_errors_are_one_line(moto, glue, capsys, tmp_path):
    capsys.readouterr()
    local = ["--source", SIM, *DEC_1, "--output", str(tmp_path / "out"), "--glue_table", "ml.local"]
    assert run_pipeline(local) == 2
    assert run_pipeline([*args(moto.endpoint, "bad", "Bad-Name"), *DEC_1]) == 2
    assert run_pipeline([*args(moto.endpoint, "nodb", "nodb.t"), *DEC_1]) == 2
    assert error_lines(capsys) == [
        f"session-features: --glue_table registers S3 data for Athena: --output must be s3://…, not {tmp_path / 'out'}",
        "session-features: --glue_table must be DATABASE.TABLE in lowercase letters, digits and underscores, "
        f"not '{DATABASE}.Bad-Name'",
        "session-features: cannot use the Glue catalog for nodb.t: the Glue database nodb does not exist",
    ]


def test_partition_values_name_the_window_as_its_folders_do():
    six_to_noon = Window(1733032800.0, 1733054400.0)  # 2024-12-01T06:00Z .. 12:00Z
    window = {"start_epoch": six_to_noon.start, "end_epoch": six_to_noon.end}
    assert catalog.partition_values({"window": window}) == ["2024-12-01T060000Z", "2024-12-01T120000Z"]
    given = {"window": window, "partition": {"window_start": "a", "window_end": "b"}}
    assert catalog.partition_values(given) == ["a", "b"]
    assert catalog.table_location("s3://b/p/window_start=2024-12-01/window_end=2024-12-02") == "s3://b/p/"
    assert catalog.catalog_name("features", "runs") == "features_runs"


def test_a_sagemaker_manifest_that_cannot_be_written_is_one_line(moto, glue):
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    FileSystems.set_options(PipelineOptions(["--s3_endpoint_url", moto.endpoint, "--s3_region_name", REGION]))
    root = "s3://no-such-bucket/out/window_start=2024-12-01"
    manifest = {"tables": {"sessions": {"location": "run-x/data/", "files": [{"path": "run-x/data/f.csv"}]}}}
    line = catalog.after_publish(root, manifest)
    assert line is not None and line.startswith(
        f"the dataset is published ({root}/manifest.json) but its SageMaker manifest was not written: "
    )
    assert line.endswith("; the next run of this window writes it")
    assert sagemaker.manifest_file(root, manifest, "sessions") == [{"prefix": f"{root}/"}, "run-x/data/f.csv"]
