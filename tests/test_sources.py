"""pipeline/sources.py: one source per kind, chosen once from the config."""

from __future__ import annotations

import pytest

from pipeline.options import UsageError, parse
from pipeline.sources import DumpSource, MongoSource, SimulatedSource, source_for
from transforms.read_dump import ReadDump
from transforms.read_mongo import ReadMongo
from transforms.simulated import ReadSimulated
from transforms.slicing import Slice

DATES = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def source(uri: str, *argv: str):
    return source_for(parse(["--source", uri, *argv, *DATES], {})[0])


def test_each_kind_has_its_source_and_reader(tmp_path):
    cases = [
        ("simulated://?sessions=3", SimulatedSource, ReadSimulated),
        (str(tmp_path), DumpSource, ReadDump),
        ("mongodb://127.0.0.1:9/db", MongoSource, ReadMongo),
    ]
    for uri, kind, reader in cases:
        got = source(uri)
        assert type(got) is kind
        read = got.read(Slice(1, 3))
        assert type(read) is reader and read.part == Slice(1, 3)


def test_the_log_line_names_the_source_without_its_password():
    described = source("mongodb://reader:s3cret@127.0.0.1:9/db", "--collection", "sessions").describe()
    assert "s3cret" not in described and "127.0.0.1:9" in described
    assert described.endswith(" (sessions)")


def test_estimates_without_a_server(tmp_path):
    assert source("simulated://?sessions=7").estimate()[0] == 7
    (tmp_path / "agno_sessions.jsonl").write_bytes(b"x" * 9_001)
    assert source(str(tmp_path)).estimate()[0] == 3  # ⌈9,001 ÷ 4,500⌉


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("simulated://?sessions=-1", "bad simulated source: sessions must be"),
        ("{missing}", "does not exist"),
        ("{empty}", "has no agno_sessions.jsonl, .json or .bson"),
    ],
)
def test_a_source_that_cannot_be_read_is_one_sentence(tmp_path, uri, message):
    (tmp_path / "empty").mkdir()
    uri = uri.format(missing=tmp_path / "missing", empty=tmp_path / "empty")
    with pytest.raises(UsageError, match=message):
        source(uri).check()
