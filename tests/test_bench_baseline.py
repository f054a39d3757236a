"""The frozen naive baseline (bench/baseline.py) computes the job's rows.

The baseline is written from the contract alone (it imports nothing from the
pipeline), so agreement on a dump of all four formats with bad documents checks
both. Rows are compared as sets keyed by session_id; every column is compared as
text (the same CSV rules), except the float columns that are sums of floats,
where the order of addition may differ in the last bit: those to 1e-9 relative.
"""

from __future__ import annotations

import ast
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from bench import baseline
from bench.compare import differences, same
from tests.dataset_io import COLUMNS, read_dataset, run_pipeline

REPO = Path(__file__).resolve().parent.parent
WINDOW = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dump")
    subprocess.run(
        [sys.executable, "-m", "pipeline.simulate", "--sessions", "300", "--seed", "3",
         "--formats", "agno3,agno2,agno1,phidata", "--bad_rate", "0.02", "--to", str(folder)],
        check=True, cwd=REPO, capture_output=True,
    )  # fmt: skip
    return folder


def baseline_rows(dump: Path, out: Path) -> dict[str, dict[str, str]]:
    assert baseline.main(["--source", str(dump), *WINDOW, "--output", str(out)]) == 0
    with out.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    assert records[0] == COLUMNS
    return {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in records[1:]}


def test_baseline_rows_equal_the_pipeline_rows(dump, tmp_path):
    assert run_pipeline(["--source", dump, *WINDOW, "--output", tmp_path / "out"]) == 0
    job = read_dataset(tmp_path / "out")
    naive = baseline_rows(dump, tmp_path / "naive.csv")
    # 300 sessions, 2 % bad: some rows are missing on both sides, the same ones
    assert 280 <= len(naive) < 300
    formats = {row["source_format"] for row in naive.values()}
    assert formats == {"agno3", "agno2", "agno1", "phidata"}
    diffs = differences(naive, job)
    assert diffs == []


def test_baseline_imports_nothing_of_the_job():
    tree = ast.parse((REPO / "bench" / "baseline.py").read_text(encoding="utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules, "no imports found: the check would pass vacuously"
    assert not {m for m in modules if m.split(".")[0] in ("pipeline", "transforms", "bench")}


def test_baseline_percentile_is_numpys_linear():
    numpy = pytest.importorskip("numpy")
    samples = [[3.0], [1.5, 0.1], [0.3, 7.1, 2.2, 9.9, 0.7], [float(i) / 7 for i in range(1, 23)]]
    for xs in samples:
        for q in (50, 95):
            assert baseline.percentile(xs, q) == float(numpy.percentile(xs, q))


def _run(rid, t, tokens, **kw) -> dict:
    run = {"run_id": rid, "created_at": t, "status": "COMPLETED", "metrics": {"input_tokens": tokens}}
    return {**run, **kw}


def test_baseline_follows_the_v1_1_rules_by_hand(tmp_path):
    """FEATURES.md v1.1 §2, §3, §5 on hand-made documents, values worked out by hand."""
    from bson import ObjectId

    from tests.dataset_io import write_dump

    t = 1_733_300_000  # 2024-12-04T08:13:20Z
    after_end = 1_736_000_000  # 2025-01-04
    sessions = [
        # the cut comes first: the bad run after the end is never read
        {"session_id": "cut", "created_at": t, "runs": [_run("r1", t, 10), _run("r2", after_end, -5)]},
        # a duration above one year is bad
        {"session_id": "year", "created_at": t, "runs": [_run("r1", t, 1, metrics={"duration": 31_536_001})]},
        # one array: the last occurrence of a run_id; runs without one all count
        {"session_id": "twice", "created_at": t,
         "runs": [_run("z", t, 1), _run("z", t + 1, 7), _run(None, t + 2, 100), _run(None, t + 3, 1000)]},
        # the runs collection wins over the legacy array; in it, the latest updated_at
        {"session_id": "a3", "created_at": t, "runs": [_run("x1", t, 1), _run("x2", t + 5, 2)]},
    ]  # fmt: skip
    runs = [
        {"_id": ObjectId("00000000000000000000000a"), "run_id": "x2", "session_id": "a3", "created_at": t + 5,
         "updated_at": t + 1, "status": "COMPLETED", "run_data": {"metrics": {"input_tokens": 20}}},
        {"_id": ObjectId("00000000000000000000000b"), "run_id": "x3", "session_id": "a3", "created_at": t + 7,
         "updated_at": t + 9, "status": "COMPLETED", "run_data": {"metrics": {"input_tokens": 300}}},
        {"_id": ObjectId("00000000000000000000000c"), "run_id": "x3", "session_id": "a3", "created_at": t + 7,
         "updated_at": t + 3, "status": "COMPLETED", "run_data": {"metrics": {"input_tokens": 4000}}},
    ]  # fmt: skip
    write_dump(tmp_path / "dump", "agno_sessions", sessions)
    write_dump(tmp_path / "dump", "agno_runs", runs)
    rows = baseline_rows(tmp_path / "dump", tmp_path / "naive.csv")
    assert set(rows) == {"cut", "twice", "a3"}
    got = {
        sid: (r["source_format"], r["total_runs"], r["input_tokens_sum"], r["first_run_at"]) for sid, r in rows.items()
    }
    assert got == {
        "cut": ("agno2", "1", "10", "2024-12-04T08:13:20Z"),
        "twice": ("agno2", "3", "1107", "2024-12-04T08:13:21Z"),
        "a3": ("agno3", "3", "321", "2024-12-04T08:13:20Z"),
    }


def test_rows_compare_cells_and_float_sums_to_the_last_bits():
    row = {"session_id": "s", "total_runs": "3", "active_span_s": "1518.486401", "duration_max_s": "0.3"}
    assert differences({"s": row}, {"s": dict(row)}) == []
    assert differences({"s": row}, {"s": {**row, "active_span_s": "1518.4864010000001"}}) == []
    assert same("active_span_s", "1518.486401", "1518.4864010000001")
    assert not same("active_span_s", "1518.486401", "1518.4874")
    assert not same("duration_max_s", "0.3", "0.30000000000000004")  # not a sum: exact
    assert differences({"s": row}, {"s": {**row, "total_runs": "4"}}) == [("s", "total_runs", "3", "4")]
    assert differences({"s": row}, {}) == [("s", None, "row", None)]
