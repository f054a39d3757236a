"""A throwaway FerretDB server (MongoDB wire protocol, SQLite backend) for tests.

Why FerretDB: it is a real MongoDB-wire-protocol server we can build from the Go
module proxy alone (scripts/build_ferretdb.sh), so tests exercise real pymongo
round trips instead of a mock.  Each `FerretDB` gets its own port and temp dir,
so parallel sessions never share state.

Failure policy: if the server cannot be built or started we raise
RuntimeError (with the server's log tail), never skip -- a missing server must
fail the suite loudly.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Self

import pymongo
from logged_process import LOG_TAIL_CHARS, LoggedProcess
from pymongo.errors import PyMongoError

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_ferretdb.sh"
DEFAULT_BIN = REPO_ROOT / ".cache" / "ferretdb" / "ferretdb"

# A cold build (module download + compile) takes ~2 minutes; be generous.
BUILD_TIMEOUT_S = 20 * 60


def resolve_binary() -> Path:
    """Path of the ferretdb binary: $FERRETDB_BIN, else the repo's build cache.

    For the default path we always run the build script: it is idempotent and
    returns in milliseconds when the binary is already there with the right
    version, and it rebuilds when the pinned version changes.  An explicit
    $FERRETDB_BIN is trusted as-is (no build), so it must exist.
    """
    env_bin = os.environ.get("FERRETDB_BIN")
    if env_bin:
        path = Path(env_bin)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RuntimeError(f"FERRETDB_BIN={env_bin!r} is not an executable file")
        return path

    try:
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{BUILD_SCRIPT} timed out after {BUILD_TIMEOUT_S}s") from exc
    if proc.returncode != 0 or not DEFAULT_BIN.is_file():
        output = (proc.stdout + proc.stderr)[-LOG_TAIL_CHARS:]
        raise RuntimeError(f"{BUILD_SCRIPT} failed (exit {proc.returncode}):\n{output}")
    return DEFAULT_BIN


def _free_port() -> int:
    # Bind to port 0 and let the kernel choose.  There is a small race until
    # FerretDB binds it; start() retries on "address already in use".
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FerretDB(LoggedProcess):
    """One FerretDB process on 127.0.0.1 with its data in a private temp dir."""

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.binary: Path | None = Path(binary) if binary is not None else None
        self.startup_timeout = startup_timeout
        self.port: int = 0
        self.uri: str = ""
        self.tmp_dir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._proc_rc: int | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Self:
        if self._proc is not None:
            return self
        binary = self.binary or resolve_binary()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="ferretdb-"))
        try:
            for _attempt in range(3):
                if self._launch(binary):
                    return self
            raise RuntimeError(f"FerretDB could not bind a free port:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _launch(self, binary: Path) -> bool:
        """Start the process and wait for ping.

        Returns False only for a lost port race; raises on any other failure.
        """
        assert self.tmp_dir is not None
        data_dir = self.tmp_dir / "data"
        state_dir = self.tmp_dir / "state"
        data_dir.mkdir(exist_ok=True)
        state_dir.mkdir(exist_ok=True)
        self.port = _free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.log_path = self.tmp_dir / f"ferretdb-{self.port}.log"

        args = [
            str(binary),
            "--handler=sqlite",
            # A directory URI (trailing slash): one .sqlite file per database.
            f"--sqlite-url=file:{data_dir}/",
            f"--listen-addr=127.0.0.1:{self.port}",
            f"--state-dir={state_dir}",
            "--debug-addr=-",  # no metrics HTTP listener (fixed :8088 would clash)
            "--telemetry=disable",  # no outbound beacon
            "--log-level=info",
        ]
        # FerretDB reads FERRETDB_* env vars as flag defaults; drop them so the
        # developer's environment cannot change the test server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRETDB_")}

        log_file = open(self.log_path, "wb")  # noqa: SIM115 -- closed in _reap()
        self._log_file = log_file
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )

        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self._reap()
                if "address already in use" in tail:
                    return False
                raise RuntimeError(f"FerretDB exited with code {self._proc_rc} during startup:\n{tail}")
            try:
                with pymongo.MongoClient(
                    self.uri,
                    serverSelectionTimeoutMS=500,
                    connectTimeoutMS=500,
                    directConnection=True,
                ) as client:
                    client.admin.command("ping")
                return True
            except PyMongoError as exc:
                last_error = exc
                time.sleep(0.1)

        raise RuntimeError(
            f"FerretDB did not answer ping on {self.uri} within {self.startup_timeout}s "
            f"(last error: {last_error!r}):\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL), delete its data. Idempotent."""
        self._reap()
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._proc_rc = proc.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- helpers -------------------------------------------------------------

    def client(self, **kwargs: Any) -> pymongo.MongoClient[dict[str, Any]]:
        """A new MongoClient for this server; the caller closes it."""
        return pymongo.MongoClient(self.uri, directConnection=True, **kwargs)
