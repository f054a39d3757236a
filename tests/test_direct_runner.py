"""The DirectRunner runs on the FnApiRunner, never on a Prism binary fetched from GitHub
(pipeline/runners.py new_pipeline)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from pipeline import runners, slices
from pipeline.runners import new_pipeline

LOCAL = ("localhost", "127.0.0.1", "::1", "")


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Host names looked up; any off the machine fails before a packet is sent."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        if name not in LOCAL:
            seen.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"test: no lookups off the machine ({name})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    return seen


def _double(p: beam.Pipeline) -> None:
    assert_that(p | beam.Create([1, 2, 3]) | beam.Map(lambda x: 2 * x), equal_to([2, 4, 6]))


@pytest.mark.parametrize(
    "args", [[], ["--runner=DirectRunner"], ["--runner=direct"], ["--runner=apache_beam.runners.direct.DirectRunner"]]
)
def test_the_direct_runner_is_the_fn_api_runner_and_stays_on_the_machine(lookups, args):
    p = new_pipeline(args)
    assert isinstance(p.runner, FnApiRunner)
    with p:
        _double(p)
    assert lookups == []


def test_beams_own_direct_runner_would_try_prism_first(lookups):
    """Why new_pipeline exists: Beam 2.77's DirectRunner first fetches Prism (here the
    lookup fails, and it falls back to the FnApiRunner). If Beam stops doing this, the
    workaround can go."""
    with beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(["--runner=DirectRunner"])) as p:
        _double(p)
    assert "github.com" in lookups


@pytest.mark.parametrize("runner", ["SparkRunner", "FlinkRunner", "BundleBasedDirectRunner"])
def test_other_runners_keep_beams_runner(runner):
    p = new_pipeline([f"--runner={runner}"])
    assert type(p.runner).__name__ == runner


def test_test_pipelines_run_on_the_same_engine(lookups):
    """tests/conftest.py points TestPipeline at the FnApiRunner too."""
    from apache_beam.testing.test_pipeline import TestPipeline

    with TestPipeline() as p:
        assert isinstance(p.runner, FnApiRunner)
        _double(p)
    assert lookups == []


def test_multi_processing_workers_get_the_options_only_through_the_private_set_up():
    """Why new_pipeline builds the FnApiRunner itself (a private API: provision_info,
    ExtendedProvisionInfo): its multi_processing workers get the pipeline's options (the
    `--s3_*` flags their file systems use, the log level) only through the provision info
    it is given. Beam's public `--runner=FnApiRunner` gives them none. This fails if Beam
    changes the private API, or (second half) starts passing the options itself: then the
    public runner name can replace the set-up."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.value_provider import RuntimeValueProvider

    url = "http://127.0.0.1:9"
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2", f"--s3_endpoint_url={url}"]
    launcher = os.getpid()

    def seen(p: beam.Pipeline, expected: str) -> None:
        views = (
            p
            | beam.Create([1, 2, 3])
            | beam.Map(
                lambda _, me=launcher: (
                    os.getpid() != me,
                    RuntimeValueProvider.get_value("s3_endpoint_url", str, "none"),
                )
            )
        )
        assert_that(views, equal_to([(True, expected)] * 3))

    with new_pipeline(args) as p:
        seen(p, url)
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner", *args])) as p:
        seen(p, "none")


# ------------------------------------------------------------------ the default mode


def _mode(p: beam.Pipeline) -> tuple[str, int | None]:
    from apache_beam.options.pipeline_options import DirectOptions

    direct = p.options.view_as(DirectOptions)
    return direct.direct_running_mode, direct.direct_num_workers


def test_the_default_mode_is_what_docs_benchmarks_says(monkeypatch):
    """multi_processing, a worker per idle core, from MULTI_PROCESSING_MIN_SESSIONS
    sessions on with two or more idle cores; below, with the size unknown, or with one
    idle core, Beam's in-memory mode; what the user gives is kept as given."""
    monkeypatch.setattr(runners, "idle_cores", lambda: 2)
    assert runners.MULTI_PROCESSING_MIN_SESSIONS == 20_000
    assert _mode(new_pipeline([], sessions=20_000)) == ("multi_processing", 2)
    assert _mode(new_pipeline(["--runner=DirectRunner"], sessions=100_000)) == ("multi_processing", 2)
    assert _mode(new_pipeline([], sessions=19_999)) == ("in_memory", 1)
    assert _mode(new_pipeline([])) == ("in_memory", 1)
    assert _mode(new_pipeline(["--direct_running_mode=in_memory"], sessions=100_000)) == ("in_memory", 1)
    assert _mode(new_pipeline(["--direct_num_workers=3"], sessions=100_000)) == ("in_memory", 3)
    monkeypatch.setattr(runners, "idle_cores", lambda: 1)
    assert _mode(new_pipeline([], sessions=100_000)) == ("in_memory", 1)
    doc = (Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert "multi_processing" in doc and "idle core" in doc and "20,000 sessions" in doc


@pytest.mark.parametrize(("load", "idle"), [(0.0, 4), (0.49, 4), (0.5, 3), (2.7, 1), (9.0, 0)])
def test_without_proc_stat_idle_cores_are_the_cores_less_the_load(monkeypatch, load, idle):
    monkeypatch.setattr(runners.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(runners, "_cpu_times", dict)
    monkeypatch.setattr(runners.os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert runners.idle_cores() == idle


def test_idle_cores_are_measured_on_the_process_cores_now(monkeypatch):
    """/proc/stat sampled twice: cpu1 busy 80 % of the interval, cpu2 30 %, cpu3 not this
    process's; the load average (a minute behind) is not asked."""
    samples = iter([
        {0: (1000, 900), 1: (1000, 500), 2: (1000, 100), 3: (1000, 0)},
        {0: (1100, 1000), 1: (1100, 520), 2: (1100, 170), 3: (1100, 0)},
    ])  # fmt: skip
    monkeypatch.setattr(runners.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(runners, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(runners.time, "sleep", lambda s: None)
    monkeypatch.setattr(runners.os, "getloadavg", lambda: pytest.fail("the load average was read"))
    assert runners.busy_cores() == pytest.approx(1.1)
    samples = iter([{0: (0, 0), 1: (0, 0), 2: (0, 0)}, {0: (100, 100), 1: (100, 20), 2: (100, 70)}])
    assert runners.idle_cores() == 2  # 1.1 busy: one core


def test_proc_stat_is_read_as_linux_writes_it():
    times = runners._cpu_times()
    if not Path("/proc/stat").exists():
        assert times == {}
        return
    assert set(runners.os.sched_getaffinity(0)) <= set(times)
    assert all(total >= idle >= 0 for total, idle in times.values())


def test_the_default_mode_gives_the_in_memory_rows(monkeypatch, tmp_path):
    """The job through its own launcher: a window above the threshold, with idle cores,
    runs multi_processing by default and writes exactly the rows of the in-memory mode."""
    from tests.dataset_io import read_dataset, run_pipeline

    source = ["--source", "simulated://?sessions=400&seed=5&formats=agno3,agno2,agno1,phidata&bad_rate=0.02"]
    window = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
    assert run_pipeline([*source, *window, "--output", tmp_path / "mem", "--direct_running_mode=in_memory"]) == 0
    modes: list[tuple[str, int | None]] = []
    real = slices.new_pipeline

    def recorded(beam_args, sessions=None):
        p = real(beam_args, sessions)
        modes.append(_mode(p))
        return p

    monkeypatch.setattr(runners, "MULTI_PROCESSING_MIN_SESSIONS", 400)
    monkeypatch.setattr(runners, "idle_cores", lambda: 2)
    monkeypatch.setattr(slices, "new_pipeline", recorded)
    assert run_pipeline([*source, *window, "--output", tmp_path / "default"]) == 0
    assert modes == [("multi_processing", 2)]
    mem, default = read_dataset(tmp_path / "mem"), read_dataset(tmp_path / "default")
    assert len(mem) > 300
    assert default == mem


def test_multi_processing_gives_the_in_memory_rows(tmp_path):
    """The job through its own launcher, with two worker processes, writes exactly the rows
    of the default in-memory mode."""
    from tests.dataset_io import read_dataset, run_pipeline

    source = ["--source", "simulated://?sessions=400&seed=5&formats=agno3,agno2,agno1,phidata&bad_rate=0.02"]
    window = ["--start_date", "2024-12-01", "--end_date", "2024-12-31"]
    assert run_pipeline([*source, *window, "--output", tmp_path / "mem"]) == 0
    workers = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert run_pipeline([*source, *window, "--output", tmp_path / "mp", *workers]) == 0
    mem, mp = read_dataset(tmp_path / "mem"), read_dataset(tmp_path / "mp")
    assert len(mem) > 300
    assert mp == mem
