"""A FerretDB server (MongoDB wire protocol, SQLite backend) on 127.0.0.1 for the
benchmarks, with its data kept under the bench cache so a loaded data set is
loaded once: `python -m bench` reuses it on later runs."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BINARY = REPO / ".cache" / "ferretdb" / "ferretdb"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`with Server(folder) as uri:` — one FerretDB process, its SQLite files in `folder`."""

    def __init__(self, folder: Path, startup_timeout: float = 60.0):
        self.folder, self.startup_timeout = Path(folder), startup_timeout
        self.proc: subprocess.Popen | None = None
        self.uri = ""

    def __enter__(self) -> str:
        if not BINARY.exists():
            subprocess.run(["bash", str(REPO / "scripts" / "build_ferretdb.sh")], check=True, stdout=subprocess.DEVNULL)
        data, state = self.folder / "data", self.folder / "state"
        data.mkdir(parents=True, exist_ok=True)
        state.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.uri = f"mongodb://127.0.0.1:{port}/"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRETDB_")}
        self.log = open(self.folder / "ferretdb.log", "ab")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            [
                str(BINARY),
                "--handler=sqlite",
                f"--sqlite-url=file:{data}/",
                f"--listen-addr=127.0.0.1:{port}",
                f"--state-dir={state}",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        import pymongo

        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"FerretDB exited with code {self.proc.returncode}; see {self.folder}/ferretdb.log")
            try:
                with pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500, directConnection=True) as c:
                    c.admin.command("ping")
                return self.uri
            except pymongo.errors.PyMongoError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"FerretDB did not answer on {self.uri}") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self.log.close()
