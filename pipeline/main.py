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
import time
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import publish, slices
from pipeline.options import Config, UpToDate, UsageError, beam_args_of, parse
from transforms.read_dump import dump_files, resolve_dump_folder
from transforms.read_mongo import client
from transforms.secrets import redact
from transforms.simulated import parse_sim_uri

log = logging.getLogger("session_features")
EXIT_USAGE, EXIT_FAILED = 2, 1


def check_source(cfg: Config) -> None:
    """Fail fast, in one sentence, on a source that cannot be read."""
    if cfg.source_kind == "simulated":
        try:
            parse_sim_uri(cfg.source)
        except ValueError as exc:
            raise UsageError(f"bad simulated source: {exc}") from None
        return
    if cfg.source_kind == "dump":
        folder = resolve_dump_folder(cfg.source, cfg.database)
        if not os.path.isdir(folder):
            raise UsageError(f"the dump folder {folder} does not exist")
        if not dump_files(folder, cfg.collection):
            raise UsageError(f"the dump folder {folder} has no {cfg.collection}.jsonl, .json or .bson")
        return
    import pymongo.errors

    if not cfg.database:
        raise UsageError("--database is required when the MongoDB URI names none (env MONGO_DATABASE)")
    try:
        mongo = client(cfg.source)
        with mongo:
            mongo.admin.command("ping")
            names = mongo[cfg.database].list_collection_names()
    except pymongo.errors.ConfigurationError as exc:
        raise UsageError(f"bad MongoDB URI: {redact(str(exc))}") from None
    except pymongo.errors.OperationFailure as exc:
        raise UsageError(f"MongoDB refused the request: {redact(str(exc.details or exc))[:300]}") from None
    except pymongo.errors.PyMongoError as exc:
        first = redact(str(exc)).split(",")[0][:200]
        raise UsageError(f"cannot reach MongoDB at {redact(cfg.source)}: {first}") from None
    if cfg.collection not in names:
        raise UsageError(f"database {cfg.database!r} has no collection {cfg.collection!r}")


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
    beam_args = take_aws_keys(beam_args_of(argv))
    try:
        # Beam's filesystems (S3 endpoint, region, …) serve the launcher too: the
        # output check, --since_last and publishing.
        FileSystems.set_options(PipelineOptions(beam_args))
        cfg, _ = parse(argv, last_end=publish.last_published_end)
        check_source(cfg)
        check_output(cfg.output)
    except UpToDate as exc:
        log.info("%s", exc)
        return 0
    except UsageError as exc:
        print(f"session-features: {exc}", file=sys.stderr)
        return EXIT_USAGE

    started = dt.datetime.now(dt.UTC)
    root = publish.dataset_root(cfg.output, cfg.window, cfg.hive)
    run_id = publish.new_run_id(started)
    run_dir = publish.join(root, run_id)
    runner = _runner(beam_args)
    if not any(a.startswith("--runner") for a in beam_args):
        beam_args = [*beam_args, f"--runner={runner}"]
    log.info(
        "reading %s (%s) for %s .. %s with %s",
        redact(cfg.source),
        cfg.collection,
        *cfg.window.describe().values(),
        runner,
    )
    count = slices.choose(cfg, runner)
    t0 = time.monotonic()
    try:
        slices.run(cfg, beam_args, run_dir, count)
    except Exception as exc:  # noqa: BLE001 - the run failed: one line, nothing published
        publish.discard(run_dir)
        print(f"session-features: the run failed, nothing was published: {redact(_first_line(exc))}", file=sys.stderr)
        log.debug("run failure", exc_info=True)
        return EXIT_FAILED

    counts = publish.read_counts(run_dir)
    finished = dt.datetime.now(dt.UTC)
    manifest = publish.write_manifest(
        root,
        run_dir,
        {
            "feature_set_version": "v1",
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
            "format": cfg.format,
            "partition": {publish.PARTITION_KEY: publish.partition_value(cfg.window)} if cfg.hive else None,
            "counts": counts,
            "slices": count,
            "started_at": started.isoformat().replace("+00:00", "Z"),
            "finished_at": finished.isoformat().replace("+00:00", "Z"),
        },
    )
    seconds = time.monotonic() - t0
    log.info(
        "done: %s rows, %s quarantined, %s duplicates, %s orphaned runs in %.1f s (%.0f sessions/s) → %s",
        f"{counts['rows_written']:,}",
        f"{counts['quarantined']:,}",
        f"{counts['duplicates']:,}",
        f"{counts['orphaned_runs']:,}",
        seconds,
        counts["sessions_read"] / max(seconds, 1e-9),
        redact(publish.join(root, publish.MANIFEST)),
    )
    log.debug("manifest: %s", manifest)
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("apache_beam", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.exit(run())
