"""What a user can get wrong on the command line: each mistake is one line on stderr and
exit code 2 (no traceback, nothing run); Beam's own options still pass through."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from dataset_io import dataset_dir, read_manifest
from test_cli import assert_one_line_error, cli

from pipeline import simulate
from pipeline.main import run
from pipeline.options import UsageError, _parser, parse
from transforms.simulated import SimParams, generate, parse_sim_uri
from transforms.window import Window
from transforms.write import ParquetTables, WriteDataset

SIM = "simulated://?sessions=30&seed=3"
DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
UTC = dt.UTC


def epoch(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


def usage_error(capsys, argv: list[str]) -> str:
    """Run the launcher; it must exit 2 with exactly one line on stderr: that line."""
    assert run(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--nmu_shards", "3"], "unknown flag --nmu_shards; did you mean --num_shards?"),
        (["--nmu_shards=3"], "unknown flag --nmu_shards; did you mean --num_shards?"),
        (["--outptu", "/tmp/x"], "unknown flag --outptu; did you mean --output?"),
        (["--runr", "DirectRunner"], "unknown flag --runr; did you mean --runner?"),
        (["--s3_endpoint_ulr=http://127.0.0.1:1"], "unknown flag --s3_endpoint_ulr; did you mean --s3_endpoint_url?"),
        # Beam's options have no dashed spellings: the underscored one is named
        (["--direct-num-workers", "1"], "unknown flag --direct-num-workers; did you mean --direct_num_workers?"),
        (["--num", "3"], "unknown flag --num (see --help)"),  # no abbreviations
        (["3"], "unexpected argument '3': every value follows its flag (see --help)"),
        (["--num_shards"], "argument --num_shards/--num-shards: expected one argument"),
        (["--direct_num_workers", "two"], "argument --direct_num_workers: invalid int value: 'two'"),
    ],
)
def test_unknown_or_malformed_flags_are_one_line(capsys, tmp_path, flags, line):
    argv = ["--source", SIM, *DATES, "--output", str(tmp_path / "out"), *flags]
    assert usage_error(capsys, argv) == f"session-features: {line}"
    assert not (tmp_path / "out").exists()  # nothing ran


def test_a_misspelled_flag_through_the_command_line_has_no_traceback(tmp_path):
    result = cli("--source", SIM, *DATES, "--output", str(tmp_path / "out"), "--nmu_shards", "3")
    assert result.returncode == 2
    assert_one_line_error(result, "unknown flag --nmu_shards; did you mean --num_shards?")
    assert "Discarding unparseable args" not in result.stderr  # Beam is not asked first


def test_beam_options_pass_through_untouched():
    beam_flags = [
        "--runner=DirectRunner",
        "--direct_num_workers", "1",
        "--direct_running_mode=in_memory",
        "--s3_endpoint_url", "http://127.0.0.1:9",
        "--spark_master_url", "local[2]",
        "--environment_type", "LOOPBACK",
        "--experiments=a", "--experiments", "b",
        "--save_main_session",
    ]  # fmt: skip
    ours = ["--source", SIM, "--num-shards", "3", *DATES, "--end-date=2024-12-02", "--read_ranges=2"]
    cfg, rest = parse([*ours, *beam_flags], {})
    assert rest == beam_flags
    assert (cfg.num_shards, cfg.read_ranges, cfg.window.end) == (3, 2, epoch(2024, 12, 3))


def test_publish_checks_its_flags_too(capsys, tmp_path):
    line = usage_error(capsys, ["publish", str(tmp_path / "run-x"), "--s3_endpoint_ulr", "http://127.0.0.1:9"])
    assert line == "session-features: unknown flag --s3_endpoint_ulr; did you mean --s3_endpoint_url?"


OUTSIDE = "is outside 1970-01-01 .. 2199-12-31, the dates a timestamp can have"
NOT_A_DATE = "is not a date (YYYY-MM-DD) or an ISO-8601 date-time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])"


@pytest.mark.parametrize(
    ("flag", "value", "why"),
    [
        ("--end_date", "9999-12-31", OUTSIDE),  # was an OverflowError
        ("--end_date", "2200-01-01", OUTSIDE),
        ("--start_date", "1969-12-31", OUTSIDE),
        ("--end_date", "20241231", NOT_A_DATE),  # basic format: read by Python, a slip here
        ("--start_date", "2024-W49-1", NOT_A_DATE),
        ("--start_date", "2024-12-01 10:00", NOT_A_DATE),
        ("--start_date", "2024-12-01T10:00+0100", NOT_A_DATE),
        ("--start_date", "2024-12-32", NOT_A_DATE),
        ("--start_date", "2024-12-01T25:00", NOT_A_DATE),
    ],
)
def test_bad_dates_are_one_line(capsys, flag, value, why):
    argv = ["--source", SIM, *DATES, flag, value]
    assert usage_error(capsys, argv) == f"session-features: {flag} {value!r} {why}"


def test_a_bad_date_from_the_environment_names_the_variable():
    with pytest.raises(UsageError) as caught:
        parse(["--source", SIM], {"START_DATE": "20241201", "END_DATE": "2024-12-02"})
    assert str(caught.value) == f"--start_date (env START_DATE) '20241201' {NOT_A_DATE}"


@pytest.mark.parametrize(
    ("start", "end", "window"),
    [
        ("2024-12-01", "2024-12-31", (epoch(2024, 12, 1), epoch(2025, 1, 1))),
        (
            "2024-12-01T10:00Z",
            "2024-12-01T12:30:00.5+01:00",
            (epoch(2024, 12, 1, 10), epoch(2024, 12, 1, 11, 30) + 0.5),
        ),
        ("1970-01-01", "2199-12-31", (0.0, epoch(2200, 1, 1))),  # the widest window
    ],
)
def test_good_dates(start, end, window):
    cfg, _ = parse(["--source", SIM, "--start_date", start, "--end_date", end], {})
    assert cfg.window == Window(*window)


def test_since_last_takes_a_date_time_start():
    argv = ["--source", SIM, "--since_last", "--start_date", "2024-12-01T06:00:00Z", "--end_date", "2024-12-02"]
    cfg, _ = parse(argv, {}, last_end=lambda output: None)
    assert cfg.window == Window(epoch(2024, 12, 1, 6), epoch(2024, 12, 3))


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["--num_shards", "-1"], {}, "--num_shards must be a whole number from 0 to 10,000, not '-1'"),
        (["--num_shards", "2.5"], {}, "--num_shards must be a whole number from 0 to 10,000, not '2.5'"),
        (["--read_ranges", "many"], {}, "--read_ranges must be a whole number from 0 to 10,000, not 'many'"),
        (["--slices", "10001"], {}, "--slices must be a whole number from 0 to 10,000, not '10001'"),
        ([], {"NUM_SHARDS": "4.0"}, "--num_shards (env NUM_SHARDS) must be a whole number from 0 to 10,000, not '4.0'"),
        (["--format", "xml"], {}, "--format must be csv or parquet, not 'xml'"),
        ([], {"OUTPUT_FORMAT": "json"}, "--format (env OUTPUT_FORMAT) must be csv or parquet, not 'json'"),
    ],
)
def test_bad_numbers_and_choices_are_one_line(capsys, monkeypatch, argv, env, line):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert usage_error(capsys, ["--source", SIM, *DATES, *argv]) == f"session-features: {line}"


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("sessions=-5", "sessions must be a whole number from 0 to 1,000,000,000, not '-5'"),
        ("sessions=2.5", "sessions must be a whole number from 0 to 1,000,000,000, not '2.5'"),
        ("sessions=", "sessions must be a whole number from 0 to 1,000,000,000, not ''"),
        ("seed=x", "seed must be a whole number, not 'x'"),
        ("error_rate=1.5", "error_rate must be a number from 0 to 1, not '1.5'"),
        ("bad_rate=-0.1", "bad_rate must be a number from 0 to 1, not '-0.1'"),
        ("tool_error_rate=nan", "tool_error_rate must be a number from 0 to 1, not 'nan'"),
        ("runs=-1", "runs must be a number ≥ 0, not '-1'"),
        ("tools=inf", "tools must be a number ≥ 0, not 'inf'"),
        ("formats=agno3,agno4", "formats must be a comma list among agno3, agno2, agno1, phidata, not 'agno3,agno4'"),
        ("start=2024-12-01", "start and end go together"),
        ("start=2024-12-01&end=20241231", f"end '20241231' {NOT_A_DATE}"),
        ("start=2024-12-05&end=2024-12-01", "start 2024-12-05 is not before end 2024-12-01"),
        ("sesions=5", "unknown simulated source parameter 'sesions'; did you mean 'sessions'?"),
        ("sessions=5&sessions=6", "sessions is given twice"),
    ],
)
def test_bad_simulated_parameters_are_one_line(capsys, query, why):
    line = usage_error(capsys, ["--source", f"simulated://?{query}", *DATES])
    assert line == f"session-features: bad simulated source: {why}"


def test_simulated_parameters_need_the_question_mark():
    with pytest.raises(ValueError, match=r"follow a '\?'"):
        parse_sim_uri("simulated://sessions=5")  # would have been the default 1,000 sessions


def test_simulated_parameters_that_are_read():
    params = parse_sim_uri("simulated://?sessions=7&seed=-3&formats=agno2,phidata&runs=0&tools=0&bad_rate=1")
    assert params == SimParams(sessions=7, seed=-3, formats=("agno2", "phidata"), runs=0.0, tools=0.0, bad_rate=1.0)


def test_runs_zero_leaves_sessions_at_most_one_run():
    """runs is the mean of the exponential part of a session's run count; 0 leaves the
    one run 90 % of sessions get (it divided by zero before)."""
    params = parse_sim_uri("simulated://?sessions=40&formats=agno1&runs=0")
    window = Window(epoch(2024, 12, 1), epoch(2025, 1, 1))
    counts = [len(generate(i, params, window)[0]["memory"]["runs"]) for i in range(params.sessions)]
    assert set(counts) <= {0, 1} and 1 in counts


def test_help_names_each_environment_variable_once():
    text = " ".join(_parser().format_help().split())
    assert text.count("env OUTPUT") == 2  # "env OUTPUT, or S3_BUCKET + S3_PREFIX" and "env OUTPUT_FORMAT"
    assert "env OUTPUT, or S3_BUCKET + S3_PREFIX" in text and "env OUTPUT_FORMAT" in text
    assert "--hive no effect" in text


# simulate CLI


def sim_error(capsys, argv: list[str]) -> str:
    assert simulate.main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("simulate:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--sessions", "-5"], "--sessions must be a whole number from 0 to 1,000,000,000, not '-5'"),
        (["--bad_rate", "2"], "--bad_rate must be a number from 0 to 1, not '2'"),
        (["--formats", "agno9"], "--formats must be a comma list among agno3, agno2, agno1, phidata, not 'agno9'"),
        (["--sesions", "5"], "unknown flag --sesions; did you mean --sessions?"),
        (["--end_date", "20241231"], f"--end_date '20241231' {NOT_A_DATE}"),
    ],
)
def test_simulate_cli_errors_are_one_line(capsys, tmp_path, flags, line):
    assert sim_error(capsys, ["--to", str(tmp_path / "dump"), *flags]) == f"simulate: {line}"
    assert not (tmp_path / "dump").exists()


def test_simulate_into_a_dump_folder_that_holds_the_collection(capsys, tmp_path):
    folder = tmp_path / "dump"
    assert simulate.main(["--to", str(folder), "--sessions", "4"]) == 0
    before = (folder / "agno_sessions.jsonl").read_text()
    line = sim_error(capsys, ["--to", str(folder), "--sessions", "6"])
    held = "agno_sessions.jsonl, agno_runs.jsonl"
    assert line == f"simulate: the dump folder {folder} already holds {held}; --replace replaces them"
    assert (folder / "agno_sessions.jsonl").read_text() == before
    assert simulate.main(["--to", str(folder), "--sessions", "6", "--replace"]) == 0
    assert len((folder / "agno_sessions.jsonl").read_text().splitlines()) == 6


def test_simulate_next_to_a_mongodump_of_the_collection(capsys, tmp_path):
    (tmp_path / "agno_sessions.bson").write_bytes(b"")  # the pipeline would read both
    line = sim_error(capsys, ["--to", str(tmp_path), "--sessions", "2"])
    assert line == f"simulate: the dump folder {tmp_path} already holds agno_sessions.bson; --replace replaces them"
    assert simulate.main(["--to", str(tmp_path), "--sessions", "2", "--replace"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agno_runs.jsonl", "agno_sessions.jsonl"]


def test_simulate_into_a_database_that_holds_the_sessions(capsys, ferretdb, mongo_db):
    uri = ferretdb.uri + mongo_db.name
    sessions, runs = mongo_db["agno_sessions"], mongo_db["agno_runs"]
    assert simulate.main(["--to", uri, "--sessions", "12", "--seed", "7"]) == 0
    run_docs = runs.count_documents({})
    assert sessions.count_documents({}) == 12 and run_docs > 0

    line = sim_error(capsys, ["--to", uri, "--sessions", "12", "--seed", "7"])
    assert line == (
        f"simulate: {uri} already holds sessions sim-7-000000000 … sim-7-000000011 in agno_sessions and "
        "agno_runs; --replace replaces them"
    )
    assert sessions.count_documents({}) == 12 and runs.count_documents({}) == run_docs

    # another seed's sessions are other documents: they load beside them
    assert simulate.main(["--to", uri, "--sessions", "3", "--seed", "70"]) == 0
    assert sessions.count_documents({}) == 15
    # --replace replaces seed 7's documents and leaves seed 70's alone
    assert simulate.main(["--to", uri, "--sessions", "12", "--seed", "7", "--replace"]) == 0
    ids = [d["session_id"] for d in sessions.find({}, {"session_id": 1})]
    assert len(ids) == len(set(ids)) == 15
    assert sum(i.startswith("sim-70-") for i in ids) == 3
    assert runs.count_documents({"session_id": {"$regex": "^sim-7-"}}) == run_docs


# Parquet shards


def feature_row(session_id: str) -> dict:
    from transforms.columns import COLUMN_NAMES

    return {**dict.fromkeys(COLUMN_NAMES), "session_id": session_id}


def test_parquet_tables_split_rows_evenly_over_the_shards():
    with TestPipeline() as p:
        sizes = (
            p
            | beam.Create([feature_row(f"s{i}") for i in range(10)])
            | beam.ParDo(ParquetTables(4))
            | beam.Map(lambda table: table.num_rows)
        )
        assert_that(sizes, equal_to([3, 3, 2, 2]))


def _shard_rows(data: Path) -> list[int]:
    return sorted(pq.read_table(f).num_rows for f in data.glob("features-*.parquet"))


@pytest.mark.parametrize(("rows", "shards", "expected"), [(10, 4, [2, 2, 3, 3]), (3, 4, [0, 1, 1, 1]), (5, 1, [5])])
def test_parquet_shards_each_hold_rows(tmp_path, rows, shards, expected):
    with TestPipeline() as p:
        features = p | "Rows" >> beam.Create([feature_row(f"s{i}") for i in range(rows)])
        quarantine = p | "Quarantine" >> beam.Create([])
        counts = p | "Counts" >> beam.Create([("rows_written", rows)])
        (features, quarantine, counts) | WriteDataset(str(tmp_path), shards, "parquet")
    assert _shard_rows(tmp_path / "data") == expected


def test_parquet_run_with_four_shards_and_a_beam_flag(tmp_path):
    out = tmp_path / "out"
    argv = ["--source", SIM, *DATES, "--output", str(out), "--format", "parquet", "--num_shards", "4"]
    assert run([*argv, "--direct_num_workers", "1"]) == 0
    manifest = read_manifest(out)
    tables = [pq.read_table(dataset_dir(out) / f["path"]) for f in manifest["files"]]
    assert len(tables) == 4 and all(t.num_rows > 0 for t in tables)
    assert sum(t.num_rows for t in tables) == manifest["counts"]["rows_written"] == 30  # no bad documents
    assert sorted(t.num_rows for t in tables) == [7, 7, 8, 8]  # one bundle: 30 rows dealt out evenly
