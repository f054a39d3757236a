"""Shared pytest fixtures."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from ferretdb import FerretDB
from pymongo.database import Database

# TestPipeline on the engine the job's DirectRunner runs on (pipeline/runners.py
# new_pipeline): Beam's DirectRunner would first try to fetch Prism from GitHub.
TestPipeline.pytest_test_pipeline_options = "--runner=FnApiRunner"


@pytest.fixture(scope="session", autouse=True)
def temp_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every temporary file of the session (Beam's pipeline temp folders, tempfile users,
    subprocesses through TMPDIR) under pytest's own temp folder, which pytest prunes,
    instead of loose in /tmp."""
    folder = tmp_path_factory.mktemp("tmp")
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # recomputed from TMPDIR on next use
    yield folder
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None


@pytest.fixture(scope="session", autouse=True)
def run_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The runs' log files (pipeline/runlog.py) in this session's temp folder, not in ~/.cache."""
    folder = tmp_path_factory.mktemp("run-logs")
    before = os.environ.get("SESSION_FEATURES_LOG_DIR")
    os.environ["SESSION_FEATURES_LOG_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("SESSION_FEATURES_LOG_DIR", None)
    else:
        os.environ["SESSION_FEATURES_LOG_DIR"] = before


@pytest.fixture(autouse=True)
def no_handlers_on_closed_streams() -> Iterator[None]:
    """In-process runs (and Beam's worker set-up) may leave a logging handler on a stream
    pytest has closed since (a test's captured stderr); a later record would print a
    "Logging error" traceback into another test's output. Such handlers are removed."""
    yield
    named = [v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)]
    loggers = [logging.getLogger(), *named]
    for logger in loggers:
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
                logger.removeHandler(handler)


@pytest.fixture(scope="session")
def ferretdb() -> Iterator[FerretDB]:
    """One real MongoDB-wire server (FerretDB/SQLite) for the whole session.

    Builds the binary on first use; raises (never skips) if it cannot start.
    """
    with FerretDB() as server:
        yield server


@pytest.fixture
def mongo_db(ferretdb: FerretDB) -> Iterator[Database[dict[str, Any]]]:
    """A fresh, uniquely named database on the session server, dropped afterwards."""
    client = ferretdb.client()
    name = f"test_{uuid.uuid4().hex}"  # FerretDB: [A-Za-z0-9_-], at most 63 chars
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on 127.0.0.1 with the bucket s3server.BUCKET, for one test module."""
    from s3server import BUCKET, MotoS3

    with MotoS3() as server:
        server.client().create_bucket(Bucket=BUCKET)
        yield server


@pytest.fixture
def aws_env(monkeypatch):
    """Test credentials for Beam's S3 filesystem; no endpoint from the environment."""
    from s3server import REGION

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
