"""The DirectRunner runs on the FnApiRunner, never on a Prism binary fetched from GitHub
(pipeline/runners.py new_pipeline)."""

from __future__ import annotations

import socket

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

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
