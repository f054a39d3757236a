"""Beam's worker pool for `--environment_type=EXTERNAL`, listening on 127.0.0.1 only.

    python -m pipeline.worker_pool [--host 127.0.0.1] [--port 0]
    python -m pipeline.worker_pool [--host …] -- COMMAND ARGS…     ({pool} in ARGS → HOST:PORT)

The first form serves until SIGTERM/SIGINT; the second starts the pool, runs the
command (typically `python -m pipeline … --environment_type=EXTERNAL
--environment_config={pool} --sdk_worker_parallelism=N`), stops the pool and its
workers and exits with the command's code.

The service is Beam's own (`worker_pool_main.BeamFnExternalWorkerPoolServicer`,
which starts and stops the worker processes). What this module adds, each for a
reason Beam's `python -m apache_beam.runners.worker.worker_pool_main` has no flag
for (docs/runners.md, "The worker pool"):

- the address: Beam's binds `[::]`, every interface;
- the workers' program, given to Beam's `container_executable`: this Python
  (`sys.executable`; Beam's runs `python` from PATH) with this package
  importable, started as Beam's container boot starts it — the pipeline
  options come from the runner's provision service and the worker runs
  `sdk_worker_main` (Beam's pool starts a bare `SdkHarness` that sees no
  options: no `--s3_*` flags for the file systems, no log level);
- the workers' output goes to a log file (Beam's pool pipes their stdout and
  never reads it).

Staged artifacts (`--setup_file`) are not installed: the workers import the
package from this checkout or virtualenv.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path

from pipeline import runlog

log = logging.getLogger("session_features.worker_pool")
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # the folder holding pipeline/ and transforms/
# How long the runner keeps SDK workers after a task released them. With 0 (Beam's
# default) the Spark runner stops every worker when a stage's last task ends and
# starts new ones for the next stage: ~2 s of Python start-up per worker and stage
# (measured: a 200-session job took 88 s instead of 40 s).
ENVIRONMENT_CACHE_MS = 30_000


def external_args(address: str, parallelism: int) -> list[str]:
    """Beam flags that run the SDK workers in the pool at ADDRESS, PARALLELISM of them."""
    return [
        "--environment_type=EXTERNAL",
        f"--environment_config={address}",
        f"--sdk_worker_parallelism={parallelism}",
        f"--environment_cache_millis={ENVIRONMENT_CACHE_MS}",
    ]


class WorkerPool:
    """Beam's BeamFnExternalWorkerPool service on HOST:PORT (0: a free port); its
    workers run `python -m pipeline.worker_pool --sdk_worker`. stop() ends them all."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.requested_port, self.port = host, port, 0
        self.started: list[str] = []  # worker ids, in the order the runner asked for them
        self._server = self._servicer = None
        self._tmp = tempfile.mkdtemp(prefix="beam-worker-pool-")
        self.log_file = runlog.log_path(f"worker-pool-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> WorkerPool:
        import grpc
        from apache_beam.portability.api import beam_fn_api_pb2_grpc
        from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer

        started = self.started

        class Servicer(BeamFnExternalWorkerPoolServicer):
            def StartWorker(self, request, context):  # noqa: N802 -- gRPC method name
                started.append(request.worker_id)
                response = super().StartWorker(request, context)
                log.info("started SDK worker %s%s", request.worker_id, f": {response.error}" if response.error else "")
                return response

        self._servicer = Servicer(use_process=True, container_executable=self._boot_script())
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(self._servicer, self._server)
        self.port = self._server.add_insecure_port(f"{self.host}:{self.requested_port}")
        if not self.port:
            raise RuntimeError(f"worker pool: cannot listen on {self.host}:{self.requested_port}")
        self._server.start()
        log.info("worker pool listening on %s", self.address)
        return self

    def _boot_script(self) -> str:
        """The executable Beam's servicer runs for each worker (with --id=… --control_endpoint=…
        and the other endpoints): this Python in the package's folder, output to the log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        path = os.path.join(self._tmp, "boot")
        command = [sys.executable, "-m", "pipeline.worker_pool", "--sdk_worker"]
        with open(path, "w", encoding="utf-8") as out:
            out.write(
                "#!/bin/sh\n"
                f"cd {shlex.quote(PACKAGE_ROOT)} || exit 1\n"
                f'PYTHONPATH={shlex.quote(PACKAGE_ROOT)}${{PYTHONPATH:+:$PYTHONPATH}} exec {shlex.join(command)} "$@" '
                f">>{shlex.quote(str(self.log_file))} 2>&1 </dev/null\n"
            )
        os.chmod(path, 0o755)
        return path

    def stop(self) -> None:
        """Stops the service and every worker it started. Idempotent."""
        if self._server is not None:
            from apache_beam.portability.api import beam_fn_api_pb2

            self._server.stop(grace=1).wait()
            self._server = None
            for worker_id in self.started:  # Beam's StopWorker ends the process (no-op if gone)
                self._servicer.StopWorker(beam_fn_api_pb2.StopWorkerRequest(worker_id=worker_id), None)
        shutil.rmtree(self._tmp, ignore_errors=True)
        if self.started:
            log.info("SDK workers' log: %s", self.log_file)

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def sdk_worker(argv: Sequence[str]) -> None:
    """One SDK worker, as Beam's container boot starts it (flags of the container contract:
    --id, --provision_endpoint, --control_endpoint, --logging_endpoint), minus installing
    staged artifacts. The options come from the provision service. Beam's stderr handler
    and the runner's log service get its log lines; stderr is the pool's log file."""
    import grpc
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc, endpoints_pb2
    from google.protobuf import json_format, text_format

    p = argparse.ArgumentParser()
    for name in ("id", "provision_endpoint", "control_endpoint", "logging_endpoint", "artifact_endpoint"):
        p.add_argument(f"--{name}", default="")
    args = p.parse_args(argv)
    with grpc.insecure_channel(args.provision_endpoint) as channel:
        info = (
            beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
            .GetProvisionInfo(beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", args.id)])
            .info
        )

    def descriptor(url: str) -> str:
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    os.environ["WORKER_ID"] = args.id
    os.environ["PIPELINE_OPTIONS"] = json_format.MessageToJson(info.pipeline_options)
    os.environ["CONTROL_API_SERVICE_DESCRIPTOR"] = descriptor(info.control_endpoint.url or args.control_endpoint)
    if info.logging_endpoint.url or args.logging_endpoint:
        os.environ["LOGGING_API_SERVICE_DESCRIPTOR"] = descriptor(info.logging_endpoint.url or args.logging_endpoint)
    if info.status_endpoint.url:
        os.environ["STATUS_API_SERVICE_DESCRIPTOR"] = descriptor(info.status_endpoint.url)
    os.environ["RUNNER_CAPABILITIES"] = " ".join(info.runner_capabilities)

    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main([])


def _run(pool: WorkerPool, command: list[str]) -> int:
    """Runs COMMAND with {pool} replaced; forwards SIGTERM/SIGINT to it."""
    command = [arg.replace("{pool}", pool.address) for arg in command]
    proc = subprocess.Popen(command)

    def forward(signum, _frame):
        if proc.poll() is None:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--sdk_worker"]:
        sdk_worker(argv[1:])
        return 0
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
    p = argparse.ArgumentParser(prog="python -m pipeline.worker_pool", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)  # e.g. its BigQuery notice on import
    # Beam's servicer logs every worker's command line as a warning
    logging.getLogger("apache_beam.runners.worker.worker_pool_main").setLevel(logging.ERROR)
    pool = WorkerPool(args.host, args.port).start()
    try:
        if command:
            return _run(pool, command)
        print(f"worker pool listening on {pool.address}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.wait(1.0):
            pass
        return 0
    finally:
        pool.stop()


if __name__ == "__main__":
    sys.exit(main())
