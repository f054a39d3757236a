"""What the launcher knows about the runner: the manifest's `runner_details`, and runs
built as a jar (`--output_executable_path`) that a cluster step runs later.

With `--output_executable_path` the Spark or Flink job server writes a jar holding
the pipeline and its options instead of running it. The launcher then publishes
nothing: it leaves the manifest (all but counts, files and finished_at) in the run
folder, and `session-features publish RUN_DIR` publishes the run once the jar has
run (docs/runners.md).
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import time
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

from pipeline.options import UsageError
from transforms.secrets import redact

# Beam options that say where and how the job ran, recorded when given.
_ENDPOINTS = ("job_endpoint", "spark_master_url", "spark_rest_url", "flink_master")
_SETTINGS = ("environment_type", "sdk_worker_parallelism", "parallelism", "direct_num_workers", "direct_running_mode")
# Runners whose job server honours --output_executable_path, and the jar's main class.
JAR_MAIN_CLASSES = {
    "SparkRunner": "org.apache.beam.runners.spark.SparkPipelineRunner",
    "FlinkRunner": "org.apache.beam.runners.flink.FlinkPipelineRunner",
    "PortableRunner": None,  # the job server's: run it with `java -jar`
}


# The DirectRunner's mode when the user chose none (docs/benchmarks.md, "Default mode"):
# multi_processing with a worker per idle core for a pipeline of at least this many
# sessions (estimated), when two or more cores are idle; else Beam's in-memory mode
# (below it, or on busy cores, starting workers costs more than they gain).
MULTI_PROCESSING_MIN_SESSIONS = 20_000
IDLE_SAMPLE_S = 0.25  # how long idle_cores watches the cores


def _cpu_times() -> dict[int, tuple[int, int]]:
    """Per CPU number, (all jiffies, idle + iowait jiffies) from /proc/stat; {} elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    times = {}
    for line in lines:
        name, *fields = line.split()
        if name[:3] == "cpu" and name[3:].isdigit() and len(fields) >= 5:
            values = [int(v) for v in fields[:8]]
            times[int(name[3:])] = (sum(values), values[3] + values[4])
    return times


def busy_cores(interval: float = IDLE_SAMPLE_S) -> float:
    """How many of this process's cores other work keeps busy: measured over `interval`
    (Linux), else the last minute's load average. The load average trails by a minute:
    right after a busy minute it still counts cores that are idle now."""
    cores = os.sched_getaffinity(0)
    before = _cpu_times()
    if before:
        time.sleep(interval)
        after = _cpu_times()
        shares = [
            1 - (after[c][1] - before[c][1]) / (after[c][0] - before[c][0])
            for c in cores
            if c in before and c in after and after[c][0] > before[c][0]
        ]
        if shares:
            return sum(shares)
    try:
        return os.getloadavg()[0]
    except OSError:  # no load average on this system: take the cores as idle
        return 0.0


def idle_cores() -> int:
    """The cores this process may use, less those busy (a core counts as busy from half on)."""
    return max(0, len(os.sched_getaffinity(0)) - math.floor(busy_cores() + 0.5))


def default_direct_mode(beam_args: list[str], sessions: int | None) -> list[str]:
    """The flags the DirectRunner gets when `beam_args` name no running mode and no
    number of workers (see MULTI_PROCESSING_MIN_SESSIONS); `sessions`: an estimate, None
    when unknown."""
    if any(arg.split("=", 1)[0] in ("--direct_running_mode", "--direct_num_workers") for arg in beam_args):
        return []
    if sessions is None or sessions < MULTI_PROCESSING_MIN_SESSIONS:
        return []
    workers = idle_cores()
    if workers < 2:
        return []
    flags = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    if not any(arg.split("=", 1)[0] == "--default_sdk_harness_log_level" for arg in beam_args):
        # The workers log to the console themselves (not through this process): errors only.
        flags.append("--default_sdk_harness_log_level=ERROR")
    return flags


def new_pipeline(beam_args: list[str], sessions: int | None = None) -> beam.Pipeline:
    """A pipeline for `beam_args` (about `sessions` sessions, when known). On the
    DirectRunner it runs on the engine Beam's
    DirectRunner picks for a batch job, the FnApiRunner, set up the same way, but
    without the Prism runner Beam 2.77's DirectRunner tries first: that try fetches
    Prism's binary from GitHub on every run (a call off the machine; offline, a
    failed one) and, where it gets it, runs the job on Prism instead, so the
    speed, memory and multi_processing options of a "DirectRunner" run would
    depend on whether the machine can reach GitHub. Its running mode, when `beam_args`
    give none: default_direct_mode."""
    options = PipelineOptions(beam_args, save_main_session=False)
    runner = options.get_all_options().get("runner")
    if runner is not None and (not isinstance(runner, str) or short_name(runner) not in ("direct", "switchingdirect")):
        return beam.Pipeline(options=options)
    options = PipelineOptions([*beam_args, *default_direct_mode(beam_args, sessions)], save_main_session=False)
    # Private, because Beam 2.77 has no public way: `--runner=FnApiRunner` (public) builds it
    # without provision info, and its multi_processing workers then get none of the options
    # (no --s3_* flags for their file systems, no log level). What Beam's DirectRunner does
    # after its Prism try; tests/test_direct_runner.py fails if either changes.
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=info), options=options)


def short_name(runner: str) -> str:
    """A runner's name as Beam matches it: `apache_beam.runners.direct.DirectRunner`,
    `DirectRunner` and `direct` are all `direct`."""
    return runner.rsplit(".", 1)[-1].lower().removesuffix("runner")


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def runner_details(beam_args: list[str]) -> dict[str, Any]:
    """The master or endpoint given (credentials redacted), the environment and parallelism
    when given, and the Beam and Python versions of the launcher."""
    given = PipelineOptions(beam_args).get_all_options(drop_default=True)
    details: dict[str, Any] = {name: redact(str(given[name])) for name in _ENDPOINTS if given.get(name) is not None}
    details.update({name: _number(given[name]) for name in _SETTINGS if given.get(name) is not None})
    if given.get("output_executable_path"):
        details["output_executable_path"] = redact(str(given["output_executable_path"]))
    details["beam_version"] = beam.__version__
    details["python_version"] = platform.python_version()
    return details


def executable_path(beam_args: list[str]) -> str | None:
    return PipelineOptions(beam_args).view_as(PortableOptions).output_executable_path or None


def jar_runner(runner: str) -> str:
    """The runner's name among JAR_MAIN_CLASSES; a UsageError for runners that build no jar."""
    for known in JAR_MAIN_CLASSES:
        if short_name(runner) == short_name(known):
            return known
    raise UsageError(
        f"--output_executable_path needs --runner=SparkRunner, FlinkRunner or PortableRunner, not {runner} "
        "(docs/runners.md, spark-submit of an uber jar)"
    )


def follow_up_commands(runner: str, jar: str, run_dir: str, beam_args: list[str]) -> list[str]:
    """The commands that run the built jar, then publish the run."""
    runner = jar_runner(runner)
    if runner == "SparkRunner":
        run = f"spark-submit --master <master> --class {JAR_MAIN_CLASSES[runner]} {shlex.quote(jar)}"
    elif runner == "FlinkRunner":
        run = f"flink run {shlex.quote(jar)}"
    else:
        run = f"java -jar {shlex.quote(jar)}"
    # The publish step reads the run folder through the same file system flags (S3 endpoint, region).
    fs_flags: list[str] = []
    for i, arg in enumerate(beam_args):
        if arg.startswith("--s3_"):
            fs_flags.append(redact(arg))
            if "=" not in arg and i + 1 < len(beam_args) and not beam_args[i + 1].startswith("--"):
                fs_flags.append(redact(beam_args[i + 1]))
    publish = shlex.join(["session-features", "publish", redact(run_dir), *fs_flags])
    return [run, publish]
