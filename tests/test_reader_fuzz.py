"""Property-based fuzzing of the dump and server readers: any bytes on a dump line, any
BSON values and any damage to BSON bytes give a document, or a quarantine record (an
unreadable record), never an exception out of the transform; what comes out crosses
Beam's coders and the quarantine sink. Examples hypothesis found are kept as
`@example`s."""

from __future__ import annotations

import datetime as dt
import json
import math

import bson
from apache_beam.coders import coders
from apache_beam.pvalue import TaggedOutput
from bson import json_util
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from transforms.read_dump import QUARANTINE, ParseJsonLine, decode_bson, read_bson_file
from transforms.records import Quarantined
from transforms.slicing import Slice
from transforms.write import quarantine_line

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODER = coders.FastPrimitivesCoder()


def check_outputs(outs: list) -> list:
    """Each output is a document or an unreadable record; both cross the coders (a record
    also the quarantine sink); the documents are returned."""
    docs = []
    for out in outs:
        if isinstance(out, TaggedOutput):
            assert out.tag == QUARANTINE
            q = out.value
            assert isinstance(q, Quarantined) and q.kind == "unreadable" and q.raw is not None
            assert CODER.decode(CODER.encode(q)) == q
            line = quarantine_line(q)
            assert line.isascii() and json.loads(line)["kind"] == "unreadable"
        else:
            assert isinstance(out, dict)
            CODER.encode(out)  # a document the runner can move between stages
            docs.append(out)
    return docs


def same(a, b) -> bool:
    """Equal, NaN equal to NaN, a BadText equal to its text."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, str) and isinstance(b, str):  # BadText is a str with lone surrogates
        return str(a) == str(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# ----------------------------------------------------------------- dump lines

LINE_PIECES = st.sampled_from(
    [b"{", b"}", b"[", b"]", b'"', b":", b",", b"\\", b"\\u", b"d800", b"$oid", b"$date", b"session_id",
     b"NaN", b"1e999", b"12345678901234567890", b"\xff", b"\xc3", b"\xe9", b"\xed\xa0\x80", b" ", b"null", b"7"]
)  # fmt: skip


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.lists(LINE_PIECES, max_size=40).map(b"".join)))
@example(b'{"a": "\\ud800"}')  # a lone surrogate escape: a document (bad by §5), carried
@example(b'{"$oid": "zz"}')  # a broken wrapper: json_util raises InvalidId, not ValueError
@example(b'{"x": {"$date": 1e999}}')  # an out-of-range date: OverflowError
@example(b"\xed\xa0\x80")  # a surrogate encoded as UTF-8 is not UTF-8
@example(b"[" * 1200 + b"]" * 1200)  # past every JSON decoder's recursion limit
def test_any_bytes_on_a_dump_line_give_a_document_or_an_unreadable_record(raw):
    for part in (Slice(), Slice(1, 3)):
        parser = ParseJsonLine("session", part)
        outs = list(parser.parse(raw, parser_key(raw, part), {"file": "f.jsonl", "line": 1, "offset": 0}))
        assert len(outs) <= 1
        check_outputs(outs)


def parser_key(raw: bytes, part: Slice):
    from transforms.read_dump import _UNDECIDED, _named_session_id

    return _UNDECIDED if part.whole else _named_session_id(raw)


KEYS = st.text(max_size=8).filter(lambda k: "\x00" not in k and not k.startswith("$"))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    ),
    st.builds(bson.ObjectId),
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=25
)
DOCS = st.dictionaries(KEYS, VALUES, max_size=6)


# Text with lone surrogates too: a JSON line can hold them as escapes.
ANY_TEXT = st.text(st.characters(categories=["Cs", "Ll", "Lo", "Nd", "Zs"]), max_size=8)
JSON_DOCS = st.dictionaries(
    ANY_TEXT.filter(lambda k: "\x00" not in k and not k.startswith("$")),
    st.recursive(
        st.one_of(SCALARS, ANY_TEXT),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=25,
    ),
    max_size=6,
)


@FUZZ
@given(JSON_DOCS)
@example({"k\ud800": ["\udfff"]})
def test_a_document_written_as_extended_json_reads_back_as_json_util_reads_it(doc):
    line = json_util.dumps(doc, json_options=json_util.CANONICAL_JSON_OPTIONS).encode()
    docs = check_outputs(list(ParseJsonLine("session").parse(line, parser_key(line, Slice()), {})))
    assert len(docs) == 1 and same(docs[0], json_util.loads(line))


# ----------------------------------------------------------------- BSON


@FUZZ
@given(DOCS)
def test_any_bson_document_reads_back_whole(doc):
    data = bson.encode(doc)
    docs = check_outputs(list(decode_bson(data, "run", file="f.bson", offset=0)))
    assert len(docs) == 1 and same(docs[0], bson.decode(data))


@FUZZ
@given(DOCS, st.data())
def test_damaged_bson_bytes_give_documents_or_unreadable_records(doc, data):
    raw = bytearray(bson.encode(doc))
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))] if data.draw(st.booleans()) else raw
    check_outputs(list(decode_bson(bytes(raw), "run", file="f.bson", offset=0)))


@FUZZ
@given(st.lists(st.one_of(DOCS.map(bson.encode), st.binary(max_size=30)), max_size=5))
@example([b"\x05\x00\x00\x00\x00", b"\xff\xff\xff\x7f"])  # an empty document, then a length past the end
@example([b"\x04\x00\x00\x00"])  # a length below the 5 bytes of an empty document
def test_any_bson_file_is_read_to_its_end(tmp_path_factory, parts):
    path = tmp_path_factory.mktemp("bson") / "agno_runs.bson"
    body = b"".join(parts)
    path.write_bytes(body)
    outs = list(read_bson_file(str(path), "run"))
    check_outputs(outs)
    # every byte is in a document or a record: the records' offsets and the documents
    # account for the whole file
    records = [o.value for o in outs if isinstance(o, TaggedOutput)]
    assert all(0 <= q.offset < len(body) for q in records)
    if records and "from here on" in records[-1].reason:
        import base64

        assert body.endswith(base64.b64decode(records[-1].raw))
