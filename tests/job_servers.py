"""Beam's Spark and Flink job servers for tests: fetched by scripts/fetch_job_servers.sh
(cached in .cache/jars/), started once, and shared by every pipeline a test module runs.

A `JobServer` is the jar the SparkRunner / FlinkRunner would start themselves
(`--spark_job_server_jar` / `--flink_job_server_jar`), started here on 127.0.0.1
with a port the JVM picks, so pipelines reach it with `--job_endpoint` and
`--runner=SparkRunner|FlinkRunner` (the manifest then names the runner).
Starting it ourselves costs one JVM start per test module instead of one per
pipeline (Beam's FlinkRunner starts a job server for every pipeline and keeps it
until the process exits).

Failure policy, like tests/ferretdb.py: a missing Java, a jar that cannot be
fetched, or a server that does not start raises RuntimeError with the log tail;
nothing is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Self

from logged_process import LOG_TAIL_CHARS, LoggedProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
FETCH_SCRIPT = REPO_ROOT / "scripts" / "fetch_job_servers.sh"
RUNNERS = {"spark": "SparkRunner", "flink": "FlinkRunner"}

# A cold fetch (Maven resolving ~230 jars for Spark, ~160 for Flink) took ~3 minutes here.
FETCH_TIMEOUT_S = 20 * 60
START_TIMEOUT_S = 120
_STARTED = re.compile(r"JobService started on ([\w.\-]+):(\d+)")


def fetch_jars() -> dict[str, Path]:
    """{"spark": jar, "flink": jar}, fetching them on first use. Raises RuntimeError."""
    if shutil.which("java") is None:
        raise RuntimeError("java is not on PATH: the Spark and Flink runner tests need Java 17")
    try:
        proc = subprocess.run(
            ["bash", str(FETCH_SCRIPT), "all"],
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{FETCH_SCRIPT} timed out after {FETCH_TIMEOUT_S}s") from exc
    jars = {}
    for line in proc.stdout.splitlines():
        runner, _, path = line.partition(" ")
        jars[runner] = Path(path)
    if proc.returncode != 0 or set(jars) != set(RUNNERS) or not all(p.is_file() for p in jars.values()):
        output = (proc.stdout + proc.stderr)[-LOG_TAIL_CHARS:]
        raise RuntimeError(f"{FETCH_SCRIPT} failed (exit {proc.returncode}):\n{output}")
    return jars


def _jvm_and_args(runner: str) -> tuple[list[str], list[str], dict[str, str]]:
    """JVM options, job server arguments and environment for one runner, locally."""
    if runner == "spark":
        from apache_beam.runners.portability.spark_runner import SPARK_JAR_JOB_SERVER_JVM_ARGS

        jvm = [
            *SPARK_JAR_JOB_SERVER_JVM_ARGS,  # what Beam's SparkRunner passes (Java 17 module access)
            "-Dspark.ui.enabled=false",  # no web UI listening on 0.0.0.0:4040
            "-Dspark.driver.host=127.0.0.1",
            "-Dspark.driver.bindAddress=127.0.0.1",
        ]
        return jvm, ["--spark-master-url", "local[2]"], {"SPARK_LOCAL_IP": "127.0.0.1"}
    if runner == "flink":
        return [], ["--flink-master", "[local]"], {}
    raise ValueError(f"unknown runner {runner!r}")


class JobServer(LoggedProcess):
    """One job server JVM on 127.0.0.1 (job service only: no expansion service)."""

    def __init__(self, runner: str, jar: str | os.PathLike[str]) -> None:
        self.runner = runner
        self.jar = Path(jar)
        self.endpoint = ""
        self.start_seconds = 0.0
        self.tmp_dir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def runner_name(self) -> str:
        return RUNNERS[self.runner]

    def pipeline_args(self, environment: list[str] | None = None) -> list[str]:
        """Beam flags that run a pipeline on this server; the SDK workers run in the launching
        process (LOOPBACK) unless `environment` gives other flags (pipeline.worker_pool.external_args)."""
        args = [
            f"--runner={self.runner_name}",
            f"--job_endpoint={self.endpoint}",
            *(environment or ["--environment_type=LOOPBACK"]),
        ]
        if self.runner == "flink":
            args.append("--parallelism=2")
        return args

    def start(self) -> Self:
        if self._proc is not None:
            return self
        jvm, args, env = _jvm_and_args(self.runner)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=f"{self.runner}-job-server-"))
        jvm = [*jvm, f"-Djava.io.tmpdir={self.tmp_dir}"]  # Spark's and Flink's temp files go with it
        self.log_path = self.tmp_dir / "job-server.log"
        cmd = [
            "java",
            *jvm,
            "-jar",
            str(self.jar),
            *args,
            "--job-host", "127.0.0.1",
            "--job-port", "0",  # the JVM picks a free port and logs it: no race
            "--artifact-port", "0",
            "--expansion-port", "-1",  # no expansion service: this pipeline has no cross-language transforms
            "--artifacts-dir", str(self.tmp_dir / "artifacts"),
        ]  # fmt: skip
        t0 = time.monotonic()
        self._log = open(self.log_path, "wb")  # noqa: SIM115 -- closed in stop()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=self.tmp_dir,
        )
        try:
            self.endpoint = self._wait_for_endpoint(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _wait_for_endpoint(self, timeout: float) -> str:
        import grpc

        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"the {self.runner} job server exited with code {self._proc.returncode}:\n{self.log_tail()}"
                )
            found = _STARTED.search(self.log_text())
            if found:
                endpoint = f"127.0.0.1:{found.group(2)}"
                with grpc.insecure_channel(endpoint) as channel:
                    grpc.channel_ready_future(channel).result(timeout=max(1.0, deadline - time.monotonic()))
                return endpoint
            time.sleep(0.2)
        raise RuntimeError(f"the {self.runner} job server did not start within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; removes its temp dir. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None


class WorkerPool(LoggedProcess):
    """Beam's worker pool for `--environment_type=EXTERNAL`
    (`python -m apache_beam.runners.worker.worker_pool_main`), as a cluster node runs it.

    It starts each SDK worker as `python -c …` from PATH, so this interpreter's folder
    goes first on PATH, and the repository on PYTHONPATH (the workers unpickle its
    transforms). It listens on every interface (Beam binds `[::]`); pipelines reach
    it at 127.0.0.1."""

    def __init__(self) -> None:
        import sys

        self.python = sys.executable
        self.port = 0
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log_path = Path(tempfile.mkdtemp(prefix="beam-worker-pool-")) / "worker-pool.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 -- closed in stop()
        env = {
            **os.environ,
            "PATH": os.pathsep.join([str(Path(self.python).parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        self._proc = subprocess.Popen(
            [self.python, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={self.port}"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,  # its SDK workers in its process group, stopped with it
        )
        try:
            self._wait(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, timeout: float) -> None:
        import grpc

        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while self._proc.poll() is None and time.monotonic() < deadline:
            with grpc.insecure_channel(self.address) as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=1)
                    return
                except grpc.FutureTimeoutError:
                    pass
        raise RuntimeError(f"the Beam worker pool did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        import signal

        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the pool and the workers it started
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.log_path is not None:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)
            self.log_path = None


def run_jar_command(job_jar: Path, job_server_jar: Path, main_class: str) -> list[str]:
    """How to run a jar the job server built with --output_executable_path.

    Beam copies into it the classes of the jar its runner class came from, plus the
    pipeline and its options. From the published (uber) job server that is everything,
    and `java -jar job.jar` runs it. From the assembled job server (scripts/
    fetch_job_servers.sh) it is the runner's own jar only, so the job server's lib/
    goes on the class path, as a cluster's Flink or Spark class path would."""
    lib = job_server_jar.parent / "lib"
    if lib.is_dir():
        return ["java", "-cp", os.pathsep.join([str(job_jar), str(lib / "*")]), main_class]
    return ["java", "-jar", str(job_jar)]
