"""Entry point: `python -m pipeline` / `session-features`.

Checks what a user can get wrong before any work starts (one clear line and a
non-zero exit, no traceback), runs the Beam pipeline, publishes the dataset
with its manifest, and ends with a short summary.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import catalog, documents, interrupts, publish, slices
from pipeline.lease import Lease
from pipeline.options import Config, UpToDate, UsageError, beam_args_of, parse, parse_publish
from pipeline.runlog import close_run_log, open_run_log
from pipeline.runners import executable_path, follow_up_commands, jar_runner, runner_details
from pipeline.sources import source_for
from transforms.secrets import redact

log = logging.getLogger("session_features")
EXIT_USAGE, EXIT_FAILED = 2, 1
EXIT_CATALOG = 3  # the dataset is published, its SageMaker manifest or catalog partition is not
FEATURE_SET_VERSION = "v1.1"


def check_output(output: str) -> None:
    """The output location must take a write (a probe file, removed again)."""
    probe = publish.join(output, f".write-test-{os.getpid()}-{os.urandom(3).hex()}")
    try:
        if not publish.is_remote(output):
            os.makedirs(output, exist_ok=True)
        with FileSystems.create(probe) as handle:
            handle.write(b"ok")
        FileSystems.delete([probe])
    except Exception as exc:  # noqa: BLE001 - any failure here is the user's location
        reason = getattr(exc, "strerror", None) or _first_line(exc)
        raise UsageError(f"cannot write to the output location {redact(output)}: {redact(str(reason))}") from None


# Keys given as Beam flags would travel in the pipeline options (runner UIs, job
# servers); they are moved to the environment, where boto3's credential chain finds them.
_AWS_FLAGS = {
    "--s3_access_key_id": "AWS_ACCESS_KEY_ID",
    "--s3_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "--s3_session_token": "AWS_SESSION_TOKEN",
    "--glue_endpoint_url": "AWS_ENDPOINT_URL_GLUE",  # boto3 reads it for Glue calls
}


def take_aws_keys(beam_args: list[str]) -> list[str]:
    rest: list[str] = []
    args = iter(beam_args)
    for arg in args:
        flag, eq, value = arg.partition("=")
        if flag in _AWS_FLAGS:
            os.environ[_AWS_FLAGS[flag]] = value if eq else next(args, "")
        else:
            rest.append(arg)
    # Throttling and 5xx answers are retried with backoff (boto3's "standard" mode).
    os.environ.setdefault("AWS_RETRY_MODE", "standard")
    os.environ.setdefault("AWS_MAX_ATTEMPTS", "10")
    return rest


def _runner(beam_args: list[str]) -> str:
    runner = PipelineOptions(beam_args).get_all_options().get("runner")
    return runner if isinstance(runner, str) else "DirectRunner"


def run(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["publish"]:
        return publish_built_run(argv[1:])
    if argv[:1] == ["report"]:
        return rebuild_report(argv[1:])
    beam_args = take_aws_keys(beam_args_of(argv))
    try:
        # Beam's filesystems (S3 endpoint, region, …) serve the launcher too: the
        # output check, --since_last and publishing.
        FileSystems.set_options(PipelineOptions(beam_args))
        cfg, _ = parse(argv, last_end=publish.last_published_end)
        source = source_for(cfg)
        source.check()
        check_output(cfg.output)
        catalog.check(cfg, FEATURE_SET_VERSION)
        jar = executable_path(beam_args)
        if jar:
            jar_runner(_runner(beam_args))  # a usage error for runners that build no jars
    except UpToDate as exc:
        log.info("%s", exc)
        return 0
    except UsageError as exc:
        print(f"session-features: {exc}", file=sys.stderr)
        return EXIT_USAGE

    started = dt.datetime.now(dt.UTC)
    root = publish.dataset_root(cfg.output, cfg.window)
    if jar and not publish.is_remote(root):
        root = os.path.abspath(root)  # the jar runs later, maybe from another folder
    run_id = publish.new_run_id(started)
    runner = _runner(beam_args)
    if not any(a.startswith("--runner") for a in beam_args):
        beam_args = [*beam_args, f"--runner={runner}"]
    info = {
        "feature_set_version": FEATURE_SET_VERSION,
        "run_id": run_id,
        "window": {
            **cfg.window.describe(),
            "start_epoch": cfg.window.start,
            "end_epoch": cfg.window.end,
            "start_date": cfg.start_date,
            "end_date": cfg.end_date,
        },
        "source": {
            "kind": cfg.source_kind,
            "uri": redact(cfg.source),
            "database": cfg.database,
            "collection": cfg.collection,
            "runs_collection": cfg.runs_collection,
        },
        "runner": runner,
        "runner_details": runner_details(beam_args),
        "format": cfg.format,
        "partition": publish.partition(cfg.window),
        "slices": 1,  # a jar is one pipeline; a run chooses below
        **({"glue_table": cfg.glue_table} if cfg.glue_table else {}),
        "started_at": started.isoformat().replace("+00:00", "Z"),
    }
    if cfg.max_quarantined_share is not None:
        info[GUARD] = cfg.max_quarantined_share
    with _RunLog(run_id, cfg.verbose) as run_log:
        log.info(
            "reading %s for %s .. %s with %s",
            source.describe(),
            *cfg.window.describe().values(),
            runner,
        )
        attempt = _Attempt(root, publish.join(root, run_id), run_log.path)
        if jar:
            return attempt.guarded(lambda: _build_jar(cfg, beam_args, attempt, info, jar))

        def run_and_publish() -> int:
            info["slices"], sessions = slices.choose(cfg, runner)
            with Lease(attempt.run_dir, run_id) as lease:
                slices.run(cfg, beam_args, attempt.run_dir, info["slices"], sessions)
                return _publish(attempt, info, _CLUSTER_HINT, lease)

        return attempt.guarded(run_and_publish)


GUARD = "max_quarantined_share"  # kept in a pending manifest for `publish`, not in the manifest
_CLUSTER_HINT = "with a cluster, --output must be storage the workers share, e.g. s3://…"


class _RunLog:
    """The run's log file (pipeline/runlog.py) for the length of the run. Tracebacks
    (Beam logs one for a failing transform) go there only; -v shows them and DEBUG
    on the console too."""

    def __init__(self, run_id: str, verbose: bool = False):
        self.run_id, self.verbose = run_id, verbose
        self.consoles = [h for h in logging.getLogger().handlers if not isinstance(h, logging.FileHandler)]

    @staticmethod
    def _no_traceback(record: logging.LogRecord) -> bool:
        return not record.exc_info

    def __enter__(self) -> _RunLog:
        self.path = open_run_log(self.run_id)
        for handler in self.consoles:
            if self.verbose:
                handler.setLevel(logging.DEBUG)
            else:
                handler.addFilter(self._no_traceback)
        return self

    def __exit__(self, *exc: object) -> None:
        for handler in self.consoles:
            handler.removeFilter(self._no_traceback)
        close_run_log(self.path)


class _Attempt:
    """One run folder on its way to being published: what a failure or a signal removes,
    unless the manifest naming it is written already."""

    def __init__(self, root: str, run_dir: str, log_file: object, keep: bool = False):
        self.root, self.run_dir, self.log_file = root, run_dir, log_file
        self.keep = keep  # a jar's run folder: kept on failure (run the jar again, then publish)
        self.published = False

    def discard(self) -> None:
        if not (self.published or self.keep):
            publish.discard(self.run_dir)

    def fail(self, what: str) -> int:
        """One line on stderr (the details are in the log file); the run folder removed."""
        self.discard()
        print(f"session-features: {what} (log: {self.log_file})", file=sys.stderr)
        return EXIT_FAILED

    def guarded(self, work: Callable[[], int]) -> int:
        """`work()`'s exit code; a failure or SIGTERM/SIGINT ends in one line."""
        try:
            with interrupts.raised():
                code = work()
        except interrupts.Interrupted as stop:
            log.debug("stopped by %s", stop.name, exc_info=True)
            if self.published:
                log.warning("%s arrived after the dataset was published; earlier runs are removed next time", stop.name)
                return 0
            self.discard()
            removed = "the run's folder was kept" if self.keep else "the run's folder was removed"
            print(
                f"session-features: stopped by {stop.name}: {removed}, nothing was published (log: {self.log_file})",
                file=sys.stderr,
            )
            return 128 + stop.signum
        except Exception as exc:  # noqa: BLE001 - the run failed: one line, the traceback in the log file
            log.debug("run failure", exc_info=True)
            if self.published:
                log.warning("after publishing: %s", redact(_first_line(exc)))
                return 0
            return self.fail(f"the run failed, nothing was published: {redact(_first_line(exc))}")
        if code:
            self.discard()
        return code


def _build_jar(cfg: Config, beam_args: list[str], attempt: _Attempt, info: dict, jar: str) -> int:
    """Build the jar; its manifest stays pending; log what to run next."""
    slices.run(cfg, beam_args, attempt.run_dir, 1)
    publish.write_pending(attempt.run_dir, info)
    log.info("built %s: nothing ran and nothing was published; run the jar, then publish:", jar)
    for command in follow_up_commands(info["runner"], jar, attempt.run_dir, beam_args):
        log.info("  %s", command)
    return 0


def publish_built_run(argv: list[str]) -> int:
    """`session-features publish RUN_DIR`: publish a run built with --output_executable_path
    once its jar has run."""
    try:
        run_dir, beam_args = parse_publish(argv)
        beam_args = take_aws_keys(beam_args)
        FileSystems.set_options(PipelineOptions(beam_args))
        info = publish.read_pending(run_dir)
    except UsageError as exc:
        print(f"session-features: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a storage error on the user's folder: one line
        print(
            f"session-features: cannot read the run folder {redact(run_dir)}: {redact(_first_line(exc))}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if info is None:
        print(
            f"session-features: {redact(run_dir)} holds no {publish.PENDING_MANIFEST}: it was not built with "
            "--output_executable_path, or it is published already",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with _RunLog(f"{info.get('run_id', 'run')}-publish") as run_log:
        attempt = _Attempt(publish.run_root(run_dir), run_dir, run_log.path, keep=True)

        def publish_pending() -> int:
            code = _publish(attempt, dict(info), "the jar has not run, or it failed")
            if code in (0, EXIT_CATALOG):
                publish.remove_pending(run_dir)
            return code

        return attempt.guarded(publish_pending)


def _publish(attempt: _Attempt, info: dict, why_no_counts: str, lease: Lease | None = None) -> int:
    """Read the run's counts, check them, write the manifest, remove what no one needs
    any more, log the summary; the exit code."""
    root, run_dir = attempt.root, attempt.run_dir
    guard = info.pop(GUARD, None)
    try:
        counts = publish.read_counts(run_dir, info.get("slices"))
    except publish.NoCounts:
        return attempt.fail(f"the runner wrote no counts to {redact(run_dir)}; {why_no_counts}; nothing was published")
    share = publish.quarantined_share(counts)
    if guard is not None and share > guard:
        bad = counts["quarantined"] + counts["unreadable_records"]
        return attempt.fail(
            f"{share:.1%} of the window's input was quarantined or unreadable ({bad:,} of "
            f"{bad + counts['rows_written']:,}), above --max_quarantined_share {guard:g}; nothing was published"
        )
    replaced = publish.current_run(root)
    finished = dt.datetime.now(dt.UTC)
    info = {**info, "counts": counts, "finished_at": finished.isoformat().replace("+00:00", "Z")}
    try:
        docs, drift = documents.write_documents(root, run_dir, info)
    except Exception as exc:  # noqa: BLE001 - the data are whole: publish them without the documents
        log.warning("published without profile, report, schema and card: %s", redact(_first_line(exc)))
        log.debug("documents failure", exc_info=True)
        docs, drift = {}, None
    manifest_path = publish.join(root, publish.MANIFEST)
    with interrupts.held() as signals:
        if lease is not None and not FileSystems.exists(lease.path):
            raise publish.FilesMissing(f"the run's folder {run_dir} was removed while it ran")
        manifest = publish.write_manifest(root, run_dir, info, docs)
        attempt.published = True
    if signals:
        log.warning("a stop signal arrived while the manifest was written; the run finished publishing first")
    # SageMaker manifests and Glue partitions, before the replaced run's folder goes: a
    # partition the catalog could not move keeps pointing at data that still exists.
    failure = catalog.after_publish(root, manifest)
    if failure:
        print(f"session-features: {redact(failure)}", file=sys.stderr)
        return EXIT_CATALOG
    try:
        removed = publish.remove_other_runs(root, keep=run_dir, replaced=replaced)
        log.debug("removed run folders no manifest needs: %s", removed or "none")
    except Exception as exc:  # noqa: BLE001 - the dataset is published; the next run cleans up
        log.debug("cleanup failure", exc_info=True)
        log.warning(
            "published, but removing earlier runs failed (the next run of this window removes them): %s",
            redact(_first_line(exc)),
        )
    seconds = (finished - dt.datetime.fromisoformat(info["started_at"].replace("Z", "+00:00"))).total_seconds()
    log.info(
        "done: %s rows, %s quarantined, %s unreadable records in %.1f s (%.0f sessions/s) → %s (log: %s)",
        f"{counts['rows_written']:,}",
        f"{counts['quarantined']:,}",
        f"{counts['unreadable_records']:,}",
        seconds,
        counts["sessions_read"] / max(seconds, 1e-9),
        redact(manifest_path),
        attempt.log_file,
    )
    if drift is not None:
        log.info(
            "drift against the window %s .. %s: %d columns flagged (report.html)",
            drift["previous"]["start"],
            drift["previous"]["end"],
            drift["flagged"],
        )
    print(redact(manifest_path))  # stdout: the manifest's path alone, for scripts
    return 0


def rebuild_report(argv: list[str]) -> int:
    """`session-features report OUTPUT`: rebuild report.html of the dataset published at OUTPUT."""
    if len(argv) != 1 or argv[0].startswith("-"):
        print(
            "session-features: usage: session-features report OUTPUT (the folder holding manifest.json)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        path = documents.rebuild_report(argv[0])
    except Exception as exc:  # noqa: BLE001 - the user's folder: one line
        print(
            f"session-features: cannot rebuild the report at {redact(argv[0])}: {redact(_first_line(exc))}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    log.info("wrote %s", redact(path))
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# Warnings no user can act on: Beam's sink when a run wrote no quarantine shard, and
# Beam starting, waiting for and stopping a job server (steps of every Spark/Flink run).
NOT_ACTIONABLE = (
    "No shards found to finalize",
    "Really starting service at",
    "Really destroying service at",
    "Waiting for grpc channel to be ready",
)


class ConsoleFilter(logging.Filter):
    """The console shows this program's progress lines and other libraries' actionable
    warnings; everything else (job server and worker output, botocore's credential
    lookups, DEBUG detail) goes only to the run's log file (pipeline/runlog.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == log.name or record.name.startswith(log.name + "."):
            return True
        if record.levelno < logging.WARNING or record.getMessage().startswith(NOT_ACTIONABLE):
            return False
        return not (record.exc_info and hung_up(record.exc_info[1]))


def hung_up(exc: BaseException | None) -> bool:
    """A gRPC stream the runner cancelled: Spark and Flink close a loopback worker's data
    channel at the end of each stage, and Beam's worker threads report it as an error."""
    code = getattr(exc, "code", None)
    return callable(code) and getattr(code(), "name", None) == "CANCELLED"


def log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """Uncaught exceptions of threads (Beam's worker threads) go through logging, so the
    run's log file has them and the console only those that are not a hung-up stream."""
    level = logging.DEBUG if hung_up(args.exc_value) else logging.ERROR
    thread = args.thread.name if args.thread else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value else None
    logging.getLogger("threads").log(level, "exception in thread %s", thread, exc_info=exc_info)


def setup_logging() -> None:
    """INFO progress on stderr; `LOG_LEVEL=DEBUG` (any standard level) shows every library's records too."""
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    console = logging.getLogger().handlers[0]
    if level != "INFO" and logging.getLevelName(level) in range(0, 60):
        console.setLevel(level)
        logging.getLogger().setLevel(min(logging.INFO, console.level))
        return
    console.addFilter(ConsoleFilter())
    threading.excepthook = log_thread_exception
    # Their DEBUG detail (every bundle, command, request) is too much even for the log file.
    for chatty in ("apache_beam", "pymongo", "botocore", "urllib3", "grpc"):
        logging.getLogger(chatty).setLevel(logging.INFO)


def main() -> None:
    setup_logging()
    sys.exit(run())
