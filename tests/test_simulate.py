"""`python -m pipeline.simulate`: its --runs / --tools flags reach SimParams, change the
documents, and reproduce the bench's data (bench/data.py) byte for byte."""

from __future__ import annotations

from pathlib import Path

from pipeline import simulate
from transforms.simulated import SimParams

WINDOW = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]


def _params_of(monkeypatch, tmp_path, *flags: str) -> SimParams:
    seen: list[SimParams] = []
    monkeypatch.setattr(simulate, "to_dump", lambda folder, coll, runs, params, window, replace: seen.append(params))
    assert simulate.main(["--to", str(tmp_path / "dump"), *WINDOW, *flags]) == 0
    (params,) = seen
    return params


def test_runs_and_tools_flags_reach_sim_params(monkeypatch, tmp_path):
    default = _params_of(monkeypatch, tmp_path)
    assert (default.runs, default.tools) == (SimParams.runs, SimParams.tools)
    params = _params_of(monkeypatch, tmp_path, "--runs", "2.8", "--tools", "1.2")
    assert (params.runs, params.tools) == (2.8, 1.2)


def _dump(folder: Path, *flags: str) -> tuple[str, str]:
    assert simulate.main(["--sessions", "300", "--seed", "7", "--to", str(folder), *WINDOW, *flags]) == 0
    return (folder / "agno_sessions.jsonl").read_text(), (folder / "agno_runs.jsonl").read_text()


def _tool_calls(runs_text: str) -> int:
    from bson import json_util

    calls = 0
    for line in runs_text.splitlines():
        data = json_util.loads(line)["run_data"]
        calls += len(data.get("tools") or [])
        calls += sum(len(r.get("tools") or []) for r in data.get("step_executor_runs") or [])
    return calls


def test_runs_and_tools_change_the_documents(tmp_path):
    _, default_runs = _dump(tmp_path / "default")
    _, fewer_runs = _dump(tmp_path / "runs", "--runs", "1.5")
    _, more_tools = _dump(tmp_path / "tools", "--tools", "3")
    assert len(fewer_runs.splitlines()) < len(default_runs.splitlines())
    assert _tool_calls(more_tools) > _tool_calls(default_runs)


def test_the_cli_writes_the_bench_data(tmp_path):
    """bench/data.py's SimParams(runs, tools), seed 7, December 2024 == the CLI with the flags."""
    from bench import data

    prefix = str(tmp_path / "part")
    data._write_part((0, 300, 300, prefix))  # sessions [0, 300) of a 300-session set
    cli_sessions, cli_runs = _dump(tmp_path / "cli", "--runs", str(data.RUNS), "--tools", str(data.TOOLS))
    assert [data.SEED, *data.WINDOW] == [7, "2024-12-01", "2024-12-31"]
    assert Path(prefix + ".sessions").read_text() == cli_sessions
    assert Path(prefix + ".runs").read_text() == cli_runs
