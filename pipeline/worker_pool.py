"""A Beam worker pool for `--environment_type=EXTERNAL`, listening on 127.0.0.1 only.

    python -m pipeline.worker_pool [--host 127.0.0.1] [--port 0]
    python -m pipeline.worker_pool [--host …] -- COMMAND ARGS…     ({pool} in ARGS → HOST:PORT)

The first form serves until SIGTERM/SIGINT; the second starts the pool, runs the
command (typically `python -m pipeline … --environment_type=EXTERNAL
--environment_config={pool} --sdk_worker_parallelism=N`), stops the pool and its
workers and exits with the command's code.

What it does that `python -m apache_beam.runners.worker.worker_pool_main` does not:

- it binds the address given (default 127.0.0.1); Beam's binds `[::]`, every
  interface, and has no flag for it;
- each SDK worker is a process of this Python (`sys.executable`, so the same
  virtualenv; Beam's runs `python` from PATH), with this package importable
  (its folder is put on the workers' PYTHONPATH), started the way Beam's
  container boot starts it: the pipeline options are fetched from the runner's
  provision service and the worker runs `sdk_worker_main` (logging to the
  runner, state cache size, pickler, experiments as the options say; Beam's pool
  starts a bare `SdkHarness` that sees none of the options);
- workers' warnings and errors go to this process's stderr, their other log lines
  to the runner's log service (Beam's pool pipes their stdout and never reads it).

The runner asks for one worker per environment it creates: on Spark and Flink,
`--sdk_worker_parallelism` of them (per job, for the portable runners' default
job bundle factory). Staged artifacts (`--setup_file`) are not installed: the
workers import the package from this checkout or virtualenv.
"""

from __future__ import annotations

import argparse
import logging
import os
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
STOP_TIMEOUT_S = 10
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


def _grpc_modules():
    from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc

    return beam_fn_api_pb2, beam_fn_api_pb2_grpc


class WorkerPool:
    """The BeamFnExternalWorkerPool service: StartWorker spawns an SDK worker process,
    StopWorker (or stop()) ends it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.requested_port = host, port
        self.port = 0
        self.started: list[str] = []  # worker ids, in the order the runner asked for them
        self._workers: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._server = None
        self._tmp = tempfile.mkdtemp(prefix="beam-worker-pool-")
        # The workers' own output (Beam's INFO lines, tracebacks when a job server hangs up)
        # goes to a log file beside the runs' (pipeline/runlog.py), not to the console.
        self.log_file = runlog.log_path(f"worker-pool-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> WorkerPool:
        import grpc

        _, fn_grpc = _grpc_modules()
        pool = self

        class Servicer(fn_grpc.BeamFnExternalWorkerPoolServicer):
            def StartWorker(self, request, context):  # noqa: N802 -- gRPC method name
                return pool._start_worker(request)

            def StopWorker(self, request, context):  # noqa: N802
                return pool._stop_worker(request)

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        fn_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(Servicer(), self._server)
        self.port = self._server.add_insecure_port(f"{self.host}:{self.requested_port}")
        if not self.port:
            raise RuntimeError(f"worker pool: cannot listen on {self.host}:{self.requested_port}")
        self._server.start()
        log.info("worker pool listening on %s", self.address)
        return self

    def _start_worker(self, request):
        fn_pb2, _ = _grpc_modules()
        worker_id = request.worker_id
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
            "WORKER_ID": worker_id,
            "CONTROL_ENDPOINT": request.control_endpoint.url,
            "LOGGING_ENDPOINT": request.logging_endpoint.url,
            "PROVISION_ENDPOINT": request.provision_endpoint.url,
            "SEMI_PERSISTENT_DIRECTORY": os.path.join(self._tmp, worker_id),
        }
        try:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "ab") as output:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "pipeline.worker_pool", "--sdk_worker"],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=PACKAGE_ROOT,
                )
        except OSError as exc:
            return fn_pb2.StartWorkerResponse(error=f"cannot start an SDK worker: {exc}")
        with self._lock:
            self._workers[worker_id] = proc
            self.started.append(worker_id)
        log.info("started SDK worker %s (pid %d)", worker_id, proc.pid)
        return fn_pb2.StartWorkerResponse()

    def _stop_worker(self, request):
        fn_pb2, _ = _grpc_modules()
        with self._lock:
            proc = self._workers.pop(request.worker_id, None)
        if proc is not None:
            _end(proc)
            log.info("stopped SDK worker %s", request.worker_id)
        return fn_pb2.StopWorkerResponse()

    def stop(self) -> None:
        """Stops the service and every worker it started. Idempotent."""
        if self._server is not None:
            self._server.stop(grace=1).wait()
            self._server = None
        with self._lock:
            procs, self._workers = list(self._workers.values()), {}
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            _end(proc)
        shutil.rmtree(self._tmp, ignore_errors=True)
        if self.started:
            log.info("SDK workers' log: %s", self.log_file)

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sdk_worker() -> None:
    """One SDK worker (in its own process): what Beam's container boot does for Python,
    minus installing staged artifacts. The options come from the provision service."""
    import grpc
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc, endpoints_pb2
    from google.protobuf import json_format, text_format

    # INFO and below go to the runner's log service only (the job server's log); the
    # pool's stderr gets warnings and errors
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s sdk worker %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    worker_id = os.environ["WORKER_ID"]
    with grpc.insecure_channel(os.environ["PROVISION_ENDPOINT"]) as channel:
        info = (
            beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
            .GetProvisionInfo(beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", worker_id)])
            .info
        )

    def descriptor(url: str) -> str:
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    os.environ["PIPELINE_OPTIONS"] = json_format.MessageToJson(info.pipeline_options)
    os.environ["CONTROL_API_SERVICE_DESCRIPTOR"] = descriptor(
        info.control_endpoint.url or os.environ["CONTROL_ENDPOINT"]
    )
    logging_url = info.logging_endpoint.url or os.environ.get("LOGGING_ENDPOINT")
    if logging_url:
        os.environ["LOGGING_API_SERVICE_DESCRIPTOR"] = descriptor(logging_url)
    if info.status_endpoint.url:
        os.environ["STATUS_API_SERVICE_DESCRIPTOR"] = descriptor(info.status_endpoint.url)
    os.environ["RUNNER_CAPABILITIES"] = " ".join(info.runner_capabilities)
    os.makedirs(os.environ["SEMI_PERSISTENT_DIRECTORY"], exist_ok=True)

    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


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
    if argv == ["--sdk_worker"]:
        sdk_worker()
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
