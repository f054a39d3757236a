"""pipeline/worker_pool.py without a runner: it listens on 127.0.0.1 only, runs a
command with its address and stops with it. (The SDK workers it starts for a runner
are tested in test_runners.py.)"""

from __future__ import annotations

import ipaddress
import subprocess
import sys

from job_servers import REPO_ROOT

from pipeline.worker_pool import WorkerPool, external_args


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp{,6}'s hex address (32-bit words in host byte order, little endian here)."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    return getattr(address, "ipv4_mapped", None) or address  # ::ffff:127.0.0.1 is 127.0.0.1


def _listening(port: int) -> set[str]:
    """Local addresses listening on `port` (TCP, IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in list(handle)[1:]:
                local, state = line.split()[1], line.split()[3]
                hex_address, _, hex_port = local.rpartition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(str(_address(hex_address)))
    return found


def test_the_pool_listens_on_loopback_only():
    with WorkerPool() as pool:
        assert pool.address == f"127.0.0.1:{pool.port}" and pool.port > 0
        assert _listening(pool.port) == {"127.0.0.1"}  # not 0.0.0.0 nor [::]
    assert _listening(pool.port) == set()


def test_external_args_name_the_pool_and_the_parallelism():
    args = external_args("127.0.0.1:5000", 2)
    assert args[:3] == ["--environment_type=EXTERNAL", "--environment_config=127.0.0.1:5000",
                        "--sdk_worker_parallelism=2"]  # fmt: skip
    assert any(a.startswith("--environment_cache_millis=") and int(a.split("=")[1]) > 0 for a in args)


def test_the_command_form_runs_the_command_with_the_address_and_its_exit_code():
    script = "import sys; print('pool at', sys.argv[1]); sys.exit(3)"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.worker_pool", "--", sys.executable, "-c", script, "{pool}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("pool at 127.0.0.1:"), proc.stdout
    port = int(proc.stdout.split(":")[-1])
    assert _listening(port) == set()  # stopped with the command


def test_the_pools_workers_are_this_python_and_get_the_pipelines_options(monkeypatch):
    """A pipeline on the FnApiRunner with an EXTERNAL environment at the pool (no job
    server needed): its work runs in worker processes of this interpreter that see the
    pipeline's options (Beam's own pool starts bare harnesses that see none)."""
    import os

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.value_provider import RuntimeValueProvider
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    from apache_beam.testing.util import assert_that, equal_to
    from apache_beam.transforms.environments import ExternalEnvironment

    # the runner's control address as the worker sees it: 127.0.0.1, not the host's name
    monkeypatch.setattr(worker_handlers.ExternalWorkerHandler, "host_from_worker", lambda self: "127.0.0.1")
    url = "http://127.0.0.1:9"
    options = PipelineOptions([f"--s3_endpoint_url={url}"])
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    me, python = os.getpid(), sys.executable
    with WorkerPool() as pool:
        runner = fn_runner.FnApiRunner(default_environment=ExternalEnvironment(pool.address), provision_info=info)
        with beam.Pipeline(runner=runner, options=options) as p:
            seen = (
                p
                | beam.Create([1, 2])
                | beam.Map(
                    lambda _: (
                        os.getpid() != me,
                        sys.executable == python,
                        RuntimeValueProvider.get_value("s3_endpoint_url", str, "none"),
                    )
                )
            )
            assert_that(seen, equal_to([(True, True, url)] * 2))
        assert len(pool.started) == 1
