"""Server features our Mongo reader relies on, checked against real FerretDB.

These pin down MongoDB semantics we depend on: type bracketing in range
comparisons (numbers never match a date range and vice versa), `None` matching
both null and missing fields, projections, `$in` on strings, cursors spanning
several batches, and missing collections reading as empty.

Known FerretDB v1.24 (SQLite backend) gaps, found while writing these -- avoid
them in code that must run against this server:
- NaN or Decimal128 anywhere in a command makes the server drop the connection
  (pymongo: AutoReconnect), not return an error. +/-Inf is rejected (code 2).
- Nested arrays (`[[1]]`) cannot be stored (write error code 2).
- -0.0 is stored as 0.0.
- Aggregation expressions are not evaluated in `$project`/`$addFields`/`$set`
  or in find projections: `{"t": "$s"}` yields the literal string "$s".
  `$expr`, `$lookup`, `$changeStream`, `$group` `$max` are NotImplemented (238);
  `$slice`/`$elemMatch` projections are NotImplemented too.
- No filter/sort/limit pushdown to SQLite: every query scans the collection.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from bson import Int64
from ferretdb import FerretDB
from pymongo.database import Database

LO = 1700000000  # 2023-11-14T22:13:20Z, inclusive
HI = 1700086400  # LO + 1 day, exclusive
LO_DT = dt.datetime.fromtimestamp(LO, dt.UTC)
HI_DT = dt.datetime.fromtimestamp(HI, dt.UTC)

NUMBER_RANGE = {"created_at": {"$gte": LO, "$lt": HI}}
DATE_RANGE = {"created_at": {"$gte": LO_DT, "$lt": HI_DT}}
MISSING = {"created_at": None}
# Also in transforms.read_mongo.created_at_filter: epoch milliseconds and strings.
MS_RANGE = {"created_at": {"$gte": LO * 1000, "$lt": HI * 1000}}
STRING = {"created_at": {"$type": "string"}}

# `created_at` as every type a source might have written; key = _id.
ABSENT = object()
CREATED_AT: dict[str, Any] = {
    "int_lo_edge": LO,
    "int_in": LO + 100,  # fits int32
    "int64_in": Int64(LO + 200),
    "float_in": HI - 0.5,
    "int_hi_edge": HI,
    "int_below": LO - 1,
    "int64_ms_in": Int64(LO * 1000 + 5),
    "date_lo_edge": LO_DT,
    "date_in": LO_DT + dt.timedelta(hours=12),
    "date_hi_edge": HI_DT,
    "date_below": LO_DT - dt.timedelta(milliseconds=1),
    "str_date": "2023-11-15T12:00:00Z",
    "str_number": str(LO + 100),
    "bool": True,
    "null": None,
    "missing": ABSENT,
}


def naive_utc(value: dt.datetime) -> dt.datetime:
    # pymongo (tz_aware=False, the default) returns naive datetimes in UTC.
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@pytest.fixture
def events(mongo_db: Database[dict[str, Any]]) -> Any:
    coll = mongo_db["events"]
    docs = []
    for _id, value in CREATED_AT.items():
        doc: dict[str, Any] = {"_id": _id, "user_id": "u1", "payload": {"n": 1}}
        if value is not ABSENT:
            doc["created_at"] = value
        docs.append(doc)
    coll.insert_many(docs)
    return coll


def ids(coll: Any, query: dict[str, Any]) -> list[str]:
    return sorted(doc["_id"] for doc in coll.find(query, {"_id": 1}))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Numeric range: int32, int64 and double compare as numbers; dates,
        # strings and bools are never in a numeric range (type bracketing).
        (NUMBER_RANGE, ["float_in", "int64_in", "int_in", "int_lo_edge"]),
        # Date range: only BSON datetimes, never epoch numbers or ISO strings.
        (DATE_RANGE, ["date_in", "date_lo_edge"]),
        # `None` matches explicit null and a missing field.
        (MISSING, ["missing", "null"]),
        (MS_RANGE, ["int64_ms_in"]),
        (STRING, ["str_date", "str_number"]),
    ],
    ids=["numbers", "dates", "null-or-missing", "epoch-ms", "strings"],
)
def test_typed_range_branches(events: Any, query: dict[str, Any], expected: list[str]) -> None:
    assert ids(events, query) == expected


def test_or_of_typed_ranges_with_projection(events: Any) -> None:
    query = {"$or": [NUMBER_RANGE, DATE_RANGE, MISSING]}
    got = sorted(events.find(query, {"_id": 1, "created_at": 1}), key=lambda d: d["_id"])

    assert got == [
        {"_id": "date_in", "created_at": naive_utc(LO_DT + dt.timedelta(hours=12))},
        {"_id": "date_lo_edge", "created_at": naive_utc(LO_DT)},
        {"_id": "float_in", "created_at": HI - 0.5},
        {"_id": "int64_in", "created_at": LO + 200},
        {"_id": "int_in", "created_at": LO + 100},
        {"_id": "int_lo_edge", "created_at": LO},
        {"_id": "missing"},  # projection of an absent field leaves it absent
        {"_id": "null", "created_at": None},
    ]
    # BSON types survive the round trip (int64 decodes as bson.Int64).
    by_id = {d["_id"]: d.get("created_at") for d in got}
    assert type(by_id["int_in"]) is int
    assert type(by_id["int64_in"]) is Int64
    assert type(by_id["float_in"]) is float
    assert type(by_id["date_in"]) is dt.datetime

    # The reader's full filter: the three above plus epoch-ms and strings.
    full = {"$or": [NUMBER_RANGE, MS_RANGE, DATE_RANGE, MISSING, STRING]}
    assert ids(events, full) == sorted([*by_id, "int64_ms_in", "str_date", "str_number"])


def test_projection_without_id(events: Any) -> None:
    got = list(events.find({"_id": {"$in": ["int_in", "missing"]}}, {"_id": 0, "created_at": 1}))
    assert sorted(got, key=len) == [{}, {"created_at": LO + 100}]


def test_in_on_string_field(mongo_db: Database[dict[str, Any]]) -> None:
    coll = mongo_db["sessions"]
    coll.insert_many(
        [
            {"_id": 1, "user_id": "u1"},
            {"_id": 2, "user_id": "u2"},
            {"_id": 3, "user_id": "u3"},
            {"_id": 4, "user_id": 3},  # not the string "u3"
            {"_id": 5, "user_id": ["u9", "u3"]},  # arrays match on any element
            {"_id": 6},
        ]
    )
    assert sorted(d["_id"] for d in coll.find({"user_id": {"$in": ["u1", "u3", "nope"]}})) == [1, 3, 5]
    assert list(coll.find({"user_id": {"$in": []}})) == []


def test_missing_collection_and_list_collection_names(
    mongo_db: Database[dict[str, Any]],
) -> None:
    assert mongo_db.list_collection_names() == []

    missing = mongo_db["does_not_exist"]
    assert list(missing.find({"$or": [NUMBER_RANGE, DATE_RANGE, MISSING]}, {"created_at": 1})) == []
    assert missing.count_documents({}) == 0

    mongo_db["events"].insert_one({"_id": 1})
    mongo_db["sessions"].insert_one({"_id": 1})
    # Reading a missing collection must not create it.
    assert sorted(mongo_db.list_collection_names()) == ["events", "sessions"]


def test_cursor_spans_several_batches(mongo_db: Database[dict[str, Any]]) -> None:
    coll = mongo_db["many"]
    coll.insert_many([{"_id": i, "created_at": LO + i} for i in range(450)])
    got = [d["_id"] for d in coll.find(NUMBER_RANGE, {"_id": 1}, batch_size=100).sort("_id", 1)]
    assert got == list(range(450))


def test_start_failure_raises_with_log_tail(tmp_path: Path) -> None:
    # The suite must fail loudly, never skip, when the server cannot start.
    fake = tmp_path / "ferretdb"
    fake.write_text("#!/bin/sh\necho 'fake server: cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    server = FerretDB(binary=fake, startup_timeout=5)
    with pytest.raises(RuntimeError, match="cannot start") as excinfo:
        server.start()
    assert "code 3" in str(excinfo.value)
    assert server.tmp_dir is None  # temp dir cleaned up after the failure
